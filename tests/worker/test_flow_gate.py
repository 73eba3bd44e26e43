"""The flow gate (``worker/flow.py``): concurrency caps, rate limits and circuit breakers are
checked right after claim, and held-back jobs go back to pending without spending a retry.

The first tests drive ``FlowGate`` against a recording fake storage (exact rules, no I/O); the
rest run real workers on every backend through the ``harness`` fixture.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, cast

import pytest

from taskito.job import JobRecord, JobStatus, now_ms
from taskito.registry import (
    CircuitBreakerConfig,
    ClaimedJob,
    ExecutionEnv,
    Hooks,
    QueueLimits,
    RateLimit,
)
from taskito.storage.base import Storage
from taskito.storage.control import BreakerConfig, Deferral
from taskito.worker.flow import CAP_JITTER_MS, CAP_RETRY_MS, FlowGate, rate_interval_ms
from tests.helpers import wait_until
from tests.worker.harness import Harness

# --- the rules, against a fake storage ----------------------------------------------------


class FakeControl:
    """The four storage calls the gate makes, answered from fields and recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.running: dict[tuple[str | None, str | None], list[str]] = {}
        self.rate_answers: dict[str, list[int | None]] = {}
        self.breaker_answers: list[int | None] = []
        self.defer_failures = 0
        self.deferred: list[Deferral] = []

    def running_ids(self, task_name: str | None, queue: str | None) -> list[str]:
        self.calls.append(("running_ids", (task_name, queue)))
        return self.running.get((task_name, queue), [])

    def take_rate_slot(self, key: str, interval_ms: int, now: int) -> int | None:
        self.calls.append(("take_rate_slot", (key, interval_ms)))
        answers = self.rate_answers.get(key, [])
        return answers.pop(0) if answers else None

    def breaker_admit(self, task_name: str, config: BreakerConfig, now: int) -> int | None:
        self.calls.append(("breaker_admit", (task_name, config)))
        return self.breaker_answers.pop(0) if self.breaker_answers else None

    def defer_many(self, deferrals: Sequence[Deferral], now: int) -> list[bool]:
        self.calls.append(("defer_many", list(deferrals)))
        if self.defer_failures:
            self.defer_failures -= 1
            raise RuntimeError("database is locked")
        self.deferred.extend(deferrals)
        return [True] * len(deferrals)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the gate must not call storage.{name}")


def gate_for(fake: FakeControl, *specs: Any, jitter: float = 0.0) -> tuple[FlowGate, ExecutionEnv]:
    from taskito.registry import TaskSpec

    env = ExecutionEnv(
        storage=cast(Storage, fake),
        serializer=cast(Any, None),
        tasks={},
        middleware=[],
        hooks=Hooks(),
        unknown_task_window_ms=0,  # unknown tasks: tests/faults/test_unknown_task.py
    )
    for options in specs:
        spec = TaskSpec(fn=lambda: None, **options)
        env.tasks[spec.name] = spec
    return FlowGate(env, jitter=lambda: jitter), env


def job(job_id: str, task_name: str = "t", queue: str = "default", attempt: int = 1) -> JobRecord:
    return JobRecord(
        id=job_id,
        queue=queue,
        task_name=task_name,
        payload=b"",
        status=JobStatus.RUNNING,
        priority=0,
        created_at=0,
        scheduled_at=0,
        retry_count=0,
        max_retries=3,
        timeout_ms=None,
        worker_id="worker-1",
        attempt=attempt,
    )


def claims(env: ExecutionEnv, jobs: list[JobRecord]) -> list[ClaimedJob]:
    """The jobs as the worker hands them to the gate: each resolved once."""
    return [env.resolve(one) for one in jobs]


NOW = 1_000_000


def test_jobs_without_limits_pass_with_no_storage_call() -> None:
    fake = FakeControl()
    gate, env = gate_for(fake, {"name": "plain"})
    env.queue_limits["other"] = QueueLimits(max_concurrent=1)  # a limit on another queue
    jobs = claims(env, [job("a", "plain"), job("b", "unknown-task")])
    admission = gate.admit(jobs, NOW)
    assert admission.admitted == jobs and admission.due_again == []
    assert fake.calls == []


def test_a_cap_lets_the_first_jobs_start_and_defers_the_rest_shortly() -> None:
    fake = FakeControl()
    gate, env = gate_for(fake, {"name": "t", "max_concurrent": 2})
    fake.running[("t", None)] = ["a", "b", "c"]
    admission = gate.admit(claims(env, [job("c"), job("a"), job("b")]), NOW)
    assert [c.job.id for c in admission.admitted] == ["a", "b"]
    assert fake.deferred == [Deferral("c", 1, NOW + CAP_RETRY_MS, worker_id="worker-1")]
    assert admission.due_again == [NOW + CAP_RETRY_MS]


def test_a_cap_counts_running_jobs_outside_the_batch_wherever_they_rank() -> None:
    # "x" runs elsewhere but ranks after "a" (its claim committed late with an earlier clock,
    # or it was admitted before "a" became visible): with a cap of 1, "a" must wait.
    fake = FakeControl()
    gate, env = gate_for(fake, {"name": "t", "max_concurrent": 1}, jitter=1.0)
    fake.running[("t", None)] = ["a", "x"]
    admission = gate.admit(claims(env, [job("a", attempt=4)]), NOW)
    assert admission.admitted == []
    assert fake.deferred == [
        Deferral("a", 4, NOW + CAP_RETRY_MS + CAP_JITTER_MS, worker_id="worker-1")
    ]


def test_queue_caps_apply_after_task_caps_to_the_jobs_still_allowed() -> None:
    fake = FakeControl()
    gate, env = gate_for(fake, {"name": "t", "max_concurrent": 1, "queue": "q"})
    env.queue_limits["q"] = QueueLimits(max_concurrent=1)
    fake.running[("t", None)] = ["a", "b"]
    fake.running[(None, "q")] = ["a", "b", "c"]
    admission = gate.admit(
        claims(env, [job("a", queue="q"), job("b", queue="q"), job("c", "u", "q")]), NOW
    )
    # "b" is over the task cap; then "a" takes the queue's only slot, so "c" waits too.
    assert [c.job.id for c in admission.admitted] == ["a"]
    assert sorted(d.job_id for d in fake.deferred) == ["b", "c"]


def test_rate_limits_defer_until_the_next_slot_spreading_a_batch() -> None:
    fake = FakeControl()
    gate, env = gate_for(fake, {"name": "t", "rate_limit": RateLimit(2, 1.0)})
    fake.rate_answers["task:t"] = [None, NOW + 400]
    admission = gate.admit(claims(env, [job("a"), job("b"), job("c"), job("d")]), NOW)
    assert [c.job.id for c in admission.admitted] == ["a"]
    assert [(d.job_id, d.until) for d in fake.deferred] == [
        ("b", NOW + 400),
        ("c", NOW + 900),
        ("d", NOW + 1400),
    ]
    # Once the key refused, the batch does not ask again.
    assert [c for c in fake.calls if c[0] == "take_rate_slot"] == [
        ("take_rate_slot", ("task:t", 500)),
        ("take_rate_slot", ("task:t", 500)),
    ]


def test_queue_rate_limits_use_their_own_key() -> None:
    fake = FakeControl()
    gate, env = gate_for(fake)
    env.queue_limits["mail"] = QueueLimits(rate_limit=RateLimit(100, 60.0))
    fake.rate_answers["queue:mail"] = [NOW + 600]
    admission = gate.admit(claims(env, [job("a", "any", "mail")]), NOW)
    assert admission.admitted == []
    assert fake.calls[0] == ("take_rate_slot", ("queue:mail", 600))


def test_the_breaker_is_asked_last_and_only_for_jobs_still_allowed() -> None:
    fake = FakeControl()
    breaker = CircuitBreakerConfig(threshold=3, window_s=10, cooldown_s=2, half_open_probes=1)
    gate, env = gate_for(
        fake, {"name": "t", "rate_limit": RateLimit(1, 1.0), "circuit_breaker": breaker}
    )
    fake.rate_answers["task:t"] = [None, NOW + 1000]
    fake.breaker_answers = [NOW + 2000]
    admission = gate.admit(claims(env, [job("a"), job("b")]), NOW)
    assert admission.admitted == []
    assert [c[0] for c in fake.calls] == [
        "take_rate_slot",
        "take_rate_slot",
        "breaker_admit",
        "defer_many",
    ]
    config = fake.calls[2][1][1]
    assert config == BreakerConfig(3, 10_000, 2_000, 1, 0.8)
    assert {d.job_id: d.until for d in fake.deferred} == {"a": NOW + 2000, "b": NOW + 1000}


def test_a_failed_deferral_write_is_retried_before_the_next_batch() -> None:
    fake = FakeControl()
    gate, env = gate_for(fake, {"name": "t", "max_concurrent": 1})
    fake.running[("t", None)] = ["a", "b"]
    fake.defer_failures = 1
    admission = gate.admit(claims(env, [job("a"), job("b")]), NOW)
    assert [c.job.id for c in admission.admitted] == ["a"]
    assert fake.deferred == []
    gate.admit([], NOW + 5)
    assert [d.job_id for d in fake.deferred] == ["b"]


def test_a_limit_that_cannot_be_checked_holds_its_job_back() -> None:
    class Broken(FakeControl):
        def take_rate_slot(self, key: str, interval_ms: int, now: int) -> int | None:
            raise RuntimeError("connection reset")

    fake = Broken()
    gate, env = gate_for(fake, {"name": "t", "rate_limit": RateLimit(5, 1.0)})
    admission = gate.admit(claims(env, [job("a")]), NOW)
    assert admission.admitted == []
    assert [d.job_id for d in fake.deferred] == ["a"]


def test_rate_interval_is_period_over_count() -> None:
    assert rate_interval_ms(RateLimit(2, 1.0)) == 500
    assert rate_interval_ms(RateLimit(100, 60.0)) == 600
    assert rate_interval_ms(RateLimit(5000, 1.0)) == 1  # never zero


# --- real workers, every backend --------------------------------------------------------


class Concurrency:
    """Counts how many calls of a task run at once, and when each started."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.starts: list[float] = []

    def __call__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.starts.append(time.monotonic())
        time.sleep(self.hold_s)
        with self.lock:
            self.now -= 1


def all_complete(harness: Harness, ids: list[str]) -> bool:
    return all(harness.status(job_id) is JobStatus.COMPLETE for job_id in ids)


def test_rate_limited_jobs_are_spaced_and_keep_their_retries(harness: Harness) -> None:
    probe = Concurrency(hold_s=0.0)
    harness.task(probe, name="limited", rate_limit=RateLimit(4, 1.0))
    ids = [harness.enqueue("limited") for _ in range(3)]
    harness.burst(lambda: all_complete(harness, ids), timeout_s=15, threads=4)
    records = [harness.job(job_id) for job_id in ids]
    assert all(r.retry_count == 0 and r.error is None for r in records), records
    assert max(r.attempt for r in records) > 1, "no job was ever held back"
    started = sorted(r.started_at or 0 for r in records)
    assert started[-1] - started[0] >= 2 * 250  # one slot every 250 ms, no burst
    assert not harness.storage.job_errors(ids[0])


def test_max_concurrent_one_never_overlaps_across_two_workers(harness: Harness) -> None:
    probe = Concurrency(hold_s=0.05)
    harness.task(probe, name="exclusive", max_concurrent=1)
    ids = [harness.enqueue("exclusive") for _ in range(6)]
    with harness.running(threads=3), harness.running(threads=3):
        wait_until(lambda: all_complete(harness, ids), 20, message="every job complete")
    assert probe.most == 1
    assert len(probe.starts) == 6
    assert all(harness.job(job_id).retry_count == 0 for job_id in ids)


def test_a_queue_cap_holds_across_tasks(harness: Harness) -> None:
    probe = Concurrency(hold_s=0.05)

    def one() -> None:
        probe()

    def two() -> None:
        probe()

    harness.task(one, name="one")
    harness.task(two, name="two")
    harness.env.queue_limits["narrow"] = QueueLimits(max_concurrent=1)
    ids = [harness.enqueue(name, queue="narrow") for name in ("one", "two") * 3]
    harness.burst(lambda: all_complete(harness, ids), timeout_s=20, threads=4)
    assert probe.most == 1 and len(probe.starts) == 6
    assert all(harness.job(job_id).retry_count == 0 for job_id in ids)


class Flaky:
    """Fails while ``failing`` is set; records when each call ran (ms)."""

    def __init__(self) -> None:
        self.failing = True
        self.calls: list[int] = []

    def __call__(self) -> str:
        self.calls.append(now_ms())
        if self.failing:
            raise RuntimeError("downstream is down")
        return "ok"


def breaker_state(harness: Harness, task_name: str) -> str | None:
    for state in harness.storage.circuit_breakers():
        if state.task_name == task_name:
            return state.state
    return None


@pytest.mark.timeout(60)
def test_the_breaker_opens_refuses_then_half_opens_and_closes(harness: Harness) -> None:
    flaky = Flaky()
    breaker = CircuitBreakerConfig(
        threshold=2, window_s=60, cooldown_s=1.0, half_open_probes=2, half_open_success_rate=1.0
    )
    harness.task(flaky, name="fragile", circuit_breaker=breaker)
    with harness.running(threads=2):
        failed = [harness.enqueue("fragile") for _ in range(2)]
        wait_until(lambda: all(harness.status(i) is JobStatus.DEAD for i in failed), 10)
        wait_until(lambda: breaker_state(harness, "fragile") == "open", 5)
        (opened,) = harness.storage.circuit_breakers()
        assert opened.failure_count == 2 and opened.opened_at is not None
        flaky.failing = False
        probe = harness.enqueue("fragile")
        # Refused while open: claimed, put back until the cooldown ends, never run early.
        wait_until(lambda: harness.job(probe).attempt >= 1, 5, message="the probe was claimed")
        wait_until(lambda: harness.status(probe) is JobStatus.COMPLETE, 10)
        assert flaky.calls[-1] >= opened.opened_at + 1000
        assert harness.job(probe).retry_count == 0
        assert breaker_state(harness, "fragile") == "half_open"  # one of two probes so far
        second = harness.enqueue("fragile")
        wait_until(lambda: harness.status(second) is JobStatus.COMPLETE, 10)
        wait_until(lambda: breaker_state(harness, "fragile") == "closed", 5)
    assert len(flaky.calls) == 4


def test_cancelled_attempts_do_not_count_against_the_breaker(harness: Harness) -> None:
    from taskito.context import current_job

    started = threading.Event()

    def slow() -> None:
        started.set()
        while True:
            current_job.check_cancelled()
            time.sleep(0.005)

    breaker = CircuitBreakerConfig(threshold=1, window_s=60, cooldown_s=60)
    harness.task(slow, name="slow", circuit_breaker=breaker)
    job_id = harness.enqueue("slow")
    with harness.running():
        assert started.wait(10)
        harness.storage.request_cancel(job_id)
        wait_until(lambda: harness.status(job_id) is JobStatus.CANCELLED, 10)
    assert breaker_state(harness, "slow") == "closed"


def test_the_worker_wakes_for_each_held_back_job_not_only_the_first() -> None:
    from taskito.worker.alarms import Alarms

    alarms = Alarms()
    now = now_ms()
    alarms.add_all([now + 500, now + 250, now + 250, now + 750])
    start = time.monotonic()
    first = alarms.seconds_left(start)
    assert first is not None and 0.2 < first <= 0.252
    second = alarms.seconds_left(start + 0.3)
    assert second is not None and 0.15 < second <= 0.202
    third = alarms.seconds_left(start + 0.6)
    assert third is not None and 0.1 < third <= 0.152
    assert alarms.seconds_left(start + 0.8) is None
