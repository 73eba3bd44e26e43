"""The Django app ``taskito.contrib.django`` (label ``taskito``): its system check of the
``TASKITO_*`` settings (``manage.py check``), its admin pages and management commands."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks


class TaskitoConfig(AppConfig):
    name = "taskito.contrib.django"
    label = "taskito"
    verbose_name = "taskito"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        checks.register(check_settings, "taskito")


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``taskito.E001``: an unknown ``TASKITO_*`` key (or a malformed one the integration
    reads itself) is reported by ``manage.py check`` and before ``runserver``, not at the first
    job. Values of Queue options are checked when the Queue is built."""
    from taskito.contrib.django.project_queue import check_project_settings

    try:
        check_project_settings()
    except (TypeError, ValueError) as exc:
        return [checks.Error(str(exc), id="taskito.E001")]
    return []
