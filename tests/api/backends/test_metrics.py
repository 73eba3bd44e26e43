"""Task metrics through the Queue on every backend: a real worker writes one row per finished
attempt with its outcome; ``metrics()`` / ``metrics_timeseries()`` (and their async mirrors)
summarise them; ``Queue(metrics_retention=...)`` turns them off or has the worker's scheduler
delete old ones; bad arguments raise clear errors."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from taskito import Queue
from taskito.job import AttemptMetric, JobStatus, OutcomeKind, TaskMetric, now_ms
from taskito.storage.base import Finish
from tests.api.backends.support import Backend, status_of, worker_thread
from tests.api.driving import claim
from tests.helpers import wait_until

SUMMARY_KEYS = {
    "count",
    "success_count",
    "failure_count",
    "avg_ms",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "min_ms",
    "max_ms",
}


def _rows(queue: Queue, task_name: str | None = None) -> list[TaskMetric]:
    return queue._storage.task_metrics(task_name, 0)


def _drain(queue: Queue, job_ids: list[str]) -> None:
    """Run a worker until every job has finished."""
    with worker_thread(queue):
        wait_until(
            lambda: all(status_of(queue, job_id) in ("complete", "dead") for job_id in job_ids),
            timeout_s=30,
            message="the jobs finished",
        )


def test_a_worker_writes_one_row_per_attempt(backend: Backend) -> None:
    queue = backend.queue()
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def attempt(key: str) -> int:
        with lock:
            calls[key] = calls.get(key, 0) + 1
            return calls[key]

    @queue.task(name="ok")
    def ok() -> str:
        return "fine"

    @queue.task(name="flaky", max_retries=3, retry_backoff=0.01, retry_delays=[0.0, 0.0])
    def flaky() -> str:
        if attempt("flaky") < 3:
            raise RuntimeError("not yet")
        return "finally"

    @queue.task(name="broken", max_retries=1, retry_backoff=0.01, retry_delays=[0.0])
    def broken() -> None:
        raise ValueError("always")

    started = now_ms()
    jobs = [ok.delay(), flaky.delay(), broken.delay()]
    _drain(queue, [job.id for job in jobs])
    assert [status_of(queue, job.id) for job in jobs] == ["complete", "complete", "dead"]

    [ok_row] = _rows(queue, "ok")
    assert (ok_row.job_id, ok_row.attempt, ok_row.outcome) == (jobs[0].id, 1, OutcomeKind.SUCCESS)
    assert ok_row.queue == "default"
    assert started <= ok_row.started_at <= ok_row.finished_at <= now_ms()
    assert ok_row.wall_ns > 0

    flaky_rows = _rows(queue, "flaky")
    assert [(row.attempt, row.outcome) for row in flaky_rows] == [
        (1, OutcomeKind.FAILURE),
        (2, OutcomeKind.FAILURE),
        (3, OutcomeKind.SUCCESS),
    ]
    assert {row.job_id for row in flaky_rows} == {jobs[1].id}
    assert [row.finished_at for row in flaky_rows] == sorted(row.finished_at for row in flaky_rows)

    broken_rows = _rows(queue, "broken")  # a retry, then the dead letter: both failures
    assert [(row.attempt, row.outcome) for row in broken_rows] == [
        (1, OutcomeKind.FAILURE),
        (2, OutcomeKind.FAILURE),
    ]

    figures = queue.metrics()
    assert list(figures) == ["broken", "flaky", "ok"]
    assert all(set(summary) == SUMMARY_KEYS for summary in figures.values())
    counts = {
        task: (summary["count"], summary["success_count"], summary["failure_count"])
        for task, summary in figures.items()
    }
    assert counts == {"ok": (1, 1, 0), "flaky": (3, 1, 2), "broken": (2, 0, 2)}
    ok_figures = figures["ok"]
    wall_ms = ok_row.wall_ns / 1e6
    for key in ("avg_ms", "p50_ms", "p95_ms", "p99_ms", "min_ms", "max_ms"):
        assert ok_figures[key] == pytest.approx(wall_ms, abs=1e-6)
    assert queue.metrics(task_name="flaky") == {"flaky": figures["flaky"]}
    assert queue.metrics(task_name="nothing") == {}


def test_timeseries_buckets_the_attempts(backend: Backend) -> None:
    queue = backend.queue()

    @queue.task(name="tick")
    def tick() -> None:
        return None

    jobs = [tick.delay() for _ in range(4)]
    _drain(queue, [job.id for job in jobs])
    rows = _rows(queue)
    series = queue.metrics_timeseries(bucket=3600)
    starts = sorted({row.finished_at - row.finished_at % 3_600_000 for row in rows})
    assert [point["timestamp"] for point in series] == starts
    assert sum(point["count"] for point in series) == 4
    assert sum(point["success"] for point in series) == 4
    assert all(point["failure"] == 0 for point in series)
    assert set(series[0]) == {
        "timestamp",
        "count",
        "success",
        "failure",
        "avg_ms",
        "p50_ms",
        "p95_ms",
        "p99_ms",
    }
    fine = queue.metrics_timeseries(task_name="tick", since=3600, bucket=1)
    assert sum(point["count"] for point in fine) == 4
    assert [point["timestamp"] for point in fine] == sorted(
        {row.finished_at - row.finished_at % 1000 for row in rows}
    )
    assert queue.metrics_timeseries(task_name="other") == []


def test_metrics_retention_zero_records_nothing(backend: Backend) -> None:
    queue = backend.queue(metrics_retention=0)

    @queue.task(name="quiet")
    def quiet() -> int:
        return 1

    job = quiet.delay()
    _drain(queue, [job.id])
    assert _rows(queue) == []
    assert queue.metrics() == {}


def _write_row(queue: Queue, task: str, finished_at: int) -> None:
    """A metric row that finished at ``finished_at``, written the way a worker writes it."""
    job = queue.enqueue(task, queue="setup")
    record = claim(queue, job.id)
    metric = AttemptMetric(task, "setup", OutcomeKind.SUCCESS, finished_at - 5, 1_000)
    finish = Finish(
        record.id,
        record.attempt,
        JobStatus.COMPLETE,
        worker_id=record.worker_id or "",
        metric=metric,
    )
    assert queue._storage.finish_many([finish], finished_at) == [True]


def test_the_worker_deletes_rows_past_the_retention(backend: Backend) -> None:
    queue = backend.queue(metrics_retention=3600)
    now = now_ms()
    _write_row(queue, "old", now - 3_700_000)
    _write_row(queue, "recent", now - 60_000)
    assert {row.task_name for row in _rows(queue)} == {"old", "recent"}
    assert set(queue.metrics(since=7200)) == {"old", "recent"}
    assert set(queue.metrics()) == {"recent"}  # the last hour only
    with worker_thread(queue, queues=["nothing-to-do"]):
        wait_until(
            lambda: [row.task_name for row in _rows(queue)] == ["recent"],
            timeout_s=15,
            message="the scheduler deleted the old row",
        )


def test_retention_none_keeps_rows_forever(backend: Backend) -> None:
    queue = backend.queue(metrics_retention=None)
    _write_row(queue, "ancient", 1_000)  # 1970

    @queue.task(name="later")
    def later() -> None:
        return None

    with worker_thread(queue):
        # The scheduler's first cleanup runs as the worker starts, before it finishes a job.
        job = later.delay()
        wait_until(lambda: status_of(queue, job.id) == "complete", timeout_s=15)
    assert [row.task_name for row in _rows(queue)] == ["ancient", "later"]


def test_async_mirrors(queue: Queue) -> None:
    now = now_ms()
    _write_row(queue, "a", now - 1000)
    _write_row(queue, "b", now - 500)

    async def read() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        figures = await queue.ametrics("a", 60)
        series = await queue.ametrics_timeseries(since=60, bucket=3600)
        return figures, series

    figures, series = asyncio.run(read())
    assert figures == queue.metrics("a", 60)
    assert list(figures) == ["a"]
    assert series == queue.metrics_timeseries(since=60, bucket=3600)
    assert sum(point["count"] for point in series) == 2


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        ({"since": -1}, ValueError, "since must be >= 0"),
        ({"since": 1.5}, TypeError, "since must be an int"),
        ({"since": "3600"}, TypeError, "since must be an int"),
        ({"since": True}, TypeError, "since must be an int"),
        ({"since": 10**13}, ValueError, "since must be <="),
        ({"task_name": ""}, ValueError, "task_name must be a non-empty string"),
        ({"task_name": 3}, TypeError, "task_name must be a str or None"),
    ],
)
def test_bad_arguments_are_refused(
    queue: Queue, call: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        queue.metrics(**call)
    with pytest.raises(error, match=match):
        queue.metrics_timeseries(**call)


@pytest.mark.parametrize(
    ("bucket", "error", "match"),
    [
        (0, ValueError, "bucket must be >= 1"),
        (-60, ValueError, "bucket must be >= 1"),
        (1.5, TypeError, "bucket must be an int"),
        (None, TypeError, "bucket must be an int"),
    ],
)
def test_bad_buckets_are_refused(
    queue: Queue, bucket: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        queue.metrics_timeseries(bucket=bucket)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("retention", "error", "match"),
    [
        (-1, ValueError, "metrics_retention must be >= 0"),
        (1.5, TypeError, "metrics_retention must be an int"),
        ("7d", TypeError, "metrics_retention must be an int"),
        (True, TypeError, "metrics_retention must be an int"),
        (10**13, ValueError, "metrics_retention must be <="),
    ],
)
def test_bad_retention_is_refused(
    backend: Backend, retention: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        backend.queue(metrics_retention=retention)


def test_retention_defaults_to_seven_days(queue: Queue) -> None:
    assert queue.settings.metrics_retention == 604_800
    assert queue._execution_env().metrics_retention_ms == 604_800_000
