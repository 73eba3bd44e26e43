"""The workflow routes over a real server on SQLite, Postgres and Redis: the runs (by state,
by key a page at a time), one run with its nodes, its DAG (fan-out children under their step)
and its child runs, scoped by namespace; gate decisions and cancel driven by a real worker;
every bad input a 400/404/409 that changes nothing, and the mutations admin-only with CSRF."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskito import Queue
from taskito.dashboard import Users, create_app
from taskito.storage.workflow_contract import WorkflowStorage
from taskito.workflows import Workflow
from tests.api.backends.support import BACKEND_NAMES, Backend, open_backend, worker_thread
from tests.dashboard.harness import ADMIN, TEST_PASSWORD_COST, VIEWER, Client, serve
from tests.helpers import wait_until
from tests.workflow_runs import Node, fan_out_run, gate_run, store_run

RUN_KEYS = {
    "id", "name", "version", "state", "started_at", "completed_at", "error", "parent_run_id",
    "parent_node_name", "base_run_id", "node_counts",
}  # fmt: skip
NODE_KEYS = {
    "name", "kind", "status", "job_id", "error", "fan_out_index", "fan_out_count",
    "child_run_id", "gate_deadline_at", "gate_decision", "started_at", "completed_at",
}  # fmt: skip
T0 = 1_750_000_000_000


@pytest.fixture(params=BACKEND_NAMES)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with open_backend(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
def queue(backend: Backend) -> Queue:
    opened = backend.queue()
    if not isinstance(opened._storage, WorkflowStorage):
        pytest.skip(f"the {backend.name} backend stores no workflows on this branch yet")
    return opened


@pytest.fixture
def client(queue: Queue) -> Iterator[Client]:
    with serve(create_app(queue)) as port:
        opened = Client(port)
        opened.prime()
        yield opened


def answer(reply: Any, status: int = 200) -> Any:
    assert reply.status == status, (reply.status, reply.body)
    return reply.json()


def test_runs_newest_first_by_state_and_by_key(
    queue: Queue, backend: Backend, client: Client
) -> None:
    fan = fan_out_run(queue, started_at=T0)
    gate = gate_run(queue, started_at=T0 + 1)
    done = store_run(queue, "tiny", ["a"], [], [Node("a", "completed")], state="completed",
                     started_at=T0 + 2)  # fmt: skip
    failed = store_run(queue, "tiny", ["a"], [], [Node("a", "failed", error="x")],
                       state="failed", started_at=T0 + 3, error="node 'a' failed: x")  # fmt: skip
    elsewhere = backend.queue(namespace="elsewhere")
    store_run(elsewhere, "hidden", ["a"], [], [Node("a")], started_at=T0 + 4)

    everything = answer(client.get("/api/workflows/runs"))
    assert [run["id"] for run in everything["runs"]] == [failed.id, done.id, gate.id, fan.id]
    assert everything["next_cursor"] is None
    first = everything["runs"][-1]
    assert set(first) == RUN_KEYS
    assert first["node_counts"] == {"completed": 2, "failed": 1, "pending": 2, "running": 1}
    assert (first["name"], first["state"], first["started_at"]) == ("fan", "running", T0)
    assert everything["runs"][0]["error"] == "node 'a' failed: x"

    running = answer(client.get("/api/workflows/runs?state=running"))["runs"]
    assert [run["id"] for run in running] == [gate.id, fan.id]
    assert answer(client.get("/api/workflows/runs?state=cancelled"))["runs"] == []

    seen: list[str] = []
    cursor = ""
    while True:
        page = answer(client.get(f"/api/workflows/runs?limit=1&cursor={cursor}"))
        seen += [run["id"] for run in page["runs"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == [failed.id, done.id, gate.id, fan.id]

    bad_state = answer(client.get("/api/workflows/runs?state=done"), 400)["error"]
    assert "unknown workflow run state 'done'" in bad_state and "completed" in bad_state
    bad_cursor = answer(client.get("/api/workflows/runs?cursor=page-two"), 400)["error"]
    assert bad_cursor.startswith("invalid cursor: 'page-two'")
    assert answer(client.get("/api/workflows/runs?limit=0"), 400) == {
        "error": "limit must be at least 1, got 0"
    }
    assert (
        "limit must be an integer"
        in answer(client.get("/api/workflows/runs?limit=x"), 400)["error"]
    )


def test_one_run_its_dag_and_its_children(queue: Queue, backend: Backend, client: Client) -> None:
    fan = fan_out_run(queue)
    detail = answer(client.get(f"/api/workflows/runs/{fan.id}"))
    assert set(detail) == RUN_KEYS | {"nodes", "dag"}
    assert [node["name"] for node in detail["nodes"]] == [node.name for node in fan.nodes]
    assert all(set(node) == NODE_KEYS for node in detail["nodes"])
    failed_child = detail["nodes"][-1]
    assert (failed_child["kind"], failed_child["status"], failed_child["error"]) == (
        "fan_out_child", "failed", "boom"
    )  # fmt: skip
    assert failed_child["fan_out_index"] == 1

    dag = answer(client.get(f"/api/workflows/runs/{fan.id}/dag"))
    assert dag == detail["dag"]
    assert dag["edges"] == [{"from": "source", "to": "process"}, {"from": "process", "to": "total"}]
    assert [(n["name"], n["kind"], n["status"]) for n in dag["nodes"]] == [
        ("source", "task", "completed"),
        ("process", "fan_out", "running"),
        ("total", "fan_in", "pending"),
    ]
    # The children hang under their step, in index order (not in the order they were stored).
    assert [(c["name"], c["status"]) for c in dag["nodes"][1]["children"]] == [
        ("process[0]", "completed"), ("process[1]", "failed"), ("process[2]", "pending")
    ]  # fmt: skip
    assert dag["nodes"][0]["children"] == []

    parent = store_run(
        queue,
        "parent",
        ["prepare", "nested"],
        [("prepare", "nested")],
        [Node("prepare", "completed"), Node("nested", "running", kind="subworkflow")],
    )
    child = store_run(queue, "child", ["a"], [], [Node("a")], parent=(parent.id, "nested"))
    children = answer(client.get(f"/api/workflows/runs/{parent.id}/children"))
    assert [(c["id"], c["parent_run_id"], c["parent_node_name"]) for c in children] == [
        (child.id, parent.id, "nested")
    ]
    assert answer(client.get(f"/api/workflows/runs/{child.id}/children")) == []
    assert answer(client.get(f"/api/workflows/runs/{child.id}"))["parent_run_id"] == parent.id

    for path in ("", "/dag", "/children"):
        missing = answer(client.get(f"/api/workflows/runs/no-such-run{path}"), 404)
        assert missing == {"error": "no workflow run with id 'no-such-run'"}
    # Another namespace's run is not this dashboard's.
    other = store_run(backend.queue(namespace="elsewhere"), "hidden", ["a"], [], [Node("a")])
    assert client.get(f"/api/workflows/runs/{other.id}").status == 404


def test_gate_requests_with_bad_bodies_change_nothing(queue: Queue, client: Client) -> None:
    gate = gate_run(queue)
    base = f"/api/workflows/runs/{gate.id}"
    for body, message in (
        ({}, "node must be a non-empty string"),
        ({"node": ""}, "node must be a non-empty string"),
        ({"node": "review", "why": "x"}, "unknown field(s) why: expected node"),
        ([1], "the request body must be a JSON object, not an array"),
    ):
        assert message in answer(client.post(base + "/approve", body), 400)["error"]
    for body, message in (
        ({"node": "review", "error": 3}, "error must be a non-empty string, not a number"),
        ({"node": "review", "error": "  "}, "error must be a non-empty string"),
        ({"node": "review", "error": "x" * 2001}, "error must be at most 2000 characters"),
    ):
        assert message in answer(client.post(base + "/reject", body), 400)["error"]
    missing_run = client.post("/api/workflows/runs/no-such-run/approve", {"node": "review"})
    assert answer(missing_run, 404) == {"error": "no workflow run with id 'no-such-run'"}
    after = answer(client.get(base))
    assert [node["status"] for node in after["nodes"]] == [
        "completed",
        "waiting_approval",
        "pending",
    ]
    assert after["nodes"][1]["gate_decision"] is None


def test_the_decisions_are_admin_only_and_need_the_csrf_token(queue: Queue) -> None:
    users = Users(queue, password_cost=TEST_PASSWORD_COST)
    users.create(*ADMIN, role="admin")
    users.create(*VIEWER, role="viewer")
    gate = gate_run(queue)
    base = f"/api/workflows/runs/{gate.id}"
    with serve(create_app(queue)) as port:
        viewer, admin = Client(port), Client(port)
        assert viewer.login(*VIEWER).status == 200 and admin.login(*ADMIN).status == 200
        assert answer(viewer.get(base))["id"] == gate.id
        assert answer(viewer.get("/api/workflows/runs"))["runs"][0]["id"] == gate.id
        for action in ("approve", "reject", "cancel"):
            refused = viewer.post(f"{base}/{action}", {"node": "review"})
            assert answer(refused, 403) == {"error": "forbidden"}
            no_csrf = admin.post(f"{base}/{action}", {"node": "review"}, csrf=False)
            assert no_csrf.status == 403
        assert answer(admin.get(base))["nodes"][1]["status"] == "waiting_approval"


def _release(queue: Queue, task: Any) -> str:
    flow = Workflow("release")
    flow.step("build", task, args=(1, 2))
    flow.gate("review", after="build")
    flow.step("ship", task, args=(3, 4), after="review")
    return str(queue.submit_workflow(flow).id)


def _node(client: Client, run_id: str, name: str) -> dict[str, Any]:
    nodes = answer(client.get(f"/api/workflows/runs/{run_id}"))["nodes"]
    return next(node for node in nodes if node["name"] == name)


def _state(client: Client, run_id: str) -> str:
    state: str = answer(client.get(f"/api/workflows/runs/{run_id}"))["state"]
    return state


def test_gates_decided_and_runs_cancelled_with_a_real_worker(queue: Queue, client: Client) -> None:
    add = queue.task(name="add")(lambda a, b: a + b)
    items = queue.task(name="items")(lambda: [1, 2, 3])
    double = queue.task(name="double")(lambda n: n * 2)
    total = queue.task(name="total")(lambda values: sum(values))
    fan = Workflow("fan")
    fan.step("source", items)
    fan.step("process", double, after="source", fan_out="each")
    fan.step("total", total, after="process", fan_in="all")
    fan_id = str(queue.submit_workflow(fan).id)

    @queue.workflow("inner")
    def inner() -> Workflow:
        return Workflow().step("a", add, args=(1, 1))

    outer = Workflow("outer").step("nested", inner.as_step())
    outer_id = str(queue.submit_workflow(outer).id)
    approved, rejected, cancelled = (_release(queue, add) for _ in range(3))
    with worker_thread(queue):
        for run_id in (approved, rejected, cancelled):
            wait_until(
                lambda run_id=run_id: (
                    _node(client, run_id, "review")["status"] == "waiting_approval"
                ),
                timeout_s=20,
                message="the gate is reached",
            )
        base = f"/api/workflows/runs/{approved}"
        assert answer(client.post(base + "/approve", {"node": "review"})) == {"approved": "review"}
        wait_until(lambda: _state(client, approved) == "completed", timeout_s=20)
        again = answer(client.post(base + "/approve", {"node": "review"}), 409)
        assert "review" in again["error"]
        not_a_gate = answer(client.post(base + "/reject", {"node": "build"}), 409)
        assert "build" in not_a_gate["error"]
        unknown = answer(client.post(base + "/approve", {"node": "nope"}), 404)
        assert unknown == {"error": f"workflow run {approved!r} has no node named 'nope'"}

        reply = client.post(f"/api/workflows/runs/{rejected}/reject", {"node": "review",
                            "error": "not today"})  # fmt: skip
        assert answer(reply) == {"rejected": "review", "error": "not today"}
        wait_until(lambda: _state(client, rejected) == "failed", timeout_s=20)
        review = _node(client, rejected, "review")
        assert (review["status"], review["error"]) == ("failed", "not today")
        assert _node(client, rejected, "ship")["status"] == "skipped"

        cancel = f"/api/workflows/runs/{cancelled}/cancel"
        assert answer(client.post(cancel)) == {"cancelled": True, "state": "cancelled"}
        assert answer(client.post(cancel)) == {"cancelled": False, "state": "cancelled"}
        assert answer(client.post(f"/api/workflows/runs/{approved}/cancel")) == {
            "cancelled": False, "state": "completed"
        }  # fmt: skip
        assert client.post("/api/workflows/runs/no-such-run/cancel").status == 404
        wait_until(lambda: _state(client, fan_id) == "completed", timeout_s=20)
        wait_until(lambda: _state(client, outer_id) == "completed", timeout_s=20)

    (child,) = answer(client.get(f"/api/workflows/runs/{outer_id}/children"))
    assert (child["name"], child["state"]) == ("inner", "completed")
    assert (child["parent_run_id"], child["parent_node_name"]) == (outer_id, "nested")
    (nested,) = answer(client.get(f"/api/workflows/runs/{outer_id}/dag"))["nodes"]
    assert (nested["kind"], nested["child_run_id"]) == ("subworkflow", child["id"])

    dag = answer(client.get(f"/api/workflows/runs/{fan_id}/dag"))
    assert [(n["name"], n["kind"], n["status"]) for n in dag["nodes"]] == [
        ("source", "task", "completed"),
        ("process", "fan_out", "completed"),
        ("total", "fan_in", "completed"),
    ]
    assert [c["name"] for c in dag["nodes"][1]["children"]] == [
        "process[0]", "process[1]", "process[2]"
    ]  # fmt: skip
    assert all(c["job_id"] and c["status"] == "completed" for c in dag["nodes"][1]["children"])
    assert [(e["from"], e["to"]) for e in dag["edges"]] == [
        ("source", "process"),
        ("process", "total"),
    ]
    listed = answer(client.get("/api/workflows/runs?state=completed"))["runs"]
    assert {run["id"] for run in listed} == {approved, fan_id, outer_id, child["id"]}
