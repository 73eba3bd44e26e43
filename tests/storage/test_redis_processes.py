"""What only the Redis backend promises to processes and hosts that share a prefix: claims in
four processes never overlap, a write wakes a waiter in another process within milliseconds,
racing processes fire each periodic slot once and never take two rate slots within an
interval, and a host whose clock runs fast does not take live jobs (leases follow the server's
clock)."""

from __future__ import annotations

import itertools
import statistics
import subprocess
import sys
import textwrap
import time

from taskito.job import JobStatus, now_ms
from tests.helpers import wait_until
from tests.storage.factories import make_job
from tests.storage.redis_support import (  # noqa: F401  (fixtures)
    OpenRedis,
    fixture_client,
    fixture_open_redis,
    fixture_redis_url,
    make_schedule,
    run_released_together,
)

# --- across processes ---------------------------------------------------------------------


def _child_source(redis_url: str, prefix: str, body: str) -> str:
    return (
        "import json, os, sys, time\n"
        "from taskito.job import now_ms\n"
        "from taskito.storage.redis import RedisStorage\n"
        f"storage = RedisStorage({redis_url!r}, prefix={prefix!r})\n"
        + textwrap.dedent(body)
        + "\nstorage.close()\n"
    )


def _start_child(redis_url: str, prefix: str, body: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _child_source(redis_url, prefix, body)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_four_claiming_processes_get_disjoint_jobs(open_redis: OpenRedis, redis_url: str) -> None:
    storage = open_redis()
    jobs = storage.enqueue_many([make_job() for _ in range(2_000)])
    body = """
        print("ready", flush=True)
        sys.stdin.readline()
        mine = []
        worker_id = f"w{os.getpid()}"
        while batch := storage.claim(worker_id, None, None, 25, now_ms(), 30_000):
            mine += [job.id for job in batch]
        print(json.dumps(mine), flush=True)
    """
    claimed = run_released_together(_child_source(redis_url, storage.prefix, body), 4)
    every = [job_id for ids in claimed for job_id in ids]
    assert len(every) == len(set(every)) == len(jobs)
    assert set(every) == {job.id for job in jobs}
    assert sum(1 for ids in claimed if ids) >= 2, "the claims were not concurrent"


def test_a_write_wakes_a_waiter_in_another_process_within_milliseconds(
    open_redis: OpenRedis, redis_url: str
) -> None:
    storage = open_redis()
    rounds = 7
    child = _start_child(
        redis_url,
        storage.prefix,
        f"""
        storage.wait_for_change(0)
        print("ready", flush=True)
        for _ in range({rounds}):
            sys.stdin.readline()
            woke = storage.wait_for_change(5)
            print(time.monotonic(), woke, flush=True)
        """,
    )
    latencies: list[float] = []
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        for _ in range(rounds):
            child.stdin.write("next\n")
            child.stdin.flush()
            # Not a synchronisation (a change before the wait counts too): a pause so that the
            # child is blocked in its wait and the figure is the pub/sub wake-up itself.
            time.sleep(0.02)
            storage.enqueue(make_job())
            written_at = time.monotonic()
            woke_at, woke = child.stdout.readline().split()
            assert woke == "True"
            latencies.append(float(woke_at) - written_at)
    finally:
        _, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert statistics.median(latencies) < 0.02, latencies
    assert max(latencies) < 0.5, latencies


# --- racing for flow-control slots ----------------------------------------------------------------

_CHILD = """
import json, sys
from taskito.ids import new_job_id
from taskito.job import NewJob
from taskito.storage.redis import RedisStorage

storage = RedisStorage({url!r}, prefix={prefix!r})
print("ready", flush=True)
sys.stdin.readline()
base = {base}
done = []
{body}
print(json.dumps(done), flush=True)
storage.close()
"""

_FIRE_EVERY_SLOT = """
for slot in range({slots}):
    job = NewJob(new_job_id(), "periodic", "tests.tick", b"()", 0, base, base, 0, None)
    if storage.fire_periodic("tick", base + slot, base + slot + 1, job) is not None:
        done.append(slot)
"""

_TAKE_RATE_SLOTS = """
for offset in range({span}):
    if storage.take_rate_slot("hot", {interval}, base + offset) is None:
        done.append(offset)
"""


def _race_processes(url: str, prefix: str, body: str, base: int, count: int = 4) -> list[list[int]]:
    """Start ``count`` interpreters that run ``body`` on the prefix, released together once
    all are connected; return what each put in ``done``."""
    source = _CHILD.format(url=url, prefix=prefix, base=base, body=textwrap.dedent(body))
    return run_released_together(source, count)


def test_processes_racing_over_periodic_slots_fire_each_slot_once(
    open_redis: OpenRedis, redis_url: str
) -> None:
    storage = open_redis()
    base, slots = now_ms(), 60
    storage.register_periodic(make_schedule("tick", base))
    fired = _race_processes(redis_url, storage.prefix, _FIRE_EVERY_SLOT.format(slots=slots), base)
    every = sorted(slot for one in fired for slot in one)
    assert every == list(range(slots)), fired
    assert storage.count_jobs()[JobStatus.PENDING] == slots
    (stored,) = storage.periodic_schedules()
    assert (stored.last_run, stored.next_run) == (base + slots - 1, base + slots)


def test_processes_racing_for_rate_slots_never_take_two_within_an_interval(
    open_redis: OpenRedis, redis_url: str
) -> None:
    storage = open_redis()
    interval = 10
    body = _TAKE_RATE_SLOTS.format(span=400, interval=interval)
    taken = sorted(
        offset for one in _race_processes(redis_url, storage.prefix, body, 0) for offset in one
    )
    assert taken, "no process took a slot"
    gaps = [later - earlier for earlier, later in itertools.pairwise(taken)]
    assert all(gap >= interval for gap in gaps), taken
    assert storage.take_rate_slot("hot", interval, taken[-1]) == taken[-1] + interval


# --- leases on the server's clock ---------------------------------------------------------


def test_a_host_with_a_fast_clock_does_not_take_live_jobs(open_redis: OpenRedis) -> None:
    """Host B's clock runs 10 s ahead: it passes its own ``now``, and its measured offset to
    the server clock is 10 s smaller (set here, since one machine has one clock)."""
    host_a = open_redis()
    host_b = open_redis(host_a.prefix)
    skew_ms = 10_000
    true_offset = host_b._conn.clock_offset_ms()
    host_b._conn.clock_offset_ms = lambda: true_offset - skew_ms  # type: ignore[method-assign]
    job = host_a.enqueue(make_job())
    (claimed,) = host_a.claim("w-a", None, None, 1, now_ms(), 300)
    assert claimed.id == job.id and claimed.lease_expires_at is not None
    assert host_b.requeue_expired(now_ms() + skew_ms) == []
    seen_by_b = host_b.get_job(job.id)
    assert seen_by_b is not None
    assert seen_by_b.lease_expires_at == claimed.lease_expires_at + skew_ms
    requeued = wait_until(lambda: host_b.requeue_expired(now_ms() + skew_ms), timeout_s=5)
    assert [record.id for record in requeued] == [job.id]
