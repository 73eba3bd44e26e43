"""Scale-out benchmark: 1, 2, 4 ... worker processes (real ``taskito worker`` processes, thread
pool) draining one queue of no-op jobs on one Postgres or Redis server.

For each process count: a fresh database (schema or key prefix), the workers started and each
seen registered, the queue paused while ``--jobs`` jobs are enqueued, then resumed and timed
until every job is complete. It prints jobs per second, the workers' CPU time per job, and the
database server's CPU share meanwhile (its processes' CPU seconds over the elapsed time, from
``/proc``, so 1.0 is one core busy; other clients of the same server count too, so read it on
a quiet server). On a 2-core machine the workers and the server share the cores: the curve
flattens where the machine, not a lock, runs out.

    python benchmarks/scaleout.py --backend postgres --processes 1 2 4
    python benchmarks/scaleout.py --backend redis --jobs 40000 --threads 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time

from bench_backend import add_backend_arguments, describe, fresh_database
from bench_worker import (
    cpu_s,
    family,
    load_average,
    pids_of,
    start_worker,
    stop_worker,
    wait_completed,
    warm_up,
    write_app,
)

from taskito import Queue
from taskito.job import JobStatus
from taskito.storage.base import JobFilter

ENQUEUE_BATCH = 1000
#: The command-line word that names each backend's server processes in ``/proc``.
SERVER_PROCESS = {"postgres": "postgres", "redis": "redis-server", "sqlite": ""}
REGISTER_WAIT_S = 60.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per drain (20000)")
    parser.add_argument(
        "--processes", type=int, nargs="+", default=[1, 2, 4], help="worker processes (1 2 4)"
    )
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (8)")
    parser.add_argument("--rounds", type=int, default=2, help="drains per process count (2)")
    add_backend_arguments(parser)
    return parser.parse_args()


def wait_registered(queue: Queue, count: int, workers: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + REGISTER_WAIT_S
    while len(queue.workers()) < count:
        if any(worker.poll() is not None for worker in workers):
            raise SystemExit("a worker process exited while starting")
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} workers did not register within {REGISTER_WAIT_S:.0f} s")
        time.sleep(0.05)


def drain(args: argparse.Namespace, processes: int) -> tuple[float, float, float]:
    """(jobs/s, worker CPU us per job, server CPU share) for one drain by ``processes``."""
    with (
        tempfile.TemporaryDirectory(prefix="taskito-scaleout-") as app_dir,
        fresh_database(args, app_dir, "scaleout.db") as queue_kwargs,
    ):
        write_app(app_dir, queue_kwargs, args.threads)
        queue = Queue(**queue_kwargs)
        workers = [start_worker(app_dir, "thread", args.threads) for _ in range(processes)]
        try:
            wait_registered(queue, processes, workers)
            warm_up(queue, workers)
            queue.pause("default")
            for start in range(0, args.jobs, ENQUEUE_BATCH):
                queue.enqueue_many("noop", [()] * min(ENQUEUE_BATCH, args.jobs - start))
            worker_pids = [pid for worker in workers for pid in family(worker.pid)]
            server_pids = pids_of(SERVER_PROCESS[args.backend]) if args.backend != "sqlite" else []
            worker_cpu, server_cpu = cpu_s(worker_pids), cpu_s(server_pids)
            resumed_at = time.time()
            queue.resume("default")
            wait_completed(queue, args.jobs + 1, workers)
            ended_at = time.time()
            worker_cpu = cpu_s(worker_pids) - worker_cpu
            server_cpu = cpu_s(server_pids) - server_cpu
            done = queue._storage.list_jobs(JobFilter(status=JobStatus.COMPLETE), args.jobs + 1, 0)
            done_at = max(job.completed_at or 0 for job in done) / 1000
        finally:
            for worker in workers:
                stop_worker(worker)
            queue.close()
    elapsed = done_at - resumed_at
    # The server's CPU is read when the poll saw the last job done: a little after done_at.
    return args.jobs / elapsed, worker_cpu / args.jobs * 1e6, server_cpu / (ended_at - resumed_at)


def main() -> None:
    args = parse_args()
    if args.jobs < 1 or args.threads < 1 or args.rounds < 1 or min(args.processes) < 1:
        raise SystemExit("--jobs, --threads, --rounds and --processes must be positive")
    print(f"taskito scale-out benchmark: {describe(args)}, thread pool, {args.threads} threads")
    print(f"machine: {os.cpu_count()} CPUs, load average {load_average()}")
    base: float | None = None
    for processes in args.processes:
        measured = [drain(args, processes) for _ in range(args.rounds)]
        rate = statistics.median(one[0] for one in measured)
        cpu = statistics.median(one[1] for one in measured)
        server = statistics.median(one[2] for one in measured)
        base = base or rate
        print(
            f"{processes} process(es): median {rate:,.0f} jobs/s ({rate / base:.2f}x),"
            f" rounds {', '.join(f'{one[0]:,.0f}' for one in measured)};"
            f" {cpu:.0f} us of worker CPU per job; server CPU {server:.2f} cores"
        )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
