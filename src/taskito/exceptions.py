"""Every error taskito raises, under one root so callers can catch ``TaskitoError``.

    TaskitoError
    ├── TaskTimeoutError                 a job ran past its hard timeout
    ├── SoftTimeoutError                 current_job.check_timeout() past soft_timeout
    ├── TaskCancelledError               a cancel request reached the task
    ├── TaskFailedError                  JobResult.result() of a failed job
    │   └── MaxRetriesExceededError      ... of a dead-lettered job
    ├── SerializationError               arguments or a result could not be (de)serialized
    │   ├── SignatureError               a payload or result failed its signature check
    │   ├── CryptoError                  a payload codec refused bytes (tampered, wrong key)
    │   └── InterceptionError            interception refused arguments (``.failures``)
    ├── CircuitBreakerOpenError
    ├── RateLimitExceededError
    ├── QueueError                       misuse of a Queue (unknown task, bad option)
    │   ├── ConfigurationError           (also ValueError) an invalid option value
    │   │   └── AppLoadError             "module:attribute" names nothing loadable
    │   ├── PayloadTooLargeError         (also ValueError) a payload over max_payload_bytes
    │   └── QueueFullError               a queue's stored max_pending cap refused the jobs
    ├── JobNotFoundError                 (also KeyError) no job with that id
    ├── StorageError                     (also RuntimeError) the backend failed or refused
    │   ├── DatabaseCorruptError         the file is not a taskito database
    │   ├── SchemaVersionError           written by a newer taskito
    │   ├── DependencyError              depends_on names a missing, dead or cancelled job
    │   ├── UniqueConflictError          a batch collided with an active unique_key
    │   └── StorageUnavailableError      the server cannot be reached
    └── ResourceError
        ├── ResourceInitError
        ├── ResourceUnavailableError
        ├── CircularDependencyError
        ├── ResourceNotFoundError        (also KeyError)
        ├── ProxyReconstructionError     a proxied argument could not be rebuilt
        └── ProxyCleanupError            (never raised: clean-up errors are logged)

``StorageError`` derives from ``RuntimeError`` because the reference package reports storage
failures (missing dependencies, unique collisions, unknown jobs) as ``RuntimeError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


class TaskitoError(Exception):
    """Root of every taskito error."""


class TaskTimeoutError(TaskitoError):
    """A job ran past its hard timeout."""


class SoftTimeoutError(TaskitoError):
    """``current_job.check_timeout()`` found the job past its soft timeout."""


class TaskCancelledError(TaskitoError):
    """A cancel request reached the task (or the job was cancelled before it ran)."""


class TaskFailedError(TaskitoError):
    """The job failed; raised by ``JobResult.result()``."""


class MaxRetriesExceededError(TaskFailedError):
    """The job was dead-lettered after its retries ran out."""


class SerializationError(TaskitoError):
    """Arguments or a result could not be serialized or deserialized."""


class SignatureError(SerializationError):
    """A payload or a result failed its signature check (``Queue(signing_key=...)``): it was
    not deserialised."""


class CryptoError(SerializationError):
    """A payload codec (``AesGcmCodec``, ``HmacCodec``) refused bytes: changed, truncated, or
    made with another key. They were not deserialised."""


@dataclass(frozen=True, slots=True)
class ArgumentFailure:
    """One argument interception refused: where it is (``args[0]``, ``kwargs.session``,
    ``kwargs.data.items[2]``), its type, why, and what to do instead."""

    path: str
    type_name: str
    reason: str
    suggestions: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        lines = [f"  {self.path} (type: {self.type_name}): {self.reason}"]
        lines += [f"      {n}. {text}" for n, text in enumerate(self.suggestions, 1)]
        return "\n".join(lines)


class InterceptionError(SerializationError):
    """Interception (``Queue(interception="strict")``) refused some arguments of a call;
    ``failures`` lists every one, and nothing was stored."""

    def __init__(self, failures: Sequence[ArgumentFailure]) -> None:
        self.failures = list(failures)
        lines = [f"Cannot serialize {len(self.failures)} argument(s):"]
        lines += [failure.describe() for failure in self.failures]
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.failures,))


class CircuitBreakerOpenError(TaskitoError):
    """The task's circuit breaker is open."""


class RateLimitExceededError(TaskitoError):
    """A rate limit refused the job."""


class QueueError(TaskitoError):
    """The Queue was used in a way it does not support."""


class ConfigurationError(QueueError, ValueError):
    """An option has an invalid value."""


class PayloadTooLargeError(QueueError, ValueError):
    """An encoded payload is larger than the queue's ``max_payload_bytes``; nothing was
    stored. The message names the task, the size and the limit."""


class QueueFullError(QueueError):
    """The queue holds as many pending jobs as its ``max_pending`` cap allows; nothing was
    stored. ``pending``, ``incoming`` and ``cap`` are in the message and as attributes."""

    def __init__(self, queue: str, pending: int, incoming: int, cap: int) -> None:
        super().__init__(
            f"queue {queue!r} is full: {pending} pending + {incoming} incoming would pass its"
            f" max_pending cap of {cap}; nothing was stored"
        )
        self.queue, self.pending, self.incoming, self.cap = queue, pending, incoming, cap

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.queue, self.pending, self.incoming, self.cap))


class AppLoadError(ConfigurationError):
    """``"module:attribute"`` (the CLI's ``--app``, a prefork child's app) could not be loaded;
    the message says why."""

    def __init__(self, spec: str, reason: str, *, traceback: str | None = None) -> None:
        super().__init__(f"app {spec!r}: {reason}")
        #: The ``"module:attribute"`` that was asked for.
        self.spec = spec
        #: What went wrong, without the spec.
        self.reason = reason
        #: The traceback of what the module raised while it was imported; None when the
        #: spec, the module or the attribute was not found.
        self.traceback = traceback

    def __reduce__(self) -> tuple[object, ...]:
        # The constructor's arguments are not the message: rebuild from them (pickle, copy).
        return (type(self), (self.spec, self.reason), {"traceback": self.traceback})


class JobNotFoundError(TaskitoError, KeyError):
    """No job has that id."""


class StorageError(TaskitoError, RuntimeError):
    """The storage backend failed or refused an operation."""


class DatabaseCorruptError(StorageError):
    """The database file is not a taskito database, or it is damaged."""


class SchemaVersionError(StorageError):
    """The database was written by a newer taskito than this one."""


class DependencyError(StorageError):
    """A ``depends_on`` job does not exist, or is already dead or cancelled."""


class UniqueConflictError(StorageError):
    """A batch enqueue collided with the unique key of an active job."""


class StorageUnavailableError(StorageError):
    """The storage server cannot be reached."""


class ResourceError(TaskitoError):
    """Base class of worker-resource errors."""


class ResourceInitError(ResourceError):
    """A resource failed to initialise."""


class ResourceUnavailableError(ResourceError):
    """A resource cannot be handed out right now."""


class CircularDependencyError(ResourceError):
    """Resources depend on each other in a cycle."""


class ResourceNotFoundError(ResourceError, KeyError):
    """No resource has that name."""


class ProxyReconstructionError(ResourceError):
    """A proxied argument could not be rebuilt in the worker. ``retryable`` is False when
    another attempt cannot do better (a refused signature, path or handler): the job fails
    without retries."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self),), {"retryable": self.retryable})


class ProxyCleanupError(ResourceError):
    """A proxied argument could not be cleaned up."""


__all__ = [
    "AppLoadError",
    "CircuitBreakerOpenError",
    "CircularDependencyError",
    "ConfigurationError",
    "CryptoError",
    "DatabaseCorruptError",
    "DependencyError",
    "InterceptionError",
    "JobNotFoundError",
    "MaxRetriesExceededError",
    "PayloadTooLargeError",
    "ProxyCleanupError",
    "ProxyReconstructionError",
    "QueueError",
    "QueueFullError",
    "RateLimitExceededError",
    "ResourceError",
    "ResourceInitError",
    "ResourceNotFoundError",
    "ResourceUnavailableError",
    "SchemaVersionError",
    "SerializationError",
    "SignatureError",
    "SoftTimeoutError",
    "StorageError",
    "StorageUnavailableError",
    "TaskCancelledError",
    "TaskFailedError",
    "TaskTimeoutError",
    "TaskitoError",
    "UniqueConflictError",
]
