"""What only the PostgreSQL backend promises about connections: construction through
``open_storage``, bad options and URLs refused, an unreachable server reported quickly without
the password, the missing driver's install hint, an idempotent close; and recovery: work goes
on after the pool's or the listener's connections are killed, and calls fail fast while the
server refuses us and resume after."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from taskito.exceptions import StorageError, StorageUnavailableError
from taskito.job import JobStatus
from taskito.storage import open_storage
from taskito.storage.postgres import PostgresStorage
from tests.helpers import wait_until
from tests.storage.factories import make_job
from tests.storage.postgres_support import (  # noqa: F401  (fixtures)
    Schemas,
    fixture_schemas,
    on_postgres,
    run_sql,
)

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
    assert 'pip install "pytaskito[postgres]"' in result.stdout


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


# --- recovery from killed connections ---------------------------------------------------------


def _kill_backends(url: str, application_name: str, only_listeners: bool = False) -> int:
    """Terminate the server processes serving ``application_name``; return how many."""
    condition = " AND query LIKE 'LISTEN%%'" if only_listeners else ""
    rows = run_sql(
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
    run_sql(schemas.url, f"CREATE ROLE {role} LOGIN")
    try:
        run_sql(schemas.url, f"CREATE SCHEMA {name} AUTHORIZATION {role}")
        yield role, name
    finally:
        for storage in schemas.opened:
            storage.close()  # idempotent; the role's objects and sessions go before the role
        run_sql(schemas.url, f"DROP SCHEMA IF EXISTS {name} CASCADE")
        run_sql(schemas.url, f"DROP ROLE IF EXISTS {role}")


def test_calls_fail_fast_while_the_server_refuses_us_and_work_resumes_after(
    schemas: Schemas, own_role: tuple[str, str]
) -> None:
    from psycopg.conninfo import make_conninfo

    role, name = own_role
    storage = schemas.open(name, url=make_conninfo(schemas.url, user=role), connect_timeout_s=2)
    job = storage.enqueue(make_job())
    # From now on the server refuses this role and drops its connections: an outage.
    run_sql(schemas.url, f"ALTER ROLE {role} NOLOGIN")
    run_sql(
        schemas.url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
        (role,),
    )
    started = time.monotonic()
    # The pool notices the dropped connection before use, then cannot open another.
    with pytest.raises(StorageUnavailableError, match="is the server up"):
        storage.enqueue(make_job())
    with pytest.raises(StorageUnavailableError, match="is the server up"):
        storage.get_job(job.id)
    assert time.monotonic() - started < 15, "calls hung while the server refused us"
    run_sql(schemas.url, f"ALTER ROLE {role} LOGIN")
    wait_until(lambda: _attempt(lambda: storage.get_job(job.id)), timeout_s=40, interval_s=0.1)
    assert storage.count_jobs() == {**dict.fromkeys(JobStatus, 0), JobStatus.PENDING: 1}
