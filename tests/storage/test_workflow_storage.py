"""Contract: the workflow half of storage (``storage/workflow_contract.py``): definitions,
atomic run creation, and the compare-and-set operations on nodes and runs, the sweep's reads
and the pages of runs. Settlement by a finish: test_workflow_settlement.py.

Runs on every backend fixture; a backend whose storage is not a ``WorkflowStorage`` yet is
skipped with a message (the ``wf`` fixture, conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from taskito.exceptions import DependencyError
from taskito.job import JobStatus
from taskito.storage.workflow_contract import ParentSettle
from tests.storage.factories import Backend, make_job, open_storages, race
from tests.storage.workflow_support import (
    Store,
    definition,
    new_run,
    node,
    run_record,
    the_node,
    the_run,
)

# --- definitions ---------------------------------------------------------------------------


def test_a_definition_is_stored_once_per_name_version_and_digest(wf: Store) -> None:
    first = definition()
    assert wf.save_workflow_definition(first) == first
    again = wf.save_workflow_definition(definition())
    assert again == first
    changed = definition(dag='{"nodes": [{"name": "a"}]}')
    assert wf.save_workflow_definition(changed) == changed
    next_version = definition(version=2)
    assert wf.save_workflow_definition(next_version) == next_version
    assert wf.get_workflow_definition(first.id) == first
    assert wf.get_workflow_definition(changed.id) == changed
    assert wf.get_workflow_definition("no-such-definition") is None


def test_a_definition_whose_digest_is_not_its_dags_is_refused(wf: Store) -> None:
    bad = definition(digest="0" * 64)
    with pytest.raises(ValueError, match="digest"):
        wf.save_workflow_definition(bad)
    assert wf.get_workflow_definition(bad.id) is None
    with pytest.raises(TypeError, match="WorkflowDefinitionRecord"):
        wf.save_workflow_definition({"id": "x"})  # type: ignore[arg-type]


# --- creating a run ------------------------------------------------------------------------


def test_create_run_stores_the_run_its_nodes_and_the_jobs_with_their_dependencies(
    wf: Store,
) -> None:
    run = run_record(namespace="team-a", base_run_id="base-1")
    first = make_job()
    second = make_job(depends_on=(first.id,))
    nodes = [
        node(run.id, "load", 0, job_id=first.id, input_digest="d1"),
        node(run.id, "store", 1, job_id=second.id),
        node(run.id, "approve", 2, kind="gate", condition_blob=b"\x80sig", payload=b"p"),
    ]
    wf.create_workflow_run(run, nodes, [first, second])
    assert wf.get_workflow_run(run.id) == run
    assert wf.workflow_nodes(run.id) == nodes
    assert wf.dependencies(second.id) == [first.id]
    stored = wf.get_job(second.id)
    assert stored is not None and stored.status is JobStatus.PENDING
    assert wf.workflow_node_for_job(first.id) == nodes[0]
    assert wf.workflow_node_for_job("not-a-workflow-job") is None
    assert wf.get_workflow_run("no-such-run") is None
    assert wf.workflow_nodes("no-such-run") == []


def test_nodes_come_back_in_position_order(wf: Store) -> None:
    run = run_record()
    nodes = [node(run.id, "c", 2), node(run.id, "a", 0), node(run.id, "b", 1)]
    wf.create_workflow_run(run, nodes, [])
    assert [n.name for n in wf.workflow_nodes(run.id)] == ["a", "b", "c"]


def test_a_run_id_that_exists_raises_and_writes_nothing(wf: Store) -> None:
    run = new_run(wf, "a")
    job = make_job()
    with pytest.raises(ValueError, match="exists"):
        wf.create_workflow_run(
            run_record(id=run.id, name="other"), [node(run.id, "b", 0, job_id=job.id)], [job]
        )
    assert the_run(wf, run.id).name == "pipeline"
    assert [n.name for n in wf.workflow_nodes(run.id)] == ["a"]
    assert wf.get_job(job.id) is None


def test_a_bad_job_rolls_back_the_whole_run(wf: Store) -> None:
    run = run_record()
    good = make_job()
    orphan = make_job(depends_on=("no-such-job",))
    nodes = [node(run.id, "a", 0, job_id=good.id), node(run.id, "b", 1, job_id=orphan.id)]
    with pytest.raises(DependencyError):
        wf.create_workflow_run(run, nodes, [good, orphan])
    assert wf.get_workflow_run(run.id) is None
    assert wf.workflow_nodes(run.id) == []
    assert wf.get_job(good.id) is None


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda run: [node(run.id, "a", 0), node(run.id, "a", 1)], ValueError, "twice"),
        (lambda run: [node("another-run", "a", 0)], ValueError, "belongs to run"),
        (lambda run: [node(run.id, "a", 0, kind="lambda")], ValueError, "kind"),
        (lambda run: [node(run.id, "a", 0, status="done")], ValueError, "status"),
        (lambda run: ["a"], TypeError, "WorkflowNodeRecord"),
    ],
)
def test_bad_nodes_are_refused_before_anything_is_written(
    wf: Store, mutate: Any, error: type[Exception], match: str
) -> None:
    run = run_record()
    with pytest.raises(error, match=match):
        wf.create_workflow_run(run, mutate(run), [])
    assert wf.get_workflow_run(run.id) is None


def test_a_run_in_an_unknown_state_is_refused(wf: Store) -> None:
    run = run_record(state="sleeping")
    with pytest.raises(ValueError, match="sleeping"):
        wf.create_workflow_run(run, [], [])
    assert wf.get_workflow_run(run.id) is None


# --- node compare-and-set ------------------------------------------------------------------


def test_a_node_changes_only_from_an_expected_status(wf: Store) -> None:
    run = new_run(wf, "gate")
    assert not wf.update_workflow_node(run.id, "gate", {"running"}, {"status": "completed"})
    assert the_node(wf, run.id, "gate").status == "pending"
    changes = {"status": "waiting_approval", "gate_deadline_at": 1_000, "started_at": 5}
    assert wf.update_workflow_node(run.id, "gate", {"pending", "ready"}, changes)
    gate = the_node(wf, run.id, "gate")
    assert (gate.status, gate.gate_deadline_at, gate.started_at) == ("waiting_approval", 1_000, 5)
    assert wf.update_workflow_node(
        run.id, "gate", ["waiting_approval"], {"gate_decision": "approve"}
    )
    assert the_node(wf, run.id, "gate").gate_decision == "approve"
    assert not wf.update_workflow_node(run.id, "missing", {"pending"}, {"status": "skipped"})
    assert not wf.update_workflow_node("no-such-run", "gate", {"pending"}, {"status": "skipped"})


def test_an_empty_change_reports_whether_the_status_matched(wf: Store) -> None:
    run = new_run(wf, "a")
    assert wf.update_workflow_node(run.id, "a", {"pending"}, {})
    assert not wf.update_workflow_node(run.id, "a", {"running"}, {})


@pytest.mark.parametrize(
    ("expect", "changes", "error", "match"),
    [
        ({"pending"}, {"kind": "gate"}, ValueError, "kind"),
        ({"pending"}, {"status": "done"}, ValueError, "done"),
        ({"asleep"}, {"status": "skipped"}, ValueError, "asleep"),
        ("pending", {"status": "skipped"}, TypeError, "expect"),
    ],
)
def test_bad_node_changes_are_refused(
    wf: Store, expect: Any, changes: dict[str, object], error: type[Exception], match: str
) -> None:
    run = new_run(wf, "a")
    with pytest.raises(error, match=match):
        wf.update_workflow_node(run.id, "a", expect, changes)
    assert the_node(wf, run.id, "a").status == "pending"


def test_a_fan_out_adds_children_with_their_jobs_and_marks_the_run_due(wf: Store) -> None:
    run = new_run(wf, "source", "split")
    jobs = [make_job() for _ in range(3)]
    children = [
        node(run.id, f"split[{i}]", 2 + i, kind="fan_out_child", job_id=job.id, fan_out_index=i)
        for i, job in enumerate(jobs)
    ]
    changes = {"status": "running", "fan_out_count": 3}
    assert wf.update_workflow_node(
        run.id, "split", {"pending"}, changes, new_nodes=children, new_jobs=jobs, due_at=777
    )
    assert wf.workflow_nodes(run.id)[2:] == children
    assert the_node(wf, run.id, "split").fan_out_count == 3
    assert all(wf.get_job(job.id) is not None for job in jobs)
    assert the_run(wf, run.id).advance_due_at == 777


def test_a_child_name_that_exists_rolls_back_the_whole_change(wf: Store) -> None:
    run = new_run(wf, "split", "split[0]")
    job = make_job()
    children = [
        node(run.id, "split[1]", 3, kind="fan_out_child", job_id=job.id),
        node(run.id, "split[0]", 2, kind="fan_out_child"),
    ]
    with pytest.raises(ValueError, match="split\\[0\\]"):
        wf.update_workflow_node(
            run.id,
            "split",
            {"pending"},
            {"status": "running"},
            new_nodes=children,
            new_jobs=[job],
            due_at=5,
        )
    assert the_node(wf, run.id, "split").status == "pending"
    assert [n.name for n in wf.workflow_nodes(run.id)] == ["split", "split[0]"]
    assert wf.get_job(job.id) is None
    assert the_run(wf, run.id).advance_due_at is None


def test_a_child_name_repeated_in_the_batch_is_refused(wf: Store) -> None:
    run = new_run(wf, "split")
    twins = [node(run.id, "split[0]", 1), node(run.id, "split[0]", 2)]
    with pytest.raises(ValueError, match="twice"):
        wf.update_workflow_node(run.id, "split", {"pending"}, {}, new_nodes=twins)
    assert [n.name for n in wf.workflow_nodes(run.id)] == ["split"]


def test_a_failed_compare_and_set_adds_no_children_and_no_jobs(wf: Store) -> None:
    run = new_run(wf, "split")
    job = make_job()
    child = node(run.id, "split[0]", 1, job_id=job.id)
    assert not wf.update_workflow_node(
        run.id, "split", {"running"}, {}, new_nodes=[child], new_jobs=[job], due_at=9
    )
    assert [n.name for n in wf.workflow_nodes(run.id)] == ["split"]
    assert wf.get_job(job.id) is None
    assert the_run(wf, run.id).advance_due_at is None


# --- run compare-and-set, the parent's node, due runs --------------------------------------


def test_a_run_changes_only_from_an_expected_state(wf: Store) -> None:
    run = new_run(wf, "a")
    assert not wf.update_workflow_run(run.id, {"pending"}, {"state": "completed"})
    assert the_run(wf, run.id).state == "running"
    assert wf.update_workflow_run(
        run.id, {"running"}, {"state": "failed", "completed_at": 9, "error": "node 'a' failed: x"}
    )
    stored = the_run(wf, run.id)
    assert (stored.state, stored.completed_at, stored.error) == ("failed", 9, "node 'a' failed: x")
    assert not wf.update_workflow_run(run.id, {"running"}, {"state": "cancelled"})
    assert not wf.update_workflow_run("no-such-run", {"running"}, {"state": "cancelled"})
    with pytest.raises(ValueError, match="name"):
        wf.update_workflow_run(run.id, {"failed"}, {"name": "renamed"})
    with pytest.raises(ValueError, match="paused!"):
        wf.update_workflow_run(run.id, {"failed"}, {"state": "paused!"})


def test_a_child_run_settles_its_parents_node_in_the_same_operation(wf: Store) -> None:
    parent = new_run(wf, "sub", "after")
    child = new_run(wf, "x", parent_run_id=parent.id, parent_node_name="sub")
    settle = ParentSettle(parent.id, "sub", "failed", "sub-workflow c failed: boom", 4_242)
    assert wf.update_workflow_run(
        child.id, {"running"}, {"state": "failed", "completed_at": 4_242}, settle_parent=settle
    )
    sub = the_node(wf, parent.id, "sub")
    assert (sub.status, sub.error, sub.completed_at) == (
        "failed",
        "sub-workflow c failed: boom",
        4_242,
    )
    assert the_run(wf, parent.id).advance_due_at == 4_242
    assert the_node(wf, parent.id, "after").status == "pending"


def test_a_run_that_is_not_expected_settles_no_parent(wf: Store) -> None:
    parent = new_run(wf, "sub")
    child = new_run(wf, "x", parent_run_id=parent.id, parent_node_name="sub", state="completed")
    settle = ParentSettle(parent.id, "sub", "completed", None, 10)
    assert not wf.update_workflow_run(child.id, {"running"}, {}, settle_parent=settle)
    assert the_node(wf, parent.id, "sub").status == "pending"
    assert the_run(wf, parent.id).advance_due_at is None


def test_a_settled_parent_node_is_never_rewritten(wf: Store) -> None:
    parent = new_run(wf, "sub")
    assert wf.update_workflow_node(parent.id, "sub", {"pending"}, {"status": "skipped"})
    child = new_run(wf, "x", parent_run_id=parent.id, parent_node_name="sub")
    settle = ParentSettle(parent.id, "sub", "completed", None, 10)
    assert wf.update_workflow_run(
        child.id, {"running"}, {"state": "completed"}, settle_parent=settle
    )
    assert the_node(wf, parent.id, "sub").status == "skipped"


def test_clear_due_is_a_compare_and_set_on_the_seen_time(wf: Store) -> None:
    run = new_run(wf, "a")
    assert wf.update_workflow_node(run.id, "a", {"pending"}, {}, due_at=100)
    assert not wf.clear_workflow_due(run.id, 99, None)
    assert the_run(wf, run.id).advance_due_at == 100
    assert wf.clear_workflow_due(run.id, 100, None)
    assert the_run(wf, run.id).advance_due_at is None
    assert wf.clear_workflow_due(run.id, None, 500)
    assert the_run(wf, run.id).advance_due_at == 500
    assert not wf.clear_workflow_due("no-such-run", None, 1)


def test_due_runs_are_listed_most_overdue_first_up_to_the_limit(wf: Store) -> None:
    runs = {due: new_run(wf, "a") for due in (300, 100, 200, 900)}
    for due, run in runs.items():
        assert wf.update_workflow_node(run.id, "a", {"pending"}, {}, due_at=due)
    finished = new_run(wf, "a")
    assert wf.update_workflow_node(finished.id, "a", {"pending"}, {}, due_at=50)
    assert wf.update_workflow_run(finished.id, {"running"}, {"state": "completed"})
    new_run(wf, "a")  # never due
    assert wf.workflow_runs_due(500, 10) == [runs[100].id, runs[200].id, runs[300].id]
    assert wf.workflow_runs_due(500, 2) == [runs[100].id, runs[200].id]
    assert wf.workflow_runs_due(99, 10) == []
    with pytest.raises(ValueError, match="limit"):
        wf.workflow_runs_due(500, -1)


def test_expired_gates_are_listed_oldest_deadline_first(wf: Store) -> None:
    run = new_run(wf, "g1", "g2", "g3", "t")
    for name, deadline in (("g1", 300), ("g2", 100), ("g3", 900)):
        changes = {"status": "waiting_approval", "gate_deadline_at": deadline}
        assert wf.update_workflow_node(run.id, name, {"pending"}, changes)
    assert wf.update_workflow_node(run.id, "t", {"pending"}, {"gate_deadline_at": 50})
    assert wf.expired_workflow_gates(500, 10) == [(run.id, "g2"), (run.id, "g1")]
    assert wf.expired_workflow_gates(500, 1) == [(run.id, "g2")]
    assert wf.update_workflow_node(run.id, "g2", {"waiting_approval"}, {"status": "completed"})
    assert wf.expired_workflow_gates(500, 10) == [(run.id, "g1")]


def test_bad_arguments_of_the_run_operations_are_refused_before_anything_is_written(
    wf: Store,
) -> None:
    parent = new_run(wf, "sub")
    child = new_run(wf, "x", parent_run_id=parent.id, parent_node_name="sub")
    not_final = ParentSettle(parent.id, "sub", "running", None, 10)
    with pytest.raises(ValueError, match="terminal"):
        wf.update_workflow_run(
            child.id, {"running"}, {"state": "completed"}, settle_parent=not_final
        )
    with pytest.raises(TypeError, match="settle_parent"):
        wf.update_workflow_run(child.id, {"running"}, {}, settle_parent=("p", "sub"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seen_due_at"):
        wf.clear_workflow_due(child.id, "soon", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="due_at"):
        wf.update_workflow_node(child.id, "x", {"pending"}, {}, due_at="soon")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="NewJob"):
        wf.update_workflow_node(child.id, "x", {"pending"}, {"status": "running"}, new_jobs=["j"])  # type: ignore[list-item]
    assert the_run(wf, child.id).state == "running"
    assert the_node(wf, child.id, "x").status == "pending"
    assert the_node(wf, parent.id, "sub").status == "pending"


# --- listing runs --------------------------------------------------------------------------


def test_runs_are_listed_newest_first_by_namespace_and_state_in_pages(wf: Store) -> None:
    mine = [new_run(wf, "a", namespace="team", started_at=1_000 + i) for i in range(5)]
    tie = new_run(wf, "a", namespace="team", started_at=1_004)
    new_run(wf, "a", started_at=2_000)  # no namespace
    new_run(wf, "a", namespace="other", started_at=3_000)
    assert wf.update_workflow_run(mine[1].id, {"running"}, {"state": "completed"})
    expected = sorted([*mine, tie], key=lambda r: (r.started_at, r.id), reverse=True)
    first = wf.list_workflow_runs(None, "team", 4, None)
    assert [r.id for r in first] == [r.id for r in expected[:4]]
    last = first[-1]
    rest = wf.list_workflow_runs(None, "team", 4, (last.started_at, last.id))
    assert [r.id for r in rest] == [r.id for r in expected[4:]]
    assert [r.id for r in wf.list_workflow_runs("completed", "team", 10, None)] == [mine[1].id]
    assert [r.started_at for r in wf.list_workflow_runs(None, None, 10, None)] == [2_000]
    with pytest.raises(ValueError, match="cursor"):
        wf.list_workflow_runs(None, "team", 4, ("x", "y"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="state"):
        wf.list_workflow_runs("asleep", "team", 4, None)


def test_child_runs_are_listed_oldest_first(wf: Store) -> None:
    parent = new_run(wf, "a", "b")
    later = new_run(wf, "x", parent_run_id=parent.id, parent_node_name="b", started_at=20)
    earlier = new_run(wf, "x", parent_run_id=parent.id, parent_node_name="a", started_at=10)
    new_run(wf, "x", parent_run_id="someone-else", parent_node_name="a")
    assert wf.child_workflow_runs(parent.id) == [earlier, later]
    assert wf.child_workflow_runs(later.id) == []


# --- racing advancers ----------------------------------------------------------------------


def test_racing_expansions_of_one_fan_out_apply_once(wf: Store, backend: Backend) -> None:
    run = new_run(wf, "split")
    storages = open_storages(backend, 4)

    def expand(storage: Any) -> bool:
        jobs = [make_job() for _ in range(2)]
        children = [
            node(run.id, f"split[{i}]", 1 + i, kind="fan_out_child", job_id=job.id)
            for i, job in enumerate(jobs)
        ]
        return storage.update_workflow_node(
            run.id, "split", {"pending"}, {"status": "running"}, new_nodes=children, new_jobs=jobs
        )

    assert sorted(race(storages, expand)) == [False, False, False, True]
    nodes = wf.workflow_nodes(run.id)
    assert [n.name for n in nodes] == ["split", "split[0]", "split[1]"]
    assert sum(wf.count_jobs().values()) == 2


def test_racing_finalizations_of_one_run_apply_once(wf: Store, backend: Backend) -> None:
    run = new_run(wf, "a")
    storages = open_storages(backend, 4)
    outcomes = race(
        storages,
        lambda storage: storage.update_workflow_run(
            run.id, {"running"}, {"state": "completed", "completed_at": 1}
        ),
    )
    assert sorted(outcomes) == [False, False, False, True]
