"""``HealthChecker``: a worker thread that runs each resource's health check every
``health_check_interval`` seconds, rebuilds a resource whose check fails, and marks it
permanently unhealthy after ``max_recreation_attempts`` failed rounds.

A check runs on a thread of its own and is given ``health_check_timeout`` seconds: one that
hangs counts as failed (the error names the resource and the limit) and never stalls the
checker, the worker or the other checks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskito.async_support.helpers import run_maybe_async
from taskito.resources.definition import ResourceDefinition, ResourceScope

if TYPE_CHECKING:
    from taskito.resources.runtime import ResourceRuntime

logger = logging.getLogger("taskito.resources")

#: How often the checker looks for a check that is due.
TICK_S = 0.5


class CheckResult:
    """What one run of a health check said: ``ok``, or why not (``error``)."""

    __slots__ = ("error", "hung", "ok")

    def __init__(
        self, ok: bool, error: str | None = None, hung: threading.Thread | None = None
    ) -> None:
        self.ok = ok
        self.error = error
        #: The thread of a check still running past its limit.
        self.hung = hung

    def __repr__(self) -> str:
        return "CheckResult(ok)" if self.ok else f"CheckResult(failed: {self.error})"


def run_check(
    defn: ResourceDefinition, instance: Any, timeout_s: float | None = None
) -> CheckResult:
    """Run ``defn.health_check(instance)`` on a helper thread, waiting ``timeout_s`` (default:
    the definition's ``health_check_timeout``). A false result, an exception and a check still
    running at the limit are failures."""
    check = defn.health_check
    if check is None:
        return CheckResult(False, f"resource {defn.name!r} has no health_check")
    limit = defn.health_check_timeout if timeout_s is None else timeout_s
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            box["value"] = run_maybe_async(check(instance))
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=call, name=f"taskito-health-{defn.name}", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        return CheckResult(
            False,
            f"health check of resource {defn.name!r} did not finish within {limit:g}s",
            hung=thread,
        )
    if "error" in box:
        exc = box["error"]
        return CheckResult(
            False, f"health check of resource {defn.name!r} raised {type(exc).__name__}: {exc}"
        )
    if not box.get("value"):
        return CheckResult(
            False, f"health check of resource {defn.name!r} returned {box.get('value')!r}"
        )
    return CheckResult(True)


class HealthChecker:
    """Checks the worker-scoped resources of ``runtime`` that have a check and an interval."""

    def __init__(
        self,
        runtime: ResourceRuntime,
        *,
        on_unhealthy: Callable[[str], None] | None = None,
        tick_s: float = TICK_S,
    ) -> None:
        self._runtime = runtime
        self._on_unhealthy = on_unhealthy
        self._tick_s = tick_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures: dict[str, int] = {}
        self._due: dict[str, float] = {}
        self._hung: dict[str, threading.Thread] = {}

    def checked(self) -> list[ResourceDefinition]:
        return [
            defn
            for defn in self._runtime.definitions.values()
            if defn.health_check is not None
            and defn.health_check_interval > 0
            and defn.scope is ResourceScope.WORKER
        ]

    def start(self) -> None:
        """Start the ``taskito-health-checker`` thread; a no-op when nothing is checked."""
        checked = self.checked()
        if not checked or self._thread is not None:
            return
        now = time.monotonic()
        self._due = {d.name: now + d.health_check_interval for d in checked}
        self._thread = threading.Thread(
            target=self._run, name="taskito-health-checker", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._tick_s):
            now = time.monotonic()
            for defn in self.checked():
                if self._stop.is_set():
                    return
                due = self._due.get(defn.name, now)
                if now < due or self._runtime.is_unhealthy(defn.name):
                    continue
                self._due[defn.name] = now + defn.health_check_interval
                try:
                    self.check_once(defn)
                except Exception:  # the checker thread must outlive any one resource
                    logger.exception("health checking resource %r failed", defn.name)

    def check_once(self, defn: ResourceDefinition) -> bool:
        """One round for ``defn``: check; a failure rebuilds it, up to
        ``max_recreation_attempts`` times in a row; the next failure, or a rebuild that fails
        on the last attempt, marks it permanently unhealthy. True when it passed."""
        name = defn.name
        previous = self._hung.get(name)
        if previous is not None and previous.is_alive():
            result = CheckResult(
                False, f"health check of resource {name!r} is still running (hung)"
            )
        else:
            self._hung.pop(name, None)
            result = run_check(defn, self._runtime.instance_for_check(name))
            if result.hung is not None:
                self._hung[name] = result.hung
        if result.ok:
            self._failures.pop(name, None)
            return True
        failures = self._failures.get(name, 0) + 1
        self._failures[name] = failures
        attempts = defn.max_recreation_attempts
        logger.warning(
            "%s (rebuild %d of %d)", result.error, failures, attempts, extra={"resource": name}
        )
        if failures > attempts or (not self._runtime.recreate(name) and failures >= attempts):
            self._runtime.mark_unhealthy(name)
            self._failures.pop(name, None)
            if self._on_unhealthy is not None:
                self._on_unhealthy(name)
        return False


__all__ = ["CheckResult", "HealthChecker", "run_check"]
