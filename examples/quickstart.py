"""taskito in one file: define a task, enqueue it, run a worker until the result arrives.

Run it with ``python examples/quickstart.py``. Jobs live in an SQLite file (the default
backend) under ``.taskito/`` in the current directory.
"""

from __future__ import annotations

import threading

from taskito import Queue

queue = Queue(db_path=".taskito/quickstart.db", workers=2)


@queue.task()
def add(a: int, b: int) -> int:
    return a + b


def main() -> None:
    job = add.delay(2, 3)
    print(f"enqueued job {job.id}")

    # Usually the worker is its own process (`taskito worker --app module:queue`); here it runs
    # in a thread of this process so the example is self-contained.
    worker = threading.Thread(target=queue.run_worker, name="quickstart-worker")
    worker.start()
    try:
        print(f"add(2, 3) = {job.result(timeout=10)}")
    finally:
        queue.request_shutdown()
        worker.join()
        queue.close()


if __name__ == "__main__":
    main()
