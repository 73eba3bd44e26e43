"""SQLite connections for the backend: one per thread (or one shared for ``:memory:``), write
transactions serialised by a lock plus ``BEGIN IMMEDIATE``, driver errors translated into
``StorageError`` subclasses, and the change notifier behind ``wait_for_change``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from taskito.exceptions import DatabaseCorruptError, StorageError, UniqueConflictError
from taskito.storage.changes import ChangeNotifier
from taskito.storage.sqlite import schema as sqlite_schema

logger = logging.getLogger("taskito.storage.sqlite")

MEMORY_PATH = ":memory:"
_SQLITE_BUSY = 5
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
# While a thread waits, data_version is polled this often: fast at first (a change usually
# follows soon after a worker goes idle), then a little slower to stay cheap.
_FAST_POLL_S = 0.001
_SLOW_POLL_S = 0.002
_FAST_POLL_FOR_S = 0.1
# Pages written to the WAL before a checkpoint copies them back: the default (1000) makes
# small write transactions checkpoint, with an fsync, every few hundred commits.
_WAL_AUTOCHECKPOINT_PAGES = 4000
# Each commit writes every page it touched to the WAL: a one-job enqueue touches one page per
# index, so smaller pages make small transactions markedly cheaper.
_PAGE_SIZE = 2048
#: How long opening a fresh file waits before trying the WAL switch again (see _switch_to_wal).
_WAL_SWITCH_RETRY_S = 0.01
# ``synchronous`` of a write: FULL syncs the WAL at each commit, so a commit that returned
# survives power loss; NORMAL syncs at checkpoints only (a crash of the process loses
# nothing; power loss may undo the last commits). It is a setting of the connection, changed
# between transactions only when a write asks for the other level.
_FULL = "FULL"
_NORMAL = "NORMAL"

_open_instances: weakref.WeakSet[SqliteConnections] = weakref.WeakSet()
_parked_after_fork: list[_Connection] = []


def translate_error(exc: sqlite3.Error, path: str) -> StorageError:
    """The ``StorageError`` subclass a driver error stands for."""
    message = str(exc)
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if isinstance(exc, sqlite3.IntegrityError):
        if "unique_key" in message:
            return UniqueConflictError(f"storage error: {message}")
        return StorageError(f"storage error: {message}")
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return DatabaseCorruptError(f"database {path} is corrupt or not a database: {message}")
    if code == _SQLITE_BUSY:
        return StorageError(f"database {path} stayed locked past the busy timeout: {message}")
    return StorageError(f"storage error on {path}: {message}")


class _Connection:
    """One sqlite3 connection and the lock its thread holds while using it, so ``close()``
    from another thread never closes it mid-statement."""

    __slots__ = ("closed", "conn", "in_use", "synchronous", "thread")

    def __init__(self, conn: sqlite3.Connection, thread: threading.Thread | None) -> None:
        self.conn = conn
        self.in_use = threading.Lock()
        self.closed = False
        self.synchronous = _NORMAL  # as ``_connect`` sets it
        self.thread = None if thread is None else weakref.ref(thread)

    def owner_alive(self) -> bool:
        thread = None if self.thread is None else self.thread()
        return thread is not None and thread.is_alive()

    def close(self) -> None:
        with self.in_use:
            self.closed = True
            self.conn.close()


class SqliteConnections:
    """Owns every connection to one database file and the transactions run on them."""

    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self.path = path
        self.memory = path == MEMORY_PATH
        self._busy_timeout_ms = busy_timeout_ms
        self._write_lock = threading.Lock()
        self._registry_lock = threading.Lock()
        self._local = threading.local()
        self._owned: list[_Connection] = []
        self._closed = False
        self.notifier = ChangeNotifier()
        self._shared: _Connection | None = None
        if self.memory:
            self._shared = _Connection(self._connect(), None)
            self._initialise(self._shared.conn)
        else:
            sqlite_schema.check_file_header(path)
            try:
                sqlite_schema.parent_directory_ready(path)
            except OSError as exc:
                raise StorageError(f"cannot create the directory of {path}: {exc}") from exc
            try:
                sqlite_schema.private_file_ready(path)
            except IsADirectoryError:
                pass  # sqlite3 names the problem when it tries to open it
            except OSError as exc:
                raise StorageError(f"cannot create the database file {path}: {exc}") from exc
            self._initialise(self._connection().conn)
        _open_instances.add(self)

    # --- connections ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=256,
                timeout=self._busy_timeout_ms / 1000,
            )
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open database {self.path}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute(f"PRAGMA synchronous = {_NORMAL}")
            conn.execute(f"PRAGMA wal_autocheckpoint = {_WAL_AUTOCHECKPOINT_PAGES}")
        except sqlite3.Error as exc:
            conn.close()
            raise translate_error(exc, self.path) from exc
        return conn

    def _switch_to_wal(self, conn: sqlite3.Connection) -> str:
        """``PRAGMA journal_mode = WAL``, tried again while another process holds the new
        file: the switch answers "database is locked" at once, without the busy handler, so
        two processes opening a fresh file together would fail (up to the busy timeout)."""
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
                return str(mode)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(_WAL_SWITCH_RETRY_S)

    def _initialise(self, conn: sqlite3.Connection) -> None:
        """Refuse newer or foreign files before writing anything, then switch to WAL and
        bring the schema up to date."""
        try:
            sqlite_schema.ensure_supported(conn, self.path)
            if not self.memory:
                # Takes effect only on a file without tables yet; must precede WAL mode.
                conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}")
                mode = self._switch_to_wal(conn)
                if str(mode).lower() != "wal":
                    logger.warning(
                        "SQLite refused WAL mode; concurrency will suffer",
                        extra={"path": self.path, "journal_mode": mode},
                    )
            sqlite_schema.migrate(conn, self.path)
        except sqlite3.Error as exc:
            self.close()
            raise translate_error(exc, self.path) from exc
        except StorageError:
            self.close()
            raise

    def _connection(self) -> _Connection:
        """This thread's connection (the shared one for ``:memory:``)."""
        if self._closed:
            raise StorageError(f"storage {self.path} is closed")
        if self._shared is not None:
            return self._shared
        held: _Connection | None = getattr(self._local, "held", None)
        if held is None:
            held = self._open_for_thread()
        return held

    def _open_for_thread(self) -> _Connection:
        held = _Connection(self._connect(), threading.current_thread())
        with self._registry_lock:
            if self._closed:
                held.close()
                raise StorageError(f"storage {self.path} is closed")
            # Threads come and go (JobResult.result() callers, pools): drop what they left.
            alive = []
            for other in self._owned:
                if other.owner_alive():
                    alive.append(other)
                else:
                    other.close()
            alive.append(held)
            self._owned = alive
        self._local.held = held
        return held

    def _closed_error(self) -> StorageError:
        return StorageError(f"storage {self.path} is closed")

    def close(self) -> None:
        with self._write_lock, self._registry_lock:
            if self._closed:
                return
            self._closed = True
            for held in self._owned:
                held.close()
            self._owned = []
            if self._shared is not None:
                self._shared.close()
        self.notifier.notify()

    def forget_after_fork(self) -> None:
        """In a forked child, stop using the connections inherited from the parent.

        SQLite forbids carrying a connection across fork(), and closing one in the child is
        not safe either, so they are parked, never used or closed, and new ones opened.
        """
        _parked_after_fork.extend(self._owned)
        self._write_lock = threading.Lock()
        self._registry_lock = threading.Lock()
        self._local = threading.local()
        self._owned = []
        self.notifier = ChangeNotifier()

    # --- transactions -----------------------------------------------------------------

    def write(self, *, notify: bool = True, durable: bool = False) -> _WriteTransaction:
        """One ``BEGIN IMMEDIATE`` transaction, committed on success, rolled back on error.

        ``notify`` wakes every ``wait_for_change`` waiter after the commit. ``durable``
        commits with ``synchronous=FULL`` (survives power loss), else ``NORMAL``.
        """
        return _WriteTransaction(self, notify, durable)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for autocommit reads (WAL readers never wait for the writer; the
        shared ``:memory:`` connection is used under the write lock)."""
        if self.memory:
            with self._write_lock:
                yield from self._use(self._connection())
        else:
            yield from self._use(self._connection())

    def _use(self, held: _Connection) -> Iterator[sqlite3.Connection]:
        with held.in_use:
            if held.closed:
                raise self._closed_error()
            try:
                yield held.conn
            except sqlite3.Error as exc:
                raise translate_error(exc, self.path) from exc

    # --- change notification ----------------------------------------------------------

    def wait_for_change(self, timeout_s: float) -> bool:
        """See ``Storage.wait_for_change``. True when something changed since this thread's
        previous call (or, on its first call, since the call began)."""
        deadline = time.monotonic() + timeout_s
        fast_until = time.monotonic() + _FAST_POLL_FOR_S
        local = self._local
        seen_generation: int = getattr(local, "seen_generation", self.notifier.generation)
        seen_version = getattr(local, "seen_data_version", None)
        if seen_version is None:
            seen_version = self._data_version()
        changed = False
        while not self._closed:
            generation = self.notifier.generation
            try:
                version = self._data_version()
            except StorageError:
                if self._closed:
                    break
                raise
            if generation != seen_generation or version != seen_version:
                seen_generation, seen_version, changed = generation, version, True
                break
            now = time.monotonic()
            if now >= deadline:
                break
            poll_s = _FAST_POLL_S if now < fast_until else _SLOW_POLL_S
            step_s = deadline - now if self.memory else min(deadline - now, poll_s)
            self.notifier.wait(seen_generation, step_s)
        local.seen_generation = seen_generation
        local.seen_data_version = seen_version
        return changed

    def _data_version(self) -> int:
        """Changes whenever another connection commits (other processes included)."""
        if self.memory:
            return 0
        held = self._connection()
        with held.in_use:
            if held.closed:
                raise self._closed_error()
            try:
                return int(held.conn.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error as exc:
                raise translate_error(exc, self.path) from exc


class _WriteTransaction:
    """The context manager behind ``SqliteConnections.write`` (a class: enqueue is hot, and a
    generator-based context manager costs several microseconds more)."""

    __slots__ = ("_conns", "_held", "_lock", "_notify", "_synchronous")

    def __init__(self, conns: SqliteConnections, notify: bool, durable: bool) -> None:
        self._conns = conns
        self._notify = notify
        self._synchronous = _FULL if durable else _NORMAL
        self._lock = conns._write_lock
        self._held: _Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        conns, lock = self._conns, self._lock
        lock.acquire()
        try:
            held = conns._connection()
            held.in_use.acquire()
        except BaseException:
            lock.release()
            raise
        try:
            if held.closed:
                raise conns._closed_error()
            if held.synchronous != self._synchronous:
                held.conn.execute(f"PRAGMA synchronous = {self._synchronous}")
                held.synchronous = self._synchronous
            held.conn.execute("BEGIN IMMEDIATE")
        except BaseException as exc:
            held.in_use.release()
            lock.release()
            if isinstance(exc, sqlite3.Error):
                raise translate_error(exc, conns.path) from exc
            raise
        self._held = held
        return held.conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        held = self._held
        assert held is not None
        conn = held.conn
        try:
            if exc is None:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as commit_error:
                    self._rollback(conn)
                    raise translate_error(commit_error, self._conns.path) from commit_error
            else:
                self._rollback(conn)
        finally:
            held.in_use.release()
            self._lock.release()
        if exc is None:
            if self._notify:
                self._conns.notifier.notify()
        elif isinstance(exc, sqlite3.Error):
            raise translate_error(exc, self._conns.path) from exc

    def _rollback(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                logger.exception("rollback failed", extra={"path": self._conns.path})


def _after_fork_in_child() -> None:
    for instance in list(_open_instances):
        instance.forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
