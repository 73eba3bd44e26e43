"""``Taskito``, the Flask extension: one Queue per app, built by ``init_app`` from the app's
``TASKITO_*`` config (contrib/settings.py) and kept in ``app.extensions["taskito"]``; tasks
declared on the extension are registered on every app's Queue.

Which Queue is current: in an application context, that app's; outside one, the Queue of the
app most recently given to ``init_app``. Each task runs in an application context of its app
(``AppContext`` middleware), so it may use ``current_app`` and app-bound extensions. The Queue
is closed when its app is garbage collected or the process exits; ``close(app)`` closes it
sooner.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, has_app_context

import taskito
from taskito.contrib.settings import (
    TASKITO_APP,
    TASKITO_DEFAULT_QUEUE,
    Setting,
    TaskitoSettings,
    build_queue,
    read_settings,
)
from taskito.contrib.tasks import DeclaredTask, check_declaration, check_unique, register_all

logger = logging.getLogger("taskito.contrib.flask")

#: Where ``init_app`` puts the app's Queue: ``app.extensions["taskito"]``.
EXTENSION_KEY = "taskito"
#: Keys only the Flask extension reads (none yet beyond the common ones).
FLASK_SETTINGS: tuple[Setting, ...] = ()
DEFAULT_DB_FILE = "taskito.db"


class AppContext(taskito.TaskMiddleware):
    """Runs each task inside an application context of ``app`` (pushed in ``before``,
    popped in ``after``), in whichever thread or process executes it. Holds the app weakly:
    the Queue must not keep its app alive."""

    def __init__(self, app: Flask) -> None:
        self._app = weakref.ref(app)
        self._lock = threading.Lock()
        self._contexts: dict[str, Any] = {}

    def before(self, ctx: Any) -> None:
        app = self._app()
        if app is None:
            return
        app_context = app.app_context()
        app_context.push()
        with self._lock:
            self._contexts[ctx.id] = app_context

    def after(self, ctx: Any, result: Any, error: BaseException | None) -> None:
        with self._lock:
            app_context = self._contexts.pop(ctx.id, None)
        if app_context is not None:
            app_context.pop()


@dataclass
class _AppState:
    """One app's Queue and the wrappers of the extension's tasks on it."""

    queue: taskito.Queue
    default_queue: str | None
    wrappers: dict[DeclaredTask, taskito.TaskWrapper] = field(default_factory=dict)


class Taskito:
    """The Flask extension. ``cli_group`` names the command group (``flask taskito ...``);
    None adds no commands."""

    def __init__(self, app: Flask | None = None, cli_group: str | None = "taskito") -> None:
        if cli_group is not None and (not isinstance(cli_group, str) or not cli_group.strip()):
            raise TypeError(f"cli_group must be a non-empty str or None, not {cli_group!r}")
        self.cli_group = cli_group
        self._tasks: list[DeclaredTask] = []
        self._states: weakref.WeakKeyDictionary[Flask, _AppState] = weakref.WeakKeyDictionary()
        self._last_app: weakref.ref[Flask] | None = None
        self._lock = threading.RLock()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build ``app``'s Queue from its ``TASKITO_*`` config (``ConfigurationError`` or
        ``TypeError`` naming a bad key), register the declared tasks on it, and add the CLI
        group. An app takes one taskito extension, once."""
        if not isinstance(app, Flask):
            raise TypeError(f"init_app expects a Flask app, not {type(app).__name__}")
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(f"taskito is already initialised on the Flask app {app.name!r}")
        settings = read_settings(app.config, source="Flask config", extra=FLASK_SETTINGS)
        default_queue = settings.text(TASKITO_DEFAULT_QUEUE)
        settings.text(TASKITO_APP)  # checked now, read by the worker command
        queue = build_queue(_in_instance_folder(app, settings), middleware=[AppContext(app)])
        try:
            state = _AppState(queue, default_queue)
            with self._lock:
                state.wrappers = register_all(self._tasks, queue, default_queue)
                self._states[app] = state
                self._last_app = weakref.ref(app)
        except BaseException:
            queue.close()
            raise
        app.extensions[EXTENSION_KEY] = queue
        # Not a bound method of the app: the finalizer must not keep it alive.
        weakref.finalize(app, queue.close)
        if self.cli_group is not None:
            from taskito.contrib.flask.cli import make_group

            app.cli.add_command(make_group(self.cli_group))

    # --- the current Queue --------------------------------------------------------------

    @property
    def queue(self) -> taskito.Queue:
        """The current app's Queue (outside an app context: the last app initialised)."""
        return self._state().queue

    def get_queue(self, app: Flask | None = None) -> taskito.Queue:
        """``app``'s Queue; the current one when ``app`` is None."""
        return self._state(app).queue

    def close(self, app: Flask | None = None) -> None:
        """Close ``app``'s Queue (the current app's when None) now rather than when the app
        is garbage collected or the process exits; safe to call twice."""
        self._state(app).queue.close()

    def _state(self, app: Flask | None = None) -> _AppState:
        if app is None:
            app = self._current_app()
        state = self._states.get(app)
        if state is None:
            raise RuntimeError(
                f"taskito is not initialised on the Flask app {app.name!r}: "
                "call Taskito(app) or ext.init_app(app) first"
            )
        return state

    def _current_app(self) -> Flask:
        if has_app_context():
            app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
            return app
        last = self._last_app() if self._last_app is not None else None
        if last is None:
            raise RuntimeError(
                "no Flask app: call init_app(app) first, or use the queue inside an "
                "application context"
            )
        return last

    # --- tasks --------------------------------------------------------------------------

    def task(
        self, name: str | None = None, **options: Any
    ) -> Callable[[Callable[..., Any]], DeclaredTask]:
        """Declare a task, before or after ``init_app``: ``@ext.task()`` takes the options
        of ``@queue.task()``; without ``queue=``, the task goes to ``TASKITO_DEFAULT_QUEUE``
        (default ``"default"``). It is registered on every app's Queue."""
        check_declaration(name, options, "@ext.task")

        def declare(fn: Callable[..., Any]) -> DeclaredTask:
            declared = DeclaredTask(fn, name, options, self)
            with self._lock:
                check_unique(self._tasks, declared)
                for state in list(self._states.values()):
                    state.wrappers[declared] = declared.register(state.queue, state.default_queue)
                self._tasks.append(declared)
            return declared

        return declare

    def wrapper_for(self, task: DeclaredTask) -> taskito.TaskWrapper:
        state = self._state()
        try:
            return state.wrappers[task]
        except KeyError:
            raise RuntimeError(f"task {task.name!r} was not declared on this extension") from None


def _in_instance_folder(app: Flask, settings: TaskitoSettings) -> TaskitoSettings:
    """The SQLite file defaults to ``taskito.db`` in the app's instance folder, and a relative
    ``TASKITO_DB_PATH`` is taken from there too (as Flask-SQLAlchemy does), so the web process
    and the worker find the same file whatever their working directory."""
    db_path = settings.queue_options.get("db_path", DEFAULT_DB_FILE)
    if not isinstance(db_path, str | os.PathLike):
        return settings  # the Queue refuses it, naming the key
    path = os.fspath(db_path)
    if path != ":memory:" and not os.path.isabs(path):
        path = os.path.join(app.instance_path, path)
    return dataclasses.replace(settings, queue_options={**settings.queue_options, "db_path": path})


__all__ = ["EXTENSION_KEY", "FLASK_SETTINGS", "AppContext", "Taskito"]
