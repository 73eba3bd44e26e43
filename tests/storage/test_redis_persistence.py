"""Redis says at start, once per server and process, when it keeps nothing on disk (the test
server runs with persistence off, so the warning fires here): a log record, never a Python
warning, so the suite's warnings-as-errors setting is not tripped."""

from __future__ import annotations

import logging
import uuid

import pytest

from taskito.storage.redis import connections as redis_client
from tests.helpers import require_redis


def test_persistence_off_is_logged_once_per_server(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = require_redis()
    import redis as redis_py

    from taskito.storage.redis import RedisStorage

    probe = redis_py.Redis.from_url(url, socket_timeout=5)
    try:
        appendonly = probe.config_get("appendonly").get("appendonly")
        save = probe.config_get("save").get("save")
    finally:
        probe.close()
    if appendonly == "yes" or (save or "").strip():
        pytest.skip("the test server persists data: nothing to warn about")
    monkeypatch.setattr(redis_client, "_persistence_checked", set())
    caplog.set_level(logging.DEBUG, logger="taskito.storage.redis")
    prefix = f"t{uuid.uuid4().hex}"
    try:
        for _ in range(2):
            RedisStorage(url, prefix=prefix).close()
    finally:
        cleaner = redis_py.Redis.from_url(url, socket_timeout=5)
        try:
            keys = list(cleaner.scan_iter(match=f"{prefix}:*"))
            if keys:
                cleaner.unlink(*keys)
        finally:
            cleaner.close()
    warned = [r for r in caplog.records if "persistence off" in r.getMessage()]
    assert len(warned) == 1
    assert warned[0].levelno == logging.WARNING
    assert "appendonly" in warned[0].getMessage()
