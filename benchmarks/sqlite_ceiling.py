"""The ceiling under taskito's enqueue figures: plain sqlite3, no taskito code, inserting rows
shaped like taskito's jobs into a table with taskito's indexes, on the same disk and settings
(WAL; synchronous=FULL as taskito's enqueues commit by default, or NORMAL as the worker's
writes and ``Queue(durable_enqueue=False)`` do).

    python benchmarks/sqlite_ceiling.py [--rows N] [--dir PATH] [--sync FULL|NORMAL|both]

It prints rows/s for one transaction per row (what one ``delay()`` must pay) and for one
transaction for all rows (what ``map()`` pays), with the full index set and with the jobs
table alone. ``--dir /dev/shm`` shows what the same work costs without the disk.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
import uuid

from bench_backend import remove_sqlite_files

from taskito.storage.sqlite.schema import MIGRATIONS


def _open(directory: str, with_indexes: bool, sync: str) -> tuple[sqlite3.Connection, str]:
    path = os.path.join(directory, f"ceiling-{uuid.uuid4().hex}.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA page_size = 2048")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {sync}")
    for statement in MIGRATIONS[0]:
        if with_indexes or " INDEX " not in " ".join(statement.upper().split()):
            conn.execute(statement)
    return conn, path


_INSERT = (
    "INSERT INTO jobs (id, queue, task_name, payload, priority, created_at, scheduled_at,"
    " max_retries, timeout_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _rows(count: int) -> list[tuple[object, ...]]:
    now = time.time_ns() // 1_000_000
    payload = bytearray(os.urandom(40))
    return [
        (
            f"{now:012x}-{i:08x}-{uuid.uuid4().hex[:12]}",
            "default",
            "bench.noop",
            payload,
            0,
            now,
            now,
            3,
            300_000,
        )
        for i in range(count)
    ]


def measure(directory: str, rows: int, with_indexes: bool, sync: str) -> tuple[float, float]:
    """(rows/s with a commit per row, rows/s with one commit for every row)."""
    conn, path = _open(directory, with_indexes, sync)
    try:
        data = _rows(rows)
        started = time.perf_counter()
        for row in data:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_INSERT, row)
            conn.execute("COMMIT")
        per_row = rows / (time.perf_counter() - started)
        data = _rows(rows)
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, data)
        conn.execute("COMMIT")
        batch = rows / (time.perf_counter() - started)
        return per_row, batch
    finally:
        conn.close()
        remove_sqlite_files(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows per measurement")
    parser.add_argument("--dir", default=None, help="directory for the database (default: tmp)")
    parser.add_argument(
        "--sync",
        choices=("FULL", "NORMAL", "both"),
        default="both",
        help="PRAGMA synchronous of the commits (default: both, one after the other)",
    )
    args = parser.parse_args()
    directory = args.dir or tempfile.gettempdir()
    print(f"plain sqlite3 {sqlite3.sqlite_version}, {args.rows:,} rows, in {directory}")
    levels = ("FULL", "NORMAL") if args.sync == "both" else (args.sync,)
    for sync in levels:
        for label, with_indexes in (
            ("taskito's jobs table + indexes", True),
            ("jobs table only", False),
        ):
            per_row, batch = measure(directory, args.rows, with_indexes, sync)
            print(
                f"  {sync:6} {label:32} commit per row {per_row:9,.0f} rows/s"
                f"   one commit {batch:9,.0f} rows/s"
            )


if __name__ == "__main__":
    main()
