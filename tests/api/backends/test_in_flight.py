"""``@queue.task(max_in_flight_per_task=N)``: a task's share of one worker's slots, on every
backend: its jobs past the share go back to pending without spending a retry, the worker's
other slots keep serving other tasks, and every job runs in the end."""

from __future__ import annotations

import threading

import pytest

from taskito import Queue
from tests.api.backends.support import Backend, status_of, worker_thread
from tests.helpers import wait_until


def test_a_task_never_takes_more_than_its_share_of_a_worker(backend: Backend) -> None:
    queue = backend.queue(workers=4)
    release = threading.Event()
    lock = threading.Lock()
    running = [0]
    most = [0]

    @queue.task(max_in_flight_per_task=1)
    def exclusive(n: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            release.wait(30)
            return n
        finally:
            with lock:
                running[0] -= 1

    @queue.task()
    def other(n: int) -> int:
        return n

    capped = [exclusive.delay(n) for n in range(3)]
    with worker_thread(queue):
        wait_until(lambda: running[0] == 1, timeout_s=20, message="one exclusive job running")
        # Three slots are free, and the other task's jobs take them at once.
        others = [other.delay(n) for n in range(3)]
        assert [job.result(timeout=20) for job in others] == [0, 1, 2]
        assert running[0] == 1
        release.set()
        assert [job.result(timeout=30) for job in capped] == [0, 1, 2]
    assert most[0] == 1
    # Held back is not failed: no retry was spent on the jobs that waited their turn.
    assert {status_of(queue, job.id) for job in capped} == {"complete"}
    assert [queue.get_job(job.id).to_dict()["retry_count"] for job in capped] == [0, 0, 0]


@pytest.mark.parametrize(
    ("bad", "error"),
    [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError), ("2", TypeError)],
)
def test_a_bad_share_is_refused_when_the_task_is_defined(
    queue: Queue, bad: object, error: type[Exception]
) -> None:
    with pytest.raises(error, match="max_in_flight_per_task"):

        @queue.task(max_in_flight_per_task=bad)  # type: ignore[arg-type]
        def never() -> None: ...

    assert queue._task_registry == {}
