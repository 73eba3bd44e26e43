"""Fixtures of the worker tests: ``target`` (a fresh database on each backend), ``harness``
(real worker threads on that database) and ``sqlite_harness`` (SQLite only).

``target`` and ``harness`` are parametrised over SQLite, Postgres and Redis, so every test that
takes one runs three times (ids ``[sqlite]``, ``[postgres]``, ``[redis]``); the server
backends skip on a machine without the servers and fail under ``CI``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import BACKEND_NAMES, QueueTarget, queue_target
from tests.worker.harness import Harness, harness_on


@pytest.fixture(params=BACKEND_NAMES)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueTarget]:
    """A fresh database on each backend, dropped after the test (and after ``harness``)."""
    made = queue_target(request.param, tmp_path)
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture
def harness(target: QueueTarget) -> Iterator[Harness]:
    h = Harness(target)
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def sqlite_harness(tmp_path: Path) -> Iterator[Harness]:
    """A Harness on SQLite only: for tests whose subject is a pool or ``run_job`` (storage only
    hands them jobs), so running them on every backend would add time and test nothing."""
    with harness_on(queue_target("sqlite", tmp_path)) as h:
        yield h
