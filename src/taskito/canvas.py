"""Client-side composition of tasks: ``Signature``, ``chain``, ``group``, ``chord``, ``chunks``
and ``starmap``. The calling process enqueues the jobs and blocks on their results; nothing
about the composition is stored."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskito.exceptions import ConfigurationError
from taskito.queue.enqueue import ENQUEUE_OPTIONS

if TYPE_CHECKING:
    from taskito.queue.queue import Queue
    from taskito.result import JobResult
    from taskito.task import TaskWrapper

#: Seconds a composition waits for one step's result when its options give no timeout.
DEFAULT_STEP_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Signature:
    """A task with its arguments and enqueue options, ready to apply later.

    ``options`` are ``queue.enqueue`` keywords; the task's decorator values fill the gaps.
    An ``immutable`` signature (``task.si()``) takes no result from a previous chain step.
    """

    task: TaskWrapper
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    immutable: bool = False

    def __post_init__(self) -> None:
        from taskito.task import TaskWrapper

        if not isinstance(self.task, TaskWrapper):
            raise TypeError(f"Signature needs a task, not {type(self.task).__name__}")
        if not isinstance(self.args, tuple | list):
            raise TypeError(f"Signature args must be a tuple, not {type(self.args).__name__}")
        object.__setattr__(self, "args", tuple(self.args))
        if not isinstance(self.kwargs, dict):
            raise TypeError(f"Signature kwargs must be a dict, not {type(self.kwargs).__name__}")
        if not isinstance(self.options, dict):
            raise TypeError(f"Signature options must be a dict, not {type(self.options).__name__}")
        unknown = sorted(str(key) for key in self.options if key not in ENQUEUE_OPTIONS)
        if unknown:
            known = ", ".join(sorted(ENQUEUE_OPTIONS))
            raise ConfigurationError(f"unknown Signature options {unknown}: expected {known}")

    @property
    def result_timeout_s(self) -> float:
        """How long a composition waits for this step: its ``timeout`` option, else 300 s."""
        timeout = self.options.get("timeout")
        return DEFAULT_STEP_TIMEOUT_S if timeout is None else float(timeout)

    def apply(self, queue: Queue | None = None) -> JobResult:
        """Enqueue on ``queue`` (default: the task's own Queue)."""
        return self._enqueue(queue, self.args)

    async def apply_async(self, queue: Queue | None = None) -> JobResult:
        return self._enqueue(queue, self.args)

    def _enqueue(self, queue: Queue | None, args: tuple[Any, ...]) -> JobResult:
        target = _target_queue(self.task, queue)
        task = self.task
        options = {
            "priority": task._priority,
            "queue": task._task_queue,
            "max_retries": task._max_retries,
            "timeout": task._timeout_s,
            **self.options,
        }
        return target.enqueue(task.name, args, dict(self.kwargs) or None, **options)

    def _check_call(self) -> None:
        """Raise ``TypeError`` now when the task could not take this signature's arguments."""
        self.task._spec.call_shape.check(self.task.name, self.args, self.kwargs)

    def _args_after(self, previous: Any) -> tuple[Any, ...]:
        """This step's args once the previous step returned ``previous``."""
        if self.immutable or previous is None:
            return self.args
        return (previous, *self.args)


def _target_queue(task: TaskWrapper, queue: Queue | None) -> Queue:
    if queue is None:
        return task._queue
    from taskito.queue.queue import Queue

    if not isinstance(queue, Queue):
        raise TypeError(
            f"apply(queue=) takes a Queue, not {type(queue).__name__}; "
            "set the queue name with options={'queue': ...}"
        )
    return queue


def _check_signatures(kind: str, signatures: Sequence[object]) -> tuple[Signature, ...]:
    if not signatures:
        raise ConfigurationError(f"{kind} needs at least one signature")
    for sig in signatures:
        if not isinstance(sig, Signature):
            raise TypeError(f"{kind} takes signatures (task.s(...)), not {type(sig).__name__}")
    return tuple(signatures)  # type: ignore[arg-type]


class chain:
    """Run signatures one after another, each receiving the previous result."""

    def __init__(self, *signatures: Signature) -> None:
        self.signatures = _check_signatures("chain", signatures)

    def apply(self, queue: Queue | None = None) -> JobResult:
        """Enqueue each step after the previous one completed; return the last step's job."""
        previous: Any = None
        job: JobResult | None = None
        for index, sig in enumerate(self.signatures):
            job = sig._enqueue(queue, sig.args if index == 0 else sig._args_after(previous))
            if index < len(self.signatures) - 1:
                previous = job.result(timeout=sig.result_timeout_s)
        assert job is not None  # at least one signature
        return job

    async def apply_async(self, queue: Queue | None = None) -> JobResult:
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

    def __init__(self, *signatures: Signature, max_concurrency: int | None = None) -> None:
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

    def apply(self, queue: Queue | None = None) -> list[JobResult]:
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

    async def apply_async(self, queue: Queue | None = None) -> list[JobResult]:
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

    def apply(self, queue: Queue | None = None) -> JobResult:
        """Apply the group, wait for every result, then enqueue the callback."""
        jobs = self.header.apply(queue)
        timeout_s = self.header.result_timeout_s
        results = [job.result(timeout=timeout_s) for job in jobs]
        return self.callback._enqueue(queue, self._callback_args(results))

    async def apply_async(self, queue: Queue | None = None) -> JobResult:
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
