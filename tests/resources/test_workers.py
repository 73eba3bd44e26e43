"""Worker resources in real workers: injected on the thread and async pools and in prefork
children (real processes that build their own), torn down in reverse order when the worker
stops; reported in heartbeats, combined by ``resource_status`` and readiness; an unhealthy
one announced (``WORKER_UNHEALTHY``); reloaded by ``taskito reload`` (SIGHUP) in a worker
started by ``taskito worker``; and the bad inputs: an unknown name in ``inject=`` fails its
job naming it, a factory that raises keeps the worker from starting and loses no job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskito import ConfigurationError, EventType, Queue, ResourceInitError
from taskito.health import check_readiness
from tests.api.backends.support import AppModule
from tests.helpers import wait_until

APP_SOURCE = """
import asyncio
import os
import uuid

from taskito import Inject, Queue

HERE = os.path.dirname(os.path.abspath(__file__))
LOG = os.path.join(HERE, "events.log")


def note(text):
    with open(LOG, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {text}\\n")


queue = Queue(**OPTIONS)


@queue.worker_resource("config", teardown=lambda c: note("down config"))
def config():
    note("init config")
    return {"dsn": "memory://"}


@queue.worker_resource(
    "db", depends_on=["config"], teardown=lambda d: note("down db"), reloadable=True
)
def db(config):
    note("init db")
    return {"dsn": config["dsn"], "pid": os.getpid(), "id": uuid.uuid4().hex}


@queue.worker_resource("conn", scope="task", pool_size=2, teardown=lambda c: note("down conn"))
def conn():
    return {"conn": uuid.uuid4().hex}


if BROKEN:
    @queue.worker_resource("broken", depends_on=["db"])
    def broken(db):
        raise ConnectionError("the database refused the connection")


if os.environ.get("RES_TEST_PARENT") == str(os.getppid()):
    @queue.worker_resource("children_only")
    def children_only():
        raise ConnectionError("a child cannot reach the database")


if UNHEALTHY:
    @queue.worker_resource(
        "flaky", health_check=lambda f: False, health_check_interval=0.05,
        max_recreation_attempts=1,
    )
    def flaky():
        return "flaky"


Conn = Inject["conn"]


@queue.task(name="where", inject=["db"], max_retries=0)
def where(db):
    return {"pid": os.getpid(), "db_pid": db["pid"], "dsn": db["dsn"]}


@queue.task(name="pooled", max_retries=0)
def pooled(x, conn: Conn):
    return [x, sorted(conn)]


@queue.task(name="awhere", inject=["db"], max_retries=0)
async def awhere(db):
    await asyncio.sleep(0)
    return {"pid": os.getpid(), "db_pid": db["pid"]}


@queue.task(name="apooled", max_retries=0)
async def apooled(x, conn: Conn):
    await asyncio.sleep(0)
    return [x, sorted(conn)]


@queue.task(name="aghost", inject=["ghost"], max_retries=0)
async def aghost(ghost=None):
    return ghost


@queue.task(name="echo_db", inject=["db"], max_retries=0)
def echo_db(db):
    return db


@queue.task(name="needs_ghost", inject=["ghost"], max_retries=0)
def needs_ghost(ghost=None):
    return ghost
"""


class App(AppModule):
    """The app module written to ``root`` and imported; prefork children import it too."""

    def __init__(
        self, root: Path, *, broken: bool = False, unhealthy: bool = False, **options: Any
    ) -> None:
        options = {"db_path": str(root / "jobs.db"), **options}
        source = (
            APP_SOURCE.replace("OPTIONS", repr(options))
            .replace("BROKEN", repr(broken))
            .replace("UNHEALTHY", repr(unhealthy))
        )
        super().__init__(root, "res_app_", source)

    def events(self) -> list[tuple[int, str]]:
        log = self.root / "events.log"
        if not log.exists():
            return []
        lines = [line.split(" ", 1) for line in log.read_text().splitlines()]
        return [(int(pid), text) for pid, text in lines]


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.chdir(tmp_path)  # prefork children import the app from the working directory
    apps: list[App] = []

    def make(**options: Any) -> App:
        app = App(tmp_path, **options)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


def test_thread_pool_injects_and_tears_down_in_reverse(make_app: Any) -> None:
    app = make_app()
    where = app.queue.enqueue("where")
    pooled = app.queue.enqueue("pooled", args=(1,))
    mine = app.queue.enqueue("echo_db", kwargs={"db": "mine"})
    with app.run("thread"):
        results = [app.queue.get_job(j.id).result(30) for j in (where, pooled, mine)]  # type: ignore[union-attr]
        status = {row["name"]: row for row in app.queue.resource_status()}
    assert results[0] == {"pid": os.getpid(), "db_pid": os.getpid(), "dsn": "memory://"}
    assert results[1] == [1, ["conn"]]
    assert results[2] == "mine"  # the caller's keyword wins over injection
    assert status["db"]["depends_on"] == ["config"] and status["conn"]["scope"] == "task"
    assert status["conn"]["pool"]["total_acquisitions"] == 1
    events = [text for _, text in app.events()]
    assert events == ["init config", "init db", "down conn", "down db", "down config"]


def test_async_pool_injects(make_app: Any) -> None:
    app = make_app()
    job = app.queue.enqueue("awhere")
    pooled = app.queue.enqueue("apooled", args=(3,))
    with app.run("async"):
        assert app.queue.get_job(job.id).result(30) == {  # type: ignore[union-attr]
            "pid": os.getpid(),
            "db_pid": os.getpid(),
        }
        assert app.queue.get_job(pooled.id).result(30) == [3, ["conn"]]  # type: ignore[union-attr]
        pool = next(r for r in app.queue.resource_status() if r["name"] == "conn")["pool"]
        assert (pool["active"], pool["idle"], pool["total_acquisitions"]) == (0, 1, 1)
    assert [text for _, text in app.events()][-2:] == ["down db", "down config"]


def test_prefork_children_build_their_own_and_tear_down_in_reverse(make_app: Any) -> None:
    app = make_app()
    jobs = [app.queue.enqueue("where") for _ in range(4)]
    with app.run("prefork"):
        results = [app.queue.get_job(j.id).result(60) for j in jobs]  # type: ignore[union-attr]
    child_pids = {r["pid"] for r in results}
    assert os.getpid() not in child_pids
    assert all(r["db_pid"] == r["pid"] for r in results)  # built in the child that ran it
    events = app.events()
    for child in child_pids:
        mine = [text for pid, text in events if pid == child]
        assert mine == ["init config", "init db", "down db", "down config"], mine


@pytest.mark.parametrize(
    ("pool", "task"), [("thread", "needs_ghost"), ("async", "aghost"), ("prefork", "needs_ghost")]
)
def test_an_unknown_injected_name_fails_the_job_naming_it(
    make_app: Any, pool: str, task: str
) -> None:
    app = make_app()
    ghost = app.queue.enqueue(task)
    fine = app.queue.enqueue("where")
    with app.run(pool):
        record = app.final(ghost.id)
        assert app.final(fine.id).status == "complete"
    assert record.status == "dead"
    assert record.error == (
        f"task {task!r} could not get its injected resource 'ghost': ResourceNotFoundError: "
        "Resource 'ghost' is not registered (known resources: config, conn, db)"
    )


@pytest.mark.parametrize("pool", ["thread", "prefork"])
def test_a_factory_that_raises_keeps_the_worker_from_starting(make_app: Any, pool: str) -> None:
    app = make_app(broken=True)
    job = app.queue.enqueue("where")
    with pytest.raises(ResourceInitError) as raised:
        app.queue.run_worker(pool=pool, app=app.spec, workers=1)
    assert str(raised.value) == (
        "Failed to initialize resource 'broken': ConnectionError: the database refused the "
        "connection"
    )
    assert app.queue.get_job(job.id).status == "pending"  # type: ignore[union-attr]
    assert app.queue.workers() == []
    # What was built before the failure was torn down.
    assert [text for _, text in app.events()][-2:] == ["down db", "down config"]


def test_a_factory_that_raises_only_in_prefork_children_keeps_the_worker_from_starting(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RES_TEST_PARENT", str(os.getpid()))
    app = make_app()
    job = app.queue.enqueue("where")
    with pytest.raises(ConfigurationError, match="pool='prefork' could not load app") as raised:
        app.queue.run_worker(pool="prefork", app=app.spec, workers=1)
    assert (
        "ResourceInitError: Failed to initialize resource 'children_only': ConnectionError: "
        "a child cannot reach the database" in str(raised.value)
    )
    assert app.queue.get_job(job.id).status == "pending"  # type: ignore[union-attr]
    assert app.queue.workers() == []


def test_heartbeats_carry_health_that_other_processes_combine(make_app: Any) -> None:
    app = make_app()
    reader = Queue(db_path=str(app.root / "jobs.db"))
    try:
        with app.run("thread"):

            def reported() -> dict[str, Any] | None:
                workers = reader.workers()
                return workers[0] if workers and workers[0]["resource_health"] else None

            worker = wait_until(reported, 10, message="a heartbeat with resource health")
            assert worker is not None
            assert json.loads(worker["resources"]) == ["config", "conn", "db"]
            assert json.loads(worker["resource_health"]) == {
                "config": "healthy",
                "conn": "healthy",
                "db": "healthy",
            }
            reader._resource_definitions.update(app.queue._resource_definitions)
            rows = reader.resource_status()
            assert [(r["name"], r["health"], r["workers"]) for r in rows] == [
                ("config", "healthy", 1),
                ("conn", "healthy", 1),
                ("db", "healthy", 1),
            ]
            assert check_readiness(reader)["checks"]["resources"] == {
                "status": "ok",
                "count": 3,
                "unhealthy": [],
            }
    finally:
        reader.close()


def test_an_unhealthy_resource_is_announced_and_degrades_readiness(make_app: Any) -> None:
    app = make_app(unhealthy=True)
    announced: list[dict[str, Any]] = []
    app.queue.on_event(EventType.WORKER_UNHEALTHY, lambda _type, payload: announced.append(payload))
    with app.run("thread"):
        wait_until(lambda: announced, 10, message="WORKER_UNHEALTHY")
        readiness = check_readiness(app.queue)
        worker_id = next(iter(app.queue._running_workers)).worker_id
    assert announced == [{"worker_id": worker_id, "resources": ["flaky"]}]
    assert readiness["status"] == "degraded"
    assert readiness["checks"]["resources"]["unhealthy"] == ["flaky"]


@pytest.mark.slow
@pytest.mark.parametrize("pool", ["thread", "prefork"])
def test_taskito_reload_rebuilds_a_reloadable_resource_of_a_cli_worker(
    make_app: Any, pool: str
) -> None:
    app = make_app()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "taskito", "worker", "--app", app.spec, "--pool", pool]
    worker = subprocess.Popen(
        [*command, "--workers", "1"],
        cwd=app.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The worker itself, and with prefork its child, each build (and rebuild) their own.
    builders = 2 if pool == "prefork" else 1

    def built_db(times: int) -> bool:
        counts: dict[int, int] = {}
        for pid, text in app.events():
            if text == "init db":
                counts[pid] = counts.get(pid, 0) + 1
        return len(counts) == builders and all(n == times for n in counts.values())

    try:
        wait_until(lambda: built_db(1), 30, message="the worker to build its resources")
        wait_until(lambda: app.queue.workers(), 20, message="the worker to register")
        reload = subprocess.run(
            [
                sys.executable,
                "-m",
                "taskito",
                "reload",
                "--pid",
                f"{worker.pid}",
                "--resource",
                "db",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert (reload.returncode, reload.stdout) == (
            0,
            f"Sent SIGHUP to worker (PID {worker.pid})\n",
        )
        wait_until(lambda: built_db(2), 30, message="db rebuilt in every process")
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)
    assert "SIGHUP: reload of resource 'db' OK" in stderr
    for pid in {pid for pid, _ in app.events()}:
        mine = [t for p, t in app.events() if p == pid]
        # config is not reloadable: built once; db twice (the first torn down on reload).
        assert mine == ["init config", "init db", "down db", "init db", "down db", "down config"]


def test_taskito_reload_of_a_missing_process_fails(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "taskito", "reload", "--pid", "999999999"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "taskito reload: no process with PID 999999999\n"


def test_taskito_resources_prints_the_table(make_app: Any) -> None:
    from taskito.cli.resources import render

    app = make_app()
    job = app.queue.enqueue("pooled", args=(2,))
    with app.run("thread"):
        app.final(job.id)
        table = render(app.queue.resource_status()).splitlines()
    assert table[0] == (
        "RESOURCE            SCOPE     HEALTH          INIT (ms)   RECREATIONS   DEPENDS ON"
    )
    assert table[1] == "-" * len(table[0])
    names = [line.split()[0] for line in table[2:] if not line.startswith("  ")]
    assert names == ["config", "conn", "db"]
    assert table[4].startswith("  pool: active=0 idle=1 max=2 timeouts=0")
    assert table[5].split()[-1] == "config"
    assert render([]) == "No resources registered."


def test_taskito_resources_without_a_worker_says_none_reported(make_app: Any) -> None:
    app = make_app()
    done = subprocess.run(
        [sys.executable, "-m", "taskito", "resources", "--app", app.spec],
        cwd=app.root,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[2:]]
    assert rows == [
        ["config", "worker", "not_initialized", "0.00", "0", "-"],
        ["conn", "task", "not_initialized", "0.00", "0", "-"],
        ["db", "worker", "not_initialized", "0.00", "0", "config"],
    ]
