"""Contract: get_job, list_jobs with every filter field, count_jobs, count_jobs_by_queue,
purge_completed."""

from __future__ import annotations

import pytest

from taskito.job import JobRecord, JobStatus, now_ms
from taskito.storage.base import Finish, JobFilter, Storage
from tests.storage.factories import claim_job, finish, make_job, start_job


def _ids(records: list[JobRecord]) -> list[str]:
    return [record.id for record in records]


@pytest.fixture
def catalogue(storage: Storage) -> dict[str, JobRecord]:
    """Jobs with distinct fields, created 1 s apart in this order."""
    base = now_ms() - 100_000
    specs = {
        "email": {"queue": "emails", "task_name": "send", "metadata": '{"user": "ann"}'},
        "report": {"queue": "reports", "task_name": "build", "metadata": '{"user": "bob"}'},
        "tenant": {"queue": "emails", "task_name": "send", "namespace": "tenant-a"},
        "percent": {"queue": "misc", "task_name": "odd", "metadata": "100%_done"},
        "failing": {"queue": "failures", "task_name": "build"},
    }
    made = {}
    for offset, (name, fields) in enumerate(specs.items()):
        made[name] = storage.enqueue(make_job(created_at=base + offset * 1_000, **fields))
    running = claim_job(storage, made["failing"].id)
    assert finish(storage, running, JobStatus.DEAD, error="ValueError: disk full")
    made["failing"] = storage.get_job(running.id)  # type: ignore[assignment]
    return made


def test_list_jobs_without_filters_is_newest_first(
    storage: Storage, catalogue: dict[str, JobRecord]
) -> None:
    listed = storage.list_jobs(JobFilter(), 50, 0)
    assert _ids(listed) == _ids(list(reversed(catalogue.values())))
    assert listed[0] == catalogue["failing"]


def test_jobs_created_in_the_same_millisecond_list_by_id_descending(storage: Storage) -> None:
    now = now_ms()
    jobs = [storage.enqueue(make_job(created_at=now)) for _ in range(5)]
    assert _ids(storage.list_jobs(JobFilter(), 50, 0)) == sorted(_ids(jobs), reverse=True)


def test_list_jobs_limit_and_offset(storage: Storage, catalogue: dict[str, JobRecord]) -> None:
    newest_first = _ids(list(reversed(catalogue.values())))
    assert _ids(storage.list_jobs(JobFilter(), 2, 0)) == newest_first[:2]
    assert _ids(storage.list_jobs(JobFilter(), 2, 2)) == newest_first[2:4]
    assert _ids(storage.list_jobs(JobFilter(), 2, 4)) == newest_first[4:]
    assert storage.list_jobs(JobFilter(), 2, 10) == []
    assert storage.list_jobs(JobFilter(), 0, 0) == []


@pytest.mark.parametrize(("limit", "offset"), [(-1, 0), (5, -1), (1.5, 0), (5, "0")])
def test_list_jobs_rejects_bad_paging(storage: Storage, limit: object, offset: object) -> None:
    with pytest.raises(ValueError):
        storage.list_jobs(JobFilter(), limit, offset)  # type: ignore[arg-type]


def test_list_jobs_rejects_a_filter_that_is_not_a_job_filter(storage: Storage) -> None:
    with pytest.raises(TypeError, match="JobFilter"):
        storage.list_jobs({"status": "pending"}, 10, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("job_filter", "expected"),
    [
        (JobFilter(status=JobStatus.DEAD), ["failing"]),
        (JobFilter(status=JobStatus.PENDING), ["percent", "tenant", "report", "email"]),
        (JobFilter(queue="emails"), ["tenant", "email"]),
        (JobFilter(task_name="build"), ["failing", "report"]),
        (JobFilter(queue="reports", status=JobStatus.PENDING), ["report"]),
        (JobFilter(namespace="tenant-a", any_namespace=False), ["tenant"]),
        (
            JobFilter(namespace=None, any_namespace=False),
            ["failing", "percent", "report", "email"],
        ),
        (JobFilter(namespace="tenant-a"), ["failing", "percent", "tenant", "report", "email"]),
        (JobFilter(metadata_like="ann"), ["email"]),
        (JobFilter(metadata_like="USER"), ["report", "email"]),
        (JobFilter(metadata_like="%"), ["percent"]),
        (JobFilter(metadata_like="0_d"), []),
        (JobFilter(metadata_like="%_"), ["percent"]),
        (JobFilter(error_like="disk"), ["failing"]),
        (JobFilter(error_like="nothing like it"), []),
    ],
)
def test_list_jobs_filters(
    storage: Storage,
    catalogue: dict[str, JobRecord],
    job_filter: JobFilter,
    expected: list[str],
) -> None:
    assert _ids(storage.list_jobs(job_filter, 50, 0)) == [catalogue[n].id for n in expected]


def test_list_jobs_created_window_is_inclusive(
    storage: Storage, catalogue: dict[str, JobRecord]
) -> None:
    report_at = catalogue["report"].created_at
    tenant_at = catalogue["tenant"].created_at
    window = JobFilter(created_after=report_at, created_before=tenant_at)
    assert _ids(storage.list_jobs(window, 50, 0)) == [
        catalogue["tenant"].id,
        catalogue["report"].id,
    ]
    after = JobFilter(created_after=tenant_at + 1)
    assert _ids(storage.list_jobs(after, 50, 0)) == [
        catalogue["failing"].id,
        catalogue["percent"].id,
    ]
    before = JobFilter(created_before=report_at - 1)
    assert _ids(storage.list_jobs(before, 50, 0)) == [catalogue["email"].id]


def test_count_jobs_reports_every_status(storage: Storage, catalogue: dict[str, JobRecord]) -> None:
    claim_job(storage, catalogue["report"].id)
    counts = storage.count_jobs()
    assert counts == {
        JobStatus.PENDING: 3,
        JobStatus.RUNNING: 1,
        JobStatus.COMPLETE: 0,
        JobStatus.FAILED: 0,
        JobStatus.DEAD: 1,
        JobStatus.CANCELLED: 0,
    }
    assert storage.count_jobs("reports") == {**dict.fromkeys(JobStatus, 0), JobStatus.RUNNING: 1}
    assert storage.count_jobs("failures") == {**dict.fromkeys(JobStatus, 0), JobStatus.DEAD: 1}
    assert storage.count_jobs("no-such-queue") == dict.fromkeys(JobStatus, 0)


def test_count_jobs_of_an_empty_database(storage: Storage) -> None:
    assert storage.count_jobs() == dict.fromkeys(JobStatus, 0)
    assert storage.count_jobs_by_queue() == {}


def test_count_jobs_by_queue(storage: Storage, catalogue: dict[str, JobRecord]) -> None:
    zero = dict.fromkeys(JobStatus, 0)
    assert storage.count_jobs_by_queue() == {
        "emails": {**zero, JobStatus.PENDING: 2},
        "reports": {**zero, JobStatus.PENDING: 1},
        "failures": {**zero, JobStatus.DEAD: 1},
        "misc": {**zero, JobStatus.PENDING: 1},
    }


def test_purge_completed_deletes_old_complete_jobs_and_their_rows(storage: Storage) -> None:
    old = start_job(storage, max_retries=2)
    assert finish(storage, old, JobStatus.PENDING, error="first try", retry_at=now_ms())
    old = claim_job(storage, old.id)
    storage.add_log(old.id, old.task_name, "info", "working", None, now_ms())
    child = storage.enqueue(make_job(depends_on=(old.id,)))
    finished_at = now_ms()
    assert storage.finish_many(
        [Finish(old.id, old.attempt, JobStatus.COMPLETE, worker_id=old.worker_id)], finished_at
    ) == [True]
    dead = start_job(storage)
    assert finish(storage, dead, JobStatus.DEAD, error="x")
    assert storage.purge_completed(finished_at) == 0
    assert storage.purge_completed(finished_at + 1) == 1
    assert storage.get_job(old.id) is None
    assert storage.job_errors(old.id) == [] and storage.task_logs(old.id) == []
    assert storage.dependents(old.id) == [] and storage.dependencies(child.id) == []
    assert storage.get_job(child.id) is not None
    assert storage.get_job(dead.id) is not None
    assert storage.purge_completed(finished_at + 1) == 0


def test_list_jobs_status_filter_accepts_the_status_name(storage: Storage) -> None:
    job = storage.enqueue(make_job())
    by_name = JobFilter(status="pending")  # type: ignore[arg-type]
    assert _ids(storage.list_jobs(by_name, 10, 0)) == [job.id]
    with pytest.raises(ValueError, match="Invalid status"):
        storage.list_jobs(JobFilter(status="waiting"), 10, 0)  # type: ignore[arg-type]
