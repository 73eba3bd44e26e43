"""Analysis of a workflow before it runs (spec workflows.md §1.2): the spec's examples on the
linear and diamond workflows, then the edges (an empty workflow, ties, bad input)."""

from __future__ import annotations

import pytest

from taskito.workflows import Workflow
from taskito.workflows.analysis import successors_of


class NamedTask:
    """The builder duck-types a task by its name (the spec: tests pass a bare object)."""

    _task_name = "tasks.noop"


TASK = NamedTask()


def linear() -> Workflow:
    return Workflow("linear").step("a", TASK).step("b", TASK, after="a").step("c", TASK, after="b")


def diamond() -> Workflow:
    return (
        Workflow("diamond")
        .step("a", TASK)
        .step("b", TASK, after="a")
        .step("c", TASK, after="a")
        .step("d", TASK, after=["b", "c"])
    )


# -- the spec's examples ---------------------------------------------------------------------


def test_ancestors_are_transitive_and_sorted() -> None:
    assert linear().ancestors("c") == ["a", "b"]
    assert diamond().ancestors("d") == ["a", "b", "c"]
    assert diamond().ancestors("a") == []


def test_descendants_are_transitive_and_sorted() -> None:
    assert linear().descendants("a") == ["b", "c"]
    assert diamond().descendants("a") == ["b", "c", "d"]
    assert diamond().descendants("d") == []


@pytest.mark.parametrize("method", ["ancestors", "descendants"])
def test_an_unknown_node_raises_key_error_naming_it(method: str) -> None:
    with pytest.raises(KeyError, match="nope"):
        getattr(diamond(), method)("nope")


def test_topological_levels_linear() -> None:
    assert linear().topological_levels() == [["a"], ["b"], ["c"]]


def test_topological_levels_diamond() -> None:
    assert diamond().topological_levels() == [["a"], ["b", "c"], ["d"]]


def test_stats_diamond() -> None:
    assert diamond().stats() == {"nodes": 4, "edges": 4, "depth": 3, "width": 2, "density": 0.6667}


def test_critical_path_linear() -> None:
    assert linear().critical_path({"a": 1, "b": 2, "c": 3}) == (["a", "b", "c"], 6.0)


def test_critical_path_diamond() -> None:
    path, total = diamond().critical_path({"a": 1, "b": 5, "c": 2, "d": 1})
    assert (path, total) == (["a", "b", "d"], 7.0)
    assert isinstance(total, float)


def test_execution_plan_with_two_workers() -> None:
    assert diamond().execution_plan(max_workers=2) == [["a"], ["b", "c"], ["d"]]


def test_execution_plan_with_one_worker() -> None:
    assert diamond().execution_plan(1) == [["a"], ["b"], ["c"], ["d"]]
    assert diamond().execution_plan() == [["a"], ["b"], ["c"], ["d"]]


def test_bottleneck_analysis_diamond() -> None:
    report = diamond().bottleneck_analysis({"a": 1, "b": 5, "c": 2, "d": 1})
    assert report["node"] == "b"
    assert report["cost"] == 5.0
    assert report["percentage"] > 50
    assert report["critical_path"] == ["a", "b", "d"]
    assert report == {
        "node": "b",
        "cost": 5.0,
        "percentage": 71.4,
        "critical_path": ["a", "b", "d"],
        "total_cost": 7.0,
        "suggestion": "b is the bottleneck (71.4% of total time). Consider increasing "
        "max_concurrent or optimizing this step.",
    }


# -- the edges ----------------------------------------------------------------------------


def test_an_empty_workflow() -> None:
    empty = Workflow()
    assert empty.topological_levels() == []
    assert empty.stats() == {"nodes": 0, "edges": 0, "depth": 0, "width": 0, "density": 0.0}
    assert empty.critical_path({}) == ([], 0.0)
    assert empty.execution_plan(3) == []


def test_stats_of_one_step_divides_by_one() -> None:
    assert Workflow().step("a", TASK).stats() == {
        "nodes": 1,
        "edges": 0,
        "depth": 1,
        "width": 1,
        "density": 0.0,
    }


def test_a_missing_cost_is_zero() -> None:
    assert linear().critical_path({"b": 2}) == (["a", "b"], 2.0)
    assert linear().critical_path({}) == (["a"], 0.0)


def test_only_a_strictly_larger_predecessor_replaces_the_first() -> None:
    # b and c tie: d keeps its first predecessor, b.
    assert diamond().critical_path({"b": 2, "c": 2, "d": 1}) == (["a", "b", "d"], 3.0)
    # c costs more: it replaces b.
    assert diamond().critical_path({"b": 2, "c": 3, "d": 1}) == (["a", "c", "d"], 4.0)


def test_the_path_ends_at_the_first_node_with_the_largest_sum() -> None:
    workflow = Workflow().step("x", TASK).step("y", TASK)
    assert workflow.critical_path({"x": 4, "y": 4}) == (["x"], 4.0)
    assert workflow.critical_path({"x": 1, "y": 4}) == (["y"], 4.0)


def test_levels_follow_names_not_insertion_order() -> None:
    workflow = Workflow().step("z", TASK).step("m", TASK).step("a", TASK, after="z")
    assert workflow.topological_levels() == [["m", "z"], ["a"]]
    assert workflow.execution_plan(1) == [["m"], ["z"], ["a"]]


@pytest.mark.parametrize("workers", [0, -2])
def test_execution_plan_needs_at_least_one_worker(workers: int) -> None:
    with pytest.raises(ValueError, match="max_workers must be >= 1"):
        diamond().execution_plan(workers)


def test_execution_plan_needs_an_int() -> None:
    with pytest.raises(TypeError, match="max_workers must be an int"):
        diamond().execution_plan(2.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("costs", [{}, {"a": 0, "b": 0}])
def test_bottleneck_of_a_zero_total(costs: dict[str, float]) -> None:
    assert diamond().bottleneck_analysis(costs) == {
        "node": None,
        "cost": 0.0,
        "percentage": 0.0,
        "critical_path": [],
        "total_cost": 0.0,
        "suggestion": None,
    }
    assert Workflow().bottleneck_analysis({"a": 3})["node"] is None


def test_bottleneck_takes_the_first_on_a_tie() -> None:
    report = linear().bottleneck_analysis({"a": 2, "b": 2, "c": 1})
    assert (report["node"], report["percentage"]) == ("a", 40.0)


def test_costs_must_be_numbers() -> None:
    with pytest.raises(TypeError, match="the cost of 'b' must be a number, not str"):
        diamond().critical_path({"b": "5"})
    with pytest.raises(TypeError, match="costs must be a mapping"):
        diamond().bottleneck_analysis([("b", 5)])  # type: ignore[arg-type]


def test_successors_of() -> None:
    assert successors_of(diamond().predecessors()) == {
        "a": ["b", "c"],
        "b": ["d"],
        "c": ["d"],
        "d": [],
    }
