"""The ``TASKITO_*`` settings of the Flask and Django integrations: the one table of keys,
the ``Queue(...)`` option each sets, and the one place that turns them into a ``Queue``.

A Flask app reads them from ``app.config``, a Django project from ``django.conf.settings``;
both hand the keys that start with ``TASKITO_`` to ``read_settings``. A key that is not in
the table is refused by name (with the closest valid key and the list of valid ones), and an
invalid value is reported with the key it came from. Values are never shown in a message:
``TASKITO_DB_URL`` and ``TASKITO_SIGNING_KEY`` hold secrets.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import taskito
from taskito import loading


@dataclass(frozen=True)
class Setting:
    """One ``TASKITO_*`` key: the ``Queue(...)`` option it sets (None for a key the
    integration itself reads) and what it means, as docs/integrations.md shows it."""

    key: str
    option: str | None
    meaning: str


def _queue_setting(option: str, meaning: str) -> Setting:
    return Setting(f"TASKITO_{option.upper()}", option, meaning)


#: Every ``Queue(...)`` option, under ``TASKITO_`` + its name in capitals.
QUEUE_SETTINGS: tuple[Setting, ...] = (
    _queue_setting("db_path", "SQLite file (Flask: relative to the instance folder)"),
    _queue_setting("backend", '"sqlite", "postgres" or "redis" (default: from the URL)'),
    _queue_setting("db_url", "Postgres or Redis URL"),
    _queue_setting("schema", "Postgres schema"),
    _queue_setting("pool_size", "Postgres connection pool size"),
    _queue_setting("durable_enqueue", "SQLite: fsync each enqueue (bool)"),
    _queue_setting("workers", "worker threads or child processes (0: CPU count)"),
    _queue_setting("default_retry", "retries of a job enqueued without max_retries"),
    _queue_setting("default_timeout", "seconds, for jobs enqueued without a timeout"),
    _queue_setting("default_priority", "priority of jobs enqueued without one"),
    _queue_setting("result_ttl", "seconds a result is kept (None: forever)"),
    _queue_setting("serializer", "a Serializer, or 'module:attr' naming one (or its class)"),
    _queue_setting("middleware", "a list of TaskMiddleware, or 'module:attr' names of them"),
    _queue_setting("drain_timeout", "seconds a stopping worker waits for running jobs"),
    _queue_setting("async_concurrency", "async tasks one worker runs at once"),
    _queue_setting("event_workers", "threads that call event listeners"),
    _queue_setting("scheduler_poll_interval_ms", "the scheduler's tick"),
    _queue_setting("scheduler_reap_interval", "ticks between lease reaps"),
    _queue_setting("scheduler_cleanup_interval", "ticks between expired-result cleanups"),
    _queue_setting("namespace", "the namespace every job of this queue carries"),
    _queue_setting("signing_key", "HMAC key (or list of keys) that signs payloads"),
    _queue_setting("unknown_task_window", "seconds a job of an unknown task waits"),
    _queue_setting("max_rescues", "rescues before a job is a poison pill"),
    _queue_setting(
        "metrics_retention", "seconds task metric rows are kept (0: none, None: forever)"
    ),
    _queue_setting("interception", "argument interception: off, strict or lenient"),
    _queue_setting("max_intercept_depth", "how deep interception walks arguments"),
    _queue_setting("recipe_signing_key", "HMAC key that signs proxy recipes"),
    _queue_setting("max_reconstruction_timeout", "seconds a worker may spend rebuilding proxies"),
    _queue_setting("file_path_allowlist", "directories file proxies may open (list)"),
    _queue_setting("disabled_proxies", "proxy handler names that are refused (list)"),
    _queue_setting("retention", "a Retention: windows per kind of history (None: keep all)"),
    _queue_setting("dlq_auto_retry_delay", "seconds before a dead letter is retried (None: off)"),
    _queue_setting("dlq_auto_retry_max", "automatic retries of one job's dead letters"),
    _queue_setting("max_payload_bytes", "largest payload an enqueue stores (0: no limit)"),
    _queue_setting("codec", "a payload codec, or a list, after the serializer (results too)"),
    _queue_setting("codecs", "payload codecs by name, for @queue.task(codecs=[...])"),
)

#: Keys both integrations read themselves.
TASKITO_APP = Setting(
    "TASKITO_APP",
    None,
    "'module:attr' of this Queue, for --pool prefork (Django: set for you)",
)
TASKITO_DEFAULT_QUEUE = Setting(
    "TASKITO_DEFAULT_QUEUE",
    None,
    'queue of the tasks declared through the integration without queue= (default: "default")',
)
COMMON_SETTINGS: tuple[Setting, ...] = (TASKITO_APP, TASKITO_DEFAULT_QUEUE)

_LEADING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class TaskitoSettings:
    """The ``TASKITO_*`` keys that were set, split into ``Queue(...)`` options and the keys
    the integration reads (``extras``, by key)."""

    source: str
    queue_options: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def extra(self, setting: Setting, default: Any = None) -> Any:
        return self.extras.get(setting.key, default)

    def text(self, setting: Setting, default: str | None = None) -> str | None:
        """A key that must hold a non-empty str (or be unset)."""
        value = self.extras.get(setting.key, default)
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(
                f"{self.source} {setting.key} must be a str, not {type(value).__name__}"
            )
        if not value.strip():
            raise taskito.ConfigurationError(
                f"{self.source} {setting.key} must be a non-empty str, not {value!r}"
            )
        return value


def valid_keys(extra: Iterable[Setting] = ()) -> tuple[str, ...]:
    return tuple(s.key for s in (*QUEUE_SETTINGS, *COMMON_SETTINGS, *extra))


def read_settings(
    values: Mapping[str, Any], *, source: str, extra: Iterable[Setting] = ()
) -> TaskitoSettings:
    """Split the ``TASKITO_*`` entries of ``values`` (other keys are ignored); an unknown
    ``TASKITO_`` key is a ``ConfigurationError`` naming it, the closest valid key and every
    valid one."""
    extra = tuple(extra)
    options_by_key = {s.key: s.option for s in QUEUE_SETTINGS}
    known = valid_keys(extra)
    settings = TaskitoSettings(source)
    for key, value in values.items():
        if not key.startswith("TASKITO_"):
            continue
        if key not in known:
            raise unknown_key(key, known, source)
        option = options_by_key.get(key)
        if option is None:
            settings.extras[key] = value
        else:
            settings.queue_options[option] = value
    return settings


def unknown_key(key: str, known: Iterable[str], source: str) -> taskito.ConfigurationError:
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return taskito.ConfigurationError(
        f"unknown taskito setting {key} in {source}{hint}; valid keys: {', '.join(known)}"
    )


def build_queue(
    settings: TaskitoSettings, *, middleware: Iterable[taskito.TaskMiddleware] = ()
) -> taskito.Queue:
    """``Queue(**options)``: names in ``serializer``/``middleware`` loaded, the integration's
    own ``middleware`` before the settings' ones. An
    invalid value raises as ``Queue`` does (``TypeError`` or ``ConfigurationError``), its
    message prefixed with the key it came from."""
    options = dict(settings.queue_options)
    if "serializer" in options:
        options["serializer"] = _loaded(settings, options["serializer"], "TASKITO_SERIALIZER")
    try:
        own = _middleware_list(settings, options.get("middleware"))
        options["middleware"] = [*middleware, *own]
        return taskito.Queue(**options)
    except _LoadError:
        raise
    except TypeError as exc:
        raise TypeError(_with_key(settings, exc)) from exc
    except ValueError as exc:  # ConfigurationError and AppLoadError are ValueErrors
        raise taskito.ConfigurationError(_with_key(settings, exc)) from exc


def _middleware_list(settings: TaskitoSettings, value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise TypeError(f"middleware must be a list, not {type(value).__name__}")
    return [_loaded(settings, item, "TASKITO_MIDDLEWARE") for item in value]


class _LoadError(taskito.ConfigurationError):
    """A ``'module:attr'`` value that did not load; its message already names the key."""


def _loaded(settings: TaskitoSettings, value: object, key: str) -> object:
    """An object as given, or the one a ``'module:attr'`` string names (a class named so is
    instantiated without arguments)."""
    if not isinstance(value, str):
        return value
    try:
        target = loading.load_attr(value)
    except taskito.AppLoadError as exc:
        raise _LoadError(f"{settings.source} {key}: {exc.spec!r}: {exc.reason}") from exc
    return target() if isinstance(target, type) else target


def _with_key(settings: TaskitoSettings, exc: Exception) -> str:
    """The message of ``exc`` after the key whose option it names first (the Queue's
    messages name the option: ``workers must be an int, not str``)."""
    message = str(exc)
    by_option = {s.option: s.key for s in QUEUE_SETTINGS if s.option in settings.queue_options}
    positions = [
        (match.start(), by_option[match.group()])
        for match in _LEADING_NAME.finditer(message)
        if match.group() in by_option
    ]
    if positions:
        return f"{settings.source} {min(positions)[1]}: {message}"
    return f"{settings.source} TASKITO_* settings: {message}"


__all__ = [
    "COMMON_SETTINGS",
    "QUEUE_SETTINGS",
    "TASKITO_APP",
    "TASKITO_DEFAULT_QUEUE",
    "Setting",
    "TaskitoSettings",
    "build_queue",
    "read_settings",
    "unknown_key",
    "valid_keys",
]
