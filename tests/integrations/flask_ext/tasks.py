"""The extension the Flask tests share and its tasks, declared before any app exists."""

from __future__ import annotations

from flask import current_app

from taskito.contrib.flask import Taskito

ext = Taskito()


@ext.task()
def add(a: int, b: int) -> int:
    return a + b


@ext.task(queue="config")
def read_config(key: str) -> object:
    """Needs an application context: the worker pushes one around each task."""
    return current_app.config[key]
