"""``flask taskito worker`` and ``flask taskito info`` through Flask's CLI runner
(``app.test_cli_runner()``): the commands the app's CLI really has, on its Queue."""

from __future__ import annotations

import json
import threading

import pytest
from click.testing import Result
from flask import Flask

from taskito.contrib.flask import Taskito
from tests.integrations.flask_ext.conftest import MakeApp
from tests.integrations.flask_ext.tasks import add, ext, read_config


def invoke(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=list(args))


def test_info_prints_the_table_and_json(app: Flask) -> None:
    add.delay(1, 2)
    read_config.delay("MARKER")
    table = invoke(app, "taskito", "info")
    assert table.exit_code == 0, table.output
    assert table.output.startswith("taskito queue statistics")
    assert "pending                2" in table.output
    data = json.loads(invoke(app, "taskito", "info", "--format", "json").output)
    assert data == {
        "pending": 2,
        "running": 0,
        "completed": 0,
        "failed": 0,
        "dead": 0,
        "cancelled": 0,
        "total": 2,
        "paused_queues": [],
    }
    bad = invoke(app, "taskito", "info", "--format", "yaml")
    assert bad.exit_code == 2 and "'yaml' is not one of 'table', 'json'" in bad.output


def test_the_worker_command_runs_jobs_until_shut_down(app: Flask) -> None:
    jobs = [add.delay(n, 100) for n in range(3)]
    config_job = read_config.delay("MARKER")
    results: list[Result] = []
    worker = threading.Thread(
        target=lambda: results.append(
            invoke(app, "taskito", "worker", "--queues", "default,config", "--workers", "2")
        ),
        name="flask taskito worker",
    )
    worker.start()
    try:
        assert [job.result(timeout=20) for job in jobs] == [100, 101, 102]
        assert config_job.result(timeout=20) == "from the app config"
    finally:
        ext.queue.request_shutdown()
        worker.join(timeout=30)
    (result,) = results
    assert result.exit_code == 0, result.output
    assert result.exception is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["--queues", "a,,b"], "expected comma-separated queue names"),
        (["--pool", "gevent"], "'gevent' is not one of 'thread', 'prefork', 'async'"),
        (["--workers", "0"], "0 is not in the range x>=1"),
        (["--pool", "prefork"], "--pool prefork needs TASKITO_APP"),
        (["--max-tasks-per-child", "3"], "max_tasks_per_child applies to pool='prefork' only"),
    ],
)
def test_the_worker_refuses_bad_options(app: Flask, args: list[str], message: str) -> None:
    result = invoke(app, "taskito", "worker", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_the_group_name_is_configurable_or_absent(make_app: MakeApp) -> None:
    renamed = make_app(extension=Taskito(cli_group="jobs"))
    assert invoke(renamed, "jobs", "info").exit_code == 0
    assert "No such command 'taskito'" in invoke(renamed, "taskito", "info").output
    silent = make_app(extension=Taskito(cli_group=None))
    assert "No such command 'taskito'" in invoke(silent, "taskito", "info").output
