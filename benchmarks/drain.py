"""Drain benchmark: how fast one worker (thread pool) empties a queue of no-op jobs.

Enqueues ``--jobs`` jobs first (not timed), then starts ``queue.run_worker()`` and times it
until every job is complete. Prints jobs per second. Targets: at least 5,000 jobs/s on SQLite
and Redis, 3,000 on Postgres (``--backend``; each round uses a fresh database, dropped after).

    .venv/bin/python benchmarks/drain.py --jobs 20000 --threads 16
    .venv/bin/python benchmarks/drain.py --backend redis [--db-url redis://...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from typing import Any

from bench_backend import add_backend_arguments, describe, fresh_database

from taskito import Queue

ENQUEUE_BATCH = 1000
# stats() counts every row; polling it often would slow the worker it measures.
STATS_POLL_S = 0.05
TARGET_PER_S = {"sqlite": 5_000, "postgres": 3_000, "redis": 5_000}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs to drain (20000)")
    parser.add_argument("--threads", type=int, default=16, help="worker threads (16)")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions, each on a new db (3)")
    add_backend_arguments(parser)
    return parser.parse_args()


def drain_once(queue_kwargs: dict[str, Any], jobs: int, threads: int) -> float:
    """Seconds one worker takes to complete ``jobs`` queued no-op jobs."""
    queue = Queue(**queue_kwargs, workers=threads)
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
    backend = describe(args)
    print(f"taskito drain benchmark: {backend}")
    rates = []
    for round_number in range(1, args.rounds + 1):
        with (
            tempfile.TemporaryDirectory(prefix="taskito-drain-") as tmp,
            fresh_database(args, tmp, "drain.db") as queue_kwargs,
        ):
            elapsed = drain_once(queue_kwargs, args.jobs, args.threads)
        rate = args.jobs / elapsed
        rates.append(rate)
        print(f"round {round_number}: {args.jobs} jobs in {elapsed:.2f}s = {rate:,.0f} jobs/s")
    print(
        f"drain ({args.threads} threads, {backend}): median {statistics.median(rates):,.0f} "
        f"jobs/s, best {max(rates):,.0f} jobs/s (target >= {TARGET_PER_S[args.backend]:,})"
    )


if __name__ == "__main__":
    main()
