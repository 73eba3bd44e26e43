"""Tasks the dashboard tests register on their Queue and run with a real worker."""

from __future__ import annotations

import time

from taskito import Queue, current_job


def register(queue: Queue) -> dict[str, object]:
    """``add``, ``boom`` (fails at once, no retries), ``chatty`` (logs and reports
    progress) and ``wait_for_cancel`` (runs until cancelled, checking every 10 ms)."""

    @queue.task(name="add")
    def add(a: int, b: int) -> int:
        return a + b

    @queue.task(name="boom", max_retries=0)
    def boom(message: str) -> None:
        raise ValueError(message)

    @queue.task(name="other_boom", max_retries=0)
    def other_boom() -> None:
        raise KeyError("missing")

    @queue.task(name="chatty")
    def chatty() -> str:
        current_job.log("started", extra={"step": 1})
        current_job.update_progress(50)
        current_job.log("warned", level="warning")
        return "done"

    @queue.task(name="wait_for_cancel", timeout=60)
    def wait_for_cancel() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            current_job.check_cancelled()
            time.sleep(0.01)

    return {
        "add": add,
        "boom": boom,
        "other_boom": other_boom,
        "chatty": chatty,
        "wait_for_cancel": wait_for_cancel,
    }
