"""The pool contract: a pool only moves jobs to where they run and signals to running jobs.

The worker decides what to claim and how to record outcomes; a pool is four methods plus
``abandon`` for a job whose hard deadline passed (huey's Environment classes are the model),
and two with defaults: ``free_slots`` (how much to claim) and ``start_delay_s`` (for a pool
that lets claimed jobs wait, so timeouts count from the start). ``submit`` takes a
``ClaimedJob``: the job with its task and middleware chain, resolved once after the claim, which
the pool hands to ``execution.run_job`` as it is (a prefork child, with its own registry,
resolves the record it is sent once on its side). Also here: ``CancelFlag``, the per-run flag a
pool sets and ``check_cancelled()`` reads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING

from taskito.job import JobRecord, Outcome

if TYPE_CHECKING:
    from taskito.registry import ClaimedJob

#: Called by the pool, from any thread, once per submitted job that was not abandoned, with
#: that job's record (``ClaimedJob.job``) and its outcome.
OnDone = Callable[[JobRecord, Outcome], None]


class CancelFlag:
    """The flag ``current_job.check_cancelled()`` reads. Cheaper to make than a
    ``threading.Event`` (one per job), and nothing ever waits on it."""

    __slots__ = ("_is_set",)

    def __init__(self) -> None:
        self._is_set = False

    def set(self) -> None:
        self._is_set = True

    def is_set(self) -> bool:
        return self._is_set


class Pool(ABC):
    """Runs claimed jobs through ``execution.run_job`` and reports each outcome to ``on_done``."""

    #: The name ``run_worker(pool=...)`` selects this pool by, also stored on the worker row.
    name: str = ""

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many jobs the pool runs at once; the worker claims at most this many."""

    def free_slots(self, executing: int) -> int:
        """How many more jobs the worker may claim now, ``executing`` being the jobs of this
        pool the worker counts as running. Every claimed job must be able to start at once; a
        pool with more than one kind of slot (threads and an event loop) overrides this."""
        return self.capacity - executing

    def start_delay_s(self, job_id: str) -> float | None:
        """How long ``job_id`` waited in the pool before it started, or None while it still
        waits. Its hard timeout counts from its start. Pools that start every job at once
        (the default) return 0.0."""
        return 0.0

    @abstractmethod
    def start(self) -> None:
        """Start the threads, processes or loop that will run jobs."""

    @abstractmethod
    def submit(self, claimed: ClaimedJob, on_done: OnDone) -> None:
        """Start ``claimed`` now (through ``run_job``, without looking its task up again); the
        worker never submits more than ``capacity`` at once."""

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


__all__ = ["CancelFlag", "OnDone", "Pool"]
