"""The dashboard on a big SQLite table: every request the Overview, Jobs, Dead letters and
Queues pages make, timed over the real ASGI app served by a real uvicorn on a free port.

The database holds 1,000,000 jobs (by default) spread over a week: a realistic mix of
statuses over 20 tasks and 5 queues, errors on the failed and dead ones, dead letters, and the
last hour of task metrics. It is built once with ``executemany`` into the schema taskito
itself creates (the file is opened by a ``Queue`` first, which migrates it), and reused by
later runs while its row count matches (``--rebuild`` starts again).

    python benchmarks/dashboard_bigtable.py                      # 1,000,000 jobs
    python benchmarks/dashboard_bigtable.py --jobs 200000 --rounds 20
    python benchmarks/dashboard_bigtable.py --check              # exit 1 above the target

Each page's requests are sent together (as the page does: ``Promise.all``), and the page
time is the wall time until the last answer. Printed: p50/p95/max per route and per page.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import uvicorn

from taskito import Queue
from taskito.dashboard import create_app

TARGET_MS = 100.0
TASKS = [f"app.tasks.task_{n:02d}" for n in range(20)]
QUEUES = ["default", "emails", "reports", "billing", "media"]
# (status code, share): pending 0, running 1, complete 2, failed 3, dead 4, cancelled 5.
STATUS_MIX = ((2, 0.90), (0, 0.04), (1, 0.002), (3, 0.03), (4, 0.01), (5, 0.018))
ERRORS = (
    'Traceback (most recent call last):\n  File "app/tasks.py", line 12, in run\n'
    "ValueError: bad input {n}",
    'Traceback (most recent call last):\n  File "app/tasks.py", line 40, in fetch\n'
    "TimeoutError: upstream did not answer",
    'Traceback (most recent call last):\n  File "app/db.py", line 7, in save\n'
    "KeyError: 'customer'",
)
WEEK_MS = 7 * 24 * 3600 * 1000
BATCH = 50_000


# --- the database ---------------------------------------------------------------------------


def _job_rows(count: int, now: int, rng: random.Random) -> Iterator[tuple[object, ...]]:
    statuses = [code for code, _ in STATUS_MIX]
    weights = [share for _, share in STATUS_MIX]
    payload = b"\x80\x05\x95\x0b\x00\x00\x00\x00\x00\x00\x00)}\x94\x8c\x01x\x94K\x01s\x86\x94."
    for n in range(count):
        created = now - WEEK_MS + (n * WEEK_MS) // count
        status = rng.choices(statuses, weights)[0]
        started = created + 5 if status != 0 else None
        done = created + 5 + rng.randint(1, 2000) if status >= 2 else None
        error = ERRORS[n % 3].format(n=n) if status in (3, 4) else None
        yield (
            f"{n:032x}",
            QUEUES[n % 5 if n % 3 else 0],
            TASKS[rng.randrange(20)],
            payload,
            status,
            rng.choice((0, 0, 0, 5, 10)),
            created,
            created,
            3 if status in (3, 4) else 0,
            3,
            started,
            done,
            error,
            f"worker-{n % 4}" if status == 1 else None,
            1 if status else 0,
            created + 300_000 if status == 1 else None,
        )


_INSERT_JOB = (
    "INSERT INTO jobs (id, queue, task_name, payload, status, priority, created_at,"
    " scheduled_at, retry_count, max_retries, started_at, completed_at, error, worker_id,"
    " attempt, lease_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_DEAD = (
    "INSERT INTO dead_letter (id, original_job_id, queue, task_name, payload, error,"
    " retry_count, failed_at, metadata, priority, max_retries, timeout_ms, result_ttl_ms,"
    " namespace) SELECT 'dl-' || id, id, queue, task_name, payload, error, retry_count,"
    " completed_at, metadata, priority, max_retries, timeout_ms, result_ttl_ms, namespace"
    " FROM jobs WHERE status = 4 ORDER BY completed_at"
)
_INSERT_ERRORS = (
    "INSERT INTO job_errors (job_id, attempt, error, failed_at)"
    " SELECT id, retry_count, error, completed_at FROM jobs WHERE status IN (3, 4)"
)
_INSERT_METRIC = (
    "INSERT INTO task_metrics (task_name, queue, job_id, attempt, outcome, started_at,"
    " finished_at, wall_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def build(path: str, jobs: int) -> None:
    """Fill ``path`` (migrated by a ``Queue``) with ``jobs`` jobs and what goes with them."""
    Queue(db_path=path).close()
    now = int(time.time() * 1000)
    rng = random.Random(13)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        rows = _job_rows(jobs, now, rng)
        while batch := [row for _, row in zip(range(BATCH), rows, strict=False)]:
            conn.executemany(_INSERT_JOB, batch)
        conn.execute(_INSERT_DEAD)
        conn.execute(_INSERT_ERRORS)
        # The last hour of task metrics at the table's own rate (jobs a week / 168).
        conn.executemany(_INSERT_METRIC, _metric_rows(now, rng, jobs * 3_600_000 // WEEK_MS))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()


def _metric_rows(now: int, rng: random.Random, count: int) -> Iterator[tuple[object, ...]]:
    for n in range(count):
        finished = now - 3_600_000 + (n * 3_600_000) // count
        wall_ms = rng.randint(1, 400)
        outcome = "success" if n % 25 else "failure"
        task = TASKS[n % 20]
        yield (
            task,
            QUEUES[n % 5],
            f"m{n:031x}",
            1,
            outcome,
            finished - wall_ms,
            finished,
            wall_ms * 1_000_000,
        )


def stored_jobs(path: str) -> int:
    if not os.path.exists(path):
        return 0
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


# --- the server and the pages ---------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    name: str
    #: Each request as (route label, path, query).
    requests: Sequence[tuple[str, str, dict[str, str]]]


def pages(task: str) -> list[Page]:
    """The requests each page makes on first load (static/js/pages/*.js)."""
    jobs_page = {"limit": "21", "offset": "0"}
    return [
        Page(
            "overview",
            [
                ("/api/stats", "/api/stats", {}),
                ("/api/queues", "/api/queues", {}),
                ("/api/jobs?limit=10", "/api/jobs", {"limit": "10"}),
                (
                    "/api/metrics/timeseries",
                    "/api/metrics/timeseries",
                    {"since": "3600", "bucket": "60"},
                ),
                ("/readiness", "/readiness", {}),
            ],
        ),
        Page(
            "jobs",
            [
                ("/api/queues", "/api/queues", {}),
                ("/api/jobs page 1", "/api/jobs", jobs_page),
            ],
        ),
        Page(
            "jobs?status=failed",
            [
                ("/api/queues", "/api/queues", {}),
                ("/api/jobs status", "/api/jobs", {**jobs_page, "status": "failed"}),
            ],
        ),
        Page(
            "jobs?task=",
            [
                ("/api/queues", "/api/queues", {}),
                ("/api/jobs task", "/api/jobs", {**jobs_page, "task": task}),
            ],
        ),
        Page(
            "jobs?queue=&status=",
            [
                ("/api/queues", "/api/queues", {}),
                (
                    "/api/jobs queue+status",
                    "/api/jobs",
                    {**jobs_page, "queue": "emails", "status": "pending"},
                ),
            ],
        ),
        Page(
            "dead letters",
            [
                ("/api/dead-letters/groups", "/api/dead-letters/groups", {}),
                ("/api/dead-letters", "/api/dead-letters", {"limit": "21", "offset": "0"}),
            ],
        ),
        Page("queues", [("/api/queues", "/api/queues", {})]),
    ]


@dataclass
class Timings:
    by_route: dict[str, list[float]] = field(default_factory=dict)
    by_page: dict[str, list[float]] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(queue: Queue) -> Iterator[str]:
    """The dashboard of ``queue`` on a real uvicorn, on a free loopback port."""
    port = free_port()
    config = uvicorn.Config(
        create_app(queue, auth=False), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard-bench", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise SystemExit("the dashboard server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def load_page(client: httpx.Client, pool: ThreadPoolExecutor, page: Page, timings: Timings) -> None:
    def one(request: tuple[str, str, dict[str, str]]) -> tuple[str, float]:
        label, path, query = request
        started = time.perf_counter()
        response = client.get(path, params=query)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code not in (200, 503):  # readiness may say "degraded"
            raise SystemExit(f"{path}: HTTP {response.status_code}: {response.text[:200]}")
        return label, elapsed

    started = time.perf_counter()
    for label, elapsed in pool.map(one, page.requests):
        timings.by_route.setdefault(label, []).append(elapsed)
    timings.by_page.setdefault(page.name, []).append((time.perf_counter() - started) * 1000)


def measure(path: str, rounds: int) -> Timings:
    queue = Queue(db_path=path)
    timings = Timings()
    try:
        with (
            served(queue) as base,
            httpx.Client(base_url=base, timeout=60, headers={"Host": "127.0.0.1"}) as client,
            ThreadPoolExecutor(max_workers=8) as pool,
        ):
            every = pages(TASKS[7])
            for page in every:  # warm-up: connections, statement caches, the page cache
                load_page(client, pool, page, Timings())
            for _ in range(rounds):
                for page in every:
                    load_page(client, pool, page, timings)
    finally:
        queue.close()
    return timings


# --- the report -----------------------------------------------------------------------------


def percentile(values: Sequence[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))]


def line(label: str, values: Sequence[float]) -> str:
    return (
        f"  {label:<28} p50 {statistics.median(values):7.1f} ms   "
        f"p95 {percentile(values, 95):7.1f} ms   max {max(values):7.1f} ms"
    )


def report(timings: Timings, jobs: int, rounds: int) -> bool:
    print(
        f"{platform.platform()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs"
    )
    print(f"{jobs:,} jobs, {rounds} rounds per page\n\nper route:")
    for label, values in timings.by_route.items():
        print(line(label, values))
    print("\nper page (its requests sent together):")
    met = True
    for name, values in timings.by_page.items():
        verdict = ""
        if name in ("overview", "jobs"):
            ok = percentile(values, 95) < TARGET_MS
            met = met and ok
            verdict = f"   (target p95 < {TARGET_MS:.0f} ms: {'ok' if ok else 'ABOVE TARGET'})"
        print(line(name, values) + verdict)
    return met


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs in the table")
    parser.add_argument("--rounds", type=int, default=30, help="loads of each page")
    parser.add_argument(
        "--db",
        default=os.path.join(tempfile.gettempdir(), "taskito-dashboard-bigtable.db"),
        help="the database file (kept and reused between runs)",
    )
    parser.add_argument("--rebuild", action="store_true", help="build the file again")
    parser.add_argument("--check", action="store_true", help="exit 1 when above the target")
    args = parser.parse_args(argv)
    if args.jobs < 1000:
        parser.error("--jobs must be at least 1000")
    if args.rebuild or stored_jobs(args.db) != args.jobs:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(args.db + suffix):
                os.remove(args.db + suffix)
        started = time.perf_counter()
        build(args.db, args.jobs)
        print(f"built {args.db} in {time.perf_counter() - started:.1f} s")
    else:
        Queue(db_path=args.db).close()  # applies any newer migration to a kept file
        print(f"reusing {args.db}")
    met = report(measure(args.db, args.rounds), args.jobs, args.rounds)
    return 0 if met or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
