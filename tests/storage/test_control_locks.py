"""Contract: distributed locks (acquire_lock, extend_lock, release_lock, lock_info)."""

from __future__ import annotations

import pytest

from taskito.job import now_ms
from taskito.storage.base import Storage
from taskito.storage.control import LockInfo
from tests.storage.factories import Backend, open_storages, race

TTL_MS = 10_000


def test_acquire_a_free_lock(storage: Storage) -> None:
    now = now_ms()
    assert storage.lock_info("report", now) is None
    assert storage.acquire_lock("report", "owner-a", TTL_MS, now) is True
    assert storage.lock_info("report", now) == LockInfo("report", "owner-a", now, now + TTL_MS)


def test_a_held_lock_is_refused_to_others_and_to_its_owner(storage: Storage) -> None:
    now = now_ms()
    assert storage.acquire_lock("report", "owner-a", TTL_MS, now)
    assert storage.acquire_lock("report", "owner-b", TTL_MS, now + 1) is False
    assert storage.acquire_lock("report", "owner-a", TTL_MS, now + 2) is False
    assert storage.lock_info("report", now + 3) == LockInfo("report", "owner-a", now, now + TTL_MS)


def test_an_expired_lock_is_free_for_another_owner(storage: Storage) -> None:
    now = now_ms()
    assert storage.acquire_lock("report", "owner-a", TTL_MS, now)
    assert storage.lock_info("report", now + TTL_MS - 1) is not None
    assert storage.acquire_lock("report", "owner-b", TTL_MS, now + TTL_MS - 1) is False
    later = now + TTL_MS + 1
    assert storage.lock_info("report", later) is None
    assert storage.acquire_lock("report", "owner-b", 500, later) is True
    assert storage.lock_info("report", later) == LockInfo("report", "owner-b", later, later + 500)


def test_the_old_owner_cannot_touch_a_lock_taken_over_after_expiry(storage: Storage) -> None:
    now = now_ms()
    assert storage.acquire_lock("report", "owner-a", TTL_MS, now)
    later = now + TTL_MS + 1
    assert storage.acquire_lock("report", "owner-b", TTL_MS, later)
    assert storage.extend_lock("report", "owner-a", TTL_MS, later + 1) is False
    assert storage.release_lock("report", "owner-a") is False
    assert storage.lock_info("report", later + 2) == LockInfo(
        "report", "owner-b", later, later + TTL_MS
    )


def test_extend_pushes_the_expiry_for_the_owner(storage: Storage) -> None:
    now = now_ms()
    assert storage.acquire_lock("report", "owner-a", TTL_MS, now)
    assert storage.extend_lock("report", "owner-a", 30_000, now + 5_000) is True
    info = storage.lock_info("report", now + TTL_MS + 1)
    assert info is not None
    assert (info.owner_id, info.expires_at) == ("owner-a", now + 5_000 + 30_000)
    assert storage.acquire_lock("report", "owner-b", TTL_MS, now + TTL_MS + 1) is False


def test_extend_by_another_owner_changes_nothing(storage: Storage) -> None:
    now = now_ms()
    assert storage.acquire_lock("report", "owner-a", TTL_MS, now)
    assert storage.extend_lock("report", "owner-b", 60_000, now + 1) is False
    assert storage.lock_info("report", now + 2) == LockInfo("report", "owner-a", now, now + TTL_MS)


def test_extend_of_a_free_or_expired_lock_is_false(storage: Storage) -> None:
    now = now_ms()
    assert storage.extend_lock("never-taken", "owner-a", TTL_MS, now) is False
    assert storage.lock_info("never-taken", now) is None
    assert storage.acquire_lock("report", "owner-a", TTL_MS, now)
    assert storage.extend_lock("report", "owner-a", TTL_MS, now + TTL_MS + 1) is False
    assert storage.lock_info("report", now + TTL_MS + 1) is None


def test_release_frees_the_lock_for_the_owner_only(storage: Storage) -> None:
    now = now_ms()
    assert storage.acquire_lock("report", "owner-a", TTL_MS, now)
    assert storage.release_lock("report", "owner-b") is False
    assert storage.lock_info("report", now) is not None
    assert storage.release_lock("report", "owner-a") is True
    assert storage.lock_info("report", now) is None
    assert storage.release_lock("report", "owner-a") is False
    assert storage.acquire_lock("report", "owner-b", TTL_MS, now + 1) is True


def test_release_of_an_unknown_lock_is_false(storage: Storage) -> None:
    assert storage.release_lock("no-such-lock", "owner-a") is False


def test_locks_are_independent_by_name(storage: Storage) -> None:
    now = now_ms()
    assert storage.acquire_lock("a", "owner-a", TTL_MS, now)
    assert storage.acquire_lock("b", "owner-a", TTL_MS, now)
    assert storage.acquire_lock("a-b", "owner-b", TTL_MS, now)
    assert storage.release_lock("a", "owner-a")
    assert storage.lock_info("b", now) is not None
    assert storage.lock_info("a-b", now) is not None


def test_locks_are_shared_by_two_storage_objects(
    backend_storage_pair: tuple[Storage, Storage],
) -> None:
    one, two = backend_storage_pair
    now = now_ms()
    assert one.acquire_lock("shared", "owner-a", TTL_MS, now)
    assert two.acquire_lock("shared", "owner-b", TTL_MS, now + 1) is False
    assert two.lock_info("shared", now + 1) == LockInfo("shared", "owner-a", now, now + TTL_MS)
    assert two.extend_lock("shared", "owner-a", TTL_MS, now + 2) is True
    assert two.release_lock("shared", "owner-a") is True
    assert one.lock_info("shared", now + 3) is None


def test_racing_storages_get_one_lock_holder(backend: Backend) -> None:
    storages = open_storages(backend, 4)
    now = now_ms()
    owners = [f"owner-{index}" for index in range(len(storages))]
    won = race(
        storages,
        lambda s: s.acquire_lock("contended", owners[storages.index(s)], TTL_MS, now),
    )
    assert won.count(True) == 1, won
    info = storages[0].lock_info("contended", now)
    assert info is not None and info.owner_id == owners[won.index(True)]


@pytest.mark.parametrize(
    ("name", "owner_id", "ttl_ms"),
    [
        ("report", "owner-b", 0),
        ("report", "owner-b", -1_000),
        ("", "owner-b", TTL_MS),
        ("report", "", TTL_MS),
        (None, "owner-b", TTL_MS),
    ],
)
def test_locks_reject_bad_input(
    storage: Storage, name: object, owner_id: object, ttl_ms: object
) -> None:
    now = now_ms()
    assert storage.acquire_lock("report", "owner-a", TTL_MS, now)
    later = now + TTL_MS + 1  # the lock has expired: only bad input can stop a take-over
    with pytest.raises((ValueError, TypeError)):
        storage.acquire_lock(name, owner_id, ttl_ms, later)  # type: ignore[arg-type]
    assert storage.lock_info("report", now) == LockInfo("report", "owner-a", now, now + TTL_MS)


@pytest.mark.parametrize("ttl_ms", [0, -1, 2.5])
def test_extend_rejects_a_bad_ttl(storage: Storage, ttl_ms: object) -> None:
    now = now_ms()
    assert storage.acquire_lock("report", "owner-a", TTL_MS, now)
    with pytest.raises((ValueError, TypeError)):
        storage.extend_lock("report", "owner-a", ttl_ms, now + 1)  # type: ignore[arg-type]
    assert storage.lock_info("report", now) == LockInfo("report", "owner-a", now, now + TTL_MS)
