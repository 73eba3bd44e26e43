"""A job's arguments as its task receives them, for ``execution``: the payload decoded (its
signature checked first when the queue signs), and, when its envelope says the producer
intercepted them, restored (``interception.restore``: converted values rebuilt, proxies rebuilt,
redirected values acquired from the worker's resources). Every pool and test mode get their
arguments through here, so they all restore them the same way.

Restoring can fail: the job then fails before any hook or middleware runs, with what was
already acquired or rebuilt given back. A refused recipe (signature, path, handler) or an
argument that cannot be rebuilt fails it without retries; a proxy that timed out or a resource
that is missing fails the attempt, retried by its policy.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from taskito.exceptions import ProxyReconstructionError, ResourceError, SerializationError
from taskito.interception.markers import read_envelope
from taskito.interception.restore import RestoredCall, restore_call
from taskito.job import Outcome, OutcomeKind
from taskito.serializers import binds_context, loads_bound
from taskito.signing import payload_context, strip_unverified, unseal

if TYPE_CHECKING:
    from taskito.job import JobRecord
    from taskito.registry import ExecutionEnv, TaskSpec

#: ``(has_proxies, depth)`` from a payload's interception envelope.
Marked = tuple[bool, int]


def decode_arguments(
    job: JobRecord, spec: TaskSpec, env: ExecutionEnv
) -> tuple[tuple[Any, ...], dict[str, Any], Marked | None]:
    """``(args, kwargs, marked)``: ``marked`` is None unless the payload is an intercepted
    ``(args, kwargs, envelope)``. Raises ``SignatureError`` before anything is deserialised
    when the signature fails, ``TypeError``/``ValueError`` for a payload of the wrong shape."""
    serializer = spec.serializer or env.serializer
    if env.signer is None and not binds_context(serializer):
        decoded = serializer.loads(strip_unverified(job.payload))
    else:
        context = payload_context(job.id, job.task_name)
        decoded = loads_bound(serializer, unseal(env.signer, context, job.payload), context)
    if not isinstance(decoded, list | tuple) or len(decoded) not in (2, 3):
        raise TypeError(f"expected an (args, kwargs) pair, got {type(decoded).__name__}")
    args, kwargs = decoded[0], decoded[1]
    marked = read_envelope(decoded[2]) if len(decoded) == 3 else None
    if not isinstance(args, list | tuple):
        raise TypeError(f"args must be a list or tuple, got {type(args).__name__}")
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise TypeError(f"kwargs must be a dict with string keys, got {type(kwargs).__name__}")
    return tuple(args), dict(kwargs), marked


def restore(
    env: ExecutionEnv, args: tuple[Any, ...], kwargs: dict[str, Any], marked: Marked
) -> RestoredCall:
    """The intercepted arguments restored with the env's rules and resources."""
    if env.arguments is None:
        raise SerializationError(
            "the payload holds intercepted arguments, and this worker has no rules to restore "
            "them (run it through a Queue)"
        )
    return restore_call(args, kwargs, env.arguments, resources=env.resources, max_depth=marked[1])


async def restore_off_loop(
    env: ExecutionEnv, args: tuple[Any, ...], kwargs: dict[str, Any], marked: Marked
) -> RestoredCall:
    """``restore`` for an event loop: proxies are rebuilt on a helper thread (a rebuild may
    take up to ``max_reconstruction_timeout``), converted values right here. If the waiting
    task is cancelled, what the thread rebuilds is released when it is done."""
    if not marked[0]:
        return restore(env, args, kwargs, marked)
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, restore, env, args, kwargs, marked)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(_release_when_done)
        raise


def _release_when_done(future: asyncio.Future[RestoredCall]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().release()


def not_restored(exc: BaseException, started_ns: int) -> Outcome:
    """The failed attempt of a job whose intercepted arguments could not be restored."""
    # A KeyError (ResourceNotFoundError is one) quotes its message in str(): use it as given.
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    text, exception_type, retryable = f"arguments could not be restored: {message}", "", False
    if isinstance(exc, ProxyReconstructionError):
        exception_type, retryable = type(exc).__name__, exc.retryable
    elif isinstance(exc, ResourceError):
        exception_type, retryable = type(exc).__name__, True
    elif isinstance(exc, SerializationError):
        exception_type = "SerializationError"
    else:
        text = f"arguments could not be restored: {type(exc).__name__}: {exc}"
        exception_type = "SerializationError"
    return Outcome(
        OutcomeKind.FAILURE,
        error=text,
        retryable=retryable,
        wall_time_ns=time.perf_counter_ns() - started_ns,
        exception_type=exception_type,
    )


__all__ = ["Marked", "decode_arguments", "not_restored", "restore", "restore_off_loop"]
