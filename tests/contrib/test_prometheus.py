"""``taskito.contrib.prometheus`` with a real worker (thread pool) and a real HTTP scrape: the
middleware's counters, the statistics collector, ``start_metrics_server``, ``render_metrics``,
and every argument check."""

from __future__ import annotations

import logging
import threading
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from taskito import Queue, TaskCancelledError
from taskito.contrib.prometheus import (
    PrometheusMiddleware,
    PrometheusStatsCollector,
    render_metrics,
    serving_registry,
    start_metrics_server,
)
from tests.backends import BACKEND_NAMES, queue_target
from tests.contrib.workers import MakeQueue, running_worker, wait_for_final
from tests.helpers import wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def scrape(url: str) -> tuple[Samples, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return parse(response.read().decode()), response.headers["Content-Type"]


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def test_a_worker_s_jobs_are_scraped_over_http(
    make_queue: MakeQueue, registry: CollectorRegistry
) -> None:
    queue = make_queue(middleware=[PrometheusMiddleware(registry=registry)], workers=2)

    @queue.task(name="add")
    def add(a: int, b: int) -> int:
        return a + b

    @queue.task(name="flaky", max_retries=1, retry_delays=[0.01])
    def flaky() -> None:
        raise ValueError("always")

    @queue.task(name="gives_up")
    def gives_up() -> None:
        raise TaskCancelledError("stopping on request")

    jobs = [add.delay(i, 1) for i in range(3)] + [flaky.delay(), gives_up.delay()]
    with running_worker(queue):
        assert wait_for_final(queue, jobs) == ["complete"] * 3 + ["dead", "cancelled"]
        with start_metrics_server(0, registry=registry, queue=queue) as server:
            assert server.host == "127.0.0.1"
            samples, content_type = scrape(server.url)
    assert content_type.startswith("text/plain")
    assert value(samples, "taskito_jobs_total", task="add", status="completed") == 3
    assert value(samples, "taskito_jobs_total", task="flaky", status="failed") == 2
    assert value(samples, "taskito_jobs_total", task="gives_up", status="cancelled") == 1
    assert value(samples, "taskito_job_duration_seconds_count", task="add") == 3
    assert value(samples, "taskito_job_retries_total", task="flaky") == 1
    assert value(samples, "taskito_dead_letters_total", task="flaky") == 1
    assert value(samples, "taskito_jobs_active", task="add") == 0
    # The statistics, read from storage while the worker ran.
    assert value(samples, "taskito_stats_up") == 1
    assert value(samples, "taskito_queue_depth", queue="default", status="completed") == 3
    assert value(samples, "taskito_queue_depth", queue="default", status="dead") == 1
    assert value(samples, "taskito_queue_depth", queue="default", status="cancelled") == 1
    assert value(samples, "taskito_queue_depth", queue="default", status="pending") == 0
    assert value(samples, "taskito_queue_dead_letters", queue="default") == 1
    assert value(samples, "taskito_workers_live") == 1
    assert value(samples, "taskito_worker_capacity") == 2
    assert value(samples, "taskito_worker_utilization") == 0


def test_jobs_active_counts_tasks_while_they_run(
    make_queue: MakeQueue, registry: CollectorRegistry
) -> None:
    queue = make_queue(middleware=[PrometheusMiddleware(registry=registry)], workers=2)
    release = threading.Event()

    @queue.task(name="hold")
    def hold() -> None:
        release.wait(20)

    def active() -> float | None:
        return registry.get_sample_value("taskito_jobs_active", {"task": "hold"})

    def utilization() -> float | None:
        return registry.get_sample_value("taskito_worker_utilization")

    jobs = [hold.delay(), hold.delay()]
    PrometheusStatsCollector(queue, registry, interval=0.01)
    try:
        with running_worker(queue):
            wait_until(lambda: active() == 2, message="two tasks counted as running")
            wait_until(lambda: utilization() == 1.0, message="utilisation 1 with 2 of 2 busy")
            release.set()
            wait_for_final(queue, jobs)
            wait_until(lambda: active() == 0, message="no task counted as running")
    finally:
        release.set()


def test_the_statistics_are_read_at_most_once_per_interval(
    make_queue: MakeQueue, registry: CollectorRegistry
) -> None:
    queue = make_queue()

    @queue.task(name="noop")
    def noop() -> None: ...

    collector = PrometheusStatsCollector(queue, registry, interval=3600)
    pending = {"queue": "default", "status": "pending"}
    noop.delay()
    assert registry.get_sample_value("taskito_queue_depth", pending) == 1
    noop.delay()
    assert registry.get_sample_value("taskito_queue_depth", pending) == 1  # the cached read
    collector.interval = 0.01
    wait_until(lambda: registry.get_sample_value("taskito_queue_depth", pending) == 2)


def test_a_failed_read_reports_stats_up_zero_and_logs(
    make_queue: MakeQueue, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue()
    PrometheusStatsCollector(queue, registry, interval=0.01)
    assert registry.get_sample_value("taskito_stats_up") == 1
    queue.close()
    with caplog.at_level(logging.WARNING, logger="taskito.contrib.prometheus"):
        wait_until(lambda: registry.get_sample_value("taskito_stats_up") == 0)
    assert registry.get_sample_value("taskito_workers_live") is None
    assert "reading queue statistics for Prometheus failed" in caplog.text


def test_render_metrics_registers_the_queue_s_collector_once(
    make_queue: MakeQueue, registry: CollectorRegistry
) -> None:
    queue = make_queue()
    PrometheusMiddleware(registry=registry)
    body, content_type = render_metrics(queue, registry)
    again, _ = render_metrics(queue, registry)
    assert content_type == "text/plain; version=1.0.0; charset=utf-8"
    families = [family.name for family in text_string_to_metric_families(again.decode())]
    assert families.count("taskito_queue_depth") == 1
    assert "taskito_jobs" in families  # the middleware's metrics in the same registry
    assert parse(body.decode()).keys() == parse(again.decode()).keys()


def test_render_metrics_without_a_registry_serves_each_queue_its_own_depth(
    make_queue: MakeQueue, tmp_path: Path
) -> None:
    """Two Queues of one process (a dashboard each, or the tests) do not clash over the
    statistics' names in the default registry: each exposition holds its own Queue's depth."""
    first = make_queue(db_path=str(tmp_path / "first.db"))
    second = make_queue(db_path=str(tmp_path / "second.db"))
    first.enqueue("t", queue="a")
    for _ in range(3):
        second.enqueue("t", queue="b")

    def pending(queue: Queue) -> dict[str, float]:
        body, _ = render_metrics(queue)
        return {
            sample.labels["queue"]: sample.value
            for family in text_string_to_metric_families(body.decode())
            if family.name == "taskito_queue_depth"
            for sample in family.samples
            if sample.labels["status"] == "pending"
        }

    assert pending(first) == {"a": 1.0}
    assert pending(second) == {"b": 3.0}
    assert pending(first) == {"a": 1.0}  # served again from its own registry


def test_render_metrics_serves_the_multiprocess_directory_when_it_is_set(
    make_queue: MakeQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert serving_registry() is REGISTRY
    given = CollectorRegistry()
    assert serving_registry(given) is given
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    served = serving_registry()
    assert served is not REGISTRY
    assert serving_registry() is served  # one per directory
    queue = make_queue()
    body, _ = render_metrics(queue)
    assert value(parse(body.decode()), "taskito_stats_up") == 1
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="is not a directory"):
        serving_registry()


def test_middlewares_of_one_namespace_and_registry_share_their_metrics(
    registry: CollectorRegistry,
) -> None:
    first = PrometheusMiddleware(registry=registry)
    second = PrometheusMiddleware(registry=registry)
    assert first.metrics is second.metrics
    other = PrometheusMiddleware("billing", registry)
    assert other.metrics is not first.metrics
    with pytest.raises(ValueError, match="already exists in this registry with buckets"):
        PrometheusMiddleware(registry=registry, buckets=[1.0, 2.0])


def test_hooks_are_safe_without_a_before(registry: CollectorRegistry) -> None:
    """``after`` without ``before`` (a middleware added while a job ran) counts the outcome."""

    class Ctx:
        id, task_name, queue_name, retry_count = "j1", "t", "default", 0

    middleware = PrometheusMiddleware(registry=registry)
    middleware.after(Ctx(), None, RuntimeError("x"))
    middleware.on_timeout(Ctx())
    samples = parse(generate_latest(registry).decode())
    assert value(samples, "taskito_jobs_total", task="t", status="failed") == 1
    assert value(samples, "taskito_job_timeouts_total", task="t") == 1


def test_one_collector_per_queue_and_registry(
    make_queue: MakeQueue, tmp_path: Path, registry: CollectorRegistry
) -> None:
    queue = make_queue()
    collector = PrometheusStatsCollector(queue, registry)
    with pytest.raises(ValueError, match="already has a PrometheusStatsCollector"):
        PrometheusStatsCollector(queue, registry)
    other = make_queue(db_path=str(tmp_path / "other.db"))
    with pytest.raises(ValueError, match="give each Queue its own registry or namespace"):
        PrometheusStatsCollector(other, registry)
    PrometheusStatsCollector(other, registry, namespace="other")
    collector.close()
    collector.close()
    PrometheusStatsCollector(queue, registry)  # registered again after close()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"namespace": 3}, TypeError, "namespace must be a str"),
        ({"namespace": "9lives"}, ValueError, "namespace must be a Prometheus metric name"),
        ({"namespace": "a-b"}, ValueError, "namespace must be a Prometheus metric name"),
        ({"registry": "default"}, TypeError, "registry must be a prometheus_client"),
        ({"buckets": "1,2"}, TypeError, "buckets must be a list of numbers"),
        ({"buckets": []}, ValueError, "buckets must not be empty"),
        ({"buckets": [1, "2"]}, TypeError, "buckets must hold numbers"),
        ({"buckets": [1, float("inf")]}, ValueError, "buckets must be finite"),
        ({"buckets": [2, 1]}, ValueError, "buckets must increase"),
    ],
)
def test_middleware_arguments_are_checked(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    kwargs.setdefault("registry", CollectorRegistry())
    with pytest.raises(error, match=message):
        PrometheusMiddleware(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"interval": 0}, ValueError, "interval must be a positive number of seconds"),
        ({"interval": float("nan")}, ValueError, "interval must be a positive number"),
        ({"interval": "5"}, TypeError, "interval must be a number of seconds"),
        ({"namespace": ""}, ValueError, "namespace must be a Prometheus metric name"),
        ({"registry": object()}, TypeError, "registry must be a prometheus_client"),
    ],
)
def test_collector_arguments_are_checked(
    queue_for_checks: Queue, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    kwargs.setdefault("registry", CollectorRegistry())
    with pytest.raises(error, match=message):
        PrometheusStatsCollector(queue_for_checks, **kwargs)  # type: ignore[arg-type]


def test_the_collector_needs_a_queue() -> None:
    with pytest.raises(TypeError, match=r"queue must be a taskito\.Queue, not str"):
        PrometheusStatsCollector("sqlite:///x.db", CollectorRegistry())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((-1,), ValueError, "port must be from 0 to 65535"),
        ((70000,), ValueError, "port must be from 0 to 65535"),
        (("9000",), TypeError, "port must be an int"),
        ((True,), TypeError, "port must be an int"),
        ((0, ""), TypeError, "addr must be a non-empty str"),
        ((0, "127.0.0.1", {}), TypeError, "registry must be a prometheus_client"),
    ],
)
def test_server_arguments_are_checked(
    args: tuple[object, ...], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        start_metrics_server(*args)  # type: ignore[arg-type]


def test_the_server_closes_cleanly_and_twice(registry: CollectorRegistry) -> None:
    server = start_metrics_server(0, registry=registry)
    assert repr(server) == f"<MetricsServer {server.url}>"
    server.close()
    server.close()
    assert repr(server) == "<MetricsServer closed>"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=2)


@pytest.fixture
def queue_for_checks(make_queue: MakeQueue) -> Queue:
    return make_queue()


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_the_statistics_come_from_every_backend(
    backend: str, tmp_path: Path, registry: CollectorRegistry
) -> None:
    target = queue_target(backend, tmp_path)
    try:
        with Queue(**target.kwargs, workers=3) as queue:

            @queue.task(name="ping", queue="alerts")
            def ping() -> str:
                return "pong"

            done = ping.delay()
            with running_worker(queue):
                wait_for_final(queue, [done])
                ping.apply_async(delay=3600)  # stays pending
                collector = PrometheusStatsCollector(queue, registry)
                samples = parse(generate_latest(registry).decode())
                collector.close()
    finally:
        target.cleanup()
    assert value(samples, "taskito_queue_depth", queue="alerts", status="completed") == 1
    assert value(samples, "taskito_queue_depth", queue="alerts", status="pending") == 1
    assert (value(samples, "taskito_workers_live"), value(samples, "taskito_worker_capacity")) == (
        1,
        3,
    )
