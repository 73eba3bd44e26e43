"""Intercepted arguments restored by real workers: proxies (an open file, a logger) and converted
values rebuilt on the thread pool, in prefork children (real processes importing the app) and
on the async pool, with ``async def`` tasks seeing the same ``current_job`` and hooks; and the
bad inputs, each failing its job with a clear error and losing nothing: a tampered recipe, a
path outside the worker's allow-list, a handler disabled on the worker, a resource the worker
does not have, a rebuild past its time limit."""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskito import Queue
from taskito.interception.markers import PROXY
from tests.api.backends.support import AppModule
from tests.helpers import wait_until

APP_SOURCE = '''
import asyncio
import dataclasses
import datetime as dt
import os
import threading

from taskito import JsonSerializer, Queue, current_job

HERE = os.path.dirname(os.path.abspath(__file__))


@dataclasses.dataclass
class Order:
    id: int
    placed: dt.datetime


class Money:
    def __init__(self, cents):
        self.cents = cents


class Slow:
    """Rebuilt by a handler that waits for the file named GATE to exist."""


class SlowHandler:
    name = "slow"
    version = 1
    handled_types = (Slow,)

    def detect(self, obj):
        return isinstance(obj, Slow)

    def deconstruct(self, obj):
        return {}

    def reconstruct(self, recipe, version):
        gate = os.path.join(HERE, "GATE")
        while not os.path.exists(gate):
            threading.Event().wait(0.01)
        return Slow()

    def cleanup(self, obj):
        return None


queue = Queue(**OPTIONS, **EXTRA)
queue.register_proxy_handler(SlowHandler())
if queue._interceptor is not None:
    queue.register_type(Money, "redirect", resource="ledger")

hooks = []
handles = []


@queue.before_task
def before(name, args, kwargs):
    hooks.append(("before", name))


@queue.on_success
def succeeded(name, args, kwargs, result):
    hooks.append(("success", name))


def describe(handle, log, order, when):
    handles.append(handle)
    return {
        "line": handle.readline(),
        "logger": log.name,
        "order": [order.id, order.placed.isoformat()],
        "when": when.isoformat(),
        "pid": os.getpid(),
        "job": [current_job.id, current_job.task_name, current_job.retry_count,
                current_job.queue_name],
    }


@queue.task(name="sync_read", max_retries=0)
def sync_read(handle, log, order, when):
    return describe(handle, log, order, when)


@queue.task(name="async_read", max_retries=0)
async def async_read(handle, log, order, when):
    await asyncio.sleep(0)
    return describe(handle, log, order, when)


@queue.task(name="echo", max_retries=0)
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@queue.task(name="kinds", max_retries=0)
def kinds(*args, **kwargs):
    named = lambda value: f"{type(value).__name__}:{value}"
    return {"args": [named(a) for a in args], "kwargs": {k: named(v) for k, v in kwargs.items()}}


@queue.task(name="slow", max_retries=0)
def slow(value):
    return "rebuilt"
'''

KEY = "recipe-key-for-the-tests"


class App(AppModule):
    """The app module written to ``root`` and imported; prefork children import it too."""

    def __init__(self, root: Path, *, json: bool = False, **options: Any) -> None:
        options = {"db_path": str(root / "jobs.db"), "interception": "strict", **options}
        extra = "dict(serializer=JsonSerializer())" if json else "{}"
        source = APP_SOURCE.replace("OPTIONS", repr(options)).replace("EXTRA", extra)
        super().__init__(root, "icpt_app_", source)


def result_on(app: App, job_id: str) -> Any:
    """The result of a job another (closed) Queue enqueued, read through the app's Queue."""
    job = app.queue.get_job(job_id)
    assert job is not None
    return job.result(5)


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.chdir(tmp_path)  # prefork children import the app from the working directory
    apps: list[App] = []

    def make(*, json: bool = False, **options: Any) -> App:
        app = App(tmp_path, json=json, **options)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "lines.txt"
    path.parent.mkdir()
    path.write_text("line one\nline two\n")
    return path


@pytest.mark.parametrize(
    ("pool", "task"),
    [
        ("thread", "sync_read"),
        ("thread", "async_read"),
        ("prefork", "sync_read"),
        ("prefork", "async_read"),
        ("async", "async_read"),
    ],
)
def test_proxies_and_conversions_are_restored_on_every_pool(
    make_app: Any, data_file: Path, pool: str, task: str
) -> None:
    import logging

    app = make_app(recipe_signing_key=KEY)
    order = app.module.Order(7, dt.datetime(2024, 1, 2, 3, 4))
    with data_file.open() as handle:
        handle.readline()
        job = app.queue.enqueue(
            task, args=(handle, logging.getLogger("tests.icpt"), order, dt.date(2024, 5, 6))
        )
    with app.run(pool):
        record = app.final(job.id)
    assert record.status == "complete", record.error
    result = job.result(5)
    assert result["line"] == "line two\n"
    assert result["logger"] == "tests.icpt"
    assert result["order"] == [7, "2024-01-02T03:04:00"] and result["when"] == "2024-05-06"
    assert result["job"] == [job.id, task, 0, "default"]
    in_process = result["pid"] == os.getpid()
    assert in_process is (pool != "prefork")
    if in_process:
        assert all(handle.closed for handle in app.module.handles)  # cleaned up after the task
        assert ("before", task) in app.module.hooks and ("success", task) in app.module.hooks
        stats = {s["handler"]: s for s in app.queue.proxy_stats()}
        assert stats["file"]["total_reconstructions"] == 1
        assert stats["logger"]["total_errors"] == 0


def test_a_json_queue_restores_converted_values(make_app: Any) -> None:
    app = make_app(json=True)
    job = app.queue.enqueue("kinds", args=(dt.date(2024, 1, 2),), kwargs={"n": uuid.UUID(int=9)})
    with app.run("thread"):
        record = app.final(job.id)
    assert record.status == "complete", record.error
    assert job.result(5) == {
        "args": ["date:2024-01-02"],
        "kwargs": {"n": "UUID:00000000-0000-0000-0000-000000000009"},
    }


@pytest.mark.parametrize("pool", ["thread", "prefork"])
def test_a_tampered_recipe_is_refused_and_its_job_fails_without_retries(
    make_app: Any, data_file: Path, tmp_path: Path, pool: str
) -> None:
    app = make_app(recipe_signing_key=KEY)
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    with data_file.open() as handle:
        args, kwargs, envelope = forged_call(app, handle, {"path": str(secret)})
    job_id = store_forged(app, "echo", args, kwargs, envelope, max_retries=3)
    with app.run(pool):
        record = app.final(job_id)
    assert record.status == "dead" and record.retry_count == 0
    assert record.error is not None and "checksum mismatch" in record.error
    assert "args[0]" in record.error


def forged_call(app: App, handle: Any, change: dict[str, Any]) -> tuple[Any, Any, Any]:
    """The intercepted call of ``echo(handle)`` with its recipe changed after signing."""
    call = app.queue._interception.intercept((handle,), {})
    marker = call.args[0]
    assert marker[PROXY] and "checksum" in marker
    forged = {**marker, "recipe": {**marker["recipe"], **change}}
    return (forged,), call.kwargs, call.envelope


def store_forged(
    app: App, task: str, args: Any, kwargs: Any, envelope: Any, max_retries: int = 0
) -> str:
    """Store a job whose payload was written by hand, as a forger with database access would."""
    from taskito.ids import new_job_id
    from taskito.job import NewJob, now_ms

    now = now_ms()
    job = NewJob(
        new_job_id(),
        "default",
        task,
        app.queue._serializer.dumps((args, kwargs, envelope)),
        0,
        now,
        now,
        max_retries,
        60_000,
    )
    return app.queue._storage.enqueue(job).id


def test_a_path_outside_the_allow_list_is_refused_at_enqueue_and_by_the_worker(
    make_app: Any, data_file: Path, tmp_path: Path
) -> None:
    from taskito import InterceptionError

    allowed = tmp_path / "allowed"
    allowed.mkdir()
    app = make_app(file_path_allowlist=[str(allowed)])
    with data_file.open() as handle:
        with pytest.raises(InterceptionError, match="outside file_path_allowlist") as raised:
            app.queue.enqueue("echo", args=(handle,))
        assert str(data_file) in str(raised.value)
        assert sum(app.queue.stats().values()) == 0
        # A producer without the allow-list sends it anyway; the worker has the last word.
        producer = Queue(db_path=str(tmp_path / "jobs.db"), interception="strict")
        try:
            job = producer.enqueue("echo", args=(handle,), max_retries=3)
        finally:
            producer.close()
    with app.run("thread"):
        record = app.final(job.id)
    assert record.status == "dead" and record.retry_count == 0
    assert record.error is not None and "outside file_path_allowlist" in record.error
    assert str(data_file) in record.error


def test_a_handler_disabled_on_the_worker_fails_the_job(make_app: Any, tmp_path: Path) -> None:
    import logging

    app = make_app(disabled_proxies=["logger"])
    producer = Queue(db_path=str(tmp_path / "jobs.db"), interception="strict")
    try:
        job = producer.enqueue("echo", args=(logging.getLogger("x"),), max_retries=0)
    finally:
        producer.close()
    with app.run("thread"):
        record = app.final(job.id)
    assert record.status == "dead"
    assert record.error is not None and "'logger' is disabled on this worker" in record.error


def test_a_redirect_without_the_resource_fails_naming_it(make_app: Any) -> None:
    app = make_app()
    job = app.queue.enqueue("echo", kwargs={"m": app.module.Money(5)}, max_retries=0)
    with app.run("thread"):
        record = app.final(job.id)
    assert record.status == "dead"
    assert record.error is not None
    assert ("before", "echo") not in app.module.hooks  # it failed before any hook ran
    assert record.error == (
        "arguments could not be restored: argument kwargs.m was redirected to worker resource "
        "'ledger' at enqueue, but this worker has no resources; define it with "
        "@queue.worker_resource('ledger')"
    )


def test_a_rebuild_past_the_time_limit_fails_at_the_limit(make_app: Any, tmp_path: Path) -> None:
    app = make_app(max_reconstruction_timeout=0.3)
    job = app.queue.enqueue("slow", args=(app.module.Slow(),), max_retries=0)
    try:
        with app.run("thread"):
            record = app.final(job.id, timeout_s=10)
    finally:
        (tmp_path / "GATE").write_text("open")  # lets the abandoned rebuild end
    assert record.status == "dead"
    assert record.error is not None and "timed out after 0.3s" in record.error
    wait_until(
        lambda: not any(t.name == "taskito-proxy-rebuild" for t in threading.enumerate()),
        message="the abandoned rebuild thread to end",
    )


def test_a_worker_with_interception_off_restores_what_the_producer_intercepted(
    make_app: Any, tmp_path: Path
) -> None:
    app = make_app(interception="off")
    producer = Queue(db_path=str(tmp_path / "jobs.db"), interception="strict")
    try:
        job = producer.enqueue("echo", args=(dt.date(2024, 1, 2),))
    finally:
        producer.close()
    with app.run("thread"):
        record = app.final(job.id)
    assert record.status == "complete", record.error
    assert result_on(app, job.id)["args"] == [dt.date(2024, 1, 2)]


def test_a_marker_looking_dict_from_a_producer_that_did_not_intercept_stays_a_dict(
    make_app: Any, tmp_path: Path, data_file: Path
) -> None:
    app = make_app()
    looks_like = {PROXY: True, "handler": "file", "version": 1, "identity": "x",
                  "recipe": {"path": str(data_file), "mode": "r"}}  # fmt: skip
    producer = Queue(db_path=str(tmp_path / "jobs.db"))  # interception off
    try:
        job = producer.enqueue("echo", args=(looks_like,))
    finally:
        producer.close()
    with app.run("thread"):
        record = app.final(job.id)
    assert record.status == "complete", record.error
    assert result_on(app, job.id)["args"] == [looks_like]  # never opened: handed over as data
