"""``QueueSettings``: the options of ``Queue(...)``, checked once, in one frozen object.

``Queue.__init__`` keeps its public signature and hands its arguments to
``QueueSettings.from_options``, which checks each one (``TypeError``/``ValueError``/
``ConfigurationError`` naming it) and resolves the defaults that depend on the machine or
the environment (``workers=0``, ``$TASKITO_SIGNING_KEY``, the backend named by the URL).
Nothing reads an option anywhere else, so nothing checks one twice.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskito.exceptions import ConfigurationError
from taskito.queue import checks as check
from taskito.serializers import CloudpickleSerializer
from taskito.signing import signer_from_settings
from taskito.storage import resolve_target

if TYPE_CHECKING:
    from taskito.middleware import TaskMiddleware
    from taskito.serializers import Serializer
    from taskito.signing import Signer
    from taskito.storage import StorageTarget


#: The longest ``metrics_retention`` (whole seconds): the longest duration any option takes.
MAX_RETENTION_S = int(check.MAX_SECONDS)


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """Every option of one Queue, checked; times in the units ``Queue(...)`` takes them."""

    db_path: str
    backend: str
    db_url: str | None
    schema: str
    pool_size: int | None
    durable_enqueue: bool
    workers: int
    default_retry: int
    default_timeout: float | None
    default_priority: int
    result_ttl: float | None
    serializer: Serializer
    # The signer holds key material: never in a repr.
    signer: Signer | None = dataclasses.field(repr=False)
    middleware: tuple[TaskMiddleware, ...]
    drain_timeout: float
    async_concurrency: int
    event_workers: int
    scheduler_poll_interval_ms: float
    scheduler_reap_interval: int
    scheduler_cleanup_interval: int
    namespace: str | None
    unknown_task_window: float
    max_rescues: int
    metrics_retention: int | None

    @classmethod
    def from_options(
        cls,
        *,
        db_path: str | os.PathLike[str],
        workers: int,
        default_retry: int,
        default_timeout: float | None,
        default_priority: int,
        result_ttl: float | None,
        serializer: Any,
        middleware: list[Any] | None,
        backend: str | None,
        db_url: str | None,
        schema: str,
        pool_size: int | None,
        drain_timeout: float,
        async_concurrency: int,
        event_workers: int,
        scheduler_poll_interval_ms: float,
        scheduler_reap_interval: int,
        scheduler_cleanup_interval: int,
        namespace: str | None,
        signing_key: str | bytes | list[str | bytes] | None,
        unknown_task_window: float,
        max_rescues: int,
        durable_enqueue: bool,
        metrics_retention: int | None,
    ) -> QueueSettings:
        """Check every option of ``Queue(...)``, in order. The defaults live in ``Queue``'s
        signature only, so every option is passed here by name."""
        if not isinstance(db_path, str | os.PathLike):
            raise TypeError(f"db_path must be a str or path, not {type(db_path).__name__}")
        path = os.fspath(db_path)
        checked_workers = check.check_int("workers", workers, minimum=0) or os.cpu_count() or 1
        retry = check.check_count("default_retry", default_retry)
        timeout = check.check_optional_seconds("default_timeout", default_timeout, allow_zero=False)
        priority = check.check_priority("default_priority", default_priority)
        ttl = check.check_optional_seconds("result_ttl", result_ttl)
        codec = (
            CloudpickleSerializer()
            if serializer is None
            else check.check_serializer("serializer", serializer)
        )
        # Read here, never at import: None falls back to $TASKITO_SIGNING_KEY.
        signer = signer_from_settings(signing_key)
        chain = tuple(check.check_middleware("middleware", middleware))
        target = _check_backend(backend, path, db_url)
        return cls(
            db_path=target.db_path,
            backend=target.backend,
            db_url=target.db_url,
            schema=check.check_name("schema", schema),
            pool_size=check.check_optional_int("pool_size", pool_size, minimum=1),
            drain_timeout=check.check_seconds("drain_timeout", drain_timeout, maximum=1e9),
            async_concurrency=check.check_int("async_concurrency", async_concurrency, minimum=1),
            event_workers=check.check_int("event_workers", event_workers, minimum=1),
            scheduler_poll_interval_ms=check.check_seconds(
                "scheduler_poll_interval_ms", scheduler_poll_interval_ms, allow_zero=False
            ),
            scheduler_reap_interval=check.check_int(
                "scheduler_reap_interval", scheduler_reap_interval, minimum=1
            ),
            scheduler_cleanup_interval=check.check_int(
                "scheduler_cleanup_interval", scheduler_cleanup_interval, minimum=1
            ),
            namespace=None if namespace is None else check.check_name("namespace", namespace),
            # How long a worker that does not know a job's task puts it back for one that does.
            unknown_task_window=check.check_seconds("unknown_task_window", unknown_task_window),
            # Rescues (a job's worker died or gave it up) before the job is a poison pill.
            max_rescues=check.check_int("max_rescues", max_rescues, minimum=0),
            durable_enqueue=_check_bool("durable_enqueue", durable_enqueue),
            # Seconds a task metric row is kept; 0 records none, None keeps them forever.
            metrics_retention=check.check_optional_int(
                "metrics_retention", metrics_retention, minimum=0, maximum=MAX_RETENTION_S
            ),
            workers=checked_workers,
            default_retry=retry,
            default_timeout=timeout,
            default_priority=priority,
            result_ttl=ttl,
            serializer=codec,
            signer=signer,
            middleware=chain,
        )

    def for_worker(
        self, workers: int | None = None, drain_timeout: float | None = None
    ) -> QueueSettings:
        """These settings with a worker's overrides (the CLI's ``--workers`` and
        ``--drain-timeout``), checked as the constructor checks them; None keeps a value."""
        changes: dict[str, Any] = {}
        if workers is not None:
            changes["workers"] = (
                check.check_int("workers", workers, minimum=0) or os.cpu_count() or 1
            )
        if drain_timeout is not None:
            changes["drain_timeout"] = check.check_seconds(
                "drain_timeout", drain_timeout, maximum=1e9
            )
        return dataclasses.replace(self, **changes) if changes else self

    @property
    def default_timeout_ms(self) -> int | None:
        return None if self.default_timeout is None else round(self.default_timeout * 1000)

    @property
    def result_ttl_ms(self) -> int | None:
        return None if self.result_ttl is None else round(self.result_ttl * 1000)

    @property
    def metrics_retention_ms(self) -> int | None:
        return None if self.metrics_retention is None else self.metrics_retention * 1000

    @property
    def unknown_task_window_ms(self) -> int:
        return round(self.unknown_task_window * 1000)

    @property
    def cleanup_interval_s(self) -> float:
        """Expired results are deleted every ``scheduler_cleanup_interval`` scheduler ticks of
        ``scheduler_poll_interval_ms`` (the reference's units: 1200 x 50 ms = 60 s)."""
        return self.scheduler_cleanup_interval * self.scheduler_poll_interval_ms / 1000


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def _check_backend(backend: object, db_path: str, db_url: object) -> StorageTarget:
    """The backend named by ``backend=`` or inferred from the URL's scheme (``storage``
    knows the names); a contradiction or an unknown scheme is a ``ConfigurationError``."""
    if backend is not None and not isinstance(backend, str):
        raise TypeError(f"backend must be a str, not {type(backend).__name__}")
    check.check_optional_str("db_url", db_url)
    assert db_url is None or isinstance(db_url, str)
    try:
        return resolve_target(backend, db_path, db_url)
    except ConfigurationError:
        raise
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


__all__ = ["QueueSettings"]
