"""PostgreSQL connections for the backend: the connection pool, statements run on it with
driver errors translated into ``StorageError`` subclasses, transactions retried on deadlock,
and the offset between this host's clock and the server's (leases use server time).
"""

from __future__ import annotations

import hashlib
import logging
import math
import select
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from taskito.exceptions import StorageError, StorageUnavailableError, UniqueConflictError
from taskito.redaction import MASK, redact_secrets, safe_cause
from taskito.storage.postgres import schema as postgres_schema
from taskito.storage.postgres.queries import SERVER_CLOCK_MS

logger = logging.getLogger("taskito.storage.postgres")

T = TypeVar("T")
Connection = psycopg.Connection[Any]
# Work runs on binary cursors: parameters and results skip text escaping and parsing (arrays,
# bytea payloads), the largest client-side cost of a claim or a finish.
Cursor = psycopg.Cursor[Any]

UNIQUE_KEY_INDEX = "uq_jobs_unique_key"
JOBS_KEY = "jobs_pkey"
# SQLSTATEs that mean "the server is not there", beside client-side failures (no SQLSTATE):
# class 08 (connection exception), shutdowns, and "too many connections".
_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})
# A deadlock or serialization failure aborts the whole transaction, so running it again is safe.
_ATTEMPTS = 4
# Dead peers are noticed within about 25 s even when the network drops packets silently.
_SOCKET_DEFAULTS = {
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
}
_CLOCK_RECHECK_S = 60.0
# A new offset replaces the current one only when they differ by more than this: lease times
# already handed out stay consistent, and round-trip noise never moves them.
_CLOCK_HYSTERESIS_MS = 25
_CLOCK_SAMPLES = 3


def conninfo_params(db_url: object) -> dict[str, str]:
    """The connection parameters of ``db_url``; ``ValueError`` when it cannot be parsed."""
    if not isinstance(db_url, str) or not db_url.strip():
        raise ValueError(
            f"db_url must be a PostgreSQL URL such as postgresql://host/db, got {db_url!r}"
        )
    try:
        params = conninfo_to_dict(db_url)
    except psycopg.ProgrammingError as exc:
        raise ValueError(
            "db_url is not a valid PostgreSQL URL or connection string:"
            f" {redact_secrets(_first_line(exc), db_url)}"
        ) from None
    return {key: str(value) for key, value in params.items() if value is not None}


def describe_target(params: dict[str, str], *, mark_password: bool = False) -> str:
    """``postgresql://user@host:port/dbname`` for messages: never the password (with
    ``mark_password``, a password is shown as ``user:***@``)."""
    host = params.get("host") or params.get("hostaddr") or "local socket"
    port = params.get("port") or "5432"
    user = params.get("user")
    dbname = params.get("dbname") or user or "(default database)"
    secret = f":{MASK}" if mark_password and params.get("password") else ""
    who = f"{user}{secret}@" if user or secret else ""
    return f"postgresql://{who}{host}:{port}/{dbname}"


def channel_name(schema: str) -> str:
    """The LISTEN/NOTIFY channel of a schema: readable, and within the 63-byte name limit."""
    readable = f"taskito_{schema}"
    if len(readable) <= 63:
        return readable
    return "taskito_" + hashlib.sha1(schema.encode()).hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_unavailable(exc: psycopg.Error) -> bool:
    """True when ``exc`` says the server cannot be reached (rather than refusing a statement)."""
    if isinstance(exc, psycopg.InterfaceError):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _UNAVAILABLE_STATES


def translate_error(exc: psycopg.Error, target: str, conninfo: str | None = None) -> StorageError:
    """The ``StorageError`` subclass a driver error stands for, with the password of
    ``conninfo`` blanked from the driver's text."""
    error = _translate(exc, target)
    text = redact_secrets(str(error), conninfo)
    return error if text == str(error) else type(error)(text)


def _translate(exc: psycopg.Error, target: str) -> StorageError:
    if isinstance(exc, PoolClosed):
        return StorageError(f"storage on {target} is closed")
    if isinstance(exc, PoolTimeout):
        return StorageUnavailableError(
            f"no connection to PostgreSQL at {target}: {_first_line(exc)} (is the server up?)"
        )
    if isinstance(exc, errors.UniqueViolation):
        constraint = exc.diag.constraint_name
        detail = exc.diag.message_detail or _first_line(exc)
        if constraint == UNIQUE_KEY_INDEX:
            return UniqueConflictError(
                f"UNIQUE constraint failed: jobs.unique_key is held by a pending or running job"
                f" ({detail})"
            )
        return StorageError(f"UNIQUE constraint failed ({constraint}): {detail}")
    if is_unavailable(exc):
        return StorageUnavailableError(f"PostgreSQL at {target} is unavailable: {_first_line(exc)}")
    if isinstance(exc, errors.UndefinedTable | errors.InvalidSchemaName):
        return StorageError(
            f"the taskito tables are missing on {target} (schema dropped while in use?):"
            f" {_first_line(exc)}"
        )
    return StorageError(f"PostgreSQL error on {target}: {_first_line(exc)}")


class _StaleConnection(Exception):
    """A pooled connection failed its check before any work ran on it."""


def _check_pooled(conn: Connection) -> None:
    """Check a pooled connection before use; ``_StaleConnection`` when it is dead.

    An idle connection has nothing to read; one the server has closed (terminated backend,
    restart) has an error message or EOF waiting. Polling the socket costs no round trip, so
    only a suspect connection pays for a probe (an empty query). The pool's own ``check=``
    hook would do the same but waits about a second before it hands out the next one."""
    if conn.closed or conn.broken:
        raise _StaleConnection("the connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        try:
            ConnectionPool.check_connection(conn)
        except psycopg.Error as exc:
            raise _StaleConnection(str(exc)) from exc


class ServerClock:
    """How far the server's clock is ahead of this host's, in ms (``server - local``)."""

    def __init__(self) -> None:
        self.offset_ms = 0
        self._checked_at = -math.inf
        self._measured = False

    def due(self) -> bool:
        return time.monotonic() - self._checked_at >= _CLOCK_RECHECK_S

    def measure(self, conn: Connection | Cursor) -> None:
        """Sample the server clock a few times; keep the sample with the shortest round trip."""
        best: tuple[int, int] | None = None  # (round trip ns, offset ms)
        for _ in range(_CLOCK_SAMPLES):
            before = time.time_ns()
            row = conn.execute(SERVER_CLOCK_MS).fetchone()
            after = time.time_ns()
            assert row is not None
            offset = round(int(row[0]) + 0.5 - (before + after) / 2_000_000)
            if best is None or after - before < best[0]:
                best = (after - before, offset)
        assert best is not None
        if not self._measured or abs(best[1] - self.offset_ms) > _CLOCK_HYSTERESIS_MS:
            if self._measured:
                logger.warning(
                    "the clock offset to the PostgreSQL server changed",
                    extra={"old_offset_ms": self.offset_ms, "new_offset_ms": best[1]},
                )
            self.offset_ms = best[1]
            self._measured = True
        self._checked_at = time.monotonic()


class PgConnections:
    """The pool of one storage object, and the statements and transactions run on it."""

    def __init__(
        self, params: dict[str, str], schema: str, pool_size: int, connect_timeout_s: float
    ):
        self.target = describe_target(params)
        self.described = describe_target(params, mark_password=True)
        self.schema = schema
        connect_params = {**_SOCKET_DEFAULTS, **params}
        connect_params.setdefault("connect_timeout", str(max(2, math.ceil(connect_timeout_s))))
        connect_params.setdefault("application_name", "taskito")
        self.conninfo = make_conninfo("", **connect_params)
        self.clock = ServerClock()
        self._clock_lock = threading.Lock()
        with self.connect() as conn:
            self._guard(lambda: postgres_schema.migrate(conn, schema, self.target))
            self._guard(lambda: self.clock.measure(conn))
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            self.conninfo,
            kwargs={"autocommit": True},
            min_size=1,
            max_size=pool_size,
            open=False,
            timeout=connect_timeout_s,
            name=f"taskito-{schema}",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except PoolTimeout as exc:
            self._pool.close()
            raise StorageUnavailableError(
                f"cannot connect to PostgreSQL at {self.target} within {connect_timeout_s} s"
            ) from exc

    def connect(self) -> Connection:
        """A new connection outside the pool (autocommit); ``StorageUnavailableError`` when
        the server cannot be reached."""
        try:
            return psycopg.connect(self.conninfo, autocommit=True)
        except psycopg.Error as exc:
            detail = redact_secrets(_first_line(exc), self.conninfo)
            raise StorageUnavailableError(
                f"cannot connect to PostgreSQL at {self.target}: {detail}"
            ) from None

    def _guard(self, work: Callable[[], T]) -> T:
        try:
            return work()
        except psycopg.Error as exc:
            raise self.translate(exc) from safe_cause(exc, self.conninfo)

    def translate(self, exc: psycopg.Error) -> StorageError:
        """``translate_error`` for this pool's server, password blanked."""
        return translate_error(exc, self.target, self.conninfo)

    def run(
        self,
        work: Callable[[Cursor], T],
        *,
        idempotent: bool = False,
        recover: Callable[[Cursor], T | None] | None = None,
    ) -> T:
        """Run ``work`` on a binary cursor of a pooled autocommit connection.

        A statement the server aborted for a deadlock did nothing, so ``work`` runs again.
        ``idempotent`` work (reads, and writes that may safely apply twice) also runs again,
        once, when the connection it got had gone stale (e.g. after a server restart).
        Other work runs again once after a stale connection only with ``recover``: on the new
        connection ``recover(cursor)`` first tells whether the lost attempt had committed (its
        result, or None to run ``work`` again), so nothing is applied twice."""
        return self._attempt(work, transaction=False, retry_stale=idempotent, recover=recover)

    def transact(
        self,
        work: Callable[[Cursor], T],
        *,
        recover: Callable[[Cursor], T | None] | None = None,
    ) -> T:
        """Run ``work`` in one transaction on a pooled connection; run it again from the
        start when the server aborts it for a deadlock or a serialization failure (and, with
        ``recover``, after a stale connection: see ``run``)."""
        return self._attempt(work, transaction=True, retry_stale=False, recover=recover)

    def _attempt(
        self,
        work: Callable[[Cursor], T],
        *,
        transaction: bool,
        retry_stale: bool,
        recover: Callable[[Cursor], T | None] | None,
    ) -> T:
        replaying = False
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self._pool.connection() as conn:
                    _check_pooled(conn)
                    return self._work_on(conn, work, transaction, recover if replaying else None)
            except _StaleConnection:
                # Nothing ran on it: any work may go on another (the pool dropped this one).
                self._discard_broken_connections()
                if attempt == _ATTEMPTS:
                    raise StorageUnavailableError(
                        f"PostgreSQL at {self.target} is unavailable: no live connection"
                    ) from None
            except (errors.DeadlockDetected, errors.SerializationFailure) as exc:
                if attempt == _ATTEMPTS:
                    raise self.translate(exc) from safe_cause(exc, self.conninfo)
                logger.info("the server aborted a statement; running it again", exc_info=True)
            except errors.UniqueViolation as exc:
                if replaying and recover is not None and exc.diag.constraint_name == JOBS_KEY:
                    return self._stored_meanwhile(exc, recover)
                raise self.translate(exc) from safe_cause(exc, self.conninfo)
            except psycopg.Error as exc:
                error = self.translate(exc)
                cause = safe_cause(exc, self.conninfo)
                if not isinstance(error, StorageUnavailableError) or isinstance(exc, PoolTimeout):
                    raise error from cause
                self._discard_broken_connections()
                if retry_stale:
                    retry_stale = False
                elif recover is not None and not replaying:
                    replaying = True
                    logger.info(
                        "lost the connection to PostgreSQL mid-write; trying once more on a new"
                        " connection",
                        extra={"target": self.target, "error": str(error)},
                    )
                else:
                    raise error from cause
        raise AssertionError("unreachable: the last attempt returns or raises")

    @staticmethod
    def _work_on(
        conn: Connection,
        work: Callable[[Cursor], T],
        transaction: bool,
        recover: Callable[[Cursor], T | None] | None,
    ) -> T:
        """Run ``work`` on ``conn`` (in a transaction or not), unless ``recover`` finds that
        a lost attempt already did it."""
        cursor = conn.cursor(binary=True)
        if recover is not None:
            done = recover(cursor)
            if done is not None:
                return done
        if not transaction:
            return work(cursor)
        with conn.transaction():
            return work(cursor)

    def _stored_meanwhile(
        self, conflict: errors.UniqueViolation, recover: Callable[[Cursor], T | None]
    ) -> T:
        """A replayed insert met its own job id: the lost attempt committed while the replay
        ran. Report what it stored (or the conflict, should the row be gone again)."""
        done = self._attempt(recover, transaction=False, retry_stale=True, recover=None)
        if done is None:
            raise self.translate(conflict) from safe_cause(conflict, self.conninfo)
        return done

    def lease_offset_ms(self) -> int:
        """The server-minus-local clock offset, re-measured about once a minute."""
        if self.clock.due() and self._clock_lock.acquire(blocking=False):
            try:
                self.run(self.clock.measure, idempotent=True)
            finally:
                self._clock_lock.release()
        return self.clock.offset_ms

    def _discard_broken_connections(self) -> None:
        """After a connection failure, test the idle connections so the next callers do not
        meet the other stale ones one by one."""
        try:
            self._pool.check()
        except psycopg.Error:
            logger.debug("checking the pool failed", exc_info=True)

    def close(self) -> None:
        self._pool.close()
