"""``Queue`` infers its backend from a URL's scheme (in ``db_path`` or ``db_url``), refuses an
unknown scheme or a contradicting ``backend=``, and never quotes a password while doing so."""

from __future__ import annotations

import os
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskito import ConfigurationError, Queue
from taskito.storage import resolve_target
from tests.helpers import require_postgres, require_redis

SECRET = "hunter2-Secret"


def _with_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    user, at, host = rest.rpartition("@")
    return f"{scheme}://{user or ''}:{SECRET}@{host}" if at else f"{scheme}://:{SECRET}@{rest}"


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    url = require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield schema
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    url = require_redis()
    prefix = f"t{uuid.uuid4().hex}"
    yield prefix
    import redis as redis_py

    client = redis_py.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.unlink(*keys)
    finally:
        client.close()


def test_a_postgres_url_as_the_first_argument_opens_postgres(
    postgres_schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = _with_password(require_postgres())
    with Queue(url, schema=postgres_schema) as queue:
        description = queue._storage.describe()
        assert description.startswith("postgres postgresql://postgres:***@127.0.0.1:5432/")
        assert description.endswith(f" schema {postgres_schema}")
        assert SECRET not in repr(queue)
    assert os.listdir(tmp_path) == []  # no SQLite file made on the side


def test_a_redis_db_url_without_backend_opens_redis(
    redis_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = _with_password(require_redis())
    with Queue(db_url=url, schema=redis_prefix) as queue:
        description = queue._storage.describe()
        assert description == f"redis redis://:***@127.0.0.1:6379/15 prefix {redis_prefix}"
        assert SECRET not in repr(queue)
        job = queue._storage.get_job("nothing")
        assert job is None
    assert os.listdir(tmp_path) == []


def test_sqlalchemys_postgres_url_opens_postgres(postgres_schema: str) -> None:
    url = require_postgres().replace("postgresql://", "postgresql+psycopg://")
    with Queue(url, schema=postgres_schema) as queue:
        assert queue._storage.describe().startswith("postgres postgresql://postgres@")


def test_a_sqlite_url_and_a_plain_path_open_sqlite(tmp_path: Path) -> None:
    with Queue(db_url=f"sqlite:///{tmp_path}/a.db") as first:
        assert first._storage.describe() == f"sqlite {tmp_path}/a.db"
    with Queue(f"sqlite:///{tmp_path}/b.db", backend="sqlite") as second:
        assert second._storage.describe() == f"sqlite {tmp_path}/b.db"
    relative = os.path.relpath(tmp_path / "c.db")
    with Queue(relative) as third:
        assert third._storage.describe() == f"sqlite {tmp_path / 'c.db'}"
    with Queue(":memory:") as memory:
        assert memory._storage.describe() == "sqlite :memory:"


BAD_TARGETS: list[tuple[dict[str, Any], str]] = [
    ({"db_path": f"mysql://root:{SECRET}@db/app"}, "scheme 'mysql'"),
    ({"db_url": f"http://u:{SECRET}@host/"}, "scheme 'http'"),
    ({"db_url": f"host=db password={SECRET}"}, "cannot tell the backend"),
    ({"db_url": f"redis://:{SECRET}@h/0", "backend": "postgres"}, "contradicts"),
    ({"db_url": f"postgresql://u:{SECRET}@h/db", "backend": "redis"}, "contradicts"),
    ({"db_url": f"postgresql://u:{SECRET}@h/db", "backend": "sqlite"}, "contradicts"),
    ({"db_path": f"redis://:{SECRET}@h/0", "db_url": "redis://h/1"}, "pass one"),
    ({"db_url": "sqlite://relative.db"}, "not a SQLite URL"),
    ({"backend": "postgresql"}, "requires db_url"),
]


@pytest.mark.parametrize(("kwargs", "fragment"), BAD_TARGETS)
def test_an_unknown_or_contradicting_url_is_refused_without_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], fragment: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match=fragment) as caught:
        Queue(**kwargs)
    assert SECRET not in "".join(traceback.format_exception(caught.value))
    assert os.listdir(tmp_path) == []


def test_resolve_target_names_one_backend_per_scheme() -> None:
    cases = {
        "postgres://h/db": "postgres",
        "postgresql://h/db": "postgres",
        "POSTGRESQL+psycopg://h/db": "postgres",
        "redis://h:6379/0": "redis",
        "rediss://h:6380/0": "redis",
        "unix:///tmp/redis.sock?db=2": "redis",
    }
    for url, backend in cases.items():
        assert resolve_target(None, "ignored.db", url).backend == backend
        assert resolve_target(None, url, None) == resolve_target(None, "", url)
    assert resolve_target(None, "", "postgresql+psycopg://u@h/db").db_url == "postgresql://u@h/db"
    # A libpq key=value string has no scheme: it needs backend= to say what it is.
    target = resolve_target("postgresql", "x.db", "host=h dbname=d")
    assert (target.backend, target.db_url) == ("postgres", "host=h dbname=d")
    assert resolve_target(None, "dir/x.db", None).db_path == "dir/x.db"
    assert resolve_target(None, r"C:\data\x.db", None).backend == "sqlite"
