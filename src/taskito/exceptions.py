"""Every error taskito raises, under one root so callers can catch ``TaskitoError``.

    TaskitoError
    ├── TaskTimeoutError                 a job ran past its hard timeout
    ├── SoftTimeoutError                 current_job.check_timeout() past soft_timeout
    ├── TaskCancelledError               a cancel request reached the task
    ├── TaskFailedError                  JobResult.result() of a failed job
    │   └── MaxRetriesExceededError      ... of a dead-lettered job
    ├── SerializationError               arguments or a result could not be (de)serialized
    │   └── SignatureError               a payload or result failed its signature check
    ├── CircuitBreakerOpenError
    ├── RateLimitExceededError
    ├── QueueError                       misuse of a Queue (unknown task, bad option)
    │   └── ConfigurationError           (also ValueError) an invalid option value
    │       └── AppLoadError             "module:attribute" names nothing loadable
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
        ├── ProxyReconstructionError
        └── ProxyCleanupError

``StorageError`` derives from ``RuntimeError`` because the reference package reports storage
failures (missing dependencies, unique collisions, unknown jobs) as ``RuntimeError``.
"""

from __future__ import annotations


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


class CircuitBreakerOpenError(TaskitoError):
    """The task's circuit breaker is open."""


class RateLimitExceededError(TaskitoError):
    """A rate limit refused the job."""


class QueueError(TaskitoError):
    """The Queue was used in a way it does not support."""


class ConfigurationError(QueueError, ValueError):
    """An option has an invalid value."""


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
    """A proxied argument could not be rebuilt in the worker."""


class ProxyCleanupError(ResourceError):
    """A proxied argument could not be cleaned up."""


__all__ = [
    "AppLoadError",
    "CircuitBreakerOpenError",
    "CircularDependencyError",
    "ConfigurationError",
    "DatabaseCorruptError",
    "DependencyError",
    "JobNotFoundError",
    "MaxRetriesExceededError",
    "ProxyCleanupError",
    "ProxyReconstructionError",
    "QueueError",
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
