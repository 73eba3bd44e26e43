"""Rescues, with real worker processes and real signals on every backend: a worker SIGKILLed
mid-job or right after its claim, a claim whose reply is lost after commit, a task that kills
its worker every time (a poison pill), and a worker stopped by its drain timeout. A rescue
never spends a retry; each test asserts the final state of every job it made.

Run as ``python test_rescues.py STORAGE_JSON LOG OPTIONS_JSON`` this module is the victim
worker process: its tasks log a ``start`` line, and ``kill_first``/``poison`` SIGKILL their own
worker process at their first line (in the thread pool, so the kill lands between the claim
and the first lease extension).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from taskito.context import current_job
from taskito.events import EventBus
from taskito.exceptions import StorageUnavailableError
from taskito.job import JobStatus
from taskito.registry import ExecutionEnv, Hooks, TaskSpec
from taskito.serializers import CloudpickleSerializer
from taskito.storage import open_storage
from taskito.storage.base import Storage, poison_pill_error
from taskito.worker import Worker, WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
#: The default timings (worker/leases.py): the figures docs/reliability.md quotes.
DEFAULTS: dict[str, Any] = {"heartbeat_interval_s": 1.0, "reap_interval_s": 0.5}


def _log(path: str, word: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{word} {current_job.id} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def _victim_tasks(log: str) -> dict[str, TaskSpec]:
    def record(sleep_s: float) -> int:
        _log(log, "start")
        time.sleep(sleep_s)
        return os.getpid()

    def kill_first() -> str:
        _log(log, "start")
        os.kill(os.getpid(), signal.SIGKILL)
        return "unreachable"

    tasks = {"record": record, "kill_first": kill_first, "poison": kill_first}
    return {name: TaskSpec(name=name, fn=fn) for name, fn in tasks.items()}


def main() -> None:
    storage_kwargs, log, options = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    storage = open_storage(**storage_kwargs)
    bus = EventBus()
    env = ExecutionEnv(
        storage=storage,
        serializer=CloudpickleSerializer(),
        tasks=_victim_tasks(log),
        middleware=[],
        hooks=Hooks(),
        max_rescues=options.pop("max_rescues", 5),
    )
    worker = Worker(env, bus, WorkerSettings(**options))
    try:
        worker.run()
    finally:
        bus.shutdown()
        storage.close()


if __name__ == "__main__":
    main()
else:
    import pytest

    from tests.helpers import wait_until
    from tests.worker.harness import Harness, log_lines


@contextmanager
def victim(harness: Harness, log: Path, **options: Any) -> Iterator[subprocess.Popen[str]]:
    """A worker process running this module's tasks, its stderr appended to ``victims.err``
    next to ``log``; killed and waited for at the end."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    storage_json = json.dumps(harness.target.storage_kwargs())
    with open(log.parent / "victims.err", "a", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                __file__,
                storage_json,
                str(log),
                json.dumps({"threads": 2, **options}),
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONPATH": path},
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)


def _starts(log: Path, job_id: str) -> list[str]:
    """The pids that started ``job_id``, in order."""
    return [line[2] for line in log_lines(log) if line[:2] == ["start", job_id]]


def _rescuer_tasks(harness: Harness, log: Path) -> None:
    def record(sleep_s: float) -> str:
        _log(str(log), "start")
        return "rescued"

    def kill_first() -> str:
        _log(str(log), "start")
        return "survived"

    harness.task(record, name="record")
    harness.task(kill_first, name="kill_first")


def _assert_rescued_once(harness: Harness, job_id: str, result: str) -> None:
    record = harness.job(job_id)
    assert record.status is JobStatus.COMPLETE, (record.status, record.error)
    assert harness.result(job_id) == result
    assert (record.retry_count, record.rescue_count, record.max_retries) == (0, 1, 0)
    (error,) = harness.storage.job_errors(job_id)
    assert error.error.startswith("rescued: worker"), error.error


@pytest.mark.parametrize("path", ["pid", "lease"])
def test_a_worker_killed_mid_job_loses_no_retry(
    harness: Harness, tmp_path: Path, path: str
) -> None:
    """max_retries=0: the job still runs again elsewhere, within 5 s of the kill."""
    log = tmp_path / "runs.log"
    _rescuer_tasks(harness, log)
    job_id = harness.enqueue("record", 30.0, max_retries=0)
    with victim(harness, log) as process:
        wait_until(lambda: _starts(log, job_id), timeout_s=20)
        with harness.running(check_pids=path == "pid", **DEFAULTS):
            process.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            process.wait(10)
            wait_until(lambda: len(_starts(log, job_id)) == 2, timeout_s=8)
            took_s = time.monotonic() - killed_at
            wait_until(lambda: harness.is_terminal(job_id))
    assert took_s < 5.0, took_s
    _assert_rescued_once(harness, job_id, "rescued")
    (error,) = harness.storage.job_errors(job_id)
    if path == "pid":
        assert f"its process {process.pid} on" in error.error and "is gone" in error.error
    else:
        assert error.error.endswith("stopped renewing its lease")
    assert _starts(log, job_id) == [str(process.pid), str(os.getpid())]


def test_a_worker_killed_right_after_its_claim_loses_no_retry(
    harness: Harness, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    _rescuer_tasks(harness, log)
    job_id = harness.enqueue("kill_first", max_retries=0)
    with victim(harness, log) as process:
        process.wait(20)
    assert process.returncode == -signal.SIGKILL
    assert harness.status(job_id) is JobStatus.RUNNING  # claimed by the dead worker
    with harness.running(**DEFAULTS):
        wait_until(lambda: harness.is_terminal(job_id), timeout_s=8)
    _assert_rescued_once(harness, job_id, "survived")
    assert _starts(log, job_id) == [str(process.pid), str(os.getpid())]


def _losing_first_claim(storage: Storage) -> Storage:
    """The real backend, whose first claim that gets jobs commits and then raises as if the
    reply were lost on the way back. A subclass, not a mock: every call, this one included,
    runs against the real database, so the worker's real release path is what is tested."""
    base = type(storage)

    class LosesFirstClaimReply(base):  # type: ignore[misc, valid-type]
        lost = False

        def claim(self, *args: Any, **kwargs: Any) -> Any:
            jobs = super().claim(*args, **kwargs)
            if jobs and not LosesFirstClaimReply.lost:
                LosesFirstClaimReply.lost = True
                raise StorageUnavailableError("connection lost after the claim committed")
            return jobs

    storage.__class__ = LosesFirstClaimReply
    return storage


def test_rows_of_a_lost_claim_reply_are_released_and_run_once(
    harness: Harness, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    _rescuer_tasks(harness, log)
    ids = [harness.enqueue("record", 0.0, max_retries=0) for _ in range(3)]
    storage = _losing_first_claim(harness.target.open_storage())
    try:
        env = dataclasses.replace(harness.env, storage=storage)
        settings = WorkerSettings(threads=4, install_signals=False, **DEFAULTS)
        worker = Worker(env, harness.bus, settings)
        started = time.monotonic()
        with harness.running(worker):
            wait_until(lambda: harness.is_terminal(*ids), timeout_s=8)
        took_s = time.monotonic() - started
    finally:
        storage.close()
    assert type(storage).lost  # type: ignore[attr-defined]
    assert took_s < 3.0, took_s  # released at once, not after the 4 s lease
    for job_id in ids:
        _assert_rescued_once(harness, job_id, "rescued")
        (error,) = harness.storage.job_errors(job_id)
        assert error.error == (
            f"rescued: worker {worker.worker_id} never saw the job (its claim reply was lost)"
        )
        assert _starts(log, job_id) == [str(os.getpid())]  # it ran once


def test_a_task_that_always_kills_its_worker_is_a_poison_pill(
    harness: Harness, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    job_id = harness.enqueue("poison", max_retries=3)
    fast = {"heartbeat_interval_s": 0.2, "reap_interval_s": 0.1, "max_rescues": 2}
    deadline = time.monotonic() + 30
    pids: list[int] = []
    while not harness.is_terminal(job_id):
        assert time.monotonic() < deadline, (pids, harness.job(job_id))
        with victim(harness, log, **fast) as process:
            pids.append(process.pid)
            wait_until(lambda: process.poll() is not None or harness.is_terminal(job_id), 20)
    record = harness.job(job_id)
    assert record.status is JobStatus.DEAD
    assert (record.retry_count, record.rescue_count) == (0, 2)
    assert record.error == poison_pill_error(2)
    assert record.error == "poison pill: rescued 2 times (its worker kept dying while running it)"
    assert len(_starts(log, job_id)) == 3  # the first run and two rescues, then no more
    errors = [error.error for error in harness.storage.job_errors(job_id)]
    assert len(errors) == 3 and all(e.startswith("rescued: worker") for e in errors[:2])
    assert errors[2] == record.error
    (letter,) = harness.storage.dead_letters(10, 0)
    assert (letter.original_job_id, letter.error, letter.retry_count) == (job_id, record.error, 0)


def test_jobs_left_at_the_drain_timeout_run_elsewhere_within_5_s(
    harness: Harness, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    _rescuer_tasks(harness, log)
    job_id = harness.enqueue("record", 20.0, max_retries=0)
    with victim(harness, log, drain_timeout_s=0.5) as process:
        wait_until(lambda: _starts(log, job_id), timeout_s=20)
        with harness.running(**DEFAULTS):
            process.send_signal(signal.SIGTERM)
            stopped_at = time.monotonic()
            wait_until(lambda: len(_starts(log, job_id)) == 2, timeout_s=8)
            took_s = time.monotonic() - stopped_at
            wait_until(lambda: harness.is_terminal(job_id))
    stderr = (tmp_path / "victims.err").read_text()
    assert took_s < 5.0, took_s
    _assert_rescued_once(harness, job_id, "rescued")
    (error,) = harness.storage.job_errors(job_id)
    assert "stopped (its drain timeout ran out with the job unfinished)" in error.error
    assert "rescued 1 job(s) of worker" in stderr and job_id in stderr
