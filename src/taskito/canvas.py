"""Client-side composition of tasks: ``chain``, ``group``, ``chord``, ``chunks`` and
``starmap`` over signatures (``Signature`` lives with ``TaskWrapper`` in ``task.py`` and is
re-exported here). The calling process enqueues the jobs and blocks on their results; nothing
about the composition is stored."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from taskito.exceptions import ConfigurationError
from taskito.task import Signature

if TYPE_CHECKING:
    from taskito.queue.protocol import TaskQueue
    from taskito.result import JobResult
    from taskito.task import TaskWrapper


def _check_signatures(kind: str, signatures: Sequence[object]) -> tuple[Signature, ...]:
    first = signatures[0] if len(signatures) == 1 else None
    if isinstance(first, Iterable) and not isinstance(first, Signature | str | bytes | dict):
        # One list or generator of signatures, as Celery's group(task.s(x) for x in xs).
        signatures = tuple(first)
    if not signatures:
        raise ConfigurationError(f"{kind} needs at least one signature")
    checked: list[Signature] = []
    for sig in signatures:
        if not isinstance(sig, Signature):
            raise TypeError(f"{kind} takes signatures (task.s(...)), not {type(sig).__name__}")
        checked.append(sig)
    return tuple(checked)


class chain:
    """Run signatures one after another, each receiving the previous result."""

    def __init__(self, *signatures: Signature | Iterable[Signature]) -> None:
        self.signatures = _check_signatures("chain", signatures)

    def apply(self, queue: TaskQueue | None = None) -> JobResult:
        """Enqueue each step after the previous one completed; return the last step's job."""
        previous: Any = None
        job: JobResult | None = None
        for index, sig in enumerate(self.signatures):
            job = sig._enqueue(queue, sig.args if index == 0 else sig._args_after(previous))
            if index < len(self.signatures) - 1:
                previous = job.result(timeout=sig.result_timeout_s)
        assert job is not None  # at least one signature
        return job

    async def apply_async(self, queue: TaskQueue | None = None) -> JobResult:
        previous: Any = None
        job: JobResult | None = None
        for index, sig in enumerate(self.signatures):
            job = sig._enqueue(queue, sig.args if index == 0 else sig._args_after(previous))
            if index < len(self.signatures) - 1:
                previous = await job.aresult(timeout=sig.result_timeout_s)
        assert job is not None
        return job


class group:
    """Run signatures side by side; ``max_concurrency`` runs them in waves of that size."""

    def __init__(
        self, *signatures: Signature | Iterable[Signature], max_concurrency: int | None = None
    ) -> None:
        self.signatures = _check_signatures("group", signatures)
        if max_concurrency is not None:
            if not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool):
                raise TypeError(
                    f"max_concurrency must be an int, not {type(max_concurrency).__name__}"
                )
            if max_concurrency <= 0:
                raise ConfigurationError(f"max_concurrency must be > 0, got {max_concurrency}")
        self.max_concurrency = max_concurrency

    @property
    def result_timeout_s(self) -> float:
        return max(sig.result_timeout_s for sig in self.signatures)

    def _waves(self) -> list[tuple[Signature, ...]]:
        size = self.max_concurrency or len(self.signatures)
        return [self.signatures[i : i + size] for i in range(0, len(self.signatures), size)]

    def _check_calls(self) -> None:
        """Every signature's arguments, before the first job is stored."""
        for sig in self.signatures:
            sig._check_call()

    def apply(self, queue: TaskQueue | None = None) -> list[JobResult]:
        """Enqueue every signature; with ``max_concurrency``, wait for each wave to finish
        before enqueueing the next."""
        self._check_calls()
        jobs: list[JobResult] = []
        waves = self._waves()
        for index, wave in enumerate(waves):
            started = [sig.apply(queue) for sig in wave]
            jobs.extend(started)
            if index < len(waves) - 1:
                for sig, job in zip(wave, started, strict=True):
                    job.result(timeout=sig.result_timeout_s)
        return jobs

    async def apply_async(self, queue: TaskQueue | None = None) -> list[JobResult]:
        self._check_calls()
        jobs: list[JobResult] = []
        waves = self._waves()
        for index, wave in enumerate(waves):
            started = [sig.apply(queue) for sig in wave]
            jobs.extend(started)
            if index < len(waves) - 1:
                for sig, job in zip(wave, started, strict=True):
                    await job.aresult(timeout=sig.result_timeout_s)
        return jobs


class chord:
    """Run a group, then a callback with the list of its results."""

    def __init__(self, header: group, callback: Signature) -> None:
        if not isinstance(header, group):
            raise TypeError(f"chord needs a group first, not {type(header).__name__}")
        if not isinstance(callback, Signature):
            raise TypeError(f"chord callback must be a signature, not {type(callback).__name__}")
        self.header = header
        self.callback = callback

    def _callback_args(self, results: list[Any]) -> tuple[Any, ...]:
        if self.callback.immutable:
            return self.callback.args
        return (results, *self.callback.args)

    def apply(self, queue: TaskQueue | None = None) -> JobResult:
        """Apply the group, wait for every result, then enqueue the callback."""
        jobs = self.header.apply(queue)
        timeout_s = self.header.result_timeout_s
        results = [job.result(timeout=timeout_s) for job in jobs]
        return self.callback._enqueue(queue, self._callback_args(results))

    async def apply_async(self, queue: TaskQueue | None = None) -> JobResult:
        jobs = await self.header.apply_async(queue)
        timeout_s = self.header.result_timeout_s
        results = [await job.aresult(timeout=timeout_s) for job in jobs]
        return self.callback._enqueue(queue, self._callback_args(results))


def chunks(task: TaskWrapper, items: Iterable[Any], chunk_size: int) -> group:
    """A group of ``task.s(chunk)``, one per ``chunk_size`` slice of ``items``."""
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool):
        raise TypeError(f"chunk_size must be an int, not {type(chunk_size).__name__}")
    if chunk_size <= 0:
        raise ConfigurationError(f"chunk_size must be > 0, got {chunk_size}")
    values = list(items)
    if not values:
        raise ConfigurationError("chunks needs at least one item")
    return group(*(task.s(values[i : i + chunk_size]) for i in range(0, len(values), chunk_size)))


def starmap(task: TaskWrapper, args_list: Iterable[Sequence[Any]]) -> group:
    """A group of ``task.s(*args)`` for each argument tuple."""
    signatures = []
    for args in args_list:
        if not isinstance(args, tuple | list):
            raise TypeError(f"starmap takes argument tuples, not {type(args).__name__}")
        signatures.append(task.s(*args))
    return group(*signatures)


__all__ = ["Signature", "chain", "chord", "chunks", "group", "starmap"]
