"""The pool contract: a pool only moves jobs to where they run and signals to running jobs.

The worker decides what to claim and how to record outcomes; a pool is four methods plus
``abandon`` for a job whose hard deadline passed (huey's Environment classes are the model).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from taskito.job import JobRecord, Outcome

#: Called by the pool, from any thread, once per submitted job that was not abandoned.
OnDone = Callable[[JobRecord, Outcome], None]


class Pool(ABC):
    """Runs claimed jobs through ``execution.run_job`` and reports each outcome to ``on_done``."""

    #: The name ``run_worker(pool=...)`` selects this pool by, also stored on the worker row.
    name: str = ""

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many jobs the pool runs at once; the worker claims at most this many."""

    @abstractmethod
    def start(self) -> None:
        """Start the threads, processes or loop that will run jobs."""

    @abstractmethod
    def submit(self, job: JobRecord, on_done: OnDone) -> None:
        """Start ``job`` now; the worker never submits more than ``capacity`` at once."""

    @abstractmethod
    def cancel(self, job_id: str, force: bool = False) -> bool:
        """Deliver a cancel request to the running job; False when it does not run here.

        Cooperative by default (``current_job.check_cancelled()`` raises); ``force`` stops the
        job where the pool can, and falls back to cooperative where it cannot.
        """

    @abstractmethod
    def abandon(self, job_id: str) -> bool:
        """The job's hard deadline passed: stop it if the pool can, stop counting it against
        capacity at once, and never report its outcome. False when it does not run here."""

    @abstractmethod
    def shutdown(self, drain_timeout_s: float) -> None:
        """Take no more jobs; wait up to ``drain_timeout_s`` for running ones, then return."""


__all__ = ["OnDone", "Pool"]
