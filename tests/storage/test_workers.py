"""Contract: worker registry (register, heartbeat, list, unregister, reap)."""

from __future__ import annotations

import pytest

from taskito.storage.base import Storage
from tests.storage.factories import make_worker


def test_register_and_list(storage: Storage) -> None:
    first = make_worker("w1", started_at=1_000, last_heartbeat=1_000, tags=("gpu", "eu"))
    second = make_worker("w2", queues=None, pool="prefork", pid=7, started_at=2_000)
    storage.register_worker(first)
    storage.register_worker(second)
    assert storage.list_workers() == [first, second]


def test_register_again_replaces_the_entry(storage: Storage) -> None:
    storage.register_worker(make_worker("w1", threads=2, started_at=1))
    replacement = make_worker("w1", threads=8, queues=("a", "b"), started_at=1)
    storage.register_worker(replacement)
    assert storage.list_workers() == [replacement]


def test_register_rejects_what_is_not_worker_info(storage: Storage) -> None:
    with pytest.raises(TypeError, match="WorkerInfo"):
        storage.register_worker({"worker_id": "w1"})  # type: ignore[arg-type]
    assert storage.list_workers() == []


def test_heartbeat_updates_time_and_status(storage: Storage) -> None:
    storage.register_worker(make_worker("w1", last_heartbeat=1_000))
    storage.heartbeat("w1", "draining", 5_000)
    (worker,) = storage.list_workers()
    assert (worker.last_heartbeat, worker.status) == (5_000, "draining")


def test_heartbeat_of_an_unknown_worker_registers_nothing(storage: Storage) -> None:
    storage.heartbeat("ghost", "active", 5_000)
    assert storage.list_workers() == []


def test_unregister(storage: Storage) -> None:
    storage.register_worker(make_worker("w1"))
    storage.register_worker(make_worker("w2"))
    storage.unregister_worker("w1")
    assert [w.worker_id for w in storage.list_workers()] == ["w2"]
    storage.unregister_worker("w1")
    assert [w.worker_id for w in storage.list_workers()] == ["w2"]


def test_reap_removes_workers_with_stale_heartbeats(storage: Storage) -> None:
    storage.register_worker(make_worker("old", last_heartbeat=1_000))
    storage.register_worker(make_worker("edge", last_heartbeat=2_000))
    storage.register_worker(make_worker("live", last_heartbeat=3_000))
    assert storage.reap_workers(2_000) == ["old"]
    assert sorted(w.worker_id for w in storage.list_workers()) == ["edge", "live"]
    assert storage.reap_workers(2_000) == []
