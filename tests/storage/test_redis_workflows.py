"""What only the Redis backend's workflow storage promises: its indexes (due runs, gate
deadlines, a job's node, namespace and state pages) follow every change, names that hold the
separators of its key layout do not collide, and a compare-and-set repeated after a dropped
connection answers as the call that applied (on a private server it stalls on purpose).

The workflow contract itself is conformance-tested on every backend
(tests/storage/test_workflow_storage.py)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import cast

import pytest

from taskito.job import JobStatus, NewJob
from taskito.storage.base import Finish
from taskito.storage.workflow_contract import (
    ParentSettle,
    WorkflowNodeRecord,
    WorkflowRunRecord,
    result_digest,
)
from tests.helpers import wait_until
from tests.storage.factories import make_job
from tests.storage.redis_support import (  # noqa: F401  (fixtures)
    OpenRedis,
    PrivateServer,
    fixture_client,
    fixture_open_redis,
    fixture_private_server,
    fixture_redis_url,
)

redis_py = pytest.importorskip("redis")
from taskito.storage.redis import RedisStorage  # noqa: E402  (needs the redis extra)

NOW = 1_700_000_000_000


def _run(run_id: str, **overrides: object) -> WorkflowRunRecord:
    fields: dict[str, object] = {
        "id": run_id,
        "definition_id": "def-1",
        "name": "wf",
        "version": 1,
        "namespace": None,
        "state": "running",
        "on_failure": "fail_fast",
        "started_at": NOW,
    }
    fields.update(overrides)
    return WorkflowRunRecord(**fields)  # type: ignore[arg-type]


def _node(run_id: str, name: str, position: int, **overrides: object) -> WorkflowNodeRecord:
    fields: dict[str, object] = {"kind": "task", "status": "pending"}
    fields.update(overrides)
    return WorkflowNodeRecord(run_id, name, position=position, **fields)  # type: ignore[arg-type]


def _job(**overrides: object) -> NewJob:
    return make_job(created_at=NOW, scheduled_at=NOW, **overrides)


@pytest.fixture
def storage(open_redis: OpenRedis) -> RedisStorage:
    return open_redis()


def _keys(client: redis_py.Redis, storage: RedisStorage, name: str) -> list[bytes]:
    return cast("list[bytes]", client.zrange(f"{storage.prefix}:{name}", 0, -1))


# --- indexes follow every change ----------------------------------------------------------------


def test_a_terminal_run_leaves_the_due_index_and_stays_out(
    storage: RedisStorage, client: redis_py.Redis
) -> None:
    storage.create_workflow_run(_run("r1", advance_due_at=NOW), [_node("r1", "a", 0)], [])
    assert storage.workflow_runs_due(NOW, 10) == ["r1"]
    assert storage.update_workflow_run("r1", ["running"], {"state": "failed", "error": "x"})
    assert _keys(client, storage, "wfdue") == []
    assert storage.get_workflow_run("r1").advance_due_at == NOW  # type: ignore[union-attr]
    # A late node write asking for an advance changes the field, not the index.
    assert storage.update_workflow_node("r1", "a", ["pending"], {}, due_at=NOW + 5)
    assert storage.workflow_runs_due(NOW + 10, 10) == []
    assert storage.get_workflow_run("r1").advance_due_at == NOW + 5  # type: ignore[union-attr]


def test_the_gate_index_holds_exactly_the_waiting_gates_with_a_deadline(
    storage: RedisStorage, client: redis_py.Redis
) -> None:
    nodes = [_node("r1", "g1", 0, kind="gate"), _node("r1", "g2", 1, kind="gate")]
    storage.create_workflow_run(_run("r1"), nodes, [])
    waiting = {"status": "waiting_approval", "gate_deadline_at": NOW + 10}
    assert storage.update_workflow_node("r1", "g1", ["pending"], waiting)
    assert storage.update_workflow_node("r1", "g2", ["pending"], {"status": "waiting_approval"})
    assert storage.expired_workflow_gates(NOW + 10, 10) == [("r1", "g1")]
    # Its deadline moves with it; cleared, the gate leaves the index while it waits on.
    assert storage.update_workflow_node("r1", "g1", ["waiting_approval"], {"gate_deadline_at": NOW})
    assert storage.expired_workflow_gates(NOW, 10) == [("r1", "g1")]
    assert storage.update_workflow_node(
        "r1", "g1", ["waiting_approval"], {"gate_deadline_at": None}
    )
    assert storage.expired_workflow_gates(NOW + 10, 10) == []
    assert storage.update_workflow_node("r1", "g2", ["waiting_approval"], {"gate_deadline_at": NOW})
    assert storage.update_workflow_node("r1", "g2", ["waiting_approval"], {"status": "completed"})
    assert _keys(client, storage, "wfgates") == []


def test_the_job_index_follows_a_node_to_its_new_job(storage: RedisStorage) -> None:
    first, second = _job(), _job()
    storage.create_workflow_run(_run("r1"), [_node("r1", "a", 0, job_id=first.id)], [first])
    assert storage.update_workflow_node(
        "r1", "a", ["pending"], {"job_id": second.id}, new_jobs=[second]
    )
    assert storage.workflow_node_for_job(first.id) is None
    assert storage.workflow_node_for_job(second.id).name == "a"  # type: ignore[union-attr]
    # The old job's outcome settles nothing: the node is no longer its node.
    (claimed,) = [job for job in storage.claim("w", None, None, 1, NOW, 30_000)]
    assert claimed.id == first.id
    finish = Finish(first.id, claimed.attempt, JobStatus.COMPLETE, b"1", worker_id="w")
    assert storage.finish_many([finish], NOW + 1) == [True]
    assert storage.workflow_nodes("r1")[0].status == "pending"
    assert storage.get_workflow_run("r1").advance_due_at is None  # type: ignore[union-attr]


def test_finish_and_claim_settles_the_node_of_a_finished_job(storage: RedisStorage) -> None:
    job = _job()
    storage.create_workflow_run(_run("r1"), [_node("r1", "a", 0, job_id=job.id)], [job])
    (claimed,) = storage.claim("w", None, None, 1, NOW, 30_000)
    finish = Finish(job.id, claimed.attempt, JobStatus.COMPLETE, b"\x00\xff", worker_id="w")
    applied, _ = storage.finish_and_claim([finish], "w", None, None, 1, NOW + 3, 30_000)
    assert applied == [True]
    (node,) = storage.workflow_nodes("r1")
    assert (node.status, node.result_hash, node.completed_at) == (
        "completed",
        result_digest(b"\x00\xff"),
        NOW + 3,
    )
    assert storage.workflow_runs_due(NOW + 3, 10) == ["r1"]


def test_a_poison_pill_of_an_expired_lease_fails_its_node(storage: RedisStorage) -> None:
    """``requeue.lua`` settles too (the suite's poison pill goes through ``release.lua``)."""
    job = _job()
    storage.create_workflow_run(_run("r1"), [_node("r1", "a", 0, job_id=job.id)], [job])
    (claimed,) = storage.claim("w", None, None, 1, NOW, 1)
    assert claimed.id == job.id
    (rescued,) = storage.requeue_expired(NOW + 1_000, max_rescues=0)
    assert rescued.id == job.id
    (node,) = storage.workflow_nodes("r1")
    assert node.status == "failed" and (node.error or "").startswith("poison pill")
    assert node.completed_at == NOW + 1_000
    assert storage.workflow_runs_due(NOW + 1_000, 10) == ["r1"]


def test_pages_read_only_their_namespace_and_state(storage: RedisStorage) -> None:
    for n, (namespace, state) in enumerate(
        [(None, "running"), ("a:b", "running"), ("a", "completed"), (None, "completed")]
    ):
        storage.create_workflow_run(_run(f"r{n}", namespace=namespace, state=state), [], [])
    assert [r.id for r in storage.list_workflow_runs(None, None, 10, None)] == ["r3", "r0"]
    assert [r.id for r in storage.list_workflow_runs("running", "a:b", 10, None)] == ["r1"]
    assert storage.list_workflow_runs("completed", "a:b", 10, None) == []
    assert storage.update_workflow_run("r0", ["running"], {"state": "cancelled"})
    assert [r.id for r in storage.list_workflow_runs("cancelled", None, 10, None)] == ["r0"]
    assert storage.list_workflow_runs("running", None, 10, None) == []


# --- names with the layout's separators -----------------------------------------------------


def test_run_ids_and_node_names_with_separators_do_not_collide(storage: RedisStorage) -> None:
    jobs = [_job() for _ in range(4)]
    pairs = [("a:b", "c"), ("a", "b:c"), ("x\0", "y"), ("x", "\0y")]
    for (run_id, name), job in zip(pairs, jobs, strict=True):
        storage.create_workflow_run(
            _run(run_id), [_node(run_id, name, 0, job_id=job.id, kind="gate")], [job]
        )
        assert storage.update_workflow_node(
            run_id, name, ["pending"], {"status": "waiting_approval", "gate_deadline_at": NOW}
        )
    for (run_id, name), job in zip(pairs, jobs, strict=True):
        ((stored),) = storage.workflow_nodes(run_id)
        assert (stored.run_id, stored.name) == (run_id, name)
        found = storage.workflow_node_for_job(job.id)
        assert found is not None and (found.run_id, found.name) == (run_id, name)
    assert sorted(storage.expired_workflow_gates(NOW, 10)) == sorted(pairs)


def test_a_parent_settlement_reaches_a_parent_run_whose_id_holds_separators(
    storage: RedisStorage,
) -> None:
    storage.create_workflow_run(_run("p:1\0"), [_node("p:1\0", "sub:x", 0, kind="subworkflow")], [])
    storage.create_workflow_run(_run("c", parent_run_id="p:1\0", parent_node_name="sub:x"), [], [])
    settle = ParentSettle("p:1\0", "sub:x", "completed", None, NOW + 2)
    assert storage.update_workflow_run(
        "c", ["running"], {"state": "completed"}, settle_parent=settle
    )
    (node,) = storage.workflow_nodes("p:1\0")
    assert (node.status, node.completed_at) == ("completed", NOW + 2)
    assert storage.workflow_runs_due(NOW + 2, 10) == ["p:1\0"]


# --- a repeat after a dropped connection ----------------------------------------------------


@pytest.fixture
def stalled(
    private_server: Callable[..., PrivateServer],
) -> Iterator[tuple[RedisStorage, Callable[[float], threading.Thread], redis_py.Redis]]:
    """A storage (1 s socket timeout) on a private server, a way to stall that server for a
    while (DEBUG SLEEP, from a thread, returned once the server has stopped answering), and a
    client of the server. Stalled for 2 s, the server runs a call's first attempt after it
    timed out (1 s) and while its repeat (sent 50 ms later) still waits for the answer."""
    server = private_server("--enable-debug-command", "yes")
    storage = RedisStorage(server.url, prefix=f"t{uuid.uuid4().hex}", socket_timeout_s=1.0)
    client = redis_py.Redis.from_url(server.url)
    probe = redis_py.Redis.from_url(server.url, socket_timeout=0.1)

    def stalled_answer() -> bool:
        try:
            probe.ping()
        except redis_py.TimeoutError:
            return True
        return False

    def stall(seconds: float) -> threading.Thread:
        sleeper = redis_py.Redis.from_url(server.url)
        sending = threading.Event()

        def sleep() -> None:
            sending.set()
            sleeper.execute_command("DEBUG", "SLEEP", seconds)
            sleeper.close()

        thread = threading.Thread(target=sleep)
        thread.start()
        assert sending.wait(timeout=5)
        wait_until(stalled_answer, timeout_s=5, message="the server to stall")
        return thread

    yield storage, stall, client
    storage.close()
    client.close()
    probe.close()


def _evalsha_calls(client: redis_py.Redis) -> int:
    stats = cast("dict[str, dict[str, int]]", client.info("commandstats"))
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def test_a_node_update_repeated_after_its_reply_was_lost_reports_it_applied(
    stalled: tuple[RedisStorage, Callable[[float], threading.Thread], redis_py.Redis],
) -> None:
    """The first attempt times out while the server stalls; redis-py's runner sends it again on
    a new connection. The server then runs both: the repeat must answer True (the first one
    applied), where a plain compare-and-set would answer False and the caller would think
    another process won."""
    storage, stall, client = stalled
    storage.create_workflow_run(_run("r1"), [_node("r1", "a", 0)], [])
    assert not storage.update_workflow_node("r1", "a", ["running"], {})  # scripts loaded
    calls = _evalsha_calls(client)
    sleeper = stall(2.0)
    assert storage.update_workflow_node("r1", "a", ["pending"], {"status": "running"})
    sleeper.join(timeout=10)
    assert _evalsha_calls(client) - calls == 2, "the lost attempt and its repeat both ran"
    assert storage.workflow_nodes("r1")[0].status == "running"


def test_a_run_creation_repeated_after_its_reply_was_lost_succeeds(
    stalled: tuple[RedisStorage, Callable[[float], threading.Thread], redis_py.Redis],
) -> None:
    storage, stall, client = stalled
    storage.create_workflow_run(_run("warm"), [], [])  # scripts loaded
    calls = _evalsha_calls(client)
    job = _job()
    sleeper = stall(2.0)
    storage.create_workflow_run(_run("r1"), [_node("r1", "a", 0, job_id=job.id)], [job])
    sleeper.join(timeout=10)
    assert _evalsha_calls(client) - calls == 2, "the lost attempt and its repeat both ran"
    assert storage.get_job(job.id) is not None
    assert [n.name for n in storage.workflow_nodes("r1")] == ["a"]
    with pytest.raises(ValueError, match="already exists"):  # a new call is refused, as ever
        storage.create_workflow_run(_run("r1"), [], [])
