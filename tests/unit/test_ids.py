"""UUIDv7 job ids: format, version and variant bits, ordering, counter overflow, threads."""

from __future__ import annotations

import itertools
import os
import re
import select
import signal
import threading
import time
import types
import uuid
import warnings

import pytest

from taskito import ids
from taskito.ids import job_id_time_ms, new_job_id, new_job_ids

CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_id_is_canonical_lowercase_uuid7() -> None:
    job_id = new_job_id()

    assert len(job_id) == 36
    assert CANONICAL.fullmatch(job_id)
    parsed = uuid.UUID(job_id)
    assert str(parsed) == job_id
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_timestamp_is_the_creation_time_in_ms() -> None:
    before_ms = time.time_ns() // 1_000_000
    job_id = new_job_id()
    after_ms = time.time_ns() // 1_000_000

    assert before_ms <= job_id_time_ms(job_id) <= after_ms


def test_100k_ids_are_unique_and_strictly_increasing() -> None:
    generated = [new_job_id() for _ in range(100_000)]

    assert all(a < b for a, b in itertools.pairwise(generated))
    # The string order is the integer order, so databases that sort UUIDs agree.
    as_ints = [uuid.UUID(job_id).int for job_id in generated]
    assert as_ints == sorted(as_ints)
    assert len(set(generated)) == len(generated)


def test_every_id_keeps_the_version_and_variant_bits() -> None:
    for _ in range(2_000):
        parsed = uuid.UUID(new_job_id())
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122


def _freeze_clock(monkeypatch: pytest.MonkeyPatch, ms: int) -> None:
    """Stop the clock ``ids`` reads at ``ms``; restore its counter state afterwards."""
    monkeypatch.setattr(ids, "time", types.SimpleNamespace(time_ns=lambda: ms * 1_000_000))
    monkeypatch.setattr(ids, "_last_ms", ids._last_ms)
    monkeypatch.setattr(ids, "_counter", ids._counter)


def test_counter_overflow_within_one_ms_borrows_the_next_ms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen_ms = time.time_ns() // 1_000_000 + 1
    _freeze_clock(monkeypatch, frozen_ms)

    generated = [new_job_id() for _ in range(5_000)]  # more than the 4096 counter values

    assert all(a < b for a, b in itertools.pairwise(generated))
    stamps = [job_id_time_ms(job_id) for job_id in generated]
    assert stamps[0] == frozen_ms
    assert stamps[-1] in (frozen_ms + 1, frozen_ms + 2)
    assert all(uuid.UUID(job_id).version == 7 for job_id in generated)


def test_ids_keep_increasing_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    now_ms = time.time_ns() // 1_000_000 + 1
    _freeze_clock(monkeypatch, now_ms)
    first = new_job_id()

    _freeze_clock(monkeypatch, now_ms - 60_000)
    later = [new_job_id() for _ in range(100)]

    assert first < later[0]
    assert all(a < b for a, b in itertools.pairwise(later))
    assert all(job_id_time_ms(job_id) >= now_ms for job_id in later)


def test_threads_never_share_a_timestamp_and_counter() -> None:
    per_thread: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(len(per_thread))

    def work(out: list[str]) -> None:
        start.wait()
        out.extend(new_job_id() for _ in range(10_000))

    threads = [threading.Thread(target=work, args=(out,)) for out in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = [job_id for out in per_thread for job_id in out]
    for out in per_thread:
        assert all(a < b for a, b in itertools.pairwise(out))
    # Timestamp + version + counter (the first 18 characters) is unique per id when the
    # counter is updated atomically; rand_b alone would hide a race.
    assert len({job_id[:18] for job_id in everything}) == len(everything)


def test_job_id_time_ms_reads_a_known_id() -> None:
    # RFC 9562 appendix A.6 example: 2022-02-22 19:22:22 UTC = 0x017F22E279B0 ms.
    assert job_id_time_ms("017f22e2-79b0-7cc3-98c4-dc0c0c07398f") == 0x017F22E279B0
    assert job_id_time_ms("017F22E2-79B0-7CC3-98C4-DC0C0C07398F") == 0x017F22E279B0


@pytest.mark.parametrize(
    "bad",
    [
        str(uuid.uuid4()),
        str(uuid.uuid1()),
        "017f22e2-79b0-7cc3-08c4-dc0c0c07398f",  # variant bits 0b0...
        "017f22e279b07cc398c4dc0c0c07398f",  # no dashes
        "017f22e2-79b0-7cc3-98c4-dc0c0c07398f\n",
        "017f22e2-79b0-7cc3-98c4-dc0c0c07398",
        "not-a-uuid",
        "",
    ],
)
def test_job_id_time_ms_rejects_non_v7_ids(bad: str) -> None:
    with pytest.raises(ValueError, match="not a UUIDv7 job id"):
        job_id_time_ms(bad)


def test_job_id_time_ms_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="job_id must be a str"):
        job_id_time_ms(uuid.uuid4())  # type: ignore[arg-type]


def test_a_forked_child_can_make_ids_while_a_parent_thread_held_the_lock() -> None:
    held = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        with ids._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert held.wait(5)
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():
            # Python warns about fork() in a multi-threaded process; that is the point here.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # child: must not block on the parent's held lock
            os.close(read_end)
            os.write(write_end, new_job_id().encode())
            os._exit(0)
        os.close(write_end)
        try:
            ready, _, _ = select.select([read_end], [], [], 10.0)
            child_id = os.read(read_end, 64).decode() if ready else ""
            if not ready:
                os.kill(pid, signal.SIGKILL)  # it hung on the inherited lock
        finally:
            os.close(read_end)
            _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join()

    assert os.waitstatus_to_exitcode(status) == 0
    assert CANONICAL.fullmatch(child_id)


def test_ids_made_in_bulk_continue_the_single_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    frozen_ms = time.time_ns() // 1_000_000 + 1
    _freeze_clock(monkeypatch, frozen_ms)

    # One id, a batch that runs past the 4096 counter values of a millisecond, one id more.
    generated = [new_job_id(), *new_job_ids(9_000), new_job_id(), *new_job_ids(3)]

    assert len(generated) == 9_005
    assert all(a < b for a, b in itertools.pairwise(generated))
    assert all(CANONICAL.fullmatch(job_id) for job_id in generated)
    assert all(uuid.UUID(job_id).version == 7 for job_id in generated)
    stamps = [job_id_time_ms(job_id) for job_id in generated]
    assert stamps[0] == frozen_ms
    assert frozen_ms + 2 <= stamps[-1] <= frozen_ms + 4


def test_ids_in_bulk_after_the_clock_steps_back_keep_increasing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now_ms = time.time_ns() // 1_000_000 + 1
    _freeze_clock(monkeypatch, now_ms)
    first = new_job_id()
    _freeze_clock(monkeypatch, now_ms - 60_000)

    later = new_job_ids(50)

    assert first < later[0]
    assert all(a < b for a, b in itertools.pairwise(later))


@pytest.mark.parametrize("count", [0, -3])
def test_no_ids_in_bulk_for_a_count_below_one(count: int) -> None:
    assert new_job_ids(count) == []


def test_bulk_ids_from_threads_never_collide() -> None:
    batches: list[list[str]] = []
    lock = threading.Lock()

    def make() -> None:
        made = [new_job_ids(500) for _ in range(20)]
        with lock:
            batches.extend(made)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [job_id for batch in batches for job_id in batch]
    assert len(set(every)) == len(every) == 4 * 20 * 500
    assert all(batch == sorted(batch) for batch in batches)
