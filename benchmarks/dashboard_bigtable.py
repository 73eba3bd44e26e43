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
    python benchmarks/dashboard_bigtable.py --enqueue-cost       # what the indexes cost

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
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from bench_backend import remove_sqlite_files

from taskito import Queue

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


def middle_cursor(path: str, jobs: int) -> str:
    """``<created_at>,<id>`` of the job halfway down the table (its ids are ``n`` in hex):
    where the jobs page stands after 25,000 clicks on Next."""
    conn = sqlite3.connect(path)
    try:
        row = conn.execute(
            "SELECT created_at, id FROM jobs WHERE id = ?", (f"{jobs // 2:032x}",)
        ).fetchone()
    finally:
        conn.close()
    return f"{row[0]},{row[1]}"


def pages(task: str, deep: str, jobs: int) -> list[Page]:
    """The requests each page makes on first load (static/js/pages/*.js); ``deep``: a cursor
    halfway down the table, where Next takes the jobs page (and, for comparison, the same
    depth by offset, which the page no longer asks for)."""
    jobs_page = {"limit": "21"}
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
            "jobs, mid by cursor",
            [
                ("/api/queues", "/api/queues", {}),
                ("/api/jobs after=<mid>", "/api/jobs", {**jobs_page, "after": deep}),
            ],
        ),
        Page(
            "jobs?status=, mid by cursor",
            [
                ("/api/queues", "/api/queues", {}),
                (
                    "/api/jobs status after=<mid>",
                    "/api/jobs",
                    {**jobs_page, "status": "complete", "after": deep},
                ),
            ],
        ),
        Page(
            "jobs, mid by offset",
            [
                ("/api/queues", "/api/queues", {}),
                (
                    "/api/jobs offset=<mid>",
                    "/api/jobs",
                    {**jobs_page, "offset": str(jobs // 2)},
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


_SERVER = """
import sys
import uvicorn
from taskito import Queue
from taskito.dashboard import create_app

queue = Queue(db_path=sys.argv[1])
uvicorn.run(create_app(queue, auth=False), host="127.0.0.1", port=int(sys.argv[2]),
            log_level="warning")
"""


@contextmanager
def served(path: str) -> Iterator[str]:
    """The dashboard of a Queue on ``path``, on a real uvicorn in a child process (so the
    client's threads do not share the server's interpreter lock), on a free loopback port."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", _SERVER, path, str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the dashboard server did not start")
            time.sleep(0.05)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def get(client: httpx.Client, path: str, query: dict[str, str]) -> float:
    """One request; its time in ms."""
    started = time.perf_counter()
    response = client.get(path, params=query)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code not in (200, 503):  # readiness may say "degraded"
        raise SystemExit(f"{path}: HTTP {response.status_code}: {response.text[:200]}")
    return elapsed


def load_page(client: httpx.Client, pool: ThreadPoolExecutor, page: Page, timings: Timings) -> None:
    """The page's requests sent together, as the page sends them."""
    started = time.perf_counter()
    list(pool.map(lambda request: get(client, request[1], request[2]), page.requests))
    timings.by_page.setdefault(page.name, []).append((time.perf_counter() - started) * 1000)


def measure(path: str, rounds: int, jobs: int) -> Timings:
    timings = Timings()
    with (
        served(path) as base,
        httpx.Client(base_url=base, timeout=60, headers={"Host": "127.0.0.1"}) as client,
        ThreadPoolExecutor(max_workers=8) as pool,
    ):
        every = pages(TASKS[7], middle_cursor(path, jobs), jobs)
        for page in every:  # warm-up: connections, statement caches, the page cache
            load_page(client, pool, page, Timings())
        for _ in range(rounds):
            for page in every:
                for label, route, query in page.requests:  # each route alone
                    timings.by_route.setdefault(label, []).append(get(client, route, query))
                load_page(client, pool, page, timings)
    return timings


# --- what the indexes cost an enqueue ----------------------------------------------------


def enqueue_cost(rounds: int) -> None:
    """CPU time per job of ``delay()`` and ``map()`` on two fresh files, one without the
    dashboard's indexes (dropped after the migration), alternated round by round. CPU time
    of this process (SQLite runs in it) is steadier than wall time on a shared machine."""
    from taskito.storage.sqlite.schema import MIGRATIONS

    added = [statement.split()[2] for statement in MIGRATIONS[-1]]
    with tempfile.TemporaryDirectory(prefix="taskito-bench-") as directory:
        opened: dict[str, tuple[Queue, Any]] = {}
        for label in ("without", "with"):
            path = os.path.join(directory, f"{label}.db")
            queue = Queue(db_path=path, durable_enqueue=False)
            if label == "without":
                conn = sqlite3.connect(path)
                for name in added:
                    conn.execute(f"DROP INDEX {name}")
                conn.commit()
                conn.close()
            opened[label] = (queue, queue.task(name="bench.noop")(_noop))
        costs: dict[str, dict[str, list[float]]] = {k: {"delay": [], "map": []} for k in opened}
        try:
            for _ in range(rounds):
                for label, (_, task) in opened.items():
                    started = time.process_time()
                    for _ in range(3_000):
                        task.delay()
                    costs[label]["delay"].append((time.process_time() - started) / 3_000 * 1e6)
                    started = time.process_time()
                    task.map([() for _ in range(20_000)])
                    costs[label]["map"].append((time.process_time() - started) / 20_000 * 1e6)
        finally:
            for queue, _ in opened.values():
                queue.close()
    print(f"CPU per enqueued job, median of {rounds} rounds (indexes: {', '.join(added)}):")
    for label, by_call in costs.items():
        figures = ", ".join(f"{c}() {statistics.median(v):.1f} us" for c, v in by_call.items())
        print(f"  {label:<8} the dashboard indexes: {figures}")


def _noop() -> None:
    return None


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
    print(f"{jobs:,} jobs, {rounds} rounds per page\n\nper route (each request alone):")
    for label, values in timings.by_route.items():
        print(line(label, values))
    print("\nper page (its requests sent together, as the page does):")
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
    parser.add_argument(
        "--enqueue-cost",
        action="store_true",
        help="only measure what the dashboard's indexes cost an enqueue (CPU per job)",
    )
    args = parser.parse_args(argv)
    if args.enqueue_cost:
        enqueue_cost(rounds=6)
        return 0
    if args.jobs < 1000:
        parser.error("--jobs must be at least 1000")
    if args.rebuild or stored_jobs(args.db) != args.jobs:
        remove_sqlite_files(args.db)
        started = time.perf_counter()
        build(args.db, args.jobs)
        print(f"built {args.db} in {time.perf_counter() - started:.1f} s")
    else:
        Queue(db_path=args.db).close()  # applies any newer migration to a kept file
        print(f"reusing {args.db}")
    met = report(measure(args.db, args.rounds, args.jobs), args.jobs, args.rounds)
    return 0 if met or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
