"""Drain benchmark: how fast one worker (thread pool) empties a queue of no-op jobs.

Enqueues ``--jobs`` jobs first (not timed), then starts ``queue.run_worker()`` and times it
until every job is complete. Prints jobs per second. Targets: at least 5,000 jobs/s on SQLite
and Redis, 3,000 on Postgres (``--backend``; each round uses a fresh database, dropped after).

Task metrics (one row per finished attempt) are on, as by default; ``--metrics off`` drains
with ``Queue(metrics_retention=0)``, and ``--metrics compare`` alternates rounds with and
without them and prints what they cost.

    .venv/bin/python benchmarks/drain.py --jobs 20000 --threads 16
    .venv/bin/python benchmarks/drain.py --backend redis [--db-url redis://...]
    .venv/bin/python benchmarks/drain.py --metrics compare --rounds 10
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
    parser.add_argument(
        "--metrics",
        choices=("on", "off", "compare"),
        default="on",
        help="record task metrics (on), not (off), or alternate rounds of each (compare)",
    )
    add_backend_arguments(parser)
    return parser.parse_args()


def drain_once(
    queue_kwargs: dict[str, Any], jobs: int, threads: int, metrics: bool
) -> tuple[float, float]:
    """Seconds one worker takes to complete ``jobs`` queued no-op jobs, and the CPU seconds
    this process spent meanwhile (a figure other processes on the machine disturb less). Task
    metrics on or off; the rows written are checked after the timing."""
    retention = {} if metrics else {"metrics_retention": 0}
    queue = Queue(**queue_kwargs, **retention, workers=threads)
    try:

        @queue.task(name="noop")
        def noop() -> None:
            return None

        for start in range(0, jobs, ENQUEUE_BATCH):
            queue.enqueue_many("noop", [()] * min(ENQUEUE_BATCH, jobs - start))
        worker = threading.Thread(target=queue.run_worker, name="bench-worker")
        started, cpu_started = time.perf_counter(), time.process_time()
        worker.start()
        while queue.stats()["completed"] < jobs:
            time.sleep(STATS_POLL_S)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        while worker.is_alive():
            queue.request_shutdown()
            worker.join(0.05)
        recorded = queue.metrics(since=3600).get("noop", {}).get("count", 0)
        if recorded != (jobs if metrics else 0):
            raise SystemExit(f"{recorded} metric rows for {jobs} jobs (metrics {metrics})")
        return elapsed, cpu
    finally:
        queue.close()


def main() -> None:
    args = parse_args()
    if args.jobs < 1 or args.threads < 1 or args.rounds < 1:
        raise SystemExit("--jobs, --threads and --rounds must be positive")
    backend = describe(args)
    print(f"taskito drain benchmark: {backend}")
    modes = {"on": [True], "off": [False], "compare": [True, False]}[args.metrics]
    rates: dict[bool, list[float]] = {mode: [] for mode in modes}
    cpu_per_job: dict[bool, list[float]] = {mode: [] for mode in modes}
    for round_number in range(1, args.rounds + 1):
        for metrics in modes:
            with (
                tempfile.TemporaryDirectory(prefix="taskito-drain-") as tmp,
                fresh_database(args, tmp, "drain.db") as queue_kwargs,
            ):
                elapsed, cpu = drain_once(queue_kwargs, args.jobs, args.threads, metrics)
            rate = args.jobs / elapsed
            rates[metrics].append(rate)
            cpu_per_job[metrics].append(cpu / args.jobs * 1e6)
            print(
                f"round {round_number} (metrics {'on' if metrics else 'off'}): {args.jobs} jobs"
                f" in {elapsed:.2f}s = {rate:,.0f} jobs/s, {cpu / args.jobs * 1e6:.1f} us CPU/job"
            )
    for metrics, measured in rates.items():
        print(
            f"drain ({args.threads} threads, {backend}, metrics {'on' if metrics else 'off'}):"
            f" median {statistics.median(measured):,.0f} jobs/s, best {max(measured):,.0f}"
            f" jobs/s (target >= {TARGET_PER_S[args.backend]:,})"
        )
    if args.metrics == "compare":
        on, off = statistics.median(rates[True]), statistics.median(rates[False])
        cpu_on, cpu_off = (statistics.median(cpu_per_job[mode]) for mode in (True, False))
        print(
            f"task metrics cost {100 * (off - on) / off:.1f}% of the median drain rate and"
            f" {100 * (cpu_on - cpu_off) / cpu_off:.1f}% more CPU per job"
            f" ({cpu_off:.1f} -> {cpu_on:.1f} us)"
        )


if __name__ == "__main__":
    main()
