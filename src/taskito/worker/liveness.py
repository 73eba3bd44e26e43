"""Is a worker registered on this host dead? The pid check behind releasing a dead worker's
jobs at once instead of waiting for their leases to expire.

Only a "certainly dead" answer matters: a wrong "alive" costs a lease period, a wrong "dead"
would run a live worker's jobs twice. So a pid is dead only when the process is gone or a
zombie, or when the pid was reused by a process that started after the worker registered.
Pid namespaces (containers sharing a host name, e.g. with host networking) make a live
worker's pid invisible here; the caller guards against that with the heartbeat.
"""

from __future__ import annotations

import os
import socket

from taskito.storage.base import WorkerInfo

# A process starts before its worker registers; this much clock slack covers the tick
# resolution of /proc start times and the boot time rounding.
_START_SLACK_MS = 2_000


def this_host() -> str:
    return socket.gethostname()


def pid_is_dead(pid: int, registered_at_ms: int) -> bool:
    """True when process ``pid`` is certainly not the one that registered at
    ``registered_at_ms`` (wall clock, ms): gone, a zombie, or a later process reusing it."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists, under another user
        return False
    stat = _proc_stat(pid)
    if stat is None:
        return False
    state, started_ms = stat
    if state == "Z":  # killed, not yet waited for by its parent
        return True
    return started_ms is not None and started_ms > registered_at_ms + _START_SLACK_MS


def worker_is_dead_here(worker: WorkerInfo, me: str, host: str, now_ms: int, quiet_ms: int) -> bool:
    """A worker other than ``me`` on ``host`` whose process is dead and that has not
    heartbeated for ``quiet_ms`` (a live worker in another pid namespace keeps heartbeating)."""
    if worker.worker_id == me or worker.hostname != host:
        return False
    if worker.pid == os.getpid():  # several workers may share this process: it is alive
        return False
    if worker.last_heartbeat > now_ms - quiet_ms:
        return False
    return pid_is_dead(worker.pid, worker.started_at)


def _proc_stat(pid: int) -> tuple[str, int | None] | None:
    """The state letter and start time (wall clock, ms) of ``pid`` from /proc (Linux); None
    where /proc is missing or the process vanished meanwhile."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = text[text.rfind(")") + 2 :].split()
    if len(fields) < 20:
        return None
    state = fields[0]
    boot_s = _boot_time_s()
    if boot_s is None:
        return state, None
    ticks = int(fields[19])  # field 22, starttime, in clock ticks since boot
    return state, round((boot_s + ticks / os.sysconf("SC_CLK_TCK")) * 1000)


def _boot_time_s() -> int | None:
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("btime "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


__all__ = ["pid_is_dead", "this_host", "worker_is_dead_here"]
