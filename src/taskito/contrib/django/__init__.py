"""The Django integration (docs/integrations.md): add ``"taskito.contrib.django"`` to
``INSTALLED_APPS``; ``get_queue()`` is the project's Queue, built from its ``TASKITO_*``
settings; ``@task()`` declares tasks; ``delay_on_commit``/``apply_async_on_commit`` enqueue
when the surrounding transaction commits; ``manage.py taskito_worker``, ``taskito_info`` and
``taskito_dashboard`` run and inspect it; the admin site shows its jobs and dead letters.
Needs the ``django`` extra."""

from __future__ import annotations

from taskito.contrib import require

require("django", extra="django", feature="taskito.contrib.django")

from taskito.contrib.django.decorators import DjangoTask, task  # noqa: E402
from taskito.contrib.django.project_queue import (  # noqa: E402
    DJANGO_SETTINGS,
    close_queue,
    get_queue,
)
from taskito.contrib.django.transactions import apply_async_on_commit, delay_on_commit  # noqa: E402

__all__ = [
    "DJANGO_SETTINGS",
    "DjangoTask",
    "apply_async_on_commit",
    "close_queue",
    "delay_on_commit",
    "get_queue",
    "task",
]
