"""Durable workflows on the Queue (docs/workflows.md): ``submit_workflow``, the gate
decisions, ``@queue.workflow()`` and the engine the Queue's workers drive (built on first
use, so a Queue that never runs a workflow never loads it)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskito.queue.state import QueueBase

if TYPE_CHECKING:
    from taskito.advancing import RunAdvancer
    from taskito.workflows.builder import Workflow
    from taskito.workflows.engine import WorkflowEngine
    from taskito.workflows.proxy import WorkflowProxy
    from taskito.workflows.run import WorkflowRun

_engine_lock = threading.Lock()


class WorkflowsMixin(QueueBase):
    """``submit_workflow``, ``approve_gate``, ``reject_gate``, ``workflow``."""

    def submit_workflow(
        self, workflow: Workflow, *, incremental: bool = False, base_run: Any = None
    ) -> WorkflowRun:
        """Store a run of ``workflow`` (its nodes and first jobs in one write) and start it.

        With ``incremental=True`` and a ``base_run`` (a ``WorkflowRun`` or its id), steps
        whose task, arguments and predecessors are unchanged and whose base result is still
        stored are not run again (``cache_hit``). Raises ``TypeError`` for anything but a
        ``Workflow``, ``ValueError`` for an unknown base run, ``SerializationError`` naming a
        step whose arguments or condition cannot be stored (nothing is stored then)."""
        from taskito.workflows.run import WorkflowRun
        from taskito.workflows.submit import submit

        engine = self._workflow_engine()
        run_id = submit(engine, workflow, incremental=incremental, base_run=base_run)
        return WorkflowRun(self, run_id, workflow.name)

    def approve_gate(self, run_id: str, node_name: str) -> None:
        """Approve the gate ``node_name`` of run ``run_id``; a gate not reached yet is
        approved on arrival. ``KeyError``: unknown run or node; ``ValueError``: not a gate,
        or already resolved."""
        from taskito.workflows.gates import decide

        decide(self._workflow_engine(), run_id, node_name, True, "")

    def reject_gate(self, run_id: str, node_name: str, error: str = "rejected") -> None:
        """Reject the gate (it fails with ``error``); as ``approve_gate`` otherwise."""
        from taskito.workflows.gates import decide

        if not isinstance(error, str):
            raise TypeError(f"error must be a str, not {type(error).__name__}")
        decide(self._workflow_engine(), run_id, node_name, False, error)

    def workflow(
        self, name: str | None = None, *, version: int = 1
    ) -> Callable[[Callable[..., Any]], WorkflowProxy]:
        """Register a workflow factory: ``@queue.workflow()`` (parentheses required) returns
        a ``WorkflowProxy`` registered under ``name`` (default: the factory's name)."""
        from taskito.workflows.proxy import WorkflowProxy

        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"workflow name must be a non-empty str, got {name!r}")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValueError(f"workflow version must be a positive int, got {version!r}")

        def register(factory: Callable[..., Any]) -> WorkflowProxy:
            if not callable(factory):
                raise TypeError(
                    f"@queue.workflow() decorates a function, not {type(factory).__name__}"
                )
            proxy = WorkflowProxy(self, factory, name or factory.__name__, version)
            self._workflow_registry[proxy.name] = proxy
            return proxy

        return register

    def _cancel_workflow_run(self, run_id: str) -> None:
        self._workflow_engine().cancel(run_id)

    def _workflow_engine(self) -> WorkflowEngine:
        """This Queue's engine (a clear error when its backend does not store workflows)."""
        engine: WorkflowEngine | None = self._workflows
        if engine is None:
            from taskito.workflows.engine import WorkflowEngine

            with _engine_lock:
                if self._workflows is None:
                    self._workflows = WorkflowEngine(self)
                engine = self._workflows
        return engine

    def _run_advancer(self) -> RunAdvancer | None:
        """What a worker of this Queue advances runs with: the engine, built on first use
        (every backend stores workflows)."""
        return _LazyAdvancer(self)


class _LazyAdvancer:
    """The Queue's engine, built when a worker first needs it."""

    def __init__(self, queue: WorkflowsMixin) -> None:
        self._queue = queue

    def advance(self, run_id: str) -> None:
        self._queue._workflow_engine().advance(run_id)

    def expire_gate(self, run_id: str, node_name: str, now: int) -> None:
        self._queue._workflow_engine().expire_gate(run_id, node_name, now)


__all__ = ["WorkflowsMixin"]
