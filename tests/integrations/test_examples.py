"""The example apps (``examples/flask_app``, ``examples/django_project``) work as their
READMEs say: each copied to a temporary directory and run with its own commands as real
processes (a prefork worker runs a job the web side enqueued), and the Flask app's views
through Flask's test client."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import taskito
from tests.helpers import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT_S = 60.0


class Processes:
    """Commands run in one directory; background ones are killed and reaped at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[subprocess.Popen[bytes]] = []

    def env(self) -> dict[str, str]:
        dropped = ("TASKITO_", "FLASK_", "DJANGO_SETTINGS_MODULE")
        return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
        return done

    def start(self, *args: str, name: str) -> subprocess.Popen[bytes]:
        with open(self.root / f"{name}.err", "wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=self.root,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        self.started.append(process)
        return process

    def stderr(self, name: str) -> str:
        return (self.root / f"{name}.err").read_text(errors="replace")

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
        process.send_signal(sig)
        return process.wait(timeout=TIMEOUT_S)

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=TIMEOUT_S)


@pytest.fixture
def flask_copy(tmp_path: Path) -> Iterator[Processes]:
    root = tmp_path / "flask_app"
    shutil.copytree(EXAMPLES / "flask_app", root)
    processes = Processes(root)
    try:
        yield processes
    finally:
        processes.kill_all()


@pytest.fixture
def django_copy(tmp_path: Path) -> Iterator[Processes]:
    root = tmp_path / "django_project"
    shutil.copytree(EXAMPLES / "django_project", root)
    processes = Processes(root)
    try:
        yield processes
    finally:
        processes.kill_all()


def wait_for_result(job: taskito.JobResult, worker: subprocess.Popen[bytes], err: str) -> object:
    def finished() -> bool:
        assert worker.poll() is None, f"the worker exited:\n{err}"
        return job.refresh() or job.status in ("complete", "failed", "dead")

    wait_until(finished, timeout_s=TIMEOUT_S, interval_s=0.05, message=f"job {job.id}")
    return job.result(timeout=1)


# --- Flask ------------------------------------------------------------------------------


def load_flask_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "taskito_flask_example", EXAMPLES / "flask_app" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_flask_example_views_enqueue_and_report(tmp_path: Path) -> None:
    example = load_flask_example()
    app = example.create_app({"TASKITO_DB_PATH": str(tmp_path / "jobs.db")})
    try:
        client = app.test_client()
        posted = client.post("/count", json={"text": "to be or not to be"})
        assert posted.status_code == 202
        job_id = posted.get_json()["job_id"]
        assert client.get(f"/jobs/{job_id}").get_json()["status"] == "pending"
        assert client.post("/count", json={"words": 3}).status_code == 400
        assert client.get("/jobs/no-such-job").status_code == 404

        queue = example.taskito_ext.get_queue(app)
        worker = threading.Thread(target=queue.run_worker)
        worker.start()
        try:
            wait_until(lambda: client.get(f"/jobs/{job_id}").get_json()["status"] == "complete")
        finally:
            queue.request_shutdown()
            worker.join(timeout=TIMEOUT_S)
        assert client.get(f"/jobs/{job_id}").get_json() == {
            "id": job_id,
            "status": "complete",
            "result": 6,
        }
    finally:
        example.taskito_ext.close(app)


@pytest.mark.slow
def test_the_flask_example_runs_a_prefork_worker(flask_copy: Processes) -> None:
    info = flask_copy.run("-m", "flask", "--app", "app", "taskito", "info", "--format", "json")
    assert json.loads(info.stdout)["total"] == 0
    with taskito.Queue(db_path=flask_copy.root / "instance" / "taskito.db") as producer:
        job = producer.enqueue("app.count_words", args=("one two three",))
        worker = flask_copy.start(
            "-m", "flask", "--app", "app", "taskito", "worker", "--pool", "prefork",
            "--workers", "1",
            name="worker",
        )  # fmt: skip
        assert wait_for_result(job, worker, flask_copy.stderr("worker")) == 3
        assert flask_copy.stop(worker) == 0, flask_copy.stderr("worker")
    assert "pool=prefork" in flask_copy.stderr("worker")


# --- Django -----------------------------------------------------------------------------


def shell(project: Processes, code: str) -> str:
    return project.run("manage.py", "shell", "--no-imports", "-c", code).stdout


@pytest.mark.slow
def test_the_django_example_enqueues_on_commit_and_a_prefork_worker_runs_it(
    django_copy: Processes,
) -> None:
    assert "no issues" in django_copy.run("manage.py", "check").stdout
    django_copy.run("manage.py", "migrate", "--verbosity", "0")
    worker = django_copy.start(
        "manage.py", "taskito_worker", "--pool", "prefork", "--workers", "1", name="worker"
    )
    placed = shell(
        django_copy,
        "from django.test import Client\n"
        "response = Client(HTTP_HOST='localhost').post('/orders/', {'total': 12})\n"
        "print(response.status_code, response.json()['order_id'])",
    )
    assert placed.split() == ["201", "1"]
    with taskito.Queue(db_path=django_copy.root / "taskito.db") as producer:
        (job,) = producer.list_jobs(queue="orders")
        result = wait_for_result(job, worker, django_copy.stderr("worker"))
    assert result == "receipt for order 1 sent"
    status = shell(
        django_copy,
        "from django.test import Client\n"
        "print(Client(HTTP_HOST='localhost').get('/orders/1/').json()['receipt_sent'])",
    )
    assert status.strip() == "True"
    assert django_copy.stop(worker) == 0, django_copy.stderr("worker")
    assert "1 task(s) known: orders.tasks.send_receipt" in django_copy.stderr("worker")
    info = django_copy.run("manage.py", "taskito_info", "--format", "json").stdout
    assert json.loads(info)["completed"] == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_the_django_example_serves_the_dashboard(django_copy: Processes) -> None:
    port = free_port()
    server = django_copy.start(
        "manage.py", "taskito_dashboard", "--port", str(port), name="dashboard"
    )

    def get(path: str) -> tuple[int, bytes]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()

    def healthy() -> bool:
        assert server.poll() is None, django_copy.stderr("dashboard")
        try:
            return get("/health")[0] == 200
        except OSError:
            return False

    wait_until(healthy, timeout_s=TIMEOUT_S, interval_s=0.05)
    status, body = get("/api/stats")
    assert status == 200 and json.loads(body)["pending"] == 0
    assert django_copy.stop(server, signal.SIGINT) == 130, django_copy.stderr("dashboard")
    assert "Traceback" not in django_copy.stderr("dashboard")
