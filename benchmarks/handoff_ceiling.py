"""The ceiling that claim-on-demand with one thread per slot puts under the thread pool's drain,
whatever the worker's own code costs: plain sqlite3 (``claim_ceiling.py``'s rows, schema and
statements: finish a batch and claim the next in one transaction), with the claimed rows handed
to ``--threads`` threads that each run a no-op and hand the row back, as the worker's loop and
its pool threads do. No taskito code runs in the timed part.

    python benchmarks/handoff_ceiling.py [--rows N] [--threads K ...] [--dir PATH]

For each K it prints the rate of the same loop without threads (the loop runs the no-ops
itself) and with the hand-offs, and the CPU time per row of each: the difference is what
waking a thread and taking the GIL back costs on this machine, paid for every job. The second
line of each K runs the same loop on taskito's own storage call
(``SqliteStorage.finish_and_claim``, metric rows included, as the worker makes it), so the
three rungs are: the database, taskito's storage layer, and ``drain.py``'s whole worker.
"""

from __future__ import annotations

import argparse
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from bench_backend import remove_sqlite_files
from claim_ceiling import claim_batch, finish_batch, make_database

from taskito import Queue
from taskito.job import AttemptMetric, JobRecord, JobStatus, OutcomeKind, now_ms
from taskito.storage.records import Finish

ENQUEUE_BATCH = 1000
LEASE_MS = 60_000


def _noop() -> None:
    return None


def _inline(ids: list[Any]) -> list[Any]:
    for _ in ids:
        _noop()
    return ids


class _Slots:
    """``threads`` threads, each taking a row, running the no-op and handing the row back."""

    def __init__(self, threads: int) -> None:
        self._work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._threads = [threading.Thread(target=self._serve) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _serve(self) -> None:
        while (row := self._work.get()) is not None:
            _noop()
            self._done.put(row)
            self._wake.set()

    def run(self, ids: list[Any]) -> list[Any]:
        """Start every row on a thread; return them once all are back."""
        for row in ids:
            self._work.put(row)
        back: list[Any] = []
        while len(back) < len(ids):
            self._wake.wait()
            self._wake.clear()
            while True:
                try:
                    back.append(self._done.get_nowait())
                except queue.Empty:
                    break
        return back

    def close(self) -> None:
        for _ in self._threads:
            self._work.put(None)
        for thread in self._threads:
            thread.join()


#: One round of a drain: finish the held rows and claim the next ones; (finished, claimed).
Round = Callable[[list[Any]], tuple[int, list[Any]]]


def _drain(round_: Round, rows: int, threads: int, handoff: bool) -> tuple[float, float]:
    """Rows per second and CPU microseconds per row of ``round_`` repeated until it claims
    nothing, each claimed row run inline or on a slot thread in between."""
    slots = _Slots(threads) if handoff else None
    run: Callable[[list[Any]], list[Any]] = slots.run if slots is not None else _inline
    try:
        done, held = 0, []
        started, cpu = time.perf_counter(), time.process_time()
        while True:
            finished, held = round_(held)
            done += finished
            if not held:
                break
            held = run(held)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        if slots is not None:
            slots.close()
    if done != rows:
        raise SystemExit(f"finished {done} rows of {rows}")
    return rows / elapsed, cpu / rows * 1e6


def measure(directory: str, rows: int, threads: int, handoff: bool) -> tuple[float, float]:
    """``_drain`` on plain sqlite3: claim ``threads`` rows at a time and finish them with the
    next claim, in one transaction."""
    conn, path = make_database(directory, rows)

    def round_(held: list[str]) -> tuple[int, list[str]]:
        conn.execute("BEGIN IMMEDIATE")
        finish_batch(conn, held)
        claimed = claim_batch(conn, threads)
        conn.execute("COMMIT")
        return len(held), claimed

    try:
        return _drain(round_, rows, threads, handoff)
    finally:
        conn.close()
        remove_sqlite_files(path)


def _completions(jobs: list[JobRecord]) -> list[Finish]:
    now = now_ms()
    return [
        Finish(
            job.id,
            job.attempt,
            JobStatus.COMPLETE,
            worker_id=job.worker_id or "",
            metric=AttemptMetric(job.task_name, job.queue, OutcomeKind.SUCCESS, now, 1000),
        )
        for job in jobs
    ]


def measure_storage(directory: str, rows: int, threads: int, handoff: bool) -> tuple[float, float]:
    """``_drain`` on taskito's SQLite storage: ``finish_and_claim`` of the held jobs' outcomes
    and of ``threads`` new jobs, one call a round, as the worker's loop makes it."""
    path = os.path.join(directory, f"handoff-{os.getpid()}-{time.monotonic_ns()}.db")
    queue_ = Queue(db_path=path)
    storage = queue_._storage

    def round_(held: list[JobRecord]) -> tuple[int, list[JobRecord]]:
        applied, claimed = storage.finish_and_claim(
            _completions(held), "w", None, None, threads, now_ms(), LEASE_MS
        )
        return sum(applied), claimed

    try:
        for start in range(0, rows, ENQUEUE_BATCH):
            queue_.enqueue_many("bench.noop", [()] * min(ENQUEUE_BATCH, rows - start))
        return _drain(round_, rows, threads, handoff)
    finally:
        queue_.close()
        remove_sqlite_files(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows per measurement")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 8], help="slots (2 8)")
    parser.add_argument("--dir", default=None, help="directory for the database (default: tmp)")
    args = parser.parse_args()
    if args.rows < 1 or min(args.threads) < 1:
        raise SystemExit("--rows and --threads must be positive")
    directory = args.dir or tempfile.gettempdir()
    print(f"{args.rows:,} rows, in {directory}, {os.cpu_count()} CPUs")
    for threads in args.threads:
        for label, how in (("sqlite3", measure), ("taskito storage", measure_storage)):
            inline, inline_cpu = how(directory, args.rows, threads, False)
            handed, handed_cpu = how(directory, args.rows, threads, True)
            print(
                f"  {threads:2} slots, {label:15}: no threads {inline:8,.0f} rows/s"
                f" ({inline_cpu:5.1f} us CPU a row)   a thread per slot {handed:8,.0f} rows/s"
                f" ({handed_cpu:5.1f} us CPU a row)"
            )


if __name__ == "__main__":
    main()
