"""Drain benchmark: how fast one worker (thread pool) empties a SQLite queue of no-op jobs.

Enqueues ``--jobs`` jobs first (not timed), then starts ``queue.run_worker()`` and times it
until every job is complete. Prints jobs per second. Target: at least 5,000 jobs/s.

    .venv/bin/python benchmarks/drain.py --jobs 20000 --threads 16
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time

from taskito import Queue

ENQUEUE_BATCH = 1000
# stats() counts every row; polling it often would slow the worker it measures.
STATS_POLL_S = 0.05


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs to drain (20000)")
    parser.add_argument("--threads", type=int, default=16, help="worker threads (16)")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions, each on a new db (3)")
    return parser.parse_args()


def drain_once(db_path: str, jobs: int, threads: int) -> float:
    """Seconds one worker takes to complete ``jobs`` queued no-op jobs."""
    queue = Queue(db_path=db_path, workers=threads)
    try:

        @queue.task(name="noop")
        def noop() -> None:
            return None

        for start in range(0, jobs, ENQUEUE_BATCH):
            queue.enqueue_many("noop", [()] * min(ENQUEUE_BATCH, jobs - start))
        worker = threading.Thread(target=queue.run_worker, name="bench-worker")
        started = time.perf_counter()
        worker.start()
        while queue.stats()["completed"] < jobs:
            time.sleep(STATS_POLL_S)
        elapsed = time.perf_counter() - started
        while worker.is_alive():
            queue.request_shutdown()
            worker.join(0.05)
        return elapsed
    finally:
        queue.close()


def main() -> None:
    args = parse_args()
    if args.jobs < 1 or args.threads < 1 or args.rounds < 1:
        raise SystemExit("--jobs, --threads and --rounds must be positive")
    rates = []
    for round_number in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="taskito-drain-") as tmp:
            elapsed = drain_once(os.path.join(tmp, "drain.db"), args.jobs, args.threads)
        rate = args.jobs / elapsed
        rates.append(rate)
        print(f"round {round_number}: {args.jobs} jobs in {elapsed:.2f}s = {rate:,.0f} jobs/s")
    print(
        f"drain ({args.threads} threads, SQLite file): median {statistics.median(rates):,.0f} "
        f"jobs/s, best {max(rates):,.0f} jobs/s (target >= 5,000)"
    )


if __name__ == "__main__":
    main()
