"""Enqueue throughput on SQLite next to what plain sqlite3 does with the same rows, in one run.

Three workloads, each measured for taskito and for the database alone (plain ``sqlite3``, no
taskito code in the timed part, on a file with taskito's whole schema, page size, WAL mode and
``synchronous`` level, in the same directory):

* ``map()`` of ``--map-jobs`` jobs against one transaction inserting as many rows;
* ``delay()`` from one thread against one transaction (and commit) per row;
* ``delay()`` from ``--threads`` threads of one process against the same number of threads,
  each with its own connection, committing one row per transaction.

The raw rows are those taskito stores for the same calls (ids, payloads, columns), made before
the clock starts. Rounds alternate raw and taskito so that a noisy neighbour hurts both; the
median of the rounds is printed, with the process CPU time per job (every thread counted),
the ratio of the two medians, and the median of each round's own ratio ("paired").

    python benchmarks/throughput_enqueue.py [--map-jobs 20000] [--delay-jobs 4000]
        [--threads 8] [--rounds 5] [--sync FULL|NORMAL] [--dir PATH]
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from taskito import Queue
from taskito.ids import new_job_ids
from taskito.job import now_ms
from taskito.storage.sqlite import schema as sqlite_schema
from taskito.storage.sqlite.connections import _PAGE_SIZE, _WAL_AUTOCHECKPOINT_PAGES

TASK_NAME = "bench.noop"
# The columns taskito's own insert names for a job without unique key, metadata or expiry.
_INSERT = (
    "INSERT INTO jobs (id, queue, task_name, payload, priority, created_at, scheduled_at,"
    " max_retries, timeout_ms, unique_key, metadata, expires_at, result_ttl_ms, namespace)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, NULL)"
)


@dataclass(frozen=True)
class Run:
    jobs: int
    elapsed_s: float
    cpu_s: float

    @property
    def per_s(self) -> float:
        return self.jobs / self.elapsed_s

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.jobs * 1e6


def timed(jobs: int, work: Callable[[], None]) -> Run:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return Run(jobs, time.perf_counter() - wall, time.process_time() - cpu)


def noop(n: int) -> int:
    return n


# --- the database alone ----------------------------------------------------------------------


def raw_database(directory: str, sync: str) -> str:
    """A new file with taskito's schema and settings; the schema is made before timing."""
    path = os.path.join(directory, f"raw-{uuid.uuid4().hex}.db")
    conn = raw_connection(path, sync)
    conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}")
    conn.execute("PRAGMA journal_mode = WAL")
    sqlite_schema.migrate(conn, path)
    conn.close()
    return path


def raw_connection(path: str, sync: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute(f"PRAGMA synchronous = {sync}")
    conn.execute(f"PRAGMA wal_autocheckpoint = {_WAL_AUTOCHECKPOINT_PAGES}")
    return conn


def raw_rows(count: int, timeout_ms: int) -> list[tuple[object, ...]]:
    """The rows taskito stores for ``count`` calls ``noop(n)``."""
    now = now_ms()
    return [
        (
            job_id,
            "default",
            TASK_NAME,
            bytearray(pickle.dumps(((n,), {}), protocol=pickle.HIGHEST_PROTOCOL)),
            0,
            now,
            now,
            3,
            timeout_ms,
        )
        for n, job_id in enumerate(new_job_ids(count))
    ]


def raw_map(directory: str, sync: str, jobs: int) -> Run:
    path = raw_database(directory, sync)
    conn = raw_connection(path, sync)
    rows = raw_rows(jobs, 300_000)

    def work() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, rows)
        conn.execute("COMMIT")

    try:
        return timed(jobs, work)
    finally:
        conn.close()


def raw_delay(directory: str, sync: str, jobs: int, threads: int) -> Run:
    path = raw_database(directory, sync)
    rows = raw_rows(jobs, 300_000)
    conns = [raw_connection(path, sync) for _ in range(threads)]
    shares = [rows[index::threads] for index in range(threads)]

    def insert(conn: sqlite3.Connection, share: list[tuple[object, ...]]) -> None:
        for row in share:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_INSERT, row)
            conn.execute("COMMIT")

    try:
        return timed(jobs, lambda: run_threads(insert, list(zip(conns, shares, strict=True))))
    finally:
        for conn in conns:
            conn.close()


# --- taskito -----------------------------------------------------------------------------


def ours_map(directory: str, sync: str, jobs: int) -> Run:
    queue = Queue(
        db_path=os.path.join(directory, f"q-{uuid.uuid4().hex}.db"), durable_enqueue=sync == "FULL"
    )
    try:
        task = queue.task(name=TASK_NAME)(noop)
        calls = [(n,) for n in range(jobs)]
        run = timed(jobs, lambda: task.map(calls))
        check_pending(queue, jobs)
        return run
    finally:
        queue.close()


def ours_delay(directory: str, sync: str, jobs: int, threads: int) -> Run:
    queue = Queue(
        db_path=os.path.join(directory, f"q-{uuid.uuid4().hex}.db"), durable_enqueue=sync == "FULL"
    )
    try:
        task = queue.task(name=TASK_NAME)(noop)
        task.delay(-1)  # the thread's connection and statements, made before timing

        def produce(first: int, count: int) -> None:
            delay = task.delay
            for n in range(first, first + count):
                delay(n)

        share = jobs // threads
        work = [(index * share, share) for index in range(threads)]
        run = timed(share * threads, lambda: run_threads(produce, work))
        check_pending(queue, share * threads + 1)
        return run
    finally:
        queue.close()


def check_pending(queue: Queue, expected: int) -> None:
    pending = queue.stats()["pending"]
    if pending != expected:
        raise SystemExit(f"expected {expected} pending jobs, found {pending}")


def run_threads(target: Callable[..., None], work: list[tuple[object, ...]]) -> None:
    """``target(*args)`` for each entry of ``work``, one thread each, started together."""
    if len(work) == 1:
        target(*work[0])
        return
    errors: list[BaseException] = []
    start = threading.Barrier(len(work))

    def body(args: tuple[object, ...]) -> None:
        start.wait()
        try:
            target(*args)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(args,)) for args in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


# --- the report --------------------------------------------------------------------------


def median_run(runs: list[Run]) -> Run:
    by_rate = sorted(runs, key=lambda run: run.per_s)
    middle = by_rate[len(by_rate) // 2]
    return Run(middle.jobs, middle.elapsed_s, statistics.median(run.cpu_s for run in runs))


def report(label: str, ours: list[Run], raw: list[Run]) -> None:
    """Medians of each side, and the median of the rounds' own ratios ("paired": each
    round's taskito figure over the raw one measured just before it, which cancels most of
    a shared machine's drift)."""
    mine, base = median_run(ours), median_run(raw)
    paired = statistics.median(a.per_s / b.per_s for a, b in zip(ours, raw, strict=True))
    print(
        f"{label:<22} {mine.per_s:>9,.0f} jobs/s {mine.cpu_us:>6.1f} us CPU/job   "
        f"{base.per_s:>9,.0f} rows/s {base.cpu_us:>6.1f} us CPU/row   "
        f"{mine.per_s / base.per_s:>5.0%} {paired:>7.0%}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map-jobs", type=int, default=20_000)
    parser.add_argument("--delay-jobs", type=int, default=4_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sync", choices=("FULL", "NORMAL"), default="FULL")
    parser.add_argument("--dir", default=None, help="where the files go (default: tmp)")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(
        f"taskito enqueue throughput vs plain sqlite3 {sqlite3.sqlite_version}, "
        f"synchronous={args.sync}; Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; median of {args.rounds} rounds"
    )
    workloads: dict[str, tuple[Callable[[str], Run], Callable[[str], Run]]] = {
        f"map() of {args.map_jobs:,}": (
            lambda d: ours_map(d, args.sync, args.map_jobs),
            lambda d: raw_map(d, args.sync, args.map_jobs),
        ),
        "delay(), 1 thread": (
            lambda d: ours_delay(d, args.sync, args.delay_jobs, 1),
            lambda d: raw_delay(d, args.sync, args.delay_jobs, 1),
        ),
        f"delay(), {args.threads} threads": (
            lambda d: ours_delay(d, args.sync, args.delay_jobs, args.threads),
            lambda d: raw_delay(d, args.sync, args.delay_jobs, args.threads),
        ),
    }
    print(f"{'':<22} {'taskito':>33}   {'plain sqlite3':>33}   ratio  paired")
    for label, (ours, raw) in workloads.items():
        mine: list[Run] = []
        base: list[Run] = []
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="taskito-bench-", dir=args.dir) as directory:
                base.append(raw(directory))
                mine.append(ours(directory))
        report(label, mine, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
