"""The ceiling that claim-on-demand with one thread per slot puts under the thread pool's drain,
whatever the worker's own code costs: plain sqlite3 (``claim_ceiling.py``'s rows, schema and
statements: finish a batch and claim the next in one transaction), with the claimed rows handed
to ``--threads`` threads that each run a no-op and hand the row back, as the worker's loop and
its pool threads do. No taskito code runs in the timed part.

    python benchmarks/handoff_ceiling.py [--rows N] [--threads K ...] [--dir PATH]

For each K it prints the rate of the same loop without threads (the loop runs the no-ops
itself) and with the hand-offs, and the CPU time per row of each: the difference is what
waking a thread and taking the GIL back costs on this machine, paid for every job.
"""

from __future__ import annotations

import argparse
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable

from claim_ceiling import _claim, _database, _finish


def _noop() -> None:
    return None


def _inline(ids: list[str]) -> list[str]:
    for _ in ids:
        _noop()
    return ids


class _Slots:
    """``threads`` threads, each taking a row, running the no-op and handing the row back."""

    def __init__(self, threads: int) -> None:
        self._work: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._threads = [threading.Thread(target=self._serve) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _serve(self) -> None:
        while (row := self._work.get()) is not None:
            _noop()
            self._done.put(row)
            self._wake.set()

    def run(self, ids: list[str]) -> list[str]:
        """Start every row on a thread; return them once all are back."""
        for row in ids:
            self._work.put(row)
        back: list[str] = []
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


def measure(directory: str, rows: int, threads: int, handoff: bool) -> tuple[float, float]:
    """Rows per second and CPU microseconds per row, claiming ``threads`` rows at a time and
    finishing them with the next claim, running each row inline or on a slot thread."""
    conn, path = _database(directory, rows)
    slots = _Slots(threads) if handoff else None
    run: Callable[[list[str]], list[str]] = slots.run if slots is not None else _inline
    try:
        done, held = 0, []
        started, cpu = time.perf_counter(), time.process_time()
        while True:
            conn.execute("BEGIN IMMEDIATE")
            _finish(conn, held)
            done += len(held)
            held = _claim(conn, threads)
            conn.execute("COMMIT")
            if not held:
                break
            held = run(held)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        if slots is not None:
            slots.close()
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    if done != rows:
        raise SystemExit(f"finished {done} rows of {rows}")
    return rows / elapsed, cpu / rows * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows per measurement")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 8], help="slots (2 8)")
    parser.add_argument("--dir", default=None, help="directory for the database (default: tmp)")
    args = parser.parse_args()
    if args.rows < 1 or min(args.threads) < 1:
        raise SystemExit("--rows and --threads must be positive")
    directory = args.dir or tempfile.gettempdir()
    print(f"plain sqlite3, {args.rows:,} rows, in {directory}, {os.cpu_count()} CPUs")
    for threads in args.threads:
        inline, inline_cpu = measure(directory, args.rows, threads, handoff=False)
        handed, handed_cpu = measure(directory, args.rows, threads, handoff=True)
        print(
            f"  {threads:2} slots: no threads {inline:8,.0f} rows/s"
            f" ({inline_cpu:5.1f} us CPU a row)   a thread per slot {handed:8,.0f} rows/s"
            f" ({handed_cpu:5.1f} us CPU a row)"
        )


if __name__ == "__main__":
    main()
