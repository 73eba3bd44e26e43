"""Worker processes for the throughput benchmarks: an app module on a fresh database, real
``taskito worker`` processes started on it, and what Linux says about them (CPU time and
resident memory from ``/proc``, children included).

Not a benchmark itself: ``drain.py``, ``scaleout.py`` and ``memory.py`` import it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable
from typing import Any

from taskito import Queue

APP_MODULE = "bench_app"
APP_SOURCE = textwrap.dedent(
    """
    from taskito import Queue

    queue = Queue(**{queue_kwargs!r}, workers={workers})


    @queue.task(name="noop")
    def noop():
        return None
    """
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
WAIT_S = 600.0


def write_app(app_dir: str, queue_kwargs: dict[str, Any], workers: int) -> None:
    """``bench_app.py`` in ``app_dir``: a Queue on ``queue_kwargs`` with a ``noop`` task."""
    with open(os.path.join(app_dir, f"{APP_MODULE}.py"), "w") as module:
        module.write(APP_SOURCE.format(queue_kwargs=queue_kwargs, workers=workers))


def start_worker(app_dir: str, pool: str, workers: int) -> subprocess.Popen[bytes]:
    """``taskito worker --app bench_app:queue`` in ``app_dir`` (its own process group)."""
    command = [sys.executable, "-m", "taskito", "--log-level", "error", "worker"]
    command += ["--app", f"{APP_MODULE}:queue", "--pool", pool, "--workers", str(workers)]
    return subprocess.Popen(command, cwd=app_dir, start_new_session=True)


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the worker drains), then SIGKILL if it does not stop within 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_completed(
    queue: Queue, count: int, workers: Iterable[subprocess.Popen[bytes]], poll_s: float = 0.05
) -> None:
    """Until ``count`` jobs are complete; exits if a worker dies or it takes too long."""
    watched = list(workers)
    deadline = time.monotonic() + WAIT_S
    while queue.stats()["completed"] < count:
        if any(worker.poll() is not None for worker in watched):
            raise SystemExit("a worker process exited before the jobs were done")
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} jobs not complete after {WAIT_S:.0f} s")
        time.sleep(poll_s)


def warm_up(queue: Queue, workers: Iterable[subprocess.Popen[bytes]]) -> None:
    """One job through the workers, so that they (and a prefork pool's children) are
    running before anything is timed."""
    queue.enqueue("noop")
    wait_completed(queue, 1, workers, poll_s=0.01)


def family(pid: int) -> list[int]:
    """``pid`` and its descendants (a prefork worker's children)."""
    found = [pid]
    for member in found:
        try:
            tasks = os.listdir(f"/proc/{member}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{member}/task/{task}/children") as children:
                    found.extend(int(child) for child in children.read().split())
            except FileNotFoundError:
                continue
    return found


def cpu_s(pids: Iterable[int]) -> float:
    """User plus system CPU seconds that ``pids`` have used so far (gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` now, in MiB."""
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES / 2**20


def pids_of(command_word: str) -> list[int]:
    """Pids whose command line contains ``command_word`` (a database server's processes)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                words = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if command_word in words:
            found.append(int(entry))
    return found


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
