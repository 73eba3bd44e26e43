"""Retry budgets on every backend (``@queue.task(retry_budget=...)``, issue 18): retries of all
of a task's jobs share one budget in storage; a failure that finds it spent is dead-lettered at
once through the normal dead-letter outcome; only a failure that would retry takes a token;
the budget is per namespace; a storage error fails open."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from taskito import EventType, Queue, TaskMiddleware, TaskWrapper
from taskito.registry import retry_budget_key
from tests.api.backends.support import Backend, record_of, worker_thread
from tests.helpers import wait_until


class Outcomes(TaskMiddleware):
    """Records the outcome hooks the worker fires."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []

    def on_retry(self, ctx: Any, error: BaseException, retry_count: int) -> None:
        with self.lock:
            self.calls.append(("retry", ctx.id))

    def on_dead_letter(self, ctx: Any, error: BaseException) -> None:
        with self.lock:
            self.calls.append(("dead", str(error)))

    def hooks(self, name: str) -> list[str]:
        with self.lock:
            return [detail for hook, detail in self.calls if hook == name]


def _dead(queue: Queue, *job_ids: str) -> bool:
    return all(record_of(queue, job_id).status == "dead" for job_id in job_ids)


def test_a_spent_budget_dead_letters_the_next_retry_at_once(queue: Queue) -> None:
    outcomes = Outcomes()
    dead_events: list[dict[str, Any]] = []
    queue.on_event(EventType.JOB_DEAD, lambda _type, payload: dead_events.append(payload))

    @queue.task(max_retries=5, retry_backoff=0.01, retry_budget="1/h", middleware=[outcomes])
    def flaky(n: int) -> None:
        raise RuntimeError(f"backend down {n}")

    first, second = flaky.delay(1), flaky.delay(2)
    with worker_thread(queue):
        wait_until(lambda: _dead(queue, first.id, second.id), timeout_s=20)
        wait_until(lambda: len(dead_events) == 2, message="two JOB_DEAD events")
    # One token in the hour: exactly one retry among both jobs, then both are dead.
    records = [record_of(queue, job.id) for job in (first, second)]
    assert sorted(record.retry_count for record in records) == [0, 1]
    assert len(outcomes.hooks("retry")) == 1
    letters = queue.dead_letters()
    assert len(letters) == 2
    for letter in letters:
        assert letter["error"].startswith(
            f"retry_budget_exhausted: task {flaky.name!r} is over its retry budget of 1/h; "
            "the failure was: "
        )
        assert "backend down" in letter["error"]
    # The normal dead-letter outcome, saying why: the hook and the event carry that error.
    dead_hooks = outcomes.hooks("dead")
    assert len(dead_hooks) == 2
    assert all(text.startswith("retry_budget_exhausted: ") for text in dead_hooks)
    assert all(event["error"].startswith("retry_budget_exhausted: ") for event in dead_events)


def test_only_a_failure_that_would_retry_takes_a_token(queue: Queue) -> None:
    calls: list[str] = []

    @queue.task(max_retries=1, retry_backoff=0.01, retry_budget="1/h", dont_retry_on=[KeyError])
    def task(kind: str) -> None:
        calls.append(kind)
        if kind == "key":
            raise KeyError(kind)
        if kind == "boom" or calls.count("flaky") == 1:
            raise RuntimeError(kind)

    ruled_out = task.delay("key")  # dont_retry_on: dead without asking the budget
    no_retries = queue.enqueue(task.name, args=("boom",), max_retries=0)
    with worker_thread(queue):
        wait_until(lambda: _dead(queue, ruled_out.id, no_retries.id), timeout_s=20)
        flaky = task.delay("flaky")  # fails once and retries: the token is still there
        assert flaky.result(timeout=20) is None
    assert record_of(queue, flaky.id).retry_count == 1
    for job_id, raised in ((ruled_out.id, "KeyError"), (no_retries.id, "RuntimeError: boom")):
        error = record_of(queue, job_id).error
        assert raised in error and "retry_budget_exhausted" not in error


def _flaky_on(queue: Queue, max_retries: int) -> TaskWrapper:
    @queue.task(name="flaky", max_retries=max_retries, retry_backoff=0.01, retry_budget="1/h")
    def flaky() -> None:
        raise RuntimeError("down")

    return flaky


def test_the_budget_is_shared_by_workers_and_kept_in_storage(backend: Backend) -> None:
    producer, other = backend.queue(), backend.queue()
    flaky = _flaky_on(producer, 3)
    _flaky_on(other, 3)
    jobs = [flaky.delay() for _ in range(4)]
    with worker_thread(producer), worker_thread(other):
        wait_until(lambda: _dead(producer, *(job.id for job in jobs)), timeout_s=30)
    # Two workers, four jobs, one token in the hour between them.
    assert sum(record_of(producer, job.id).retry_count for job in jobs) == 1
    # The budget lives under retry::<namespace>::<task>: spent, it refuses anyone.
    refused = producer._storage.take_rate_slot(retry_budget_key(None, "flaky"), 1, 0)
    assert refused is not None


def test_each_namespace_has_its_own_budget(backend: Backend) -> None:
    spent, fresh = backend.queue(namespace="a"), backend.queue(namespace="b")
    flaky = _flaky_on(spent, 1)
    used = [flaky.delay(), flaky.delay()]
    with worker_thread(spent):
        wait_until(lambda: _dead(spent, *(job.id for job in used)), timeout_s=20)
    assert sorted(record_of(spent, job.id).retry_count for job in used) == [0, 1]
    other = _flaky_on(fresh, 1).delay()
    with worker_thread(fresh):
        wait_until(lambda: _dead(fresh, other.id), timeout_s=20)
    assert record_of(fresh, other.id).retry_count == 1  # its own token: it retried
    assert "retry_budget_exhausted" not in (record_of(fresh, other.id).error or "")


def _break_budget_storage(backend: Backend, queue: Queue, task_name: str) -> None:
    """Make ``take_rate_slot`` fail on this database (a real storage error)."""
    if backend.name == "sqlite":
        import sqlite3

        with sqlite3.connect(backend.target.kwargs["db_path"]) as conn:
            conn.execute("DROP TABLE rate_slots")
    elif backend.name == "postgres":
        import psycopg
        from psycopg import sql

        schema = backend.target.kwargs["schema"]
        with psycopg.connect(backend.target.kwargs["db_url"], autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TABLE {}.rate_slots").format(sql.Identifier(schema)))
    else:
        import redis

        client = redis.Redis.from_url(backend.target.kwargs["db_url"])
        try:
            rates = f"{backend.target.kwargs['schema']}:rates"
            client.hset(rates, retry_budget_key(None, task_name), "not a time")
        finally:
            client.close()
    with pytest.raises(Exception):  # noqa: B017 (any storage error will do)
        queue._storage.take_rate_slot(retry_budget_key(None, task_name), 1, 0)


def test_a_storage_error_fails_open(
    backend: Backend, queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    @queue.task(name="flaky", max_retries=2, retry_backoff=0.01, retry_budget="1/h")
    def flaky() -> None:
        raise RuntimeError("down")

    _break_budget_storage(backend, queue, "flaky")
    job = flaky.delay()
    with worker_thread(queue):
        wait_until(lambda: _dead(queue, job.id), timeout_s=20)
    record = record_of(queue, job.id)
    assert record.retry_count == 2  # every retry went ahead: the budget failed open
    assert "retry_budget_exhausted" not in (record.error or "")
    assert "taking a token of the retry budget of flaky failed" in caplog.text
