"""What only the SQLite backend promises: pragmas, file handling, schema versions, corrupt
files, cross-process unique keys, ``:memory:`` across threads, and ``close()``."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from taskito.exceptions import DatabaseCorruptError, SchemaVersionError, StorageError
from taskito.job import JobStatus, now_ms
from taskito.storage import open_storage
from taskito.storage.base import JobFilter
from taskito.storage.sqlite import SqliteStorage
from taskito.storage.sqlite import schema as sqlite_schema
from taskito.storage.sqlite.schema import SCHEMA_VERSION
from tests.storage.factories import make_job


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "taskito.db")


def _pragma(storage: SqliteStorage, name: str) -> object:
    with storage._conns.read() as conn:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]


def test_wal_mode_normal_sync_and_busy_timeout(db_path: str) -> None:
    storage = SqliteStorage(db_path, busy_timeout_ms=1234)
    try:
        assert _pragma(storage, "journal_mode") == "wal"
        assert _pragma(storage, "synchronous") == 1  # NORMAL
        assert _pragma(storage, "busy_timeout") == 1234
    finally:
        storage.close()


def test_each_thread_gets_its_own_connection_with_the_same_settings(db_path: str) -> None:
    storage = SqliteStorage(db_path)
    seen: list[tuple[int, object, object]] = []

    def inspect() -> None:
        with storage._conns.read() as conn:
            seen.append(
                (
                    id(conn),
                    conn.execute("PRAGMA synchronous").fetchone()[0],
                    conn.execute("PRAGMA busy_timeout").fetchone()[0],
                )
            )

    try:
        inspect()
        thread = threading.Thread(target=inspect)
        thread.start()
        thread.join(timeout=10)
        assert len(seen) == 2
        assert seen[0][0] != seen[1][0]
        assert seen[0][1:] == seen[1][1:] == (1, 5000)
    finally:
        storage.close()


def test_open_storage_builds_the_sqlite_backend(db_path: str) -> None:
    storage = open_storage("sqlite", db_path=db_path)
    try:
        assert isinstance(storage, SqliteStorage)
    finally:
        storage.close()


def test_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "jobs.db"
    storage = SqliteStorage(str(path))
    try:
        storage.enqueue(make_job())
    finally:
        storage.close()
    assert path.is_file()


def test_data_survives_reopening(db_path: str) -> None:
    job = make_job()
    first = SqliteStorage(db_path)
    first.enqueue(job)
    first.close()
    second = SqliteStorage(db_path)
    try:
        assert second.get_job(job.id) is not None
    finally:
        second.close()


@pytest.mark.parametrize(
    "garbage",
    [
        b"this is not a database at all" * 100,
        b"\x00" * 8192,
        b"SQLite format 3\x00" + b"\xff" * 4000,
    ],
)
def test_a_file_that_is_not_a_database_is_refused_untouched(db_path: str, garbage: bytes) -> None:
    Path(db_path).write_bytes(garbage)
    with pytest.raises(DatabaseCorruptError, match=db_path):
        SqliteStorage(db_path)
    assert Path(db_path).read_bytes() == garbage


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatabaseCorruptError, match="directory"):
        SqliteStorage(str(tmp_path))


def test_a_foreign_database_with_clashing_tables_is_refused(db_path: str) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE jobs (name TEXT)")
    conn.execute("INSERT INTO jobs VALUES ('mine')")
    conn.commit()
    conn.close()
    with pytest.raises(DatabaseCorruptError, match="not a taskito database"):
        SqliteStorage(db_path)
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT name FROM jobs").fetchall() == [("mine",)]
    finally:
        conn.close()


def test_a_newer_schema_version_is_refused_and_the_data_kept(db_path: str) -> None:
    job = make_job()
    storage = SqliteStorage(db_path)
    storage.enqueue(job)
    storage.close()
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 7,))
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError) as raised:
        SqliteStorage(db_path)
    message = str(raised.value)
    assert str(SCHEMA_VERSION + 7) in message and str(SCHEMA_VERSION) in message
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [
            (SCHEMA_VERSION + 7,)
        ]
        assert conn.execute("SELECT id FROM jobs").fetchall() == [(job.id,)]
    finally:
        conn.close()


def test_the_schema_version_is_recorded(db_path: str) -> None:
    SqliteStorage(db_path).close()
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    finally:
        conn.close()


def test_hot_queries_use_indexes(db_path: str) -> None:
    storage = SqliteStorage(db_path)
    try:
        with storage._conns.read() as conn:
            names = {
                row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
            }
            plan = conn.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE status = 0 AND queue = 'q'"
                " ORDER BY priority DESC, scheduled_at, id"
            ).fetchall()
    finally:
        storage.close()
    assert {
        "idx_jobs_claim",
        "uq_jobs_unique_key",
        "idx_jobs_cancel_requested",
        "idx_jobs_status",
    } <= names
    assert {"idx_job_dependencies_job", "idx_job_dependencies_parent", "idx_jobs_lease"} <= names
    assert "idx_jobs_claim" in " ".join(str(row) for row in plan)


def test_bad_constructor_arguments(db_path: str) -> None:
    with pytest.raises(ValueError, match="path"):
        SqliteStorage("")
    with pytest.raises(ValueError, match="busy_timeout_ms"):
        SqliteStorage(db_path, busy_timeout_ms=-1)


def test_close_is_idempotent_and_later_calls_fail_clearly(db_path: str) -> None:
    storage = SqliteStorage(db_path)
    storage.close()
    storage.close()
    with pytest.raises(StorageError, match="closed"):
        storage.enqueue(make_job())


def test_close_closes_the_connections_of_every_thread(db_path: str) -> None:
    storage = SqliteStorage(db_path)
    connections: list[sqlite3.Connection] = []

    def use() -> None:
        storage.count_jobs()
        with storage._conns.read() as conn:
            connections.append(conn)

    threads = [threading.Thread(target=use) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    use()
    storage.close()
    assert len(connections) == 4
    for conn in connections:
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")


def test_close_releases_a_waiting_thread(db_path: str) -> None:
    storage = SqliteStorage(db_path)
    result: list[bool] = []
    ready = threading.Event()

    def wait() -> None:
        storage.wait_for_change(0)
        ready.set()
        result.append(storage.wait_for_change(30))

    thread = threading.Thread(target=wait)
    thread.start()
    assert ready.wait(10)
    started = time.monotonic()
    storage.close()
    thread.join(timeout=10)
    assert result == [False]
    assert time.monotonic() - started < 5


def test_a_write_blocked_past_the_busy_timeout_raises_storage_error(db_path: str) -> None:
    storage = SqliteStorage(db_path, busy_timeout_ms=50)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        job = make_job()
        with pytest.raises(StorageError, match="locked"):
            storage.enqueue(job)
        blocker.execute("ROLLBACK")
        storage.enqueue(job)
        assert storage.get_job(job.id) is not None
    finally:
        blocker.close()
        storage.close()


_RACE_CODE = """
import sys, time
from taskito.storage.sqlite import SqliteStorage
from taskito.job import NewJob, now_ms
from taskito.ids import new_job_id
storage = SqliteStorage(sys.argv[1])
start_at = float(sys.argv[2])
time.sleep(max(0.0, start_at - time.time()))
now = now_ms()
record = storage.enqueue(NewJob(id=new_job_id(), queue="default", task_name="t", payload=b"p",
                                priority=0, created_at=now, scheduled_at=now, max_retries=0,
                                timeout_ms=None, unique_key="one-per-key"))
print(record.id)
storage.close()
"""


def test_unique_key_collision_across_processes_gives_one_job(db_path: str) -> None:
    SqliteStorage(db_path).close()  # create the schema first: the race is on the key
    start_at = time.time() + 1.5
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE_CODE, db_path, str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        outputs.append(out.strip())
    assert len(set(outputs)) == 1
    storage = SqliteStorage(db_path)
    try:
        assert storage.count_jobs()[JobStatus.PENDING] == 1
        (job,) = storage.list_jobs(JobFilter(), 10, 0)
        assert job.id == outputs[0]
    finally:
        storage.close()


def test_processes_opening_a_fresh_file_at_once_agree_on_the_schema(db_path: str) -> None:
    start_at = time.time() + 1.5
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE_CODE, db_path, str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for process in processes:
        _, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
    storage = SqliteStorage(db_path)
    try:
        assert storage.count_jobs()[JobStatus.PENDING] == 1
    finally:
        storage.close()


def test_memory_database_is_shared_by_every_thread() -> None:
    storage = SqliteStorage(":memory:")
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            storage.enqueue_many([make_job() for _ in range(50)])
            for _ in range(50):
                storage.enqueue(make_job())
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=produce) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not errors
        assert storage.count_jobs()[JobStatus.PENDING] == 400
        claimed = storage.claim("w", None, None, 1000, now_ms(), 1000)
        assert len(claimed) == 400
    finally:
        storage.close()


def test_two_memory_storages_are_separate_databases() -> None:
    one, two = SqliteStorage(":memory:"), SqliteStorage(":memory:")
    try:
        one.enqueue(make_job())
        assert sum(two.count_jobs().values()) == 0
    finally:
        one.close()
        two.close()


def test_an_older_database_is_migrated_forward(
    db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = make_job()
    storage = SqliteStorage(db_path)
    storage.enqueue(job)
    storage.close()
    migration_2 = ("CREATE TABLE added_later (id INTEGER PRIMARY KEY)",)
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", (*sqlite_schema.MIGRATIONS, migration_2))
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    storage = SqliteStorage(db_path)
    try:
        assert storage.get_job(job.id) is not None
    finally:
        storage.close()
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [
            (SCHEMA_VERSION + 1,)
        ]
        assert conn.execute("SELECT COUNT(*) FROM added_later").fetchone() == (0,)
    finally:
        conn.close()


_OPEN_AND_SAY_READY = """
import sys
from taskito import Queue
queue = Queue(db_path=sys.argv[1])
print("ready", flush=True)
queue.close()
"""


def test_processes_opening_a_fresh_file_together_all_open_it(tmp_path: Path) -> None:
    """The switch to WAL answers "database is locked" at once, without the busy handler,
    while another process is creating the same new file: opening retries it."""
    for attempt in range(12):
        path = tmp_path / f"fresh-{attempt}.db"
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_AND_SAY_READY, str(path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        for process in processes:
            out, err = process.communicate(timeout=60)
            assert out.strip() == "ready", err
