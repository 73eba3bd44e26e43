"""``OverrideSnapshot`` on a real SQLite storage: it re-reads settings at most once per
``refresh_s``, skips a stored record that does not parse, and applies a task's override to a
claimed job (rate limit and cap on its task, timeout on its job, middleware left out)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from taskito import TaskMiddleware
from taskito.registry import ClaimedJob, QueueLimits, RateLimit, TaskSpec
from taskito.storage.sqlite import SqliteStorage
from taskito.worker.overrides import OverrideSnapshot, TaskOverride, override_json
from tests.storage.factories import make_job


class Named(TaskMiddleware):
    name = "named"


class Unnamed(TaskMiddleware):
    pass


def _spec() -> TaskSpec:
    return TaskSpec(name="tests.send", fn=lambda: None)


def test_refresh_reads_at_most_once_per_interval(tmp_path: Path) -> None:
    storage = SqliteStorage(str(tmp_path / "t.db"))
    clock = [100.0]
    snapshot = OverrideSnapshot(storage, refresh_s=1.0, clock=lambda: clock[0])
    snapshot.refresh()
    storage.set_setting("overrides:task:tests.send", override_json(TaskOverride(paused=True)), 1)
    snapshot.refresh()
    assert not snapshot.paused("tests.send")  # within the interval: the cached copy
    clock[0] += 1.0
    snapshot.refresh()
    assert snapshot.paused("tests.send")
    storage.close()


def test_a_record_that_does_not_parse_is_skipped(tmp_path: Path) -> None:
    storage = SqliteStorage(str(tmp_path / "t.db"))
    storage.set_setting("overrides:task:broken", "{not json", 1)
    storage.set_setting("overrides:task:negative", '{"max_concurrent": -1}', 1)
    storage.set_setting("overrides:queue:mail", '{"rate_limit": "2/s"}', 1)
    snapshot = OverrideSnapshot(storage)
    snapshot.refresh()
    assert dict(snapshot.current.tasks) == {}
    assert snapshot.queue_limits("mail", QueueLimits(max_concurrent=4)) == QueueLimits(
        RateLimit(2, 1.0), 4
    )
    assert snapshot.queue_limits("other", None) is None
    storage.close()


def test_resolve_applies_the_override(tmp_path: Path) -> None:
    storage = SqliteStorage(str(tmp_path / "t.db"))
    override = TaskOverride(rate_limit="6/m", max_concurrent=2, timeout=1.5)
    storage.set_setting("overrides:task:tests.send", override_json(override), 1)
    storage.set_setting("middleware:disabled:tests.send", '["named"]', 1)
    snapshot = OverrideSnapshot(storage)
    snapshot.refresh()
    job = storage.enqueue(make_job(task_name="tests.send"))
    unnamed = Unnamed()
    claimed = ClaimedJob(job, _spec(), (Named(), unnamed))
    resolved = snapshot.resolve(claimed)
    assert resolved.spec is not None
    assert (resolved.spec.rate_limit, resolved.spec.max_concurrent) == (RateLimit(6, 60.0), 2)
    assert resolved.job == dataclasses.replace(job, timeout_ms=1500)
    assert resolved.middleware == (unnamed,)
    other = ClaimedJob(storage.enqueue(make_job(task_name="tests.other")), _spec(), ())
    assert snapshot.resolve(other) is other
    storage.close()
