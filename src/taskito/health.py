"""Liveness and readiness of a process that holds a Queue: ``check_health`` (the process
answers) and ``check_readiness`` (storage answers within a bound; the registered workers and
whether they still heartbeat). ``take_census`` sorts ``queue.workers()`` into live and stale
workers, for readiness and for the KEDA scaler (``taskito.scaler``).

The payloads are documented field by field in docs/observability.md ("Health and readiness").
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import taskito
from taskito.queue import checks as check

#: A worker whose last heartbeat is older than this is stale. Workers heartbeat every second
#: and remove the rows of workers silent for this long (the worker's ``worker_stale_s``), so
#: a stale row belongs to a worker that died without unregistering.
STALE_AFTER_S = 10.0
#: How long ``check_readiness`` waits for storage to answer before it reports a timeout.
STORAGE_TIMEOUT_S = 2.0

#: ``check_readiness()["status"]``: storage answered and no registered worker went silent;
#: storage answered but some worker went silent (see ``checks.workers``); storage did not
#: answer (an error or a timeout). Only NOT_READY makes ``/readiness`` answer 503.
READY = "ready"
DEGRADED = "degraded"
NOT_READY = "not_ready"

#: A worker row's ``status`` while it finishes its running jobs and takes no new ones.
_DRAINING = "draining"


def check_health() -> dict[str, str]:
    """Liveness: the process runs and answers. No I/O, so a slow or unreachable storage never
    makes a liveness probe restart a process that could recover on its own."""
    return {"status": "ok"}


@dataclass(frozen=True, slots=True)
class WorkerCensus:
    """Registered workers (``queue.workers()`` dicts) sorted by heartbeat freshness.

    ``live``: heartbeated within ``stale_after_s``; ``stale``: silent longer (dead without
    unregistering; a live worker removes such rows within ``stale_after_s``). Freshness is
    judged by this host's clock against the worker host's, so clock skew between them counts.
    """

    live: tuple[dict[str, Any], ...]
    stale: tuple[dict[str, Any], ...]

    @property
    def active(self) -> tuple[dict[str, Any], ...]:
        """Live workers that take jobs (not draining before they stop)."""
        return tuple(w for w in self.live if w.get("status") != _DRAINING)

    @property
    def draining(self) -> tuple[dict[str, Any], ...]:
        return tuple(w for w in self.live if w.get("status") == _DRAINING)

    @property
    def capacity(self) -> int:
        """Job slots of the active workers: threads, child processes or async slots each."""
        return sum(int(w.get("threads") or 0) for w in self.active)

    def consuming(self, queue_name: str) -> WorkerCensus:
        """The workers that consume ``queue_name`` (a worker of every queue shows ``"*"``)."""
        return WorkerCensus(
            tuple(w for w in self.live if _consumes(w, queue_name)),
            tuple(w for w in self.stale if _consumes(w, queue_name)),
        )


def _consumes(worker: dict[str, Any], queue_name: str) -> bool:
    queues = worker.get("queues")
    return queues == "*" or queue_name in str(queues or "").split(",")


def take_census(
    workers: list[dict[str, Any]],
    *,
    stale_after_s: float = STALE_AFTER_S,
    now_s: float | None = None,
) -> WorkerCensus:
    """Sort ``queue.workers()`` into live and stale by ``last_heartbeat`` (ms since the epoch)."""
    now_ms = (time.time() if now_s is None else now_s) * 1000
    cutoff_ms = now_ms - stale_after_s * 1000
    live = tuple(w for w in workers if int(w.get("last_heartbeat") or 0) >= cutoff_ms)
    stale = tuple(w for w in workers if int(w.get("last_heartbeat") or 0) < cutoff_ms)
    return WorkerCensus(live, stale)


def check_readiness(
    queue: taskito.Queue,
    *,
    timeout_s: float = STORAGE_TIMEOUT_S,
    stale_after_s: float = STALE_AFTER_S,
) -> dict[str, Any]:
    """Readiness: ``{"status": "ready"|"degraded"|"not_ready", "checks": {"storage",
    "workers", "resources"}}``.

    One storage round trip (reading the worker table) is the storage check and the input of
    the worker check. It runs on a thread of its own and is waited for at most ``timeout_s``,
    so an unreachable or locked storage gives ``storage.status == "timeout"`` instead of a
    hung probe; while that call is still pending, later checks wait for it rather than start
    another, so a hung storage holds one thread, not one per probe.
    """
    check_queue(queue)
    timeout_s = check.check_duration("timeout_s", timeout_s, allow_zero=False)
    stale_after_s = check.check_duration("stale_after_s", stale_after_s, allow_zero=False)
    started = time.monotonic()
    try:
        workers = _read_workers(queue, timeout_s)
    except TimeoutError:
        return _not_ready(
            {"status": "timeout", "error": f"storage did not answer within {timeout_s} s"}
        )
    except Exception as exc:  # any failure of the round trip is the answer of this check
        return _not_ready({"status": "error", "error": f"{type(exc).__name__}: {exc}"})
    storage: dict[str, Any] = {
        "status": "ok",
        "backend": queue.settings.backend,
        "latency_ms": round((time.monotonic() - started) * 1000, 3),
    }
    census = take_census(workers, stale_after_s=stale_after_s)
    workers_check = _workers_check(census, stale_after_s)
    resources = _resources_check(queue, census)
    status = DEGRADED if census.stale or resources["status"] != "ok" else READY
    return {
        "status": status,
        "checks": {"storage": storage, "workers": workers_check, "resources": resources},
    }


def check_queue(queue: object) -> taskito.Queue:
    """``queue`` itself, or ``TypeError`` naming what was passed instead."""
    if not isinstance(queue, taskito.Queue):
        raise TypeError(f"queue must be a taskito.Queue, not {type(queue).__name__}")
    return queue


def _workers_check(census: WorkerCensus, stale_after_s: float) -> dict[str, Any]:
    if census.stale:
        status = "stale"
    elif not census.live:
        status = "none"  # nothing consumes now: normal for a deployment scaled to zero
    elif not census.active:
        status = "draining"
    else:
        status = "ok"
    return {
        "status": status,
        "count": len(census.live),
        "active": len(census.active),
        "draining": len(census.draining),
        "stale": len(census.stale),
        "capacity": census.capacity,
        "stale_after_s": stale_after_s,
    }


def _resources_check(queue: taskito.Queue, census: WorkerCensus) -> dict[str, Any]:
    """The worker resources (a live runtime in this process, else the live workers'
    heartbeats): "degraded" when any is unhealthy (or healthy on some workers only); one no
    worker reports yet counts as neither."""
    reports = [_health_of(worker) for worker in census.live]
    rows = queue._resource_status_from(reports)
    if not rows:
        return {"status": "ok", "unhealthy": []}
    unhealthy = sorted(
        row["name"] for row in rows if row["health"] not in ("healthy", "not_initialized")
    )
    return {
        "status": "degraded" if unhealthy else "ok",
        "count": len(rows),
        "unhealthy": unhealthy,
    }


def _health_of(worker: dict[str, Any]) -> dict[str, str] | None:
    text = worker.get("resource_health")
    if not text:
        return None
    try:
        decoded = json.loads(text)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def _not_ready(storage: dict[str, Any]) -> dict[str, Any]:
    unknown = {"status": "unknown"}
    return {
        "status": NOT_READY,
        "checks": {"storage": storage, "workers": dict(unknown), "resources": dict(unknown)},
    }


# --- the bounded storage round trip ----------------------------------------------------------

_probes_lock = threading.Lock()
#: The pending ``queue.workers()`` call of each Queue, shared by the checks that overlap it.
_probes: weakref.WeakKeyDictionary[taskito.Queue, Future[list[dict[str, Any]]]] = (
    weakref.WeakKeyDictionary()
)


def _read_workers(queue: taskito.Queue, timeout_s: float) -> list[dict[str, Any]]:
    """``queue.workers()`` on a daemon thread, waited for at most ``timeout_s`` (then
    ``TimeoutError``); a call still pending from an earlier check is waited for instead."""
    with _probes_lock:
        probe = _probes.get(queue)
        if probe is None or probe.done():
            probe = Future()
            _probes[queue] = probe
            threading.Thread(
                target=_run_probe,
                args=(queue, probe),
                name="taskito-readiness-probe",
                daemon=True,  # a storage that never answers must not hold the process open
            ).start()
    return probe.result(timeout=timeout_s)


def _run_probe(queue: taskito.Queue, probe: Future[list[dict[str, Any]]]) -> None:
    try:
        workers = queue.workers()
    except BaseException as exc:  # handed to the waiting check, which reports it
        probe.set_exception(exc)
    else:
        probe.set_result(workers)


__all__ = [
    "DEGRADED",
    "NOT_READY",
    "READY",
    "STALE_AFTER_S",
    "STORAGE_TIMEOUT_S",
    "WorkerCensus",
    "check_health",
    "check_queue",
    "check_readiness",
    "take_census",
]
