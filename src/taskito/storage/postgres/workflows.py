"""The workflow half of the PostgreSQL backend (``storage/workflow_contract.py``): definitions,
runs and nodes, each write one transaction (or one statement).

``PostgresWorkflows`` is a mixin that ``PostgresStorage`` inherits, on the same pool. The
settlement of a node by its job's finish is part of the finish statement itself
(``queries.FINISH_MANY_CTES``). Like ``queries``, this module imports no driver module at
import time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import astuple, fields
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from taskito.job import NewJob
from taskito.storage import workflow_rules as rules
from taskito.storage.operations import Cursor as PageCursor
from taskito.storage.postgres import enqueue
from taskito.storage.postgres import queries as q
from taskito.storage.workflow_contract import (
    ParentSettle,
    WorkflowDefinitionRecord,
    WorkflowNodeRecord,
    WorkflowRunRecord,
)

if TYPE_CHECKING:
    from taskito.storage.postgres.connections import Cursor, PgConnections
    from taskito.storage.postgres.notify import ChangeFeed

T = TypeVar("T")

_DEFINITION_COLUMNS = ", ".join(f.name for f in fields(WorkflowDefinitionRecord))
_RUN_COLUMNS = ", ".join(f.name for f in fields(WorkflowRunRecord))
_NODE_COLUMNS = ", ".join(f.name for f in fields(WorkflowNodeRecord))


def _values(columns: str) -> str:
    return ", ".join("%b" for _ in columns.split(", "))


_INSERT_DEFINITION = (
    f"INSERT INTO {{s}}.workflow_definitions ({_DEFINITION_COLUMNS})"
    f" VALUES ({_values(_DEFINITION_COLUMNS)}) ON CONFLICT (name, version, digest) DO NOTHING"
)
_SELECT_DEFINITION_BY_KEY = (
    f"SELECT {_DEFINITION_COLUMNS} FROM {{s}}.workflow_definitions"
    " WHERE name = %b AND version = %b AND digest = %b"
)
_SELECT_DEFINITION = f"SELECT {_DEFINITION_COLUMNS} FROM {{s}}.workflow_definitions WHERE id = %b"
_INSERT_RUN = (
    f"INSERT INTO {{s}}.workflow_runs ({_RUN_COLUMNS}) VALUES ({_values(_RUN_COLUMNS)})"
    " ON CONFLICT (id) DO NOTHING RETURNING 1"
)
_SELECT_RUN = f"SELECT {_RUN_COLUMNS} FROM {{s}}.workflow_runs WHERE id = %b"
_INSERT_NODE = (
    f"INSERT INTO {{s}}.workflow_nodes ({_NODE_COLUMNS}) VALUES ({_values(_NODE_COLUMNS)})"
)
_SELECT_NODES = (
    f"SELECT {_NODE_COLUMNS} FROM {{s}}.workflow_nodes WHERE run_id = %b ORDER BY position, name"
)
_SELECT_NODE_FOR_JOB = (
    f"SELECT {_NODE_COLUMNS} FROM {{s}}.workflow_nodes WHERE job_id = %b AND job_id IS NOT NULL"
    " LIMIT 1"
)
_EXISTING_NODE_NAMES = (
    "SELECT name FROM {s}.workflow_nodes WHERE run_id = %b AND name = ANY(%b::text[]) ORDER BY name"
)
# An empty change still locks the node, so the status it matched holds until the commit.
_LOCK_NODE_IN_STATUS = (
    "SELECT 1 FROM {s}.workflow_nodes WHERE run_id = %b AND name = %b"
    " AND status = ANY(%b::text[]) FOR UPDATE"
)
_LOCK_RUN_IN_STATE = (
    "SELECT 1 FROM {s}.workflow_runs WHERE id = %b AND state = ANY(%b::text[]) FOR UPDATE"
)
_SET_RUN_DUE = "UPDATE {s}.workflow_runs SET advance_due_at = %b WHERE id = %b"
_SETTLE_PARENT_NODE = (
    "UPDATE {s}.workflow_nodes SET status = %b, error = %b, completed_at = %b"
    " WHERE run_id = %b AND name = %b AND status NOT IN " + rules.NODE_TERMINAL_SQL
)
_MARK_RUN_DUE = (
    "UPDATE {s}.workflow_runs SET advance_due_at = "
    + rules.due_now_sql("%(now)b::bigint")
    + " WHERE id = %(run_id)b AND state NOT IN "
    + rules.RUN_TERMINAL_SQL
)
_CHILDREN = (
    f"SELECT {_RUN_COLUMNS} FROM {{s}}.workflow_runs WHERE parent_run_id = %b"
    " AND parent_run_id IS NOT NULL ORDER BY started_at, id"
)
_CLEAR_DUE = (
    "UPDATE {s}.workflow_runs SET advance_due_at = %b::bigint WHERE id = %b"
    " AND advance_due_at IS NOT DISTINCT FROM %b::bigint"
)
_DUE = (
    "SELECT id FROM {s}.workflow_runs WHERE advance_due_at <= %b AND advance_due_at IS NOT NULL"
    " AND state NOT IN " + rules.RUN_TERMINAL_SQL + " ORDER BY advance_due_at, id LIMIT %b"
)
_EXPIRED_GATES = (
    "SELECT run_id, name FROM {s}.workflow_nodes WHERE status = 'waiting_approval'"
    " AND gate_deadline_at <= %b AND gate_deadline_at IS NOT NULL"
    " ORDER BY gate_deadline_at, run_id, name LIMIT %b"
)


@lru_cache(maxsize=256)
def _statement(schema: str, template: str) -> str:
    return q.render(template, schema)


@lru_cache(maxsize=256)
def _update_query(schema: str, table: str, key: str, columns: tuple[str, ...]) -> str:
    """A compare-and-set of ``columns`` (checked names) on the row whose ``key`` matches."""
    sets = ", ".join(f"{column} = %b" for column in columns)
    state = "status" if table == "workflow_nodes" else "state"
    template = (
        f"UPDATE {{s}}.{table} SET {sets} WHERE {key} AND {state} = ANY(%b::text[]) RETURNING 1"
    )
    return q.render(template, schema)


@lru_cache(maxsize=64)
def _page_query(schema: str, has_namespace: bool, has_state: bool, has_cursor: bool) -> str:
    terms = ["namespace = %b" if has_namespace else "namespace IS NULL"]
    if has_state:
        terms.append("state = %b")
    if has_cursor:
        terms.append("(started_at, id) < (%b, %b)")
    template = (
        f"SELECT {_RUN_COLUMNS} FROM {{s}}.workflow_runs WHERE {' AND '.join(terms)}"
        " ORDER BY started_at DESC, id DESC LIMIT %b"
    )
    return q.render(template, schema)


def _insert_nodes(cursor: Cursor, schema: str, nodes: Sequence[WorkflowNodeRecord]) -> None:
    if nodes:
        cursor.executemany(_statement(schema, _INSERT_NODE), [astuple(node) for node in nodes])


class PostgresWorkflows:
    """``WorkflowStorage`` on the backend's pool (``PostgresStorage`` sets the attributes)."""

    schema: str
    _conns: PgConnections
    _stmts: q.Statements
    _feed: ChangeFeed

    def _wf_read(self, work: Callable[[Cursor], T]) -> T:
        return self._conns.run(work, idempotent=True)

    def _wf_rows(self, template: str, params: Sequence[Any]) -> list[Any]:
        query = _statement(self.schema, template)
        return self._wf_read(lambda cursor: cursor.execute(query, params).fetchall())

    def save_workflow_definition(
        self, definition: WorkflowDefinitionRecord
    ) -> WorkflowDefinitionRecord:
        d = rules.require_definition(definition)
        insert = _statement(self.schema, _INSERT_DEFINITION)
        select = _statement(self.schema, _SELECT_DEFINITION_BY_KEY)

        def save(cursor: Cursor) -> WorkflowDefinitionRecord:
            # ON CONFLICT waits for a racing insert of the same key; the SELECT (a statement
            # of its own, a new snapshot) then sees whichever row won.
            cursor.execute(insert, astuple(d))
            row = cursor.execute(select, (d.name, d.version, d.digest)).fetchone()
            assert row is not None, "a stored definition is never deleted"
            return WorkflowDefinitionRecord(*row)

        return self._conns.run(save, idempotent=True)

    def get_workflow_definition(self, definition_id: str) -> WorkflowDefinitionRecord | None:
        rows = self._wf_rows(_SELECT_DEFINITION, (definition_id,))
        return WorkflowDefinitionRecord(*rows[0]) if rows else None

    def create_workflow_run(
        self, run: WorkflowRunRecord, nodes: Sequence[WorkflowNodeRecord], jobs: Sequence[NewJob]
    ) -> None:
        run = rules.require_run(run)
        checked_nodes = rules.require_nodes(run.id, nodes)
        checked_jobs = rules.require_jobs(jobs)
        schema = self.schema

        def create(cursor: Cursor) -> bool:
            if cursor.execute(_statement(schema, _INSERT_RUN), astuple(run)).fetchone() is None:
                raise ValueError(f"workflow run {run.id!r} exists already")
            _insert_nodes(cursor, schema, checked_nodes)
            enqueue.insert_jobs_in(cursor, self._stmts, checked_jobs)
            return True

        def recover(cursor: Cursor) -> bool | None:
            # Run ids are made by the caller: a run stored after a lost connection is ours.
            found = cursor.execute(_statement(schema, _SELECT_RUN), (run.id,)).fetchone()
            return None if found is None else True

        self._conns.transact(create, recover=recover)
        self._feed.notify()

    def get_workflow_run(self, run_id: str) -> WorkflowRunRecord | None:
        rows = self._wf_rows(_SELECT_RUN, (run_id,))
        return WorkflowRunRecord(*rows[0]) if rows else None

    def workflow_nodes(self, run_id: str) -> list[WorkflowNodeRecord]:
        return [WorkflowNodeRecord(*row) for row in self._wf_rows(_SELECT_NODES, (run_id,))]

    def workflow_node_for_job(self, job_id: str) -> WorkflowNodeRecord | None:
        rows = self._wf_rows(_SELECT_NODE_FOR_JOB, (job_id,))
        return WorkflowNodeRecord(*rows[0]) if rows else None

    def list_workflow_runs(
        self,
        state: str | None,
        namespace: str | None,
        limit: int,
        after: PageCursor | None,
    ) -> list[WorkflowRunRecord]:
        state, namespace, limit, after = rules.runs_page_args(state, namespace, limit, after)
        query = _page_query(self.schema, namespace is not None, state is not None, bool(after))
        params = [
            *([] if namespace is None else [namespace]),
            *([] if state is None else [state]),
            *([] if after is None else list(after)),
            limit,
        ]
        rows = self._wf_read(lambda cursor: cursor.execute(query, params).fetchall())
        return [WorkflowRunRecord(*row) for row in rows]

    def child_workflow_runs(self, run_id: str) -> list[WorkflowRunRecord]:
        return [WorkflowRunRecord(*row) for row in self._wf_rows(_CHILDREN, (run_id,))]

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
        schema = self.schema

        def update(cursor: Cursor) -> bool:
            if values:
                query = _update_query(
                    schema, "workflow_nodes", "run_id = %b AND name = %b", (*values,)
                )
                params = (*values.values(), run_id, name, states)
            else:
                query = _statement(schema, _LOCK_NODE_IN_STATUS)
                params = (run_id, name, states)
            if cursor.execute(query, params).fetchone() is None:
                return False
            if checked_nodes:
                names = [node.name for node in checked_nodes]
                existing = _statement(schema, _EXISTING_NODE_NAMES)
                taken = [row[0] for row in cursor.execute(existing, (run_id, names)).fetchall()]
                if taken:
                    raise ValueError(f"workflow run {run_id!r} already has nodes named {taken}")
                _insert_nodes(cursor, schema, checked_nodes)
            enqueue.insert_jobs_in(cursor, self._stmts, checked_jobs)
            if due_at is not None:
                cursor.execute(_statement(schema, _SET_RUN_DUE), (due_at, run_id))
            return True

        changed = self._conns.transact(update)
        if changed:
            self._feed.notify()
        return changed

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
        schema = self.schema

        def update(cursor: Cursor) -> bool:
            if values:
                query = _update_query(schema, "workflow_runs", "id = %b", (*values,))
                params = (*values.values(), run_id, states)
            else:
                query = _statement(schema, _LOCK_RUN_IN_STATE)
                params = (run_id, states)
            if cursor.execute(query, params).fetchone() is None:
                return False
            if parent is not None:
                settle = (parent.status, parent.error, parent.now, parent.run_id, parent.node_name)
                cursor.execute(_statement(schema, _SETTLE_PARENT_NODE), settle)
                due = {"now": parent.now, "run_id": parent.run_id}
                cursor.execute(_statement(schema, _MARK_RUN_DUE), due)
            return True

        changed = self._conns.transact(update)
        if changed:
            self._feed.notify()
        return changed

    def clear_workflow_due(
        self, run_id: str, seen_due_at: int | None, next_due_at: int | None
    ) -> bool:
        run_id, seen_due_at, next_due_at = rules.clear_due_args(run_id, seen_due_at, next_due_at)
        query = _statement(self.schema, _CLEAR_DUE)
        params = (next_due_at, run_id, seen_due_at)
        return self._conns.run(lambda cursor: cursor.execute(query, params).rowcount == 1)

    def workflow_runs_due(self, now: int, limit: int) -> list[str]:
        now, limit = rules.sweep_args(now, limit)
        return [row[0] for row in self._wf_rows(_DUE, (now, limit))]

    def expired_workflow_gates(self, now: int, limit: int) -> list[tuple[str, str]]:
        now, limit = rules.sweep_args(now, limit)
        return [(row[0], row[1]) for row in self._wf_rows(_EXPIRED_GATES, (now, limit))]
