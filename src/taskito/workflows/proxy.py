"""``WorkflowProxy``: what ``@queue.workflow()`` returns. It builds the workflow from its
factory (named and versioned as the proxy), submits it, and stands for it as a step of
another workflow (``as_step``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from taskito.workflows.builder import SubWorkflowRef, Workflow

if TYPE_CHECKING:
    from taskito.workflows.run import WorkflowRun


class Submitter(Protocol):
    def submit_workflow(
        self, workflow: Workflow, *, incremental: bool = False, base_run: Any = None
    ) -> WorkflowRun: ...


class WorkflowProxy:
    """A registered workflow factory."""

    _is_workflow_proxy = True

    def __init__(
        self, queue: Submitter, factory: Callable[..., Any], name: str, version: int
    ) -> None:
        self._queue = queue
        self._factory = factory
        self.name = name
        self.version = version

    def __repr__(self) -> str:
        return f"WorkflowProxy(name={self.name!r}, version={self.version})"

    def build(self, *args: Any, **kwargs: Any) -> Workflow:
        """Call the factory; its workflow takes the proxy's name and version."""
        workflow = self._factory(*args, **kwargs)
        if not isinstance(workflow, Workflow):
            raise TypeError(
                f"workflow factory {self.name!r} must return a Workflow, "
                f"not {type(workflow).__name__}"
            )
        workflow.name = self.name
        workflow.version = self.version
        return workflow

    def __call__(self, *args: Any, **kwargs: Any) -> Workflow:
        return self.build(*args, **kwargs)

    def submit(self, *args: Any, **kwargs: Any) -> WorkflowRun:
        """Build and submit a run."""
        return self._queue.submit_workflow(self.build(*args, **kwargs))

    def as_step(self, **params: Any) -> SubWorkflowRef:
        """This workflow as a step of another: ``wf.step("x", proxy.as_step(n=3))``; the
        factory gets ``params`` when the step is due."""
        return SubWorkflowRef(self, dict(params))


__all__ = ["WorkflowProxy"]
