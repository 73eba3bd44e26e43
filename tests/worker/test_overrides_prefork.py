"""A RUNNING prefork worker picks up a task override without a restart (issue 18): with the
task paused its job is claimed and put back (pending, no retry spent) while another task's
job runs in a child; with the pause lifted it runs. On every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import QueueTarget
from tests.helpers import wait_until
from tests.worker.pool_app import MakeApp, pool_apps


@pytest.fixture
def make_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: QueueTarget
) -> Iterator[MakeApp]:
    yield from pool_apps(tmp_path, monkeypatch, target)


def test_a_running_prefork_worker_applies_a_task_pause(make_app: MakeApp) -> None:
    app = make_app()
    queue = app.queue
    paused_task = app.task("pid")
    other_task = app.task("noisy")
    with app.running("prefork", workers=2) as worker:
        queue.set_task_override(paused_task.name, paused=True)
        wait_until(lambda: worker._overrides.paused(paused_task.name), 10, message="seen")
        held = paused_task.delay()
        other = other_task.delay("hello")
        app.wait_for_status(other.id, "complete")
        wait_until(
            lambda: (
                (job := queue._storage.get_job(held.id)) is not None
                and job.scheduled_at > job.created_at
            ),
            10,
            message="the paused job put back",
        )
        record = queue._storage.get_job(held.id)
        assert record is not None
        assert (app.status(held.id), record.retry_count) == ("pending", 0)
        queue.clear_task_override(paused_task.name)
        app.wait_for_status(held.id, "complete")


def test_a_running_prefork_worker_skips_a_middleware_switched_off(make_app: MakeApp) -> None:
    app = make_app()
    queue = app.queue
    task = app.task("stamped")
    with app.running("prefork", workers=2) as worker:
        first = task.delay()
        app.wait_for_status(first.id, "complete")
        child = queue._storage.get_job(first.id)
        assert child is not None and app.mark(first.id, "stamped") is not None
        queue.disable_middleware_for_task(task.name, "stamp")
        wait_until(
            lambda: worker._overrides.current.disabled_middleware.get(task.name) == {"stamp"},
            10,
            message="the switch seen by the worker",
        )
        second = task.delay()
        app.wait_for_status(second.id, "complete")
        assert app.mark(second.id, "stamped") is None  # the child left it out
        queue.enable_middleware_for_task(task.name, "stamp")
        wait_until(
            lambda: not worker._overrides.current.disabled_middleware.get(task.name),
            10,
            message="the switch lifted",
        )
        third = task.delay()
        app.wait_for_status(third.id, "complete")
        assert app.mark(third.id, "stamped") is not None
