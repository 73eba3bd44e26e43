"""Fixtures of the integration tests: Queues on real SQLite files, always closed, and a real
worker run in a thread for the length of a block."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskito import Queue
from tests.contrib.workers import MakeQueue


@pytest.fixture
def make_queue(tmp_path: Path) -> Iterator[MakeQueue]:
    """Build Queues (default file: ``tmp_path/taskito.db``); every one is closed afterwards."""
    opened: list[Queue] = []

    def make(**kwargs: Any) -> Queue:
        kwargs.setdefault("db_path", str(tmp_path / "taskito.db"))
        queue = Queue(**kwargs)
        opened.append(queue)
        return queue

    yield make
    for queue in opened:
        queue.close()
