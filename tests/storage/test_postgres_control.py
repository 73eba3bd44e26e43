"""What only the PostgreSQL backend promises about flow control: a schema made by the previous
version migrates forward with its data, the control tables race safely across connections and
processes, a resumed queue wakes listeners, the claim skips a paused queue without reading
its jobs, and driver errors come out as ``StorageError``."""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from taskito.exceptions import StorageError
from taskito.job import JobStatus, now_ms
from taskito.storage.base import Finish, Storage
from taskito.storage.control import BreakerConfig, Deferral, PeriodicSchedule
from taskito.storage.postgres import PostgresStorage
from taskito.storage.postgres import claim as postgres_claim
from taskito.storage.postgres import schema as postgres_schema
from tests.helpers import require_postgres
from tests.storage.factories import LEASE_MS, Backend, make_job, race, start_job
from tests.storage.postgres_support import on_postgres, run_sql


@pytest.fixture
def schema_name() -> Iterator[str]:
    """A fresh schema name on the test server, dropped after the test."""
    url = require_postgres()
    name = f"t_{uuid.uuid4().hex[:16]}"
    try:
        yield name
    finally:
        run_sql(url, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


# --- migration from the previous schema version ---------------------------------------------


def _open_at_version_1(url: str, schema: str, monkeypatch: pytest.MonkeyPatch) -> PostgresStorage:
    monkeypatch.setattr(postgres_schema, "MIGRATIONS", postgres_schema.MIGRATIONS[:1])
    monkeypatch.setattr(postgres_schema, "SCHEMA_VERSION", 1)
    try:
        return PostgresStorage(url, schema=schema)
    finally:
        monkeypatch.undo()


def test_a_version_1_schema_migrates_forward_keeping_its_jobs(
    schema_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = require_postgres()
    old = _open_at_version_1(url, schema_name, monkeypatch)
    try:
        parent = old.enqueue(make_job(queue="emails"))
        child = old.enqueue(make_job(queue="emails", depends_on=(parent.id,)))
        failed = old.enqueue(make_job(queue="reports"))
    finally:
        old.close()
    assert run_sql(url, f"SELECT version FROM {schema_name}.schema_version") == [(1,)]
    # The claim path of this version reads the new tables, so the old rows are written as the
    # previous version's finish would have left them.
    finished_at = now_ms() - 1_000
    run_sql(
        url,
        f"UPDATE {schema_name}.jobs SET status = 4, completed_at = %s, error = 'boom'"
        " WHERE id = %s",
        (finished_at, failed.id),
    )
    run_sql(
        url,
        f"INSERT INTO {schema_name}.job_errors (job_id, attempt, error, failed_at)"
        " VALUES (%s, 0, 'boom', %s)",
        (failed.id, finished_at),
    )

    storage = PostgresStorage(url, schema=schema_name)
    try:
        version = postgres_schema.SCHEMA_VERSION
        assert run_sql(url, f"SELECT version FROM {schema_name}.schema_version") == [(version,)]
        assert storage.dependencies(child.id) == [parent.id]
        assert [e.error for e in storage.job_errors(failed.id)] == ["boom"]
        assert storage.set_queue_paused("emails", True, now_ms())
        assert storage.claim("w", None, None, 10, now_ms(), LEASE_MS) == []
        assert storage.set_queue_paused("emails", False, now_ms())
        claimed = storage.claim("w", None, None, 10, now_ms(), LEASE_MS)
        assert [job.id for job in claimed] == [parent.id]
        assert storage.archive_jobs(now_ms() + 1) == 1
        assert [job.id for job in storage.list_archived(10, 0)] == [failed.id]
    finally:
        storage.close()


def test_storages_opening_a_version_1_schema_at_once_migrate_it_once(
    schema_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = require_postgres()
    old = _open_at_version_1(url, schema_name, monkeypatch)
    job = old.enqueue(make_job())
    old.close()
    barrier = threading.Barrier(4)
    opened: list[PostgresStorage] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            barrier.wait(timeout=10)
            opened.append(PostgresStorage(url, schema=schema_name))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert not errors, errors
        assert len(opened) == 4
        assert all(storage.get_job(job.id) is not None for storage in opened)
        version = postgres_schema.SCHEMA_VERSION
        assert run_sql(url, f"SELECT version FROM {schema_name}.schema_version") == [(version,)]
    finally:
        for storage in opened:
            storage.close()


# --- races across connections and processes -------------------------------------------------


@on_postgres
def test_connections_of_one_pool_racing_get_one_rate_slot(backend: Backend) -> None:
    storage = PostgresStorage(require_postgres(), schema=_schema_of(backend), pool_size=8)
    try:
        at = now_ms()
        for round_index in range(3):
            now = at + round_index * 500

            def take(racer: Storage, now: int = now) -> int | None:
                return racer.take_rate_slot("hot", 500, now)

            results = race([storage] * 8, take)
            assert results.count(None) == 1, results
            assert [r for r in results if r is not None] == [now + 500] * 7
    finally:
        storage.close()


@on_postgres
def test_racing_admissions_of_a_half_open_breaker_start_exactly_the_probe_count(
    backend: Backend,
) -> None:
    storage = PostgresStorage(require_postgres(), schema=_schema_of(backend), pool_size=8)
    try:
        config = BreakerConfig(1, 10_000, 100, 3, 1.0)
        for round_index in range(6):
            at = now_ms() + round_index * 10_000
            # Closed: the first failure opens it; half-open: a failed probe reopens it.
            storage.breaker_record("tests.flaky", config, False, at)

            def admit(racer: Storage, at: int = at) -> int | None:
                return racer.breaker_admit("tests.flaky", config, at + 100)

            results = race([storage] * 8, admit)
            assert results.count(None) == 3, results
            # Every probe is out: callers come back when the round may restart.
            assert [r for r in results if r is not None] == [at + 100 + 100] * 5
            (breaker,) = storage.circuit_breakers()
            assert (breaker.state, breaker.probes_started) == ("half_open", 3)
    finally:
        storage.close()


_FIRE_SLOTS = """
import json, sys
from taskito.ids import new_job_id
from taskito.job import NewJob
base, count = int(sys.argv[1]), int(sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()
won = []
for index in range(count):
    slot = base + index * 1000
    job = NewJob(id=new_job_id(), queue="periodic", task_name="tests.tick", payload=b"p",
                 priority=0, created_at=slot, scheduled_at=slot, max_retries=0, timeout_ms=None)
    if storage.fire_periodic("tick", slot, slot + 1000, job) is not None:
        won.append(index)
print(json.dumps(won))
"""


@on_postgres
def test_processes_racing_over_many_slots_fire_each_slot_once(backend: Backend) -> None:
    storage = backend.first()
    base, count = 1_700_000_000_000, 40
    schedule = PeriodicSchedule("tick", "tests.tick", "* * * * *", None, "periodic", b"p", base)
    storage.register_periodic(schedule)
    processes = [_start(backend, _FIRE_SLOTS, base, count) for _ in range(4)]
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    won: list[int] = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        won.extend(json.loads(out.strip().splitlines()[-1]))
    assert sorted(won) == list(range(count))
    (stored,) = storage.periodic_schedules()
    assert (stored.last_run, stored.next_run) == (base + (count - 1) * 1000, base + count * 1000)
    assert storage.count_jobs("periodic")[JobStatus.PENDING] == count


def _start(backend: Backend, code: str, *args: object) -> subprocess.Popen[str]:
    """A child process with ``storage`` open on the backend, ``args`` in ``sys.argv[1:]``,
    once it has printed "ready"."""
    argv = "import sys\nsys.argv[1:] = " + repr([str(arg) for arg in args]) + "\n"
    process = backend.start_process(argv + code)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def _schema_of(backend: Backend) -> str:
    first = backend.first()
    assert isinstance(first, PostgresStorage)
    return first.schema


# --- notification, plans, errors ------------------------------------------------------------


@on_postgres
def test_resuming_a_queue_wakes_a_listener_and_pausing_does_not(backend: Backend) -> None:
    one, two = backend.first(), backend.open_another()
    two.wait_for_change(0)  # starts the listener; later changes count from here
    assert one.set_queue_paused("emails", True, now_ms())
    assert two.wait_for_change(0.3) is False
    assert one.set_queue_paused("emails", False, now_ms())
    assert two.wait_for_change(10) is True


@on_postgres
def test_deferring_to_a_due_time_wakes_a_listener(backend: Backend) -> None:
    one, two = backend.first(), backend.open_another()
    later, due = start_job(one), start_job(one)
    two.wait_for_change(0)
    now = now_ms()
    assert one.defer_many(
        [Deferral(later.id, later.attempt, now + 60_000, worker_id=later.worker_id)], now
    ) == [True]
    assert two.wait_for_change(0.3) is False
    assert one.defer_many([Deferral(due.id, due.attempt, now, worker_id=due.worker_id)], now) == [
        True
    ]
    assert two.wait_for_change(10) is True


def _jobs_rows_read(url: str, query: str, params: Any) -> dict[str, int]:
    """Rows read from the jobs table or its indexes, per plan node, while ``query`` runs
    (then rolled back)."""
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params).fetchone()
        conn.rollback()
    assert row is not None
    read: dict[str, int] = {}
    pending = [row[0][0]["Plan"]]
    while pending:
        node = pending.pop()
        index = node.get("Index Name") or ""
        if node.get("Relation Name") == "jobs" or index.startswith(("idx_jobs", "jobs_")):
            name = f"{node['Node Type']} {index}".strip()
            rows = node["Actual Rows"] * max(1, node["Actual Loops"])
            read[name] = read.get(name, 0) + rows + node.get("Rows Removed by Filter", 0)
        pending.extend(node.get("Plans", []))
    return read


@on_postgres
@pytest.mark.parametrize("queues", [None, ["paused"], ["paused", "other"]])
def test_a_claim_reads_no_job_of_a_paused_queue(backend: Backend, queues: list[str] | None) -> None:
    storage = backend.first()
    assert isinstance(storage, PostgresStorage)
    storage.enqueue_many([make_job(queue="paused") for _ in range(5_000)])
    assert storage.set_queue_paused("paused", True, now_ms())
    mode, params = postgres_claim.claim_params("w", queues, None, 32, now_ms(), now_ms() + LEASE_MS)
    query = postgres_claim.claim_query(storage.schema, mode, False)
    read = _jobs_rows_read(require_postgres(), query, params)
    # A claim on every queue finds the queue names with one index probe each.
    assert all(rows <= 2 for rows in read.values()), read


@on_postgres
def test_running_ids_and_defer_read_only_running_jobs(backend: Backend) -> None:
    storage = backend.first()
    assert isinstance(storage, PostgresStorage)
    storage.enqueue_many([make_job() for _ in range(3_000)])
    running = storage.claim("w", None, None, 8, now_ms(), LEASE_MS)
    url = require_postgres()
    from taskito.storage.postgres import control_queries as cq

    query = cq.running_ids_query(storage.schema, True, True)
    for rows in _jobs_rows_read(url, query, ["tests.add", "default"]).values():
        assert rows <= 20, rows
    ids = [job.id for job in running]
    params = {"ids": ids, "attempts": [1] * 8, "untils": [0] * 8, "workers": ["w"] * 8, "now": 0}
    for rows in _jobs_rows_read(url, storage._control.defer_many, params).values():
        assert rows <= 20, rows


@on_postgres
def test_expired_results_are_found_through_their_index(backend: Backend) -> None:
    import psycopg

    storage = backend.first()
    assert isinstance(storage, PostgresStorage)
    with psycopg.connect(require_postgres(), connect_timeout=5) as conn:
        conn.execute("SET LOCAL enable_seqscan = off")
        rows = conn.execute("EXPLAIN " + storage._control.purge_expired_results, (0,)).fetchall()
        conn.rollback()
    assert "idx_jobs_result_expiry" in "\n".join(row[0] for row in rows)


@on_postgres
def test_driver_errors_of_control_methods_are_storage_errors(backend: Backend) -> None:
    storage = backend.first()
    schema = _schema_of(backend)
    run_sql(require_postgres(), f'DROP TABLE "{schema}".locks')
    with pytest.raises(StorageError, match="tables are missing"):
        storage.acquire_lock("nightly", "worker-1", 1_000)
    assert storage.set_queue_paused("still-works", True, now_ms())


@on_postgres
@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda s: s.running_ids(7, None), "task_name"),
        (lambda s: s.running_ids(None, b"q"), "queue"),
        (lambda s: s.lock_info(None), "name"),
        (lambda s: s.release_lock("lock", None, 1), "owner_id"),
        (lambda s: s.get_setting(3), "key"),
        (lambda s: s.set_setting("key", None, 0), "value"),
        (lambda s: s.replay_history(None), "job_id"),
        (lambda s: s.fire_periodic("", 0, 1, make_job()), "name"),
        (lambda s: s.enqueue_replay(make_job(), None, 0), "original_job_id"),
        (lambda s: s.take_rate_slot("key", 0, 0), "interval_ms"),
    ],
)
def test_bad_arguments_are_named(backend: Backend, call: Any, argument: str) -> None:
    storage = backend.first()
    with pytest.raises((TypeError, ValueError), match=argument):
        call(storage)
    assert sum(storage.count_jobs().values()) == 0


@on_postgres
def test_a_job_with_the_largest_result_ttl_finishes_and_is_kept(backend: Backend) -> None:
    storage = backend.first()
    job = start_job(storage, result_ttl_ms=2**63 - 1)
    (applied,) = storage.finish_many(
        [Finish(job.id, job.attempt, JobStatus.COMPLETE, result=b"r", worker_id=job.worker_id)],
        now_ms(),
    )
    assert applied
    assert storage.purge_expired_results(2**62) == 0
    assert storage.get_job(job.id) is not None
