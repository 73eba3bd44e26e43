"""Memory benchmark: a worker's resident memory (RSS, from ``/proc``) as it processes many
jobs, and what a huge backlog it has not claimed costs it.

1. Flat over jobs processed: one ``taskito worker`` process (thread pool) drains no-op jobs
   that this script keeps feeding (``enqueue_many`` batches, a backlog of at most
   ``--backlog``); its RSS is read when 1,000, 10,000, 100,000 and ``--jobs`` (1,000,000)
   jobs are complete.
2. Nothing until claimed: an idle worker's RSS and CPU over ``--idle-s`` seconds on an empty
   queue, then on a queue with ``--pending`` (1,000,000) pending jobs that it may not claim
   yet (the queue is paused; ``--pending-kind delayed`` makes them due in an hour instead).

    python benchmarks/memory.py                      # both parts, 1M jobs each
    python benchmarks/memory.py --jobs 100000 --pending 100000 --part flat
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time

from bench_backend import add_backend_arguments, describe, fresh_database
from bench_worker import (
    cpu_s,
    load_average,
    rss_mb,
    start_worker,
    stop_worker,
    wait_completed,
    warm_up,
    write_app,
)

from taskito import Queue

ENQUEUE_BATCH = 10_000
POLL_S = 0.5  # stats() counts every row: polled gently


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs to process (1M)")
    parser.add_argument("--pending", type=int, default=1_000_000, help="idle backlog (1M)")
    parser.add_argument("--threads", type=int, default=8, help="worker threads (8)")
    parser.add_argument("--backlog", type=int, default=50_000, help="most jobs queued at once")
    parser.add_argument("--idle-s", type=float, default=10.0, help="idle measurement (10 s)")
    parser.add_argument("--part", choices=("flat", "idle", "both"), default="both")
    parser.add_argument("--pending-kind", choices=("paused", "delayed"), default="paused")
    add_backend_arguments(parser)
    return parser.parse_args()


def checkpoints(jobs: int) -> list[int]:
    return sorted({count for count in (1_000, 10_000, 100_000) if count < jobs} | {jobs})


def flat(args: argparse.Namespace) -> None:
    """RSS of one worker at each checkpoint of jobs completed."""
    with (
        tempfile.TemporaryDirectory(prefix="taskito-memory-") as app_dir,
        fresh_database(args, app_dir, "memory.db") as queue_kwargs,
    ):
        write_app(app_dir, queue_kwargs, args.threads)
        queue = Queue(**queue_kwargs)
        worker = start_worker(app_dir, "thread", args.threads)
        try:
            warm_up(queue, [worker])
            print(f"  after start and one job: RSS {rss_mb(worker.pid):.1f} MiB")
            feed_and_watch(args, queue, worker)
        finally:
            stop_worker(worker)
            queue.close()


def feed_and_watch(args: argparse.Namespace, queue: Queue, worker: subprocess.Popen[bytes]) -> None:
    marks = checkpoints(args.jobs)
    target = args.jobs + 1  # the warm-up job
    enqueued = 1
    started = time.monotonic()
    while marks:
        if worker.poll() is not None:
            raise SystemExit("the worker exited")
        counts = queue.stats()
        completed = counts["completed"] - 1
        if enqueued < target and counts["pending"] + counts["running"] < args.backlog // 2:
            batch = min(ENQUEUE_BATCH, target - enqueued)
            queue.enqueue_many("noop", [()] * batch)
            enqueued += batch
            continue
        while marks and completed >= marks[0]:
            elapsed = time.monotonic() - started
            print(
                f"  {marks.pop(0):>9,} jobs processed: RSS {rss_mb(worker.pid):.1f} MiB"
                f" ({completed / elapsed:,.0f} jobs/s so far, load {load_average()})"
            )
        time.sleep(POLL_S)


def idle(args: argparse.Namespace) -> None:
    """An idle worker on an empty queue, then with ``--pending`` jobs it may not claim."""
    with (
        tempfile.TemporaryDirectory(prefix="taskito-memory-") as app_dir,
        fresh_database(args, app_dir, "idle.db") as queue_kwargs,
    ):
        write_app(app_dir, queue_kwargs, args.threads)
        queue = Queue(**queue_kwargs)
        worker = start_worker(app_dir, "thread", args.threads)
        try:
            warm_up(queue, [worker])
            report_idle(args, worker, "empty queue")
            if args.pending_kind == "paused":
                queue.pause("default")
            delay = 3600 if args.pending_kind == "delayed" else None
            made = time.monotonic()
            for start in range(0, args.pending, ENQUEUE_BATCH):
                count = min(ENQUEUE_BATCH, args.pending - start)
                queue.enqueue_many("noop", [()] * count, delay=delay)
            print(
                f"  {args.pending:,} {args.pending_kind} jobs enqueued in"
                f" {time.monotonic() - made:.1f} s"
            )
            report_idle(args, worker, f"{args.pending:,} pending jobs ({args.pending_kind})")
            if args.pending_kind == "paused":
                queue.resume("default")
                wait_completed(queue, 1_001, [worker])
                print(f"  resumed, 1,000 of them run: RSS {rss_mb(worker.pid):.1f} MiB")
        finally:
            stop_worker(worker)
            queue.close()


def report_idle(args: argparse.Namespace, worker: subprocess.Popen[bytes], label: str) -> None:
    time.sleep(1.0)  # let the enqueues' wake-ups pass
    cpu = cpu_s([worker.pid])
    time.sleep(args.idle_s)
    used = cpu_s([worker.pid]) - cpu
    print(
        f"  idle worker, {label}: RSS {rss_mb(worker.pid):.1f} MiB,"
        f" CPU {100 * used / args.idle_s:.1f}% of a core over {args.idle_s:.0f} s"
    )


def main() -> None:
    args = parse_args()
    if min(args.jobs, args.pending, args.threads, args.backlog) < 1 or args.idle_s <= 0:
        raise SystemExit("--jobs, --pending, --threads, --backlog and --idle-s must be positive")
    print(f"taskito memory benchmark: {describe(args)}, thread pool, {args.threads} threads")
    print(f"machine: {os.cpu_count()} CPUs, load average {load_average()}")
    if args.part in ("flat", "both"):
        print(f"worker RSS while processing {args.jobs:,} jobs:")
        flat(args)
    if args.part in ("idle", "both"):
        print("idle worker:")
        idle(args)


if __name__ == "__main__":
    main()
