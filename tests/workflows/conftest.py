"""Fixtures of the workflow suite: ``app`` (a ``WorkflowApp`` on each backend: a SQLite file,
a fresh Postgres schema, a fresh Redis prefix; the working directory set to its folder) and
``make_app`` for tests that want a target of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import BACKEND_NAMES, QueueTarget, queue_target
from tests.workflows.harness import WorkflowApp

MakeApp = Callable[..., WorkflowApp]


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeApp]:
    """``make_app(target=None, name=None, **queue_options)``: an app in ``tmp_path`` (default
    target: a SQLite file there; ``name``: the module of an earlier app, imported again);
    each is closed, and server targets dropped, afterwards."""
    monkeypatch.chdir(tmp_path)
    apps: list[WorkflowApp] = []
    targets: list[QueueTarget] = []

    def make(
        target: QueueTarget | None = None, *, name: str | None = None, **queue_options: Any
    ) -> WorkflowApp:
        if target is None:
            target = queue_target("sqlite", tmp_path)
        elif target not in targets:
            targets.append(target)
        app = WorkflowApp(tmp_path, target, name=name, **queue_options)
        apps.append(app)
        return app

    try:
        yield make
    finally:
        for app in apps:
            app.close()
        for target in targets:
            target.cleanup()


@pytest.fixture(params=BACKEND_NAMES)
def app(make_app: MakeApp, request: pytest.FixtureRequest, tmp_path: Path) -> WorkflowApp:
    """The suite's app, on each backend in turn (a server backend skips without its server,
    and fails under CI)."""
    backend: str = request.param
    if backend == "sqlite":
        return make_app()
    return make_app(queue_target(backend, tmp_path))
