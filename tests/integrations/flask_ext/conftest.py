"""Flask apps for the tests: each with its instance folder in the test's temporary directory,
initialised with the tests' extension (``tasks.ext``), its Queue closed afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from taskito.contrib.flask import Taskito
from tests.integrations.flask_ext.tasks import ext

MakeApp = Callable[..., Flask]


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[MakeApp]:
    made: list[tuple[Taskito, Flask]] = []

    def make(name: str = "demo", extension: Taskito = ext, **config: Any) -> Flask:
        app = Flask(name, instance_path=str(tmp_path / f"instance-{len(made)}"))
        app.config.update(config)
        extension.init_app(app)
        made.append((extension, app))
        return app

    try:
        yield make
    finally:
        for extension, app in made:
            extension.close(app)


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    return make_app(TASKITO_WORKERS=2, MARKER="from the app config")
