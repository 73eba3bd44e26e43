"""The Flask extension (docs/integrations.md): ``Taskito(app)`` or ``Taskito()`` then
``init_app(app)`` builds the app's Queue from its ``TASKITO_*`` config, declares tasks with
``@ext.task()``, and adds ``flask taskito worker`` and ``flask taskito info``. Needs the
``flask`` extra."""

from __future__ import annotations

try:
    import flask  # noqa: F401
except ImportError as exc:
    # Worded as taskito.contrib's other install hints are.
    raise ImportError(
        "taskito.contrib.flask needs the 'flask' package, which is not installed: "
        'pip install "taskito[flask]"',
        name="flask",
    ) from exc

from taskito.contrib.flask.extension import EXTENSION_KEY, AppContext, Taskito
from taskito.contrib.tasks import DeclaredTask

__all__ = ["EXTENSION_KEY", "AppContext", "DeclaredTask", "Taskito"]
