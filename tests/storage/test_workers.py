"""Contract: worker registry (register, heartbeat, list, unregister, reap)."""

from __future__ import annotations

import pytest

from taskito.storage.base import Storage, WorkerInfo
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


def test_resources_and_their_health_round_trip(storage: Storage) -> None:
    worker = make_worker("w1", last_heartbeat=1_000)
    with_resources = WorkerInfo(**{**_fields(worker), "resources": ("cache", "db")})
    storage.register_worker(with_resources)
    (stored,) = storage.list_workers()
    assert (stored.resources, stored.resource_health) == (("cache", "db"), None)
    storage.heartbeat("w1", "active", 2_000, {"db": "healthy", "cache": "unhealthy"})
    (beaten,) = storage.list_workers()
    assert beaten.resource_health == {"cache": "unhealthy", "db": "healthy"}
    storage.heartbeat("w1", "active", 3_000)  # no health: the last one stays
    (kept,) = storage.list_workers()
    assert (kept.last_heartbeat, kept.resource_health) == (3_000, beaten.resource_health)
    assert storage.reap_workers(4_000) == ["w1"]
    storage.register_worker(worker)
    (fresh,) = storage.list_workers()
    assert (fresh.resources, fresh.resource_health) == (None, None)


def test_resource_health_must_map_names_to_strings(storage: Storage) -> None:
    storage.register_worker(make_worker("w1"))
    with pytest.raises(TypeError, match="resource_health"):
        storage.heartbeat("w1", "active", 2_000, {"db": 1})  # type: ignore[dict-item]


def _fields(worker: WorkerInfo) -> dict[str, object]:
    return {name: getattr(worker, name) for name in WorkerInfo.__dataclass_fields__}
