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

from taskito import _checks
from taskito.codecs import check_codecs, check_named_codecs, pick_codecs, task_serializer
from taskito.exceptions import ConfigurationError
from taskito.interception.interceptor import check_mode
from taskito.proxies.built_in import check_disabled_proxies
from taskito.proxies.signing import RECIPE_SECRET_ENV
from taskito.queue import checks as check
from taskito.serializers import CloudpickleSerializer
from taskito.signing import signer_from_settings
from taskito.storage import resolve_target

if TYPE_CHECKING:
    from collections.abc import Mapping

    from taskito.codecs import PayloadCodec
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
    interception: str = "off"
    max_intercept_depth: int = 10
    # Key material: never in a repr.
    recipe_signing_key: str | bytes | None = dataclasses.field(default=None, repr=False)
    max_reconstruction_timeout: float = 10.0
    file_path_allowlist: tuple[str, ...] | None = None
    disabled_proxies: frozenset[str] = frozenset()
    #: ``Queue(codec=...)``: the codecs after the serializer, for payloads and results.
    codec: tuple[PayloadCodec, ...] = ()
    #: ``Queue(codecs=...)``: the codecs tasks may name in ``@queue.task(codecs=[...])``.
    codecs: Mapping[str, PayloadCodec] = dataclasses.field(default_factory=dict, hash=False)

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
        interception: str,
        max_intercept_depth: int,
        recipe_signing_key: str | bytes | None,
        max_reconstruction_timeout: float,
        file_path_allowlist: list[str] | None,
        disabled_proxies: list[str] | None,
        codec: Any = None,
        codecs: dict[str, Any] | None = None,
    ) -> QueueSettings:
        """Check every option of ``Queue(...)``, one concept after another: where jobs are
        stored, what a job gets when its call does not say, how payloads are encoded, how
        workers run, and the scheduler's ticks. The defaults live in ``Queue``'s signature
        only, so every option is passed here by name."""
        return cls(
            **_storage_fields(db_path, backend, db_url, schema, pool_size, durable_enqueue),
            **_job_default_fields(default_retry, default_timeout, default_priority, result_ttl),
            **_payload_fields(serializer, middleware, signing_key, namespace),
            codec=check_codecs("codec", codec),
            codecs=check_named_codecs("codecs", codecs),
            **_worker_fields(
                workers,
                drain_timeout,
                async_concurrency,
                event_workers,
                unknown_task_window,
                max_rescues,
            ),
            **_scheduler_fields(
                scheduler_poll_interval_ms,
                scheduler_reap_interval,
                scheduler_cleanup_interval,
                metrics_retention,
            ),
            **_interception_fields(
                interception,
                max_intercept_depth,
                recipe_signing_key,
                max_reconstruction_timeout,
                file_path_allowlist,
                disabled_proxies,
            ),
        )

    def for_worker(
        self, workers: int | None = None, drain_timeout: float | None = None
    ) -> QueueSettings:
        """These settings with a worker's overrides (the CLI's ``--workers`` and
        ``--drain-timeout``), checked as the constructor checks them; None keeps a value."""
        changes: dict[str, Any] = {}
        if workers is not None:
            changes["workers"] = _check_workers(workers)
        if drain_timeout is not None:
            changes["drain_timeout"] = _check_drain_timeout(drain_timeout)
        return dataclasses.replace(self, **changes) if changes else self

    def task_serializer(
        self, own: Serializer | None, codec_names: tuple[str, ...]
    ) -> Serializer | None:
        """The payload serializer of a task (``codecs.task_serializer``); None: the queue's.
        A name ``codecs`` does not define is a ``ValueError``."""
        task_codecs = pick_codecs(codec_names, self.codecs)
        return task_serializer(self.serializer, self.codec, own, task_codecs)

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


def _storage_fields(
    db_path: object,
    backend: object,
    db_url: object,
    schema: object,
    pool_size: object,
    durable_enqueue: object,
) -> dict[str, Any]:
    """Where jobs are stored: the backend (named, or told by the URL's scheme), its place,
    and how it is opened."""
    if not isinstance(db_path, str | os.PathLike):
        raise TypeError(f"db_path must be a str or path, not {type(db_path).__name__}")
    target = _check_backend(backend, os.fspath(db_path), db_url)
    return {
        "db_path": target.db_path,
        "backend": target.backend,
        "db_url": target.db_url,
        "schema": check.check_storable_name("schema", schema),
        "pool_size": _checks.check_optional_int(
            "pool_size", pool_size, minimum=1, error=ConfigurationError
        ),
        "durable_enqueue": _checks.check_bool("durable_enqueue", durable_enqueue),
    }


def _job_default_fields(
    default_retry: object, default_timeout: object, default_priority: object, result_ttl: object
) -> dict[str, Any]:
    """What a job gets when its enqueue call does not say."""
    return {
        "default_retry": check.check_exact_count("default_retry", default_retry),
        "default_timeout": check.check_optional_duration(
            "default_timeout", default_timeout, allow_zero=False
        ),
        "default_priority": check.check_priority("default_priority", default_priority),
        "result_ttl": check.check_optional_duration("result_ttl", result_ttl),
    }


def _payload_fields(
    serializer: object, middleware: object, signing_key: object, namespace: object
) -> dict[str, Any]:
    """How payloads are encoded (cloudpickle unless told), signed and tagged, and the
    middleware around every task."""
    return {
        "serializer": CloudpickleSerializer()
        if serializer is None
        else check.check_serializer("serializer", serializer),
        "middleware": tuple(check.check_middleware("middleware", middleware)),
        # Read here, never at import: None falls back to $TASKITO_SIGNING_KEY.
        "signer": signer_from_settings(signing_key),
        "namespace": None
        if namespace is None
        else check.check_storable_name("namespace", namespace),
    }


def _worker_fields(
    workers: object,
    drain_timeout: object,
    async_concurrency: object,
    event_workers: object,
    unknown_task_window: object,
    max_rescues: object,
) -> dict[str, Any]:
    """How this Queue's workers and event listeners run."""
    return {
        "workers": _check_workers(workers),
        "drain_timeout": _check_drain_timeout(drain_timeout),
        "async_concurrency": _checks.check_positive(
            "async_concurrency", async_concurrency, error=ConfigurationError
        ),
        "event_workers": _checks.check_positive(
            "event_workers", event_workers, error=ConfigurationError
        ),
        # How long a worker that does not know a job's task puts it back for one that does.
        "unknown_task_window": check.check_duration("unknown_task_window", unknown_task_window),
        # Rescues (a job's worker died or gave it up) before the job is a poison pill.
        "max_rescues": _checks.check_count("max_rescues", max_rescues, error=ConfigurationError),
    }


def _scheduler_fields(
    poll_interval_ms: object, reap: object, cleanup: object, metrics_retention: object
) -> dict[str, Any]:
    """The scheduler's tick, how many ticks apart workers are reaped and expired results
    deleted (the reference's units), and the seconds a task metric row is kept before the
    scheduler deletes it (0: none is written; None: kept forever)."""
    return {
        "metrics_retention": None
        if metrics_retention is None
        else _checks.check_int(
            "metrics_retention",
            metrics_retention,
            minimum=0,
            maximum=MAX_RETENTION_S,
            error=ConfigurationError,
        ),
        "scheduler_poll_interval_ms": check.check_duration(
            "scheduler_poll_interval_ms", poll_interval_ms, allow_zero=False
        ),
        "scheduler_reap_interval": _checks.check_positive(
            "scheduler_reap_interval", reap, error=ConfigurationError
        ),
        "scheduler_cleanup_interval": _checks.check_positive(
            "scheduler_cleanup_interval", cleanup, error=ConfigurationError
        ),
    }


def _interception_fields(
    mode: object,
    max_depth: object,
    recipe_key: object,
    timeout: object,
    allowlist: object,
    disabled: object,
) -> dict[str, Any]:
    """How arguments are intercepted at enqueue and proxies rebuilt in the worker
    (docs/interception.md). ``recipe_signing_key`` None falls back on
    ``$TASKITO_RECIPE_SECRET``, read here, never at import."""
    try:
        checked_mode = check_mode(mode)
        disabled_names = check_disabled_proxies(disabled)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    return {
        "interception": checked_mode,
        "max_intercept_depth": _checks.check_positive(
            "max_intercept_depth", max_depth, error=ConfigurationError
        ),
        "recipe_signing_key": _check_recipe_key(recipe_key),
        "max_reconstruction_timeout": _checks.check_seconds(
            "max_reconstruction_timeout", timeout, maximum=1e6, error=ConfigurationError
        ),
        "file_path_allowlist": _check_allowlist(allowlist),
        "disabled_proxies": disabled_names,
    }


def _check_recipe_key(value: object) -> str | bytes | None:
    if value is None:
        value = os.environ.get(RECIPE_SECRET_ENV)
        if value is None:
            return None
        name = RECIPE_SECRET_ENV
    else:
        name = "recipe_signing_key"
    if not isinstance(value, str | bytes):
        raise TypeError(f"recipe_signing_key must be a str or bytes, not {type(value).__name__}")
    if not value:
        raise ConfigurationError(f"{name} is empty: give a key, or leave it unset")
    return value


def _check_allowlist(value: object) -> tuple[str, ...] | None:
    """Directories the file proxy may open files in, made absolute; None: any path."""
    if value is None:
        return None
    if isinstance(value, str | bytes | os.PathLike) or not isinstance(value, list | tuple):
        raise TypeError(
            f"file_path_allowlist must be a list of directories, not {type(value).__name__}"
        )
    paths: list[str] = []
    for entry in value:
        if not isinstance(entry, str | os.PathLike) or not os.fspath(entry):
            raise ConfigurationError(
                f"file_path_allowlist entries must be non-empty paths, got {entry!r}"
            )
        paths.append(os.path.abspath(os.fspath(entry)))
    return tuple(paths)


def _check_workers(workers: object) -> int:
    """``workers=0`` means one per CPU."""
    count = _checks.check_count("workers", workers, error=ConfigurationError)
    return count or os.cpu_count() or 1


def _check_drain_timeout(drain_timeout: object) -> float:
    return _checks.check_seconds(
        "drain_timeout", drain_timeout, maximum=1e9, error=ConfigurationError
    )


def _check_backend(backend: object, db_path: str, db_url: object) -> StorageTarget:
    """The backend named by ``backend=`` or inferred from the URL's scheme (``storage``
    knows the names); a contradiction or an unknown scheme is a ``ConfigurationError``."""
    if backend is not None and not isinstance(backend, str):
        raise TypeError(f"backend must be a str, not {type(backend).__name__}")
    _checks.check_optional_str("db_url", db_url)
    assert db_url is None or isinstance(db_url, str)
    try:
        return resolve_target(backend, db_path, db_url)
    except ConfigurationError:
        raise
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


__all__ = ["QueueSettings"]
