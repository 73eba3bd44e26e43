"""What only the SQLite backend promises about flow control: the schema migration that adds
its tables keeps an older database's data, a pause made by another process takes effect at the
next claim, the new reads use indexes, and driver errors come out as ``StorageError``."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from taskito.exceptions import DatabaseCorruptError, StorageError
from taskito.job import JobStatus, now_ms
from taskito.storage.control import BreakerConfig, PeriodicSchedule
from taskito.storage.sqlite import SqliteStorage
from taskito.storage.sqlite import schema as sqlite_schema
from tests.storage.factories import LEASE_MS, claim_all, make_job

_FLOW_CONTROL_TABLES = {
    "paused_queues",
    "rate_slots",
    "circuit_breakers",
    "periodic_schedules",
    "locks",
    "archived_jobs",
    "replay_history",
    "settings",
}
_CONFIG = BreakerConfig(
    threshold=1, window_ms=1_000, cooldown_ms=5_000, half_open_probes=1, half_open_success_rate=1
)


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "taskito.db")


def _tables(db_path: str) -> set[str]:
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {row[0] for row in rows}
    finally:
        conn.close()


def _stored_version(db_path: str) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])
    finally:
        conn.close()


def test_a_fresh_database_has_the_flow_control_tables(db_path: str) -> None:
    SqliteStorage(db_path).close()
    assert _tables(db_path) >= _FLOW_CONTROL_TABLES
    assert _stored_version(db_path) == sqlite_schema.SCHEMA_VERSION >= 5


def _finish_by_hand(db_path: str, job_id: str, completed_at: int) -> None:
    """Mark a job complete with an error row, as a version-1 worker would have left it."""
    conn = sqlite3.connect(db_path)
    try:
        conn.execute(
            "UPDATE jobs SET status = 2, completed_at = ?, result = x'72' WHERE id = ?",
            (completed_at, job_id),
        )
        conn.execute(
            "INSERT INTO job_errors (job_id, attempt, error, failed_at) VALUES (?, 0, 'boom', ?)",
            (job_id, completed_at),
        )
        conn.commit()
    finally:
        conn.close()


def test_a_version_1_database_migrates_forward_keeping_its_jobs(
    db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:1])
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", 1)
    old = SqliteStorage(db_path)
    try:
        done = old.enqueue(make_job(queue="done", result_ttl_ms=1_000))
        parent = old.enqueue(make_job(queue="chain"))
        child = old.enqueue(make_job(queue="chain", depends_on=(parent.id,)))
    finally:
        old.close()
    finished_at = now_ms()
    _finish_by_hand(db_path, done.id, finished_at)
    assert _stored_version(db_path) == 1
    assert not _FLOW_CONTROL_TABLES & _tables(db_path)
    monkeypatch.undo()

    storage = SqliteStorage(db_path)
    try:
        assert _stored_version(db_path) == sqlite_schema.SCHEMA_VERSION
        record = storage.get_job(done.id)
        assert record is not None
        assert (record.status, record.result, record.completed_at) == (
            JobStatus.COMPLETE,
            b"r",
            finished_at,
        )
        assert [e.error for e in storage.job_errors(done.id)] == ["boom"]
        assert storage.get_job(child.id) == child
        assert storage.get_job(parent.id) == parent
        assert storage.dependencies(child.id) == [parent.id]
        assert storage.set_queue_paused("chain", True, now_ms())
        assert claim_all(storage) == []
        # The new index covers rows written before the migration.
        assert storage.purge_expired_results(finished_at + 1_000) == 1
        assert storage.get_job(done.id) is None
        assert storage.job_errors(done.id) == []
    finally:
        storage.close()


def test_a_foreign_database_with_an_archive_table_is_refused(db_path: str) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE archived_jobs (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(DatabaseCorruptError, match="archived_jobs"):
        SqliteStorage(db_path)


_PAUSE_CODE = """
import sys
from taskito.storage.sqlite import SqliteStorage
storage = SqliteStorage(sys.argv[1])
print(storage.set_queue_paused(sys.argv[2], sys.argv[3] == "pause", 0))
storage.close()
"""


def _in_process(db_path: str, queue: str, action: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _PAUSE_CODE, db_path, queue, action],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_pause_by_another_process_applies_to_the_next_claim(db_path: str) -> None:
    storage = SqliteStorage(db_path)
    try:
        job = storage.enqueue(make_job(queue="shared"))
        assert _in_process(db_path, "shared", "pause") == "True"
        assert storage.claim("w", None, None, 10, now_ms(), LEASE_MS) == []
        assert storage.claim("w", ["shared"], None, 10, now_ms(), LEASE_MS) == []
        assert storage.paused_queues() == ["shared"]
        assert _in_process(db_path, "shared", "resume") == "True"
        assert [j.id for j in storage.claim("w", None, None, 10, now_ms(), LEASE_MS)] == [job.id]
    finally:
        storage.close()


def _plan(storage: SqliteStorage, sql: str, params: tuple[object, ...] | dict[str, object]) -> str:
    with storage._conns.read() as conn:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return " ".join(str(row) for row in rows)


def test_flow_control_reads_use_indexes(db_path: str) -> None:
    from taskito.storage.sqlite import control_queries as cq

    storage = SqliteStorage(db_path)
    try:
        by_task: dict[str, object] = {"task_name": "t", "queue": None}
        assert "idx_jobs_lease" in _plan(storage, cq.SELECT_RUNNING_IDS, by_task)
        assert "idx_jobs_result_ttl" in _plan(storage, cq.SELECT_EXPIRED_RESULTS, (0,))
        assert "idx_periodic_due" in _plan(storage, cq.SELECT_DUE_SCHEDULES, (0,))
        assert "idx_archived_jobs_completed" in _plan(storage, cq.SELECT_ARCHIVED, (10, 0))
    finally:
        storage.close()


def test_a_write_blocked_past_the_busy_timeout_raises_storage_error(db_path: str) -> None:
    storage = SqliteStorage(db_path, busy_timeout_ms=50)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        now = now_ms()
        with pytest.raises(StorageError, match="locked"):
            storage.take_rate_slot("k", 1_000, now)
        with pytest.raises(StorageError, match="locked"):
            storage.breaker_admit("t", _CONFIG, now)
        blocker.execute("ROLLBACK")
        assert storage.take_rate_slot("k", 1_000, now) is None
        assert storage.take_rate_slot("k", 1_000, now) == now + 1_000
    finally:
        blocker.close()
        storage.close()


def test_fire_periodic_rolls_back_the_schedule_when_the_insert_fails(db_path: str) -> None:
    storage = SqliteStorage(db_path)
    try:
        slot = now_ms()
        taken = storage.enqueue(make_job())
        storage.register_periodic(
            PeriodicSchedule("p", "t", "* * * * *", None, "default", b"()", next_run=slot)
        )
        with pytest.raises(StorageError):
            storage.fire_periodic("p", slot, slot + 60_000, make_job(id=taken.id))
        (schedule,) = storage.periodic_schedules()
        assert (schedule.next_run, schedule.last_run) == (slot, None)
    finally:
        storage.close()


def test_claim_without_paused_queues_reads_the_pause_table_in_its_transaction(
    db_path: str,
) -> None:
    """A pause committed between two claims by a second connection is honoured at once:
    there is no cache to go stale."""
    storage = SqliteStorage(db_path)
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        first = storage.enqueue(make_job(queue="q"))
        assert [j.id for j in storage.claim("w", None, None, 10, now_ms(), LEASE_MS)] == [first.id]
        storage.enqueue(make_job(queue="q"))
        other.execute("INSERT INTO paused_queues (queue, paused_at) VALUES ('q', 0)")
        assert storage.claim("w", None, None, 1, now_ms(), LEASE_MS) == []
    finally:
        other.close()
        storage.close()
