"""Drain benchmark: how fast one worker process empties a queue of no-op jobs, and how much
CPU it spends per job.

Each round starts a real ``taskito worker`` (``--pool thread`` with ``--threads`` threads, or
``--pool prefork`` with that many children) on a fresh database, runs one job through it so it
is up, pauses the queue, enqueues ``--jobs`` jobs, resumes the queue and times until every job
is complete. It prints jobs per second and the worker's CPU time per job (the worker process
and its children, from ``/proc``: a figure other processes on the machine disturb less than
the rate). On SQLite it also prints, measured in the same run, what plain sqlite3 does when it
claims and completes the same rows in batches of ``--threads`` and of 32
(``claim_ceiling.py``): the ceiling under the figure.

Task metrics (one row per finished attempt) are on, as by default; ``--metrics off`` drains
with ``Queue(metrics_retention=0)``, and ``--metrics compare`` alternates rounds with and
without them and prints what they cost.

    python benchmarks/drain.py --jobs 20000 --threads 2
    python benchmarks/drain.py --pool prefork --threads 2
    python benchmarks/drain.py --backend redis [--db-url redis://...]
    python benchmarks/drain.py --metrics compare --rounds 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass

from bench_backend import add_backend_arguments, describe, fresh_database
from bench_worker import (
    cpu_s,
    family,
    load_average,
    start_worker,
    stop_worker,
    wait_completed,
    warm_up,
    write_app,
)
from claim_ceiling import measure as raw_claim_rate

from taskito import Queue
from taskito.job import JobStatus
from taskito.storage.base import JobFilter

ENQUEUE_BATCH = 1000
TARGET_PER_S = {"sqlite": 5_000, "postgres": 3_000, "redis": 5_000}
RAW_BATCHES = (32,)


@dataclass
class Round:
    jobs_per_s: float
    cpu_us_per_job: float


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs to drain (20000)")
    parser.add_argument(
        "--threads", type=int, default=16, help="worker threads, or prefork children (16)"
    )
    parser.add_argument("--pool", choices=("thread", "prefork"), default="thread")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions, each on a new db (3)")
    parser.add_argument(
        "--metrics",
        choices=("on", "off", "compare"),
        default="on",
        help="record task metrics (on), not (off), or alternate rounds of each (compare)",
    )
    add_backend_arguments(parser)
    return parser.parse_args()


def drain_once(args: argparse.Namespace, metrics: bool) -> Round:
    """One worker process drains ``args.jobs`` queued no-op jobs on a fresh database."""
    with (
        tempfile.TemporaryDirectory(prefix="taskito-drain-") as app_dir,
        fresh_database(args, app_dir, "drain.db") as queue_kwargs,
    ):
        if not metrics:
            queue_kwargs = {**queue_kwargs, "metrics_retention": 0}
        write_app(app_dir, queue_kwargs, args.threads)
        queue = Queue(**queue_kwargs)
        worker = start_worker(app_dir, args.pool, args.threads)
        try:
            warm_up(queue, [worker])
            queue.pause("default")
            for start in range(0, args.jobs, ENQUEUE_BATCH):
                queue.enqueue_many("noop", [()] * min(ENQUEUE_BATCH, args.jobs - start))
            pids = family(worker.pid)
            cpu_before = cpu_s(pids)
            resumed_at = time.time()
            queue.resume("default")
            wait_completed(queue, args.jobs + 1, [worker])
            cpu = cpu_s(pids) - cpu_before
            done = queue._storage.list_jobs(JobFilter(status=JobStatus.COMPLETE), args.jobs + 1, 0)
            done_at = max(job.completed_at or 0 for job in done)
            recorded = queue.metrics(since=3600).get("noop", {}).get("count", 0)
        finally:
            stop_worker(worker)
            queue.close()
    if recorded != (args.jobs + 1 if metrics else 0):
        raise SystemExit(f"{recorded} metric rows for {args.jobs + 1} jobs (metrics {metrics})")
    elapsed = done_at / 1000 - resumed_at
    return Round(args.jobs / elapsed, cpu / args.jobs * 1e6)


def print_raw_ceiling(args: argparse.Namespace) -> None:
    """Plain sqlite3 claiming and completing the same number of rows (claim_ceiling.py)."""
    if args.backend != "sqlite":
        return
    with tempfile.TemporaryDirectory(prefix="taskito-ceiling-") as directory:
        for batch in sorted({args.threads, *RAW_BATCHES}):
            apart = raw_claim_rate(directory, args.jobs, batch, together=False)
            together = raw_claim_rate(directory, args.jobs, batch, together=True)
            print(
                f"raw sqlite3, batches of {batch}: claim and finish apart {apart:,.0f} rows/s,"
                f" finish + next claim in one transaction {together:,.0f} rows/s"
            )


def main() -> None:
    args = parse_args()
    if args.jobs < 1 or args.threads < 1 or args.rounds < 1:
        raise SystemExit("--jobs, --threads and --rounds must be positive")
    backend = describe(args)
    unit = "children" if args.pool == "prefork" else "threads"
    print(f"taskito drain benchmark: {backend}, {args.pool} pool, {args.threads} {unit}")
    print(f"machine: {os.cpu_count()} CPUs, load average {load_average()}")
    print_raw_ceiling(args)
    modes = {"on": [True], "off": [False], "compare": [True, False]}[args.metrics]
    rounds: dict[bool, list[Round]] = {mode: [] for mode in modes}
    for round_number in range(1, args.rounds + 1):
        for metrics in modes:
            measured = drain_once(args, metrics)
            rounds[metrics].append(measured)
            print(
                f"round {round_number} (metrics {'on' if metrics else 'off'}): {args.jobs} jobs"
                f" at {measured.jobs_per_s:,.0f} jobs/s, {measured.cpu_us_per_job:.1f} us of"
                " worker CPU per job"
            )
    print_raw_ceiling(args)
    for metrics, measured in rounds.items():
        rates = [one.jobs_per_s for one in measured]
        cpu = statistics.median(one.cpu_us_per_job for one in measured)
        print(
            f"drain ({args.pool}, {args.threads} {unit}, {backend}, metrics"
            f" {'on' if metrics else 'off'}): median {statistics.median(rates):,.0f} jobs/s,"
            f" best {max(rates):,.0f} jobs/s, median {cpu:.1f} us of worker CPU per job"
            f" (target >= {TARGET_PER_S[args.backend]:,} jobs/s)"
        )
    print(f"load average after: {load_average()}")
    if args.metrics == "compare":
        on, off = (statistics.median(one.jobs_per_s for one in rounds[mode]) for mode in modes)
        cpu_on, cpu_off = (
            statistics.median(one.cpu_us_per_job for one in rounds[mode]) for mode in modes
        )
        print(
            f"task metrics cost {100 * (off - on) / off:.1f}% of the median drain rate and"
            f" {100 * (cpu_on - cpu_off) / cpu_off:.1f}% more CPU per job"
            f" ({cpu_off:.1f} -> {cpu_on:.1f} us)"
        )


if __name__ == "__main__":
    main()
