"""The prefork pipe protocol: the messages a parent and its children exchange, and the framing
that carries them on a pipe's file descriptor.

Parent -> child: ``Job``, ``Cancel``, ``Shutdown``. Child -> parent: ``Ready``, ``Outcome``, and
``StartupFailed`` when the app cannot be loaded. A frame is a 4-byte big-endian length, then
the message as a tuple of plain values in ``marshal`` format 4 (stable across Python versions,
several times faster than pickling the dataclasses, and unable to run code when decoded).
Stdout stays the task's own (``print`` works in a task); the protocol never touches it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import marshal
import os
import struct
import threading
from dataclasses import dataclass
from typing import BinaryIO

from taskito import job as jobs

_HEADER = struct.Struct(">I")
_MARSHAL_VERSION = 4
#: Far above any real message; a larger length means the stream is corrupt.
MAX_MESSAGE_BYTES = 1 << 30


class ProtocolError(Exception):
    """The stream held something that is not a framed message of this protocol."""


# --- parent -> child --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """Run this claimed attempt, leaving out the middleware named in ``skip_middleware`` (a
    runtime override switched them off for its task)."""

    record: jobs.JobRecord
    skip_middleware: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Cancel:
    """A cancel request for a job this child holds (running, or received and not started)."""

    job_id: str


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Finish the jobs already sent, then exit."""


# --- child -> parent --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ready:
    """The app is loaded; the child takes jobs now."""

    pid: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended, as ``execution.run_job`` classified it."""

    job_id: str
    attempt: int
    outcome: jobs.Outcome


@dataclass(frozen=True, slots=True)
class StartupFailed:
    """The child could not load the app; ``error`` says why. The child exits next."""

    error: str


ToChild = Job | Cancel | Shutdown
ToParent = Ready | Outcome | StartupFailed


# --- encoding ---------------------------------------------------------------------------

_JOB, _CANCEL, _SHUTDOWN, _READY, _OUTCOME, _STARTUP_FAILED = range(6)
_RECORD_FIELDS = tuple(field.name for field in dataclasses.fields(jobs.JobRecord))
_STATUS_INDEX = _RECORD_FIELDS.index("status")


def encode(message: ToChild | ToParent) -> bytes:
    """The message as bytes; ``TypeError`` for anything that is not a protocol message."""
    data: tuple[object, ...]
    if isinstance(message, Job):
        record = message.record
        values = [getattr(record, name) for name in _RECORD_FIELDS]
        values[_STATUS_INDEX] = record.status.value
        data = (_JOB, tuple(values), message.skip_middleware)
    elif isinstance(message, Outcome):
        outcome = message.outcome
        data = (
            _OUTCOME,
            message.job_id,
            message.attempt,
            outcome.kind.value,
            outcome.result,
            outcome.error,
            outcome.retryable,
            outcome.wall_time_ns,
            outcome.exception_type,
        )
    elif isinstance(message, Cancel):
        data = (_CANCEL, message.job_id)
    elif isinstance(message, Shutdown):
        data = (_SHUTDOWN,)
    elif isinstance(message, Ready):
        data = (_READY, message.pid)
    elif isinstance(message, StartupFailed):
        data = (_STARTUP_FAILED, message.error)
    else:
        raise TypeError(f"not a prefork protocol message: {type(message).__name__}")
    return marshal.dumps(data, _MARSHAL_VERSION)


def decode(body: bytes) -> ToChild | ToParent:
    """The message ``encode`` made; ``ProtocolError`` for anything else."""
    try:
        data = marshal.loads(body)
        tag = data[0]
        if tag == _JOB:
            values = list(data[1])
            values[_STATUS_INDEX] = jobs.JobStatus(values[_STATUS_INDEX])
            return Job(jobs.JobRecord(*values), tuple(data[2]))
        if tag == _OUTCOME:
            _, job_id, attempt, kind, result, error, retryable, wall_time_ns, exc_type = data
            outcome = jobs.Outcome(
                jobs.OutcomeKind(kind), result, error, retryable, wall_time_ns, exc_type
            )
            return Outcome(job_id, attempt, outcome)
        if tag == _CANCEL:
            return Cancel(data[1])
        if tag == _SHUTDOWN:
            return Shutdown()
        if tag == _READY:
            return Ready(data[1])
        if tag == _STARTUP_FAILED:
            return StartupFailed(data[1])
    except (EOFError, ValueError, TypeError, IndexError) as exc:
        raise ProtocolError(f"undecodable frame: {type(exc).__name__}: {exc}") from exc
    raise ProtocolError(f"unknown message tag {tag!r}")


class MessageWriter:
    """Sends framed messages on a pipe. Safe to share between threads: one frame at a time."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        self._lock = threading.Lock()

    def send(self, message: ToChild | ToParent) -> None:
        """Write one message; raises ``OSError`` (``BrokenPipeError``) once the reader is gone."""
        body = encode(message)
        frame = memoryview(_HEADER.pack(len(body)) + body)
        with self._lock:
            if self._fd is None:
                raise BrokenPipeError("the pipe was closed")
            while frame:
                frame = frame[os.write(self._fd, frame) :]

    def fileno(self) -> int:
        if self._fd is None:
            raise ValueError("the pipe was closed")
        return self._fd

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                close_fd(self._fd)
                self._fd = None


class MessageReader:
    """Receives framed messages from a pipe; one thread reads."""

    def __init__(self, fd: int) -> None:
        self._file: BinaryIO = open(fd, "rb", closefd=True)  # noqa: SIM115 - closed by close()

    def receive(self) -> object | None:
        """The next message, or None at end of stream (the writer closed or died).

        Raises ``ProtocolError`` on a torn or corrupt frame.
        """
        header = self._file.read(_HEADER.size)
        if not header:
            return None
        if len(header) < _HEADER.size:
            raise ProtocolError("the stream ended inside a frame header")
        (size,) = _HEADER.unpack(header)
        if size > MAX_MESSAGE_BYTES:
            raise ProtocolError(f"frame of {size} bytes is larger than any message")
        body = self._file.read(size)
        if len(body) < size:
            raise ProtocolError(f"the stream ended inside a {size}-byte frame")
        return decode(body)

    def close(self) -> None:
        self._file.close()


def close_fd(fd: int) -> None:
    """Close a raw descriptor that may already be closed."""
    with contextlib.suppress(OSError):
        os.close(fd)


__all__ = [
    "MAX_MESSAGE_BYTES",
    "Cancel",
    "Job",
    "MessageReader",
    "MessageWriter",
    "Outcome",
    "ProtocolError",
    "Ready",
    "Shutdown",
    "StartupFailed",
    "ToChild",
    "ToParent",
    "close_fd",
    "decode",
    "encode",
]
