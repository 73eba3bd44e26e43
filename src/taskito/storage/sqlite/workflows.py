"""The workflow half of the SQLite backend (``storage/workflow_contract.py``): definitions,
runs and nodes, each operation one ``BEGIN IMMEDIATE`` transaction.

``SqliteWorkflows`` is a mixin that ``SqliteStorage`` inherits, on the same connections
(``self._conns``). The settlement of a node by its job's finish lives with the finish, in
``transitions.settle_workflow_nodes``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping, Sequence
from dataclasses import fields
from typing import Any

from taskito.job import NewJob
from taskito.storage import validation
from taskito.storage import workflow_rules as rules
from taskito.storage.operations import Cursor
from taskito.storage.sqlite import queries as q
from taskito.storage.sqlite import transitions
from taskito.storage.sqlite.connections import SqliteConnections
from taskito.storage.workflow_contract import (
    ParentSettle,
    WorkflowDefinitionRecord,
    WorkflowNodeRecord,
    WorkflowRunRecord,
)

_DEFINITION_COLUMNS = ", ".join(f.name for f in fields(WorkflowDefinitionRecord))
_RUN_COLUMNS = ", ".join(f.name for f in fields(WorkflowRunRecord))
_NODE_COLUMNS = ", ".join(f.name for f in fields(WorkflowNodeRecord))


def _placeholders(columns: str) -> str:
    return ", ".join("?" for _ in columns.split(", "))


_INSERT_DEFINITION = (
    f"INSERT INTO workflow_definitions ({_DEFINITION_COLUMNS})"
    f" VALUES ({_placeholders(_DEFINITION_COLUMNS)})"
    " ON CONFLICT (name, version, digest) DO NOTHING"
)
_SELECT_DEFINITION_BY_KEY = (
    f"SELECT {_DEFINITION_COLUMNS} FROM workflow_definitions"
    " WHERE name = ? AND version = ? AND digest = ?"
)
_SELECT_DEFINITION = f"SELECT {_DEFINITION_COLUMNS} FROM workflow_definitions WHERE id = ?"
_INSERT_RUN = f"INSERT INTO workflow_runs ({_RUN_COLUMNS}) VALUES ({_placeholders(_RUN_COLUMNS)})"
_SELECT_RUN = f"SELECT {_RUN_COLUMNS} FROM workflow_runs WHERE id = ?"
_RUN_EXISTS = "SELECT 1 FROM workflow_runs WHERE id = ?"
_INSERT_NODE = (
    f"INSERT INTO workflow_nodes ({_NODE_COLUMNS}) VALUES ({_placeholders(_NODE_COLUMNS)})"
)
_SELECT_NODES = (
    f"SELECT {_NODE_COLUMNS} FROM workflow_nodes WHERE run_id = ? ORDER BY position, name"
)
_SELECT_NODE_FOR_JOB = f"SELECT {_NODE_COLUMNS} FROM workflow_nodes WHERE job_id = ? LIMIT 1"
_EXISTING_NODE_NAMES = (
    "SELECT name FROM workflow_nodes WHERE run_id = ?"
    " AND name IN (SELECT value FROM json_each(?)) ORDER BY name"
)
_NODE_IN_STATUS = (
    "SELECT 1 FROM workflow_nodes WHERE run_id = ? AND name = ?"
    " AND status IN (SELECT value FROM json_each(?))"
)
_RUN_IN_STATE = (
    "SELECT 1 FROM workflow_runs WHERE id = ? AND state IN (SELECT value FROM json_each(?))"
)
_SET_RUN_DUE = "UPDATE workflow_runs SET advance_due_at = ? WHERE id = ?"
_SETTLE_PARENT_NODE = (
    "UPDATE workflow_nodes SET status = ?, error = ?, completed_at = ?"
    " WHERE run_id = ? AND name = ? AND status NOT IN " + rules.NODE_TERMINAL_SQL
)
_MARK_RUN_DUE = (
    "UPDATE workflow_runs SET advance_due_at = " + rules.due_now_sql("?1") + " WHERE id = ?2"
    " AND state NOT IN " + rules.RUN_TERMINAL_SQL
)
_PAGE = (
    f"SELECT {_RUN_COLUMNS} FROM workflow_runs WHERE namespace IS ? AND (? IS NULL OR state = ?)"
    " AND (? IS NULL OR (started_at, id) < (?, ?)) ORDER BY started_at DESC, id DESC LIMIT ?"
)
_CHILDREN = (
    f"SELECT {_RUN_COLUMNS} FROM workflow_runs WHERE parent_run_id = ? ORDER BY started_at, id"
)
_CLEAR_DUE = "UPDATE workflow_runs SET advance_due_at = ? WHERE id = ? AND advance_due_at IS ?"
_DUE = (
    "SELECT id FROM workflow_runs WHERE advance_due_at <= ?"
    " AND state NOT IN " + rules.RUN_TERMINAL_SQL + " ORDER BY advance_due_at, id LIMIT ?"
)
_EXPIRED_GATES = (
    "SELECT run_id, name FROM workflow_nodes WHERE status = 'waiting_approval'"
    " AND gate_deadline_at <= ? ORDER BY gate_deadline_at, run_id, name LIMIT ?"
)


def _node_row(node: WorkflowNodeRecord) -> tuple[Any, ...]:
    return tuple(getattr(node, f.name) for f in fields(WorkflowNodeRecord))


def _run_row(run: WorkflowRunRecord) -> tuple[Any, ...]:
    return tuple(getattr(run, f.name) for f in fields(WorkflowRunRecord))


def _node(row: tuple[Any, ...]) -> WorkflowNodeRecord:
    return WorkflowNodeRecord(*row)


def _run(row: tuple[Any, ...]) -> WorkflowRunRecord:
    return WorkflowRunRecord(*row)


def _insert_jobs(conn: sqlite3.Connection, jobs: Sequence[NewJob]) -> None:
    """``enqueue_many`` inside the caller's transaction."""
    if not jobs:
        return
    transitions.check_dependencies(conn, validation.batch_outside_dependencies(jobs))
    for sql, rows in q.insert_jobs(jobs):
        conn.executemany(sql, rows)
    transitions.insert_dependencies(conn, jobs)


def _insert_new_nodes(
    conn: sqlite3.Connection, run_id: str, nodes: Sequence[WorkflowNodeRecord]
) -> None:
    """Insert nodes of an existing run; a name it holds already raises ``ValueError``."""
    if not nodes:
        return
    names = q.json_list(node.name for node in nodes)
    taken = [row[0] for row in conn.execute(_EXISTING_NODE_NAMES, (run_id, names))]
    if taken:
        raise ValueError(f"workflow run {run_id!r} already has nodes named {taken}")
    conn.executemany(_INSERT_NODE, [_node_row(node) for node in nodes])


class SqliteWorkflows:
    """``WorkflowStorage`` on the connections of a ``SqliteStorage``."""

    _conns: SqliteConnections
    _durable: bool

    def _notify(self) -> None:
        self._conns.notifier.notify()

    def save_workflow_definition(
        self, definition: WorkflowDefinitionRecord
    ) -> WorkflowDefinitionRecord:
        d = rules.require_definition(definition)
        with self._conns.write(notify=False) as conn:
            conn.execute(
                _INSERT_DEFINITION, (d.id, d.name, d.version, d.digest, d.dag, d.created_at)
            )
            row = conn.execute(_SELECT_DEFINITION_BY_KEY, (d.name, d.version, d.digest)).fetchone()
        return WorkflowDefinitionRecord(*row)

    def get_workflow_definition(self, definition_id: str) -> WorkflowDefinitionRecord | None:
        with self._conns.read() as conn:
            row = conn.execute(_SELECT_DEFINITION, (definition_id,)).fetchone()
        return None if row is None else WorkflowDefinitionRecord(*row)

    def create_workflow_run(
        self, run: WorkflowRunRecord, nodes: Sequence[WorkflowNodeRecord], jobs: Sequence[NewJob]
    ) -> None:
        run = rules.require_run(run)
        checked_nodes = rules.require_nodes(run.id, nodes)
        checked_jobs = rules.require_jobs(jobs)
        with self._conns.write(notify=False, durable=self._durable) as conn:
            if conn.execute(_RUN_EXISTS, (run.id,)).fetchone() is not None:
                raise ValueError(f"workflow run {run.id!r} exists already")
            conn.execute(_INSERT_RUN, _run_row(run))
            conn.executemany(_INSERT_NODE, [_node_row(node) for node in checked_nodes])
            _insert_jobs(conn, checked_jobs)
        self._notify()

    def get_workflow_run(self, run_id: str) -> WorkflowRunRecord | None:
        with self._conns.read() as conn:
            row = conn.execute(_SELECT_RUN, (run_id,)).fetchone()
        return None if row is None else _run(row)

    def workflow_nodes(self, run_id: str) -> list[WorkflowNodeRecord]:
        with self._conns.read() as conn:
            return [_node(row) for row in conn.execute(_SELECT_NODES, (run_id,))]

    def workflow_node_for_job(self, job_id: str) -> WorkflowNodeRecord | None:
        with self._conns.read() as conn:
            row = conn.execute(_SELECT_NODE_FOR_JOB, (job_id,)).fetchone()
        return None if row is None else _node(row)

    def list_workflow_runs(
        self,
        state: str | None,
        namespace: str | None,
        limit: int,
        after: Cursor | None,
    ) -> list[WorkflowRunRecord]:
        state, namespace, limit, after = rules.runs_page_args(state, namespace, limit, after)
        key, row_id = (None, None) if after is None else after
        params = (namespace, state, state, key, key, row_id, limit)
        with self._conns.read() as conn:
            return [_run(row) for row in conn.execute(_PAGE, params)]

    def child_workflow_runs(self, run_id: str) -> list[WorkflowRunRecord]:
        with self._conns.read() as conn:
            return [_run(row) for row in conn.execute(_CHILDREN, (run_id,))]

    def update_workflow_node(
        self,
        run_id: str,
        name: str,
        expect: Collection[str],
        changes: Mapping[str, object],
        *,
        new_nodes: Sequence[WorkflowNodeRecord] = (),
        new_jobs: Sequence[NewJob] = (),
        due_at: int | None = None,
    ) -> bool:
        run_id, name, states, values, due_at = rules.node_update_args(
            run_id, name, expect, changes, due_at
        )
        checked_nodes = rules.require_nodes(run_id, new_nodes)
        checked_jobs = rules.require_jobs(new_jobs)
        durable = self._durable and bool(checked_jobs)
        with self._conns.write(notify=False, durable=durable) as conn:
            expected = q.json_list(states)
            if values:
                sets = ", ".join(f"{column} = ?" for column in values)
                sql = (
                    f"UPDATE workflow_nodes SET {sets} WHERE run_id = ? AND name = ?"
                    " AND status IN (SELECT value FROM json_each(?))"
                )
                params = (*values.values(), run_id, name, expected)
                if conn.execute(sql, params).rowcount != 1:
                    return False
            elif conn.execute(_NODE_IN_STATUS, (run_id, name, expected)).fetchone() is None:
                return False
            _insert_new_nodes(conn, run_id, checked_nodes)
            _insert_jobs(conn, checked_jobs)
            if due_at is not None:
                conn.execute(_SET_RUN_DUE, (due_at, run_id))
        self._notify()
        return True

    def update_workflow_run(
        self,
        run_id: str,
        expect: Collection[str],
        changes: Mapping[str, object],
        *,
        settle_parent: ParentSettle | None = None,
    ) -> bool:
        run_id, states, values, parent = rules.run_update_args(
            run_id, expect, changes, settle_parent
        )
        with self._conns.write(notify=False) as conn:
            expected = q.json_list(states)
            if values:
                sets = ", ".join(f"{column} = ?" for column in values)
                sql = (
                    f"UPDATE workflow_runs SET {sets} WHERE id = ?"
                    " AND state IN (SELECT value FROM json_each(?))"
                )
                if conn.execute(sql, (*values.values(), run_id, expected)).rowcount != 1:
                    return False
            elif conn.execute(_RUN_IN_STATE, (run_id, expected)).fetchone() is None:
                return False
            if parent is not None:
                conn.execute(
                    _SETTLE_PARENT_NODE,
                    (parent.status, parent.error, parent.now, parent.run_id, parent.node_name),
                )
                conn.execute(_MARK_RUN_DUE, (parent.now, parent.run_id))
        self._notify()
        return True

    def clear_workflow_due(
        self, run_id: str, seen_due_at: int | None, next_due_at: int | None
    ) -> bool:
        run_id, seen_due_at, next_due_at = rules.clear_due_args(run_id, seen_due_at, next_due_at)
        with self._conns.write(notify=False) as conn:
            cursor = conn.execute(_CLEAR_DUE, (next_due_at, run_id, seen_due_at))
            return cursor.rowcount == 1

    def workflow_runs_due(self, now: int, limit: int) -> list[str]:
        now, limit = rules.sweep_args(now, limit)
        with self._conns.read() as conn:
            return [row[0] for row in conn.execute(_DUE, (now, limit))]

    def expired_workflow_gates(self, now: int, limit: int) -> list[tuple[str, str]]:
        now, limit = rules.sweep_args(now, limit)
        with self._conns.read() as conn:
            return [(row[0], row[1]) for row in conn.execute(_EXPIRED_GATES, (now, limit))]
