"""Enqueue throughput on one backend (SQLite by default): one ``delay()`` per job, then ``map()``.

Each measurement uses a fresh database (a file in a temporary directory, or a new Postgres
schema / Redis key prefix, dropped afterwards) and checks that every job it timed is stored
as pending. Nothing runs the jobs: this measures the producer side.

    python benchmarks/enqueue.py --jobs 20000
    python benchmarks/enqueue.py --jobs 20000 --backend postgres [--db-url postgresql://...]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench_backend import add_backend_arguments, describe, fresh_database

from taskito import Queue, TaskWrapper

DELAY_TARGET_PER_S = 15_000
MAP_TARGET_PER_S = 100_000
WARMUP_JOBS = 200


@dataclass(frozen=True)
class Measurement:
    label: str
    jobs: int
    elapsed_s: float
    target_per_s: int

    @property
    def per_s(self) -> float:
        return self.jobs / self.elapsed_s

    @property
    def met(self) -> bool:
        return self.per_s >= self.target_per_s

    def __str__(self) -> str:
        verdict = "ok" if self.met else "BELOW TARGET"
        return (
            f"{self.label:<8} {self.jobs:>9,} jobs in {self.elapsed_s:7.3f} s = "
            f"{self.per_s:>10,.0f} jobs/s   (target >= {self.target_per_s:,}: {verdict})"
        )


def measure(
    args: argparse.Namespace,
    label: str,
    target_per_s: int,
    enqueue: Callable[[TaskWrapper, int], None],
) -> Measurement:
    """Time ``enqueue(task, args.jobs)`` against a fresh queue and check every job was stored."""
    jobs = args.jobs
    with (
        tempfile.TemporaryDirectory(prefix="taskito-bench-") as directory,
        fresh_database(args, directory) as queue_kwargs,
    ):
        queue = Queue(**queue_kwargs, durable_enqueue=args.sync == "FULL")
        try:
            task = queue.task(name="bench.noop")(noop)
            enqueue(task, WARMUP_JOBS)
            started = time.perf_counter()
            enqueue(task, jobs)
            elapsed_s = time.perf_counter() - started
            pending = queue.stats()["pending"]
            if pending != WARMUP_JOBS + jobs:
                raise SystemExit(
                    f"{label}: expected {WARMUP_JOBS + jobs} pending jobs, found {pending}"
                )
        finally:
            queue.close()
    return Measurement(label, jobs, elapsed_s, target_per_s)


def noop(n: int) -> int:
    return n


def enqueue_with_delay(task: TaskWrapper, jobs: int) -> None:
    delay = task.delay
    for n in range(jobs):
        delay(n)


def enqueue_with_map(task: TaskWrapper, jobs: int, batch_size: int) -> None:
    for start in range(0, jobs, batch_size):
        task.map([(n,) for n in range(start, min(start + batch_size, jobs))])


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {number}")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=positive_int, default=20_000, help="jobs per measurement")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="jobs per map() call (default: all of them in one call)",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a figure is below its target"
    )
    parser.add_argument(
        "--sync",
        choices=("FULL", "NORMAL"),
        default="FULL",
        help="SQLite: enqueues commit with synchronous=FULL (the default, durable_enqueue=True)"
        " or NORMAL (durable_enqueue=False)",
    )
    add_backend_arguments(parser)
    args = parser.parse_args(argv)
    batch_size = args.batch_size or args.jobs
    print(
        f"taskito enqueue benchmark: {args.jobs:,} jobs per measurement, "
        f"{describe(args, 'SQLite in a temp dir')}"
        f"{f', synchronous={args.sync} for enqueues' if args.backend == 'sqlite' else ''}; "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    results = [
        measure(args, "delay()", DELAY_TARGET_PER_S, enqueue_with_delay),
        measure(
            args,
            "map()",
            MAP_TARGET_PER_S,
            lambda task, jobs: enqueue_with_map(task, jobs, batch_size),
        ),
    ]
    for result in results:
        print(result)
    return 1 if args.check and not all(r.met for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
