"""``Queue.list_workflow_runs``, ``workflow_run_detail`` and ``workflow_run_children`` on
every backend: pages by key with no run repeated or missed while runs are added, a pending
node whose job runs shown ``running``, and every bad input refused with a message naming it."""

from __future__ import annotations

import pytest

from taskito import Queue
from taskito.job import now_ms
from tests.workflow_runs import Node, gate_run, store_run

T0 = 1_750_000_000_000


def test_pages_by_key_while_runs_are_added(queue: Queue) -> None:
    stored = [store_run(queue, "r", ["a"], [], [Node("a")], started_at=T0 + i) for i in range(5)]
    first = queue.list_workflow_runs(limit=2)
    assert [run["id"] for run in first] == [stored[4].id, stored[3].id]
    # A run started after the first page neither repeats nor hides the others.
    store_run(queue, "r", ["a"], [], [Node("a")], started_at=T0 + 10)
    second = queue.list_workflow_runs(limit=2, after=first.next_cursor)
    third = queue.list_workflow_runs(limit=2, after=second.next_cursor)
    assert [run["id"] for run in (*second, *third)] == [stored[2].id, stored[1].id, stored[0].id]
    assert third.next_cursor is None
    # Same start time: the id breaks the tie, and the pages still cover every run once.
    twins = [store_run(queue, "t", ["a"], [], [Node("a")], started_at=T0 + 20) for _ in range(3)]
    seen, cursor = [], None
    while True:
        page = queue.list_workflow_runs("running", limit=1, after=cursor)
        seen += [run["id"] for run in page]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen[:3]) == sorted(twin.id for twin in twins) and len(seen) == 9


def test_a_pending_node_whose_job_runs_shows_running(queue: Queue) -> None:
    job = queue.enqueue("build")
    run = store_run(queue, "r", ["build"], [], [Node("build", job_id=job.id)])
    assert queue.workflow_run_detail(run.id)["nodes"][0]["status"] == "pending"
    claimed = queue._storage.claim("w", None, None, 1, now_ms(), 60_000)
    assert [record.id for record in claimed] == [job.id]
    detail = queue.workflow_run_detail(run.id)
    assert detail["nodes"][0]["status"] == "running"
    assert detail["dag"]["nodes"][0]["status"] == "running"
    assert detail["node_counts"] == {"pending": 1}  # the stored rows, as the list counts them


def test_bad_inputs_are_refused_by_name(queue: Queue) -> None:
    run = gate_run(queue)
    with pytest.raises(ValueError, match=r"unknown workflow run state 'done': expected one of "):
        queue.list_workflow_runs("done")
    valid = "cancelled, cancelling, completed, failed, paused, pending, running"
    with pytest.raises(ValueError, match=valid):
        queue.list_workflow_runs("RUNNING")
    with pytest.raises(ValueError, match=r"invalid cursor: 'page-two'"):
        queue.list_workflow_runs(after="page-two")
    with pytest.raises(ValueError, match=r"limit must be >= 1, got 0"):
        queue.list_workflow_runs(limit=0)
    with pytest.raises(ValueError, match=r"limit must be <= 1000"):
        queue.list_workflow_runs(limit=1001)
    with pytest.raises(TypeError, match=r"limit must be an int, not str"):
        queue.list_workflow_runs(limit="5")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match=r"workflow run 'nope' not found"):
        queue.workflow_run_detail("nope")
    with pytest.raises(KeyError, match=r"workflow run 'nope' not found"):
        queue.workflow_run_children("nope")
    with pytest.raises(ValueError, match=r"run_id must be a non-empty string, not 7"):
        queue.workflow_run_detail(7)  # type: ignore[arg-type]
    assert queue.workflow_run_detail(run.id)["state"] == "running"  # nothing changed
