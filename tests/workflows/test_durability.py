"""Runs survive their workers: a worker SIGKILLed in the middle of a run (another worker
finishes it), and a worker restarted in the middle of a fan-out. Real processes, real
storage; every transition is read back from the database."""

from __future__ import annotations

import signal

from taskito.workflows import NodeStatus, Workflow, WorkflowRun, WorkflowState
from tests.helpers import wait_until
from tests.workflows.conftest import MakeApp
from tests.workflows.harness import RUN_TIMEOUT_S, WorkflowApp


def held_chain(app: WorkflowApp) -> Workflow:
    """A deferred chain whose middle step runs until the file "go" exists."""
    wf = Workflow(name="durable", on_failure="continue")
    wf.step("a", app.tag, args=("a",))
    wf.step("hold", app.wait_for_file, args=("go",), after="a")
    wf.step("c", app.tag, args=("c",), after="hold", condition=lambda ctx: True)
    return wf


def test_a_sigkilled_worker_leaves_the_run_to_another_worker(app: WorkflowApp) -> None:
    run = app.queue.submit_workflow(held_chain(app))
    victim = app.worker_process()
    try:
        wait_until(lambda: app.calls("wait_for_file") >= 1, RUN_TIMEOUT_S, message="hold runs")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(10)
    assert victim.returncode == -signal.SIGKILL
    assert run.status().state is WorkflowState.RUNNING
    app.release("go")
    with app.worker():  # rescues the killed worker's job, then finishes the run
        final = run.wait(RUN_TIMEOUT_S)
    assert final.state is WorkflowState.COMPLETED
    assert [final.nodes[n].status for n in ("a", "hold", "c")] == [NodeStatus.COMPLETED] * 3
    assert app.calls("a") == 1 and app.calls("c") == 1
    hold = app.queue._storage.get_job(final.nodes["hold"].job_id or "")
    assert hold is not None and hold.rescue_count == 1


def child_status(run: WorkflowRun, name: str) -> str | None:
    node = run.status().nodes.get(name)
    return None if node is None else node.status.value


def test_a_restart_in_the_middle_of_a_fan_out(make_app: MakeApp) -> None:
    first = make_app()
    wf = Workflow(name="restarted")
    wf.step("source", first.numbers, args=("one", "two", "three"))
    wf.step("each", first.wait_for_file, after="source", fan_out="each")
    wf.step("gather", first.collect, after="each", fan_in="all")
    run = first.queue.submit_workflow(wf)
    first.release("one")
    with first.worker(drain_timeout=0.2):
        wait_until(
            lambda: (
                child_status(run, "each[0]") == "completed" and first.calls("wait_for_file") >= 3
            ),
            RUN_TIMEOUT_S,
            message="one child done, the others running",
        )
    # The worker stopped with two children unfinished (given back at once as rescues).
    assert run.status().state is WorkflowState.RUNNING
    first.queue.close()
    restarted = make_app(first.target, name=first.name)  # the app imported afresh
    restarted.release("two")
    restarted.release("three")
    run = WorkflowRun(restarted.queue, run.id, run.name)
    with restarted.worker():
        final = run.wait(RUN_TIMEOUT_S)
    assert final.state is WorkflowState.COMPLETED
    gather = restarted.queue.get_job(final.nodes["gather"].job_id or "")
    assert gather is not None and gather.result(timeout=5) == ["one", "two", "three"]
    assert restarted.calls("collect") == 1
