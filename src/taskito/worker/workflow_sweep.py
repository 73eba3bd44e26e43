"""The worker's workflow thread: it advances the workflow runs storage says are due (a job
of theirs just ended, or their safety-net time came) and resolves approval gates whose
deadline passed, through the Queue's ``RunAdvancer`` (``advancing.py``).

It wakes about once a second, and soon after the worker writes outcomes of workflow jobs
(``poke``, with the runs those jobs' display metadata names, advanced first; at most every
``min_gap_s``). It is a thread of its own so that slow user code in
the engine (conditions, sub-workflow factories) never holds up outcome writes. Under prefork
and the async pool it runs in the worker's own process, like every thread here.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from taskito.job import now_ms
from taskito.worker.backoff import Backoff

if TYPE_CHECKING:
    from taskito.advancing import RunAdvancer
    from taskito.storage.workflow_contract import WorkflowStorage

logger = logging.getLogger("taskito.worker.workflows")

#: Runs (and expired gates) taken per storage read.
SWEEP_BATCH = 100


def workflow_run_hint(metadata: str) -> str | None:
    """The run id a workflow job's display metadata names, if it reads as one."""
    try:
        run_id = json.loads(metadata).get("workflow_run_id")
    except (ValueError, AttributeError):
        return None
    return run_id if isinstance(run_id, str) else None


class WorkflowSweeper:
    """Advances due workflow runs of ``storage`` with ``advancer`` on its own thread."""

    def __init__(
        self,
        storage: WorkflowStorage,
        advancer: RunAdvancer,
        *,
        interval_s: float = 1.0,
        min_gap_s: float = 0.05,
    ) -> None:
        self._storage = storage
        self._advancer = advancer
        self._interval_s = interval_s
        self._min_gap_s = min_gap_s
        self._poked = threading.Event()
        self._lock = threading.Lock()
        self._hinted: set[str] = set()
        self._stop = threading.Event()
        self._backoff = Backoff("advancing workflow runs", logger)
        self._thread = threading.Thread(target=self._run, name="taskito-workflows", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._poked.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def poke(self, run_ids: Iterable[str] = ()) -> None:
        """Sweep soon, advancing ``run_ids`` first: outcomes of their jobs were written."""
        with self._lock:
            self._hinted.update(run_ids)
        self._poked.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.sweep(now_ms())
            except Exception as exc:
                self._backoff.failed(exc)
            else:
                self._backoff.succeeded()
            wait_s = max(self._interval_s - (time.monotonic() - started), 0.0)
            self._poked.wait(max(wait_s, self._backoff.seconds_left()))
            self._poked.clear()
            self._stop.wait(self._min_gap_s)  # a burst of pokes makes one sweep

    def sweep(self, now: int) -> int:
        """Resolve expired gates and advance due runs; return how many runs were advanced.
        A run whose advance raises is logged and left due for the next sweep."""
        count = 0
        advancer = self._advancer
        with self._lock:
            hinted, self._hinted = self._hinted, set()
        for run_id in sorted(hinted):
            if self._stop.is_set():
                return count
            self._safely(run_id, functools.partial(advancer.advance, run_id))
            count += 1
        for run_id, node_name in self._storage.expired_workflow_gates(now, SWEEP_BATCH):
            if self._stop.is_set():
                return count
            self._safely(run_id, functools.partial(advancer.expire_gate, run_id, node_name, now))
            count += 1
        for run_id in self._storage.workflow_runs_due(now, SWEEP_BATCH):
            if self._stop.is_set():
                return count
            self._safely(run_id, functools.partial(advancer.advance, run_id))
            count += 1
        return count

    def _safely(self, run_id: str, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:
            logger.exception("advancing workflow run %s failed", run_id, extra={"run_id": run_id})


__all__ = ["SWEEP_BATCH", "WorkflowSweeper", "workflow_run_hint"]
