"""What only the PostgreSQL backend promises to processes and hosts that share a schema:
claimers in four processes get disjoint jobs, producers in four enqueue one job per unique
key, NOTIFY wakes a waiter in another process within a few milliseconds, and a host with a
skewed clock agrees on lease expiry (leases follow the server's clock)."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
import types

import pytest

from taskito.job import JobStatus, now_ms
from taskito.storage.base import JobFilter
from taskito.storage.postgres import connections as postgres_connections
from taskito.storage.postgres import queries as postgres_queries
from tests.storage.factories import LEASE_MS, Backend, make_job, start_job
from tests.storage.postgres_support import (  # noqa: F401  (fixtures)
    Schemas,
    fixture_schemas,
    on_postgres,
    run_sql,
)

# --- several processes ------------------------------------------------------------------------

_CLAIM_LOOP = """
import json, os, sys
from taskito.job import now_ms
print("ready", flush=True)
sys.stdin.readline()
claimed = []
while batch := storage.claim(f"w{os.getpid()}", None, None, 7, now_ms(), 30_000):
    claimed.extend(job.id for job in batch)
print(json.dumps(claimed))
"""


def _start_all(backend: Backend, code: str, count: int) -> list[subprocess.Popen[str]]:
    """Start ``count`` processes running ``code``; release them together once all are ready."""
    processes = [backend.start_process(code) for _ in range(count)]
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    return processes


def _outputs(processes: list[subprocess.Popen[str]]) -> list[str]:
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        outputs.append(out.strip())
    return outputs


@on_postgres
def test_claimers_in_four_processes_get_disjoint_jobs(backend: Backend) -> None:
    storage = backend.first()
    jobs = storage.enqueue_many([make_job() for _ in range(400)])
    processes = _start_all(backend, _CLAIM_LOOP, 4)
    claimed = [json.loads(output) for output in _outputs(processes)]
    ids = [job_id for batch in claimed for job_id in batch]
    assert len(ids) == len(set(ids)) == len(jobs)
    assert sum(1 for batch in claimed if batch) >= 2, "one process claimed everything"
    assert storage.count_jobs()[JobStatus.RUNNING] == len(jobs)


_ENQUEUE_UNIQUE = """
import sys
from taskito.ids import new_job_id
from taskito.job import NewJob, now_ms
print("ready", flush=True)
sys.stdin.readline()
now = now_ms()
job = NewJob(id=new_job_id(), queue="default", task_name="t", payload=b"p", priority=0,
             created_at=now, scheduled_at=now, max_retries=0, timeout_ms=None,
             unique_key="one-per-key")
print(storage.enqueue(job).id)
"""


@on_postgres
def test_producers_in_four_processes_enqueue_one_job_per_unique_key(backend: Backend) -> None:
    storage = backend.first()
    outputs = _outputs(_start_all(backend, _ENQUEUE_UNIQUE, 4))
    assert len(set(outputs)) == 1
    (job,) = storage.list_jobs(JobFilter(), 10, 0)
    assert job.id == outputs[0]


_WAIT_AND_REPORT = """
import sys, time
storage.wait_for_change(0)
print("ready", flush=True)
for _ in range(5):
    woke = storage.wait_for_change(10)
    print(f"{woke} {time.time()}", flush=True)
    sys.stdin.readline()
"""


@on_postgres
def test_notify_wakes_a_waiter_in_another_process_within_a_few_ms(backend: Backend) -> None:
    storage = backend.first()
    child = backend.start_process(_WAIT_AND_REPORT)
    latencies_s = []
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        for _ in range(5):
            before = time.time()
            storage.enqueue(make_job())
            woke, at = child.stdout.readline().split()
            assert woke == "True"
            latencies_s.append(float(at) - before)
            child.stdin.write("next\n")
            child.stdin.flush()
    finally:
        child.communicate(timeout=30)
    assert child.returncode == 0
    assert statistics.median(latencies_s) < 0.025, latencies_s
    assert max(latencies_s) < 0.5, latencies_s


# --- leases on the server's clock --------------------------------------------------------------


def test_a_host_with_a_skewed_clock_agrees_on_lease_expiry(
    schemas: Schemas, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = schemas.new_name()
    here = schemas.open(name)
    job = start_job(here, "w-here", max_retries=3)
    assert job.lease_expires_at is not None
    (server_lease,) = run_sql(schemas.url, f"SELECT lease_expires_at FROM {name}.jobs")[0]
    (server_now,) = run_sql(schemas.url, postgres_queries.SERVER_CLOCK_MS)[0]
    assert abs(server_lease - (server_now + LEASE_MS)) < 2_000  # written on the server's clock

    skew_ms = 120_000  # another host whose clock runs two minutes ahead
    real_time_ns = time.time_ns
    skewed_time = types.SimpleNamespace(
        time_ns=lambda: real_time_ns() + skew_ms * 1_000_000, monotonic=time.monotonic
    )
    monkeypatch.setattr(postgres_connections, "time", skewed_time)
    ahead = schemas.open(name)
    monkeypatch.undo()
    ahead_now = now_ms() + skew_ms
    assert ahead.requeue_expired(ahead_now) == []  # its lease has not run out on the server
    seen = ahead.get_job(job.id)
    assert seen is not None and seen.status is JobStatus.RUNNING
    assert seen.lease_expires_at is not None
    assert abs(seen.lease_expires_at - (job.lease_expires_at + skew_ms)) < 2_000
    (requeued,) = ahead.requeue_expired(seen.lease_expires_at + 1)
    assert requeued.id == job.id
