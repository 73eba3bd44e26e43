"""``taskito workflows list|show|approve|reject|cancel`` as real ``taskito`` processes on
every backend: runs listed by state and by key, one run with its nodes and its Mermaid
picture, gates approved and rejected from the command line while a real worker process runs
the workflow, cancel, and the exit status of every bad input (unknown run or node, a gate
already decided, a node that is no gate, a finished run)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskito import Queue
from taskito.storage.workflow_contract import WorkflowStorage
from tests.backends import BACKEND_NAMES, queue_target
from tests.e2e.cli_ops import JOB_TIMEOUT_S, error_line
from tests.e2e.cli_project import Project, make_project
from tests.helpers import wait_until
from tests.workflow_runs import Node, fan_out_run, gate_run, store_run

APP = "wf_app:queue"
#: The workflow app the worker process runs: three tasks a gated release uses.
WF_APP = """
import json
import os

from taskito import Queue

queue = Queue(**json.loads(os.environ["CLI_PROJECT_QUEUE"]))


@queue.task(name="build")
def build():
    return "built"


@queue.task(name="ship")
def ship():
    return "shipped"


@queue.task(name="on_rejected")
def on_rejected():
    return "cleaned up"
"""


class WorkflowCli:
    """``run`` runs ``taskito workflows ARGS --app wf_app:queue``; ``producer`` is a Queue on
    the same database with the app's tasks registered under the same names."""

    def __init__(self, project: Project, producer: Queue) -> None:
        self.project = project
        self.producer = producer
        self.tasks = {
            name: producer.task(name=name)(lambda: None)
            for name in ("build", "ship", "on_rejected")
        }

    def run(self, *args: str) -> Any:
        return self.project.run("workflows", *args, "--app", APP)

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--format", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(params=BACKEND_NAMES)
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkflowCli]:
    target = queue_target(request.param, tmp_path)
    try:
        project = make_project(tmp_path)
        (project.root / "wf_app.py").write_text(textwrap.dedent(WF_APP).lstrip())
        project.use_queue(target.kwargs)
        producer = Queue(**target.kwargs)
        try:
            if not isinstance(producer._storage, WorkflowStorage):
                pytest.skip(f"the {request.param} backend stores no workflows on this branch yet")
            yield WorkflowCli(project, producer)
        finally:
            project.stop_all()
            producer.close()
    finally:
        target.cleanup()


def test_list_and_show(cli: WorkflowCli) -> None:
    fan = fan_out_run(cli.producer, started_at=1_750_000_000_000)
    gate = gate_run(cli.producer, started_at=1_750_000_000_001)
    done = store_run(
        cli.producer, "tiny", ["a"], [], [Node("a", "completed")], state="completed",
        started_at=1_750_000_000_002,
    )  # fmt: skip

    listed = cli.json("list")
    assert [row["id"] for row in listed] == [done.id, gate.id, fan.id]
    assert listed[2]["node_counts"] == {"completed": 2, "failed": 1, "pending": 2, "running": 1}
    assert [row["id"] for row in cli.json("list", "--state", "running")] == [gate.id, fan.id]
    table = cli.run("list")
    assert table.returncode == 0
    header, *rows = table.stdout.splitlines()
    assert header.split() == [
        "ID",
        "NAME",
        "VERSION",
        "STATE",
        "NODES",
        "STARTED",
        "FINISHED",
        "ERROR",
    ]
    assert rows[0].startswith(done.id) and "completed 1" in rows[0]
    paged = cli.run("list", "--limit", "2")
    assert "(more: --after " in paged.stdout
    cursor = paged.stdout.rsplit("--after ", 1)[1].split()[0]
    assert [row["id"] for row in cli.json("list", "--after", cursor)] == [fan.id]
    assert cli.run("list", "--state", "cancelled").stdout == "no workflow runs match\n"

    shown = cli.run("show", fan.id)
    assert shown.returncode == 0, shown.stderr
    assert f"id           {fan.id}" in shown.stdout
    assert "process[1]" in shown.stdout and "fan_out_child" in shown.stdout
    picture = shown.stdout.split("picture (Mermaid):\n", 1)[1]
    assert picture.startswith("graph LR\n  source[source ✓]\n")
    assert "  source --> process\n" in picture and "style source fill:#90EE90" in picture
    document = cli.json("show", gate.id)
    assert document["id"] == gate.id and document["state"] == "running"
    assert [n["status"] for n in document["nodes"]] == ["completed", "waiting_approval", "pending"]
    assert "review[review ⏸]" in document["mermaid"]

    parent = store_run(
        cli.producer, "parent", ["nested"], [], [Node("nested", "running", kind="subworkflow")]
    )
    child = store_run(cli.producer, "child", ["a"], [], [Node("a")], parent=(parent.id, "nested"))
    with_child = cli.run("show", parent.id)
    assert with_child.returncode == 0, with_child.stderr
    assert "child runs (1):" in with_child.stdout and child.id in with_child.stdout
    assert [c["id"] for c in cli.json("show", parent.id)["children"]] == [child.id]
    assert "child runs" not in shown.stdout and document["children"] == []

    bad_cursor = cli.run("list", "--after", "page-two")
    assert bad_cursor.returncode == 2 and "invalid cursor: 'page-two'" in error_line(bad_cursor)
    bad_state = cli.run("list", "--state", "done")
    assert bad_state.returncode == 2 and "invalid choice 'done'" in error_line(bad_state)
    missing = cli.run("show", "no-such-run")
    assert missing.returncode == 3
    assert error_line(missing) == (
        "taskito workflows show: error: no workflow run with id 'no-such-run'"
    )


def _submit_release(cli: WorkflowCli) -> Any:
    from taskito.workflows import Workflow

    flow = Workflow("release")
    flow.step("build", cli.tasks["build"])
    flow.gate("review", after="build")
    flow.step("ship", cli.tasks["ship"], after="review")
    return cli.producer.submit_workflow(flow)


def _wait_for(cli: WorkflowCli, run_id: str, node: str, status: str) -> None:
    def reached() -> bool:
        nodes = cli.producer.workflow_run_detail(run_id)["nodes"]
        return any(n["name"] == node and n["status"] == status for n in nodes)

    wait_until(reached, timeout_s=JOB_TIMEOUT_S, message=f"{node} {status} in {run_id}")


def test_gates_decided_and_runs_cancelled_with_a_real_worker(cli: WorkflowCli) -> None:
    worker = cli.project.start("worker", "--app", APP, name="worker")
    approved, rejected, cancelled = (_submit_release(cli) for _ in range(3))
    for run in (approved, rejected, cancelled):
        _wait_for(cli, run.id, "review", "waiting_approval")

    result = cli.run("approve", approved.id, "review")
    assert (result.returncode, result.stdout) == (
        0, f"gate 'review' of workflow run {approved.id} approved\n"
    )  # fmt: skip
    wait_until(
        lambda: cli.producer.workflow_run_detail(approved.id)["state"] == "completed",
        timeout_s=JOB_TIMEOUT_S,
        message="the approved run completes",
    )
    again = cli.run("approve", approved.id, "review")
    assert again.returncode == 4
    assert error_line(again).endswith(
        "gate 'review' was already decided (completed); nothing changed"
    )

    result = cli.run("reject", rejected.id, "review", "--error", "not today")
    assert result.returncode == 0, result.stderr
    wait_until(
        lambda: cli.producer.workflow_run_detail(rejected.id)["state"] == "failed",
        timeout_s=JOB_TIMEOUT_S,
        message="the rejected run fails",
    )
    nodes = {n["name"]: n for n in cli.producer.workflow_run_detail(rejected.id)["nodes"]}
    assert (nodes["review"]["status"], nodes["review"]["error"]) == ("failed", "not today")
    assert nodes["ship"]["status"] == "skipped"

    not_a_gate = cli.run("approve", cancelled.id, "build")
    assert not_a_gate.returncode == 2
    assert error_line(not_a_gate).endswith("node 'build' is a task step, not a gate")
    unknown_node = cli.run("reject", cancelled.id, "nope")
    assert unknown_node.returncode == 3
    assert error_line(unknown_node).endswith(f"no node 'nope' in workflow run '{cancelled.id}'")
    assert cli.run("approve", "no-such-run", "review").returncode == 3
    assert cli.run("reject", cancelled.id, "review", "--error", " ").returncode == 2

    result = cli.run("cancel", cancelled.id)
    assert (result.returncode, result.stdout) == (0, f"workflow run {cancelled.id} cancelled\n")
    detail = cli.producer.workflow_run_detail(cancelled.id)
    assert detail["state"] == "cancelled"
    assert {n["name"]: n["status"] for n in detail["nodes"]}["ship"] == "skipped"
    finished = cli.run("cancel", approved.id)
    assert finished.returncode == 4
    assert error_line(finished).endswith(
        f"workflow run {approved.id} had already finished (completed); nothing to cancel"
    )
    assert cli.run("cancel", "no-such-run").returncode == 3
    assert worker.poll() is None, cli.project.output("worker")[1]
