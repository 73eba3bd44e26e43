"""Fixtures of the fault suite: ``target`` (a fresh database on each backend) and ``harness``
(real worker threads on it), the same as the worker tests'.

The fault suite drives what goes wrong where the data path meets the outside world: poison
strings, exceptions that are not ``Exception``, killed workers, lost replies, unknown tasks,
forged payloads, skewed clocks and dropped connections. Each test asserts the final state of
every job it made, not only that nothing raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import BACKEND_NAMES, QueueTarget, queue_target
from tests.worker.harness import Harness


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
