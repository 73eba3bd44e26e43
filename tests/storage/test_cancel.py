"""Contract: cancel, cancel_pending, request_cancel, cancel_requests, purge_queue,
revoke_task."""

from __future__ import annotations

import threading

import pytest

from taskito.job import JobRecord, JobStatus, now_ms
from taskito.storage.base import CancelResult, Finish, Storage
from tests.storage.factories import LEASE_MS, claim_all, finish, make_job, start_job, status_of


def _get(storage: Storage, job_id: str) -> JobRecord:
    record = storage.get_job(job_id)
    assert record is not None
    return record


def test_cancel_pending_cancels_without_error(storage: Storage) -> None:
    job = storage.enqueue(make_job())
    now = now_ms()
    assert storage.cancel_pending(job.id, now) is True
    record = _get(storage, job.id)
    assert record.status is JobStatus.CANCELLED
    assert record.error is None
    assert record.completed_at == now
    assert claim_all(storage) == []


def test_cancel_pending_of_a_delayed_job(storage: Storage) -> None:
    job = storage.enqueue(make_job(scheduled_at=now_ms() + 3_600_000))
    assert storage.cancel_pending(job.id, now_ms())
    assert status_of(storage, job.id) is JobStatus.CANCELLED


def test_cancel_pending_cascades_to_pending_dependents(storage: Storage) -> None:
    root = storage.enqueue(make_job())
    child = storage.enqueue(make_job(depends_on=(root.id,)))
    grandchild = storage.enqueue(make_job(depends_on=(child.id,)))
    sibling = storage.enqueue(make_job())
    assert storage.cancel_pending(root.id, now_ms())
    assert _get(storage, child.id).error == f"dependency cancelled: {root.id}"
    assert _get(storage, grandchild.id).error == f"dependency cancelled: {child.id}"
    assert status_of(storage, grandchild.id) is JobStatus.CANCELLED
    assert status_of(storage, sibling.id) is JobStatus.PENDING


def test_cascade_stops_at_jobs_that_are_not_pending(storage: Storage) -> None:
    root = storage.enqueue(make_job())
    other_parent = start_job(storage)
    assert finish(storage, other_parent, JobStatus.COMPLETE)
    child = storage.enqueue(make_job(depends_on=(root.id, other_parent.id)))
    assert storage.cancel_pending(root.id, now_ms())
    assert status_of(storage, other_parent.id) is JobStatus.COMPLETE
    assert status_of(storage, child.id) is JobStatus.CANCELLED


def test_cancel_pending_is_false_for_running_finished_and_unknown(storage: Storage) -> None:
    running = start_job(storage)
    done = start_job(storage)
    assert finish(storage, done, JobStatus.COMPLETE)
    cancelled = storage.enqueue(make_job())
    assert storage.cancel_pending(cancelled.id, now_ms())
    assert storage.cancel_pending(running.id, now_ms()) is False
    assert storage.cancel_pending(done.id, now_ms()) is False
    assert storage.cancel_pending(cancelled.id, now_ms()) is False
    assert storage.cancel_pending("no-such-job", now_ms()) is False
    assert status_of(storage, running.id) is JobStatus.RUNNING
    assert status_of(storage, done.id) is JobStatus.COMPLETE


def test_request_cancel_flags_a_running_job(storage: Storage) -> None:
    job = start_job(storage)
    assert storage.request_cancel(job.id) is True
    record = _get(storage, job.id)
    assert record.cancel_requested is True
    assert record.status is JobStatus.RUNNING
    assert storage.request_cancel(job.id) is True


def test_request_cancel_is_false_for_pending_finished_and_unknown(storage: Storage) -> None:
    pending = storage.enqueue(make_job())
    done = start_job(storage)
    assert finish(storage, done, JobStatus.COMPLETE)
    assert storage.request_cancel(pending.id) is False
    assert storage.request_cancel(done.id) is False
    assert storage.request_cancel("no-such-job") is False
    assert _get(storage, pending.id).cancel_requested is False


def test_a_job_that_completes_anyway_keeps_its_flag(storage: Storage) -> None:
    job = start_job(storage)
    assert storage.request_cancel(job.id)
    assert finish(storage, job, JobStatus.COMPLETE)
    record = _get(storage, job.id)
    assert record.status is JobStatus.COMPLETE and record.cancel_requested is True


def test_cancel_requests_names_the_flagged_running_jobs(storage: Storage) -> None:
    jobs = [storage.enqueue(make_job()) for _ in range(4)]
    claimed = claim_all(storage)
    assert len(claimed) == 4
    assert storage.request_cancel(jobs[0].id) and storage.request_cancel(jobs[2].id)
    ids = [job.id for job in jobs]
    assert storage.cancel_requests(ids) == {jobs[0].id: False, jobs[2].id: False}
    assert storage.cancel_requests(ids[1:2]) == {}
    assert storage.cancel_requests([]) == {}
    assert storage.cancel_requests({"unknown", jobs[2].id}) == {jobs[2].id: False}


def test_a_forced_request_is_reported_and_never_downgraded(storage: Storage) -> None:
    job = start_job(storage)
    assert storage.request_cancel(job.id) is True
    assert storage.cancel_requests([job.id]) == {job.id: False}
    assert storage.request_cancel(job.id, force=True) is True
    assert storage.cancel_requests([job.id]) == {job.id: True}
    assert storage.request_cancel(job.id) is True
    assert storage.cancel_requests([job.id]) == {job.id: True}
    assert _get(storage, job.id).cancel_requested is True


def test_cancel_requests_forgets_jobs_that_stopped_running(storage: Storage) -> None:
    job = start_job(storage)
    assert storage.request_cancel(job.id)
    assert finish(storage, job, JobStatus.CANCELLED)
    assert storage.cancel_requests([job.id]) == {}


def test_purge_queue_cancels_its_pending_jobs_only(storage: Storage) -> None:
    running = start_job(storage, queue="bulk")
    pending = [storage.enqueue(make_job(queue="bulk")) for _ in range(3)]
    other = storage.enqueue(make_job(queue="other"))
    now = now_ms()
    assert storage.purge_queue("bulk", now) == 3
    for job in pending:
        record = _get(storage, job.id)
        assert (record.status, record.error, record.completed_at) == (
            JobStatus.CANCELLED,
            "purged",
            now,
        )
    assert status_of(storage, running.id) is JobStatus.RUNNING
    assert status_of(storage, other.id) is JobStatus.PENDING
    assert storage.purge_queue("bulk", now) == 0
    assert storage.purge_queue("no-such-queue", now) == 0


def test_revoke_task_cancels_its_pending_jobs_only(storage: Storage) -> None:
    doomed = [storage.enqueue(make_job(task_name="doomed", queue=q)) for q in ("a", "b")]
    running = start_job(storage, task_name="doomed")
    kept = storage.enqueue(make_job(task_name="kept"))
    assert storage.revoke_task("doomed", now_ms()) == 2
    for job in doomed:
        record = _get(storage, job.id)
        assert (record.status, record.error) == (JobStatus.CANCELLED, "revoked")
    assert status_of(storage, running.id) is JobStatus.RUNNING
    assert status_of(storage, kept.id) is JobStatus.PENDING
    assert storage.revoke_task("doomed", now_ms()) == 0


# --- cancel: one atomic step for any state --------------------------------------------------


def test_cancel_of_a_pending_job_cancels_it_and_cascades(storage: Storage) -> None:
    root = storage.enqueue(make_job(scheduled_at=now_ms() + 3_600_000))
    child = storage.enqueue(make_job(depends_on=(root.id,)))
    grandchild = storage.enqueue(make_job(depends_on=(child.id,)))
    sibling = storage.enqueue(make_job())
    now = now_ms()
    assert storage.cancel(root.id, False, now) is CancelResult.CANCELLED
    record = _get(storage, root.id)
    assert (record.status, record.error, record.completed_at) == (JobStatus.CANCELLED, None, now)
    assert record.cancel_requested is False
    assert _get(storage, child.id).error == f"dependency cancelled: {root.id}"
    assert _get(storage, grandchild.id).error == f"dependency cancelled: {child.id}"
    assert status_of(storage, grandchild.id) is JobStatus.CANCELLED
    assert status_of(storage, sibling.id) is JobStatus.PENDING
    assert storage.cancel(root.id, False, now_ms()) is CancelResult.FINISHED


def test_cancel_of_a_running_job_requests_it(storage: Storage) -> None:
    job = start_job(storage)
    assert storage.cancel(job.id, False, now_ms()) is CancelResult.REQUESTED
    record = _get(storage, job.id)
    assert (record.status, record.cancel_requested) == (JobStatus.RUNNING, True)
    assert storage.cancel_requests([job.id]) == {job.id: False}
    assert storage.cancel(job.id, False, now_ms()) is CancelResult.REQUESTED


def test_cancel_with_force_upgrades_and_never_downgrades(storage: Storage) -> None:
    job = start_job(storage)
    assert storage.cancel(job.id, False, now_ms()) is CancelResult.REQUESTED
    assert storage.cancel(job.id, True, now_ms()) is CancelResult.REQUESTED
    assert storage.cancel_requests([job.id]) == {job.id: True}
    assert storage.cancel(job.id, False, now_ms()) is CancelResult.REQUESTED
    assert storage.cancel_requests([job.id]) == {job.id: True}


def test_cancel_of_an_unknown_job_is_not_found(storage: Storage) -> None:
    assert storage.cancel("no-such-job", False, now_ms()) is CancelResult.NOT_FOUND
    assert storage.cancel("no-such-job", True, now_ms()) is CancelResult.NOT_FOUND


def test_cancel_of_a_finished_job_changes_nothing(storage: Storage) -> None:
    finals = {JobStatus.COMPLETE: None, JobStatus.DEAD: "x", JobStatus.CANCELLED: None}
    for status, error in finals.items():
        job = start_job(storage)
        assert finish(storage, job, status, error=error)
        before = _get(storage, job.id)
        assert storage.cancel(job.id, True, now_ms()) is CancelResult.FINISHED
        assert _get(storage, job.id) == before


def test_cancel_results_read_as_their_names() -> None:
    assert [result.value for result in CancelResult] == [
        "cancelled",
        "requested",
        "not_found",
        "finished",
    ]


@pytest.mark.parametrize(
    ("job_id", "force", "now", "error", "match"),
    [
        ("", False, 1, ValueError, "job_id"),
        (None, False, 1, TypeError, "job_id"),
        ("some-id", "yes", 1, TypeError, "force"),
        ("some-id", None, 1, TypeError, "force"),
        ("some-id", False, "1", TypeError, "now"),
        ("some-id", False, True, TypeError, "now"),
        ("some-id", False, 1.5, TypeError, "now"),
    ],
)
def test_cancel_refuses_bad_arguments(
    storage: Storage, job_id: object, force: object, now: object, error: type, match: str
) -> None:
    job = storage.enqueue(make_job())
    with pytest.raises(error, match=match):
        storage.cancel(job_id, force, now)  # type: ignore[arg-type]
    assert status_of(storage, job.id) is JobStatus.PENDING


def _retry_then_claim(storage: Storage, job: JobRecord) -> None:
    """Send running ``job`` back to pending (a retry), then claim it again if still there."""
    retry = Finish(job.id, job.attempt, JobStatus.PENDING, error="x", worker_id="worker-1")
    storage.finish_many([retry], now_ms())
    storage.claim("worker-1", [job.queue], None, 1, now_ms(), LEASE_MS)


def test_cancel_racing_a_retry_or_a_claim_never_says_finished(
    backend_storage_pair: tuple[Storage, Storage],
) -> None:
    """A job that moves between running and pending while it is cancelled (a retry, then a
    claim, through another storage object) is cancelled or requested: never reported finished
    or unknown."""
    one, two = backend_storage_pair
    results: list[CancelResult] = []
    for _ in range(20):
        job = start_job(one)
        mover = threading.Thread(target=_retry_then_claim, args=(one, job))
        mover.start()
        results.append(two.cancel(job.id, False, now_ms()))
        mover.join()
    assert set(results) <= {CancelResult.CANCELLED, CancelResult.REQUESTED}
