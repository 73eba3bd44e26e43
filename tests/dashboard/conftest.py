"""Fixtures of the dashboard tests: a Queue on a real SQLite file, the dashboard served by a
real uvicorn on a free port (open, or with an admin and a viewer), and clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito import Queue
from taskito.dashboard import Users, create_app
from tests.dashboard.harness import ADMIN, TEST_PASSWORD_COST, VIEWER, Client, serve


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[Queue]:
    opened = Queue(db_path=str(tmp_path / "taskito.db"))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def users(queue: Queue) -> Users:
    """An admin (``ADMIN``) and a viewer (``VIEWER``), with cheap test hashes."""
    store = Users(queue, password_cost=TEST_PASSWORD_COST)
    store.create(*ADMIN, role="admin")
    store.create(*VIEWER, role="viewer")
    return store


@pytest.fixture
def open_port(queue: Queue) -> Iterator[int]:
    """The dashboard with no user: open, to loopback clients only."""
    with serve(create_app(queue)) as port:
        yield port


@pytest.fixture
def client(open_port: int) -> Client:
    opened = Client(open_port)
    opened.prime()
    return opened


@pytest.fixture
def secured_port(queue: Queue, users: Users) -> Iterator[int]:
    """The dashboard with users: every API route needs a session or a token."""
    with serve(create_app(queue)) as port:
        yield port


@pytest.fixture
def admin(secured_port: int) -> Client:
    signed_in = Client(secured_port)
    assert signed_in.login(*ADMIN).status == 200
    return signed_in


@pytest.fixture
def viewer(secured_port: int) -> Client:
    signed_in = Client(secured_port)
    assert signed_in.login(*VIEWER).status == 200
    return signed_in
