"""Flow control across real ``taskito worker`` processes, on every backend (issue 6, "Done
when"): a rate limit is global (two workers together start "2/s" jobs half a second apart),
and a per-second periodic schedule fires each slot exactly once with two workers running,
including across a worker restart."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from taskito import Queue
from taskito.job import JobRecord, JobStatus
from taskito.storage.base import JobFilter
from tests.backends import BACKEND_NAMES, QueueTarget, queue_target
from tests.e2e.test_many_workers import stop_workers
from tests.helpers import wait_until

APP = """
import json
import os

from taskito import Queue

queue = Queue(**json.loads(os.environ["TASKITO_E2E_QUEUE"]))


@queue.task(name="flow.limited", rate_limit="2/s")
def limited(number):
    return number


@queue.periodic(cron="* * * * * *", name="flow.tick", queue="ticks")
def tick():
    return "tock"
"""
MODULE = "flow_app"


@pytest.fixture(params=BACKEND_NAMES)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueTarget]:
    chosen = queue_target(request.param, tmp_path)
    try:
        yield chosen
    finally:
        chosen.cleanup()


def start_worker(target: QueueTarget, root: Path) -> subprocess.Popen[bytes]:
    app = root / f"{MODULE}.py"
    if not app.exists():
        app.write_text(textwrap.dedent(APP))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKITO_")}
    env["TASKITO_E2E_QUEUE"] = target.as_json()
    command = [sys.executable, "-m", "taskito", "worker", "--app", f"{MODULE}:queue"]
    with open(root / "workers.log", "ab") as log:  # a file: a full pipe would block a worker
        return subprocess.Popen(
            [*command, "--workers", "2"], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=log
        )


def jobs_of(queue: Queue, task_name: str) -> list[JobRecord]:
    records = queue._storage.list_jobs(JobFilter(any_namespace=True), 10_000, 0)
    return [r for r in records if r.task_name == task_name]


def wait_or_report(predicate: Callable[[], object], root: Path, what: str) -> None:
    """``wait_until`` (60 s), failing with the tail of the workers' log."""
    try:
        wait_until(predicate, 60, 0.05, message=what)
    except AssertionError as exc:
        log = root / "workers.log"
        tail = log.read_text()[-3000:] if log.exists() else "(no worker log)"
        raise AssertionError(f"{exc}\nworkers.log:\n{tail}") from None


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_workers_share_one_rate_limit(target: QueueTarget, tmp_path: Path) -> None:
    queue = Queue(**target.kwargs)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        ids = [queue.enqueue("flow.limited", args=(n,)).id for n in range(4)]
        workers = [start_worker(target, tmp_path) for _ in range(2)]

        def all_complete() -> bool:
            return all(queue._storage.get_job(i).status is JobStatus.COMPLETE for i in ids)  # type: ignore[union-attr]

        wait_or_report(all_complete, tmp_path, "4 jobs complete")
        records = [queue._storage.get_job(i) for i in ids]
        assert all(r is not None and r.retry_count == 0 for r in records)
        # A slot is taken at the claim's time, which is the admitted attempt's started_at.
        started = sorted(r.started_at or 0 for r in records if r is not None)
        gaps = [b - a for a, b in itertools.pairwise(started)]
        assert started[-1] - started[0] >= 1500, gaps
        assert all(gap >= 500 for gap in gaps), gaps
    finally:
        stop_workers(workers)
        queue.close()


def slots_fired(queue: Queue) -> list[int]:
    keys = [r.unique_key or "" for r in jobs_of(queue, "flow.tick")]
    return [int(key.rsplit(":", 1)[1]) for key in keys]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_workers_fire_each_periodic_slot_once_across_a_restart(
    target: QueueTarget, tmp_path: Path
) -> None:
    queue = Queue(**target.kwargs)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers = [start_worker(target, tmp_path) for _ in range(2)]
        wait_or_report(lambda: len(slots_fired(queue)) >= 5, tmp_path, "5 slots fired")
        stop_workers(workers[:1])  # a graceful restart of one worker, midway
        workers[0] = start_worker(target, tmp_path)
        before = len(slots_fired(queue))
        wait_or_report(
            lambda: len(slots_fired(queue)) >= before + 6, tmp_path, "6 more slots fired"
        )
        stop_workers(workers)
        slots = slots_fired(queue)
        duplicated = {slot: n for slot, n in Counter(slots).items() if n > 1}
        assert not duplicated, f"slots fired more than once: {duplicated}"
        ordered = sorted(slots)
        assert len(ordered) >= 11
        assert all(slot % 1000 == 0 for slot in ordered)
        # One worker ran throughout, so no slot in the window was skipped.
        assert [b - a for a, b in itertools.pairwise(ordered)] == [1000] * (len(ordered) - 1)
        finished = [r for r in jobs_of(queue, "flow.tick") if r.status is JobStatus.COMPLETE]
        assert len(finished) >= len(ordered) - 2  # the last slots may still be pending
    finally:
        stop_workers(workers)
        queue.close()
