"""The live views as real processes: ``job watch`` drawing its progress bar on a terminal (a
real pseudo-terminal) and stopped by Ctrl-C, and ``info --watch`` with the change per second
and the running jobs' progress."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import time

from tests.e2e.cli_ops import APP, JOB_TIMEOUT_S, Ops
from tests.e2e.cli_project import COMMAND_TIMEOUT_S, TASKITO
from tests.helpers import wait_until


def read_terminal(master: int, until: bytes | None, timeout_s: float = JOB_TIMEOUT_S) -> bytes:
    """What the program wrote to the terminal, until ``until`` appears (or, for None, until
    it closed the terminal)."""
    seen = b""
    deadline = time.monotonic() + timeout_s
    while until is None or until not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out waiting for {until!r}; the terminal shows {seen!r}"
        ready, _, _ = select.select([master], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the program has exited and closed the terminal
            chunk = b""
        if not chunk:
            assert until is None, f"the terminal closed before {until!r}: {seen!r}"
            return seen
        seen += chunk
    return seen


def test_job_watch_draws_a_progress_bar_on_a_terminal(ops: Ops) -> None:
    ops.start_worker()
    job = ops.producer.enqueue("ops_app.stepped", args=("gate",))
    ops.wait_for_progress(job, 50)
    master, terminal = pty.openpty()
    try:
        watcher = subprocess.Popen(
            [*TASKITO, "job", "watch", job.id, "--app", APP, "--interval", "0.05"],
            cwd=ops.project.root,
            env=ops.project.env(),
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=subprocess.PIPE,
        )
        ops.project.processes.append(watcher)
        os.close(terminal)
        terminal = -1
        drawn = read_terminal(master, b"]  50%  running")
        ops.open_gate("gate")
        drawn += read_terminal(master, None)
        _, stderr = watcher.communicate(timeout=COMMAND_TIMEOUT_S)
    finally:
        os.close(master)
        if terminal != -1:
            os.close(terminal)
    assert watcher.returncode == 0, stderr
    text = drawn.decode()
    bar_50 = "\r\x1b[K[" + "#" * 15 + "-" * 15 + "]  50%  running"
    bar_100 = "\r\x1b[K[" + "#" * 30 + "] 100%  complete"
    assert bar_50 in text and bar_100 in text  # redrawn in place, not one line each
    assert text.index(bar_50) < text.index(bar_100)
    assert text.endswith("complete: {'gate': 'gate', 'done': True}\r\n")


def test_ctrl_c_stops_job_watch_with_status_130(ops: Ops) -> None:
    job = ops.producer.enqueue("ops_app.add", args=(1, 2))  # no worker: it stays pending
    watcher = ops.project.start("job", "watch", job.id, "--app", APP, name="watch")
    wait_until(
        lambda: "pending" in ops.project.output("watch")[0],
        timeout_s=COMMAND_TIMEOUT_S,
        message="the watcher showed the job",
    )
    watcher.send_signal(signal.SIGINT)
    assert watcher.wait(timeout=COMMAND_TIMEOUT_S) == 130
    stdout, stderr = ops.project.output("watch")
    assert stdout.splitlines() == [f"job {job.id} (ops_app.add)", "pending      -"]
    assert stderr == f"interrupted; job {job.id} is still pending\n"


def test_info_watch_shows_the_change_per_second_and_the_running_jobs(ops: Ops) -> None:
    ops.start_worker()
    job = ops.producer.enqueue("ops_app.stepped", args=("gate",))
    ops.wait_for_progress(job, 50)
    watcher = ops.project.start("info", "--watch", "--interval", "0.1", "--app", APP, name="info")

    def screens() -> list[str]:
        return ops.project.output("info")[0].split("taskito queue statistics")[1:]

    running_row = re.compile(
        rf"^{job.id}\s+ops_app\.stepped\s+default\s+\[#{{10}}-{{10}}\]\s+50%", re.M
    )
    wait_until(
        lambda: any(running_row.search(screen) for screen in screens()),
        timeout_s=JOB_TIMEOUT_S,
        message="the running job with its progress",
    )
    ops.open_gate("gate")
    completed = re.compile(r"^completed\s+1\s+\+[\d.]+/s$", re.M)
    wait_until(
        lambda: any(completed.search(screen) for screen in screens()),
        timeout_s=JOB_TIMEOUT_S,
        message="a screen with completed rising",
    )
    wait_until(lambda: screens()[-1].rstrip().endswith("no running jobs"), timeout_s=JOB_TIMEOUT_S)
    watcher.send_signal(signal.SIGINT)
    assert watcher.wait(timeout=COMMAND_TIMEOUT_S) == 0, ops.project.output("info")[1]
    last = screens()[-1]
    assert re.search(r"^running\s+0\s+(0\.0|-[\d.]+)/s$", last, re.M), last
    assert re.search(r"^throughput\s+[\d.]+ jobs/s$", last, re.M), last
