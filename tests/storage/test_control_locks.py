"""Contract: distributed locks (acquire_lock, extend_lock, release_lock, lock_held, lock_info).

A lock's expiry is on the storage's clock (read inside the statement or script), so these
tests let real time pass with short ttls instead of passing a later ``now``. Every
acquisition returns a fencing token that only grows per lock name, across releases and
take-overs.
"""

from __future__ import annotations

import pytest

from taskito.job import now_ms
from taskito.storage.base import Storage
from taskito.storage.control import LockInfo
from tests.helpers import wait_until
from tests.storage.factories import Backend, open_storages, race

TTL_MS = 10_000
SHORT_MS = 300  # a lock that expires within the test
# LockInfo times are the storage's clock shown on this host's (offset measured, as leases):
# they match the caller's clock up to the measurement's error.
CLOCK_SLACK_MS = 1_000


def _take(storage: Storage, name: str, owner: str, ttl_ms: int = TTL_MS) -> int:
    token = storage.acquire_lock(name, owner, ttl_ms)
    assert token is not None, f"{owner} could not take {name}"
    return token


def _expire(storage: Storage, name: str) -> None:
    wait_until(lambda: storage.lock_info(name) is None, 5, message=f"{name} expired")


def _assert_holder(
    storage: Storage, name: str, owner: str, token: int, ttl_ms: int, taken_at: int
) -> LockInfo:
    info = storage.lock_info(name)
    assert info is not None
    assert (info.name, info.owner_id, info.fencing_token) == (name, owner, token)
    assert info.expires_at - info.acquired_at == ttl_ms
    assert abs(info.acquired_at - taken_at) <= CLOCK_SLACK_MS
    return info


def test_acquire_a_free_lock(storage: Storage) -> None:
    assert storage.lock_info("report") is None
    before = now_ms()
    token = _take(storage, "report", "owner-a")
    assert token >= 1
    _assert_holder(storage, "report", "owner-a", token, TTL_MS, before)
    assert storage.lock_held("report", "owner-a", token) is True


def test_a_held_lock_is_refused_to_others_and_to_its_owner(storage: Storage) -> None:
    token = _take(storage, "report", "owner-a")
    assert storage.acquire_lock("report", "owner-b", TTL_MS) is None
    assert storage.acquire_lock("report", "owner-a", TTL_MS) is None
    info = storage.lock_info("report")
    assert info is not None and (info.owner_id, info.fencing_token) == ("owner-a", token)


def test_an_expired_lock_is_free_for_another_owner_with_a_greater_token(
    storage: Storage,
) -> None:
    first = _take(storage, "report", "owner-a", SHORT_MS)
    _expire(storage, "report")
    assert storage.lock_held("report", "owner-a", first) is False
    before = now_ms()
    second = _take(storage, "report", "owner-b", 500)
    assert second > first
    _assert_holder(storage, "report", "owner-b", second, 500, before)


def test_the_old_owner_cannot_touch_a_lock_taken_over_after_expiry(storage: Storage) -> None:
    old = _take(storage, "report", "owner-a", SHORT_MS)
    _expire(storage, "report")
    new = _take(storage, "report", "owner-b")
    assert storage.extend_lock("report", "owner-a", old, TTL_MS) is False
    assert storage.release_lock("report", "owner-a", old) is False
    assert storage.lock_held("report", "owner-a", old) is False
    assert storage.lock_held("report", "owner-b", new) is True


def test_the_same_owner_reacquiring_gets_a_new_token_and_the_old_one_is_void(
    storage: Storage,
) -> None:
    old = _take(storage, "report", "owner-a", SHORT_MS)
    _expire(storage, "report")
    new = _take(storage, "report", "owner-a")
    assert new > old
    assert storage.lock_held("report", "owner-a", old) is False
    assert storage.extend_lock("report", "owner-a", old, TTL_MS) is False
    assert storage.release_lock("report", "owner-a", old) is False
    assert storage.lock_held("report", "owner-a", new) is True


def test_tokens_keep_growing_across_releases(storage: Storage) -> None:
    tokens = []
    for owner in ("owner-a", "owner-b", "owner-a"):
        token = _take(storage, "report", owner)
        tokens.append(token)
        assert storage.release_lock("report", owner, token) is True
    assert tokens == sorted(set(tokens)) and len(tokens) == 3
    assert _take(storage, "other-name", "owner-a") >= 1


def test_extend_pushes_the_expiry_for_the_holder(storage: Storage) -> None:
    token = _take(storage, "report", "owner-a", SHORT_MS)
    before = now_ms()
    assert storage.extend_lock("report", "owner-a", token, 30_000) is True
    info = storage.lock_info("report")
    assert info is not None and info.fencing_token == token
    assert abs(info.expires_at - (before + 30_000)) <= CLOCK_SLACK_MS
    wait_until(lambda: now_ms() > before + 2 * SHORT_MS, 5)
    assert storage.lock_held("report", "owner-a", token) is True
    assert storage.acquire_lock("report", "owner-b", TTL_MS) is None


def test_extend_by_another_owner_or_token_changes_nothing(storage: Storage) -> None:
    token = _take(storage, "report", "owner-a")
    before = storage.lock_info("report")
    assert storage.extend_lock("report", "owner-b", token, 60_000) is False
    assert storage.extend_lock("report", "owner-a", token + 1, 60_000) is False
    assert storage.lock_info("report") == before


def test_extend_of_a_free_or_expired_lock_is_false(storage: Storage) -> None:
    assert storage.extend_lock("never-taken", "owner-a", 1, TTL_MS) is False
    assert storage.lock_info("never-taken") is None
    token = _take(storage, "report", "owner-a", SHORT_MS)
    _expire(storage, "report")
    assert storage.extend_lock("report", "owner-a", token, TTL_MS) is False
    assert storage.lock_info("report") is None


def test_release_frees_the_lock_for_the_holder_only(storage: Storage) -> None:
    token = _take(storage, "report", "owner-a")
    assert storage.release_lock("report", "owner-b", token) is False
    assert storage.release_lock("report", "owner-a", token + 1) is False
    assert storage.lock_info("report") is not None
    assert storage.release_lock("report", "owner-a", token) is True
    assert storage.lock_info("report") is None
    assert storage.lock_held("report", "owner-a", token) is False
    assert storage.release_lock("report", "owner-a", token) is False
    assert _take(storage, "report", "owner-b") > token


def test_release_of_an_unknown_lock_is_false(storage: Storage) -> None:
    assert storage.release_lock("no-such-lock", "owner-a", 1) is False
    assert storage.lock_held("no-such-lock", "owner-a", 1) is False


def test_locks_are_independent_by_name(storage: Storage) -> None:
    a = _take(storage, "a", "owner-a")
    _take(storage, "b", "owner-a")
    _take(storage, "a-b", "owner-b")
    assert storage.release_lock("a", "owner-a", a)
    assert storage.lock_info("b") is not None
    assert storage.lock_info("a-b") is not None


def test_locks_are_shared_by_two_storage_objects(
    backend_storage_pair: tuple[Storage, Storage],
) -> None:
    one, two = backend_storage_pair
    token = _take(one, "shared", "owner-a")
    assert two.acquire_lock("shared", "owner-b", TTL_MS) is None
    info = two.lock_info("shared")
    assert info is not None and (info.owner_id, info.fencing_token) == ("owner-a", token)
    assert two.lock_held("shared", "owner-a", token) is True
    assert two.extend_lock("shared", "owner-a", token, TTL_MS) is True
    assert two.release_lock("shared", "owner-a", token) is True
    assert one.lock_info("shared") is None


def test_racing_storages_get_one_lock_holder(backend: Backend) -> None:
    storages = open_storages(backend, 4)
    owners = [f"owner-{index}" for index in range(len(storages))]
    won = race(storages, lambda s: s.acquire_lock("contended", owners[storages.index(s)], TTL_MS))
    winners = [index for index, token in enumerate(won) if token is not None]
    assert len(winners) == 1, won
    info = storages[0].lock_info("contended")
    assert info is not None and info.owner_id == owners[winners[0]]
    assert info.fencing_token == won[winners[0]]


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
    token = _take(storage, "report", "owner-a", SHORT_MS)
    _expire(storage, "report")  # only bad input can stop a take-over now
    with pytest.raises((ValueError, TypeError)):
        storage.acquire_lock(name, owner_id, ttl_ms)  # type: ignore[arg-type]
    assert storage.lock_info("report") is None
    assert _take(storage, "report", "owner-c") == token + 1  # the refused call took no token


@pytest.mark.parametrize(
    ("token", "ttl_ms"), [(1, 0), (1, -1), (1, 2.5), (0, TTL_MS), (-1, TTL_MS), (None, TTL_MS)]
)
def test_extend_rejects_a_bad_ttl_or_token(storage: Storage, token: object, ttl_ms: object) -> None:
    held = _take(storage, "report", "owner-a")
    before = storage.lock_info("report")
    with pytest.raises((ValueError, TypeError)):
        storage.extend_lock("report", "owner-a", token, ttl_ms)  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError)):
        storage.lock_held("report", "owner-a", "1")  # type: ignore[arg-type]
    assert storage.lock_info("report") == before
    assert storage.lock_held("report", "owner-a", held)
