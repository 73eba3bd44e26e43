"""The workflow builder (spec workflows.md §1.1): what ``Workflow``, ``step()`` and ``gate()``
store, and every check, in its order, with its message; a refused step leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskito import Queue, TaskWrapper
from taskito.workflows import GateConfig, StepSpec, SubWorkflowRef, Workflow, WorkflowContext


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[Queue]:
    with Queue(db_path=str(tmp_path / "taskito.db")) as opened:
        yield opened


@pytest.fixture
def task(queue: Queue) -> TaskWrapper:
    @queue.task()
    def add(x: int, y: int = 0) -> int:
        return x + y

    return add


class NamedTask:
    """What the builder duck-types a task by (the spec: tests pass a bare object): a name."""

    def __init__(self, name: str) -> None:
        self._task_name = name


class Proxy:
    """What a ``SubWorkflowRef`` needs of its ``WorkflowProxy``: a name and a version."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.version = 1


def diamond(task: Any) -> Workflow:
    return (
        Workflow("diamond")
        .step("a", task)
        .step("b", task, after="a")
        .step("c", task, after=["a"])
        .step("d", task, after=["b", "c"])
    )


def refused(workflow: Workflow, error: type[Exception], match: str, call: Any) -> None:
    """``call(workflow)`` raises ``error`` matching ``match`` and adds no step."""
    before = workflow.step_names
    with pytest.raises(error, match=match):
        call(workflow)
    assert workflow.step_names == before


# -- the workflow itself ------------------------------------------------------------------------


def test_defaults() -> None:
    workflow = Workflow()
    assert (workflow.name, workflow.version, workflow.on_failure, workflow.cache_ttl) == (
        "workflow",
        1,
        "fail_fast",
        None,
    )
    assert workflow.steps == {}
    assert workflow.step_names == []
    assert repr(workflow) == "Workflow(name='workflow', version=1, steps=[])"


def test_options_are_kept() -> None:
    workflow = Workflow("etl", version=3, on_failure="continue", cache_ttl=60)
    assert (workflow.name, workflow.version, workflow.on_failure) == ("etl", 3, "continue")
    assert workflow.cache_ttl == 60.0
    assert isinstance(workflow.cache_ttl, float)


@pytest.mark.parametrize("mode", ["stop", "FAIL_FAST", "", None])
def test_on_failure_must_be_a_mode(mode: object) -> None:
    with pytest.raises(ValueError, match="on_failure must be 'fail_fast' or 'continue'"):
        Workflow(on_failure=mode)  # type: ignore[arg-type]


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf")])
def test_cache_ttl_must_be_a_positive_number(ttl: float) -> None:
    with pytest.raises(ValueError, match="cache_ttl must be a finite positive number"):
        Workflow(cache_ttl=ttl)


@pytest.mark.parametrize("ttl", ["60", True, [1]])
def test_cache_ttl_of_the_wrong_type(ttl: object) -> None:
    with pytest.raises(TypeError, match="cache_ttl must be a number of seconds"):
        Workflow(cache_ttl=ttl)  # type: ignore[arg-type]


def test_name_and_version_are_checked() -> None:
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        Workflow("")
    with pytest.raises(TypeError, match="name must be a str"):
        Workflow(7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="version must be >= 1"):
        Workflow(version=0)
    with pytest.raises(TypeError, match="version must be an int"):
        Workflow(version="1")  # type: ignore[arg-type]


# -- what a step stores -----------------------------------------------------------------------


def test_step_names_keep_insertion_order(task: TaskWrapper) -> None:
    workflow = Workflow().step("z", task).step("a", task).step("m", task, after="z")
    assert workflow.step_names == ["z", "a", "m"]
    assert list(workflow.steps) == ["z", "a", "m"]


def test_step_returns_the_workflow_and_stores_its_spec(task: TaskWrapper) -> None:
    workflow = Workflow()
    assert workflow.step("a", task) is workflow
    workflow.step(
        "b",
        task,
        after="a",
        args=[1],
        kwargs={"y": 2},
        queue="etl",
        max_retries=0,
        timeout_ms=5_000,
        priority=-3,
        condition="always",
    )
    assert workflow.steps["b"] == StepSpec(
        name="b",
        task_name=task.name,
        task=task,
        after=("a",),
        args=(1,),
        kwargs={"y": 2},
        queue="etl",
        max_retries=0,
        timeout_ms=5_000,
        priority=-3,
        condition="always",
    )
    assert workflow.steps["a"] == StepSpec(name="a", task_name=task.name, task=task, after=())
    assert workflow.steps["b"].kind == "task"


def test_edges_and_predecessors_follow_step_then_after_order(task: TaskWrapper) -> None:
    workflow = diamond(task)
    assert workflow.edges == [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
    assert workflow.predecessors() == {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")}


def test_a_bare_object_with_a_task_name_is_a_task() -> None:
    workflow = Workflow().step("a", NamedTask("jobs.extract"))
    assert workflow.steps["a"].task_name == "jobs.extract"


def test_fan_out_and_fan_in(task: TaskWrapper) -> None:
    workflow = (
        Workflow()
        .step("source", task)
        .step("each", task, after="source", fan_out="each")
        .step("all", task, after="each", fan_in="all")
        .step("again", task, after="all", fan_out="each")
    )
    kinds = {name: spec.kind for name, spec in workflow.steps.items()}
    assert kinds == {"source": "task", "each": "fan_out", "all": "fan_in", "again": "fan_out"}
    assert workflow.steps["each"].fan_out == "each"
    assert workflow.steps["all"].fan_in == "all"


def test_every_kind_of_condition_is_stored(task: TaskWrapper) -> None:
    def wanted(ctx: WorkflowContext) -> bool:
        return bool(ctx.results)

    workflow = Workflow().step("a", task)
    for name, condition in [
        ("s", "on_success"),
        ("f", "on_failure"),
        ("w", "always"),
        ("c", wanted),
        ("n", None),
    ]:
        workflow.step(name, task, after="a", condition=condition)
        assert workflow.steps[name].condition is condition


def test_a_sub_workflow_step() -> None:
    ref = SubWorkflowRef(proxy=Proxy("child_flow"), params={"n": 3})
    workflow = Workflow().step("prep", NamedTask("t")).step("child", ref, after="prep")
    spec = workflow.steps["child"]
    assert spec.task_name == "__subworkflow__child_flow"
    assert spec.task is None
    assert spec.subworkflow is ref
    assert spec.kind == "subworkflow"


def test_a_sub_workflow_proxy_needs_a_name() -> None:
    refused(
        Workflow(),
        ValueError,
        "step 'child': the sub-workflow's proxy has no name",
        lambda w: w.step("child", SubWorkflowRef(proxy=object(), params={})),
    )


# -- step(): the spec's checks, each with its message ---------------------------------------


def test_1_a_duplicate_name(task: TaskWrapper) -> None:
    refused(
        Workflow().step("x", task),
        ValueError,
        "step 'x' already defined",
        lambda w: w.step("x", task),
    )


def test_2_a_name_with_a_bracket(task: TaskWrapper) -> None:
    refused(
        Workflow(),
        ValueError,
        r"step name 'x\[0\]' must not contain '\['",
        lambda w: w.step("x[0]", task),
    )


@pytest.mark.parametrize(
    "bad_task",
    [object(), NamedTask(""), lambda: None, "tasks.add", None, NamedTask(5)],  # type: ignore[arg-type]
    ids=["object", "empty-name", "function", "str", "none", "non-str-name"],
)
def test_3_a_task_without_a_name(bad_task: object) -> None:
    refused(
        Workflow(),
        ValueError,
        "step 'x': task must be a task .* got ",
        lambda w: w.step("x", bad_task),
    )


@pytest.mark.parametrize("after", ["missing", ["missing"], ["a", "missing"], [3]])
def test_4_a_predecessor_not_added_before(task: TaskWrapper, after: Any) -> None:
    bad = "3" if after == [3] else "'missing'"
    refused(
        Workflow().step("a", task),
        ValueError,
        f"step 'x': predecessor {bad} must be added before this step",
        lambda w: w.step("x", task, after=after),
    )


def test_4_a_step_cannot_name_itself_so_no_cycle_can_be_built(task: TaskWrapper) -> None:
    refused(
        Workflow(),
        ValueError,
        "predecessor 'x' must be added before this step",
        lambda w: w.step("x", task, after="x"),
    )


def test_4_ours_a_repeated_predecessor(task: TaskWrapper) -> None:
    refused(
        Workflow().step("a", task),
        ValueError,
        "step 'x': predecessor 'a' is named twice in after",
        lambda w: w.step("x", task, after=["a", "a"]),
    )


@pytest.mark.parametrize("after", [{"a"}, 5, b"a"])
def test_4_after_of_the_wrong_type(task: TaskWrapper, after: object) -> None:
    refused(
        Workflow().step("a", task),
        TypeError,
        "step 'x': after must be a step name or a list of step names",
        lambda w: w.step("x", task, after=after),
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fan_out": "all"}, "step 'x': fan_out must be 'each', got 'all'"),
        ({"fan_out": True}, "step 'x': fan_out must be 'each', got True"),
        ({"fan_in": "each"}, "step 'x': fan_in must be 'all', got 'each'"),
        ({"fan_out": "each", "fan_in": "all"}, "step 'x': a step cannot both fan out and fan in"),
    ],
)
def test_5_fan_values(task: TaskWrapper, options: dict[str, Any], message: str) -> None:
    refused(
        Workflow().step("a", task).step("p", task, after="a", fan_out="each"),
        ValueError,
        message,
        lambda w: w.step("x", task, after="p", **options),
    )


@pytest.mark.parametrize("option", ["fan_out", "fan_in"])
@pytest.mark.parametrize(("after", "count"), [(None, 0), (["a", "b"], 2)])
def test_5_fan_steps_need_exactly_one_predecessor(
    task: TaskWrapper, option: str, after: Any, count: int
) -> None:
    value = "each" if option == "fan_out" else "all"
    refused(
        Workflow().step("a", task).step("b", task),
        ValueError,
        f"step 'x': {option} needs exactly one predecessor, got {count}",
        lambda w: w.step("x", task, after=after, **{option: value}),
    )


def test_5_a_fan_in_needs_a_fan_out_predecessor(task: TaskWrapper) -> None:
    refused(
        Workflow().step("a", task),
        ValueError,
        "step 'x': fan_in's predecessor 'a' must have fan_out",
        lambda w: w.step("x", task, after="a", fan_in="all"),
    )


def test_5_ours_a_fan_out_of_a_fan_out(task: TaskWrapper) -> None:
    refused(
        Workflow().step("a", task).step("p", task, after="a", fan_out="each"),
        ValueError,
        "step 'x': fan_out's predecessor 'p' is itself a fan_out step",
        lambda w: w.step("x", task, after="p", fan_out="each"),
    )


def test_5_ours_a_fan_out_of_a_gate_or_a_sub_workflow(task: TaskWrapper) -> None:
    ref = SubWorkflowRef(proxy=Proxy("child"), params={})
    workflow = Workflow().gate("g").step("s", ref)
    refused(
        workflow,
        ValueError,
        "step 'x': fan_out iterates its predecessor's result, and gate step 'g' has none",
        lambda w: w.step("x", task, after="g", fan_out="each"),
    )
    refused(
        workflow,
        ValueError,
        "and subworkflow step 's' has none",
        lambda w: w.step("x", task, after="s", fan_out="each"),
    )


def test_5_ours_a_sub_workflow_cannot_fan(task: TaskWrapper) -> None:
    ref = SubWorkflowRef(proxy=Proxy("child"), params={})
    refused(
        Workflow().step("a", task),
        ValueError,
        "step 'x': a sub-workflow step cannot fan out or fan in",
        lambda w: w.step("x", ref, after="a", fan_out="each"),
    )


@pytest.mark.parametrize("condition", ["on_succes", "", "ALWAYS", 1, ["always"]])
def test_6_a_condition_not_named_nor_callable(task: TaskWrapper, condition: object) -> None:
    refused(
        Workflow().step("a", task),
        ValueError,
        "step 'x': condition must be None, 'on_success', 'on_failure', 'always' or a callable",
        lambda w: w.step("x", task, after="a", condition=condition),
    )


# -- the order of the checks ------------------------------------------------------------------


def test_checks_run_in_the_spec_order(task: TaskWrapper) -> None:
    workflow = Workflow().step("a", task)
    cases = [
        # (a call failing two checks, the earlier one's message)
        (lambda w: w.step("a", object(), after="zz"), "already defined"),
        (lambda w: w.step("a[1]", object(), after="zz"), "must not contain"),
        (lambda w: w.step("x", object(), after="zz"), "task must be a task"),
        (lambda w: w.step("x", task, after="zz", fan_out="bad"), "must be added before"),
        (lambda w: w.step("x", task, after="a", fan_in="bad", condition=3), "fan_in must be"),
        (lambda w: w.step("x", task, after="a", condition=3, priority="hi"), "condition must be"),
    ]
    for call, message in cases:
        refused(workflow, ValueError, message, call)


# -- step(): the options (ours) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"args": 5}, TypeError, "step 'x': args must be a tuple or list, not int"),
        ({"args": "ab"}, TypeError, "step 'x': args must be a tuple or list, not str"),
        ({"kwargs": [("a", 1)]}, TypeError, "step 'x': kwargs must be a dict, not list"),
        ({"kwargs": {1: 2}}, TypeError, "step 'x': kwargs keys must be str, got 1"),
        ({"queue": ""}, ValueError, "step 'x': queue must be a non-empty string"),
        ({"queue": 3}, TypeError, "step 'x': queue must be a str"),
        ({"max_retries": -1}, ValueError, "step 'x': max_retries must be >= 0"),
        ({"max_retries": 1.5}, TypeError, "step 'x': max_retries must be an int"),
        ({"timeout_ms": 0}, ValueError, "step 'x': timeout_ms must be >= 1"),
        ({"timeout_ms": True}, TypeError, "step 'x': timeout_ms must be an int"),
        ({"priority": 2**63}, ValueError, "step 'x': priority must be a 64-bit integer"),
        ({"priority": "high"}, TypeError, "step 'x': priority must be an int"),
    ],
)
def test_step_options_are_checked(
    task: TaskWrapper, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    refused(Workflow(), error, message, lambda w: w.step("x", task, **options))


@pytest.mark.parametrize(
    ("name", "error"), [("", ValueError), (3, TypeError), ("a\x00", ValueError)]
)
def test_a_step_name_must_be_storable_text(task: TaskWrapper, name: object, error: type) -> None:
    refused(Workflow(), error, "step name", lambda w: w.step(name, task))


# -- gate() ---------------------------------------------------------------------------------


def test_a_gate_is_stored_with_its_config(task: TaskWrapper) -> None:
    workflow = Workflow().step("a", task)
    assert workflow.gate("approve", after="a", timeout=1, on_timeout="approve", message="ok?") is (
        workflow
    )
    spec = workflow.steps["approve"]
    assert spec == StepSpec(
        name="approve",
        task_name="__gate__",
        task=None,
        after=("a",),
        gate=GateConfig(timeout=1.0, on_timeout="approve", message="ok?"),
    )
    assert spec.kind == "gate"
    workflow.step("b", task, after="approve")
    assert workflow.step_names == ["a", "approve", "b"]


def test_a_gate_defaults() -> None:
    spec = Workflow().gate("g").steps["g"]
    assert spec.gate == GateConfig(timeout=None, on_timeout="reject", message=None)
    assert spec.after == ()
    assert spec.condition is None


def test_a_gate_message_may_be_a_callable() -> None:
    def message(ctx: WorkflowContext) -> str:
        return f"run {ctx.run_id}"

    gate = Workflow().gate("g", message=message).steps["g"].gate
    assert gate is not None and gate.message is message


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda w: w.gate("a"), ValueError, "step 'a' already defined"),
        (lambda w: w.gate("g[0]"), ValueError, r"step name 'g\[0\]' must not contain '\['"),
        (
            lambda w: w.gate("g", on_timeout="skip"),
            ValueError,
            "gate 'g': on_timeout must be 'approve' or 'reject', got 'skip'",
        ),
        (
            lambda w: w.gate("g", after="zz"),
            ValueError,
            "step 'g': predecessor 'zz' must be added before this step",
        ),
        (
            lambda w: w.gate("g", after=["a", "a"]),
            ValueError,
            "step 'g': predecessor 'a' is named twice in after",
        ),
        (
            lambda w: w.gate("g", after="a", condition="sometimes"),
            ValueError,
            "step 'g': condition must be None, 'on_success', 'on_failure', 'always'",
        ),
        (
            lambda w: w.gate("g", timeout=0),
            ValueError,
            "gate 'g': timeout must be a finite positive number of seconds",
        ),
        (
            lambda w: w.gate("g", timeout="1"),
            TypeError,
            "gate 'g': timeout must be a number of seconds",
        ),
        (
            lambda w: w.gate("g", message=42),
            TypeError,
            "gate 'g': message must be a str, a callable or None, not int",
        ),
    ],
)
def test_gate_checks(task: TaskWrapper, call: Any, error: type[Exception], message: str) -> None:
    refused(Workflow().step("a", task), error, message, call)


def test_gate_checks_run_in_the_spec_order(task: TaskWrapper) -> None:
    workflow = Workflow().step("a", task)
    cases = [
        (lambda w: w.gate("a", on_timeout="bad", after="zz"), "already defined"),
        (lambda w: w.gate("a[", on_timeout="bad", after="zz"), "must not contain"),
        (lambda w: w.gate("g", on_timeout="bad", after="zz"), "on_timeout must be"),
        (lambda w: w.gate("g", after="zz", condition=1), "must be added before"),
    ]
    for call, message in cases:
        refused(workflow, ValueError, message, call)
