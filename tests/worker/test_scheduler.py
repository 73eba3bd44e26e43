"""The worker's scheduler (``worker/scheduler.py``): periodic schedules fire each slot once
however many schedulers race for it, a slot missed while no worker ran fires once, and
results past their ``result_ttl`` are deleted. Every backend, through the ``harness`` fixture.

Most tests call ``register``/``fire_due``/``purge`` with a chosen ``now`` (exact, no waiting);
the others run a real worker.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from taskito.cron import CronSchedule
from taskito.ids import new_job_id
from taskito.job import JobRecord, JobStatus, NewJob, now_ms
from taskito.registry import PeriodicSpec
from taskito.storage.base import JobFilter
from taskito.worker.scheduler import PeriodicScheduler
from tests.helpers import wait_until
from tests.worker.harness import Harness

EVERY_SECOND = "* * * * * *"
#: A whole second, so slots of an every-second schedule are T0 + k * 1000.
T0 = 1_700_000_000_000


def declare(harness: Harness, name: str = "tick", cron: str = EVERY_SECOND, **task: Any) -> str:
    calls: list[tuple[Any, ...]] = []

    def tick(*args: Any, **kwargs: Any) -> None:
        calls.append((args, kwargs))

    task_name = harness.task(tick, name=f"task.{name}", **task)
    harness.env.periodic[name] = PeriodicSpec(
        name=name,
        task_name=task_name,
        cron=cron,
        timezone=None,
        queue="periodic",
        args=(1, "two"),
        kwargs={"three": 3},
    )
    return task_name


def periodic_jobs(harness: Harness) -> list[JobRecord]:
    records = harness.storage.list_jobs(JobFilter(any_namespace=True), 10_000, 0)
    return [r for r in records if (r.unique_key or "").startswith("periodic:")]


def slot_of(record: JobRecord) -> int:
    assert record.unique_key is not None
    return int(record.unique_key.rsplit(":", 1)[1])


def test_registration_stores_the_next_slot_and_fires_it_with_the_task_options(
    harness: Harness,
) -> None:
    task_name = declare(harness, priority=7, max_retries=1, timeout_s=12.0)
    scheduler = PeriodicScheduler(harness.env)
    scheduler.register(T0 + 300)
    (stored,) = harness.storage.periodic_schedules()
    assert (stored.name, stored.task_name, stored.queue) == ("tick", task_name, "periodic")
    assert stored.next_run == T0 + 1000
    assert harness.serializer.loads(stored.payload) == ((1, "two"), {"three": 3})
    assert scheduler.fire_due(T0 + 999) == []
    (fired,) = scheduler.fire_due(T0 + 1000)
    assert fired.unique_key == f"periodic:tick:{T0 + 1000}"
    assert (fired.queue, fired.task_name) == ("periodic", task_name)
    assert (fired.priority, fired.max_retries, fired.timeout_ms) == (7, 1, 12_000)
    (after,) = harness.storage.periodic_schedules()
    assert (after.last_run, after.next_run) == (T0 + 1000, T0 + 2000)


def test_two_schedulers_fire_each_of_ten_slots_exactly_once(harness: Harness) -> None:
    declare(harness)
    first, second = PeriodicScheduler(harness.env), PeriodicScheduler(harness.env)
    first.register(T0)
    second.register(T0 + 1)  # a second worker starting later keeps the stored next_run
    fired: list[JobRecord] = []
    for k in range(1, 11):
        now = T0 + k * 1000 + 5
        fired += first.fire_due(now) + second.fire_due(now)
    assert sorted(slot_of(r) for r in fired) == [T0 + k * 1000 for k in range(1, 11)]
    assert len(periodic_jobs(harness)) == 10


def test_concurrent_schedulers_never_fire_a_slot_twice(harness: Harness) -> None:
    declare(harness)
    schedulers = [PeriodicScheduler(harness.env) for _ in range(4)]
    for scheduler in schedulers:
        scheduler.register(T0)
    barrier = threading.Barrier(len(schedulers))
    fired: list[JobRecord] = []
    lock = threading.Lock()

    def race(scheduler: PeriodicScheduler) -> None:
        for k in range(1, 6):
            barrier.wait(10)
            jobs = scheduler.fire_due(T0 + k * 1000)
            with lock:
                fired.extend(jobs)

    threads = [threading.Thread(target=race, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(slot_of(r) for r in fired) == [T0 + k * 1000 for k in range(1, 6)]
    assert len(periodic_jobs(harness)) == 5


def test_a_missed_slot_fires_once_then_the_schedule_resumes(harness: Harness) -> None:
    declare(harness)
    PeriodicScheduler(harness.env).register(T0)  # a worker ran once, long ago
    later = T0 + 100_000 + 400  # then no worker for 100 slots
    restarted = PeriodicScheduler(harness.env)
    restarted.register(later)
    (fired,) = restarted.fire_due(later)
    assert slot_of(fired) == T0 + 1000  # the stored slot, once
    (stored,) = harness.storage.periodic_schedules()
    assert stored.next_run == T0 + 101_000  # the next slot after now, not T0 + 2000
    assert restarted.fire_due(later + 1) == []
    assert [slot_of(r) for r in restarted.fire_due(T0 + 101_000)] == [T0 + 101_000]
    assert len(periodic_jobs(harness)) == 2


def test_a_changed_cron_takes_its_own_next_slot(harness: Harness) -> None:
    declare(harness)
    PeriodicScheduler(harness.env).register(T0)
    harness.env.periodic["tick"] = PeriodicSpec("tick", "task.tick", "0 * * * * *", None, "q")
    PeriodicScheduler(harness.env).register(T0 + 10)
    (stored,) = harness.storage.periodic_schedules()
    minute = CronSchedule.parse("0 * * * * *").next_after(T0 + 10)
    assert stored.next_run == minute and stored.cron == "0 * * * * *"


def test_schedules_this_worker_did_not_declare_are_left_alone(harness: Harness) -> None:
    declare(harness, name="theirs")
    PeriodicScheduler(harness.env).register(T0)  # stored by another app's worker
    harness.env.periodic.clear()
    declare(harness, name="mine")
    mine = PeriodicScheduler(harness.env)
    mine.register(T0)
    fired = mine.fire_due(T0 + 5000)
    assert [r.unique_key for r in fired] == [f"periodic:mine:{T0 + 1000}"]
    assert [s.name for s in harness.storage.due_periodic(T0 + 5000)] == ["theirs"]


def test_a_declaration_with_a_bad_cron_is_skipped_not_fatal(harness: Harness) -> None:
    declare(harness, name="good")
    harness.env.periodic["bad"] = PeriodicSpec("bad", "task.good", "61 * * * * *", None, "q")
    scheduler = PeriodicScheduler(harness.env)
    scheduler.register(T0)
    assert [s.name for s in harness.storage.periodic_schedules()] == ["good"]


def test_a_running_worker_fires_the_schedule_and_runs_its_jobs(harness: Harness) -> None:
    ran: list[tuple[Any, ...]] = []

    def tick(*args: Any, **kwargs: Any) -> None:
        ran.append((args, kwargs))

    harness.task(tick, name="task.tick")
    harness.env.periodic["tick"] = PeriodicSpec(
        "tick", "task.tick", EVERY_SECOND, "Europe/Paris", "default", (5,), {"k": "v"}
    )
    harness.burst(lambda: len(ran) >= 2, timeout_s=10)
    assert ran[:2] == [((5,), {"k": "v"})] * 2
    slots = sorted(slot_of(r) for r in periodic_jobs(harness))
    assert len(slots) == len(set(slots)) >= 2
    assert all(slot % 1000 == 0 for slot in slots)


def test_scheduler_storage_errors_are_logged_and_it_carries_on(harness: Harness) -> None:
    declare(harness)

    class Flaky:
        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.failures = 3

        def due_periodic(self, now: int) -> Any:
            if self.failures:
                self.failures -= 1
                raise RuntimeError("server closed the connection")
            return self.inner.due_periodic(now)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    flaky = Flaky(harness.storage)
    harness.env.storage = flaky  # type: ignore[assignment]
    scheduler = PeriodicScheduler(harness.env, poll_s=0.02)
    scheduler.start()
    try:
        wait_until(lambda: periodic_jobs(harness), 5, message="a slot fired after the errors")
    finally:
        scheduler.stop()
        harness.env.storage = flaky.inner
    assert flaky.failures == 0


def finished_job(harness: Harness, result_ttl_ms: int | None) -> str:
    now = now_ms()
    job = NewJob(
        id=new_job_id(),
        queue="default",
        task_name="noop",
        payload=harness.serializer.dumps(((), {})),
        priority=0,
        created_at=now,
        scheduled_at=now,
        max_retries=0,
        timeout_ms=None,
        result_ttl_ms=result_ttl_ms,
    )
    return harness.storage.enqueue(job).id


def test_the_worker_deletes_results_whose_ttl_ran_out(harness: Harness) -> None:
    harness.task(lambda: "done", name="noop")
    short = finished_job(harness, result_ttl_ms=300)
    kept = finished_job(harness, result_ttl_ms=None)
    with harness.running(cleanup_interval_s=0.05):
        wait_until(lambda: harness.storage.get_job(short) is None, 10, message="short purged")
    assert harness.status(kept) is JobStatus.COMPLETE


def test_purge_deletes_only_expired_results(harness: Harness) -> None:
    harness.task(lambda: "done", name="noop")
    ids = [finished_job(harness, result_ttl_ms=60_000) for _ in range(2)]
    harness.burst(lambda: harness.is_terminal(*ids))
    scheduler = PeriodicScheduler(harness.env)
    completed_at = max(harness.job(i).completed_at or 0 for i in ids)
    assert scheduler.purge(completed_at + 59_000) == 0
    assert scheduler.purge(completed_at + 60_000) == 2
    assert all(harness.storage.get_job(i) is None for i in ids)


def test_namespaces_keep_schedules_of_the_same_name_apart(harness: Harness) -> None:
    declare(harness)
    tenant_env = dataclasses.replace(harness.env, namespace="tenant-a")
    plain, tenant = PeriodicScheduler(harness.env), PeriodicScheduler(tenant_env)
    plain.register(T0)
    tenant.register(T0)
    names = sorted(schedule.name for schedule in harness.storage.periodic_schedules())
    assert names == ["tenant-a:tick", "tick"]
    fired = plain.fire_due(T0 + 1000) + tenant.fire_due(T0 + 1000)
    assert sorted((r.namespace or "", r.unique_key) for r in fired) == [
        ("", f"periodic:tick:{T0 + 1000}"),
        ("tenant-a", f"periodic:tenant-a:tick:{T0 + 1000}"),
    ]
