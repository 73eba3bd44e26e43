"""Job ids: RFC 9562 UUIDv7 strings that sort by creation time and strictly increase within
a process, even for ids made in the same millisecond."""

from __future__ import annotations

import os
import random
import re
import threading
import time

_TIMESTAMP_MASK = (1 << 48) - 1
_COUNTER_MAX = 0xFFF  # rand_a is 12 bits
# A new millisecond seeds the counter below 2048, so at least 2048 ids fit in it before the
# counter overflows and borrows the next millisecond (RFC 9562 section 6.2, method 1).
_COUNTER_SEED_MASK = 0x7FF
_RAND_B_MASK = (1 << 62) - 1
_VERSION_BITS = 0x7 << 76
_VARIANT_BITS = 0b10 << 62
_WIDTH_BIT = 1 << 128

_lock = threading.Lock()
_last_ms = 0
_counter = 0
# Ids need uniqueness, not secrecy: a PRNG seeded from the OS per process costs ~0.1 us per
# draw where os.urandom costs a system call.
_random = random.Random(os.urandom(32))


def _new_lock_after_fork() -> None:
    # A thread of the parent may have held the lock at fork time; the child would hang on it.
    # The child also needs its own random stream, or it would repeat the parent's ids.
    global _lock, _random
    _lock = threading.Lock()
    _random = random.Random(os.urandom(32))


os.register_at_fork(after_in_child=_new_lock_after_fork)

_UUID7_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def new_job_id() -> str:
    """A fresh UUIDv7 as the canonical 36-character lowercase string.

    Ids from one process are strictly increasing as strings; ids from different processes
    are ordered by millisecond and kept apart by 62 random bits.
    """
    global _last_ms, _counter
    # 80 random bits: the low 62 are rand_b, the next 11 seed a new millisecond's counter.
    random_bits = _random.getrandbits(80)
    counter_seed = (random_bits >> 62) & _COUNTER_SEED_MASK
    now_ms = time.time_ns() // 1_000_000
    # acquire/release rather than ``with``: this is the hot path of every enqueue.
    _lock.acquire()
    try:
        if now_ms > _last_ms:
            _last_ms = now_ms
            _counter = counter_seed
        else:
            # Same millisecond, or the wall clock stepped back: keep counting from the last id.
            _counter += 1
            if _counter > _COUNTER_MAX:
                _last_ms += 1
                _counter = counter_seed
        value = (
            (_last_ms & _TIMESTAMP_MASK) << 80
            | _VERSION_BITS
            | _counter << 64
            | _VARIANT_BITS
            | random_bits & _RAND_B_MASK
        )
    finally:
        _lock.release()
    return _format(value)


def _format(value: int) -> str:
    # The bit above the 128 keeps leading zeros: hex() gives "0x1" + exactly 32 digits.
    digits = hex(value | _WIDTH_BIT)
    return f"{digits[3:11]}-{digits[11:15]}-{digits[15:19]}-{digits[19:23]}-{digits[23:]}"


def new_job_ids(count: int) -> list[str]:
    """``count`` fresh ids at once, as ``new_job_id`` would make them one by one (strictly
    increasing, after every id made before), for one lock and a tight loop (a batch)."""
    global _last_ms, _counter
    if count <= 0:
        return []
    draw = _random.getrandbits
    randoms = [draw(62) for _ in range(count)]
    now_ms = time.time_ns() // 1_000_000
    # Reserve (millisecond, counter) slots for the whole batch under the lock, then format.
    slots: list[int] = []
    _lock.acquire()
    try:
        last_ms, counter = _last_ms, _counter
        if now_ms > last_ms:
            last_ms, counter = now_ms, draw(11)
        else:
            counter += 1
        remaining = count
        while remaining:
            if counter > _COUNTER_MAX:
                last_ms, counter = last_ms + 1, draw(11)
            take = min(remaining, _COUNTER_MAX + 1 - counter)
            high = (last_ms & _TIMESTAMP_MASK) << 80 | _VERSION_BITS | _VARIANT_BITS | _WIDTH_BIT
            slots.extend(high | c << 64 for c in range(counter, counter + take))
            counter += take
            remaining -= take
        _last_ms, _counter = last_ms, counter - 1
    finally:
        _lock.release()
    ids: list[str] = []
    append = ids.append
    for slot, rand in zip(slots, randoms, strict=True):
        digits = hex(slot | rand)
        append(f"{digits[3:11]}-{digits[11:15]}-{digits[15:19]}-{digits[19:23]}-{digits[23:]}")
    return ids


def job_id_time_ms(job_id: str) -> int:
    """The creation time (ms since the epoch) stored in a UUIDv7 job id."""
    if not isinstance(job_id, str):
        raise TypeError(f"job_id must be a str, not {type(job_id).__name__}")
    if _UUID7_RE.fullmatch(job_id.lower()) is None:
        raise ValueError(f"not a UUIDv7 job id: {job_id!r}")
    return int(job_id[:8] + job_id[9:13], 16)


__all__ = ["job_id_time_ms", "new_job_id", "new_job_ids"]
