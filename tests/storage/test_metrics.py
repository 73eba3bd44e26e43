"""Contract: task metrics. ``finish_many`` writes a ``Finish``'s metric as one row when (and
only when) its outcome applies; ``task_metrics`` reads a window, ``purge_metrics`` deletes the
oldest rows."""

from __future__ import annotations

from dataclasses import replace

import pytest

from taskito.job import AttemptMetric, JobRecord, JobStatus, OutcomeKind, TaskMetric, now_ms
from taskito.storage.base import Finish, Storage
from tests.storage.factories import start_job, status_of


def _metric(
    job: JobRecord, outcome: OutcomeKind = OutcomeKind.SUCCESS, **fields: object
) -> AttemptMetric:
    metric = AttemptMetric(
        task_name=job.task_name,
        queue=job.queue,
        outcome=outcome,
        started_at=job.started_at or 0,
        wall_ns=1_500_000,
    )
    return replace(metric, **fields)


def _finish(
    job: JobRecord, status: JobStatus, metric: AttemptMetric | None, **fields: object
) -> Finish:
    return Finish(
        job.id, job.attempt, status, **fields, worker_id=job.worker_id or "", metric=metric
    )


def _row(job: JobRecord, metric: AttemptMetric, finished_at: int) -> TaskMetric:
    return TaskMetric(
        job_id=job.id,
        attempt=job.attempt,
        task_name=metric.task_name,
        queue=metric.queue,
        outcome=metric.outcome,
        started_at=metric.started_at,
        finished_at=finished_at,
        wall_ns=metric.wall_ns,
    )


@pytest.mark.parametrize(
    ("status", "outcome", "fields"),
    [
        (JobStatus.COMPLETE, OutcomeKind.SUCCESS, {"result": b"42"}),
        (JobStatus.PENDING, OutcomeKind.FAILURE, {"error": "boom", "retry_at": 0}),
        (JobStatus.DEAD, OutcomeKind.TIMED_OUT, {"error": "too slow"}),
        (JobStatus.CANCELLED, OutcomeKind.CANCELLED, {}),
    ],
)
def test_an_applied_outcome_writes_its_metric_row(
    storage: Storage, status: JobStatus, outcome: OutcomeKind, fields: dict[str, object]
) -> None:
    job = start_job(storage, task_name="tests.measured")
    metric = _metric(job, outcome, wall_ns=2_345_678)
    now = now_ms()
    assert storage.finish_many([_finish(job, status, metric, **fields)], now) == [True]
    assert status_of(storage, job.id) is status
    assert storage.task_metrics(None, now - 1) == [_row(job, metric, now)]


def test_an_outcome_without_a_metric_writes_no_row(storage: Storage) -> None:
    job = start_job(storage)
    now = now_ms()
    assert storage.finish_many([_finish(job, JobStatus.COMPLETE, None)], now) == [True]
    assert storage.task_metrics(None, 0) == []


def test_a_dropped_outcome_writes_no_metric(storage: Storage) -> None:
    job = start_job(storage)
    now = now_ms()
    first = _finish(job, JobStatus.COMPLETE, _metric(job))
    late = _finish(job, JobStatus.DEAD, _metric(job, OutcomeKind.FAILURE), error="late")
    stranger = Finish(job.id, job.attempt, JobStatus.COMPLETE, worker_id="someone-else")
    assert storage.finish_many([first], now) == [True]
    assert storage.finish_many([late, replace(stranger, metric=_metric(job))], now + 1) == [
        False,
        False,
    ]
    assert storage.task_metrics(None, 0) == [_row(job, _metric(job), now)]


def test_a_mixed_batch_writes_the_metrics_of_the_outcomes_that_applied(storage: Storage) -> None:
    held = [start_job(storage, task_name=f"tests.t{n}") for n in range(3)]
    gone = start_job(storage)
    assert storage.finish_many([_finish(gone, JobStatus.COMPLETE, None)], now_ms()) == [True]
    now = now_ms()
    batch = [
        _finish(held[0], JobStatus.COMPLETE, _metric(held[0])),
        _finish(gone, JobStatus.COMPLETE, _metric(gone)),  # already finished: dropped
        _finish(held[1], JobStatus.PENDING, _metric(held[1], OutcomeKind.FAILURE), error="x"),
        _finish(held[2], JobStatus.COMPLETE, None),
        _finish(held[1], JobStatus.COMPLETE, _metric(held[1])),  # same attempt again: dropped
    ]
    assert storage.finish_many(batch, now) == [True, False, True, True, False]
    rows = storage.task_metrics(None, 0)
    assert sorted(rows, key=lambda row: row.task_name) == [
        _row(held[0], _metric(held[0]), now),
        _row(held[1], _metric(held[1], OutcomeKind.FAILURE), now),
    ]


def test_each_attempt_of_a_retried_job_has_its_row(storage: Storage) -> None:
    job = start_job(storage, task_name="tests.flaky")
    first_at = now_ms()
    failed = _metric(job, OutcomeKind.FAILURE, wall_ns=10)
    assert storage.finish_many(
        [_finish(job, JobStatus.PENDING, failed, error="boom", retry_at=first_at)], first_at
    ) == [True]
    (again,) = storage.claim("worker-1", [job.queue], None, 10, first_at + 5, 30_000)
    assert again.attempt == job.attempt + 1
    succeeded = _metric(again, wall_ns=20)
    assert storage.finish_many([_finish(again, JobStatus.COMPLETE, succeeded)], first_at + 10) == [
        True
    ]
    assert storage.task_metrics("tests.flaky", 0) == [
        _row(job, failed, first_at),
        _row(again, succeeded, first_at + 10),
    ]


def test_task_metrics_reads_a_window_of_one_task_or_all_oldest_first(storage: Storage) -> None:
    base = now_ms()
    written: list[TaskMetric] = []
    for offset, task in [(30, "tests.a"), (0, "tests.b"), (20, "tests.a"), (10, "tests.b")]:
        job = start_job(storage, task_name=task)
        metric = _metric(job, wall_ns=offset)
        assert storage.finish_many([_finish(job, JobStatus.COMPLETE, metric)], base + offset)
        written.append(_row(job, metric, base + offset))
    by_time = sorted(written, key=lambda row: row.finished_at)
    assert storage.task_metrics(None, base) == by_time
    assert storage.task_metrics(None, base + 10) == by_time[1:]  # since is inclusive
    assert storage.task_metrics(None, base + 31) == []
    assert storage.task_metrics("tests.a", base) == [
        row for row in by_time if row.task_name == "tests.a"
    ]
    assert storage.task_metrics("tests.b", base + 1) == [by_time[1]]
    assert storage.task_metrics("tests.nothing", 0) == []


def test_names_round_trip(storage: Storage) -> None:
    job = start_job(storage, task_name='tâche.ünïcode 🎯|,"[]', queue="q:ü|1")
    metric = _metric(job)
    now = now_ms()
    assert storage.finish_many([_finish(job, JobStatus.COMPLETE, metric)], now) == [True]
    assert storage.task_metrics(job.task_name, now) == [_row(job, metric, now)]


def test_purge_metrics_deletes_the_oldest_rows_before_the_cutoff(storage: Storage) -> None:
    base = now_ms()
    for offset in range(5):
        job = start_job(storage)
        assert storage.finish_many([_finish(job, JobStatus.COMPLETE, _metric(job))], base + offset)
    assert storage.purge_metrics(base + 3, 2) == 2
    assert [row.finished_at for row in storage.task_metrics(None, 0)] == [
        base + 2,
        base + 3,
        base + 4,
    ]
    assert storage.purge_metrics(base + 3, 100) == 1
    assert storage.purge_metrics(base + 3, 100) == 0
    assert [row.finished_at for row in storage.task_metrics(None, 0)] == [base + 3, base + 4]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"task_name": ""}, ValueError),
        ({"task_name": None}, TypeError),
        ({"queue": 7}, TypeError),
        ({"outcome": "success"}, TypeError),
        ({"started_at": 1.5}, TypeError),
        ({"wall_ns": -1}, ValueError),
        ({"wall_ns": 2**63}, ValueError),
        ({"wall_ns": True}, TypeError),
    ],
)
def test_a_bad_metric_is_refused_before_anything_is_written(
    storage: Storage, fields: dict[str, object], error: type[Exception]
) -> None:
    job = start_job(storage)
    bad = _metric(job, **fields)
    with pytest.raises(error, match="metric"):
        storage.finish_many([_finish(job, JobStatus.COMPLETE, bad)], now_ms())
    assert status_of(storage, job.id) is JobStatus.RUNNING
    assert storage.task_metrics(None, 0) == []


def test_a_metric_that_is_not_an_attempt_metric_is_refused(storage: Storage) -> None:
    job = start_job(storage)
    with pytest.raises(TypeError, match="AttemptMetric"):
        storage.finish_many(
            [_finish(job, JobStatus.COMPLETE, {"wall_ns": 1})],  # type: ignore[arg-type]
            now_ms(),
        )
    assert status_of(storage, job.id) is JobStatus.RUNNING


@pytest.mark.parametrize(
    ("task_name", "since", "error"),
    [("", 0, ValueError), (7, 0, TypeError), (None, 1.5, TypeError), (None, "0", TypeError)],
)
def test_task_metrics_refuses_bad_arguments(
    storage: Storage, task_name: object, since: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        storage.task_metrics(task_name, since)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("before", "limit", "error"),
    [(1.5, 10, TypeError), (0, 0, ValueError), (0, -1, ValueError), (0, "10", ValueError)],
)
def test_purge_metrics_refuses_bad_arguments(
    storage: Storage, before: object, limit: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        storage.purge_metrics(before, limit)  # type: ignore[arg-type]


def test_rows_that_share_a_finish_time_are_each_read_once(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis reads a window in chunks (made small here) resuming from the last score read;
    ties at a chunk's edge are neither skipped nor read twice."""
    monkeypatch.setattr("taskito.storage.redis.metrics.READ_CHUNK", 3)
    base = now_ms()
    expected: list[TaskMetric] = []
    for n, offset in enumerate([0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 3]):
        job = start_job(storage, task_name=f"tests.{n % 2}")
        metric = _metric(job, wall_ns=n)
        assert storage.finish_many([_finish(job, JobStatus.COMPLETE, metric)], base + offset)
        expected.append(_row(job, metric, base + offset))

    def key(row: TaskMetric) -> tuple[int, int]:
        return row.finished_at, row.wall_ns

    rows = storage.task_metrics(None, base)
    assert [row.finished_at for row in rows] == sorted(row.finished_at for row in expected)
    assert sorted(rows, key=key) == expected
    odd = storage.task_metrics("tests.1", base + 1)
    assert sorted(odd, key=key) == [
        r for r in expected if r.task_name == "tests.1" and r.finished_at > base
    ]
