"""The project's Queue: built on the first ``get_queue()`` from the ``TASKITO_*`` settings
(contrib/settings.py), one per process, rebuilt when a ``TASKITO_*`` setting changes
(``override_settings`` in tests), closed at process exit.

Built, it imports each installed app's ``tasks`` module (``TASKITO_AUTODISCOVER``) once the
app registry is ready, so a worker knows every task, and registers the tasks declared with
``@task()``. Each task runs between two ``close_old_connections()`` (``CloseOldConnections``),
as a request does, so a long-lived worker never holds a broken or stale database connection.
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.db import close_old_connections
from django.utils.module_loading import autodiscover_modules

import taskito
from taskito.contrib.settings import (
    TASKITO_APP,
    TASKITO_DEFAULT_QUEUE,
    Setting,
    TaskitoSettings,
    build_queue,
    read_settings,
)
from taskito.contrib.tasks import DeclaredTask, check_unique, register_all

TASKITO_AUTODISCOVER = Setting(
    "TASKITO_AUTODISCOVER",
    None,
    'modules imported from every installed app (default: ["tasks"]; [] for none)',
)
#: Keys only the Django integration reads.
DJANGO_SETTINGS: tuple[Setting, ...] = (TASKITO_AUTODISCOVER,)
DEFAULT_AUTODISCOVER = ("tasks",)
#: What prefork children import to get this Queue (``TASKITO_APP`` overrides it).
DEFAULT_APP_SPEC = "taskito.contrib.django.app:queue"
SOURCE = "Django settings"


class CloseOldConnections(taskito.TaskMiddleware):
    """Drop database connections that are broken or past ``CONN_MAX_AGE`` before and after
    each task, in the thread that runs it."""

    def before(self, ctx: Any) -> None:
        close_old_connections()

    def after(self, ctx: Any, result: Any, error: BaseException | None) -> None:
        close_old_connections()


@dataclass
class _Built:
    queue: taskito.Queue
    default_queue: str | None
    wrappers: dict[DeclaredTask, taskito.TaskWrapper] = field(default_factory=dict)
    discovered: bool = False


class ProjectQueue:
    """The process's one Queue and the declared tasks; ``get_queue`` and ``@task()`` use the
    module's instance. Re-entrant: an autodiscovered module may call ``get_queue()``."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._built: _Built | None = None
        self._tasks: list[DeclaredTask] = []

    def get(self) -> taskito.Queue:
        with self._lock:
            built = self._built
            if built is None:
                built = self._built = self._build()
            if not built.discovered and apps.ready:
                built.discovered = True
                for module in _autodiscover_setting():
                    autodiscover_modules(module)
            return built.queue

    def _build(self) -> _Built:
        settings = read_settings(_taskito_settings(), source=SOURCE, extra=DJANGO_SETTINGS)
        default_queue = settings.text(TASKITO_DEFAULT_QUEUE)
        queue = build_queue(settings, middleware=[CloseOldConnections()])
        try:
            return _Built(queue, default_queue, register_all(self._tasks, queue, default_queue))
        except BaseException:
            queue.close()
            raise

    def close(self) -> None:
        with self._lock:
            built, self._built = self._built, None
        if built is not None:
            built.queue.close()

    def declare(self, declared: DeclaredTask) -> None:
        with self._lock:
            check_unique(self._tasks, declared)
            self._tasks.append(declared)
            if self._built is not None:
                self._built.wrappers[declared] = declared.register(
                    self._built.queue, self._built.default_queue
                )

    def wrapper_for(self, declared: DeclaredTask) -> taskito.TaskWrapper:
        self.get()
        with self._lock:
            assert self._built is not None
            return self._built.wrappers[declared]


def _taskito_settings() -> dict[str, Any]:
    return {
        name: getattr(django_settings, name)
        for name in dir(django_settings)
        if name.startswith("TASKITO_")
    }


def _autodiscover_setting() -> tuple[str, ...]:
    value = getattr(django_settings, TASKITO_AUTODISCOVER.key, DEFAULT_AUTODISCOVER)
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise TypeError(
            f"{SOURCE} {TASKITO_AUTODISCOVER.key} must be a list of module names, "
            f"not {type(value).__name__}"
        )
    for name in value:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{SOURCE} {TASKITO_AUTODISCOVER.key}: {name!r} is not a module name")
    return tuple(value)


def read_project_settings() -> TaskitoSettings:
    """The ``TASKITO_*`` settings; an unknown key raises ``ConfigurationError``."""
    return read_settings(_taskito_settings(), source=SOURCE, extra=DJANGO_SETTINGS)


def check_project_settings() -> None:
    """What can be checked without building the Queue: unknown keys and the keys this
    integration reads itself."""
    settings = read_project_settings()
    settings.text(TASKITO_APP)
    settings.text(TASKITO_DEFAULT_QUEUE)
    _autodiscover_setting()


PROJECT = ProjectQueue()


def get_queue() -> taskito.Queue:
    """The project's Queue, built on first use from the ``TASKITO_*`` settings (one per
    process); a bad key raises ``ConfigurationError``/``TypeError`` naming it."""
    return PROJECT.get()


def close_queue() -> None:
    """Close the Queue; the next ``get_queue()`` builds a new one. Safe to call twice."""
    PROJECT.close()


def app_spec() -> str:
    """What prefork children import: ``TASKITO_APP``, or this integration's entry point."""
    spec = read_project_settings().text(TASKITO_APP)
    return spec or DEFAULT_APP_SPEC


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("TASKITO_"):
        close_queue()


setting_changed.connect(_on_setting_changed, dispatch_uid="taskito.contrib.django.settings")
atexit.register(close_queue)
