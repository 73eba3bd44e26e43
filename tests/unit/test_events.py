"""EventType values and EventBus delivery: threads, errors, off(), flush and shutdown."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from taskito.events import EventBus, EventType

SPEC_VALUES = {
    "job.enqueued",
    "job.completed",
    "job.failed",
    "job.retrying",
    "job.dead",
    "job.cancelled",
    "worker.started",
    "worker.stopped",
    "worker.online",
    "worker.offline",
    "worker.unhealthy",
    "queue.paused",
    "queue.resumed",
    "workflow.submitted",
    "workflow.completed",
    "workflow.failed",
    "workflow.cancelled",
    "workflow.gate_reached",
}


@pytest.fixture
def bus() -> Iterator[EventBus]:
    event_bus = EventBus(max_workers=2)
    yield event_bus
    event_bus.shutdown(wait=True)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[EventType, dict[str, Any], str]] = []
        self._lock = threading.Lock()

    def __call__(self, event_type: EventType, payload: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append((event_type, payload, threading.current_thread().name))


# --- EventType ----------------------------------------------------------------------------


def test_event_type_has_exactly_the_spec_values() -> None:
    assert {member.value for member in EventType} == SPEC_VALUES
    assert len(EventType) == 18


def test_event_type_member_names_follow_the_values() -> None:
    for member in EventType:
        assert member.name == member.value.upper().replace(".", "_")
    assert EventType.WORKFLOW_GATE_REACHED.value == "workflow.gate_reached"


def test_event_type_is_a_str() -> None:
    assert isinstance(EventType.JOB_FAILED, str)
    assert EventType.JOB_FAILED == "job.failed"
    assert EventType("job.dead") is EventType.JOB_DEAD


# --- construction -------------------------------------------------------------------------


def test_max_workers_sizes_the_executor() -> None:
    event_bus = EventBus(max_workers=3)
    try:
        assert event_bus._executor._max_workers == 3
    finally:
        event_bus.shutdown()


def test_default_max_workers_is_four() -> None:
    event_bus = EventBus()
    try:
        assert event_bus._executor._max_workers == 4
    finally:
        event_bus.shutdown()


@pytest.mark.parametrize("bad", [0, -1])
def test_max_workers_below_one_is_rejected(bad: int) -> None:
    with pytest.raises(ValueError, match="max_workers must be at least 1"):
        EventBus(max_workers=bad)


@pytest.mark.parametrize("bad", ["4", 2.0, True, None])
def test_max_workers_must_be_an_int(bad: object) -> None:
    with pytest.raises(TypeError, match="max_workers must be an int"):
        EventBus(max_workers=bad)  # type: ignore[arg-type]


# --- delivery -----------------------------------------------------------------------------


def test_emit_calls_the_listener_on_a_bus_thread(bus: EventBus) -> None:
    recorder = Recorder()
    bus.on(EventType.JOB_COMPLETED, recorder)

    bus.emit(EventType.JOB_COMPLETED, {"job_id": "j1", "task_name": "t", "queue": "default"})

    assert bus.flush(timeout_s=5)
    assert len(recorder.calls) == 1
    event_type, payload, thread_name = recorder.calls[0]
    assert event_type is EventType.JOB_COMPLETED
    assert payload == {"job_id": "j1", "task_name": "t", "queue": "default"}
    assert thread_name.startswith("taskito-events")


def test_emit_returns_without_waiting_for_listeners(bus: EventBus) -> None:
    release = threading.Event()
    bus.on(EventType.JOB_FAILED, lambda _type, _payload: release.wait(5))

    started = time.monotonic()
    bus.emit(EventType.JOB_FAILED, {})
    elapsed_s = time.monotonic() - started
    release.set()

    assert elapsed_s < 1.0
    assert bus.flush(timeout_s=5)


def test_listeners_only_receive_their_event_type(bus: EventBus) -> None:
    completed, failed = Recorder(), Recorder()
    bus.on(EventType.JOB_COMPLETED, completed)
    bus.on(EventType.JOB_FAILED, failed)

    bus.emit(EventType.JOB_FAILED, {"error": "boom"})
    bus.emit(EventType.JOB_DEAD, {"error": "boom"})

    assert bus.flush(timeout_s=5)
    assert completed.calls == []
    assert [(t, p) for t, p, _ in failed.calls] == [(EventType.JOB_FAILED, {"error": "boom"})]


def test_every_listener_of_a_type_is_called(bus: EventBus) -> None:
    first, second = Recorder(), Recorder()
    bus.on(EventType.QUEUE_PAUSED, first)
    bus.on(EventType.QUEUE_PAUSED, second)

    bus.emit(EventType.QUEUE_PAUSED, {"queue": "emails"})

    assert bus.flush(timeout_s=5)
    assert len(first.calls) == len(second.calls) == 1


def test_registering_twice_calls_twice(bus: EventBus) -> None:
    recorder = Recorder()
    bus.on(EventType.JOB_DEAD, recorder)
    bus.on(EventType.JOB_DEAD, recorder)

    bus.emit(EventType.JOB_DEAD, {})

    assert bus.flush(timeout_s=5)
    assert len(recorder.calls) == 2


def test_each_listener_gets_its_own_copy_of_the_payload(bus: EventBus) -> None:
    seen: list[dict[str, Any]] = []
    lock = threading.Lock()

    def mutate(_type: EventType, payload: dict[str, Any]) -> None:
        payload["mutated"] = True

    def observe(_type: EventType, payload: dict[str, Any]) -> None:
        with lock:
            seen.append(dict(payload))

    bus.on(EventType.JOB_ENQUEUED, mutate)
    bus.on(EventType.JOB_ENQUEUED, observe)
    original = {"job_id": "j"}

    bus.emit(EventType.JOB_ENQUEUED, original)
    original["job_id"] = "changed after emit"

    assert bus.flush(timeout_s=5)
    assert seen == [{"job_id": "j"}]
    assert original == {"job_id": "changed after emit"}


def test_many_emitting_threads_lose_no_event(bus: EventBus) -> None:
    counter = {"n": 0}
    lock = threading.Lock()

    def count(_type: EventType, _payload: dict[str, Any]) -> None:
        with lock:
            counter["n"] += 1

    bus.on(EventType.JOB_ENQUEUED, count)

    def produce() -> None:
        for n in range(500):
            bus.emit(EventType.JOB_ENQUEUED, {"n": n})

    producers = [threading.Thread(target=produce) for _ in range(4)]
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join()

    assert bus.flush(timeout_s=10)
    assert counter["n"] == 2_000


# --- no listener: the enqueue hot path ----------------------------------------------------


def test_emit_without_listeners_starts_no_thread(bus: EventBus) -> None:
    for _ in range(100):
        bus.emit(EventType.JOB_ENQUEUED, {"job_id": "j"})

    assert len(bus._executor._threads) == 0
    assert bus.flush(timeout_s=0)


def test_has_listeners(bus: EventBus) -> None:
    recorder = Recorder()
    assert not bus.has_listeners(EventType.JOB_ENQUEUED)

    bus.on(EventType.JOB_ENQUEUED, recorder)
    assert bus.has_listeners(EventType.JOB_ENQUEUED)
    assert not bus.has_listeners(EventType.JOB_DEAD)

    bus.off(EventType.JOB_ENQUEUED, recorder)
    assert not bus.has_listeners(EventType.JOB_ENQUEUED)


# --- off ----------------------------------------------------------------------------------


def test_off_removes_one_registration(bus: EventBus) -> None:
    recorder = Recorder()
    bus.on(EventType.JOB_RETRYING, recorder)
    bus.on(EventType.JOB_RETRYING, recorder)

    assert bus.off(EventType.JOB_RETRYING, recorder) is True
    bus.emit(EventType.JOB_RETRYING, {})
    assert bus.flush(timeout_s=5)
    assert len(recorder.calls) == 1

    assert bus.off(EventType.JOB_RETRYING, recorder) is True
    assert bus.off(EventType.JOB_RETRYING, recorder) is False
    bus.emit(EventType.JOB_RETRYING, {})
    assert bus.flush(timeout_s=5)
    assert len(recorder.calls) == 1


def test_off_of_an_unknown_callback_is_false(bus: EventBus) -> None:
    assert bus.off(EventType.WORKER_ONLINE, Recorder()) is False


def test_off_removes_a_bound_method_given_again(bus: EventBus) -> None:
    recorder = Recorder()
    calls: list[str] = []

    class Listener:
        def handle(self, _type: EventType, _payload: dict[str, Any]) -> None:
            calls.append("called")

    listener = Listener()
    bus.on(EventType.WORKER_STOPPED, listener.handle)
    bus.on(EventType.WORKER_STOPPED, recorder)

    assert bus.off(EventType.WORKER_STOPPED, listener.handle) is True
    bus.emit(EventType.WORKER_STOPPED, {"worker_id": "w"})
    assert bus.flush(timeout_s=5)
    assert calls == []
    assert len(recorder.calls) == 1


# --- errors in listeners ------------------------------------------------------------------


def test_a_raising_listener_is_logged_and_others_still_run(
    bus: EventBus, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()

    def broken(_type: EventType, _payload: dict[str, Any]) -> None:
        raise RuntimeError("listener exploded")

    bus.on(EventType.JOB_FAILED, broken)
    bus.on(EventType.JOB_FAILED, recorder)

    with caplog.at_level(logging.ERROR, logger="taskito.events"):
        bus.emit(EventType.JOB_FAILED, {"job_id": "j"})
        assert bus.flush(timeout_s=5)

    assert len(recorder.calls) == 1
    records = [r for r in caplog.records if r.name == "taskito.events"]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], RuntimeError)
    assert "job.failed" in records[0].getMessage()


def test_bus_keeps_working_after_a_listener_raised(bus: EventBus) -> None:
    recorder = Recorder()
    attempts = {"n": 0}

    def flaky(_type: EventType, _payload: dict[str, Any]) -> None:
        attempts["n"] += 1
        raise ValueError("nope")

    bus.on(EventType.WORKER_OFFLINE, flaky)
    bus.on(EventType.WORKER_OFFLINE, recorder)
    for _ in range(10):
        bus.emit(EventType.WORKER_OFFLINE, {"worker_id": "w"})

    assert bus.flush(timeout_s=5)
    assert attempts["n"] == 10
    assert len(recorder.calls) == 10


# --- bad input ----------------------------------------------------------------------------


def test_on_rejects_a_string_event_type(bus: EventBus) -> None:
    with pytest.raises(TypeError, match=r"event_type must be a taskito\.EventType"):
        bus.on("job.failed", Recorder())  # type: ignore[arg-type]


def test_on_rejects_a_non_callable(bus: EventBus) -> None:
    with pytest.raises(TypeError, match="callback must be callable"):
        bus.on(EventType.JOB_FAILED, "print")  # type: ignore[arg-type]


def test_emit_rejects_bad_event_type_and_payload(bus: EventBus) -> None:
    with pytest.raises(TypeError, match="event_type"):
        bus.emit("job.failed", {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="payload must be a dict"):
        bus.emit(EventType.JOB_FAILED, [("job_id", "j")])  # type: ignore[arg-type]


def test_off_and_has_listeners_reject_bad_event_type(bus: EventBus) -> None:
    with pytest.raises(TypeError):
        bus.off("job.failed", Recorder())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bus.has_listeners("job.failed")  # type: ignore[arg-type]


# --- flush and shutdown -------------------------------------------------------------------


def test_flush_times_out_while_a_listener_is_busy(bus: EventBus) -> None:
    release = threading.Event()
    entered = threading.Event()

    def slow(_type: EventType, _payload: dict[str, Any]) -> None:
        entered.set()
        release.wait(5)

    bus.on(EventType.JOB_COMPLETED, slow)
    bus.emit(EventType.JOB_COMPLETED, {})
    assert entered.wait(5)

    assert bus.flush(timeout_s=0.05) is False
    release.set()
    assert bus.flush(timeout_s=5) is True


def test_emit_after_shutdown_is_ignored() -> None:
    event_bus = EventBus(max_workers=1)
    recorder = Recorder()
    event_bus.on(EventType.JOB_DEAD, recorder)
    event_bus.shutdown()

    event_bus.emit(EventType.JOB_DEAD, {"job_id": "late"})

    assert event_bus.flush(timeout_s=1)
    assert recorder.calls == []


def test_shutdown_runs_queued_callbacks_and_joins_threads() -> None:
    event_bus = EventBus(max_workers=1)
    recorder = Recorder()
    event_bus.on(EventType.JOB_COMPLETED, recorder)
    for n in range(20):
        event_bus.emit(EventType.JOB_COMPLETED, {"n": n})

    event_bus.shutdown(wait=True)

    assert len(recorder.calls) == 20
    assert event_bus._executor._threads
    assert not any(thread.is_alive() for thread in event_bus._executor._threads)


def test_shutdown_twice_is_safe() -> None:
    event_bus = EventBus()
    event_bus.shutdown()
    event_bus.shutdown(wait=False)


# --- inline listeners ---------------------------------------------------------------------


def test_an_inline_listener_runs_in_the_emitting_thread_before_emit_returns(
    bus: EventBus,
) -> None:
    recorder = Recorder()
    bus.on(EventType.JOB_COMPLETED, recorder, inline=True)
    payload = {"job_id": "j"}

    bus.emit(EventType.JOB_COMPLETED, payload)

    ((event_type, seen, thread_name),) = recorder.calls  # no flush needed
    assert event_type is EventType.JOB_COMPLETED
    assert seen is payload  # the emitter's dict: an inline listener must not keep mutating it
    assert thread_name == threading.current_thread().name
    assert bus.has_listeners(EventType.JOB_COMPLETED)
    assert not bus.has_listeners(EventType.JOB_FAILED)
    assert not bus._executor._threads  # no pool thread was needed


def test_inline_and_pooled_listeners_both_run_and_off_removes_either(bus: EventBus) -> None:
    inline, pooled = Recorder(), Recorder()
    bus.on(EventType.JOB_DEAD, inline, inline=True)
    bus.on(EventType.JOB_DEAD, pooled)
    bus.emit(EventType.JOB_DEAD, {"n": 1})
    assert bus.flush(timeout_s=5)
    assert len(inline.calls) == len(pooled.calls) == 1

    assert bus.off(EventType.JOB_DEAD, inline)
    bus.emit(EventType.JOB_DEAD, {"n": 2})
    assert bus.flush(timeout_s=5)
    assert len(inline.calls) == 1 and len(pooled.calls) == 2
    assert bus.off(EventType.JOB_DEAD, pooled)
    assert not bus.off(EventType.JOB_DEAD, inline)
    assert not bus.has_listeners(EventType.JOB_DEAD)


def test_a_raising_inline_listener_is_logged_and_never_reaches_the_emitter(
    bus: EventBus, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()

    def broken(_type: EventType, _payload: dict[str, Any]) -> None:
        raise RuntimeError("inline exploded")

    bus.on(EventType.JOB_FAILED, broken, inline=True)
    bus.on(EventType.JOB_FAILED, recorder, inline=True)
    with caplog.at_level(logging.ERROR, logger="taskito.events"):
        bus.emit(EventType.JOB_FAILED, {"job_id": "j"})

    assert len(recorder.calls) == 1
    (record,) = [r for r in caplog.records if r.name == "taskito.events"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert "job.failed" in record.getMessage()


def test_inline_must_be_a_bool_and_is_silent_after_shutdown() -> None:
    event_bus = EventBus(max_workers=1)
    recorder = Recorder()
    with pytest.raises(TypeError, match="inline must be a bool"):
        event_bus.on(EventType.JOB_DEAD, recorder, inline=1)  # type: ignore[arg-type]
    event_bus.on(EventType.JOB_DEAD, recorder, inline=True)
    event_bus.shutdown()
    event_bus.emit(EventType.JOB_DEAD, {"job_id": "late"})
    assert recorder.calls == []
