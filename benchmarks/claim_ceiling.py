"""The ceiling under taskito's drain figures: plain sqlite3, no taskito code, claiming rows
shaped like taskito's jobs in batches (select the next due ids on the claim index, mark them
running) and then marking them complete with one metric row each, on a table with taskito's
schema and indexes, in WAL mode with ``synchronous=NORMAL`` as the worker's writes.

    python benchmarks/claim_ceiling.py [--rows N] [--batch K ...] [--dir PATH]

Two ways for each batch size: a claim transaction and a finish transaction per batch, and one
transaction that finishes a batch and claims the next. ``drain.py`` prints these beside its
own figures, measured in the same run.
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

_INSERT = (
    "INSERT INTO jobs (id, queue, task_name, payload, priority, created_at, scheduled_at,"
    " max_retries, timeout_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_NEXT = (
    "SELECT id FROM jobs INDEXED BY idx_jobs_claim WHERE status = 0 AND queue = 'default'"
    " AND priority = 0 AND scheduled_at <= ? ORDER BY scheduled_at, id LIMIT ?"
)
_RUNNING = (
    "UPDATE jobs SET status = 1, attempt = attempt + 1, worker_id = 'w', started_at = ?,"
    " lease_expires_at = ? WHERE id = ? AND status = 0"
)
_COMPLETE = (
    "UPDATE jobs SET status = 2, completed_at = ?, worker_id = NULL, lease_expires_at = NULL"
    " WHERE id = ? AND status = 1 AND attempt = 1 AND worker_id = 'w'"
)
_METRIC = (
    "INSERT INTO task_metrics (task_name, queue, job_id, attempt, outcome, started_at,"
    " finished_at, wall_ns) VALUES ('bench.noop', 'default', ?, 1, 'success', ?, ?, 1000)"
)


def make_database(directory: str, rows: int) -> tuple[sqlite3.Connection, str]:
    path = os.path.join(directory, f"claim-ceiling-{uuid.uuid4().hex}.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA page_size = 2048")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    for migration in MIGRATIONS:
        for statement in migration:
            conn.execute(statement)
    now = time.time_ns() // 1_000_000
    payload = bytearray(os.urandom(40))
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        _INSERT,
        (
            (f"{now:012x}-{i:08x}", "default", "bench.noop", payload, 0, now, now, 3, 300_000)
            for i in range(rows)
        ),
    )
    conn.execute("COMMIT")
    return conn, path


def claim_batch(conn: sqlite3.Connection, batch: int) -> list[str]:
    now = time.time_ns() // 1_000_000
    ids = [row[0] for row in conn.execute(_NEXT, (now, batch)).fetchall()]
    conn.executemany(_RUNNING, ((now, now + 30_000, job_id) for job_id in ids))
    return ids


def finish_batch(conn: sqlite3.Connection, ids: list[str]) -> None:
    now = time.time_ns() // 1_000_000
    conn.executemany(_COMPLETE, ((now, job_id) for job_id in ids))
    conn.executemany(_METRIC, ((job_id, now, now) for job_id in ids))


def measure(directory: str, rows: int, batch: int, together: bool) -> float:
    """Rows per second claimed and completed in batches of ``batch``; with ``together``, one
    transaction finishes a batch and claims the next, else one each."""
    conn, path = make_database(directory, rows)
    try:
        done = 0
        held: list[str] = []
        started = time.perf_counter()
        while True:
            conn.execute("BEGIN IMMEDIATE")
            if together:
                finish_batch(conn, held)
                done += len(held)
                held = claim_batch(conn, batch)
                conn.execute("COMMIT")
            else:
                held = claim_batch(conn, batch)
                conn.execute("COMMIT")
                conn.execute("BEGIN IMMEDIATE")
                finish_batch(conn, held)
                conn.execute("COMMIT")
                done += len(held)
            if not held:
                break
        elapsed = time.perf_counter() - started
        if done != rows:
            raise SystemExit(f"claimed {done} rows of {rows}")
        return rows / elapsed
    finally:
        conn.close()
        remove_sqlite_files(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows per measurement")
    parser.add_argument(
        "--batch", type=int, nargs="+", default=[1, 2, 8, 32], help="batch sizes (1 2 8 32)"
    )
    parser.add_argument("--dir", default=None, help="directory for the database (default: tmp)")
    args = parser.parse_args()
    if args.rows < 1 or min(args.batch) < 1:
        raise SystemExit("--rows and --batch must be positive")
    directory = args.dir or tempfile.gettempdir()
    print(f"plain sqlite3 {sqlite3.sqlite_version}, {args.rows:,} rows, in {directory}")
    for batch in args.batch:
        apart = measure(directory, args.rows, batch, together=False)
        together = measure(directory, args.rows, batch, together=True)
        print(
            f"  batches of {batch:3}: claim and finish apart {apart:9,.0f} rows/s"
            f"   finish + next claim in one transaction {together:9,.0f} rows/s"
        )


if __name__ == "__main__":
    main()
