"""``@task()``: tasks of the project's Queue, declared before it exists (their module is
imported while Django starts) and registered on each Queue ``get_queue()`` builds; a
``DjangoTask`` can also enqueue when the surrounding transaction commits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taskito.contrib.django.project_queue import PROJECT
from taskito.contrib.django.transactions import apply_async_on_commit, delay_on_commit
from taskito.contrib.tasks import DeclaredTask, check_declaration


class DjangoTask(DeclaredTask):
    """A declared task with ``delay_on_commit`` and ``apply_async_on_commit``."""

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """``delay(*args, **kwargs)`` when the transaction of the default database commits
        (at once outside a transaction; never if it rolls back)."""
        delay_on_commit(self, *args, **kwargs)

    def apply_async_on_commit(
        self,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        using: str | None = None,
        **options: Any,
    ) -> None:
        """``apply_async(args, kwargs, **options)`` when the transaction of the database
        ``using`` (default: the default one) commits."""
        apply_async_on_commit(self, args, kwargs, using=using, **options)


def task(name: str | None = None, **options: Any) -> Callable[[Callable[..., Any]], DjangoTask]:
    """Declare a task of the project's Queue: the options of ``@queue.task()``; without
    ``queue=``, ``TASKITO_DEFAULT_QUEUE`` (default ``"default"``)."""
    check_declaration(name, options, "@task")

    def declare(fn: Callable[..., Any]) -> DjangoTask:
        declared = DjangoTask(fn, name, options, PROJECT)
        PROJECT.declare(declared)
        return declared

    return declare


__all__ = ["DjangoTask", "task"]
