"""Ordering and timing on every backend (issue 6 points 1-3): priority, delay, expires,
result_ttl, unique_key (atomic under concurrent producers) and dependencies with job_dag."""

from __future__ import annotations

import asyncio
import threading

import pytest

from taskito import DependencyError, Queue
from taskito.job import JobStatus, now_ms
from taskito.result import job_to_dict
from tests.api.backends.support import (
    Backend,
    record_of,
    status_of,
    worker_thread,
)
from tests.api.driving import LEASE_MS, claim, drive, finish
from tests.helpers import wait_until


def claim_one(queue: Queue, queue_name: str) -> str | None:
    """The id of the single job a worker would start next on ``queue_name``, claimed."""
    claimed = queue._storage.claim("order-test", [queue_name], None, 1, now_ms(), LEASE_MS)
    return claimed[0].id if claimed else None


# --- priority -------------------------------------------------------------------------------

PRIORITIES = [0, 5, -3, 10**9, 1, -(10**9), 5, 0, 2**31 - 1, -1]


def expected_order(priorities: list[int]) -> list[int]:
    """Indexes in run order: higher priority first, enqueue order among equals."""
    return sorted(range(len(priorities)), key=lambda i: (-priorities[i], i))


def test_higher_priority_is_claimed_first_with_fifo_among_equals(queue: Queue) -> None:
    ids = [queue.enqueue("t", queue="prio", priority=p).id for p in PRIORITIES]
    claimed = [claim_one(queue, "prio") for _ in PRIORITIES]
    assert claimed == [ids[i] for i in expected_order(PRIORITIES)]
    assert claim_one(queue, "prio") is None


def test_a_worker_runs_jobs_in_priority_order(backend: Backend) -> None:
    queue = backend.queue(workers=1, default_priority=3)
    ran: list[int] = []

    @queue.task()
    def record(index: int) -> None:
        ran.append(index)

    priorities = [*PRIORITIES, 3]  # the last one takes the queue's default priority
    for index, priority in enumerate(PRIORITIES):
        record.apply_async(args=(index,), priority=priority)
    last = queue.enqueue(record.name, args=(len(PRIORITIES),))
    assert record_of(queue, last.id).priority == 3
    with worker_thread(queue):
        wait_until(lambda: len(ran) == len(priorities), timeout_s=20)
    assert ran == expected_order(priorities)


def test_priority_must_be_an_int(queue: Queue) -> None:
    with pytest.raises(TypeError, match="priority"):
        queue.enqueue("t", priority=1.5)  # type: ignore[arg-type]


# --- delay and expires ----------------------------------------------------------------------


def test_a_delayed_job_waits_in_storage_until_its_time(backend: Backend) -> None:
    queue = backend.queue(workers=2)

    @queue.task()
    def echo(value: str) -> str:
        return value

    delayed = echo.apply_async(args=("later",), delay=1.5)
    scheduled_at = record_of(queue, delayed.id).scheduled_at
    assert scheduled_at >= record_of(queue, delayed.id).created_at + 1500
    with worker_thread(queue):
        assert echo.delay("now").result(timeout=20) == "now"
        record = record_of(queue, delayed.id)
        if now_ms() < scheduled_at:  # read before its time: the worker left it in storage
            assert (record.status, record.worker_id) == (JobStatus.PENDING, None)
        assert delayed.result(timeout=20) == "later"
    assert record_of(queue, delayed.id).started_at >= scheduled_at


def test_delay_must_be_finite_and_non_negative(queue: Queue) -> None:
    for bad in (-1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="delay_seconds must be a finite non-negative"):
            queue.enqueue("t", delay=bad)
    assert queue.list_jobs() == []


def test_an_expired_job_is_cancelled_and_never_runs(backend: Backend) -> None:
    queue = backend.queue(workers=2)
    ran: list[str] = []

    @queue.task()
    def record(label: str) -> str:
        ran.append(label)
        return label

    expiring = record.apply_async(args=("expired",), expires=0.05)
    expires_at = record_of(queue, expiring.id).expires_at
    assert expires_at is not None
    wait_until(lambda: now_ms() > expires_at, message="the job expired")
    with worker_thread(queue):
        assert record.delay("fresh").result(timeout=20) == "fresh"
        wait_until(lambda: status_of(queue, expiring.id) == "cancelled", timeout_s=20)
    assert record_of(queue, expiring.id).error == "expired before execution"
    assert ran == ["fresh"]


def test_expires_must_be_non_negative(queue: Queue) -> None:
    with pytest.raises(ValueError, match="expires"):
        queue.enqueue("t", expires=-1)


def test_the_task_expires_is_the_default_of_every_way_to_enqueue(backend: Backend) -> None:
    """``@queue.task(expires=)``: delay, apply_async, map and a signature take it; a call's own
    ``expires`` wins; a task without it stores no expiry."""
    queue = backend.queue()

    @queue.task(expires=60)
    def expiring() -> None: ...

    @queue.task()
    def lasting() -> None: ...

    def expires_in_s(job_id: str) -> float | None:
        record = record_of(queue, job_id)
        if record.expires_at is None:
            return None
        return round((record.expires_at - record.created_at) / 1000)

    assert expires_in_s(expiring.delay().id) == 60
    assert expires_in_s(expiring.apply_async().id) == 60
    assert expires_in_s(expiring.apply_async(expires=5).id) == 5
    assert [expires_in_s(job.id) for job in expiring.map([(), ()])] == [60, 60]
    assert expires_in_s(expiring.s().apply().id) == 60
    assert expires_in_s(lasting.delay().id) is None


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "60"])
def test_a_bad_task_expires_is_refused_when_the_task_is_defined(queue: Queue, bad: object) -> None:
    error = TypeError if isinstance(bad, str) else ValueError
    with pytest.raises(error, match="expires"):

        @queue.task(expires=bad)  # type: ignore[arg-type]
        def never() -> None: ...

    assert queue.list_jobs() == []


# --- result_ttl -----------------------------------------------------------------------------


def test_result_ttl_is_stored_per_job_with_the_queue_default(backend: Backend) -> None:
    with_default = backend.queue(result_ttl=60)
    without = backend.queue()
    assert record_of(with_default, with_default.enqueue("t").id).result_ttl_ms == 60_000
    own = with_default.enqueue("t", result_ttl=1.5)
    assert record_of(with_default, own.id).result_ttl_ms == 1500
    assert record_of(without, without.enqueue("t").id).result_ttl_ms is None
    with pytest.raises(ValueError, match="result_ttl"):
        without.enqueue("t", result_ttl=-1)


def test_a_worker_deletes_finished_jobs_whose_result_ttl_ran_out(backend: Backend) -> None:
    queue = backend.queue(workers=2, result_ttl=0.2)

    @queue.task()
    def echo(value: str) -> str:
        return value

    kept = echo.apply_async(args=("kept",), result_ttl=3600)
    expiring = echo.delay("expiring")  # takes the Queue's result_ttl
    with worker_thread(queue):
        assert expiring.result(timeout=20) == "expiring"
        assert kept.result(timeout=20) == "kept"
    completed_at = record_of(queue, expiring.id).completed_at
    wait_until(lambda: now_ms() > completed_at + 200, message="the result_ttl ran out")
    with worker_thread(queue):  # a starting worker cleans up at once
        wait_until(lambda: queue.get_job(expiring.id) is None, timeout_s=15)
    assert queue.get_job(kept.id) is not None


def test_a_running_worker_cleans_up_every_scheduler_cleanup_interval(backend: Backend) -> None:
    # 4 ticks of 50 ms: a running worker looks for expired results every 0.2 s.
    queue = backend.queue(
        workers=1, result_ttl=0.1, scheduler_cleanup_interval=4, scheduler_poll_interval_ms=50
    )

    @queue.task()
    def echo(value: str) -> str:
        return value

    with worker_thread(queue):
        job = echo.delay("gone soon")
        assert job.result(timeout=20) == "gone soon"
        # Well past 0.2 s, well short of the Worker's own 5 s default.
        wait_until(lambda: queue.get_job(job.id) is None, timeout_s=4)


# --- unique_key -----------------------------------------------------------------------------


def test_a_unique_key_returns_the_active_job_and_is_free_once_it_finished(queue: Queue) -> None:
    first = queue.enqueue("t", unique_key="report-42")
    assert queue.enqueue("t", unique_key="report-42").id == first.id  # pending
    claim(queue, first.id)
    assert queue.enqueue("t", unique_key="report-42").id == first.id  # running
    drive_finish(queue, first.id)
    second = queue.enqueue("t", unique_key="report-42")
    assert second.id != first.id
    assert queue.enqueue("t", unique_key="other").id not in {first.id, second.id}
    queue.cancel(second.id)
    assert queue.enqueue("t", unique_key="report-42").id not in {first.id, second.id}


def drive_finish(queue: Queue, job_id: str) -> None:
    """Complete a job that ``claim`` already made running."""
    record = record_of(queue, job_id)
    finish(queue, record, JobStatus.COMPLETE)


def test_a_unique_key_is_free_after_the_job_died(queue: Queue) -> None:
    first = queue.enqueue("t", unique_key="k")
    drive(queue, first.id, JobStatus.DEAD, error="boom")
    assert queue.enqueue("t", unique_key="k").id != first.id


ROUNDS = 5
PRODUCERS = 8


def test_unique_keys_are_atomic_under_concurrent_producers(backend: Backend) -> None:
    producers = [backend.queue(pool_size=2) for _ in range(PRODUCERS)]
    results: dict[int, list[str]] = {r: [] for r in range(ROUNDS)}
    errors: list[BaseException] = []
    start = threading.Barrier(PRODUCERS)
    lock = threading.Lock()

    def produce(producer: Queue) -> None:
        try:
            for round_ in range(ROUNDS):
                start.wait(timeout=20)
                job = producer.enqueue("t", unique_key=f"key-{round_}")
                with lock:
                    results[round_].append(job.id)
        except BaseException as exc:
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=produce, args=(p,), name="producer") for p in producers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for round_, ids in results.items():
        assert len(ids) == PRODUCERS
        assert len(set(ids)) == 1, f"round {round_}: {len(set(ids))} jobs for one key"
    stored = producers[0].list_jobs(limit=1000)
    assert sorted(job.to_dict()["unique_key"] for job in stored) == [
        f"key-{r}" for r in range(ROUNDS)
    ]


# --- dependencies ---------------------------------------------------------------------------


def test_a_job_starts_only_after_all_its_dependencies_completed(queue: Queue) -> None:
    first = queue.enqueue("t", queue="roots")
    second = queue.enqueue("t", queue="other-roots")
    child = queue.enqueue("t", queue="children", depends_on=[first.id, second.id])
    single = queue.enqueue("t", queue="singles", depends_on=first.id)
    assert sorted(child.dependencies) == sorted([first.id, second.id])
    assert single.dependencies == [first.id]
    assert sorted(first.dependents) == sorted([child.id, single.id])
    assert claim_one(queue, "children") is None
    drive(queue, first.id, JobStatus.COMPLETE)
    assert claim_one(queue, "children") is None  # one dependency is still pending
    assert claim_one(queue, "singles") == single.id
    drive(queue, second.id, JobStatus.COMPLETE)
    assert claim_one(queue, "children") == child.id


def test_a_worker_runs_dependents_after_their_dependencies(backend: Backend) -> None:
    queue = backend.queue(workers=4)
    ran: list[str] = []

    @queue.task()
    def step(label: str) -> str:
        ran.append(label)
        return label

    fetch = step.delay("fetch")
    parse = step.apply_async(args=("parse",), depends_on=fetch.id)
    store = step.apply_async(args=("store",), depends_on=[fetch.id, parse.id])
    with worker_thread(queue):
        assert store.result(timeout=20) == "store"
    assert ran == ["fetch", "parse", "store"]


def test_a_dead_dependency_cascades_transitively(queue: Queue) -> None:
    root = queue.enqueue("t", queue="roots")
    child = queue.enqueue("t", depends_on=root.id)
    grandchild = queue.enqueue("t", depends_on=child.id)
    bystander = queue.enqueue("t")
    drive(queue, root.id, JobStatus.DEAD, error="boom")
    assert record_of(queue, child.id).error == f"dependency failed: {root.id}"
    assert record_of(queue, grandchild.id).error == f"dependency cancelled: {child.id}"
    assert status_of(queue, child.id) == status_of(queue, grandchild.id) == "cancelled"
    assert status_of(queue, bystander.id) == "pending"


def test_a_cancelled_dependency_cascades_transitively(queue: Queue) -> None:
    root = queue.enqueue("t", delay=3600)
    child = queue.enqueue("t", depends_on=root.id)
    grandchild = queue.enqueue("t", depends_on=[child.id])
    assert queue.cancel_job(root.id)
    assert record_of(queue, child.id).error == f"dependency cancelled: {root.id}"
    assert record_of(queue, grandchild.id).error == f"dependency cancelled: {child.id}"


@pytest.mark.parametrize("final", [JobStatus.DEAD, JobStatus.CANCELLED, None])
def test_an_unknown_or_dead_dependency_raises_at_enqueue(
    queue: Queue, final: JobStatus | None
) -> None:
    if final is None:
        dependency_id = "01900000-0000-7000-8000-000000000000"
    else:
        dependency = queue.enqueue("t", queue="deps")
        drive(queue, dependency.id, final, error="gone")
        dependency_id = dependency.id
    before = len(queue.list_jobs())
    with pytest.raises(DependencyError) as raised:
        queue.enqueue("t", depends_on=[dependency_id])
    assert isinstance(raised.value, RuntimeError)
    assert dependency_id in str(raised.value)
    assert len(queue.list_jobs()) == before


def test_depends_on_is_checked(queue: Queue) -> None:
    with pytest.raises(ValueError, match="depends_on"):
        queue.enqueue("t", depends_on="")
    with pytest.raises(TypeError, match="depends_on"):
        queue.enqueue("t", depends_on=42)  # type: ignore[arg-type]


# --- job_dag --------------------------------------------------------------------------------


def test_job_dag_covers_the_connected_graph_in_both_directions(queue: Queue) -> None:
    top = queue.enqueue("t", delay=3600)
    left = queue.enqueue("t", depends_on=top.id)
    right = queue.enqueue("t", depends_on=top.id)
    bottom = queue.enqueue("t", depends_on=[left.id, right.id])
    queue.enqueue("t")  # unrelated
    expected_edges = sorted(
        [(top.id, left.id), (top.id, right.id), (left.id, bottom.id), (right.id, bottom.id)]
    )
    for start in (top, left, bottom):
        dag = queue.job_dag(start.id)
        assert [node["id"] for node in dag["nodes"]] == [top.id, left.id, right.id, bottom.id]
        assert sorted((e["from"], e["to"]) for e in dag["edges"]) == expected_edges
        assert dag["nodes"][0] == job_to_dict(record_of(queue, top.id))
        assert set(dag["nodes"][0]) == set(top.to_dict())


def test_job_dag_of_a_lone_job_and_of_an_unknown_one(queue: Queue) -> None:
    lone = queue.enqueue("t")
    assert queue.job_dag(lone.id) == {"nodes": [lone.to_dict()], "edges": []}
    with pytest.raises(RuntimeError, match="job not found: missing"):
        queue.job_dag("missing")
    with pytest.raises(ValueError, match="job_id"):
        queue.job_dag("")


def test_ajob_dag(queue: Queue) -> None:
    parent = queue.enqueue("t", delay=3600)
    child = queue.enqueue("t", depends_on=parent.id)
    dag = asyncio.run(queue.ajob_dag(child.id))
    assert dag["edges"] == [{"from": parent.id, "to": child.id}]
