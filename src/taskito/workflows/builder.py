"""The workflow builder: ``Workflow`` collects steps and gates into a DAG, checking each one
as it is added, so a workflow that builds is one the engine can run.

A step names its predecessors (``after``), which must already exist: a cycle cannot be
built. Every check raises at the ``step()`` or ``gate()`` call, naming the step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from taskito import _checks
from taskito.queue.checks import (
    check_duration,
    check_exact_count,
    check_priority,
    check_storable_name,
)
from taskito.workflows import analysis
from taskito.workflows.types import GateConfig, WorkflowContext
from taskito.workflows.visualization import render_dot, render_mermaid

#: The task name stored for a gate node.
GATE_TASK_NAME = "__gate__"
#: The prefix of a sub-workflow node's task name; the proxy's name follows it.
SUBWORKFLOW_TASK_PREFIX = "__subworkflow__"
#: The named conditions; a callable taking a ``WorkflowContext`` is the fourth kind.
NAMED_CONDITIONS = ("on_success", "on_failure", "always")
#: What a failed node does to the rest of the run (docs/workflows.md).
ON_FAILURE_MODES = ("fail_fast", "continue")

Condition = str | Callable[[WorkflowContext], Any]


@dataclass(frozen=True)
class SubWorkflowRef:
    """A step that runs another workflow as a child run: ``proxy.as_step(**params)``. The
    proxy (a ``WorkflowProxy``) has ``name``, ``version`` and the factory the engine calls
    with ``params`` when the step is due."""

    proxy: Any
    params: dict[str, Any]


@dataclass(frozen=True)
class StepSpec:
    """One checked step of a ``Workflow``: a task, a gate or a sub-workflow."""

    name: str
    #: The task's registered name; ``"__gate__"``; or ``"__subworkflow__<proxy name>"``.
    task_name: str
    #: The task object of a task step (a ``TaskWrapper``), else None.
    task: Any | None
    after: tuple[str, ...]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    max_retries: int | None = None
    timeout_ms: int | None = None
    priority: int | None = None
    fan_out: str | None = None
    fan_in: str | None = None
    condition: Condition | None = None
    gate: GateConfig | None = None
    subworkflow: SubWorkflowRef | None = None

    @property
    def kind(self) -> str:
        """The node kind of the storage contract: task, gate, subworkflow, fan_out, fan_in."""
        if self.gate is not None:
            return "gate"
        if self.subworkflow is not None:
            return "subworkflow"
        if self.fan_out is not None:
            return "fan_out"
        if self.fan_in is not None:
            return "fan_in"
        return "task"


class Workflow:
    """A DAG of steps, built with ``step()`` and ``gate()`` (each returns the workflow, so
    calls chain), submitted with ``queue.submit_workflow(workflow)``.

    ``on_failure`` is ``"fail_fast"`` (a failure skips every step not yet started that waits
    on success) or ``"continue"`` (conditions alone decide); ``cache_ttl`` (seconds) bounds
    how old a base run's results an incremental run may reuse.
    """

    def __init__(
        self,
        name: str = "workflow",
        version: int = 1,
        on_failure: str = "fail_fast",
        cache_ttl: float | None = None,
    ) -> None:
        if on_failure not in ON_FAILURE_MODES:
            raise ValueError(f"on_failure must be 'fail_fast' or 'continue', got {on_failure!r}")
        self.name: str = check_storable_name("name", name)
        self.version: int = _checks.check_int("version", version, minimum=1)
        self.on_failure: str = on_failure
        self.cache_ttl: float | None = (
            None if cache_ttl is None else check_duration("cache_ttl", cache_ttl, allow_zero=False)
        )
        #: Every step by name, in the order they were added.
        self.steps: dict[str, StepSpec] = {}

    def __repr__(self) -> str:
        return f"Workflow(name={self.name!r}, version={self.version}, steps={self.step_names!r})"

    @property
    def step_names(self) -> list[str]:
        """The steps' names in the order they were added."""
        return list(self.steps)

    @property
    def edges(self) -> list[tuple[str, str]]:
        """Every ``(predecessor, step)`` pair, in step order, then in ``after`` order."""
        return [(before, spec.name) for spec in self.steps.values() for before in spec.after]

    def predecessors(self) -> dict[str, tuple[str, ...]]:
        """Each step's predecessors, steps in the order they were added."""
        return {name: spec.after for name, spec in self.steps.items()}

    def step(
        self,
        name: str,
        task: Any,
        *,
        after: str | Sequence[str] | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        queue: str | None = None,
        max_retries: int | None = None,
        timeout_ms: int | None = None,
        priority: int | None = None,
        fan_out: str | None = None,
        fan_in: str | None = None,
        condition: Condition | None = None,
    ) -> Workflow:
        """Add a step that runs ``task`` (a task, or ``proxy.as_step(...)`` for a
        sub-workflow) once every step in ``after`` has finished and ``condition`` allows."""
        self._check_new_name(name)
        task_name, task_object, subworkflow = _task_identity(name, task)
        predecessors = self._check_after(name, after)
        self._check_fan(name, predecessors, fan_out, fan_in, subworkflow)
        _check_condition(name, condition)
        label = f"step {name!r}:"
        self.steps[name] = StepSpec(
            name=name,
            task_name=task_name,
            task=task_object,
            after=predecessors,
            args=_check_args(name, args),
            kwargs=_check_kwargs(name, kwargs),
            queue=None if queue is None else check_storable_name(f"{label} queue", queue),
            max_retries=(
                None
                if max_retries is None
                else check_exact_count(f"{label} max_retries", max_retries)
            ),
            timeout_ms=_checks.check_optional_int(f"{label} timeout_ms", timeout_ms, minimum=1),
            priority=None if priority is None else check_priority(f"{label} priority", priority),
            fan_out=fan_out,
            fan_in=fan_in,
            condition=condition,
            subworkflow=subworkflow,
        )
        return self

    def gate(
        self,
        name: str,
        *,
        after: str | Sequence[str] | None = None,
        condition: Condition | None = None,
        timeout: float | None = None,
        on_timeout: str = "reject",
        message: str | Callable[..., str] | None = None,
    ) -> Workflow:
        """Add an approval gate: once reached it waits for ``queue.approve_gate`` or
        ``queue.reject_gate`` (or ``timeout`` seconds, then ``on_timeout``)."""
        self._check_new_name(name)
        try:
            config = GateConfig(timeout=timeout, on_timeout=on_timeout, message=message)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"gate {name!r}: {exc}") from None
        predecessors = self._check_after(name, after)
        _check_condition(name, condition)
        self.steps[name] = StepSpec(
            name=name,
            task_name=GATE_TASK_NAME,
            task=None,
            after=predecessors,
            condition=condition,
            gate=config,
        )
        return self

    # -- analysis (workflows/analysis.py) -----------------------------------------------------

    def ancestors(self, name: str) -> list[str]:
        """Every step ``name`` runs after, directly or not, sorted."""
        return analysis.ancestors(self.predecessors(), name)

    def descendants(self, name: str) -> list[str]:
        """Every step that runs after ``name``, directly or not, sorted."""
        return analysis.descendants(self.predecessors(), name)

    def topological_levels(self) -> list[list[str]]:
        """The steps by level (roots first), each level sorted by name."""
        return analysis.topological_levels(self.predecessors())

    def stats(self) -> dict[str, Any]:
        """``{nodes, edges, depth, width, density}`` of the DAG."""
        return analysis.stats(self.predecessors())

    def critical_path(self, costs: Mapping[str, float]) -> tuple[list[str], float]:
        """The costliest chain of steps under ``costs`` (by step name) and its total."""
        return analysis.critical_path(self.predecessors(), costs)

    def execution_plan(self, max_workers: int = 1) -> list[list[str]]:
        """The levels in batches of at most ``max_workers`` steps."""
        return analysis.execution_plan(self.predecessors(), max_workers)

    def bottleneck_analysis(self, costs: Mapping[str, float]) -> dict[str, Any]:
        """The costliest step on the critical path, its share, and a suggestion."""
        return analysis.bottleneck_analysis(self.predecessors(), costs)

    def visualize(self, fmt: str = "mermaid") -> str:
        """The DAG as a picture's text: ``"dot"`` gives Graphviz DOT, anything else Mermaid."""
        render = render_dot if fmt == "dot" else render_mermaid
        return render(self.step_names, self.edges)

    def _check_new_name(self, name: object) -> None:
        text = check_storable_name("step name", name)
        if text in self.steps:
            raise ValueError(f"step {text!r} already defined")
        if "[" in text:
            raise ValueError(
                f"step name {text!r} must not contain '[' (reserved for fan-out children)"
            )

    def _check_after(self, name: str, after: object) -> tuple[str, ...]:
        if after is None:
            return ()
        if isinstance(after, str):
            names: tuple[object, ...] = (after,)
        elif isinstance(after, list | tuple):
            names = tuple(after)
        else:
            raise TypeError(
                f"step {name!r}: after must be a step name or a list of step names, "
                f"not {type(after).__name__}"
            )
        for index, before in enumerate(names):
            if not isinstance(before, str) or before not in self.steps:
                raise ValueError(
                    f"step {name!r}: predecessor {before!r} must be added before this step"
                )
            if before in names[:index]:
                raise ValueError(f"step {name!r}: predecessor {before!r} is named twice in after")
        return tuple(str(before) for before in names)

    def _check_fan(
        self,
        name: str,
        predecessors: tuple[str, ...],
        fan_out: object,
        fan_in: object,
        subworkflow: SubWorkflowRef | None,
    ) -> None:
        if fan_out is not None and fan_out != "each":
            raise ValueError(f"step {name!r}: fan_out must be 'each', got {fan_out!r}")
        if fan_in is not None and fan_in != "all":
            raise ValueError(f"step {name!r}: fan_in must be 'all', got {fan_in!r}")
        if fan_out is None and fan_in is None:
            return
        if fan_out is not None and fan_in is not None:
            raise ValueError(f"step {name!r}: a step cannot both fan out and fan in")
        if subworkflow is not None:
            raise ValueError(f"step {name!r}: a sub-workflow step cannot fan out or fan in")
        option = "fan_out" if fan_out is not None else "fan_in"
        if len(predecessors) != 1:
            raise ValueError(
                f"step {name!r}: {option} needs exactly one predecessor, got {len(predecessors)}"
            )
        before = self.steps[predecessors[0]]
        if fan_in is not None and before.fan_out is None:
            raise ValueError(
                f"step {name!r}: fan_in's predecessor {before.name!r} must have fan_out"
            )
        if fan_out is not None and before.kind == "fan_out":
            raise ValueError(
                f"step {name!r}: fan_out's predecessor {before.name!r} is itself a fan_out "
                "step (add a fan_in step between them)"
            )
        if fan_out is not None and before.kind in ("gate", "subworkflow"):
            raise ValueError(
                f"step {name!r}: fan_out iterates its predecessor's result, and "
                f"{before.kind} step {before.name!r} has none"
            )


def _task_identity(name: str, task: object) -> tuple[str, Any | None, SubWorkflowRef | None]:
    """(task name, task object, sub-workflow reference) of what ``step()`` was given."""
    if isinstance(task, SubWorkflowRef):
        proxy_name = getattr(task.proxy, "name", None)
        if not proxy_name or not isinstance(proxy_name, str):
            raise ValueError(f"step {name!r}: the sub-workflow's proxy has no name")
        return f"{SUBWORKFLOW_TASK_PREFIX}{proxy_name}", None, task
    task_name = getattr(task, "_task_name", None) or getattr(task, "name", None)
    if not task_name or not isinstance(task_name, str):
        raise ValueError(
            f"step {name!r}: task must be a task (an object with a name, such as a "
            f"@queue.task() function) or proxy.as_step(...), got {type(task).__name__}"
        )
    return task_name, task, None


def _check_condition(name: str, condition: object) -> None:
    if condition is None or condition in NAMED_CONDITIONS or callable(condition):
        return
    raise ValueError(
        f"step {name!r}: condition must be None, 'on_success', 'on_failure', 'always' or a "
        f"callable, got {condition!r}"
    )


def _check_args(name: str, args: object) -> tuple[Any, ...]:
    if not isinstance(args, list | tuple):
        raise TypeError(f"step {name!r}: args must be a tuple or list, not {type(args).__name__}")
    return tuple(args)


def _check_kwargs(name: str, kwargs: object) -> dict[str, Any]:
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise TypeError(f"step {name!r}: kwargs must be a dict, not {type(kwargs).__name__}")
    for key in kwargs:
        if not isinstance(key, str):
            raise TypeError(f"step {name!r}: kwargs keys must be str, got {key!r}")
    return dict(kwargs)


__all__ = [
    "GATE_TASK_NAME",
    "NAMED_CONDITIONS",
    "ON_FAILURE_MODES",
    "SUBWORKFLOW_TASK_PREFIX",
    "StepSpec",
    "SubWorkflowRef",
    "Workflow",
]
