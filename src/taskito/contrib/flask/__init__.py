"""The Flask extension (docs/integrations.md): ``Taskito(app)`` or ``Taskito()`` then
``init_app(app)`` builds the app's Queue from its ``TASKITO_*`` config, declares tasks with
``@ext.task()``, and adds ``flask taskito worker`` and ``flask taskito info``. Needs the
``flask`` extra."""

from __future__ import annotations

from taskito.contrib import require

require("flask", extra="flask", feature="taskito.contrib.flask")

from taskito.contrib.flask.extension import EXTENSION_KEY, AppContext, Taskito  # noqa: E402
from taskito.contrib.tasks import DeclaredTask  # noqa: E402

__all__ = ["EXTENSION_KEY", "AppContext", "DeclaredTask", "Taskito"]
