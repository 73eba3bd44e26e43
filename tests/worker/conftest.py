"""Fixtures of the worker tests: a ``Harness`` (real SQLite file, real worker threads)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.worker.harness import Harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path / "taskito.db")
    try:
        yield h
    finally:
        h.close()
