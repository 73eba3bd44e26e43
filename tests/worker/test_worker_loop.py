"""The worker loop: registration, events, claims sized to free slots, wake-ups, queues, drain."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from taskito.events import EventType
from taskito.job import JobStatus
from taskito.worker import Worker, WorkerSettings
from tests.backends import queue_target
from tests.helpers import wait_until
from tests.worker.harness import Harness, harness_on


def test_a_burst_runs_every_job_and_stores_results(harness: Harness) -> None:
    harness.task(lambda a, b: a + b, name="add")
    ids = [harness.enqueue("add", i, 100) for i in range(40)]
    harness.burst(lambda: harness.is_terminal(*ids), threads=4)
    assert [harness.result(job_id) for job_id in ids] == [i + 100 for i in range(40)]


def test_the_worker_registers_heartbeats_and_unregisters(harness: Harness) -> None:
    with harness.running(threads=3, tags=["gpu", "eu"], queues=["a", "b"]) as worker:
        rows = wait_until(harness.storage.list_workers)
        (row,) = rows
        assert row.worker_id == worker.worker_id
        assert (row.queues, row.pool, row.threads, row.status) == (
            ("a", "b"),
            "thread",
            3,
            "active",
        )
        assert row.tags == ("gpu", "eu")
        first_beat = row.last_heartbeat
        wait_until(lambda: harness.storage.list_workers()[0].last_heartbeat > first_beat)
    assert harness.storage.list_workers() == []


def test_worker_events_carry_their_payloads(harness: Harness) -> None:
    with harness.running(threads=2) as worker:
        pass
    started = harness.events.of(EventType.WORKER_STARTED)
    online = harness.events.of(EventType.WORKER_ONLINE)
    stopped = harness.events.of(EventType.WORKER_STOPPED)
    assert started == [{"worker_id": worker.worker_id, "queues": None}]
    assert online == [{"worker_id": worker.worker_id, "queues": None, "pool": "thread"}]
    assert stopped == [{"worker_id": worker.worker_id}]


def test_claims_are_sized_to_free_slots(harness: Harness) -> None:
    lock = threading.Lock()
    state = {"now": 0, "max": 0, "max_running_rows": 0}
    limits: list[int] = []
    real_claim = harness.storage.claim

    def recording_claim(*args: Any, **kwargs: Any) -> Any:
        limits.append(args[3])
        return real_claim(*args, **kwargs)

    harness.storage.claim = recording_claim  # type: ignore[method-assign]

    def work() -> None:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        running_rows = harness.storage.count_jobs()[JobStatus.RUNNING]
        time.sleep(0.01)
        with lock:
            state["now"] -= 1
            state["max_running_rows"] = max(state["max_running_rows"], running_rows)

    harness.task(work)
    ids = [harness.enqueue("work") for _ in range(30)]
    harness.burst(lambda: harness.is_terminal(*ids), threads=3)
    assert state["max"] == 3  # full batches were claimed ...
    assert limits and max(limits) == 3 and min(limits) >= 1  # ... never more than free slots
    # Claimed jobs plus run ones whose outcome is being written in the same loop turn.
    assert state["max_running_rows"] <= 6


def test_queues_none_consumes_every_queue(harness: Harness) -> None:
    harness.task(lambda: "ok", name="t")
    ids = [harness.enqueue("t", queue=name) for name in ("default", "emails", "reports")]
    harness.burst(lambda: harness.is_terminal(*ids), queues=None)
    assert all(harness.status(job_id) is JobStatus.COMPLETE for job_id in ids)


def test_a_queue_list_consumes_only_those_queues(harness: Harness) -> None:
    harness.task(lambda: "ok", name="t")
    wanted = harness.enqueue("t", queue="emails")
    other = harness.enqueue("t", queue="reports")
    harness.burst(lambda: harness.is_terminal(wanted), queues=["emails"])
    assert harness.status(other) is JobStatus.PENDING


def test_an_idle_worker_wakes_on_enqueue_without_polling(harness: Harness) -> None:
    harness.task(lambda: "ok", name="t")
    with harness.running(idle_poll_s=30.0) as worker:
        wait_until(harness.storage.list_workers)
        time.sleep(0.05)  # let the loop go idle in its 30 s wait
        started = time.monotonic()
        job_id = harness.enqueue("t")
        wait_until(lambda: harness.is_terminal(job_id), timeout_s=2.0, interval_s=0.001)
        elapsed = time.monotonic() - started
        assert worker.status == "active"
    assert elapsed < 0.5


def test_a_freed_slot_starts_the_next_job_at_once(harness: Harness) -> None:
    gate = threading.Event()
    harness.task(lambda: gate.wait(5), name="first")
    harness.task(lambda: "ok", name="second")
    with harness.running(threads=1, idle_poll_s=30.0):
        first = harness.enqueue("first")
        second = harness.enqueue("second")
        wait_until(lambda: harness.status(first) is JobStatus.RUNNING)
        assert harness.status(second) is JobStatus.PENDING
        released = time.monotonic()
        gate.set()
        wait_until(lambda: harness.is_terminal(second), timeout_s=2.0, interval_s=0.001)
        assert time.monotonic() - released < 0.5


def test_delayed_jobs_run_when_due(harness: Harness) -> None:
    harness.task(lambda: "ok", name="t")
    job_id = harness.enqueue("t", delay_ms=300)
    started = time.monotonic()
    harness.burst(lambda: harness.is_terminal(job_id), idle_poll_s=0.05)
    assert time.monotonic() - started >= 0.25
    assert harness.status(job_id) is JobStatus.COMPLETE


def test_drain_lets_running_jobs_finish_and_claims_nothing_new(harness: Harness) -> None:
    started = threading.Event()

    def slow() -> str:
        started.set()
        time.sleep(0.5)
        return "done"

    harness.task(slow)
    harness.task(lambda: "never", name="later")
    with harness.running(threads=2, drain_timeout_s=10) as worker:
        slow_id = harness.enqueue("slow")
        assert started.wait(5)
        worker.request_shutdown()
        wait_until(lambda: harness.storage.list_workers()[0].status == "draining")
        later_id = harness.enqueue("later")
    assert harness.result(slow_id) == "done"
    assert harness.status(later_id) is JobStatus.PENDING


def test_drain_timeout_stops_waiting_for_a_stuck_job(harness: Harness) -> None:
    gate, started = threading.Event(), threading.Event()

    def stuck() -> None:
        started.set()
        gate.wait(10)

    harness.task(stuck)
    try:
        with harness.running(drain_timeout_s=0.2) as worker:
            job_id = harness.enqueue("stuck")
            assert started.wait(5)
            began = time.monotonic()
            worker.request_shutdown()
        assert time.monotonic() - began < 3
        # Released at once, as a rescue: another worker runs it again without waiting for
        # the lease to expire, and no retry is spent.
        record = harness.job(job_id)
        assert record.status is JobStatus.PENDING
        assert (record.retry_count, record.rescue_count, record.worker_id) == (0, 1, None)
        (error,) = harness.storage.job_errors(job_id)
        assert error.error.startswith(f"rescued: worker {worker.worker_id} stopped")
    finally:
        gate.set()


def test_request_shutdown_before_run_returns_at_once(harness: Harness) -> None:
    worker = harness.worker()
    worker.request_shutdown()
    began = time.monotonic()
    worker.run()
    assert time.monotonic() - began < 2
    with pytest.raises(RuntimeError, match="only be called once"):
        worker.run()


def test_run_from_a_non_main_thread_leaves_signal_handlers_alone(harness: Harness) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    harness.task(lambda: "ok", name="t")
    job_id = harness.enqueue("t")
    with harness.running(install_signals=True):
        wait_until(lambda: harness.is_terminal(job_id))
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert harness.result(job_id) == "ok"


def test_two_workers_on_two_databases_in_one_process(harness: Harness, tmp_path: Path) -> None:
    (tmp_path / "two").mkdir()
    first = harness
    # The same backend, a fresh database of its own.
    with harness_on(queue_target(harness.target.name, tmp_path / "two")) as second:
        for h, label in ((first, "one"), (second, "two")):
            h.task(lambda x, label=label: f"{label}:{x}", name="where")
        ids_one = [first.enqueue("where", i) for i in range(20)]
        ids_two = [second.enqueue("where", i) for i in range(20)]
        with first.running() as w1, second.running() as w2:
            wait_until(lambda: first.is_terminal(*ids_one) and second.is_terminal(*ids_two))
        assert [first.result(i) for i in ids_one] == [f"one:{i}" for i in range(20)]
        assert [second.result(i) for i in ids_two] == [f"two:{i}" for i in range(20)]
        assert w1.worker_id != w2.worker_id
        assert first.events.of(EventType.WORKER_STARTED) == [
            {"worker_id": w1.worker_id, "queues": None}
        ]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"queues": "default"}, TypeError, "queues must be a list"),
        ({"queues": []}, ValueError, "at least one queue"),
        ({"queues": ["ok", ""]}, ValueError, "non-empty strings"),
        ({"queues": 5}, TypeError, "queues must be a list"),
        ({"tags": [1]}, ValueError, "non-empty strings"),
        ({"threads": 0}, ValueError, "threads must be >= 1, got 0"),
        ({"threads": "4"}, ValueError, "threads must be an int, not str"),
        ({"pool": "fibers"}, ValueError, "Unknown pool 'fibers'"),
        ({"pool": 3}, TypeError, "pool must be a pool name"),
        ({"drain_timeout_s": -1}, ValueError, "drain_timeout_s"),
        ({"lease_ms": 10}, ValueError, "lease_ms must be at least 100"),
        ({"lease_ms": 1.5}, TypeError, "lease_ms must be an int"),
        ({"heartbeat_interval_s": 0}, ValueError, "heartbeat_interval_s"),
        ({"idle_poll_s": float("nan")}, ValueError, "idle_poll_s"),
        ({"drain_timeout_s": 1e11}, ValueError, "drain_timeout_s must be at most"),
    ],
)
def test_bad_options_raise_clear_errors(
    sqlite_harness: Harness, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    # SQLite only: options are checked before the worker touches storage.
    with pytest.raises(error, match=match):
        Worker(sqlite_harness.env, sqlite_harness.bus, WorkerSettings(**options))
