"""A worker process for the recovery and signal tests, run as
``python worker_process.py STORAGE_JSON LOG OPTIONS_JSON``: it owns its main thread, so the
worker installs its signal handlers. STORAGE_JSON holds the keyword arguments of
``taskito.storage.open_storage`` (``QueueTarget.storage_kwargs()``), so any backend works.
The ``record`` task appends ``start``/``end`` lines to LOG."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable

from taskito.events import EventBus
from taskito.registry import ExecutionEnv, Hooks, TaskSpec
from taskito.serializers import CloudpickleSerializer
from taskito.storage import open_storage
from taskito.worker import Worker, WorkerSettings


def append_line(path: str, line: str) -> None:
    # One small O_APPEND write per line: lines from many threads and processes never mix.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def make_record_task(log_path: str) -> Callable[[float], int]:
    from taskito.context import current_job

    def record(sleep_s: float) -> int:
        append_line(log_path, f"start {current_job.id} {os.getpid()}")
        time.sleep(sleep_s)
        append_line(log_path, f"end {current_job.id} {os.getpid()}")
        return os.getpid()

    return record


def main() -> None:
    storage_kwargs, log_path, options = (
        json.loads(sys.argv[1]),
        sys.argv[2],
        json.loads(sys.argv[3]),
    )
    storage = open_storage(**storage_kwargs)
    bus = EventBus()
    env = ExecutionEnv(
        storage=storage,
        serializer=CloudpickleSerializer(),
        tasks={"record": TaskSpec(name="record", fn=make_record_task(log_path))},
        middleware=[],
        hooks=Hooks(),
    )
    worker = Worker(env, bus, WorkerSettings(**options))
    try:
        worker.run()
    finally:
        bus.shutdown()
        storage.close()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
