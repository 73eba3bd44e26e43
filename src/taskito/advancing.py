"""How a worker drives durable workflow runs without importing ``taskito.workflows``: the
Queue hands its worker a ``RunAdvancer`` (``ExecutionEnv.advancer``), and the worker's sweep
thread calls it for the runs storage says are due and the gates whose deadline passed."""

from __future__ import annotations

from typing import Protocol


class RunAdvancer(Protocol):
    """The workflow engine of one Queue, as a worker sees it. Both calls are idempotent and
    safe from any number of processes at once."""

    def advance(self, run_id: str) -> None:
        """Bring the run as far as its stored state allows."""

    def expire_gate(self, run_id: str, node_name: str, now: int) -> None:
        """Resolve the gate if its deadline (ms) is past ``now``, then advance the run."""


__all__ = ["RunAdvancer"]
