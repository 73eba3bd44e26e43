"""Which steps an incremental run re-runs (spec workflows.md §2.10): cached when the base node
completed with a hash, dirty otherwise, dirtiness flowing to every later step, and a base run
older than ``cache_ttl`` making everything dirty."""

from __future__ import annotations

import pytest

from taskito.storage.workflow_contract import WorkflowNodeRecord
from taskito.workflows import NodeStatus, Workflow
from taskito.workflows.analysis import successors_of
from taskito.workflows.incremental import compute_dirty_set

NAMES = ["a", "b", "c", "d"]
#: a -> b -> c, and d on its own.
PREDECESSORS = {"a": [], "b": ["a"], "c": ["b"], "d": []}
SUCCESSORS = {"a": ["b"], "b": ["c"], "c": [], "d": []}
NOW_MS = 1_700_000_000_000


def all_completed() -> dict[str, tuple[str, str | None]]:
    return {name: ("completed", f"hash-{name}") for name in NAMES}


def test_every_completed_node_with_a_hash_is_cached() -> None:
    dirty, cached = compute_dirty_set(all_completed(), NAMES, SUCCESSORS, PREDECESSORS)
    assert dirty == set()
    assert cached == {"a": "hash-a", "b": "hash-b", "c": "hash-c", "d": "hash-d"}


def test_a_dirty_node_makes_every_later_node_dirty() -> None:
    base = all_completed()
    base["a"] = ("failed", None)
    dirty, cached = compute_dirty_set(base, NAMES, SUCCESSORS, PREDECESSORS)
    assert dirty == {"a", "b", "c"}
    assert cached == {"d": "hash-d"}


@pytest.mark.parametrize(
    ("successors", "predecessors"),
    [(SUCCESSORS, None), (None, PREDECESSORS), ({}, PREDECESSORS), (SUCCESSORS, {})],
)
def test_propagation_reads_either_map(
    successors: dict[str, list[str]] | None, predecessors: dict[str, list[str]] | None
) -> None:
    base = all_completed()
    base["b"] = ("completed", None)
    dirty, cached = compute_dirty_set(base, NAMES, successors, predecessors)
    assert dirty == {"b", "c"}
    assert cached == {"a": "hash-a", "d": "hash-d"}


def test_propagation_through_a_diamond() -> None:
    task = type("NamedTask", (), {"_task_name": "tasks.noop"})()
    workflow = (
        Workflow()
        .step("a", task)
        .step("b", task, after="a")
        .step("c", task, after="a")
        .step("d", task, after=["b", "c"])
        .step("e", task, after="c")
    )
    predecessors = workflow.predecessors()
    base = {name: ("completed", f"h{name}") for name in workflow.step_names}
    base["b"] = ("skipped", None)
    dirty, cached = compute_dirty_set(
        base, workflow.step_names, successors_of(predecessors), predecessors
    )
    assert dirty == {"b", "d"}
    assert cached == {"a": "ha", "c": "hc", "e": "he"}


@pytest.mark.parametrize("status", ["failed", "skipped", "pending", "cache_hit", "running"])
def test_a_node_that_did_not_complete_in_the_base_is_dirty(status: str) -> None:
    base = all_completed()
    base["c"] = (status, "hash-c")
    dirty, cached = compute_dirty_set(base, NAMES, SUCCESSORS, PREDECESSORS)
    assert dirty == {"c"}
    assert set(cached) == {"a", "b", "d"}


@pytest.mark.parametrize("missing", [None, ""])
def test_a_completed_node_without_a_hash_is_dirty(missing: str | None) -> None:
    base = all_completed()
    base["d"] = ("completed", missing)
    dirty, _cached = compute_dirty_set(base, NAMES, SUCCESSORS, PREDECESSORS)
    assert dirty == {"d"}


def test_a_step_missing_from_the_base_is_dirty_and_spreads() -> None:
    base = all_completed()
    del base["b"]
    dirty, cached = compute_dirty_set(base, NAMES, SUCCESSORS, PREDECESSORS)
    assert dirty == {"b", "c"}
    assert set(cached) == {"a", "d"}


def test_base_nodes_no_longer_in_the_workflow_are_ignored() -> None:
    base = {**all_completed(), "gone": ("failed", None)}
    dirty, cached = compute_dirty_set(base, ["a", "b", "a"], SUCCESSORS, PREDECESSORS)
    assert (dirty, cached) == (set(), {"a": "hash-a", "b": "hash-b"})


def test_the_ttl_expired_makes_everything_dirty() -> None:
    dirty, cached = compute_dirty_set(
        all_completed(),
        NAMES,
        SUCCESSORS,
        PREDECESSORS,
        cache_ttl=60,
        base_run_completed_at=NOW_MS - 60_001,
        now_ms=NOW_MS,
    )
    assert (dirty, cached) == (set(NAMES), {})


def test_within_the_ttl_the_cache_holds() -> None:
    dirty, cached = compute_dirty_set(
        all_completed(),
        NAMES,
        SUCCESSORS,
        PREDECESSORS,
        cache_ttl=60,
        base_run_completed_at=NOW_MS - 60_000,
        now_ms=NOW_MS,
    )
    assert dirty == set()
    assert len(cached) == 4


def test_the_ttl_against_the_clock() -> None:
    long_ago = NOW_MS - 10**9  # a run completed about 11 days before NOW_MS, itself in 2023
    dirty, _cached = compute_dirty_set(
        all_completed(), NAMES, SUCCESSORS, PREDECESSORS, 0.5, long_ago
    )
    assert dirty == set(NAMES)


def test_a_ttl_without_a_completion_time_is_ignored() -> None:
    dirty, cached = compute_dirty_set(
        all_completed(), NAMES, SUCCESSORS, PREDECESSORS, cache_ttl=1, now_ms=NOW_MS
    )
    assert dirty == set()
    assert len(cached) == 4


def test_forced_nodes_are_dirty_and_spread() -> None:
    dirty, cached = compute_dirty_set(
        all_completed(), NAMES, SUCCESSORS, PREDECESSORS, forced={"b"}
    )
    assert dirty == {"b", "c"}
    assert set(cached) == {"a", "d"}


def record(name: str, status: str, result_hash: str | None) -> WorkflowNodeRecord:
    return WorkflowNodeRecord(
        run_id="base", name=name, kind="task", status=status, position=0, result_hash=result_hash
    )


def test_base_nodes_may_be_records_tuples_or_enums() -> None:
    records = [record("a", "completed", "ha"), record("b", "failed", None)]
    expected = ({"b", "c", "d"}, {"a": "ha"})
    assert compute_dirty_set(records, ["a", "b", "c", "d"], SUCCESSORS, None) == expected
    by_name = {r.name: r for r in records}
    assert compute_dirty_set(by_name, ["a", "b", "c", "d"], SUCCESSORS, None) == expected
    triples = [("a", NodeStatus.COMPLETED, "ha"), ("b", NodeStatus.FAILED, None)]
    assert compute_dirty_set(triples, ["a", "b", "c", "d"], SUCCESSORS, None) == expected
    pairs = {"a": [NodeStatus.COMPLETED, "ha"], "b": ["failed", None]}
    assert compute_dirty_set(pairs, ["a", "b", "c", "d"], SUCCESSORS, None) == expected


def test_bad_times_are_refused() -> None:
    with pytest.raises(ValueError, match="cache_ttl must be a finite non-negative number"):
        compute_dirty_set({}, NAMES, SUCCESSORS, None, -1, NOW_MS)
    with pytest.raises(TypeError, match="base_run_completed_at must be an int"):
        compute_dirty_set({}, NAMES, SUCCESSORS, None, 60, "yesterday")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="now_ms must be an int"):
        compute_dirty_set({}, NAMES, SUCCESSORS, None, 60, NOW_MS, now_ms=1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("base_nodes", "message"),
    [
        (["a"], r"base_nodes must hold \(name, status, result_hash\) tuples or node records"),
        ([("a", "completed")], "base_nodes must hold"),
        ({"a": "completed"}, r"base_nodes must map names to \(status, result_hash\) pairs"),
        ({"a": ("completed", "h", "x")}, "base_nodes must map names"),
    ],
)
def test_base_nodes_of_the_wrong_shape(base_nodes: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        compute_dirty_set(base_nodes, NAMES, SUCCESSORS, None)  # type: ignore[arg-type]
