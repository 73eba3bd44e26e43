"""Latency benchmark: one job at a time, enqueue -> ``result()``, with the worker in ANOTHER
process (``taskito worker`` on the same database: a SQLite file, or with ``--backend`` a fresh
Postgres schema / Redis key prefix, dropped after). Prints p50/p95/p99.
Target: p50 <= 5 ms.

    .venv/bin/python benchmarks/latency.py --jobs 500
    .venv/bin/python benchmarks/latency.py --jobs 500 --backend postgres [--db-url ...]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Any

from bench_backend import add_backend_arguments, describe, fresh_database

from taskito import Queue, TaskWrapper

APP_MODULE = textwrap.dedent(
    """
    from taskito import Queue

    queue = Queue(**{queue_kwargs!r}, workers={threads})


    @queue.task(name="echo")
    def echo(value):
        return value
    """
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500, help="measured round trips (500)")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured round trips (50)")
    parser.add_argument("--threads", type=int, default=4, help="worker threads (4)")
    add_backend_arguments(parser)
    return parser.parse_args()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def start_worker(app_dir: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "taskito",
            "--log-level",
            "warning",
            "worker",
            "--app",
            "bench_app:queue",
        ],
        cwd=app_dir,
        env={**os.environ, "PYTHONPATH": app_dir},
    )


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(echo: TaskWrapper, jobs: int, warmup: int) -> list[float]:
    samples = []
    for index in range(warmup + jobs):
        started = time.perf_counter()
        value = echo.delay(index).result(timeout=30)
        elapsed = time.perf_counter() - started
        if value != index:
            raise SystemExit(f"job {index} returned {value!r}")
        if index >= warmup:
            samples.append(elapsed * 1000.0)
    return samples


def run(app_dir: str, queue_kwargs: dict[str, Any], args: argparse.Namespace) -> list[float]:
    """Start the worker process on ``queue_kwargs``, measure, stop it; the samples in ms."""
    with open(os.path.join(app_dir, "bench_app.py"), "w") as module:
        module.write(APP_MODULE.format(queue_kwargs=queue_kwargs, threads=args.threads))
    queue = Queue(**queue_kwargs)

    @queue.task(name="echo")
    def echo(value: int) -> int:  # the same task as the worker's; it never runs here
        return value

    worker = start_worker(app_dir)
    try:
        deadline = time.monotonic() + 30
        while not queue.workers():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the worker process did not start")
            time.sleep(0.05)
        return measure(echo, args.jobs, args.warmup)
    finally:
        stop_worker(worker)
        queue.close()


def main() -> None:
    args = parse_args()
    if args.jobs < 1 or args.warmup < 0 or args.threads < 1:
        raise SystemExit("--jobs and --threads must be positive, --warmup zero or more")
    with (
        tempfile.TemporaryDirectory(prefix="taskito-latency-") as app_dir,
        fresh_database(args, app_dir, "latency.db") as queue_kwargs,
    ):
        samples = run(app_dir, queue_kwargs, args)
    print(
        f"latency, enqueue -> result() with the worker in another process, {describe(args)} "
        f"({args.jobs} jobs, one at a time):\n"
        f"  p50 {percentile(samples, 0.50):.2f} ms   p95 {percentile(samples, 0.95):.2f} ms   "
        f"p99 {percentile(samples, 0.99):.2f} ms   max {max(samples):.2f} ms   "
        f"mean {statistics.fmean(samples):.2f} ms   (target p50 <= 5 ms)"
    )


if __name__ == "__main__":
    main()
