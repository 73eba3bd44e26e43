"""What only the Redis backend promises about order: 64-bit priorities are claimed in exact
order, far delays come due exactly when scheduled, and values the scripts could not hold
exactly are refused before anything is written."""

from __future__ import annotations

import random

import pytest

from taskito.job import now_ms
from tests.storage.factories import LEASE_MS, claim_all, make_job
from tests.storage.redis_support import (  # noqa: F401  (fixtures)
    OpenRedis,
    fixture_client,
    fixture_open_redis,
    fixture_redis_url,
)


def test_64_bit_priorities_are_claimed_in_exact_order(open_redis: OpenRedis) -> None:
    storage = open_redis()
    # 2**53 and 2**53 + 1 are one and the same double: a float score could not tell them apart.
    priorities = [2**63 - 1, 2**62, 2**53 + 1, 2**53, 10, 0, -1, -(2**53), -(2**63)]
    shuffled = random.sample(priorities, len(priorities))
    at = now_ms() - 1_000
    storage.enqueue_many([make_job(priority=p, scheduled_at=at) for p in shuffled])
    assert [job.priority for job in claim_all(storage)] == priorities


def test_far_delays_are_due_exactly_when_scheduled(open_redis: OpenRedis) -> None:
    storage = open_redis()
    now = now_ms()
    far = now + 100 * 365 * 24 * 3_600_000  # a century ahead
    late = [storage.enqueue(make_job(scheduled_at=far + n, priority=9)) for n in (2, 0, 1)]
    due = storage.enqueue(make_job(scheduled_at=now))
    assert [job.id for job in storage.claim("w", None, None, 10, now, LEASE_MS)] == [due.id]
    assert storage.claim("w", None, None, 10, far - 1, LEASE_MS) == []
    first_two = storage.claim("w", None, None, 10, far + 1, LEASE_MS)
    assert [job.id for job in first_two] == [late[1].id, late[2].id]
    assert [job.id for job in storage.claim("w", None, None, 10, far + 2, LEASE_MS)] == [late[0].id]


def test_values_the_scripts_cannot_hold_exactly_are_refused(open_redis: OpenRedis) -> None:
    storage = open_redis()
    with pytest.raises(ValueError, match="priority"):
        storage.enqueue(make_job(priority=2**63))
    with pytest.raises(ValueError, match="scheduled_at"):
        storage.enqueue(make_job(scheduled_at=2**53 + 1))
    with pytest.raises(TypeError, match="now"):
        storage.claim("w", None, None, 1, 1.5, LEASE_MS)  # type: ignore[arg-type]
    assert sum(storage.count_jobs().values()) == 0
