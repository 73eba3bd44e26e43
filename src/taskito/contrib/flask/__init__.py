"""The Flask extension (docs/integrations.md): ``Taskito(app)`` or ``Taskito()`` then
``init_app(app)`` builds the app's Queue from its ``TASKITO_*`` config, declares tasks with
``@ext.task()``, and adds ``flask taskito worker`` and ``flask taskito info``. Needs the
``flask`` extra."""

from __future__ import annotations

try:
    import flask  # noqa: F401
except ImportError as exc:
    raise ImportError("taskito.contrib.flask needs Flask: pip install 'taskito[flask]'") from exc

from taskito.contrib.flask.extension import EXTENSION_KEY, AppContext, Taskito
from taskito.contrib.tasks import DeclaredTask

__all__ = ["EXTENSION_KEY", "AppContext", "DeclaredTask", "Taskito"]
