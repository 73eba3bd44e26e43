"""A worker's resources (docs/resources.md): built from the Queue's definitions before the
worker registers (a factory that fails stops the worker from starting, so no job is claimed
and none is lost), health-checked on a thread while it runs, reported in its heartbeat, rebuilt
on SIGHUP (the reloadable ones), and torn down in reverse order when it stops.

Every pool's jobs reach them through ``ExecutionEnv.resources``. A prefork child builds its
own (``start_in_child``): resources do not cross processes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskito.resources.health import HealthChecker
from taskito.resources.runtime import ResourceRuntime

if TYPE_CHECKING:
    from taskito.registry import ExecutionEnv

logger = logging.getLogger("taskito.resources")


def reload_request_path(pid: int) -> str:
    """Where ``taskito reload --resource X`` leaves the names for worker ``pid`` to reload on
    its next SIGHUP (one name a line)."""
    return os.path.join(tempfile.gettempdir(), f"taskito-reload-{pid}")


class WorkerResources:
    """The resources of one worker (or prefork child) process."""

    def __init__(
        self,
        env: ExecutionEnv,
        *,
        on_unhealthy: Callable[[list[str]], None] | None = None,
    ) -> None:
        self._env = env
        self.runtime = ResourceRuntime(env.resource_definitions)
        self._on_unhealthy = on_unhealthy
        self._checker = HealthChecker(self.runtime, on_unhealthy=self._marked_unhealthy)
        self._reported: set[str] = set()
        self._lock = threading.Lock()
        self._previous_hup: Any = None
        self._forward_to: Callable[[], list[int]] | None = None
        self._started = False

    @property
    def defined(self) -> bool:
        return bool(self._env.resource_definitions)

    @property
    def live_runtime(self) -> ResourceRuntime | None:
        """The runtime while its resources are built and handed out, else None."""
        return self.runtime if self.defined and self._env.resources is self.runtime else None

    def names(self) -> tuple[str, ...] | None:
        """The defined names, sorted (None: this worker has no resources)."""
        return tuple(sorted(self._env.resource_definitions)) or None

    def start(self) -> None:
        """Build every resource (``ResourceInitError`` names one that failed), start the
        health checks, and hand the runtime to the engine."""
        self._warn_about_unknown_injections()
        if self.defined:
            logger.info("[resources] %s", describe(self._env.resource_definitions))
        self.runtime.initialize()
        self._started = True
        if self.defined:  # without any, a task that needs one fails saying there are none
            self._env.resources = self.runtime
        self._checker.start()

    def stop(self) -> None:
        """Stop the health checks, then tear down in reverse build order. Safe to call twice."""
        self._env.resources = None
        self._checker.stop()
        self._restore_hup()
        if self._started:
            self._started = False
            self.runtime.teardown()

    def _warn_about_unknown_injections(self) -> None:
        defined = self._env.resource_definitions
        for task, spec in sorted(self._env.tasks.items()):
            missing = [name for name in spec.inject if name not in defined]
            if missing:
                logger.warning(
                    "task %r injects %s, which this worker does not define: its jobs fail "
                    "here until @queue.worker_resource(...) defines them",
                    task,
                    ", ".join(repr(name) for name in missing),
                    extra={"task_name": task, "resources": missing},
                )

    # --- health in the heartbeat -------------------------------------------------------------

    def heartbeat_health(self) -> dict[str, str] | None:
        """What the heartbeat carries (None without resources); names that turned unhealthy
        since the last beat are announced (``WORKER_UNHEALTHY``)."""
        if not self.defined:
            return None
        health = self.runtime.health()
        unhealthy = {name for name, state in health.items() if state == "unhealthy"}
        with self._lock:
            fresh = sorted(unhealthy - self._reported)
            self._reported = unhealthy
        if fresh and self._on_unhealthy is not None:
            self._on_unhealthy(fresh)
        return health

    def _marked_unhealthy(self, name: str) -> None:
        self.heartbeat_health()

    # --- reloading on SIGHUP ------------------------------------------------------------------

    def install_reload_signal(self, forward_to: Callable[[], list[int]] | None = None) -> None:
        """Reload the reloadable resources on SIGHUP (main thread, platforms that have it);
        ``forward_to`` gives the pids of processes that hold their own (prefork children),
        which get the request and the signal too."""
        hup = getattr(signal, "SIGHUP", None)
        if hup is None or not self.defined:
            return
        self._forward_to = forward_to
        if threading.current_thread() is not threading.main_thread():
            return

        def handle(signum: int, frame: object) -> None:
            # Not in the handler: it may interrupt the main thread while it holds a lock.
            threading.Thread(
                target=self.reload_requested, name="taskito-reload", daemon=True
            ).start()

        self._previous_hup = signal.signal(hup, handle)

    def _restore_hup(self) -> None:
        if self._previous_hup is None:
            return
        try:
            signal.signal(signal.SIGHUP, self._previous_hup)
        except (TypeError, ValueError):
            logger.warning("could not restore the SIGHUP handler")
        self._previous_hup = None

    def reload_requested(self) -> dict[str, bool]:
        """Reload what ``taskito reload`` asked for (the names in this process's request file,
        read and removed), else every reloadable resource; log the result of each."""
        names = _take_request(reload_request_path(os.getpid()))
        results = self.runtime.reload(names)
        for pid in self._forward_to() if self._forward_to is not None else []:
            _forward(pid, names)
        if not results:
            logger.info("SIGHUP: no reloadable resources")
        for name, ok in results.items():
            logger.info("SIGHUP: reload of resource %r %s", name, "OK" if ok else "FAILED")
        return results


def describe(definitions: dict[str, Any]) -> str:
    """The banner's list: names sorted, each with ``(depends: a, b)`` when it has some."""
    parts = []
    for name in sorted(definitions):
        depends = definitions[name].depends_on
        parts.append(f"{name} (depends: {', '.join(depends)})" if depends else name)
    return ", ".join(parts)


def _forward(pid: int, names: list[str] | None) -> None:
    """Pass a reload on to ``pid`` (a prefork child): the same names, then SIGHUP."""
    try:
        if names:
            with open(reload_request_path(pid), "w", encoding="utf-8") as handle:
                handle.write("\n".join(names) + "\n")
        os.kill(pid, signal.SIGHUP)
    except OSError:
        logger.warning("passing the reload on to process %d failed", pid, exc_info=True)


def _take_request(path: str) -> list[str] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            if hasattr(os, "getuid") and os.fstat(handle.fileno()).st_uid != os.getuid():
                logger.warning("ignoring %s: it belongs to another user", path)
                return None
            text = handle.read()
    except FileNotFoundError:
        return None
    except OSError:
        logger.exception("reading the reload request %s failed", path)
        return None
    with contextlib.suppress(OSError):
        os.unlink(path)
    return [line.strip() for line in text.splitlines() if line.strip()] or None


__all__ = ["WorkerResources", "reload_request_path"]
