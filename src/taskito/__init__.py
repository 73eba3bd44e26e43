"""taskito: a task queue for Python. ``Queue`` is the entry point; everything listed in
``__all__`` is the public API."""

from __future__ import annotations

from importlib import metadata as _metadata

from taskito.canvas import Signature, chain, chord, chunks, group, starmap
from taskito.codecs import AesGcmCodec, CodecSerializer, GzipCodec, HmacCodec, PayloadCodec
from taskito.context import current_job
from taskito.events import EventType
from taskito.exceptions import (
    AppLoadError,
    CircuitBreakerOpenError,
    CircularDependencyError,
    ConfigurationError,
    CryptoError,
    DatabaseCorruptError,
    DependencyError,
    InterceptionError,
    JobNotFoundError,
    MaxRetriesExceededError,
    PayloadTooLargeError,
    ProxyCleanupError,
    ProxyReconstructionError,
    QueueError,
    QueueFullError,
    RateLimitExceededError,
    ResourceError,
    ResourceInitError,
    ResourceNotFoundError,
    ResourceUnavailableError,
    SchemaVersionError,
    SerializationError,
    SignatureError,
    SoftTimeoutError,
    StorageError,
    StorageUnavailableError,
    TaskCancelledError,
    TaskFailedError,
    TaskitoError,
    TaskTimeoutError,
    UniqueConflictError,
)
from taskito.inject import Inject
from taskito.interception.report import InterceptionReport
from taskito.middleware import TaskMiddleware
from taskito.proxies.registry import NoProxy
from taskito.queue.flow import PeriodicInfo
from taskito.queue.operator import Page
from taskito.queue.queue import Queue
from taskito.registry import OnExcess
from taskito.result import JobResult
from taskito.retention import Retention
from taskito.serializers import (
    CloudpickleSerializer,
    EncryptedSerializer,
    JsonSerializer,
    MsgPackSerializer,
    Serializer,
    SignedSerializer,
)
from taskito.task import TaskWrapper
from taskito.testing import MockResource, TestMode, TestResult, TestResults
from taskito.worker.overrides import QueueOverride, TaskOverride

try:  # the distribution's name, not the import name (taskito.contrib.DISTRIBUTION)
    __version__ = _metadata.version("pytaskito")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

__all__ = [
    "AesGcmCodec",
    "AppLoadError",
    "CircuitBreakerOpenError",
    "CircularDependencyError",
    "CloudpickleSerializer",
    "CodecSerializer",
    "ConfigurationError",
    "CryptoError",
    "DatabaseCorruptError",
    "DependencyError",
    "EncryptedSerializer",
    "EventType",
    "GzipCodec",
    "HmacCodec",
    "Inject",
    "InterceptionError",
    "InterceptionReport",
    "JobNotFoundError",
    "JobResult",
    "JsonSerializer",
    "MaxRetriesExceededError",
    "MockResource",
    "MsgPackSerializer",
    "NoProxy",
    "OnExcess",
    "Page",
    "PayloadCodec",
    "PayloadTooLargeError",
    "PeriodicInfo",
    "ProxyCleanupError",
    "ProxyReconstructionError",
    "Queue",
    "QueueError",
    "QueueFullError",
    "QueueOverride",
    "RateLimitExceededError",
    "ResourceError",
    "ResourceInitError",
    "ResourceNotFoundError",
    "ResourceUnavailableError",
    "Retention",
    "SchemaVersionError",
    "SerializationError",
    "Serializer",
    "Signature",
    "SignatureError",
    "SignedSerializer",
    "SoftTimeoutError",
    "StorageError",
    "StorageUnavailableError",
    "TaskCancelledError",
    "TaskFailedError",
    "TaskMiddleware",
    "TaskOverride",
    "TaskTimeoutError",
    "TaskWrapper",
    "TaskitoError",
    "TestMode",
    "TestResult",
    "TestResults",
    "UniqueConflictError",
    "chain",
    "chord",
    "chunks",
    "current_job",
    "group",
    "starmap",
]
