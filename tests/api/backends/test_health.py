"""Readiness and the KEDA scaler payload on every backend, with a real worker process
registered on the database (``tests/worker/worker_process.py``): live workers and their
capacity, running and pending counts per queue, a draining worker, a dead one whose row went
stale, and (Postgres) a storage that stops answering."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from taskito import Queue
from taskito.health import check_readiness
from taskito.scaler import build_scaler_response
from tests.api.backends.support import Backend, open_backend, status_of
from tests.helpers import wait_until
from tests.worker.harness import WORKER_SCRIPT

#: Long enough to stay running for the whole test; the process is killed at the end.
LONG_S = 60.0


@contextmanager
def worker_process(backend: Backend, log: Path, **options: Any) -> Iterator[subprocess.Popen[str]]:
    """A worker in its own process on the backend's database (task ``record(sleep_s)``),
    registered before the block starts; killed and waited for at the end."""
    settings = {"heartbeat_interval_s": 0.2, **options}
    process = subprocess.Popen(
        [
            sys.executable,
            str(WORKER_SCRIPT),
            json.dumps(backend.target.storage_kwargs()),
            str(log),
            json.dumps(settings),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def live_count(queue: Queue) -> int:
    report = check_readiness(queue, timeout_s=10)
    return int(report["checks"]["workers"].get("count", 0))


def test_readiness_without_workers_is_ready_and_says_none(queue: Queue, backend: Backend) -> None:
    report = check_readiness(queue)
    assert report["status"] == "ready"
    storage = report["checks"]["storage"]
    assert storage["status"] == "ok" and storage["backend"] == backend.name
    assert storage["latency_ms"] >= 0
    assert report["checks"]["workers"] == {
        "status": "none",
        "count": 0,
        "active": 0,
        "draining": 0,
        "stale": 0,
        "capacity": 0,
        "stale_after_s": 10.0,
    }
    assert report["checks"]["resources"] == {"status": "ok", "unhealthy": []}


def test_the_scaler_payload_counts_jobs_and_the_live_workers_of_each_queue(
    queue: Queue, backend: Backend, tmp_path: Path
) -> None:
    with worker_process(backend, tmp_path / "log", threads=3, queues=["a"]):
        wait_until(lambda: live_count(queue) == 1, 30, 0.05, message="the worker registered")
        running = [queue.enqueue("record", args=(LONG_S,), queue="a").id for _ in range(2)]
        wait_until(lambda: all(status_of(queue, j) == "running" for j in running), 30)
        queue.enqueue("record", args=(0,), queue="a", delay=3600)  # pending, not yet due
        queue.enqueue("record", args=(0,), queue="b")
        queue.enqueue("record", args=(0,), queue="b")

        everything = build_scaler_response(queue)
        per_queue = {"a": {"pending": 1, "running": 2}, "b": {"pending": 2, "running": 0}}
        assert everything == {
            "metricName": "taskito_queue_depth",
            "metricValue": 3,
            "isActive": True,
            "liveWorkers": 1,
            "totalCapacity": 3,
            "targetQueueDepth": 10,
            "workerUtilization": 0.667,
            "perQueue": per_queue,
        }
        assert build_scaler_response(queue, "a", target_queue_depth=4) == {
            **everything,
            "metricName": "taskito_queue_depth_a",
            "metricValue": 1,
            "targetQueueDepth": 4,
        }
        # Nothing consumes "b": its jobs wait, and no capacity serves them.
        assert build_scaler_response(queue, "b") == {
            **everything,
            "metricName": "taskito_queue_depth_b",
            "metricValue": 2,
            "liveWorkers": 0,
            "totalCapacity": 0,
            "workerUtilization": 0.0,
        }
        idle = build_scaler_response(queue, "nothing-here")
        assert (idle["metricValue"], idle["isActive"], idle["perQueue"]) == (0, False, per_queue)

        report = check_readiness(queue)
        assert report["status"] == "ready"
        workers = report["checks"]["workers"]
        assert (workers["status"], workers["count"], workers["capacity"]) == ("ok", 1, 3)


def test_a_draining_worker_has_no_capacity_and_a_dead_one_goes_stale(
    queue: Queue, backend: Backend, tmp_path: Path
) -> None:
    with worker_process(backend, tmp_path / "log", threads=2) as process:
        wait_until(lambda: live_count(queue) == 1, 30, 0.05, message="the worker registered")
        job = queue.enqueue("record", args=(LONG_S,)).id
        wait_until(lambda: status_of(queue, job) == "running", 30)

        process.send_signal(signal.SIGTERM)  # drains: keeps its running job, takes no more

        def draining() -> dict[str, Any]:
            workers: dict[str, Any] = check_readiness(queue)["checks"]["workers"]
            return workers if workers["status"] == "draining" else {}

        workers = wait_until(draining, 30, 0.05, message="the worker reported draining")
        assert (workers["count"], workers["active"], workers["draining"]) == (1, 0, 1)
        assert workers["capacity"] == 0
        payload = build_scaler_response(queue)
        assert (payload["liveWorkers"], payload["totalCapacity"]) == (1, 0)
        assert (payload["isActive"], payload["workerUtilization"]) == (True, 0.0)

        process.kill()  # dies without unregistering: its row stops heartbeating
        process.wait(30)

        def degraded() -> dict[str, Any]:
            report: dict[str, Any] = check_readiness(queue, stale_after_s=1.0)
            return report if report["status"] == "degraded" else {}

        report = wait_until(degraded, 30, 0.05, message="the dead worker's row went stale")
        stale = report["checks"]["workers"]
        assert (stale["status"], stale["count"], stale["stale"]) == ("stale", 0, 1)
        assert report["checks"]["storage"]["status"] == "ok"


@contextmanager
def workers_table_locked(backend: Backend) -> Iterator[None]:
    """Postgres: another session holds ACCESS EXCLUSIVE on this schema's worker table, so
    every read of it waits (a stuck migration or a long admin transaction)."""
    import psycopg
    from psycopg import sql

    schema = backend.target.kwargs["schema"]
    with psycopg.connect(backend.target.kwargs["db_url"], connect_timeout=5) as conn:
        table = sql.Identifier(schema, "workers")
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table))
        try:
            yield
        finally:
            conn.rollback()


def probe_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "taskito-readiness-probe"]


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Backend]:
    with open_backend("postgres", tmp_path) as opened:
        yield opened


def test_a_storage_that_stops_answering_is_a_bounded_not_ready(postgres: Backend) -> None:
    # Postgres only: it is where a table lock blocks readers. The bound itself is the same
    # code on every backend.
    backend, queue = postgres, postgres.queue()
    assert check_readiness(queue)["status"] == "ready"
    with workers_table_locked(backend):
        for _ in range(3):
            report = check_readiness(queue, timeout_s=0.3)
            assert report == {
                "status": "not_ready",
                "checks": {
                    "storage": {
                        "status": "timeout",
                        "error": "storage did not answer within 0.3 s",
                    },
                    "workers": {"status": "unknown"},
                    "resources": {"status": "unknown"},
                },
            }
        # The checks shared the one pending round trip instead of piling up threads.
        assert len(probe_threads()) == 1
    wait_until(lambda: check_readiness(queue, timeout_s=5)["status"] == "ready", 10)
    wait_until(lambda: not probe_threads(), 10, message="the probe thread ended")
