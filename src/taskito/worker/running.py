"""The worker's table of the jobs it holds: claimed and running, or run and awaiting their
storage write. Shared by the worker loop, the cancel watcher and the lease keeper."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from taskito.job import JobRecord, Outcome

if TYPE_CHECKING:
    from taskito.registry import ClaimedJob


@dataclass(slots=True)
class HeldJob:
    """One claimed attempt, with its task as resolved at the claim (``claimed``). ``outcome``
    stays None while the job runs in the pool."""

    claimed: ClaimedJob
    started_mono: float
    deadline_mono: float | None
    cancel_requested: bool = False
    cancel_forced: bool = False
    outcome: Outcome | None = None

    @property
    def job(self) -> JobRecord:
        return self.claimed.job


class HeldJobs:
    """Thread-safe: the loop adds and settles, other threads read snapshots."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, HeldJob] = {}
        self._executing = 0
        self._taken = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)

    def add(self, claimed: ClaimedJob, now_mono: float) -> HeldJob:
        job = claimed.job
        deadline = None if job.timeout_ms is None else now_mono + job.timeout_ms / 1000.0
        held = HeldJob(claimed, now_mono, deadline, cancel_requested=job.cancel_requested)
        with self._lock:
            if job.id in self._jobs:
                raise ValueError(f"job {job.id} is already held by this worker")
            self._jobs[job.id] = held
            self._executing += 1
            self._taken += 1
        return held

    def get(self, job_id: str, attempt: int) -> HeldJob | None:
        """The held attempt, or None when that attempt is not (or no longer) held here."""
        with self._lock:
            held = self._jobs.get(job_id)
        if held is None or held.job.attempt != attempt:
            return None
        return held

    def settle(self, held: HeldJob, outcome: Outcome) -> bool:
        """Record the attempt's outcome; False when it already had one (a late result)."""
        with self._lock:
            if held.outcome is not None or self._jobs.get(held.job.id) is not held:
                return False
            held.outcome = outcome
            self._executing -= 1
            return True

    def release(self, held_jobs: Iterable[HeldJob]) -> None:
        """Forget settled jobs whose outcome storage has taken (or refused)."""
        with self._lock:
            for held in held_jobs:
                if self._jobs.get(held.job.id) is held:
                    del self._jobs[held.job.id]
                    if held.outcome is None:
                        self._executing -= 1

    @property
    def taken(self) -> int:
        """How many jobs this table ever took on: how fast the worker churns through jobs."""
        return self._taken  # one int read: no lock needed

    @property
    def executing(self) -> int:
        """Jobs still running in the pool (they count against its capacity)."""
        with self._lock:
            return self._executing

    def executing_of(self, task_name: str) -> int:
        """Jobs of ``task_name`` still running in the pool."""
        with self._lock:
            return sum(
                1
                for held in self._jobs.values()
                if held.outcome is None and held.job.task_name == task_name
            )

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._jobs)

    def executing_ids(self) -> list[str]:
        with self._lock:
            return [job_id for job_id, held in self._jobs.items() if held.outcome is None]

    def mark_cancel_requested(self, requests: Mapping[str, bool]) -> list[tuple[str, bool]]:
        """Flag these running jobs (id -> forced); return ``(id, forced)`` for each request
        that is new, or that became forced since it was first seen."""
        newly: list[tuple[str, bool]] = []
        with self._lock:
            for job_id, forced in requests.items():
                held = self._jobs.get(job_id)
                if held is None or held.outcome is not None:
                    continue
                if held.cancel_requested and (held.cancel_forced or not forced):
                    continue
                held.cancel_requested = True
                held.cancel_forced = held.cancel_forced or forced
                newly.append((job_id, forced))
        return newly

    def settled(self) -> list[HeldJob]:
        with self._lock:
            return [held for held in self._jobs.values() if held.outcome is not None]

    def overdue(self, now_mono: float) -> list[HeldJob]:
        with self._lock:
            return [
                held
                for held in self._jobs.values()
                if held.outcome is None
                and held.deadline_mono is not None
                and held.deadline_mono <= now_mono
            ]

    def next_deadline(self) -> float | None:
        with self._lock:
            deadlines = [
                held.deadline_mono
                for held in self._jobs.values()
                if held.outcome is None and held.deadline_mono is not None
            ]
        return min(deadlines) if deadlines else None


__all__ = ["HeldJob", "HeldJobs"]
