"""The per-execution job context: ``ActiveJob`` bound in a ContextVar for the length of one
run, and ``current_job``, the view a task uses to read it, report progress, log and check for
cancellation (docs/architecture.md, invariants 5 and 7: no I/O to check cancel, no process-global
app)."""

from __future__ import annotations

import json
import threading
import time
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from taskito.exceptions import SoftTimeoutError, TaskCancelledError
from taskito.job import now_ms
from taskito.storable import storable_text

if TYPE_CHECKING:
    from taskito.storage.base import Storage

NO_CONTEXT_MESSAGE = "No active job context. current_job can only be used inside a running task."


class CancelFlag(Protocol):
    """Set by the pool when a cancel request reaches this run; ``threading.Event`` and
    ``asyncio.Event`` both qualify."""

    def is_set(self) -> bool: ...


@dataclass(slots=True)
class ActiveJob:
    """One running attempt, as the executing code sees it.

    ``storage`` None is test mode: progress, logs and published results are validated and
    then dropped.
    """

    job_id: str
    task_name: str
    retry_count: int
    queue_name: str
    storage: Storage | None = None
    soft_timeout_s: float | None = None
    cancel_flag: CancelFlag = field(default_factory=threading.Event)
    started_mono: float = field(default_factory=time.monotonic)
    metadata: str | None = None


_active: ContextVar[ActiveJob | None] = ContextVar("taskito_active_job", default=None)


def bind(active: ActiveJob) -> Token[ActiveJob | None]:
    """Make ``active`` the current job of this thread or asyncio task until ``unbind``."""
    if not isinstance(active, ActiveJob):
        raise TypeError(f"bind() expects an ActiveJob, not {type(active).__name__}")
    return _active.set(active)


def unbind(token: Token[ActiveJob | None]) -> None:
    """Restore whatever was current before the matching ``bind``."""
    _active.reset(token)


def get_active() -> ActiveJob | None:
    """The job bound in this context, or None outside a task."""
    return _active.get()


def _set_context(job_id: str, task_name: str, retry_count: int, queue_name: str) -> None:
    """Bind a storage-less job in the current context (the reference's test helper)."""
    _active.set(ActiveJob(job_id, task_name, retry_count, queue_name))


def _clear_context() -> None:
    """Unbind whatever ``_set_context`` bound in the current context."""
    _active.set(None)


def _require_active() -> ActiveJob:
    active = _active.get()
    if active is None:
        raise RuntimeError(NO_CONTEXT_MESSAGE)
    return active


def _encode_extra(value: Any) -> str:
    try:
        # ensure_ascii (the default) escapes NUL and surrogates: the JSON is always storable.
        return json.dumps(value)
    except (TypeError, ValueError):
        # Not JSON (or circular): keep something readable rather than lose the log line.
        return storable_text(str(value))


class JobContext:
    """What a running task knows about itself. Use the ``current_job`` singleton.

    Every accessor reads the job bound to the calling thread or asyncio task, and raises
    ``RuntimeError`` outside a task.
    """

    __slots__ = ()

    @property
    def id(self) -> str:
        return _require_active().job_id

    @property
    def task_name(self) -> str:
        return _require_active().task_name

    @property
    def retry_count(self) -> int:
        """0 on the first attempt, 1 on the first retry, and so on."""
        return _require_active().retry_count

    @property
    def queue_name(self) -> str:
        return _require_active().queue_name

    @property
    def metadata(self) -> str | None:
        """The ``metadata`` text the job was enqueued with (None when it had none)."""
        return _require_active().metadata

    def update_progress(self, progress: int) -> None:
        """Record progress as a whole percentage, 0 to 100."""
        active = _require_active()
        if isinstance(progress, bool) or not isinstance(progress, int):
            raise ValueError(
                f"progress must be an int from 0 to 100, not {type(progress).__name__} "
                f"({progress!r})"
            )
        if not 0 <= progress <= 100:
            raise ValueError(f"progress must be from 0 to 100, got {progress}")
        if active.storage is not None:
            active.storage.update_progress(active.job_id, progress)

    def log(self, message: str, level: str = "info", extra: Any = None) -> None:
        """Store a log line for this job; ``extra`` is kept as JSON (or its ``str()``). A NUL
        or a lone surrogate in the text is stored as a visible escape (``taskito.storable``)."""
        active = _require_active()
        if not isinstance(message, str):
            raise TypeError(f"message must be a str, not {type(message).__name__}")
        if not isinstance(level, str) or not level:
            raise TypeError(f"level must be a non-empty str like 'info', got {level!r}")
        extra_text = None if extra is None else _encode_extra(extra)
        if active.storage is not None:
            active.storage.add_log(
                active.job_id,
                active.task_name,
                storable_text(level),
                storable_text(message),
                extra_text,
                now_ms(),
            )

    def publish(self, data: Any) -> None:
        """Publish a partial result: a log line with level ``"result"`` whose extra is
        ``json.dumps(data)`` (or ``str(data)`` when that fails)."""
        active = _require_active()
        if active.storage is not None:
            active.storage.add_log(
                active.job_id, active.task_name, "result", "", _encode_extra(data), now_ms()
            )

    def check_cancelled(self) -> None:
        """Raise ``TaskCancelledError`` if a cancel request reached this run. No I/O: the
        pool sets the flag, so this is cheap enough to call in a tight loop."""
        active = _active.get()
        if active is None:
            raise RuntimeError(NO_CONTEXT_MESSAGE)
        if active.cancel_flag.is_set():
            raise TaskCancelledError(f"Job {active.job_id} was cancelled")

    def check_timeout(self) -> None:
        """Raise ``SoftTimeoutError`` once the run has lasted longer than its soft timeout."""
        active = _require_active()
        soft_timeout_s = active.soft_timeout_s
        if soft_timeout_s is None:
            return
        elapsed_s = time.monotonic() - active.started_mono
        if elapsed_s > soft_timeout_s:
            raise SoftTimeoutError(f"Soft timeout exceeded: {elapsed_s:.1f}s > {soft_timeout_s}s")

    def __repr__(self) -> str:
        active = _active.get()
        if active is None:
            return "<current_job: no active job>"
        return f"<current_job {active.job_id} task={active.task_name!r}>"


current_job = JobContext()

__all__ = [
    "ActiveJob",
    "CancelFlag",
    "JobContext",
    "bind",
    "current_job",
    "get_active",
    "unbind",
]
