"""Suite-wide guards: a test that leaves threads or child processes behind fails.

Each test may start threads and processes, but it must stop and join (or wait for) them
before it ends, usually in a fixture's teardown. After each test this fixture waits up to
``LEAK_DEADLINE_S`` for extra threads to finish and extra children to be reaped, then fails
the test naming what is left.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

#: How long a test's threads and children get to finish after it; the guard's own test
#: shortens it with TASKITO_TEST_LEAK_DEADLINE_S.
LEAK_DEADLINE_S = float(os.environ.get("TASKITO_TEST_LEAK_DEADLINE_S", "5.0"))
_POLL_S = 0.01
_PROC = Path("/proc")


@pytest.fixture(autouse=True)
def no_leaked_threads_or_children() -> Iterator[None]:
    threads_before = set(threading.enumerate())
    children_before = child_pids()
    yield
    deadline = time.monotonic() + LEAK_DEADLINE_S
    while True:
        extra_threads = [
            t for t in threading.enumerate() if t not in threads_before and t.is_alive()
        ]
        extra_children = sorted(child_pids() - children_before)
        if not extra_threads and not extra_children:
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(_POLL_S)
    problems = [f"thread {describe_thread(t)}" for t in extra_threads]
    problems += [f"child process {describe_process(pid)}" for pid in extra_children]
    pytest.fail(
        f"the test left {len(problems)} thread(s)/process(es) running {LEAK_DEADLINE_S}s after "
        "it ended (stop and join threads, close queues, wait for subprocesses):\n  "
        + "\n  ".join(problems),
        pytrace=False,
    )


def child_pids() -> set[int]:
    """Pids of this process's children, including exited ones nobody waited for (zombies)."""
    if not _PROC.is_dir():
        return set()  # no procfs (not Linux): only threads are checked
    pid = os.getpid()
    listings = list(_PROC.glob(f"{pid}/task/*/children"))
    if listings:
        found: set[int] = set()
        for listing in listings:
            try:
                found.update(int(token) for token in listing.read_text().split())
            except OSError:
                continue  # that thread exited between the glob and the read
        return found
    return {other for other in _all_pids() if _parent_pid(other) == pid}


def describe_thread(thread: threading.Thread) -> str:
    target = getattr(thread, "_target", None)
    runs = getattr(target, "__qualname__", None) or type(thread).__qualname__
    return f"{thread.name!r} (runs {runs}, daemon={thread.daemon})"


def describe_process(pid: int) -> str:
    try:
        command = (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").strip()
        state = _stat_fields(pid)[0]
    except (OSError, IndexError):
        return f"pid {pid} (already gone)"
    shown = command.decode(errors="replace") or "?"
    suffix = ", exited but never waited for" if state == "Z" else ""
    return f"pid {pid} [{shown}]{suffix}"


def _all_pids() -> list[int]:
    return [int(entry.name) for entry in _PROC.iterdir() if entry.name.isdigit()]


def _parent_pid(pid: int) -> int | None:
    try:
        return int(_stat_fields(pid)[1])
    except (OSError, IndexError, ValueError):
        return None


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name: state, ppid, ..."""
    text = (_PROC / str(pid) / "stat").read_text()
    # The command name is in parentheses and may itself contain spaces or parentheses.
    return text[text.rindex(")") + 2 :].split()
