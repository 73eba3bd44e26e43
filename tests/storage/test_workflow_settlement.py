"""Contract: a finish settles the workflow node of its job in the same operation
(``storage/workflow_contract.py``): finish_many and finish_and_claim, each outcome, fencing,
terminal nodes and runs left alone, and the run's due mark.

Runs on every backend fixture (the ``wf`` fixture, conftest.py)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from taskito.ids import new_job_id
from taskito.job import JobRecord, JobStatus, now_ms
from taskito.storage.base import Finish
from taskito.storage.workflow_contract import result_digest
from tests.storage.factories import LEASE_MS, claim_job, make_job
from tests.storage.workflow_support import (
    Store,
    node,
    run_record,
    run_with_job,
    the_node,
    the_run,
)

# --- settlement by a finish ----------------------------------------------------------------

WAYS = ("finish_many", "finish_and_claim")


def finish_via(
    wf: Store, way: str, job: JobRecord, status: JobStatus, now: int, **fields: Any
) -> bool:
    outcome = Finish(job.id, job.attempt, status, worker_id=job.worker_id, **fields)
    if way == "finish_many":
        (applied,) = wf.finish_many([outcome], now)
        return applied
    # A claim from a queue with nothing due: the backends' one-statement cycle where they have it.
    applied, claimed = wf.finish_and_claim(
        [outcome], "worker-1", [f"idle-{new_job_id()}"], None, 5, now, LEASE_MS
    )
    assert claimed == []
    return applied[0]


@pytest.mark.parametrize("way", WAYS)
def test_a_completed_job_completes_its_node_and_marks_the_run_due(wf: Store, way: str) -> None:
    run, job = run_with_job(wf)
    now = now_ms()
    assert finish_via(wf, way, claim_job(wf, job.id), JobStatus.COMPLETE, now, result=b"\x80r")
    step = the_node(wf, run.id, "step")
    assert (step.status, step.result_hash, step.completed_at, step.error) == (
        "completed",
        result_digest(b"\x80r"),
        now,
        None,
    )
    assert the_run(wf, run.id).advance_due_at == now


@pytest.mark.parametrize("way", WAYS)
def test_a_completion_without_a_result_hashes_empty_bytes(wf: Store, way: str) -> None:
    run, job = run_with_job(wf)
    assert finish_via(wf, way, claim_job(wf, job.id), JobStatus.COMPLETE, now_ms())
    assert the_node(wf, run.id, "step").result_hash == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    ("status", "error", "node_error"),
    [
        (JobStatus.DEAD, "Traceback: boom", "Traceback: boom"),
        (JobStatus.CANCELLED, None, "cancelled"),
        (JobStatus.CANCELLED, "stopped by the user", "cancelled"),
    ],
)
def test_a_dead_or_cancelled_job_fails_its_node(
    wf: Store, way: str, status: JobStatus, error: str | None, node_error: str
) -> None:
    run, job = run_with_job(wf)
    now = now_ms()
    assert finish_via(wf, way, claim_job(wf, job.id), status, now, error=error)
    step = the_node(wf, run.id, "step")
    assert (step.status, step.error, step.completed_at, step.result_hash) == (
        "failed",
        node_error,
        now,
        None,
    )
    assert the_run(wf, run.id).advance_due_at == now


@pytest.mark.parametrize("way", WAYS)
def test_a_retry_leaves_the_node_alone(wf: Store, way: str) -> None:
    run, job = run_with_job(wf)
    now = now_ms()
    assert finish_via(
        wf, way, claim_job(wf, job.id), JobStatus.PENDING, now, error="e", retry_at=now
    )
    assert the_node(wf, run.id, "step").status == "pending"
    assert the_run(wf, run.id).advance_due_at is None


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("status", [JobStatus.COMPLETE, JobStatus.DEAD])
def test_a_stale_attempt_settles_nothing(wf: Store, way: str, status: JobStatus) -> None:
    run, job = run_with_job(wf)
    stale = claim_job(wf, job.id)
    # Its lease expires: the job goes back to pending and is claimed again (a new attempt).
    later = now_ms() + LEASE_MS + 1
    assert [j.id for j in wf.requeue_expired(later)] == [job.id]
    (again,) = wf.claim("worker-1", [job.queue], None, 1, later, LEASE_MS)
    assert again.attempt == stale.attempt + 1
    assert not finish_via(wf, way, stale, status, now_ms(), error="late")
    assert the_node(wf, run.id, "step").status == "pending"
    assert the_run(wf, run.id).advance_due_at is None


@pytest.mark.parametrize("way", WAYS)
def test_an_outcome_for_another_worker_settles_nothing(wf: Store, way: str) -> None:
    run, job = run_with_job(wf)
    running = claim_job(wf, job.id, worker_id="worker-1")
    outcome = Finish(job.id, running.attempt, JobStatus.COMPLETE, worker_id="worker-2")
    if way == "finish_many":
        assert wf.finish_many([outcome], now_ms()) == [False]
    else:
        applied, _ = wf.finish_and_claim(
            [outcome], "worker-2", [f"idle-{new_job_id()}"], None, 5, now_ms(), LEASE_MS
        )
        assert applied == [False]
    assert the_node(wf, run.id, "step").status == "pending"
    assert the_run(wf, run.id).advance_due_at is None


@pytest.mark.parametrize("way", WAYS)
def test_a_terminal_node_is_never_rewritten(wf: Store, way: str) -> None:
    run, job = run_with_job(wf)
    running = claim_job(wf, job.id)
    assert wf.update_workflow_node(run.id, "step", {"pending"}, {"status": "skipped"})
    assert finish_via(wf, way, running, JobStatus.COMPLETE, now_ms(), result=b"late")
    step = the_node(wf, run.id, "step")
    assert (step.status, step.result_hash, step.completed_at) == ("skipped", None, None)


@pytest.mark.parametrize("way", WAYS)
def test_a_terminal_run_is_not_marked_due(wf: Store, way: str) -> None:
    run, job = run_with_job(wf)
    running = claim_job(wf, job.id)
    assert wf.update_workflow_run(run.id, {"running"}, {"state": "cancelled"})
    assert finish_via(wf, way, running, JobStatus.COMPLETE, now_ms())
    assert the_run(wf, run.id).advance_due_at is None


def test_settlements_in_one_millisecond_keep_the_run_due_for_an_advance_that_read_it(
    wf: Store,
) -> None:
    run = run_record()
    jobs = [make_job(queue=f"solo-{new_job_id()}") for _ in range(3)]
    nodes = [node(run.id, f"n{i}", i, job_id=job.id) for i, job in enumerate(jobs)]
    wf.create_workflow_run(run, nodes, jobs)
    running = [claim_job(wf, job.id) for job in jobs]
    now = now_ms()
    assert finish_via(wf, "finish_many", running[0], JobStatus.COMPLETE, now)
    seen = the_run(wf, run.id).advance_due_at
    assert seen == now
    outcomes = [
        Finish(job.id, job.attempt, JobStatus.COMPLETE, worker_id=job.worker_id)
        for job in running[1:]
    ]
    assert wf.finish_many(outcomes, now) == [True, True]
    assert [n.status for n in wf.workflow_nodes(run.id)] == ["completed"] * 3
    assert not wf.clear_workflow_due(run.id, seen, None)
    assert wf.workflow_runs_due(now, 10) == [run.id]


def test_a_settlement_makes_a_run_with_a_later_safety_net_time_due_at_once(wf: Store) -> None:
    run, job = run_with_job(wf)
    running = claim_job(wf, job.id)
    now = now_ms()
    assert wf.clear_workflow_due(run.id, None, now + 10_000)  # the engine's next check
    assert wf.workflow_runs_due(now, 10) == []
    assert finish_via(wf, "finish_many", running, JobStatus.COMPLETE, now)
    assert the_run(wf, run.id).advance_due_at == now
    assert wf.workflow_runs_due(now, 10) == [run.id]


def test_a_batch_settles_the_nodes_of_several_runs(wf: Store) -> None:
    pairs = [run_with_job(wf) for _ in range(3)]
    running = [claim_job(wf, job.id) for _, job in pairs]
    plain = claim_job(wf, wf.enqueue(make_job(queue=f"solo-{new_job_id()}")).id)
    now = now_ms()
    outcomes = [
        Finish(running[0].id, running[0].attempt, JobStatus.COMPLETE, b"1", worker_id="worker-1"),
        Finish(plain.id, plain.attempt, JobStatus.COMPLETE, worker_id="worker-1"),
        Finish(running[1].id, running[1].attempt, JobStatus.DEAD, error="d", worker_id="worker-1"),
        Finish(running[2].id, running[2].attempt, JobStatus.PENDING, worker_id="worker-1"),
    ]
    assert wf.finish_many(outcomes, now) == [True] * 4
    statuses = [the_node(wf, run.id, "step").status for run, _ in pairs]
    assert statuses == ["completed", "failed", "pending"]
    assert sorted(wf.workflow_runs_due(now, 10)) == sorted(run.id for run, _ in pairs[:2])


def test_a_poison_pill_fails_its_node(wf: Store) -> None:
    run, job = run_with_job(wf)
    running = claim_job(wf, job.id)
    now = now_ms()
    (released,) = wf.release_jobs(running.worker_id or "", (), now, 0, "worker shutting down")
    assert released.id == job.id
    stored = wf.get_job(job.id)
    assert stored is not None and stored.status is JobStatus.DEAD
    step = the_node(wf, run.id, "step")
    assert (step.status, step.completed_at) == ("failed", now)
    assert the_run(wf, run.id).advance_due_at == now
