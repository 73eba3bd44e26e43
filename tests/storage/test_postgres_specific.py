"""What only the PostgreSQL backend promises: schema isolation, names and versions, the missing
driver hint, unreachable servers, work spread over processes (claims, unique keys, NOTIFY),
leases on the server's clock, recovery from killed connections, and query plans."""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import textwrap
import time
import types
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from taskito.exceptions import (
    DatabaseCorruptError,
    SchemaVersionError,
    StorageError,
    StorageUnavailableError,
    UniqueConflictError,
)
from taskito.job import JobStatus, now_ms
from taskito.storage import open_storage, postgres_connections, postgres_queries, postgres_schema
from taskito.storage.base import JobFilter
from taskito.storage.postgres import PostgresStorage
from taskito.storage.postgres_schema import SCHEMA_VERSION
from tests.helpers import require_postgres, wait_until
from tests.storage.factories import LEASE_MS, Backend, claim_all, make_job, start_job

#: Runs a test that takes the ``backend``/``storage`` fixtures on Postgres only.
on_postgres = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


def _sql(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on a fresh autocommit connection; return its rows (if any)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


class Schemas:
    """Hands out fresh schema names and storages on them; drops and closes all afterwards."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.names: list[str] = []
        self.opened: list[PostgresStorage] = []

    def new_name(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.names.append(name)
        return name

    def open(self, schema: str, url: str | None = None, **options: Any) -> PostgresStorage:
        storage = PostgresStorage(url or self.url, schema=schema, **options)
        self.opened.append(storage)
        return storage

    def close(self) -> None:
        for storage in self.opened:
            storage.close()
        for name in self.names:
            _sql(self.url, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def schemas() -> Iterator[Schemas]:
    handed_out = Schemas(require_postgres())
    try:
        yield handed_out
    finally:
        handed_out.close()


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
    assert _sql(schemas.url, f'SELECT id FROM "{name}".jobs') == [(job.id,)]


def test_the_schema_version_is_recorded(schemas: Schemas) -> None:
    name = schemas.new_name()
    schemas.open(name)
    assert _sql(schemas.url, f"SELECT version FROM {name}.schema_version") == [(SCHEMA_VERSION,)]


def test_a_newer_schema_version_is_refused_and_the_data_kept(schemas: Schemas) -> None:
    name = schemas.new_name()
    storage = schemas.open(name)
    job = storage.enqueue(make_job())
    storage.close()
    _sql(schemas.url, f"UPDATE {name}.schema_version SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaVersionError, match="upgrade taskito") as raised:
        schemas.open(name)
    assert name in str(raised.value)
    _sql(schemas.url, f"UPDATE {name}.schema_version SET version = %s", (SCHEMA_VERSION,))
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
    assert _sql(schemas.url, f"SELECT version FROM {name}.schema_version") == [
        (SCHEMA_VERSION + 1,)
    ]
    assert _sql(schemas.url, f"SELECT count(*) FROM {name}.added_later") == [(0,)]


def test_a_foreign_schema_with_clashing_tables_is_refused(schemas: Schemas) -> None:
    name = schemas.new_name()
    _sql(schemas.url, f"CREATE SCHEMA {name}")
    _sql(schemas.url, f"CREATE TABLE {name}.jobs (id INTEGER)")
    with pytest.raises(DatabaseCorruptError, match="not a taskito schema"):
        schemas.open(name)
    assert _sql(schemas.url, f"SELECT count(*) FROM {name}.jobs") == [(0,)]


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
    assert _sql(schemas.url, f"SELECT version FROM {name}.schema_version") == [(SCHEMA_VERSION,)]


# --- construction and connection failures ---------------------------------------------------


def test_open_storage_builds_the_postgres_backend(schemas: Schemas) -> None:
    name = schemas.new_name()
    storage = open_storage(
        "postgres", db_path="unused", db_url=schemas.url, schema=name, pool_size=3
    )
    try:
        assert isinstance(storage, PostgresStorage)
        assert storage._conns._pool.max_size == 3
        assert name in repr(storage)
    finally:
        storage.close()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"pool_size": 0}, "pool_size"),
        ({"pool_size": 2.5}, "pool_size"),
        ({"pool_size": True}, "pool_size"),
        ({"connect_timeout_s": 0}, "connect_timeout_s"),
        ({"connect_timeout_s": float("nan")}, "connect_timeout_s"),
    ],
)
def test_bad_constructor_options_are_refused(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PostgresStorage("postgresql://nobody@127.0.0.1:1/none", **options)


@pytest.mark.parametrize("url", ["", "   ", "host=a port", "postgresql://h/db?nosuchoption=1", 5])
def test_a_bad_url_is_refused(url: object) -> None:
    with pytest.raises(ValueError, match="db_url"):
        PostgresStorage(url)  # type: ignore[arg-type]


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_server_raises_storage_unavailable_quickly() -> None:
    port = _closed_port()
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError) as raised:
        PostgresStorage(f"postgresql://taskito:s3cret-pw@127.0.0.1:{port}/queue_db")
    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert f"127.0.0.1:{port}/queue_db" in message
    assert "s3cret-pw" not in message


def test_without_psycopg_the_constructor_names_the_extra() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["psycopg"] = None  # as if the postgres extra were not installed
        import taskito.storage.postgres as backend
        try:
            backend.PostgresStorage("postgresql://127.0.0.1/db")
        except ImportError as exc:
            print(exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert 'pip install "taskito[postgres]"' in result.stdout


@on_postgres
def test_close_is_idempotent_and_later_calls_fail_clearly(storage: PostgresStorage) -> None:
    storage.wait_for_change(0)  # starts the listener thread
    storage.close()
    storage.close()
    with pytest.raises(StorageError, match="closed"):
        storage.get_job("x")
    with pytest.raises(StorageError, match="closed"):
        storage.enqueue(make_job())
    assert storage.wait_for_change(1) is False


# --- several processes ------------------------------------------------------------------------

_CLAIM_LOOP = """
import json, os, sys
from taskito.job import now_ms
print("ready", flush=True)
sys.stdin.readline()
claimed = []
while batch := storage.claim(f"w{os.getpid()}", None, None, 7, now_ms(), 30_000):
    claimed.extend(job.id for job in batch)
print(json.dumps(claimed))
"""


def _start_all(backend: Backend, code: str, count: int) -> list[subprocess.Popen[str]]:
    """Start ``count`` processes running ``code``; release them together once all are ready."""
    processes = [backend.start_process(code) for _ in range(count)]
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    return processes


def _outputs(processes: list[subprocess.Popen[str]]) -> list[str]:
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        outputs.append(out.strip())
    return outputs


@on_postgres
def test_claimers_in_four_processes_get_disjoint_jobs(backend: Backend) -> None:
    storage = backend.first()
    jobs = storage.enqueue_many([make_job() for _ in range(400)])
    processes = _start_all(backend, _CLAIM_LOOP, 4)
    claimed = [json.loads(output) for output in _outputs(processes)]
    ids = [job_id for batch in claimed for job_id in batch]
    assert len(ids) == len(set(ids)) == len(jobs)
    assert sum(1 for batch in claimed if batch) >= 2, "one process claimed everything"
    assert storage.count_jobs()[JobStatus.RUNNING] == len(jobs)


_ENQUEUE_UNIQUE = """
import sys
from taskito.ids import new_job_id
from taskito.job import NewJob, now_ms
print("ready", flush=True)
sys.stdin.readline()
now = now_ms()
job = NewJob(id=new_job_id(), queue="default", task_name="t", payload=b"p", priority=0,
             created_at=now, scheduled_at=now, max_retries=0, timeout_ms=None,
             unique_key="one-per-key")
print(storage.enqueue(job).id)
"""


@on_postgres
def test_producers_in_four_processes_enqueue_one_job_per_unique_key(backend: Backend) -> None:
    storage = backend.first()
    outputs = _outputs(_start_all(backend, _ENQUEUE_UNIQUE, 4))
    assert len(set(outputs)) == 1
    (job,) = storage.list_jobs(JobFilter(), 10, 0)
    assert job.id == outputs[0]


_WAIT_AND_REPORT = """
import sys, time
storage.wait_for_change(0)
print("ready", flush=True)
for _ in range(5):
    woke = storage.wait_for_change(10)
    print(f"{woke} {time.time()}", flush=True)
    sys.stdin.readline()
"""


@on_postgres
def test_notify_wakes_a_waiter_in_another_process_within_a_few_ms(backend: Backend) -> None:
    storage = backend.first()
    child = backend.start_process(_WAIT_AND_REPORT)
    latencies_s = []
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        for _ in range(5):
            before = time.time()
            storage.enqueue(make_job())
            woke, at = child.stdout.readline().split()
            assert woke == "True"
            latencies_s.append(float(at) - before)
            child.stdin.write("next\n")
            child.stdin.flush()
    finally:
        child.communicate(timeout=30)
    assert child.returncode == 0
    assert statistics.median(latencies_s) < 0.025, latencies_s
    assert max(latencies_s) < 0.5, latencies_s


# --- leases on the server's clock --------------------------------------------------------------


def test_a_host_with_a_skewed_clock_agrees_on_lease_expiry(
    schemas: Schemas, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = schemas.new_name()
    here = schemas.open(name)
    job = start_job(here, "w-here", max_retries=3)
    assert job.lease_expires_at is not None
    (server_lease,) = _sql(schemas.url, f"SELECT lease_expires_at FROM {name}.jobs")[0]
    (server_now,) = _sql(schemas.url, postgres_queries.SERVER_CLOCK_MS)[0]
    assert abs(server_lease - (server_now + LEASE_MS)) < 2_000  # written on the server's clock

    skew_ms = 120_000  # another host whose clock runs two minutes ahead
    real_time_ns = time.time_ns
    skewed_time = types.SimpleNamespace(
        time_ns=lambda: real_time_ns() + skew_ms * 1_000_000, monotonic=time.monotonic
    )
    monkeypatch.setattr(postgres_connections, "time", skewed_time)
    ahead = schemas.open(name)
    monkeypatch.undo()
    ahead_now = now_ms() + skew_ms
    assert ahead.requeue_expired(ahead_now) == []  # its lease has not run out on the server
    seen = ahead.get_job(job.id)
    assert seen is not None and seen.status is JobStatus.RUNNING
    assert seen.lease_expires_at is not None
    assert abs(seen.lease_expires_at - (job.lease_expires_at + skew_ms)) < 2_000
    (requeued,) = ahead.requeue_expired(seen.lease_expires_at + 1)
    assert requeued.id == job.id


# --- recovery from killed connections ---------------------------------------------------------


def _kill_backends(url: str, application_name: str, only_listeners: bool = False) -> int:
    """Terminate the server processes serving ``application_name``; return how many."""
    condition = " AND query LIKE 'LISTEN%%'" if only_listeners else ""
    rows = _sql(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = %s AND pid <> pg_backend_pid()" + condition,
        (application_name,),
    )
    return len(rows)


def _with_application_name(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


def test_work_goes_on_after_the_pool_connections_are_killed(schemas: Schemas) -> None:
    app_name = f"taskito-test-{uuid.uuid4().hex[:8]}"
    storage = schemas.open(schemas.new_name(), url=_with_application_name(schemas.url, app_name))
    job = storage.enqueue(make_job())
    assert _kill_backends(schemas.url, app_name) >= 1
    assert storage.get_job(job.id) is not None  # a read retries on a fresh connection
    wait_until(lambda: _attempt(lambda: storage.enqueue(make_job())), timeout_s=10)
    assert storage.count_jobs()[JobStatus.PENDING] == 2


def _attempt(action: Callable[[], object]) -> bool:
    """True when ``action`` succeeds; False when it says the server was unavailable."""
    try:
        action()
    except StorageUnavailableError:
        return False
    return True


def test_the_listener_reconnects_after_its_connection_is_killed(schemas: Schemas) -> None:
    app_name = f"taskito-test-{uuid.uuid4().hex[:8]}"
    name = schemas.new_name()
    waiter = schemas.open(name, url=_with_application_name(schemas.url, app_name))
    writer = schemas.open(name)
    waiter.wait_for_change(0)
    assert _kill_backends(schemas.url, app_name, only_listeners=True) == 1
    # The listener notices, reconnects and wakes waiters (changes may have been missed).
    assert waiter.wait_for_change(10) is True
    waiter.wait_for_change(0)
    writer.enqueue(make_job())
    assert waiter.wait_for_change(5) is True
    assert waiter.wait_for_change(0.2) is False


@pytest.fixture
def own_role(schemas: Schemas) -> Iterator[tuple[str, str]]:
    """A login role and a fresh schema it owns (it may not create schemas itself)."""
    role = f"taskito_{uuid.uuid4().hex[:12]}"
    name = schemas.new_name()
    _sql(schemas.url, f"CREATE ROLE {role} LOGIN")
    try:
        _sql(schemas.url, f"CREATE SCHEMA {name} AUTHORIZATION {role}")
        yield role, name
    finally:
        for storage in schemas.opened:
            storage.close()  # idempotent; the role's objects and sessions go before the role
        _sql(schemas.url, f"DROP SCHEMA IF EXISTS {name} CASCADE")
        _sql(schemas.url, f"DROP ROLE IF EXISTS {role}")


def test_calls_fail_fast_while_the_server_refuses_us_and_work_resumes_after(
    schemas: Schemas, own_role: tuple[str, str]
) -> None:
    from psycopg.conninfo import make_conninfo

    role, name = own_role
    storage = schemas.open(name, url=make_conninfo(schemas.url, user=role), connect_timeout_s=2)
    job = storage.enqueue(make_job())
    # From now on the server refuses this role and drops its connections: an outage.
    _sql(schemas.url, f"ALTER ROLE {role} NOLOGIN")
    _sql(
        schemas.url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
        (role,),
    )
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError, match="unavailable"):
        storage.enqueue(make_job())
    with pytest.raises(StorageUnavailableError, match="is the server up"):
        storage.get_job(job.id)
    assert time.monotonic() - started < 15, "calls hung while the server refused us"
    _sql(schemas.url, f"ALTER ROLE {role} LOGIN")
    wait_until(lambda: _attempt(lambda: storage.get_job(job.id)), timeout_s=40, interval_s=0.1)
    assert storage.count_jobs() == {**dict.fromkeys(JobStatus, 0), JobStatus.PENDING: 1}


# --- batches and plans --------------------------------------------------------------------------


@on_postgres
def test_a_batch_larger_than_one_statement_is_still_all_or_nothing(
    storage: PostgresStorage,
) -> None:
    storage.enqueue(make_job(unique_key="taken"))
    batch = [make_job() for _ in range(4_500)] + [make_job(unique_key="taken")]
    with pytest.raises(UniqueConflictError, match="UNIQUE"):
        storage.enqueue_many(batch)
    assert sum(storage.count_jobs().values()) == 1


def _scans_of_jobs(url: str, query: str, params: Any) -> list[dict[str, Any]]:
    """The plan nodes that read the jobs table or its indexes while ``query`` runs (then
    rolled back)."""
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params).fetchone()
        conn.rollback()
    assert row is not None
    plan = row[0]
    found: list[dict[str, Any]] = []
    pending = [plan[0]["Plan"]]
    while pending:
        node = pending.pop()
        index = node.get("Index Name") or ""
        if node.get("Relation Name") == "jobs" or index.startswith(("idx_jobs", "jobs_")):
            found.append(node)
        pending.extend(node.get("Plans", []))
    return found


@on_postgres
@pytest.mark.parametrize("queues", [None, ["default"], ["default", "other"]])
def test_a_claim_reads_a_few_rows_of_a_long_queue_without_statistics(
    backend: Backend, queues: list[str] | None
) -> None:
    from taskito.storage import postgres_claim

    storage = backend.first()
    assert isinstance(storage, PostgresStorage)
    storage.enqueue_many([make_job() for _ in range(5_000)])
    mode, params = postgres_claim.claim_params("w", queues, None, 32, now_ms(), now_ms() + LEASE_MS)
    query = postgres_claim.claim_query(storage.schema, mode, False)
    scans = _scans_of_jobs(require_postgres(), query, params)
    indexes = {node.get("Index Name") for node in scans}
    assert {"idx_jobs_claim", "idx_jobs_expiry"} <= indexes, indexes
    for node in scans:
        read = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
        assert read <= 100, f"{node['Node Type']} on {node.get('Index Name')} read {read} rows"


@on_postgres
def test_finishes_and_lease_extensions_look_their_jobs_up_by_id(backend: Backend) -> None:
    from taskito.storage import postgres_transitions as transitions
    from taskito.storage.base import Finish

    storage = backend.first()
    assert isinstance(storage, PostgresStorage)
    storage.enqueue_many([make_job() for _ in range(3_016)])
    assert len(storage.claim("elsewhere", None, None, 3_000, now_ms(), LEASE_MS)) == 3_000
    mine = storage.claim("here", None, None, 16, now_ms(), LEASE_MS)
    ids = [job.id for job in mine]
    outcomes = [Finish(job.id, job.attempt, JobStatus.COMPLETE) for job in mine]
    statements: dict[str, tuple[str, Any]] = {
        "finish_many": (storage._stmts.finish_many, transitions.finish_params(outcomes, 1, False)),
        "extend_leases": (storage._stmts.extend_leases, (now_ms(), ids, "here")),
    }
    for name, (query, params) in statements.items():
        for node in _scans_of_jobs(require_postgres(), query, params):
            read = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
            assert read <= 100, f"{name}: {node['Node Type']} {node.get('Index Name')} read {read}"
