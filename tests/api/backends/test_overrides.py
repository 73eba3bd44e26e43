"""Runtime overrides and middleware switches (issue 18, spec operator-features §11 and §16) on
every backend: the Queue's API and its bad inputs, and a RUNNING thread-pool worker that picks
a change up without a restart (a paused task's jobs stay pending, no retry spent; a rate
limit set at runtime holds jobs back; a middleware switched off is skipped)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from taskito import Queue, QueueOverride, TaskMiddleware, TaskOverride
from taskito.worker import Worker
from tests.api.backends.support import Backend, record_of, status_of, worker_thread
from tests.helpers import wait_until


class Recorder(TaskMiddleware):
    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._lock = threading.Lock()

    def before(self, ctx: Any) -> None:
        with self._lock:
            self.seen.append(ctx.id)


def _worker(queue: Queue) -> Worker:
    (worker,) = queue._running_workers
    return worker


def _picked_up(queue: Queue, check: Any) -> None:
    """Wait (with a deadline) until the running worker's snapshot shows the change."""
    wait_until(lambda: check(_worker(queue)._overrides), 10, message="the worker saw it")


# --- the API ------------------------------------------------------------------------------


def test_task_overrides_are_stored_merged_and_cleared(queue: Queue) -> None:
    @queue.task(name="send")
    def send() -> None: ...

    assert queue.get_task_override("send") is None
    first = queue.set_task_override("send", rate_limit="5/s", paused=True)
    assert first == TaskOverride(rate_limit="5/s", paused=True)
    second = queue.set_task_override("send", max_concurrent=2, rate_limit=None, timeout=1.5)
    assert second == TaskOverride(max_concurrent=2, timeout=1.5, paused=True)
    assert queue.get_task_override("send") == second
    assert queue.list_task_overrides() == {"send": second}
    assert queue.clear_task_override("send") is True
    assert queue.clear_task_override("send") is False
    assert queue.list_task_overrides() == {}


def test_queue_overrides_and_the_queue_pause(queue: Queue) -> None:
    assert queue.set_queue_override("mail", rate_limit="10/m") == QueueOverride(rate_limit="10/m")
    queue.set_queue_override("mail", paused=True)
    assert queue.paused_queues() == ["mail"]
    assert queue.get_queue_override("mail") == QueueOverride(rate_limit="10/m")
    queue.set_queue_override("mail", paused=False, max_concurrent=3)
    assert queue.paused_queues() == []
    assert queue.list_queue_overrides() == {"mail": QueueOverride("10/m", 3)}
    assert queue.clear_queue_override("mail") is True
    assert queue.get_queue_override("mail") is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rate_limit": "-5/s"}, "invalid rate_limit '-5/s'"),
        ({"rate_limit": 5}, "rate_limit must be a string"),
        ({"max_concurrent": 0}, "max_concurrent must be a whole number >= 1"),
        ({"max_concurrent": True}, "max_concurrent must be a whole number >= 1"),
        ({"timeout": 0}, "timeout must be > 0"),
        ({"timeout": float("nan")}, "timeout must be > 0"),
        ({"paused": "yes"}, "paused must be True or False"),
        ({"priority": 3}, "unknown override field(s) priority: expected rate_limit"),
    ],
)
def test_bad_task_fields_raise_and_store_nothing(
    queue: Queue, fields: dict[str, Any], message: str
) -> None:
    @queue.task(name="send")
    def send() -> None: ...

    queue.set_task_override("send", max_concurrent=4)
    with pytest.raises(ValueError) as raised:
        queue.set_task_override("send", **fields)
    assert message in str(raised.value)
    assert queue.get_task_override("send") == TaskOverride(max_concurrent=4)


def test_unknown_tasks_queues_fields_and_middleware_are_refused(queue: Queue) -> None:
    queue._global_middleware.append(Recorder())

    @queue.task(name="send")
    def send() -> None: ...

    with pytest.raises(ValueError, match="task 'sned' is not registered on this queue"):
        queue.set_task_override("sned", paused=True)
    with pytest.raises(ValueError, match=r"unknown override field.*timeout"):
        queue.set_queue_override("mail", timeout=3)
    with pytest.raises(ValueError, match="no middleware named 'audit' runs for task 'send'"):
        queue.disable_middleware_for_task("send", "audit")
    with pytest.raises(ValueError, match="is not registered"):
        queue.disable_middleware_for_task("nope", "recorder")
    assert queue.list_task_overrides() == {} and queue.list_queue_overrides() == {}
    assert queue.get_disabled_middleware_for("send") == []


def test_middleware_switches(queue: Queue) -> None:
    queue._global_middleware.append(Recorder())

    @queue.task(name="send")
    def send() -> None: ...

    assert queue.list_middleware() == [{"name": "recorder", "scope": "global"}]
    assert queue.disable_middleware_for_task("send", "recorder") == ["recorder"]
    assert queue.get_disabled_middleware_for("send") == ["recorder"]
    assert queue.enable_middleware_for_task("send", "recorder") == []
    assert queue.disable_middleware_for_task("send", "recorder") == ["recorder"]
    assert queue.clear_middleware_disables("send") is True
    assert queue.get_disabled_middleware_for("send") == []


def test_async_twins(queue: Queue) -> None:
    @queue.task(name="send")
    def send() -> None: ...

    async def drive() -> list[Any]:
        return [
            await queue.aset_task_override("send", paused=True),
            await queue.alist_task_overrides(),
            await queue.aclear_task_override("send"),
            await queue.aset_queue_override("q", max_concurrent=2),
            await queue.aget_queue_override("q"),
            await queue.aclear_queue_override("q"),
        ]

    paused = TaskOverride(paused=True)
    two = QueueOverride(max_concurrent=2)
    assert asyncio.run(drive()) == [paused, {"send": paused}, True, two, two, True]


# --- a running worker ---------------------------------------------------------------------


def test_a_running_worker_holds_back_a_paused_task_then_runs_it(backend: Backend) -> None:
    queue = backend.queue(workers=2)

    @queue.task(name="send", max_retries=0)
    def send() -> str:
        return "sent"

    @queue.task(name="other")
    def other() -> str:
        return "ran"

    with worker_thread(queue):
        queue.set_task_override("send", paused=True)
        _picked_up(queue, lambda snapshot: snapshot.paused("send"))
        held = send.delay()
        free = other.delay()
        assert free.result(timeout=10) == "ran"  # other tasks are not held
        # The worker claimed it and put it back: due again later, still pending, no retry.
        wait_until(
            lambda: record_of(queue, held.id).scheduled_at > record_of(queue, held.id).created_at,
            10,
            message="the paused job put back",
        )
        assert status_of(queue, held.id) == "pending"
        assert record_of(queue, held.id).retry_count == 0
        queue.set_task_override("send", paused=False)
        assert held.result(timeout=10) == "sent"


def test_a_rate_limit_set_at_runtime_holds_jobs_back(backend: Backend) -> None:
    queue = backend.queue(workers=2)

    @queue.task(name="send")
    def send(n: int) -> int:
        return n

    with worker_thread(queue):
        queue.set_task_override("send", rate_limit="1/h")
        _picked_up(queue, lambda s: "send" in s.current.tasks)
        jobs = [send.delay(n) for n in range(2)]
        wait_until(
            lambda: sorted(status_of(queue, job.id) for job in jobs) == ["complete", "pending"],
            10,
            message="one ran, one held back",
        )
        (held,) = [job for job in jobs if status_of(queue, job.id) == "pending"]
        assert record_of(queue, held.id).scheduled_at > record_of(queue, held.id).created_at


def test_a_middleware_switched_off_is_skipped_from_the_next_job(backend: Backend) -> None:
    recorder = Recorder()
    queue = backend.queue(workers=1, middleware=[recorder])

    @queue.task(name="send")
    def send() -> str:
        return "sent"

    with worker_thread(queue):
        first = send.delay()
        assert first.result(timeout=10) == "sent"
        queue.disable_middleware_for_task("send", "recorder")
        _picked_up(queue, lambda s: s.current.disabled_middleware.get("send"))
        second = send.delay()
        assert second.result(timeout=10) == "sent"
    assert recorder.seen == [first.id]


def test_concurrent_writers_of_one_override_lose_nothing(backend: Backend) -> None:
    """Each of several Queues sets a different field of the same override at once: the
    compare-and-set keeps every one."""
    queues = [backend.queue() for _ in range(3)]
    for each in queues:

        @each.task(name="send")
        def send() -> None: ...

    changes: list[dict[str, Any]] = [
        {"rate_limit": "5/s"},
        {"max_concurrent": 3},
        {"timeout": 9.0},
    ]
    barrier = threading.Barrier(len(queues))
    errors: list[BaseException] = []

    def write(each: Queue, fields: dict[str, Any]) -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(5):
                each.set_task_override("send", **fields)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(each, fields))
        for each, fields in zip(queues, changes, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and not any(thread.is_alive() for thread in threads)
    assert queues[0].get_task_override("send") == TaskOverride("5/s", 3, 9.0)


def test_set_setting_if_on_the_queue(queue: Queue) -> None:
    assert queue.set_setting_if("flag", None, "on") is True
    assert queue.set_setting_if("flag", None, "off") is False
    assert queue.set_setting_if("flag", "on", "off") is True
    assert queue.get_setting("flag") == "off"
    with pytest.raises(TypeError, match="setting value must be a str"):
        queue.set_setting_if("flag", "off", 3)  # type: ignore[arg-type]
    assert queue.get_setting("flag") == "off"


def test_registered_tasks_show_defaults_override_and_effective(queue: Queue) -> None:
    @queue.task(name="send", rate_limit="100/m", timeout=30)
    def send() -> None: ...

    queue.set_task_override("send", rate_limit="5/s", paused=True)
    (row,) = queue.registered_tasks()
    assert row == {
        "name": "send",
        "queue": "default",
        "defaults": {"rate_limit": "100/m", "max_concurrent": None, "timeout": 30.0},
        "override": {"rate_limit": "5/s", "max_concurrent": None, "timeout": None, "paused": True},
        "effective": {"rate_limit": "5/s", "max_concurrent": None, "timeout": 30.0},
        "paused": True,
        "disabled_middleware": [],
    }
    assert asyncio.run(queue.aregistered_tasks()) == [row]
