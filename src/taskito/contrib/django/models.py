"""``TaskQueue``: a model without a table (``managed = False``) that gives the taskito admin
pages their place in the admin site: the index links to it, and its permissions (``view``,
``change``) say who may see the queue and retry dead letters. Nothing reads or writes it."""

from __future__ import annotations

from django.db import models


class TaskQueue(models.Model):
    class Meta:
        managed = False
        db_table = "taskito_admin_placeholder"
        default_permissions = ("view", "change")
        verbose_name = "task queue"
        verbose_name_plural = "task queue"

    def __str__(self) -> str:
        return "task queue"
