"""One prefork child as the parent sees it: the process, the two pipes to it, what it runs,
and how to start one (``spawn_child``)."""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

from taskito.job import JobRecord
from taskito.worker.pools.base import OnDone
from taskito.worker.pools.prefork import protocol

logger = logging.getLogger("taskito.worker.pools.prefork")


class ChildState(enum.Enum):
    STARTING = "starting"  # spawned, app not loaded yet
    IDLE = "idle"
    BUSY = "busy"
    STOPPING = "stopping"  # sent Shutdown or killed; a replacement has its slot
    GONE = "gone"  # exited and reaped


@dataclass(slots=True)
class Submitted:
    """A job the pool accepted, whom to tell how it ended, and when it reached a child."""

    job: JobRecord
    on_done: OnDone
    #: Middleware names a runtime override switched off for this job's task.
    skip_middleware: tuple[str, ...] = ()
    submitted_mono: float = field(default_factory=time.monotonic)
    started_mono: float | None = None


class ChildProcess:
    """A child process and its pipes. The pool's lock guards every field but the pipes."""

    def __init__(
        self,
        slot: int,
        process: subprocess.Popen[bytes],
        writer: protocol.MessageWriter,
        reader: protocol.MessageReader,
    ) -> None:
        self.slot = slot
        self.process = process
        self.pid = process.pid
        self.writer = writer
        self.reader = reader
        self.state = ChildState.STARTING
        self.running: Submitted | None = None
        self.jobs_done = 0
        #: Why the pool stopped this child (None: it was not stopped on purpose).
        self.stop_reason: str | None = None
        #: What the child said when it could not load the app.
        self.startup_error: str | None = None

    def __repr__(self) -> str:
        return f"<prefork child {self.pid} slot={self.slot} {self.state.value}>"

    def send(self, message: protocol.ToChild) -> bool:
        """Send ``message``; False when the child is gone (its reader thread reports that)."""
        try:
            self.writer.send(message)
        except OSError:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL the child. Safe after it exited: ``Popen`` never signals a reaped pid."""
        with contextlib.suppress(OSError):
            self.process.kill()

    def close_pipes(self) -> None:
        self.writer.close()
        self.reader.close()

    def describe_exit(self) -> str:
        """How the child ended, for logs and the error of the job it held."""
        code = self.process.returncode
        if code is None:
            return "is still running"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"was killed by {name}"
        return f"exited with status {code}"


def spawn_child(python: str, app: str, slot: int, log_level: str) -> ChildProcess:
    """Start ``python -m taskito.prefork APP`` with two fresh pipes named on its command line.

    Must run on a thread that lives as long as the pool: Linux delivers the child's
    parent-death signal when the thread that forked it exits.
    """
    to_child_read, to_child_write = os.pipe()
    from_child_read, from_child_write = os.pipe()
    try:
        process = subprocess.Popen(
            [
                python,
                "-m",
                "taskito.prefork",
                app,
                "--from-parent",
                str(to_child_read),
                "--to-parent",
                str(from_child_write),
                "--parent-pid",
                str(os.getpid()),
                "--log-level",
                log_level,
            ],
            pass_fds=(to_child_read, from_child_write),
            stdin=subprocess.DEVNULL,
        )
    except BaseException:
        protocol.close_fd(to_child_write)
        protocol.close_fd(from_child_read)
        raise
    finally:
        # The child's ends: it holds its own copies now, and the parent must not, or it
        # would never see end of stream when the child dies.
        protocol.close_fd(to_child_read)
        protocol.close_fd(from_child_write)
    writer = protocol.MessageWriter(to_child_write)
    reader = protocol.MessageReader(from_child_read)
    return ChildProcess(slot, process, writer, reader)


def parent_log_level() -> str:
    """The level the parent logs at, so a child's own logs follow the same setting."""
    return logging.getLevelName(logging.getLogger().getEffectiveLevel())


__all__ = ["ChildProcess", "ChildState", "Submitted", "parent_log_level", "spawn_child"]
