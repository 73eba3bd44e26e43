"""``Taskito``: the Queue built from ``TASKITO_*`` config, kept in ``app.extensions``, tasks
declared before and after ``init_app``, the current app's Queue, application contexts around
tasks, clear errors for bad config, and closing."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest
from flask import Flask

import taskito
from taskito.contrib.flask import EXTENSION_KEY, Taskito
from tests.integrations.flask_ext.conftest import MakeApp
from tests.integrations.flask_ext.tasks import add, ext, read_config


def run_jobs(queue: taskito.Queue, *jobs: taskito.JobResult) -> list[object]:
    """Results of ``jobs`` from a real worker on ``queue``, stopped again."""
    worker = threading.Thread(target=queue.run_worker, name="flask-test-worker")
    worker.start()
    try:
        return [job.result(timeout=20) for job in jobs]
    finally:
        queue.request_shutdown()
        worker.join(timeout=30)


def test_the_queue_is_built_from_the_config_and_kept_on_the_app(app: Flask) -> None:
    queue = app.extensions[EXTENSION_KEY]
    assert isinstance(queue, taskito.Queue)
    assert ext.queue is queue and ext.get_queue(app) is queue
    assert queue.settings.workers == 2
    assert queue.settings.db_path == str(Path(app.instance_path) / "taskito.db")


def test_a_relative_db_path_is_in_the_instance_folder(make_app: MakeApp, tmp_path: Path) -> None:
    relative = make_app(TASKITO_DB_PATH="data/jobs.db")
    assert ext.get_queue(relative).settings.db_path == str(
        Path(relative.instance_path) / "data" / "jobs.db"
    )
    absolute = make_app(TASKITO_DB_PATH=str(tmp_path / "abs.db"), TASKITO_DEFAULT_RETRY=9)
    queue = ext.get_queue(absolute)
    assert queue.settings.db_path == str(tmp_path / "abs.db")
    assert queue.settings.default_retry == 9


def test_tasks_run_in_a_worker_inside_an_application_context(app: Flask) -> None:
    with app.test_request_context():
        jobs = (add.delay(2, 3), read_config.delay("MARKER"))
    assert run_jobs(ext.queue, *jobs) == [5, "from the app config"]


def test_tasks_declared_before_and_after_init_app(make_app: MakeApp) -> None:
    local = Taskito()

    @local.task(name="tests.flask.early")
    def early(x: int) -> int:
        return x + 1

    app = make_app(extension=local)

    @local.task(name="tests.flask.late")
    def late(x: int) -> int:
        return x * 10

    job = late.delay(4)
    assert job.to_dict()["task_name"] == "tests.flask.late"
    assert run_jobs(local.get_queue(app), early.delay(1), job) == [2, 40]
    assert late(5) == 50  # calling the task runs the function here
    assert isinstance(late.wrapper, taskito.TaskWrapper)
    with pytest.raises(taskito.ConfigurationError, match="is already declared"):
        local.task(name="tests.flask.late")(lambda: None)


def test_each_app_has_its_queue_and_the_context_picks_it(make_app: MakeApp) -> None:
    first = make_app("first", TASKITO_DEFAULT_QUEUE="one")
    second = make_app("second", TASKITO_DEFAULT_QUEUE="two")
    assert ext.get_queue(first) is not ext.get_queue(second)
    with first.app_context():
        assert add.delay(1, 1).to_dict()["queue"] == "one"
    with second.app_context():
        assert add.delay(1, 1).to_dict()["queue"] == "two"
    # Outside any application context: the app initialised last.
    assert ext.queue is ext.get_queue(second)
    assert ext.get_queue(first).stats()["pending"] == 1
    assert read_config.delay("x").to_dict()["queue"] == "config"  # declared with queue=


def test_the_test_client_enqueues_through_a_view(app: Flask) -> None:
    @app.post("/add")
    def enqueue() -> dict[str, str]:
        return {"id": add.delay(20, 22).id}

    response = app.test_client().post("/add")
    assert response.status_code == 200
    job = ext.queue.get_job(response.get_json()["id"])
    assert job is not None
    assert run_jobs(ext.queue, job) == [42]


@pytest.mark.parametrize(
    "config, error, message",
    [
        ({"TASKITO_WORKER": 2}, taskito.ConfigurationError, "did you mean TASKITO_WORKERS?"),
        ({"TASKITO_WORKERS": "2"}, TypeError, "Flask config TASKITO_WORKERS: workers must be"),
        ({"TASKITO_BACKEND": "postgres"}, taskito.ConfigurationError, "TASKITO_BACKEND:"),
        ({"TASKITO_MIDDLEWARE": "x"}, TypeError, "TASKITO_MIDDLEWARE: middleware must be a list"),
        ({"TASKITO_APP": ""}, taskito.ConfigurationError, "TASKITO_APP must be a non-empty"),
    ],
)
def test_bad_config_is_an_error_naming_the_key(
    tmp_path: Path, config: dict[str, object], error: type[Exception], message: str
) -> None:
    app = Flask("bad", instance_path=str(tmp_path))
    app.config.update(config)
    with pytest.raises(error, match=message):
        Taskito(app)
    assert EXTENSION_KEY not in app.extensions


def test_unknown_keys_list_the_valid_ones(tmp_path: Path) -> None:
    app = Flask("bad", instance_path=str(tmp_path))
    app.config["TASKITO_COLOUR"] = "blue"
    with pytest.raises(taskito.ConfigurationError) as raised:
        Taskito(app)
    message = str(raised.value)
    assert "unknown taskito setting TASKITO_COLOUR in Flask config" in message
    assert "TASKITO_DB_PATH" in message and "TASKITO_DEFAULT_QUEUE" in message


def test_misuse_is_refused(app: Flask, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="already initialised"):
        ext.init_app(app)
    with pytest.raises(TypeError, match="expects a Flask app"):
        Taskito().init_app("app")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cli_group"):
        Taskito(cli_group="")
    with pytest.raises(TypeError, match="must be called with parentheses"):
        ext.task(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected keyword argument 'retries'"):
        ext.task(retries=1)
    fresh = Taskito()
    with pytest.raises(RuntimeError, match="call init_app"):
        _ = fresh.queue
    with app.app_context(), pytest.raises(RuntimeError, match="not initialised on the Flask app"):
        _ = fresh.queue


def test_the_queue_closes_with_its_app(tmp_path: Path) -> None:
    app = Flask("short-lived", instance_path=str(tmp_path))
    extension = Taskito(app)
    queue = extension.queue
    assert queue.stats()["pending"] == 0
    del app
    gc.collect()
    with pytest.raises(taskito.StorageError, match="is closed"):
        queue.stats()
    with pytest.raises(RuntimeError, match="no Flask app"):
        _ = extension.queue


def test_close_closes_now_and_twice_is_fine(make_app: MakeApp) -> None:
    app = make_app()
    queue = ext.get_queue(app)
    ext.close(app)
    ext.close(app)
    with pytest.raises(taskito.StorageError, match="is closed"):
        queue.stats()
