"""Which registry to serve: the one given, or prometheus_client's default, or, when
``PROMETHEUS_MULTIPROC_DIR`` is set (prefork workers), one that merges every process's values
from that directory, forgetting the live gauges of processes that have exited."""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Metric, multiprocess
from prometheus_client.registry import Collector

#: prometheus_client's own variable: set before the worker starts, children inherit it.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: The files of "live" gauges (e.g. ``gauge_livesum_1234.db``), which must go with their
#: process.
_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]*_(\d+)\.db")

_lock = threading.Lock()
_multiprocess_registries: dict[str, CollectorRegistry] = {}


def multiprocess_dir() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR``, read when a registry is chosen (never at import)."""
    return os.environ.get(MULTIPROC_ENV) or None


def serving_registry(registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """``registry`` if given; else, with ``PROMETHEUS_MULTIPROC_DIR`` set, the registry of every
    process's values in that directory (one per directory); else the default registry."""
    if registry is not None:
        return registry
    path = multiprocess_dir()
    if path is None:
        return REGISTRY
    with _lock:
        made = _multiprocess_registries.get(path)
        if made is None:
            made = CollectorRegistry()
            made.register(LiveProcessesCollector(path))
            _multiprocess_registries[path] = made
        return made


class LiveProcessesCollector(Collector):
    """prometheus_client's ``MultiProcessCollector`` over ``path``, after removing the live
    gauges of processes that are gone (a prefork child that was replaced or killed), so a
    gauge such as ``jobs_active`` does not keep a dead child's value."""

    def __init__(self, path: str) -> None:
        if not Path(path).is_dir():
            raise ValueError(f"{MULTIPROC_ENV}={path!r} is not a directory")
        self.path = path
        # prometheus_client leaves its multiprocess module without type hints.
        self._merged = multiprocess.MultiProcessCollector(None, path)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        forget_exited_processes(self.path)
        metrics: Iterable[Metric] = self._merged.collect()  # type: ignore[no-untyped-call]
        return metrics


def forget_exited_processes(path: str) -> list[int]:
    """Remove the live-gauge files of processes that no longer exist; return their pids."""
    gone: list[int] = []
    for entry in Path(path).glob("gauge_live*_*.db"):
        match = _LIVE_GAUGE_FILE.fullmatch(entry.name)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid not in gone and not _alive(pid):
            gone.append(pid)
    for pid in gone:
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
    return gone


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (exited, not yet reaped by its parent) does not."""
    if sys.platform == "win32":
        return True  # signal 0 is CTRL_C_EVENT there; and prefork is POSIX only
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no procfs (not Linux), or it has just been reaped
    # "pid (command) state ...": the command may hold spaces and parentheses.
    fields = stat.rpartition(")")[2].split()
    return bool(fields) and fields[0] in ("Z", "X")


__all__ = [
    "MULTIPROC_ENV",
    "LiveProcessesCollector",
    "forget_exited_processes",
    "multiprocess_dir",
    "serving_registry",
]
