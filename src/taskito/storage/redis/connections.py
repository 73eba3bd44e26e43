"""The Redis connection of the Redis backend: the optional redis-py import, a client with short
timeouts, driver errors translated into ``StorageError`` subclasses, retries of idempotent calls,
the Lua scripts, and the offset between this host's clock and the server's.

This is the only module that imports redis-py (docs/architecture.md, invariant 9).
"""

from __future__ import annotations

import importlib.resources
import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs, urlsplit

from taskito.exceptions import (
    DependencyError,
    StorageError,
    StorageUnavailableError,
    UniqueConflictError,
)
from taskito.redaction import redact_secrets, redact_url, safe_cause

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.client import PubSub
    from redis.commands.core import Script
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        'the redis backend needs the redis-py client: pip install "pytaskito[redis]"'
    ) from exc

logger = logging.getLogger("taskito.storage.redis")

T = TypeVar("T")

SCRIPT_NAMES = (
    "add_log",
    "archive",
    "archived",
    "archived_ids",
    "breaker",
    "bulk_cancel",
    "cancel",
    "cancel_pending",
    "claim",
    "counts",
    "dead_letters",
    "defer",
    "delete_dead",
    "enqueue",
    "enqueue_replay",
    "extend",
    "finish",
    "finish_claim",
    "fire_periodic",
    "get_jobs",
    "heartbeat",
    "lock",
    "migrate_v1",
    "pause",
    "periodic",
    "progress",
    "purge_completed",
    "purge_dead",
    "purge_expired",
    "purge_history",
    "purge_metrics",
    "rate_slot",
    "reap",
    "replay_history",
    "release",
    "request_cancel",
    "requeue",
    "requeue_job",
    "retry_dead",
    "running_ids",
    "schema",
    "setting_if",
    "wf_create",
    "wf_define",
    "wf_due",
    "wf_node",
    "wf_node_for_job",
    "wf_run",
)
# Shared Lua that some scripts include between the prelude and their own file.
_LIBRARIES = {
    "claim": ("lib_claim",),
    "finish": ("lib_workflow", "lib_finish"),
    "release": ("lib_workflow",),
    "requeue": ("lib_workflow",),
    "finish_claim": ("lib_workflow", "lib_finish", "lib_claim"),
    "cancel": ("lib_cancel",),
    "cancel_pending": ("lib_cancel",),
    "request_cancel": ("lib_cancel",),
    "enqueue": ("lib_enqueue",),
    "enqueue_replay": ("lib_enqueue",),
    "fire_periodic": ("lib_enqueue",),
    "wf_create": ("lib_enqueue", "lib_workflow"),
    "wf_due": ("lib_workflow",),
    "wf_node": ("lib_enqueue", "lib_workflow"),
    "wf_node_for_job": ("lib_workflow",),
    "wf_run": ("lib_workflow",),
}
# Reads and writes that give the same result when repeated may be retried after a dropped
# connection; the scripts that insert or move jobs are not, since a reply lost after the
# server ran one cannot be told apart from a request that never arrived.
_RETRY_DELAYS_S = (0.05, 0.2)
# The clock offset is measured again this often, and a new measurement replaces the old only
# when it differs by more than the tolerance (network jitter must not move leases around).
_CLOCK_RESYNC_S = 30.0
_CLOCK_TOLERANCE_MS = 50
_MIN_SERVER_VERSION = (6, 2)  # ZRANGE ... BYSCORE REV LIMIT
# A replica promoted, a failover under way, a script hogging the server: worth trying later.
_UNAVAILABLE_ERRORS = (
    redis.exceptions.ReadOnlyError,
    redis.exceptions.MasterDownError,
    redis.exceptions.TryAgainError,
)

_clock_offsets: dict[str, tuple[int, float]] = {}
# Servers whose persistence this process has checked (the warning is said once per server).
_persistence_checked: set[str] = set()
_clock_lock = threading.Lock()


@cache
def script_source(name: str) -> str:
    """The Lua text of script ``name``: the shared prelude, the libraries it includes, then
    its own file."""
    folder = importlib.resources.files("taskito.storage.redis").joinpath("lua")
    parts = ["prelude", *_LIBRARIES.get(name, ()), name]
    return "\n".join(folder.joinpath(f"{part}.lua").read_text(encoding="utf-8") for part in parts)


def url_database(url: str) -> int:
    """The database number ``url`` selects (0 when it names none); ``ValueError`` for one
    that is not a non-negative integer (redis-py would quietly read ``/abc`` as 0)."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"invalid redis url {shown!r}: {redact_secrets(str(exc), url)}") from None
    if parts.scheme.lower() not in ("redis", "rediss", "unix"):
        raise ValueError(f"invalid redis url {shown!r}: expected redis://, rediss:// or unix://")
    written: list[str] = parse_qs(parts.query).get("db", [])
    path = "" if parts.scheme.lower() == "unix" else parts.path.strip("/")
    if path:
        written.append(path)
    if not written:
        return 0
    if len(set(written)) > 1:
        raise ValueError(f"redis url {shown!r} names two databases: {' and '.join(written)}")
    text = written[0]
    if not text.isascii() or not text.isdigit():
        raise ValueError(
            f"redis url {shown!r}: the database must be a number (0, 1, ...), not {text!r}"
        )
    return int(text)


def display_url(client: redis.Redis, url: str) -> str:
    """``redis://user:***@host:port/db`` (or the socket path) of a client: never a password."""
    kwargs = client.connection_pool.connection_kwargs
    db = kwargs.get("db", 0)
    user = kwargs.get("username") or ""
    secret = ":***" if kwargs.get("password") else ""
    who = f"{user}{secret}@" if user or secret else ""
    if "path" in kwargs:
        return f"unix://{who}{kwargs['path']}?db={db}"
    scheme = "rediss" if urlsplit(url).scheme.lower() == "rediss" else "redis"
    return f"{scheme}://{who}{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"


def translate_error(exc: redis.RedisError, where: str, url: str | None = None) -> StorageError:
    """The ``StorageError`` subclass a driver error stands for; the password of ``url`` is
    blanked from the driver's text."""
    error = _translate(exc, where)
    text = redact_secrets(str(error), url)
    return error if text == str(error) else type(error)(text)


def _translate(exc: redis.RedisError, where: str) -> StorageError:
    if isinstance(exc, redis.AuthenticationError):
        return StorageError(f"redis at {where} refused the credentials: {exc}")
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return StorageUnavailableError(f"redis at {where} is unreachable: {exc}")
    if isinstance(exc, _UNAVAILABLE_ERRORS):
        return StorageUnavailableError(f"redis at {where} cannot serve writes now: {exc}")
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return StorageError(
            f"redis at {where} is out of memory and refused the write (raise maxmemory;"
            f" keep maxmemory-policy noeviction): {exc}"
        )
    code, _, detail = str(exc).partition(" ")
    if code == "TASKITO_UNIQUE":
        return UniqueConflictError(detail)
    if code == "TASKITO_DEPENDENCY":
        return DependencyError(detail)
    if code == "TASKITO_DUPLICATE":
        return StorageError(detail)
    return StorageError(f"redis error at {where}: {exc}")


class RedisConnection:
    """One redis-py client (a connection pool) and the scripts registered on it."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_s: float,
        socket_timeout_s: float,
        health_check_interval_s: float,
        client_name: str | None = None,
    ) -> None:
        for name, value in (
            ("connect_timeout_s", connect_timeout_s),
            ("socket_timeout_s", socket_timeout_s),
            ("health_check_interval_s", health_check_interval_s),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        self.db = url_database(url)
        try:
            self.client: redis.Redis = redis.Redis.from_url(
                url,
                socket_connect_timeout=connect_timeout_s,
                socket_timeout=socket_timeout_s,
                socket_keepalive=True,
                health_check_interval=max(1, round(health_check_interval_s)),
                client_name=client_name,
                # No blind retries inside redis-py: ``call`` decides what is safe to repeat.
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise ValueError(
                f"invalid redis url {redact_url(url)!r}: {redact_secrets(str(exc), url)}"
            ) from None
        self.secret_source = url
        self.where = _describe(self.client)
        self.url = display_url(self.client, url)
        self.scripts: dict[str, Script] = {
            name: self.client.register_script(script_source(name)) for name in SCRIPT_NAMES
        }
        self.closed = False

    def call(self, operation: Callable[[redis.Redis], T], *, idempotent: bool) -> T:
        """Run ``operation`` on the client; translate driver errors. An idempotent one is tried
        again after a dropped connection (a couple of times, with a short pause)."""
        delays = _RETRY_DELAYS_S if idempotent else ()
        url = self.secret_source
        for attempt in range(len(delays) + 1):
            if self.closed:
                raise StorageError(f"storage on redis at {self.where} is closed")
            try:
                return operation(self.client)
            except redis.RedisError as exc:
                retryable = isinstance(
                    exc, redis.ConnectionError | redis.TimeoutError
                ) and not isinstance(exc, redis.AuthenticationError)
                if not retryable or attempt == len(delays):
                    raise translate_error(exc, self.where, url) from safe_cause(exc, url)
                logger.info(
                    "redis call failed; trying again",
                    extra={"redis": self.where, "error": redact_secrets(str(exc), url)},
                )
                time.sleep(delays[attempt])
        raise AssertionError("unreachable")  # pragma: no cover

    def check_server(self) -> None:
        """Refuse a server too old for the scripts; warn when it may evict keys."""
        try:
            info = self.call(lambda client: client.info("server"), idempotent=True)
        except StorageError as exc:
            if "DB index is out of range" in str(exc):
                raise ValueError(
                    f"redis url {self.url!r}: database {self.db} is out of range for the"
                    f" server (it has fewer databases; see 'databases' in redis.conf)"
                ) from None
            raise
        version = str(info.get("redis_version", "0"))
        if tuple(int(part) for part in version.split(".")[:2]) < _MIN_SERVER_VERSION:
            raise StorageError(f"redis at {self.where} is {version}; taskito needs 6.2 or newer")
        try:
            config = self.call(
                lambda client: client.config_get("maxmemory-policy"), idempotent=True
            )
        except StorageError:
            logger.debug(
                "redis refused CONFIG GET (often disabled on managed servers): its eviction"
                " policy and persistence could not be checked",
                extra={"redis": self.where},
            )
            return
        policy = config.get("maxmemory-policy")
        if policy not in (None, "noeviction"):
            logger.warning(
                "redis evicts keys under memory pressure (maxmemory-policy %s): jobs can be"
                " lost; set maxmemory-policy noeviction",
                policy,
                extra={"redis": self.where},
            )
        self._check_persistence()

    def _check_persistence(self) -> None:
        """Warn, once per server and process, when the server keeps nothing on disk: a
        restart would lose every queued job."""
        with _clock_lock:
            if self.where in _persistence_checked:
                return
            _persistence_checked.add(self.where)
        try:
            appendonly = self.call(lambda client: client.config_get("appendonly"), idempotent=True)
            save = self.call(lambda client: client.config_get("save"), idempotent=True)
        except StorageError:
            logger.debug(
                "redis refused CONFIG GET: whether it persists data could not be checked",
                extra={"redis": self.where},
            )
            return
        if appendonly.get("appendonly") != "yes" and not (save.get("save") or "").strip():
            logger.warning(
                "redis at %s has persistence off (appendonly no, no save points): a restart"
                " of the server loses every queued job; enable appendonly (docs/redis.md)",
                self.where,
                extra={"redis": self.where, "action": "check_persistence"},
            )

    def run_script(self, name: str, args: Sequence[Any], *, idempotent: bool = False) -> Any:
        script = self.scripts[name]
        return self.call(
            lambda client: script(keys=(), args=args, client=client), idempotent=idempotent
        )

    def pubsub(self) -> PubSub:
        client: Any = self.client  # redis-py types pubsub() from 8.0 on, not before
        return cast(PubSub, client.pubsub(ignore_subscribe_messages=False))

    def clock_offset_ms(self) -> int:
        """Server clock minus this host's clock, in ms; shared by every storage object of this
        process on the same server, so they agree to the millisecond."""
        started = time.monotonic()
        with _clock_lock:
            known = _clock_offsets.get(self.where)
        if known is not None and started - known[1] < _CLOCK_RESYNC_S:
            return known[0]
        measured = self._measure_clock_offset()
        with _clock_lock:
            known = _clock_offsets.get(self.where)
            if known is not None and abs(measured - known[0]) <= _CLOCK_TOLERANCE_MS:
                measured = known[0]
            _clock_offsets[self.where] = (measured, started)
        return measured

    def _measure_clock_offset(self) -> int:
        before_ns = time.time_ns()
        seconds, microseconds = self.call(lambda client: client.time(), idempotent=True)
        after_ns = time.time_ns()
        server_ms = seconds * 1000 + microseconds / 1000
        local_ms = (before_ns + after_ns) / 2_000_000
        return round(server_ms - local_ms)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.client.close()
        except redis.RedisError:
            logger.debug(
                "closing the redis pool failed", exc_info=True, extra={"redis": self.where}
            )


def _describe(client: redis.Redis) -> str:
    """Where the client points, without credentials: ``host:port/db`` or the socket path."""
    kwargs = client.connection_pool.connection_kwargs
    db = kwargs.get("db", 0)
    if "path" in kwargs:
        return f"unix:{kwargs['path']}/{db}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"


__all__ = ["SCRIPT_NAMES", "RedisConnection", "redis", "script_source", "translate_error"]
