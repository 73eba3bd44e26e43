"""``PrometheusMiddleware`` under a real prefork worker (``taskito worker --pool prefork`` as a
subprocess): with ``PROMETHEUS_MULTIPROC_DIR`` set, what the children count and what the
worker's own process counts reach one scrape, and a child killed mid-job leaves no running
job behind in the gauge."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskito import Queue
from taskito.contrib.prometheus import (
    PrometheusStatsCollector,
    serving_registry,
    start_metrics_server,
)
from taskito.contrib.prometheus.registries import forget_exited_processes
from tests.contrib.workers import wait_for_final
from tests.helpers import wait_until

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="prefork is POSIX only")

APP = """
import os
import time

from taskito import Queue
from taskito.contrib.prometheus import PrometheusMiddleware

here = os.path.dirname(os.path.abspath(__file__))
queue = Queue(db_path=os.path.join(here, "jobs.db"), middleware=[PrometheusMiddleware()])


@queue.task(name="add")
def add(a, b):
    return a + b


@queue.task(name="flaky", max_retries=1, retry_delays=[0.01])
def flaky():
    raise ValueError("always")


@queue.task(name="stuck", timeout=0.5, max_retries=0)
def stuck():
    time.sleep(60)
"""


WORKER_COMMAND = (sys.executable, "-m", "taskito", "worker")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "prom_app.py").write_text(textwrap.dedent(APP).lstrip())
    (tmp_path / "metrics").mkdir()
    return tmp_path


@pytest.fixture
def producer(app_dir: Path) -> Iterator[Queue]:
    queue = Queue(db_path=str(app_dir / "jobs.db"))
    try:
        yield queue
    finally:
        queue.close()


@pytest.fixture
def prefork_worker(app_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(app_dir / "metrics")}
    with open(app_dir / "worker.log", "wb") as log:
        worker = subprocess.Popen(
            [*WORKER_COMMAND, "--app", "prom_app:queue", "--pool", "prefork", "--workers", "2"],
            cwd=app_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield worker
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def _without_stuck(samples: Samples) -> Samples | None:
    """The samples, once no running job of ``stuck`` is counted."""
    return None if samples.get(("taskito_jobs_active", frozenset({("task", "stuck")}))) else samples


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.slow
def test_children_and_the_worker_process_reach_one_scrape(
    app_dir: Path,
    producer: Queue,
    prefork_worker: subprocess.Popen[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(app_dir / "metrics"))
    # Storage read afresh at each scrape (the default keeps a read for 5 s).
    PrometheusStatsCollector(producer, serving_registry(), interval=0.01)
    server = start_metrics_server(0)
    try:
        # The producer does not import the app: the options the tasks declare are given here.
        stuck = producer.enqueue("stuck", timeout=1.5, max_retries=0)
        wait_until(
            lambda: (
                scrape(server.url).get(("taskito_jobs_active", frozenset({("task", "stuck")}))) == 1
            ),
            timeout_s=30,
            message="the stuck job counted as running in its child",
        )
        jobs = [producer.enqueue("add", (i, 1)) for i in range(4)]
        jobs += [producer.enqueue("flaky", max_retries=1), stuck]
        statuses = wait_for_final(producer, jobs, timeout_s=60)
        log = (app_dir / "worker.log").read_text(errors="replace")
        assert statuses == ["complete"] * 4 + ["dead", "dead"], log
        # The child killed at the deadline held the stuck job: once it is gone, so is its
        # count (the outcome may be written a moment before the kill).
        samples = wait_until(
            lambda: _without_stuck(scrape(server.url)),
            timeout_s=10,
            message="the killed child's count of running jobs to go",
        )
    finally:
        server.close()

    def metric(name: str, **labels: str) -> float | None:
        return samples.get((name, frozenset(labels.items())))

    # Counted in the children, by before/after.
    assert metric("taskito_jobs_total", task="add", status="completed") == 4
    assert metric("taskito_jobs_total", task="flaky", status="failed") == 2
    assert metric("taskito_job_duration_seconds_count", task="add") == 4
    # Counted in the worker's own process, by the outcome hooks.
    assert metric("taskito_job_retries_total", task="flaky") == 1
    assert metric("taskito_dead_letters_total", task="flaky") == 1
    assert metric("taskito_dead_letters_total", task="stuck") == 1
    assert metric("taskito_job_timeouts_total", task="stuck") == 1
    assert metric("taskito_jobs_active", task="add") == 0
    # The statistics collector, read in this process.
    assert metric("taskito_workers_live") == 1
    assert metric("taskito_worker_capacity") == 2
    assert metric("taskito_queue_depth", queue="default", status="dead") == 2
    assert prefork_worker.poll() is None, log


def test_the_live_gauges_of_exited_processes_are_forgotten(tmp_path: Path) -> None:
    """A process that set a live gauge and a counter, then exited: its gauge file goes, its
    counter stays (what it counted still counts), and a live process's gauge stays."""
    source = """
from prometheus_client import Counter, Gauge
Gauge("held", "held", multiprocess_mode="livesum").set(1)
Counter("done", "done").inc()
"""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", source], env=env, check=True, timeout=30)
    (gone,) = tmp_path.glob("gauge_livesum_*.db")
    (counted,) = tmp_path.glob("counter_*.db")
    mine = tmp_path / f"gauge_livesum_{os.getpid()}.db"
    mine.write_bytes(b"")
    assert forget_exited_processes(str(tmp_path)) == [int(gone.stem.rsplit("_", 1)[1])]
    assert (gone.exists(), counted.exists(), mine.exists()) == (False, True, True)
    assert forget_exited_processes(str(tmp_path)) == []
