"""Conditions and failure modes (workflows spec 2.5, 2.6; spec 4, "conditions")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from taskito.exceptions import SerializationError
from taskito.workflows import Workflow, WorkflowContext, WorkflowState, WorkflowStatus
from tests.workflows.harness import RUN_TIMEOUT_S, WorkflowApp


def run_to_end(app: WorkflowApp, wf: Workflow) -> WorkflowStatus:
    run = app.queue.submit_workflow(wf)
    with app.worker():
        return run.wait(RUN_TIMEOUT_S)


def statuses(final: WorkflowStatus) -> dict[str, str]:
    return {name: node.status.value for name, node in final.nodes.items()}


@pytest.mark.parametrize(("fails", "expected"), [(True, "completed"), (False, "skipped")])
def test_on_failure_runs_only_after_a_failure(app: WorkflowApp, fails: bool, expected: str) -> None:
    wf = Workflow(name="handler")
    wf.step("work", app.boom if fails else app.tag, args=("work",))
    wf.step("handler", app.tag, args=("handler",), after="work", condition="on_failure")
    final = run_to_end(app, wf)
    assert statuses(final)["handler"] == expected
    # A handler never rescues the run.
    assert final.state is (WorkflowState.FAILED if fails else WorkflowState.COMPLETED)


@pytest.mark.parametrize("fails", [True, False])
def test_always_runs_after_success_and_failure(app: WorkflowApp, fails: bool) -> None:
    wf = Workflow(name="always")
    wf.step("work", app.boom if fails else app.tag, args=("work",))
    wf.step("cleanup", app.tag, args=("cleanup",), after="work", condition="always")
    assert statuses(run_to_end(app, wf))["cleanup"] == "completed"


def test_the_default_condition_skips_after_a_failure_and_the_run_fails(app: WorkflowApp) -> None:
    wf = Workflow(name="default", on_failure="continue")
    wf.step("work", app.boom)
    wf.step("next", app.tag, args=("next",), after="work")
    final = run_to_end(app, wf)
    assert statuses(final) == {"work": "failed", "next": "skipped"}
    assert final.state is WorkflowState.FAILED
    assert final.error is not None and final.error.startswith("node 'work' failed:")


def test_continue_keeps_independent_branches_running(app: WorkflowApp) -> None:
    wf = Workflow(name="diamond", on_failure="continue")
    wf.step("a", app.tag, args=("a",))
    wf.step("b", app.boom, after="a")
    wf.step("c", app.tag, args=("c",), after="a")
    wf.step("d", app.tag, args=("d",), after=["b", "c"])
    final = run_to_end(app, wf)
    assert statuses(final) == {"a": "completed", "b": "failed", "c": "completed", "d": "skipped"}
    assert final.state is WorkflowState.FAILED


def test_continue_skips_a_chain_down_to_an_always_step(app: WorkflowApp) -> None:
    wf = Workflow(name="chain", on_failure="continue")
    wf.step("a", app.boom)
    wf.step("b", app.tag, args=("b",), after="a")
    wf.step("c", app.tag, args=("c",), after="b")
    wf.step("d", app.tag, args=("d",), after="c", condition="always")
    wf.step("e", app.tag, args=("e",), after="d")
    final = run_to_end(app, wf)
    assert statuses(final) == {
        "a": "failed",
        "b": "skipped",
        "c": "skipped",
        "d": "completed",
        "e": "completed",
    }


@pytest.mark.parametrize(("verdict", "expected"), [(True, "completed"), (False, "skipped")])
def test_callable_conditions(app: WorkflowApp, verdict: bool, expected: str) -> None:
    wf = Workflow(name="callable")
    wf.step("a", app.tag, args=("a",))
    wf.step("b", app.tag, args=("b",), after="a", condition=lambda ctx: verdict)
    assert statuses(run_to_end(app, wf))["b"] == expected


def test_a_callable_condition_reads_results_and_statuses(app: WorkflowApp) -> None:
    # The condition runs unpickled in the advancing process: it reports through a file.
    report = str(app.root / "context.json")

    def good_enough(ctx: WorkflowContext) -> bool:
        import json

        fields = {
            "run_id": ctx.run_id,
            "statuses": {k: str(v) for k, v in ctx.statuses.items()},
            "counts": [ctx.success_count, ctx.failure_count],
            "params": ctx.params,
        }
        with open(report, "w") as out:
            json.dump(fields, out)
        return bool(ctx.results["validate"]["score"] > 0.5)

    wf = Workflow(name="reads")
    wf.step("validate", app.score)
    wf.step("deploy", app.tag, args=("deploy",), after="validate", condition=good_enough)
    wf.step("never", app.tag, args=("never",), after="validate", condition=lambda c: False)
    final = run_to_end(app, wf)
    assert statuses(final) == {"validate": "completed", "deploy": "completed", "never": "skipped"}
    seen = json.loads((app.root / "context.json").read_text())
    assert seen["run_id"] == final.run_id and seen["params"] is None
    assert seen["statuses"]["validate"] == "completed"
    assert seen["counts"] == [1, 0]


def test_a_raising_condition_skips_the_step(app: WorkflowApp) -> None:
    def broken(ctx: Any) -> bool:
        raise RuntimeError("condition bug")

    wf = Workflow(name="raises")
    wf.step("a", app.tag, args=("a",))
    wf.step("b", app.tag, args=("b",), after="a", condition=broken)
    assert statuses(run_to_end(app, wf))["b"] == "skipped"


def test_an_unpicklable_condition_fails_the_submit_naming_the_step(app: WorkflowApp) -> None:
    import threading

    lock = threading.Lock()
    wf = Workflow(name="unpicklable")
    wf.step("a", app.tag, args=("a",))
    wf.step("picky", app.tag, args=("b",), after="a", condition=lambda ctx: lock.locked())
    with pytest.raises(SerializationError, match="'picky'"):
        app.queue.submit_workflow(wf)
    assert app.queue._storage.list_workflow_runs(None, None, 10, None) == []


def test_fail_fast_skips_what_has_not_started(app: WorkflowApp) -> None:
    wf = Workflow(name="fail_fast")
    wf.step("a", app.boom)
    wf.step("b", app.tag, args=("b",), after="a")
    wf.step("c", app.tag, args=("c",), after="b")
    wf.step("handler", app.tag, args=("handler",), after="a", condition="on_failure")
    final = run_to_end(app, wf)
    assert statuses(final) == {
        "a": "failed",
        "b": "skipped",
        "c": "skipped",
        "handler": "completed",
    }
    assert final.state is WorkflowState.FAILED
    assert app.calls("b") == app.calls("c") == 0


def test_propagation_stops_at_an_always_step(app: WorkflowApp) -> None:
    wf = Workflow(name="stops")
    wf.step("a", app.boom)
    wf.step("b", app.tag, args=("b",), after="a")
    wf.step("c", app.tag, args=("c",), after="b", condition="always")
    final = run_to_end(app, wf)
    assert statuses(final) == {"a": "failed", "b": "skipped", "c": "completed"}


def test_a_failing_fan_out_child_fails_the_parent_skips_the_fan_in_and_runs_the_handler(
    app: WorkflowApp,
) -> None:
    wf = Workflow(name="child_fails")
    wf.step("source", app.numbers, args=(1, 2, 3))
    wf.step("each", app.fail_on, after="source", fan_out="each", kwargs={"bad": 2})
    wf.step("gather", app.collect, after="each", fan_in="all")
    wf.step("handler", app.tag, args=("handler",), after="each", condition="on_failure")
    final = run_to_end(app, wf)
    found = statuses(final)
    assert found["each"] == "failed" and found["gather"] == "skipped"
    assert found["handler"] == "completed"
    assert final.state is WorkflowState.FAILED
