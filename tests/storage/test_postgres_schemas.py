"""What only the PostgreSQL backend promises about schemas: two schemas never see each other,
bad names are refused and unusual valid ones quoted, the version is recorded, a newer one is
refused with the data kept, an older one migrated forward, a foreign schema refused, and
processes creating a fresh schema at once agree."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from taskito.exceptions import DatabaseCorruptError, SchemaVersionError
from taskito.job import now_ms
from taskito.storage.postgres import PostgresStorage
from taskito.storage.postgres import schema as postgres_schema
from taskito.storage.postgres.schema import SCHEMA_VERSION
from tests.storage.factories import LEASE_MS, claim_all, make_job
from tests.storage.postgres_support import Schemas, fixture_schemas, run_sql  # noqa: F401

# --- schema ------------------------------------------------------------------------------


def test_two_schemas_do_not_see_each_other(schemas: Schemas) -> None:
    one = schemas.open(schemas.new_name())
    two = schemas.open(schemas.new_name())
    job = one.enqueue(make_job(unique_key="same-key"))
    assert two.get_job(job.id) is None
    assert sum(two.count_jobs().values()) == 0
    assert two.claim("w", None, None, 10, now_ms(), LEASE_MS) == []
    other = two.enqueue(make_job(unique_key="same-key"))
    assert other.id != job.id
    two.wait_for_change(0)
    third = one.enqueue(make_job())
    assert two.wait_for_change(0.3) is False  # each schema notifies on its own channel
    assert {j.id for j in claim_all(one)} == {job.id, third.id}
    assert [j.id for j in claim_all(two)] == [other.id]


@pytest.mark.parametrize(
    "schema",
    ["", "1jobs", "my-schema", "a b", 'quote"d', "x" * 64, "pg_jobs", "PG_TEMP", None, 7],
)
def test_a_bad_schema_name_is_refused_before_connecting(schema: object) -> None:
    with pytest.raises(ValueError, match="schema"):
        PostgresStorage("postgresql://nobody@127.0.0.1:1/none", schema=schema)  # type: ignore[arg-type]


def test_unusual_but_valid_schema_names_are_quoted(schemas: Schemas) -> None:
    name = "Mixed_Case$1"
    schemas.names.append(name)
    storage = schemas.open(name)
    job = storage.enqueue(make_job())
    assert run_sql(schemas.url, f'SELECT id FROM "{name}".jobs') == [(job.id,)]


def test_the_schema_version_is_recorded(schemas: Schemas) -> None:
    name = schemas.new_name()
    schemas.open(name)
    assert run_sql(schemas.url, f"SELECT version FROM {name}.schema_version") == [(SCHEMA_VERSION,)]


def test_a_newer_schema_version_is_refused_and_the_data_kept(schemas: Schemas) -> None:
    name = schemas.new_name()
    storage = schemas.open(name)
    job = storage.enqueue(make_job())
    storage.close()
    run_sql(schemas.url, f"UPDATE {name}.schema_version SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaVersionError, match="upgrade taskito") as raised:
        schemas.open(name)
    assert name in str(raised.value)
    run_sql(schemas.url, f"UPDATE {name}.schema_version SET version = %s", (SCHEMA_VERSION,))
    assert schemas.open(name).get_job(job.id) is not None


def test_an_older_schema_is_migrated_forward(
    schemas: Schemas, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = schemas.new_name()
    job = schemas.open(name).enqueue(make_job())
    migration_2 = ("CREATE TABLE {s}.added_later (id INTEGER PRIMARY KEY)",)
    monkeypatch.setattr(postgres_schema, "MIGRATIONS", (*postgres_schema.MIGRATIONS, migration_2))
    monkeypatch.setattr(postgres_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    assert schemas.open(name).get_job(job.id) is not None
    assert run_sql(schemas.url, f"SELECT version FROM {name}.schema_version") == [
        (SCHEMA_VERSION + 1,)
    ]
    assert run_sql(schemas.url, f"SELECT count(*) FROM {name}.added_later") == [(0,)]


def test_a_foreign_schema_with_clashing_tables_is_refused(schemas: Schemas) -> None:
    name = schemas.new_name()
    run_sql(schemas.url, f"CREATE SCHEMA {name}")
    run_sql(schemas.url, f"CREATE TABLE {name}.jobs (id INTEGER)")
    with pytest.raises(DatabaseCorruptError, match="not a taskito schema"):
        schemas.open(name)
    assert run_sql(schemas.url, f"SELECT count(*) FROM {name}.jobs") == [(0,)]


_OPEN_AT_ONCE = """
import sys, time
from taskito.storage.postgres import PostgresStorage
url, schema, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, start_at - time.time()))
PostgresStorage(url, schema=schema).close()
"""


def test_processes_creating_a_fresh_schema_at_once_agree(schemas: Schemas) -> None:
    name = schemas.new_name()
    start_at = time.time() + 1.0
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AT_ONCE, schemas.url, name, str(start_at)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for process in processes:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    assert run_sql(schemas.url, f"SELECT version FROM {name}.schema_version") == [(SCHEMA_VERSION,)]
