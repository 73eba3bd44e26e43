"""The jobs of workflow nodes: their options (the step's override, then the task's decorator,
then the queue's default), their payloads (encoded with the task's serializer, bound and
signed as every payload of the queue), the node-bound payloads deferred nodes store until
their job exists, and the results of finished node jobs, decoded for conditions and fan-in.

A deferred node's payload is bound to the key ``"<run id>/<node name>"`` in place of a job
id; when the engine gives the node its job, the payload is rebound to the job's id (checked
first when the queue signs), as a replayed job's payload is."""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import TYPE_CHECKING, Any

from taskito.exceptions import SerializationError
from taskito.ids import new_job_id
from taskito.job import JobRecord, NewJob
from taskito.queue.jobs import encode_payload
from taskito.queue.payloads import payload_serializer, rebound_payload
from taskito.serializers import binds_context, loads_bound
from taskito.signing import result_context, unseal

if TYPE_CHECKING:
    from taskito.queue.state import QueueBase
    from taskito.serializers import Serializer
    from taskito.workflows.dag import NodeMeta

#: Options of a job whose task the submitting process does not know, and no override.
DEFAULT_QUEUE = "default"


def node_key(run_id: str, node_name: str) -> str:
    """What a deferred node's stored payload is bound to until its job exists."""
    return f"{run_id}/{node_name}"


def job_metadata(run_id: str, node_name: str) -> str:
    """Display-only metadata of a node's job (the node link is the node's ``job_id``)."""
    return json.dumps({"workflow_run_id": run_id, "workflow_node_name": node_name})


def encode_call(
    queue: QueueBase, bound_to: str, task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> bytes:
    """``(args, kwargs)`` encoded for ``task_name`` and bound to ``bound_to`` (a job id or a
    ``node_key``); raises ``SerializationError`` naming the task when it cannot be."""
    serializer = payload_serializer(queue, task_name)
    try:
        return encode_payload(queue, serializer, bound_to, task_name, args, kwargs)
    except SerializationError:
        raise
    except Exception as exc:
        raise SerializationError(
            f"arguments of task {task_name!r} could not be serialized: {type(exc).__name__}: {exc}"
        ) from exc


def input_digest(
    queue: QueueBase, task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str:
    """SHA-256 hex of the task and its arguments, the same for the same call (incremental
    runs compare it with the base run's); a serializer that encrypts is not used for it."""
    serializer: Serializer | None = payload_serializer(queue, task_name)
    if serializer is not None and binds_context(serializer):
        serializer = None if binds_context(queue._serializer) else queue._serializer
    body = repr((args, kwargs)).encode()
    if serializer is not None:
        # On failure the repr stands in: such a call fails when its job is encoded.
        with contextlib.suppress(Exception):
            body = serializer.dumps((args, kwargs))
    return hashlib.sha256(task_name.encode() + b"\0" + body).hexdigest()


def node_job(
    queue: QueueBase,
    meta: NodeMeta,
    run_id: str,
    node_name: str,
    payload: bytes,
    now: int,
    *,
    job_id: str | None = None,
    depends_on: tuple[str, ...] = (),
) -> NewJob:
    """The job of node ``node_name`` (a step's node, or a fan-out child of ``meta``) with an
    already encoded ``payload`` bound to ``job_id``."""
    queue_name, max_retries, timeout_ms, priority = job_options(queue, meta)
    return NewJob(
        id=job_id or new_job_id(),
        queue=queue_name,
        task_name=meta.task_name,
        payload=payload,
        priority=priority,
        created_at=now,
        scheduled_at=now,
        max_retries=max_retries,
        timeout_ms=timeout_ms,
        metadata=job_metadata(run_id, node_name),
        depends_on=depends_on,
        result_ttl_ms=queue._settings.result_ttl_ms,
        namespace=queue.namespace,
    )


def call_job(
    queue: QueueBase,
    meta: NodeMeta,
    run_id: str,
    node_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    now: int,
    *,
    depends_on: tuple[str, ...] = (),
) -> NewJob:
    """A node's job calling ``meta``'s task with ``args``/``kwargs``."""
    job_id = new_job_id()
    payload = encode_call(queue, job_id, meta.task_name, args, kwargs)
    return node_job(
        queue, meta, run_id, node_name, payload, now, job_id=job_id, depends_on=depends_on
    )


def stored_payload_job(
    queue: QueueBase, meta: NodeMeta, run_id: str, payload: bytes, now: int
) -> NewJob:
    """The job of a deferred task node from the payload it stored at submit."""
    job_id = new_job_id()
    rebound = rebound_payload(queue, meta.task_name, payload, node_key(run_id, meta.name), job_id)
    return node_job(queue, meta, run_id, meta.name, rebound, now, job_id=job_id)


def job_options(queue: QueueBase, meta: NodeMeta) -> tuple[str, int, int | None, int]:
    """(queue, max_retries, timeout_ms, priority): the step's, else the task's, else the
    queue's defaults."""
    settings = queue._settings
    spec = queue._task_registry.get(meta.task_name)
    queue_name = meta.queue or (spec.queue if spec is not None else DEFAULT_QUEUE)
    max_retries = meta.max_retries
    if max_retries is None:
        max_retries = spec.max_retries if spec is not None else settings.default_retry
    timeout_ms = meta.timeout_ms
    if timeout_ms is None:
        if spec is not None:
            timeout_ms = None if spec.timeout_s is None else round(spec.timeout_s * 1000)
        else:
            timeout_ms = settings.default_timeout_ms
    priority = meta.priority
    if priority is None:
        priority = spec.priority if spec is not None else settings.default_priority
    return queue_name, max_retries, timeout_ms, priority


def decode_result(queue: QueueBase, job: JobRecord) -> Any:
    """The value a finished job returned (None when it stored none), checked first when the
    queue signs; raises ``SerializationError`` naming the job when it does not decode."""
    data = job.result
    if data is None:
        return None
    context = result_context(job.id, job.task_name)
    try:
        data = unseal(queue._signer, context, data, "result")
        return loads_bound(queue._serializer, data, context)
    except Exception as exc:
        raise SerializationError(
            f"result of job {job.id} could not be read: {type(exc).__name__}: {exc}"
        ) from exc


__all__ = [
    "call_job",
    "decode_result",
    "encode_call",
    "input_digest",
    "job_metadata",
    "job_options",
    "node_job",
    "node_key",
    "stored_payload_job",
]
