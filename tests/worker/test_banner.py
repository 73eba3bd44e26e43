"""The worker's start banner and the warning for a consumed queue no task uses (issue 10
point 9), from a real worker on every backend."""

from __future__ import annotations

import logging

import pytest

from taskito.registry import PeriodicSpec
from taskito.worker.banner import describe_storage, task_list
from tests.helpers import wait_until
from tests.worker.harness import Harness


def noop() -> None: ...


def started_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "taskito.worker" and r.levelno == logging.INFO and " started: " in r.message
    ]


def warnings_about_queues(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "no registered task uses queue" in r.getMessage()
    ]


def test_the_banner_names_the_database_pool_queues_and_tasks(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.task(noop, name="b.second")
    harness.task(noop, name="a.first", queue="mail")
    caplog.set_level(logging.INFO, logger="taskito.worker")
    with harness.running(threads=3) as worker:
        wait_until(lambda: started_lines(caplog), message="the start banner")
    [line] = started_lines(caplog)
    assert worker.worker_id in line
    assert f"database {describe_storage(harness.storage)};" in line
    assert "pool thread with 3 slot(s)" in line
    assert "consuming all queues" in line
    assert line.endswith("2 task(s) known: a.first, b.second")
    assert warnings_about_queues(caplog) == []


def test_a_queue_no_task_uses_gets_a_warning_and_is_consumed_anyway(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.task(noop, name="t.mail", queue="mail")
    harness.env.periodic["nightly"] = PeriodicSpec("nightly", "t.mail", "0 0 0 * * *", None, "cron")
    caplog.set_level(logging.INFO, logger="taskito.worker")
    job_id = harness.enqueue("t.mail", queue="typo")
    harness.burst(lambda: harness.is_terminal(job_id), queues=["mail", "typo", "cron"])
    assert harness.job(job_id).status.value == "complete"  # consumed although no task uses it
    [line] = started_lines(caplog)
    assert "consuming mail, typo, cron" in line
    assert warnings_about_queues(caplog) == [
        "no registered task uses queue 'typo' by default; this worker consumes it anyway "
        "(jobs enqueued with queue='typo' run here)"
    ]


def test_a_long_task_list_is_cut_short() -> None:
    names = [f"t{n:02d}" for n in range(25)]
    assert task_list(names) == ", ".join(names[:20]) + " +5 more"
    assert task_list([]) == "none"
    assert task_list(["b", "a"]) == "a, b"


def test_a_storage_without_describe_is_named_by_its_class() -> None:
    class Bare: ...

    class Failing:
        def describe(self) -> str:
            raise RuntimeError("no")

    class Described:
        def describe(self) -> str:
            return "sqlite /x/y.db"

    assert describe_storage(Bare()) == "Bare"
    assert describe_storage(Failing()) == "Failing"
    assert describe_storage(Described()) == "sqlite /x/y.db"
