"""Fixtures of the façade tests that run on every backend: ``backend`` is one fresh database
per test on SQLite, Postgres or Redis (``backend.queue(**options)`` opens Queues on it, all
closed and the database dropped afterwards); ``queue`` is one Queue on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito import Queue
from tests.api.backends.support import BACKEND_NAMES, Backend, open_backend


@pytest.fixture(params=BACKEND_NAMES)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with open_backend(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
def queue(backend: Backend) -> Queue:
    return backend.queue()
