"""``@queue.task(max_in_flight_per_task=N)``: at most N jobs of the task run at once in one
worker, whatever its pool's size, so that one busy task cannot take every slot of a worker
(a cap on its share of this worker, not across workers: that is ``max_concurrent``).

Applied by the flow gate right after a claim: a claimed job that would take its task past
its share here goes back to pending, as a job held back by a concurrency cap does (no retry
spent), due again after ``CAP_RETRY_MS`` plus jitter, when another worker (or this one, once
a job of the task finished) may start it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskito.registry import ClaimedJob


def over_share(
    claimed: Sequence[ClaimedJob],
    held: Mapping[str, int],
    running_here: Callable[[str], int],
    until: Callable[[], int],
) -> dict[str, int]:
    """The jobs of ``claimed`` (not already ``held``) past their task's share of this worker,
    with when each is due again (``until()``). ``running_here(task)`` counts the task's jobs
    this worker runs now; the batch's own jobs count in claim order."""
    over: dict[str, int] = {}
    taken: dict[str, int] = {}
    for one in claimed:
        spec = one.spec
        if spec is None or spec.max_in_flight_per_task is None or one.job.id in held:
            continue
        task_name = one.job.task_name
        if task_name not in taken:
            taken[task_name] = running_here(task_name)
        if taken[task_name] >= spec.max_in_flight_per_task:
            over[one.job.id] = until()
        else:
            taken[task_name] += 1
    return over


__all__ = ["over_share"]
