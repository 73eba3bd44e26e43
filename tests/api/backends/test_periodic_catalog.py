"""The periodic schedule catalog (issue 18, spec operator-features §1 and §16): pause, resume,
update and delete stored schedules from a Queue, on every backend, with the reference's two
quirks fixed: a restarted worker keeps a paused schedule paused, and resuming starts from the
next slot instead of firing a stale one."""

from __future__ import annotations

import asyncio

import pytest

from taskito import PeriodicInfo, Queue
from taskito.cron import CronSchedule
from taskito.exceptions import ConfigurationError
from taskito.job import now_ms
from tests.api.backends.support import Backend, worker_thread
from tests.helpers import wait_until

EVERY_SECOND = "* * * * * *"
YEARLY = "0 0 0 1 1 *"


def _declare(queue: Queue, name: str, cron: str = EVERY_SECOND) -> None:
    @queue.periodic(cron, name=name)
    def tick() -> None:
        pass


def _info(queue: Queue, name: str) -> PeriodicInfo:
    (found,) = [info for info in queue.list_periodic() if info.name == name]
    return found


def _jobs_of(queue: Queue, task_name: str) -> int:
    return len(queue.list_jobs(task_name=task_name, limit=1000))


def _fired_twice(queue: Queue, name: str) -> None:
    """Wait until schedule ``name`` fired two slots: every schedule of the worker with the
    same cron has had the same two chances."""
    wait_until(lambda: _jobs_of(queue, name) >= 2, 15, message=f"{name} fired twice")


def test_a_paused_schedule_stays_paused_when_a_new_worker_starts(backend: Backend) -> None:
    first = backend.queue(workers=1)
    _declare(first, "heartbeat")
    with worker_thread(first):
        wait_until(lambda: _jobs_of(first, "heartbeat") >= 1, 15, message="a first slot")
        assert first.pause_periodic("heartbeat") is True
    fired_before = _jobs_of(first, "heartbeat")
    assert _info(first, "heartbeat").enabled is False

    # A second app over the same storage (a restarted deployment) declares it again.
    second = backend.queue(workers=1)
    _declare(second, "heartbeat")
    _declare(second, "marker")
    with worker_thread(second):
        _fired_twice(second, "marker")
    assert _info(second, "heartbeat").enabled is False
    assert _jobs_of(second, "heartbeat") == fired_before


def test_resume_starts_from_the_next_slot_and_never_fires_a_stale_one(backend: Backend) -> None:
    queue = backend.queue(workers=1)
    _declare(queue, "yearly", YEARLY)
    _declare(queue, "marker")
    with worker_thread(queue):
        wait_until(lambda: _info_or_none(queue, "yearly"), 15, message="registered")
        assert queue.pause_periodic("yearly") is True
        # A long pause: the stored next slot (last new year) is long past.
        stale = CronSchedule.parse(YEARLY).next_after(now_ms() - 366 * 86_400_000)
        assert stale is not None
        queue._storage.set_periodic_enabled("yearly", False, stale)
        before = now_ms()
        assert queue.resume_periodic("yearly") is True
        info = _info(queue, "yearly")
        assert info.enabled is True
        assert info.next_run == CronSchedule.parse(YEARLY).next_after(before)
        _fired_twice(queue, "marker")
    assert _jobs_of(queue, "yearly") == 0
    assert _info(queue, "yearly").last_run is None


def _info_or_none(queue: Queue, name: str) -> PeriodicInfo | None:
    return next((info for info in queue.list_periodic() if info.name == name), None)


def test_a_running_worker_stops_and_restarts_firing(backend: Backend) -> None:
    queue = backend.queue(workers=1)
    _declare(queue, "heartbeat")
    _declare(queue, "marker")
    with worker_thread(queue):
        wait_until(lambda: _jobs_of(queue, "heartbeat") >= 1, 15, message="a first slot")
        assert queue.pause_periodic("heartbeat") is True
        paused_at = _jobs_of(queue, "heartbeat")
        marker_at = _jobs_of(queue, "marker")
        wait_until(lambda: _jobs_of(queue, "marker") >= marker_at + 2, 15, message="marker")
        # One slot may have been fired between the read and the pause, none after.
        assert _jobs_of(queue, "heartbeat") <= paused_at + 1
        assert queue.resume_periodic("heartbeat") is True
        resumed_at = _jobs_of(queue, "heartbeat")
        wait_until(lambda: _jobs_of(queue, "heartbeat") > resumed_at, 15, message="fires again")


def test_update_changes_the_cron_and_keeps_a_pause(backend: Backend) -> None:
    queue = backend.queue(workers=1)
    _declare(queue, "heartbeat", YEARLY)
    with worker_thread(queue):
        wait_until(lambda: _info_or_none(queue, "heartbeat"), 15, message="registered")
        assert queue.pause_periodic("heartbeat") is True
        assert queue.update_periodic("heartbeat", "0 0 12 * * *", "Europe/Paris") is True
    info = _info(queue, "heartbeat")
    assert (info.cron_expr, info.timezone, info.enabled) == (
        "0 0 12 * * *",
        "Europe/Paris",
        False,
    )
    # The next noon in Paris after the update (at most a few seconds ago).
    noon = CronSchedule.parse("0 0 12 * * *", "Europe/Paris")
    assert info.next_run is not None and info.next_run > now_ms() - 10_000
    assert noon.next_after(info.next_run - 1) == info.next_run
    assert queue.update_periodic("heartbeat", "*/30 * * * * *") is True  # timezone kept
    assert _info(queue, "heartbeat").timezone == "Europe/Paris"


def test_update_with_a_bad_cron_or_timezone_raises_and_changes_nothing(backend: Backend) -> None:
    queue = backend.queue(workers=1)
    _declare(queue, "heartbeat", YEARLY)
    with worker_thread(queue):
        wait_until(lambda: _info_or_none(queue, "heartbeat"), 15, message="registered")
    before = queue.list_periodic()
    with pytest.raises(ConfigurationError, match="61"):
        queue.update_periodic("heartbeat", "61 * * * * *")
    with pytest.raises(ValueError, match="Mars/Olympus"):
        queue.update_periodic("heartbeat", EVERY_SECOND, "Mars/Olympus")
    with pytest.raises(ConfigurationError):
        queue.update_periodic("missing", "not a cron")  # the cron is checked first
    assert queue.list_periodic() == before


def test_delete_removes_the_schedule_and_a_declaring_worker_puts_it_back(
    backend: Backend,
) -> None:
    queue = backend.queue(workers=1)
    _declare(queue, "heartbeat", YEARLY)
    with worker_thread(queue):
        wait_until(lambda: _info_or_none(queue, "heartbeat"), 15, message="registered")
    assert queue.delete_periodic("heartbeat") is True
    assert queue.list_periodic() == []
    assert queue.delete_periodic("heartbeat") is False
    again = backend.queue(workers=1)
    _declare(again, "heartbeat", YEARLY)
    with worker_thread(again):
        wait_until(lambda: _info_or_none(again, "heartbeat"), 15, message="stored again")


def test_unknown_names_return_false_and_bad_names_raise(queue: Queue) -> None:
    assert queue.pause_periodic("missing") is False
    assert queue.resume_periodic("missing") is False
    assert queue.update_periodic("missing", EVERY_SECOND) is False
    assert queue.delete_periodic("missing") is False
    with pytest.raises(ValueError, match="name"):
        queue.pause_periodic("")
    with pytest.raises(TypeError, match="name"):
        queue.delete_periodic(None)  # type: ignore[arg-type]
    assert queue.list_periodic() == []


def test_async_twins(backend: Backend) -> None:
    queue = backend.queue(workers=1)
    _declare(queue, "heartbeat", YEARLY)
    with worker_thread(queue):
        wait_until(lambda: _info_or_none(queue, "heartbeat"), 15, message="registered")

    async def drive() -> list[bool]:
        return [
            await queue.apause_periodic("heartbeat"),
            await queue.aresume_periodic("heartbeat"),
            await queue.aupdate_periodic("heartbeat", EVERY_SECOND),
            await queue.adelete_periodic("heartbeat"),
            await queue.apause_periodic("heartbeat"),
        ]

    assert asyncio.run(drive()) == [True, True, True, True, False]


def test_a_namespaced_queue_finds_its_own_schedule_by_its_declared_name(
    backend: Backend,
) -> None:
    queue = backend.queue(workers=1, namespace="billing")
    _declare(queue, "heartbeat", YEARLY)
    with worker_thread(queue):
        wait_until(lambda: _info_or_none(queue, "billing:heartbeat"), 15, message="registered")
    assert queue.pause_periodic("heartbeat") is True
    assert _info(queue, "billing:heartbeat").enabled is False
    other = backend.queue()
    assert other.resume_periodic("billing:heartbeat") is True
    assert other.pause_periodic("heartbeat") is False
