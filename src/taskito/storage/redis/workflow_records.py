"""Stored forms of workflow records on the Redis backend, and the checks that keep a script from
being handed what it cannot store faithfully.

A run is a hash of its ``WorkflowRunRecord`` fields (integers as decimal text, absent optional
fields missing). A node is one packed string (``pack_fields``: field lengths, then the values)
in its run's node hash, field ``NODE_FIELDS`` order. A ``(run id, node name)`` pair is one
string, a *node ref*: each part with NUL escaped as NUL 0x01, joined by two NULs, so refs are
unambiguous and sort like the pairs.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Mapping, Sequence
from typing import cast

from taskito._checks import check_int, check_optional_bytes, check_text
from taskito.storage.redis.keys import MAX_SAFE_INTEGER, pack_fields
from taskito.storage.workflow_contract import (
    ParentSettle,
    WorkflowDefinitionRecord,
    WorkflowNodeRecord,
    WorkflowRunRecord,
)

#: The packed node's fields, in order (``lib_workflow.lua`` reads the same list).
NODE_FIELDS = (
    "name", "kind", "status", "position", "job_id", "error", "result_hash", "payload",
    "condition_blob", "fan_out_index", "fan_out_count", "child_run_id", "gate_deadline_at",
    "gate_decision", "input_digest", "started_at", "completed_at",
)  # fmt: skip
#: The run hash's fields, in the order ``wf_create.lua`` receives them.
RUN_FIELDS = (
    "id", "definition_id", "name", "version", "namespace", "state", "on_failure",
    "started_at", "completed_at", "error", "parent_run_id", "parent_node_name", "base_run_id",
    "advance_due_at",
)  # fmt: skip
_NODE_INTS = frozenset(
    {"position", "fan_out_index", "fan_out_count", "gate_deadline_at", "started_at",
     "completed_at"}
)  # fmt: skip
_NODE_BYTES = frozenset({"payload", "condition_blob"})
_RUN_INTS = frozenset({"version", "started_at", "completed_at", "advance_due_at"})
_NODE_REQUIRED = frozenset({"name", "kind", "status", "position"})
_RUN_REQUIRED = frozenset(
    {"id", "definition_id", "name", "version", "state", "on_failure", "started_at"}
)


def node_ref(run_id: str, name: str) -> bytes:
    """The one-string form of ``(run_id, name)`` (``wf.ref`` in lib_workflow.lua)."""
    return run_id.encode().replace(b"\0", b"\0\1") + b"\0\0" + name.encode().replace(b"\0", b"\0\1")


def split_ref(ref: bytes) -> tuple[str, str]:
    run_id, _, name = ref.partition(b"\0\0")
    return run_id.replace(b"\0\1", b"\0").decode(), name.replace(b"\0\1", b"\0").decode()


def definition_key(name: str, version: int, digest: str) -> str:
    """A definition's member of the ``(name, version, digest)`` index: unambiguous, since the
    version has no ``:`` and the digest's length comes first."""
    return f"{version}:{len(digest)}:{digest}:{name}"


# --- checks ---------------------------------------------------------------------------------


def _check_time(name: str, value: object) -> int:
    return check_int(name, value, minimum=-MAX_SAFE_INTEGER, maximum=MAX_SAFE_INTEGER)


def _check_field(
    record: str,
    name: str,
    value: object,
    *,
    ints: Collection[str],
    required: Collection[str] = (),
) -> None:
    """One field of a record: ints within ±2**53, bytes for payloads, str otherwise; None only
    for fields not ``required``."""
    where = f"{record} {name}"
    if value is None:
        if name in required:
            raise ValueError(f"{where} is required, got None")
    elif name in ints:
        _check_time(where, value)
    elif name in _NODE_BYTES:
        check_optional_bytes(where, value)
    elif not isinstance(value, str):
        raise TypeError(f"{where} must be a str, not {type(value).__name__}")


def storable_definition(definition: WorkflowDefinitionRecord) -> WorkflowDefinitionRecord:
    """A definition the shared rules accepted (``workflow_rules``), with numbers Redis and Lua
    keep exactly."""
    _check_time("workflow definition version", definition.version)
    _check_time("workflow definition created_at", definition.created_at)
    return definition


def storable_run(run: WorkflowRunRecord) -> WorkflowRunRecord:
    """A run the shared rules accepted, each field of a type this backend stores as is."""
    for name in RUN_FIELDS:
        value = getattr(run, name)
        _check_field("workflow run", name, value, ints=_RUN_INTS, required=_RUN_REQUIRED)
    return run


def storable_nodes(nodes: Sequence[WorkflowNodeRecord]) -> list[WorkflowNodeRecord]:
    """Nodes the shared rules accepted, each field of a type this backend stores as is."""
    for node in nodes:
        for name in NODE_FIELDS:
            value = getattr(node, name)
            _check_field("workflow node", name, value, ints=_NODE_INTS, required=_NODE_REQUIRED)
    return list(nodes)


def pack_node_changes(changes: Mapping[str, object]) -> tuple[int, bytes]:
    """``changes`` (checked by the shared rules) with values of the types stored, packed as
    name/value pairs (a None value: absent)."""
    for name, value in changes.items():
        _check_field("workflow node", name, value, ints=_NODE_INTS, required=_NODE_REQUIRED)
    return _pack_pairs(changes)


def pack_run_changes(changes: Mapping[str, object]) -> tuple[int, bytes]:
    for name, value in changes.items():
        _check_field("workflow run", name, value, ints=_RUN_INTS, required=_RUN_REQUIRED)
    return _pack_pairs(changes)


def pack_settle(settle: ParentSettle | None) -> bytes:
    """A ``ParentSettle`` (checked by the shared rules) for ``wf_run.lua`` (empty: none)."""
    if settle is None:
        return b""
    check_text("settle_parent run_id", settle.run_id)
    check_text("settle_parent node_name", settle.node_name)
    _check_field("settle_parent", "error", settle.error, ints=())
    _check_time("settle_parent now", settle.now)
    values = (settle.run_id, settle.node_name, settle.status, settle.error, settle.now)
    return pack_fields([_encode(value) for value in values])


def _pack_pairs(changes: Mapping[str, object]) -> tuple[int, bytes]:
    flat: list[bytes | None] = []
    for name, value in changes.items():
        flat += [name.encode(), _encode(value)]
    return len(changes), pack_fields(flat)


def _encode(value: object) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, str):
        return value.encode()
    return bytes(cast(bytes, value))


# --- packing and reading --------------------------------------------------------------------


def pack_run(run: WorkflowRunRecord) -> bytes:
    return pack_fields([_encode(getattr(run, name)) for name in RUN_FIELDS])


def pack_node(node: WorkflowNodeRecord) -> bytes:
    return pack_fields([_encode(getattr(node, name)) for name in NODE_FIELDS])


def unpack_fields(blob: bytes, count: int) -> list[bytes | None]:
    """The values ``pack_fields`` (or ``wf.pack`` in Lua) packed."""
    header = struct.Struct(f">{count}i")
    values: list[bytes | None] = []
    start = header.size
    for length in header.unpack_from(blob):
        if length < 0:
            values.append(None)
        else:
            values.append(blob[start : start + length])
            start += length
    return values


def node_from_packed(run_id: str, blob: bytes) -> WorkflowNodeRecord:
    fields: dict[str, object] = {}
    for name, value in zip(NODE_FIELDS, unpack_fields(blob, len(NODE_FIELDS)), strict=True):
        fields[name] = _decode(name, value, _NODE_INTS)
    return WorkflowNodeRecord(run_id=run_id, **fields)  # type: ignore[arg-type]


def run_from_fields(fields: Mapping[bytes, bytes]) -> WorkflowRunRecord:
    values = {name: _decode(name, fields.get(name.encode()), _RUN_INTS) for name in RUN_FIELDS}
    return WorkflowRunRecord(**values)  # type: ignore[arg-type]


def definition_from_fields(fields: Mapping[bytes, bytes]) -> WorkflowDefinitionRecord:
    return WorkflowDefinitionRecord(
        id=fields[b"id"].decode(),
        name=fields[b"name"].decode(),
        version=int(fields[b"version"]),
        digest=fields[b"digest"].decode(),
        dag=fields[b"dag"].decode(),
        created_at=int(fields[b"created_at"]),
    )


def _decode(name: str, value: bytes | None, ints: Collection[str]) -> object:
    if value is None:
        return None
    if name in ints:
        return int(value)
    if name in _NODE_BYTES:
        return value
    return value.decode()


__all__ = [
    "NODE_FIELDS",
    "RUN_FIELDS",
    "definition_from_fields",
    "definition_key",
    "node_from_packed",
    "node_ref",
    "pack_node",
    "pack_node_changes",
    "pack_run",
    "pack_run_changes",
    "pack_settle",
    "run_from_fields",
    "split_ref",
    "storable_definition",
    "storable_nodes",
    "storable_run",
    "unpack_fields",
]
