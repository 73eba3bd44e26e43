"""``TaskitoRouter`` behind a real uvicorn server: the progress stream while a real worker
process runs the job, a client that leaves, result waits that hold no thread, and the example
app (``examples/fastapi_app``) served by the ``uvicorn`` command."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from taskito import Queue
from taskito.contrib.fastapi import waits
from taskito.dashboard.api import jobs, progress
from tests.contrib.fastapi_support import PREFIX, EventStream, make_app
from tests.dashboard.harness import Client, serve
from tests.helpers import wait_until

REPO = Path(__file__).resolve().parents[2]
PROCESS_TIMEOUT_S = 30.0

#: The app of the worker process: ``stepped`` reports progress in steps, and takes each step
#: only once the test releases it (a setting), so the test sees every step arrive.
PROGRESS_APP = """
import os
import time

from taskito import Queue, current_job

queue = Queue(db_path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "jobs.db"))


@queue.task(name="stepped")
def stepped(steps):
    for step in range(1, steps + 1):
        deadline = time.monotonic() + 30
        while int(queue.get_setting(f"release:{current_job.id}") or 0) < step:
            if time.monotonic() > deadline:
                raise TimeoutError(f"step {step} was never released")
            time.sleep(0.01)
        current_job.update_progress(step * 100 // steps)
        current_job.publish({"step": step})
    return "done"
"""


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[Queue]:
    opened = Queue(db_path=str(tmp_path / "jobs.db"))
    try:
        yield opened
    finally:
        opened.close()


def start(command: list[str], cwd: Path, name: str) -> subprocess.Popen[bytes]:
    """``command`` in the background, its stderr to ``cwd/name.err``."""
    with open(cwd / f"{name}.err", "wb") as stderr:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": _python_path()},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def _python_path() -> str:
    """This checkout first (its ``examples`` package and ``src``), then what was set."""
    parts = [str(REPO), str(REPO / "src"), os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(part for part in parts if part)


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then the exit status (killed if it does not stop in time)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=PROCESS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=PROCESS_TIMEOUT_S)
        raise


def test_progress_streams_while_a_worker_process_runs_the_job(queue: Queue, tmp_path: Path) -> None:
    (tmp_path / "progress_app.py").write_text(textwrap.dedent(PROGRESS_APP))
    job = queue.enqueue("stepped", args=(4,))
    release = f"release:{job.id}"
    command = [sys.executable, "-m", "taskito", "worker", "--app", "progress_app:queue"]
    worker = start(command, tmp_path, "worker")
    try:
        app = make_app(queue, sse_poll_interval=0.02)
        path = f"{PREFIX}/jobs/{job.id}/progress?include_results=true"
        with serve(app) as port, EventStream(port, path) as stream:
            assert stream.response.status == 200
            events = iter(stream)
            seen = [next(events)]
            for step in range(1, 5):
                queue.set_setting(release, str(step))  # the worker may take the next step
                while seen[-1].get("partial_result") != {"step": step}:
                    seen.append(next(events))
            seen += list(events)  # until the server ends the stream
        assert stop(worker) == 0, (tmp_path / "worker.err").read_text()
    finally:
        stop(worker)
    states = [event for event in seen if "partial_result" not in event]
    assert states[0]["status"] in ("pending", "running")
    running = [e["progress"] for e in states if e["status"] == "running" and e["progress"]]
    assert running[:3] == [25, 50, 75]
    assert states[-1] == seen[-1] == {"status": "complete", "progress": 100}
    assert [e["partial_result"] for e in seen if "partial_result" in e] == [
        {"step": step} for step in range(1, 5)
    ]


def test_a_client_that_leaves_stops_the_polling(
    queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls: list[float] = []
    real_poll = progress.ProgressWatch.poll

    def counted_poll(self: progress.ProgressWatch) -> list[dict[str, Any]]:
        polls.append(time.monotonic())
        return real_poll(self)

    monkeypatch.setattr(progress.ProgressWatch, "poll", counted_poll)
    job = queue.enqueue("never_runs")  # no worker: it stays pending
    with serve(make_app(queue, sse_poll_interval=0.02)) as port:
        with EventStream(port, f"{PREFIX}/jobs/{job.id}/progress") as stream:
            assert next(iter(stream)) == {"status": "pending", "progress": None}
            wait_until(lambda: len(polls) >= 5, timeout_s=10)
        # Polling every 20 ms while the client is there; once it left, no poll for 0.5 s.
        wait_until(lambda: time.monotonic() - polls[-1] > 0.5, timeout_s=10)


def test_a_quiet_stream_sends_keepalive_comments(
    queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(waits, "KEEPALIVE_S", 0.05)
    job = queue.enqueue("never_runs")
    path = f"{PREFIX}/jobs/{job.id}/progress"
    with serve(make_app(queue, sse_poll_interval=0.02)) as port, EventStream(port, path) as stream:
        lines = [stream.response.readline() for _ in range(3)]
    assert lines == [b'data: {"status": "pending", "progress": null}\n', b"\n", b": keepalive\n"]


def test_result_waits_hold_no_thread(queue: Queue, monkeypatch: pytest.MonkeyPatch) -> None:
    """More clients wait for a result than the server has worker threads (40), and a route
    that needs a thread still answers at once: waiting sleeps on the event loop."""
    reads: list[str] = []
    real_read = jobs.job_result

    def counted_read(*args: Any, **kwargs: Any) -> dict[str, Any]:
        reads.append(args[1])
        return real_read(*args, **kwargs)

    monkeypatch.setattr(jobs, "job_result", counted_read)
    job = queue.enqueue("never_runs")
    waiters = 60
    with serve(make_app(queue)) as port, ThreadPoolExecutor(waiters) as pool:
        url = f"{PREFIX}/jobs/{job.id}/result?timeout=5"
        answers = [pool.submit(lambda: Client(port).get(url)) for _ in range(waiters)]
        wait_until(lambda: len(reads) >= waiters, timeout_s=10)
        started = time.monotonic()
        stats = Client(port).get(f"{PREFIX}/stats")
        answered_in = time.monotonic() - started
        assert stats.status == 200
        assert all(a.result().json()["status"] == "pending" for a in answers)
    assert answered_in < 2.0, f"/stats waited {answered_in:.2f}s behind the result waits"


def test_the_event_loop_answers_while_storage_is_blocked(tmp_path: Path) -> None:
    """A storage call stuck on a Postgres table lock holds a worker thread, never the loop."""
    import psycopg
    from psycopg import sql

    from tests.api.backends.support import open_backend

    with open_backend("postgres", tmp_path) as postgres:
        queue = postgres.queue()
        url, schema = postgres.target.kwargs["db_url"], postgres.target.kwargs["schema"]
        with serve(make_app(queue)) as port, psycopg.connect(url) as locker:
            locker.execute(
                sql.SQL("LOCK TABLE {}.jobs IN ACCESS EXCLUSIVE MODE").format(
                    sql.Identifier(schema)
                )
            )
            answers: list[int] = []
            blocked = threading.Thread(
                target=lambda: answers.append(Client(port).get(f"{PREFIX}/stats").status)
            )
            blocked.start()
            try:
                for _ in range(5):
                    assert Client(port).get(f"{PREFIX}/health").status == 200
                assert answers == []  # still waiting on the lock
            finally:
                locker.rollback()
                blocked.join(30)
    assert answers == [200]


def test_the_example_app_runs_with_the_uvicorn_command(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "uvicorn", "examples.fastapi_app.app:app", "--port", "0"]
    server = start(command, tmp_path, "uvicorn")
    try:
        port = wait_until(lambda: _port_of(server, tmp_path / "uvicorn.err"), timeout_s=20)
        client = Client(port)
        started = client.post("/reports?pages=3&seconds_per_page=0.2")
        assert started.status == 200, started.text
        job_id = started.json()["job_id"]
        with EventStream(port, f"{PREFIX}/jobs/{job_id}/progress") as stream:
            events = list(stream)
        assert events[-1] == {"status": "complete", "progress": 100}
        progress_seen = [event["progress"] for event in events if event["progress"]]
        assert progress_seen == sorted(progress_seen)
        answer = client.get(f"{PREFIX}/jobs/{job_id}/result?timeout=10").json()
        assert (answer["status"], answer["result"]) == ("complete", {"pages": 3})
        assert client.get(f"{PREFIX}/stats").json()["completed"] == 1
    finally:
        returncode = stop(server)
    log = (tmp_path / "uvicorn.err").read_text()
    # uvicorn shuts down gracefully (the app's lifespan stops its worker), then re-raises
    # the signal it caught.
    assert returncode in (0, -signal.SIGTERM), log
    assert "Application shutdown complete." in log
    assert (tmp_path / ".taskito" / "fastapi_app.db").is_file()


def _port_of(server: subprocess.Popen[bytes], log: Path) -> int | None:
    assert server.poll() is None, f"uvicorn exited:\n{log.read_text()}"
    found = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", log.read_text())
    return int(found.group(1)) if found else None
