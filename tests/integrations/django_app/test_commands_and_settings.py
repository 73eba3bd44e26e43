"""The project's Queue from ``TASKITO_*`` settings, and the management commands on it:
``taskito_info`` (table and JSON), ``taskito_worker`` running real jobs, ``manage.py check``
reporting a bad key."""

from __future__ import annotations

import json
import threading
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError
from django.test.utils import override_settings

import taskito
from taskito.contrib.django import get_queue
from tests.integrations.django_app.shop.tasks import add, send_receipt


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def test_taskito_info_prints_the_table_and_json(queue: taskito.Queue) -> None:
    add.delay(1, 2)
    add.apply_async((3, 4), queue="other")
    table = run("taskito_info")
    assert table.startswith("taskito queue statistics")
    assert "pending                2" in table
    queue.pause("other")
    data = json.loads(run("taskito_info", "--format", "json"))
    assert data["pending"] == 2 and data["total"] == 2
    assert data["paused_queues"] == ["other"]
    assert run("taskito_info").endswith("total                  2\npaused queues: other\n")
    with pytest.raises(CommandError, match="invalid choice: 'yaml'"):
        run("taskito_info", "--format", "yaml")


def test_taskito_worker_runs_jobs_until_shut_down(queue: taskito.Queue) -> None:
    jobs = [add.delay(n, 1) for n in range(3)]
    failures: list[BaseException] = []

    def work() -> None:
        try:
            call_command("taskito_worker", "--queues", "default", "--workers", "2")
        except BaseException as exc:
            failures.append(exc)

    worker = threading.Thread(target=work, name="taskito_worker command")
    worker.start()
    try:
        assert [job.result(timeout=20) for job in jobs] == [1, 2, 3]
    finally:
        queue.request_shutdown()
        worker.join(timeout=30)
    assert not worker.is_alive() and failures == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--queues", "a,,b"], "expected comma-separated queue names"),
        (["--pool", "gevent"], "invalid choice: 'gevent'"),
        (["--workers", "0"], "expected a number >= 1"),
        (["--max-tasks-per-child", "5"], "max_tasks_per_child applies to pool='prefork' only"),
    ],
)
def test_taskito_worker_refuses_bad_options(
    queue: taskito.Queue, args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("taskito_worker", *args)


def test_the_queue_follows_the_settings(tmp_path: Path, queue: taskito.Queue) -> None:
    assert get_queue() is queue
    assert queue.settings.workers == 2
    with override_settings(
        TASKITO_DB_PATH=str(tmp_path / "other.db"),
        TASKITO_DEFAULT_QUEUE="low",
        TASKITO_SERIALIZER="taskito:JsonSerializer",
        TASKITO_DEFAULT_RETRY=7,
    ):
        other = get_queue()
        assert other is not queue
        assert other.settings.db_path == str(tmp_path / "other.db")
        assert isinstance(other.settings.serializer, taskito.JsonSerializer)
        assert other.settings.default_retry == 7
        assert add.delay(1, 1).to_dict()["queue"] == "low"
        assert send_receipt.delay(1).to_dict()["queue"] == "mail"  # declared with queue=
    # Each change closed the Queue built before it.
    for closed in (queue, other):
        with pytest.raises(taskito.StorageError, match="is closed"):
            closed.stats()
    assert get_queue().settings.db_path == queue.settings.db_path


@pytest.mark.parametrize(
    "settings, error, message",
    [
        ({"TASKITO_WORKER": 4}, taskito.ConfigurationError, "did you mean TASKITO_WORKERS?"),
        ({"TASKITO_WORKERS": "4"}, TypeError, "TASKITO_WORKERS: workers must be an int"),
        ({"TASKITO_BACKEND": "mongo"}, taskito.ConfigurationError, "TASKITO_BACKEND: Unknown"),
        (
            {"TASKITO_SERIALIZER": "no_such_module:Thing"},
            taskito.ConfigurationError,
            "TASKITO_SERIALIZER: 'no_such_module:Thing': cannot import",
        ),
        ({"TASKITO_AUTODISCOVER": "tasks"}, TypeError, "must be a list of module names"),
        ({"TASKITO_DEFAULT_QUEUE": 3}, TypeError, "TASKITO_DEFAULT_QUEUE must be a str"),
    ],
)
def test_a_bad_setting_is_an_error_naming_its_key(
    django_project: Path,
    tmp_path: Path,
    settings: dict[str, object],
    error: type[Exception],
    message: str,
) -> None:
    with (
        override_settings(TASKITO_DB_PATH=str(tmp_path / "q.db"), **settings),
        pytest.raises(error, match=message) as raised,
    ):
        get_queue()
    assert "Django settings" in str(raised.value)


def test_secrets_stay_out_of_the_messages(django_project: Path) -> None:
    url = "postgresql://app:hunter2-secret@127.0.0.1:1/db"
    with (
        override_settings(TASKITO_DB_URL=url, TASKITO_BACKEND="redis", TASKITO_WORKERS=-1),
        pytest.raises(taskito.ConfigurationError) as raised,
    ):
        get_queue()
    assert "hunter2" not in str(raised.value)


def test_manage_py_check_reports_an_unknown_key(django_project: Path) -> None:
    with override_settings(TASKITO_DEFAULT_QUEU="x"), pytest.raises(SystemCheckError) as raised:
        call_command("check")
    assert "taskito.E001" in str(raised.value)
    assert "did you mean TASKITO_DEFAULT_QUEUE?" in str(raised.value)
    call_command("check")  # the project itself is fine


def test_bad_declarations_fail_when_declared() -> None:
    from taskito.contrib.django import task

    with pytest.raises(TypeError, match="must be called with parentheses"):
        task(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected keyword argument 'retries'"):
        task(retries=3)
    with pytest.raises(taskito.ConfigurationError, match="max_retries"):
        task(max_retries=-1)
