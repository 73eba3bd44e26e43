"""Durable workflow runs on Redis (``WorkflowStorage``): each compare-and-set is one Lua script
(``lua/wf_*.lua`` over ``lua/lib_workflow.lua``), and ``finish.lua`` settles a finished job's
node in the same script as its outcome.

Keys, under ``<prefix>:`` (listed with the rest in docs/redis.md):

* ``wfdef:<id>`` (hash) a definition; ``wfdefindex`` (hash) ``<version>:<len(digest)>:<digest>:
  <name>`` -> definition id, so a ``(name, version, digest)`` is stored once.
* ``wfrun:<run id>`` (hash) a run's fields (``workflow_records``).
* ``wfnodes:<run id>`` (hash) node name -> the packed node (its position inside: a run's nodes
  are read whole and sorted by ``(position, name)``).
* ``wfjobs`` (hash) job id -> the node ref of the node whose ``job_id`` it is: the one HGET a
  finish adds per finished job.
* ``wfruns:<ns tag>`` and ``wfstate:<state>:<ns tag>`` (sorted sets) a namespace's runs, all and
  per state, by ``started_at`` (ties: id): ``list_workflow_runs`` pages, newest first, with no
  key enumeration.
* ``wfchildren:<run id>`` (sorted set) the runs whose parent it is, by ``started_at``.
* ``wfdue`` (sorted set) runs with an ``advance_due_at`` that are not terminal, by it.
* ``wfgates`` (sorted set) node refs of nodes ``waiting_approval`` with a ``gate_deadline_at``,
  by it.
* ``wfop:<token>`` (string, expires after 2 minutes) the token of a compare-and-set call that
  applied: the runner repeats a call after a dropped connection, and the repeat answers as
  the call that applied did instead of failing its compare (or writing twice).

Reads are not one snapshot (like the job reads): a page is an index read, then the records.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

from taskito.job import NewJob
from taskito.storage import workflow_rules as rules
from taskito.storage.operations import Cursor
from taskito.storage.redis.connections import RedisConnection, redis
from taskito.storage.redis.keys import (
    Keys,
    check_batch,
    check_new_job,
    job_arguments,
    namespace_tag,
    require_time,
)
from taskito.storage.redis.notify import ChangeListener
from taskito.storage.redis.records import pairs
from taskito.storage.redis.scripts import Scripts
from taskito.storage.redis.workflow_records import (
    definition_from_fields,
    definition_key,
    node_from_packed,
    pack_node,
    pack_node_changes,
    pack_run,
    pack_run_changes,
    pack_settle,
    run_from_fields,
    split_ref,
    storable_definition,
    storable_nodes,
    storable_run,
)
from taskito.storage.workflow_contract import (
    ParentSettle,
    WorkflowDefinitionRecord,
    WorkflowNodeRecord,
    WorkflowRunRecord,
    WorkflowStorage,
)


def _jobs(jobs: Sequence[NewJob]) -> list[bytes]:
    batch = [check_new_job(job) for job in rules.require_jobs(jobs)]
    check_batch(batch)
    return [job_arguments(job) for job in batch]


def _token() -> str:
    return uuid.uuid4().hex


class RedisWorkflows(WorkflowStorage):
    """The workflow half of ``RedisStorage`` (which sets the parts)."""

    prefix: str
    _conn: RedisConnection
    _keys: Keys
    _scripts: Scripts
    _listener: ChangeListener

    # --- definitions --------------------------------------------------------------------

    def save_workflow_definition(
        self, definition: WorkflowDefinitionRecord
    ) -> WorkflowDefinitionRecord:
        d = storable_definition(rules.require_definition(definition))
        key = definition_key(d.name, d.version, d.digest)
        args = (d.id, d.name, d.version, d.digest, d.dag, d.created_at, key)
        reply = self._scripts.run("wf_define", *args, idempotent=True)
        if reply == [b"taken"]:
            raise ValueError(
                f"workflow definition id {d.id!r} is taken by another (name, version, digest)"
            )
        return definition_from_fields(pairs(reply))

    def get_workflow_definition(self, definition_id: str) -> WorkflowDefinitionRecord | None:
        key = f"{self.prefix}:wfdef:{definition_id}"
        fields = self._conn.call(lambda client: client.hgetall(key), idempotent=True)
        return definition_from_fields(cast("dict[bytes, bytes]", fields)) if fields else None

    # --- runs and nodes: writes ---------------------------------------------------------

    def create_workflow_run(
        self, run: WorkflowRunRecord, nodes: Sequence[WorkflowNodeRecord], jobs: Sequence[NewJob]
    ) -> None:
        checked = storable_run(rules.require_run(run))
        packed_nodes = [pack_node(n) for n in storable_nodes(rules.require_nodes(run.id, nodes))]
        packed_jobs = _jobs(jobs)
        reply = self._scripts.run(
            "wf_create",
            _token(),
            pack_run(checked),
            len(packed_nodes),
            *packed_nodes,
            len(packed_jobs),
            *packed_jobs,
            idempotent=True,
        )
        if reply == b"exists":
            raise ValueError(f"workflow run {checked.id!r} already exists")
        if packed_jobs:
            self._listener.notify()

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
        run_id, name, expected, checked, due_at = rules.node_update_args(
            run_id, name, expect, changes, due_at
        )
        change_count, packed_changes = pack_node_changes(checked)
        created = storable_nodes(rules.require_nodes(run_id, new_nodes))
        packed_nodes = [pack_node(node) for node in created]
        packed_jobs = _jobs(new_jobs)
        due = "" if due_at is None else require_time("due_at", due_at)
        reply = self._scripts.run(
            "wf_node",
            _token(),
            run_id,
            name,
            due,
            len(expected),
            *expected,
            change_count,
            packed_changes,
            len(packed_nodes),
            *packed_nodes,
            len(packed_jobs),
            *packed_jobs,
            idempotent=True,
        )
        if isinstance(reply, list):
            raise ValueError(
                f"workflow node {reply[1].decode()!r} of run {run_id!r} already exists"
            )
        if reply == 1 and packed_jobs:
            self._listener.notify()
        return bool(reply == 1)

    def update_workflow_run(
        self,
        run_id: str,
        expect: Collection[str],
        changes: Mapping[str, object],
        *,
        settle_parent: ParentSettle | None = None,
    ) -> bool:
        run_id, expected, checked, parent = rules.run_update_args(
            run_id, expect, changes, settle_parent
        )
        change_count, packed_changes = pack_run_changes(checked)
        settle = pack_settle(parent)
        reply = self._scripts.run(
            "wf_run",
            _token(),
            run_id,
            len(expected),
            *expected,
            change_count,
            packed_changes,
            settle,
            idempotent=True,
        )
        return bool(reply == 1)

    def clear_workflow_due(
        self, run_id: str, seen_due_at: int | None, next_due_at: int | None
    ) -> bool:
        run_id, seen_due_at, next_due_at = rules.clear_due_args(run_id, seen_due_at, next_due_at)
        seen = "" if seen_due_at is None else require_time("seen_due_at", seen_due_at)
        following = "" if next_due_at is None else require_time("next_due_at", next_due_at)
        reply = self._scripts.run("wf_due", _token(), run_id, seen, following, idempotent=True)
        return bool(reply == 1)

    # --- reads --------------------------------------------------------------------------

    def get_workflow_run(self, run_id: str) -> WorkflowRunRecord | None:
        found = self._runs([run_id])
        return found[0] if found else None

    def _runs(self, run_ids: Sequence[str | bytes]) -> list[WorkflowRunRecord]:
        """The stored runs of ``run_ids``, in that order (missing ones left out)."""
        if not run_ids:
            return []
        keys = [f"{self.prefix}:wfrun:{_text(run_id)}" for run_id in run_ids]

        def read(client: redis.Redis) -> list[dict[bytes, bytes]]:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.hgetall(key)
            return cast("list[dict[bytes, bytes]]", pipe.execute())

        return [run_from_fields(f) for f in self._conn.call(read, idempotent=True) if f]

    def workflow_nodes(self, run_id: str) -> list[WorkflowNodeRecord]:
        key = f"{self.prefix}:wfnodes:{run_id}"
        packed = cast(
            "dict[bytes, bytes]",
            self._conn.call(lambda client: client.hgetall(key), idempotent=True),
        )
        nodes = [node_from_packed(run_id, blob) for blob in packed.values()]
        nodes.sort(key=lambda node: (node.position, node.name))
        return nodes

    def workflow_node_for_job(self, job_id: str) -> WorkflowNodeRecord | None:
        reply = self._scripts.run("wf_node_for_job", job_id, idempotent=True)
        if reply is None:
            return None
        run_id, _ = split_ref(reply[0])
        node = node_from_packed(run_id, reply[1])
        return node if node.job_id == job_id else None

    def list_workflow_runs(
        self,
        state: str | None,
        namespace: str | None,
        limit: int,
        after: Cursor | None,
    ) -> list[WorkflowRunRecord]:
        state, namespace, limit, after = rules.runs_page_args(state, namespace, limit, after)
        tag = namespace_tag(namespace)
        if state is None:
            index = f"{self.prefix}:wfruns:{tag}"
        else:
            index = f"{self.prefix}:wfstate:{state}:{tag}"
        if limit == 0:
            return []

        def read(client: redis.Redis) -> list[bytes]:
            found: list[bytes] = []
            upper: int | str = "+inf"
            if after is not None:  # the cursor's own millisecond: the ids below the cursor's
                same = cast("list[bytes]", client.zrange(index, after[0], after[0], byscore=True))
                found = sorted((m for m in same if m.decode() < after[1]), reverse=True)[:limit]
                upper = f"({after[0]}"
            if len(found) < limit:
                found += cast(
                    "list[bytes]",
                    client.zrange(index, upper, "-inf", desc=True, byscore=True, offset=0,
                                  num=limit - len(found)),
                )  # fmt: skip
            return found

        runs = self._runs(self._conn.call(read, idempotent=True))
        return [run for run in runs if state in (None, run.state) and run.namespace == namespace]

    def child_workflow_runs(self, run_id: str) -> list[WorkflowRunRecord]:
        key = f"{self.prefix}:wfchildren:{run_id}"
        ids = self._conn.call(lambda client: client.zrange(key, 0, -1), idempotent=True)
        return self._runs(cast("list[bytes]", ids))

    def workflow_runs_due(self, now: int, limit: int) -> list[str]:
        members = self._by_score(f"{self.prefix}:wfdue", now, limit)
        return [member.decode() for member in members]

    def expired_workflow_gates(self, now: int, limit: int) -> list[tuple[str, str]]:
        return [split_ref(ref) for ref in self._by_score(f"{self.prefix}:wfgates", now, limit)]

    def _by_score(self, key: str, now: int, limit: int) -> list[bytes]:
        """Up to ``limit`` members of ``key`` scored at most ``now``, lowest first."""
        now, limit = rules.sweep_args(now, limit)
        now = require_time("now", now)
        if limit == 0:
            return []

        def read(client: redis.Redis) -> list[bytes]:
            return cast(
                "list[bytes]",
                client.zrange(key, "-inf", now, byscore=True, offset=0, num=limit),
            )

        return self._conn.call(read, idempotent=True)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


__all__ = ["RedisWorkflows"]
