"""Retry budgets and ``on_excess="drop"`` on the prefork and async pools (the thread pool:
tests/api/backends/): the budget is decided where outcomes are, in the worker process, and a
drop happens at claim, before any pool sees the job; so both hold whatever runs the task."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.backends.support import AppModule, record_of
from tests.helpers import wait_until

APP_SOURCE = """
import os

from taskito import Queue, TaskMiddleware


class Hooks(TaskMiddleware):
    def __init__(self):
        self.calls = []

    def on_retry(self, ctx, error, retry_count):
        self.calls.append(("on_retry", ctx.id, os.getpid(), str(error)))

    def on_dead_letter(self, ctx, error):
        self.calls.append(("on_dead_letter", ctx.id, os.getpid(), str(error)))


hooks = Hooks()
queue = Queue(**OPTIONS, middleware=[hooks])


@queue.task(name="flaky", max_retries=5, retry_backoff=0.01, retry_budget="1/h")
def flaky():
    raise RuntimeError(f"down in {os.getpid()}")


@queue.task(name="aflaky", max_retries=5, retry_backoff=0.01, retry_budget="1/h")
async def aflaky():
    raise RuntimeError(f"down in {os.getpid()}")


@queue.task(name="shed", rate_limit="1/h", on_excess="drop")
def shed():
    return os.getpid()


@queue.task(name="ashed", rate_limit="1/h", on_excess="drop")
async def ashed():
    return os.getpid()
"""


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppModule]:
    monkeypatch.chdir(tmp_path)  # prefork children import the app from the working directory
    options = {"db_path": str(tmp_path / "jobs.db")}
    module = AppModule(tmp_path, "overload_app_", APP_SOURCE.replace("OPTIONS", repr(options)))
    try:
        yield module
    finally:
        module.close()


def _finished(app: AppModule, job_ids: list[str]) -> bool:
    return all(record_of(app.queue, job_id).status in ("complete", "dead") for job_id in job_ids)


@pytest.mark.parametrize(("pool", "prefix"), [("prefork", ""), ("async", "a")])
def test_budget_and_drop_hold_on_the_pool(app: AppModule, pool: str, prefix: str) -> None:
    queue = app.queue
    flaky = [queue.enqueue(f"{prefix}flaky", max_retries=5) for _ in range(2)]
    shed = [queue.enqueue(f"{prefix}shed") for _ in range(2)]
    ids = [job.id for job in (*flaky, *shed)]
    with app.run(pool):
        wait_until(lambda: _finished(app, ids), timeout_s=60, message="every job finished")
        hooks: list[tuple[Any, ...]] = app.module.hooks.calls
        wait_until(lambda: len(hooks) == 3, message="one on_retry and two on_dead_letter")
    records = [record_of(queue, job.id) for job in flaky]
    assert [record.status for record in records] == ["dead", "dead"]
    assert sorted(record.retry_count for record in records) == [0, 1]
    assert all(record.error.startswith("retry_budget_exhausted: ") for record in records)
    assert sorted(call[0] for call in hooks) == ["on_dead_letter", "on_dead_letter", "on_retry"]
    assert {call[2] for call in hooks} == {os.getpid()}  # decided in the worker process
    assert all(
        call[3].startswith("retry_budget_exhausted: ")
        for call in hooks
        if call[0] == "on_dead_letter"
    )
    shed_records = sorted((record_of(queue, job.id) for job in shed), key=lambda r: r.status)
    assert [record.status for record in shed_records] == ["complete", "dead"]
    assert shed_records[1].error == (
        f"rate_limit: task '{prefix}shed' is over its dispatch rate limit, and its on_excess "
        "is drop"
    )
    assert shed_records[1].retry_count == 0
    ran_in = queue.get_job(shed_records[0].id).result(5)  # type: ignore[union-attr]
    assert (ran_in != os.getpid()) is (pool == "prefork")
