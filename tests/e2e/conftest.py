"""Fixtures for the end-to-end tests: a project directory to run ``taskito`` in, and a
producer Queue on the same database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito import Queue
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
