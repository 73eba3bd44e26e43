"""Secrets never appear in errors or logs: a database URL with a password that cannot be
reached (closed port, unknown host) fails with a message, a cause chain and log records free
of the password; a Redis URL whose database is not a non-negative number is refused; SQLite
files are private to their user (0600 in a 0700 directory)."""

from __future__ import annotations

import logging
import os
import stat
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from taskito.exceptions import StorageError
from taskito.storage.base import Storage
from taskito.storage.sqlite import SqliteStorage
from tests.helpers import require_postgres, require_redis
from tests.storage.factories import make_job

SECRET = "Zq7-hunter2-secret"


def _postgres(url: str) -> Callable[[], Storage]:
    from taskito.storage.postgres import PostgresStorage

    return lambda: PostgresStorage(url, schema="never_created", connect_timeout_s=1)


def _redis(url: str) -> Callable[[], Storage]:
    from taskito.storage.redis import RedisStorage

    return lambda: RedisStorage(url, prefix="never", connect_timeout_s=1)


def _assert_no_secret(error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    printed = "".join(traceback.format_exception(error))
    assert SECRET not in printed, printed
    assert SECRET not in repr(error)
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in str(record.__dict__)
        if record.exc_info and record.exc_info[1] is not None:
            assert SECRET not in "".join(traceback.format_exception(record.exc_info[1]))


UNREACHABLE = [
    ("postgres", f"postgresql://postgres:{SECRET}@127.0.0.1:1/test"),
    ("postgres", f"postgresql://postgres:{SECRET}@no-such-host.invalid:5432/test"),
    ("postgres", f"host=127.0.0.1 port=1 user=postgres password={SECRET} dbname=test"),
    ("postgres", f"postgresql://postgres:{SECRET}@127.0.0.1:5432/test?sslmode=bogus"),
    ("redis", f"redis://:{SECRET}@127.0.0.1:1/0"),
    ("redis", f"redis://user:{SECRET}@no-such-host.invalid:6379/0"),
]


@pytest.mark.parametrize(("kind", "url"), UNREACHABLE)
def test_an_unreachable_database_fails_without_showing_its_password(
    kind: str, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    (require_postgres if kind == "postgres" else require_redis)()  # the driver is installed
    caplog.set_level(logging.DEBUG)
    opener = _postgres(url) if kind == "postgres" else _redis(url)
    with pytest.raises((StorageError, ValueError)) as caught:
        opener().close()
    _assert_no_secret(caught.value, caplog)


def test_a_queue_on_an_unreachable_url_shows_no_password(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    from taskito import Queue

    require_redis()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StorageError) as caught:
        Queue(f"redis://:{SECRET}@127.0.0.1:1/0")
    _assert_no_secret(caught.value, caplog)


def test_a_live_redis_with_a_password_in_its_url_is_described_without_it() -> None:
    url = require_redis().replace("redis://", f"redis://:{SECRET}@")
    storage = _redis(url)()
    try:
        assert SECRET not in storage.describe() + repr(storage)
        assert ":***@" in storage.describe()
    finally:
        storage.close()


@pytest.mark.parametrize(
    ("suffix", "fragment"),
    [
        ("/abc", "must be a number"),
        ("/-1", "must be a number"),
        ("/1.5", "must be a number"),
        ("/1/2", "must be a number"),
        ("/0?db=1", "two databases"),
        ("?db=x", "must be a number"),
        ("/99999", "out of range"),
    ],
)
def test_a_redis_url_whose_database_is_not_a_number_is_refused(suffix: str, fragment: str) -> None:
    base = require_redis().rsplit("/", 1)[0].replace("redis://", f"redis://:{SECRET}@")
    with pytest.raises(ValueError, match=fragment) as caught:
        _redis(base + suffix)().close()
    assert SECRET not in "".join(traceback.format_exception(caught.value))


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_sqlite_files_are_private_in_a_private_directory(tmp_path: Path) -> None:
    before = _mode(tmp_path)
    path = tmp_path / "made" / "by-taskito" / "taskito.db"
    storage = SqliteStorage(str(path))
    try:
        storage.enqueue(make_job())
        assert _mode(tmp_path / "made") == 0o700
        assert _mode(tmp_path / "made" / "by-taskito") == 0o700
        for name in ("taskito.db", "taskito.db-wal", "taskito.db-shm"):
            assert _mode(path.parent / name) == 0o600, name
    finally:
        storage.close()
    assert _mode(tmp_path) == before  # an existing directory is left as it is


def test_an_existing_sqlite_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    SqliteStorage(str(path)).close()
    os.chmod(path, 0o640)
    SqliteStorage(str(path)).close()
    assert _mode(path) == 0o640
