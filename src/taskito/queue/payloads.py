"""A stored payload seen from the producer side: which serializer a task's payloads use,
whether they are bound to their job id, and a copy made valid under a new id (a replay, a
retried dead letter)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskito.exceptions import CryptoError, SerializationError, SignatureError
from taskito.serializers import binds_context, loads_bound
from taskito.signing import payload_context, rebind, strip_unverified, unseal

if TYPE_CHECKING:
    from taskito.queue.state import QueueBase
    from taskito.serializers import Serializer


def payload_serializer(queue: QueueBase, task_name: str) -> Serializer:
    spec = queue._task_registry.get(task_name)
    return queue._serializer if spec is None or spec.serializer is None else spec.serializer


def binds_payloads(queue: QueueBase, task_name: str) -> bool:
    """True when a payload is only valid for its own job id: the queue signs, or the
    task's serializer binds the job (``EncryptedSerializer``)."""
    serializer = payload_serializer(queue, task_name)
    return queue._signer is not None or binds_context(serializer)


def rebound_payload(
    queue: QueueBase, task_name: str, payload: bytes, old_id: str, new_id: str
) -> bytes:
    """A stored payload made valid for a copy under ``new_id`` (replay, retried dead
    letter): verified for ``old_id`` first, then re-encrypted and re-signed (signing.rebind).
    Unchanged when the queue neither signs nor binds its payloads."""
    serializer = payload_serializer(queue, task_name)
    if not binds_payloads(queue, task_name):
        return payload
    old, new = payload_context(old_id, task_name), payload_context(new_id, task_name)
    try:
        return rebind(serializer, queue._signer, payload, old, new)
    except SignatureError as exc:
        raise SignatureError(
            f"job {old_id} cannot be copied: payload signature check failed: {exc}"
        ) from None
    except (ValueError, CryptoError) as exc:
        raise SerializationError(
            f"job {old_id} cannot be copied: its payload could not be re-encrypted: {exc}"
        ) from None


def decoded_arguments(
    queue: QueueBase, task_name: str, payload: bytes, job_id: str
) -> tuple[Any, Any]:
    """The ``(args, kwargs)`` a stored payload holds, decoded as the worker decodes it: with
    a signing key the signature is checked before anything is deserialised. Raises
    ``SignatureError``, or ``SerializationError`` for a payload that does not decode."""
    serializer = payload_serializer(queue, task_name)
    context = payload_context(job_id, task_name)
    try:
        if binds_payloads(queue, task_name):
            data = unseal(queue._signer, context, payload)
            decoded = loads_bound(serializer, data, context)
        else:
            decoded = serializer.loads(strip_unverified(payload))
    except SignatureError as exc:
        raise SignatureError(f"arguments of job {job_id}: {exc}") from None
    except CryptoError as exc:
        raise CryptoError(f"arguments of job {job_id} refused: {exc}") from None
    except Exception as exc:
        raise SerializationError(
            f"arguments of job {job_id} could not be deserialized: {type(exc).__name__}: {exc}"
        ) from exc
    # A third element is interception's envelope: the arguments are shown with their markers.
    if not isinstance(decoded, list | tuple) or len(decoded) not in (2, 3):
        raise SerializationError(
            f"arguments of job {job_id}: expected an (args, kwargs) pair, "
            f"got {type(decoded).__name__}"
        )
    return decoded[0], decoded[1]


__all__ = ["binds_payloads", "decoded_arguments", "payload_serializer", "rebound_payload"]
