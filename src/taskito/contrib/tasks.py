"""Tasks declared through an integration rather than on one Queue: ``@ext.task()`` (Flask)
and ``@task()`` (Django) return a ``DeclaredTask``.

The Queue is built from settings the framework reads later (Flask's ``init_app``, Django's
first ``get_queue()``), and may be built more than once (one per Flask app, a new one when
Django's ``TASKITO_*`` settings change), so a declared task is registered on every Queue the
integration builds, and ``delay()`` goes to the one the integration calls current
(``TaskBindings.wrapper_for``). Its options are checked when it is declared.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import taskito
from taskito.celery_habits import TASK_KEYWORDS, keyword_error
from taskito.task_options import check_task_options, default_task_name

_TASK_SIGNATURE = inspect.signature(taskito.Queue.task)
_TASK_DEFAULTS = {
    name: parameter.default
    for name, parameter in _TASK_SIGNATURE.parameters.items()
    if parameter.default is not inspect.Parameter.empty
}


class TaskBindings(Protocol):
    """What a declared task asks its integration: its wrapper on the current Queue."""

    def wrapper_for(self, task: DeclaredTask) -> taskito.TaskWrapper: ...


def check_declaration(name: object, options: dict[str, Any], decorator: str) -> None:
    """The checks ``@queue.task()`` makes, made when the task is declared: an unknown
    option is a ``TypeError``, a bad value ``TypeError``/``ValueError`` naming it."""
    if callable(name):
        raise TypeError(f"{decorator} must be called with parentheses: use {decorator}()")
    celery = sorted(options.keys() & TASK_KEYWORDS.keys())
    if celery:  # bind=True and the like: say what to write instead (docs/migrating-from-celery.md)
        raise keyword_error(f"{decorator}()", celery[0], TASK_KEYWORDS[celery[0]])
    try:
        _TASK_SIGNATURE.bind_partial(None, name, **options)
    except TypeError as exc:
        raise TypeError(f"{decorator}: {exc}") from None
    check_task_options(**{**_TASK_DEFAULTS, **options, "name": name})


class DeclaredTask:
    """A task of an integration: call it to run the function here; ``delay()``,
    ``apply_async()``, ``map()``, ``s()`` and ``si()`` act on the current Queue's task, which
    ``wrapper`` gives (a ``taskito.TaskWrapper``)."""

    __name__: str
    __wrapped__: Callable[..., Any]

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None,
        options: dict[str, Any],
        bindings: TaskBindings,
    ) -> None:
        functools.update_wrapper(self, fn)
        self._fn = fn
        self._options = {**options, "name": name}
        self._bindings = bindings
        self.name: str = name or default_task_name(fn)

    def register(self, queue: taskito.Queue, default_queue: str | None) -> taskito.TaskWrapper:
        """Register the function on ``queue`` (``default_queue`` unless declared with
        ``queue=``) and return its wrapper there."""
        options = dict(self._options)
        if default_queue is not None:
            options.setdefault("queue", default_queue)
        return queue.task(**options)(self._fn)

    @property
    def wrapper(self) -> taskito.TaskWrapper:
        """This task on the integration's current Queue."""
        return self._bindings.wrapper_for(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def delay(self, *args: Any, **kwargs: Any) -> taskito.JobResult:
        return self.wrapper.delay(*args, **kwargs)

    def apply_async(self, *args: Any, **kwargs: Any) -> taskito.JobResult:
        """``TaskWrapper.apply_async``: ``args``, ``kwargs`` and per-call options."""
        return self.wrapper.apply_async(*args, **kwargs)

    def map(self, iterable_of_arg_tuples: Iterable[Any]) -> list[taskito.JobResult]:
        return self.wrapper.map(iterable_of_arg_tuples)

    def s(self, *args: Any, **kwargs: Any) -> taskito.Signature:
        return self.wrapper.s(*args, **kwargs)

    def si(self, *args: Any, **kwargs: Any) -> taskito.Signature:
        return self.wrapper.si(*args, **kwargs)


def check_unique(tasks: Iterable[DeclaredTask], declared: DeclaredTask) -> None:
    """Two declared tasks may not share a name: every Queue would refuse the second."""
    if any(task.name == declared.name for task in tasks):
        raise taskito.ConfigurationError(
            f"a task named {declared.name!r} is already declared; pass name= to declare another"
        )


def register_all(
    tasks: Iterable[DeclaredTask], queue: taskito.Queue, default_queue: str | None
) -> dict[DeclaredTask, taskito.TaskWrapper]:
    """Register every declared task on a Queue just built; their wrappers there."""
    return {task: task.register(queue, default_queue) for task in tasks}


__all__ = ["DeclaredTask", "TaskBindings", "check_declaration", "check_unique", "register_all"]
