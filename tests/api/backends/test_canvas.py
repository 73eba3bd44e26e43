"""The canvas end to end: chain, group, chord, chunks and starmap run by a real worker (the
thread pool, in a background thread) on every backend, with the tasks themselves recording
what ran, when, and how many ran at once."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from taskito import (
    MaxRetriesExceededError,
    Queue,
    TaskWrapper,
    chain,
    chord,
    chunks,
    current_job,
    group,
    starmap,
)
from tests.backends import BACKEND_NAMES, queue_target
from tests.helpers import wait_until

#: Seconds any one wait in these tests may take before the test fails.
WAIT_S = 20.0
#: Worker threads: more than any group's ``max_concurrency``, so waves are the only limit.
WORKER_THREADS = 4


class Tracker:
    """What the tasks did, written from worker threads: an ordered log of starts and ends,
    how many ran at once, and attempts per job id."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[tuple[str, str, Any]] = []  # (event, task, value)
        self.running = 0
        self.peak = 0
        self.attempts: Counter[str] = Counter()

    @contextmanager
    def run(self, task: str, value: Any) -> Iterator[None]:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.log.append(("start", task, value))
        try:
            yield
        finally:
            with self.lock:
                self.running -= 1
                self.log.append(("end", task, value))

    def attempt(self) -> int:
        """Count an attempt of the current job; return its number (1 for the first)."""
        with self.lock:
            self.attempts[current_job.id] += 1
            return self.attempts[current_job.id]

    def events(self, event: str, task: str) -> list[Any]:
        with self.lock:
            return [value for kind, name, value in self.log if (kind, name) == (event, task)]

    def position(self, event: str, task: str, value: Any) -> int:
        with self.lock:
            return self.log.index((event, task, value))


@pytest.fixture(params=BACKEND_NAMES)
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Queue]:
    target = queue_target(request.param, tmp_path)
    try:
        opened = Queue(**target.kwargs, workers=WORKER_THREADS)
        try:
            yield opened
        finally:
            opened.close()
    finally:
        target.cleanup()


@pytest.fixture
def tracker() -> Tracker:
    return Tracker()


@pytest.fixture
def tasks(queue: Queue, tracker: Tracker) -> dict[str, TaskWrapper]:
    @queue.task(name="add")
    def add(a: int, b: int = 0) -> int:
        with tracker.run("add", (a, b)):
            return a + b

    @queue.task(name="mul", queue="other")
    def mul(a: int, b: int) -> int:
        with tracker.run("mul", (a, b)):
            return a * b

    @queue.task(name="total")
    def total(values: list[int], bonus: int = 0) -> int:
        with tracker.run("total", (tuple(values), bonus)):
            return sum(values) + bonus

    @queue.task(name="flaky_square", max_retries=3, retry_backoff=0.01)
    def flaky_square(x: int) -> int:
        """Raises on its first attempt, succeeds on the second."""
        with tracker.run("flaky_square", x):
            if tracker.attempt() == 1:
                raise RuntimeError(f"first attempt of {x} fails")
            return x * x

    @queue.task(name="always_fails", max_retries=1, retry_backoff=0.01)
    def always_fails() -> None:
        with tracker.run("always_fails", None):
            tracker.attempt()
            raise RuntimeError("this member always fails")

    @queue.task(name="wave_member", max_retries=0)
    def wave_member(index: int, together: int) -> int:
        """Waits (bounded) until ``together`` members run at once, then holds a moment so that
        a member that should not run yet would be seen overlapping."""
        with tracker.run("wave_member", index):
            deadline_reached = not _wait_for(lambda: tracker.running >= together, 5.0)
            time.sleep(0.15)  # work time, not synchronisation
            if deadline_reached:
                raise AssertionError(f"member {index} never saw {together} members running")
            return index

    return {
        "add": add,
        "mul": mul,
        "total": total,
        "flaky_square": flaky_square,
        "always_fails": always_fails,
        "wave_member": wave_member,
    }


def _wait_for(predicate: Any, timeout_s: float) -> bool:
    """``wait_until`` for task code: True once ``predicate()`` holds, False at the deadline."""
    try:
        wait_until(predicate, timeout_s)
    except AssertionError:
        return False
    return True


@pytest.fixture
def worker(queue: Queue, tasks: dict[str, TaskWrapper]) -> Iterator[None]:
    """``queue.run_worker()`` on a background thread (every queue), stopped and joined after."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            queue.run_worker()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="canvas-test-worker")
    thread.start()
    try:
        wait_until(lambda: queue._running_workers or not thread.is_alive(), WAIT_S)
        yield
    finally:
        queue.request_shutdown()
        thread.join(WAIT_S)
    assert not thread.is_alive(), "the worker did not stop"
    if errors:
        raise errors[0]


pytestmark = pytest.mark.usefixtures("worker")


# --- chain ------------------------------------------------------------------------------------


def test_chain_passes_each_result_on_and_si_ignores_it(
    tasks: dict[str, TaskWrapper], tracker: Tracker
) -> None:
    add, mul = tasks["add"], tasks["mul"]
    last = chain(add.s(1, 2), add.s(b=10), mul.si(3, 4), add.s(1)).apply()
    assert last.result(timeout=WAIT_S) == 13
    # Each step started after the previous one ended, with the previous result prepended
    # (3, then 13), except the immutable one.
    assert tracker.events("start", "add") == [(1, 2), (3, 10), (12, 1)]
    assert tracker.events("start", "mul") == [(3, 4)]
    assert tracker.position("end", "add", (3, 10)) < tracker.position("start", "mul", (3, 4))
    assert tracker.position("end", "mul", (3, 4)) < tracker.position("start", "add", (12, 1))


def test_chain_waits_through_a_retrying_step(
    tasks: dict[str, TaskWrapper], tracker: Tracker
) -> None:
    last = chain(tasks["flaky_square"].s(3), tasks["add"].s(1)).apply()
    assert last.result(timeout=WAIT_S) == 10
    assert sorted(tracker.attempts.values()) == [2]


def test_chain_apply_async(tasks: dict[str, TaskWrapper], tracker: Tracker) -> None:
    async def main() -> Any:
        last = await chain(tasks["add"].s(2, 2), tasks["mul"].s(10)).apply_async()
        return await last.aresult(timeout=WAIT_S)

    assert asyncio.run(main()) == 40
    assert tracker.events("start", "mul") == [(4, 10)]


# --- group ------------------------------------------------------------------------------------


def test_group_runs_every_member(tasks: dict[str, TaskWrapper]) -> None:
    jobs = group(*(tasks["mul"].s(i, i) for i in range(5))).apply()
    assert [job.result(timeout=WAIT_S) for job in jobs] == [0, 1, 4, 9, 16]


@pytest.mark.parametrize("width", [1, 2])
def test_group_max_concurrency_runs_in_waves(
    tasks: dict[str, TaskWrapper], tracker: Tracker, width: int
) -> None:
    members = 5
    waves = [list(range(i, min(i + width, members))) for i in range(0, members, width)]
    member = tasks["wave_member"]
    signatures = [member.s(i, len(wave)) for wave in waves for i in wave]
    jobs = group(*signatures, max_concurrency=width).apply()
    assert [job.result(timeout=WAIT_S) for job in jobs] == list(range(members))
    # Never more than `width` at once (each member waited until its wave was all running).
    assert tracker.peak == width
    for earlier, later in itertools.pairwise(waves):
        last_end = max(tracker.position("end", "wave_member", i) for i in earlier)
        first_start = min(tracker.position("start", "wave_member", i) for i in later)
        assert last_end < first_start, f"wave {later} started before wave {earlier} ended"


def test_group_apply_async_in_waves(tasks: dict[str, TaskWrapper], tracker: Tracker) -> None:
    async def main() -> list[Any]:
        jobs = await group(
            *(tasks["wave_member"].s(i, 2) for i in range(4)), max_concurrency=2
        ).apply_async()
        return [await job.aresult(timeout=WAIT_S) for job in jobs]

    assert asyncio.run(main()) == [0, 1, 2, 3]
    assert tracker.peak == 2
    assert tracker.position("end", "wave_member", 1) < tracker.position("start", "wave_member", 2)
    assert tracker.position("end", "wave_member", 0) < tracker.position("start", "wave_member", 3)


# --- chord ------------------------------------------------------------------------------------


def test_chord_callback_fires_once_after_every_member_even_through_retries(
    queue: Queue, tasks: dict[str, TaskWrapper], tracker: Tracker
) -> None:
    members = [1, 2, 3, 4]
    header = group(*(tasks["flaky_square"].s(x) for x in members))
    callback = chord(header, tasks["total"].s(bonus=100)).apply()
    assert callback.result(timeout=WAIT_S) == 1 + 4 + 9 + 16 + 100
    # Every member failed once and succeeded on its retry, before the callback started.
    assert sorted(tracker.attempts.values()) == [2] * len(members)
    callback_start = tracker.position("start", "total", ((1, 4, 9, 16), 100))
    for x in members:
        assert tracker.position("end", "flaky_square", x) < callback_start
    assert tracker.events("start", "total") == [((1, 4, 9, 16), 100)]
    for job in queue.list_jobs(task_name="flaky_square"):
        assert (job.status, job.to_dict()["retry_count"]) == ("complete", 1)
    assert len(queue.list_jobs(task_name="total")) == 1


def test_chord_with_a_dead_member_raises_and_never_enqueues_the_callback(
    queue: Queue, tasks: dict[str, TaskWrapper], tracker: Tracker
) -> None:
    header = group(tasks["add"].s(1, 1), tasks["always_fails"].s())
    with pytest.raises(MaxRetriesExceededError, match="this member always fails"):
        chord(header, tasks["total"].s()).apply()
    assert sorted(tracker.attempts.values()) == [2]  # the first attempt and its one retry
    assert queue.list_jobs(task_name="total") == []
    assert tracker.events("start", "total") == []


def test_chord_immutable_callback_gets_only_its_own_args(
    tasks: dict[str, TaskWrapper], tracker: Tracker
) -> None:
    header = group(tasks["add"].s(1, 1), tasks["add"].s(2, 2))
    callback = chord(header, tasks["mul"].si(6, 7)).apply()
    assert callback.result(timeout=WAIT_S) == 42
    assert tracker.events("start", "mul") == [(6, 7)]


def test_chord_with_waves_and_apply_async(tasks: dict[str, TaskWrapper], tracker: Tracker) -> None:
    async def main() -> Any:
        header = group(*(tasks["flaky_square"].s(x) for x in (5, 6, 7)), max_concurrency=2)
        callback = await chord(header, tasks["total"].s()).apply_async()
        return await callback.aresult(timeout=WAIT_S)

    assert asyncio.run(main()) == 25 + 36 + 49
    assert tracker.events("start", "total") == [((25, 36, 49), 0)]
    assert sorted(tracker.attempts.values()) == [2, 2, 2]


# --- chunks and starmap -----------------------------------------------------------------------


def test_chunks_sends_each_slice_to_one_job(
    tasks: dict[str, TaskWrapper], tracker: Tracker
) -> None:
    jobs = chunks(tasks["total"], range(10), 3).apply()
    assert [job.result(timeout=WAIT_S) for job in jobs] == [3, 12, 21, 9]
    assert sorted(tracker.events("start", "total")) == [
        ((0, 1, 2), 0),
        ((3, 4, 5), 0),
        ((6, 7, 8), 0),
        ((9,), 0),
    ]


def test_starmap_unpacks_each_argument_tuple(tasks: dict[str, TaskWrapper]) -> None:
    jobs = starmap(tasks["mul"], [(1, 2), (3, 4), [5, 6]]).apply()
    assert [job.result(timeout=WAIT_S) for job in jobs] == [2, 12, 30]


def test_chunks_into_a_chord(tasks: dict[str, TaskWrapper]) -> None:
    callback = chord(chunks(tasks["total"], range(1, 7), 2), tasks["total"].s()).apply()
    assert callback.result(timeout=WAIT_S) == 21
