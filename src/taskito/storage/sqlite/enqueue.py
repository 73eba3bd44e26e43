"""Group commit for the SQLite backend's ``enqueue``: ``delay()`` from several threads of one
process shares commits, and each caller still returns only once its own row is committed.

A producer queues its job. The first one to find nobody in charge leads: it takes every job
queued so far, inserts them in one write transaction (each in its own savepoint, so a job that
fails rolls back alone and its error reaches only its caller), commits once, hands each caller
its outcome, and passes the lead to a thread that queued meanwhile. While a leader waits for
its commit to reach the disk, the next jobs gather for the following one. With one producer
thread this is one transaction per job, as before; a commit that fails fails every job of it,
none of which is stored.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from typing import TYPE_CHECKING

from taskito.exceptions import StorageError
from taskito.storage.sqlite import transitions
from taskito.storage.sqlite.connections import translate_error

if TYPE_CHECKING:
    from taskito.job import JobRecord, NewJob
    from taskito.storage.sqlite.connections import SqliteConnections

_allocate_lock = threading.Lock
_groups: weakref.WeakSet[GroupCommit] = weakref.WeakSet()


class _Pending:
    """One caller's job and, once its leader is done, its outcome. ``wake`` is held until
    then (a follower blocks on it); ``lead`` tells a woken follower to lead the next group."""

    __slots__ = ("error", "inserted", "job", "lead", "record", "wake")

    def __init__(self, job: NewJob) -> None:
        self.job = job
        self.record: JobRecord | None = None
        self.inserted = False
        self.error: BaseException | None = None
        self.lead = False
        self.wake: threading.Lock | None = None

    def outcome(self) -> tuple[JobRecord, bool]:
        if self.error is not None:
            error, self.error = self.error, None  # no cycle through the traceback
            raise error
        assert self.record is not None
        return self.record, self.inserted


class GroupCommit:
    """Commits the enqueues of concurrent threads together (see the module docstring)."""

    def __init__(self, conns: SqliteConnections, durable: bool) -> None:
        self._conns = conns
        self._durable = durable
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = False
        _groups.add(self)

    def enqueue(self, job: NewJob) -> tuple[JobRecord, bool]:
        """``transitions.enqueue_one`` for ``job``, committed: the stored record and True, or
        the active job holding its unique key and False. Raises this job's own error."""
        pending = _Pending(job)
        lock = self._lock
        # acquire/release rather than ``with``: this is the hot path of every delay().
        lock.acquire()
        if self._leading:
            pending.wake = wake = _allocate_lock()
            wake.acquire()
            self._queue.append(pending)
            lock.release()
            try:
                wake.acquire()  # released by the leader: outcome ready, or lead next
            except BaseException:  # KeyboardInterrupt in the main thread
                self._hand_off(withdraw=pending)
                raise
            if not pending.lead:
                return pending.outcome()
        else:
            self._leading = True
            lock.release()
        self._lead(pending)
        return pending.outcome()

    def _lead(self, own: _Pending) -> None:
        """Insert and commit ``own`` and every queued job, then wake their callers and pass
        the lead on. A promoted follower is still queued; a first leader never was."""
        group: list[_Pending] = []
        try:
            with self._lock:
                group, self._queue = self._queue, []
            if own.wake is None:
                group.insert(0, own)
            self._commit(group)
        except BaseException as exc:
            own.record, own.error = None, exc
            for pending in group:
                if pending is not own:
                    pending.record, pending.error = None, _shared_failure(exc)
        finally:
            for pending in group:
                if pending is not own and pending.wake is not None:
                    pending.wake.release()
            lock = self._lock
            lock.acquire()
            if not self._queue:  # the usual case with one producer thread: nobody waits
                self._leading = False
                lock.release()
            else:
                lock.release()
                # Interrupted before taking the group, a promoted follower is still queued.
                self._hand_off(withdraw=own if own.wake is not None else None)

    def _hand_off(self, withdraw: _Pending | None) -> None:
        """Take ``withdraw`` (a caller that gives up) off the queue, and wake the first queued
        caller to lead when nobody does (or mark that nobody needs to)."""
        with self._lock:
            was_leader = withdraw is None or withdraw.lead
            if withdraw is not None and withdraw in self._queue:
                self._queue.remove(withdraw)
            if not was_leader:
                return  # a follower that was not asked to lead: the leader goes on
            successor = self._queue[0] if self._queue else None
            if successor is None:
                self._leading = False
            else:
                successor.lead = True
        if successor is not None and successor.wake is not None:
            successor.wake.release()

    def _commit(self, group: list[_Pending]) -> None:
        with self._conns.write(notify=False, durable=self._durable) as conn:
            if len(group) == 1:
                pending = group[0]
                pending.record, pending.inserted = transitions.enqueue_one(conn, pending.job)
                inserted = pending.inserted
            else:
                for pending in group:
                    self._insert_alone(conn, pending)
                inserted = any(pending.inserted for pending in group)
        if inserted:
            self._conns.notifier.notify()

    def _insert_alone(self, conn: sqlite3.Connection, pending: _Pending) -> None:
        """One job of a group inside its own savepoint: its failure undoes only its rows and
        becomes its caller's error. A failure that ended the whole transaction (the
        savepoint is gone) propagates and fails the group."""
        conn.execute("SAVEPOINT enqueue_one")
        try:
            pending.record, pending.inserted = transitions.enqueue_one(conn, pending.job)
        except Exception as exc:
            conn.execute("ROLLBACK TO enqueue_one")
            conn.execute("RELEASE enqueue_one")
            if isinstance(exc, sqlite3.Error):
                pending.error = translate_error(exc, self._conns.path)
                pending.error.__cause__ = exc
            else:
                pending.error = exc
            return
        conn.execute("RELEASE enqueue_one")

    def forget_after_fork(self) -> None:
        """In a forked child: no leader, nothing queued (those callers live in the parent)."""
        self._lock = threading.Lock()
        self._queue = []
        self._leading = False


def _shared_failure(exc: BaseException) -> BaseException:
    """A caller's own exception for a failure of the whole group (each thread raises its own
    object): a ``StorageError`` of the same type and message, or one that names ``exc``."""
    if isinstance(exc, StorageError):
        try:
            copy: BaseException = type(exc)(str(exc))
        except TypeError:
            copy = StorageError(str(exc))
    else:
        copy = StorageError(
            f"enqueue not stored: the thread committing it failed: {type(exc).__name__}: {exc}"
        )
    copy.__cause__ = exc
    return copy


def _after_fork_in_child() -> None:
    for group in list(_groups):
        group.forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


__all__ = ["GroupCommit"]
