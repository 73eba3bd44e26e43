"""Fixtures for the end-to-end tests: a project directory to run ``taskito`` in, a producer
Queue on the same database, and ``ops``: the same on each backend for the inspection commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from taskito import Queue
from tests.backends import BACKEND_NAMES, queue_target
from tests.e2e.cli_ops import Ops
from tests.e2e.cli_project import Project, make_project


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    project = make_project(tmp_path)
    try:
        yield project
    finally:
        project.stop_all()


@pytest.fixture
def producer(project: Project) -> Iterator[Queue]:
    """The test's own Queue on the project's database, with the project's tasks registered."""
    queue = Queue(db_path=str(project.db_path))
    try:
        yield queue
    finally:
        queue.close()


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[Ops]:
    """``ops_app.py`` on a fresh SQLite database, with a producer Queue on it."""
    with _ops_on("sqlite", tmp_path) as opened:
        yield opened


@pytest.fixture(params=BACKEND_NAMES)
def backend_ops(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ops]:
    """``ops`` on a fresh database of each backend (SQLite, Postgres, Redis)."""
    with _ops_on(request.param, tmp_path) as opened:
        yield opened


@contextmanager
def _ops_on(backend: str, tmp_path: Path) -> Iterator[Ops]:
    target = queue_target(backend, tmp_path)
    try:
        project = make_project(tmp_path)
        project.use_queue(target.kwargs)
        producer = Queue(**target.kwargs)
        try:
            yield Ops(backend, project, producer)
        finally:
            project.stop_all()
            producer.close()
    finally:
        target.cleanup()
