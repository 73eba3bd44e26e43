"""The resources package on its own (no worker): registration and cycles, build order, each
scope, the pool, the per-thread store, the frozen view, rebuilds and reloads, teardown in
reverse order, status, the health checker (including a check that hangs) and TOML files."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from taskito import (
    CircularDependencyError,
    Inject,
    Queue,
    ResourceError,
    ResourceInitError,
    ResourceNotFoundError,
    ResourceUnavailableError,
)
from taskito.resources import (
    FrozenResource,
    HealthChecker,
    PoolConfig,
    ResourceDefinition,
    ResourcePool,
    ResourceRuntime,
    ResourceScope,
    ThreadLocalStore,
    detect_cycle,
    topological_sort,
)
from taskito.resources.toml_config import load_resources_from_toml
from tests.helpers import wait_until


def defn(name: str, factory: Any = dict, **options: Any) -> ResourceDefinition:
    return ResourceDefinition(name=name, factory=factory, **options)


@pytest.fixture
def queue(tmp_path: Path) -> Any:
    q = Queue(db_path=str(tmp_path / "q.db"))
    yield q
    q.close()


# --- registration -------------------------------------------------------------------------


def test_the_decorator_registers_the_factory_and_returns_it(queue: Queue) -> None:
    def make_db() -> str:
        return "db"

    assert queue.worker_resource("db", scope="task", pool_size=2)(make_db) is make_db
    stored = queue._resource_definitions["db"]
    assert (stored.factory, stored.scope, stored.pool_size) == (make_db, ResourceScope.TASK, 2)


def test_a_cycle_is_refused_at_registration_and_nothing_is_kept(queue: Queue) -> None:
    queue.worker_resource("a", depends_on=["b"])(dict)  # b is registered later: fine
    with pytest.raises(CircularDependencyError, match=r"Circular dependency detected: a -> b -> a"):
        queue.worker_resource("b", depends_on=["a"])(dict)
    assert sorted(queue._resource_definitions) == ["a"]


def test_a_cycle_through_a_replacement_keeps_the_earlier_definition(queue: Queue) -> None:
    queue.worker_resource("a")(dict)
    queue.worker_resource("b", depends_on=["a"])(dict)
    earlier = queue._resource_definitions["a"]
    with pytest.raises(CircularDependencyError):
        queue.register_resource(defn("a", depends_on=["b"]))
    assert queue._resource_definitions["a"] is earlier


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"scope": "process"}, ValueError, "invalid resource scope 'process'"),
        ({"pool_size": 0}, ValueError, "pool_size must be at least 1"),
        ({"health_check_interval": -1}, ValueError, "health_check_interval"),
        ({"depends_on": "db"}, TypeError, "depends_on must be a list"),
        ({"teardown": 5}, TypeError, "teardown must be callable"),
    ],
)
def test_bad_options_name_the_resource_and_the_option(
    queue: Queue, options: dict[str, Any], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        queue.worker_resource("db", **options)(dict)
    assert queue._resource_definitions == {}


#: Linters read ``Inject["x"]`` in an annotation as a forward reference to ``x``; an alias
#: reads the same to taskito and to them.
Cache = Inject["cache"]
Db = Inject["db"]


def test_inject_and_annotations_are_merged_in_order(queue: Queue) -> None:
    @queue.task(inject=["db"])
    def report(day: str, db: Any, cache: Cache, db2: Db = None) -> None:
        return None

    def written(day, cache):  # type: ignore[no-untyped-def]
        return None

    written.__annotations__ = {"cache": 'Inject["cache"]', "day": "str"}
    assert queue.task(name="written")(written).inject == ["cache"]

    @queue.task()
    def plain(x: int) -> int:
        return x

    assert report.inject == ["db", "cache"]
    assert plain.inject == []
    assert queue._task_inject_map == {report.name: ["db", "cache"], "written": ["cache"]}
    assert Inject["db"] == Inject["db"] and repr(Inject["db"]) == 'Inject["db"]'
    assert {Inject["db"], Inject["db"]} == {Inject["db"]}


def test_an_injected_parameter_need_not_be_passed_to_delay(queue: Queue) -> None:
    @queue.task(inject=["db"])
    def needs(x: int, db: Any) -> int:
        return x

    needs.delay(1)  # not a TypeError: the worker passes db
    with pytest.raises(TypeError, match="cannot be called"):
        needs.delay(1, 2, 3)


# --- graph --------------------------------------------------------------------------------


def test_build_order_is_kahn_with_roots_and_dependents_by_name() -> None:
    definitions = {
        "db": defn("db", depends_on=["config"]),
        "cache": defn("cache", depends_on=["config"]),
        "config": defn("config"),
        "api": defn("api"),
    }
    assert topological_sort(definitions) == ["api", "config", "cache", "db"]


def test_cycles_and_unknown_dependencies() -> None:
    definitions = {"a": defn("a", depends_on=["b"]), "b": defn("b", depends_on=["a"])}
    assert detect_cycle(definitions) == ["a", "b", "a"]
    assert detect_cycle({"a": defn("a", depends_on=["ghost"])}) is None
    with pytest.raises(CircularDependencyError, match="a -> b -> a"):
        topological_sort(definitions)
    with pytest.raises(KeyError, match="ghost"):
        topological_sort({"a": defn("a", depends_on=["ghost"])})


# --- the runtime ----------------------------------------------------------------------------


def test_dependencies_arrive_as_keywords_and_teardown_runs_in_reverse() -> None:
    log: list[str] = []

    def make(name: str) -> Any:
        def factory(**deps: Any) -> dict[str, Any]:
            log.append(f"init {name} {sorted(deps)}")
            return {"name": name, **deps}

        return factory

    runtime = ResourceRuntime(
        {
            "config": defn("config", make("config"), teardown=lambda i: log.append("down config")),
            "db": defn(
                "db", make("db"), depends_on=["config"], teardown=lambda i: log.append("down db")
            ),
        }
    )
    runtime.initialize()
    assert runtime.resolve("db")["config"] is runtime.resolve("config")
    runtime.teardown()
    assert log == ["init config []", "init db ['config']", "down db", "down config"]


def test_an_async_factory_is_awaited() -> None:
    async def make() -> str:
        return "built"

    runtime = ResourceRuntime({"x": defn("x", make)})
    runtime.initialize()
    assert runtime.resolve("x") == "built"
    runtime.teardown()


def test_a_failing_factory_names_the_resource_and_tears_down_what_was_built() -> None:
    torn: list[str] = []

    def broken(**deps: Any) -> None:
        raise ConnectionError("refused")

    runtime = ResourceRuntime(
        {
            "config": defn("config", teardown=lambda i: torn.append("config")),
            "db": defn("db", broken, depends_on=["config"]),
        }
    )
    with pytest.raises(
        ResourceInitError, match=r"Failed to initialize resource 'db': ConnectionError: refused"
    ):
        runtime.initialize()
    assert torn == ["config"]


def test_resolve_and_acquire_by_scope() -> None:
    counter = iter(range(100))
    closed: list[int] = []
    runtime = ResourceRuntime(
        {
            "w": defn("w", lambda: next(counter)),
            "t": defn("t", lambda: next(counter), scope="task", pool_size=1, acquire_timeout=0.05),
            "r": defn("r", lambda: next(counter), scope="request", teardown=closed.append),
            "th": defn("th", lambda: next(counter), scope="thread"),
        }
    )
    runtime.initialize()
    assert runtime.acquire_for_task("w") == (runtime.resolve("w"), None)
    pooled, give_back = runtime.acquire_for_task("t")
    assert give_back is not None
    with pytest.raises(ResourceUnavailableError, match=r"Resource 't' pool timed out after 0.05s"):
        runtime.acquire_for_task("t")
    give_back()
    assert runtime.acquire_for_task("t")[0] == pooled  # the same instance comes back
    first, done_first = runtime.acquire_for_task("r")
    second, done_second = runtime.acquire_for_task("r")
    assert first != second and done_first is not None and done_second is not None
    done_first()
    assert closed == [first]
    assert runtime.resolve("th") == runtime.resolve("th")
    with pytest.raises(ResourceUnavailableError, match="use acquire_for_task"):
        runtime.resolve("t")
    with pytest.raises(ResourceNotFoundError, match="'ghost' is not registered"):
        runtime.acquire_for_task("ghost")
    runtime.mark_unhealthy("w")
    with pytest.raises(ResourceUnavailableError, match="permanently unhealthy"):
        runtime.acquire_for_task("w")
    runtime.teardown()


def test_status_reports_every_resource() -> None:
    runtime = ResourceRuntime(
        {
            "config": defn("config"),
            "pool": defn("pool", scope="task", pool_size=3, depends_on=["config"]),
            "req": defn("req", scope="request"),
        }
    )
    runtime.initialize()
    rows = {row["name"]: row for row in runtime.status()}
    assert [row["name"] for row in runtime.status()] == ["config", "pool", "req"]
    assert rows["pool"]["scope"] == "task" and rows["pool"]["depends_on"] == ["config"]
    assert rows["pool"]["pool"]["size"] == 3 and rows["pool"]["health"] == "healthy"
    assert rows["req"]["health"] == "healthy" and "pool" not in rows["config"]
    assert runtime.health() == {"config": "healthy", "pool": "healthy", "req": "healthy"}
    runtime.teardown()


def test_recreate_rebuilds_dependents_and_keeps_frozen() -> None:
    builds = iter(range(100))
    runtime = ResourceRuntime(
        {
            "config": defn("config", lambda: {"n": next(builds)}, frozen=True),
            "db": defn("db", lambda config: ("db", config["n"]), depends_on=["config"]),
        }
    )
    runtime.initialize()
    assert runtime.resolve("db") == ("db", 0)
    assert runtime.recreate("config") is True
    assert isinstance(runtime.resolve("config"), FrozenResource)
    assert runtime.resolve("db") == ("db", 1)
    assert [r["recreations"] for r in runtime.status()] == [1, 1]
    runtime.teardown()


def test_reload_rebuilds_reloadable_resources_only() -> None:
    builds = iter(range(100))
    runtime = ResourceRuntime(
        {
            "settings": defn("settings", lambda: next(builds), reloadable=True),
            "db": defn("db", lambda: next(builds)),
        }
    )
    runtime.initialize()
    before = runtime.resolve("settings")
    assert runtime.reload() == {"settings": True}
    assert runtime.resolve("settings") != before
    assert runtime.reload(["db"]) == {"db": False}  # not reloadable: left alone
    assert runtime.reload(["ghost"]) == {"ghost": False}
    runtime.teardown()


def test_test_overrides_are_healthy_worker_instances() -> None:
    from taskito import MockResource

    mock = MockResource("db", return_value="fake")
    runtime = ResourceRuntime.from_test_overrides({"db": mock, "cache": 7})
    assert runtime.resolve("db") == "fake" and runtime.resolve("cache") == 7
    assert mock.call_count == 0
    assert [r["health"] for r in runtime.status()] == ["healthy", "healthy"]


# --- pool, thread store, frozen view ----------------------------------------------------------


def test_pool_factory_errors_cost_no_capacity_and_stats_count() -> None:
    attempts = iter([RuntimeError("boom"), "ok"])

    def factory() -> str:
        value = next(attempts)
        if isinstance(value, Exception):
            raise value
        return value

    pool = ResourcePool("p", factory, None, PoolConfig(pool_size=1, acquire_timeout=0.05))
    with pytest.raises(RuntimeError, match="boom"):
        pool.acquire()
    instance = pool.acquire()  # the failed attempt gave its permit back
    pool.release(instance)
    with pytest.raises(ValueError, match="not lent"):
        pool.release("stranger")
    stats = pool.stats()
    assert (stats["size"], stats["active"], stats["idle"], stats["total_acquisitions"]) == (
        1,
        0,
        1,
        1,
    )
    pool.shutdown()


def test_pool_replaces_instances_past_their_lifetime() -> None:
    made = iter(range(10))
    closed: list[int] = []
    pool = ResourcePool(
        "p", lambda: next(made), closed.append, PoolConfig(pool_size=1, max_lifetime=0.001)
    )
    first = pool.acquire()
    pool.release(first)
    built_at = time.monotonic()
    wait_until(lambda: time.monotonic() - built_at > 0.002, message="past max_lifetime")
    second = pool.acquire()
    assert second != first and closed == [first]
    pool.release(second)
    pool.shutdown()
    assert closed == [first, second]


def test_thread_store_gives_one_instance_per_thread() -> None:
    made = iter(range(10))
    closed: list[int] = []
    store = ThreadLocalStore("s", lambda: next(made), closed.append)
    here = store.get_or_create()
    assert store.get_or_create() == here
    elsewhere: list[int] = []
    helper = threading.Thread(target=lambda: elsewhere.append(store.get_or_create()))
    helper.start()
    helper.join()
    assert elsewhere[0] != here and len(store) == 2
    store.teardown_all()
    assert sorted(closed) == sorted([here, elsewhere[0]])


def test_frozen_resource_reads_through_and_refuses_writes() -> None:
    frozen = FrozenResource({"a": 1}, "config")
    assert frozen["a"] == 1 and len(frozen) == 1 and "a" in frozen and frozen == {"a": 1}
    assert frozen.get("a") == 1
    with pytest.raises(
        ResourceError, match="Cannot modify frozen resource 'config': attribute 'x'"
    ):
        frozen.x = 1
    with pytest.raises(AttributeError):
        frozen.x = 1


# --- health checks ----------------------------------------------------------------------------


def test_a_failing_check_recreates_then_marks_unhealthy() -> None:
    builds: list[int] = []
    unhealthy: list[str] = []

    def factory() -> int:
        builds.append(len(builds))
        return len(builds)

    runtime = ResourceRuntime(
        {
            "db": defn(
                "db",
                factory,
                health_check=lambda instance: False,
                health_check_interval=0.05,
                max_recreation_attempts=2,
            )
        }
    )
    runtime.initialize()
    checker = HealthChecker(runtime, on_unhealthy=unhealthy.append, tick_s=0.01)
    checker.start()
    try:
        wait_until(lambda: runtime.is_unhealthy("db"), message="db marked unhealthy")
    finally:
        checker.stop()
    assert unhealthy == ["db"] and len(builds) == 3  # built once, rebuilt twice
    assert runtime.health() == {"db": "unhealthy"}
    runtime.teardown()


def test_a_hanging_check_fails_at_its_limit_naming_the_resource() -> None:
    release = threading.Event()
    runtime = ResourceRuntime(
        {
            "db": defn(
                "db",
                health_check=lambda instance: release.wait(30),
                health_check_interval=0.05,
                health_check_timeout=0.1,
                max_recreation_attempts=1,
            )
        }
    )
    runtime.initialize()
    checker = HealthChecker(runtime, tick_s=0.01)
    try:
        from taskito.resources.health import run_check

        result = run_check(runtime.definitions["db"], runtime.resolve("db"))
        assert not result.ok
        assert result.error == "health check of resource 'db' did not finish within 0.1s"
        checker.start()
        wait_until(lambda: runtime.is_unhealthy("db"), message="the hung check to count")
    finally:
        checker.stop()
        release.set()
        wait_until(
            lambda: not any(t.name == "taskito-health-db" for t in threading.enumerate()),
            message="the hung checks to end",
        )
    runtime.teardown()


def test_queue_health_check_runs_once_here(queue: Queue) -> None:
    assert queue.health_check("db") is False  # no live runtime
    queue.worker_resource("db", health_check=lambda db: db == "fake")(dict)
    with queue.test_mode(resources={"db": "fake"}):
        assert queue.health_check("db") is True
        assert queue.resource_status()[0]["health"] == "healthy"
    assert queue.health_check("db") is False


# --- TOML -----------------------------------------------------------------------------------


def test_toml_definitions_load(tmp_path: Path, queue: Queue) -> None:
    path = tmp_path / "resources.toml"
    path.write_text(
        "[resources.config]\nfactory = 'builtins:dict'\nreloadable = true\n"
        "[resources.pool]\nfactory = 'builtins.list'\nscope = 'task'\npool_size = 2\n"
        "depends_on = []\n"
    )
    assert queue.load_resources(path) == ["config", "pool"]
    loaded = queue._resource_definitions
    assert loaded["config"].factory is dict and loaded["config"].reloadable
    assert loaded["pool"].scope is ResourceScope.TASK and loaded["pool"].pool_size == 2
    assert load_resources_from_toml(tmp_path / "resources.toml")[0].name == "config"
    (tmp_path / "empty.toml").write_text("[other]\nx = 1\n")
    assert load_resources_from_toml(tmp_path / "empty.toml") == []


@pytest.mark.parametrize(
    ("body", "error", "text"),
    [
        (
            "[resources.db]\nscope = 'worker'\n",
            ValueError,
            "resource 'db': missing required 'factory' key",
        ),
        (
            "[resources.db]\nfactory = 'no_such_module_x:make'\n",
            ImportError,
            "resource 'db': factory: cannot import module 'no_such_module_x'",
        ),
        (
            "[resources.db]\nfactory = 'builtins:no_such'\n",
            ImportError,
            "has no attribute 'no_such'",
        ),
        ("[resources.db]\nfactory = 'nocolon'\n", ValueError, "is not a 'module:attr' path"),
        ("[resources.db]\nfactory = 'math:pi'\n", ValueError, "'math:pi' is not callable"),
        (
            "[resources.db]\nfactory = 'builtins:dict'\nscope = 'galaxy'\n",
            ValueError,
            "invalid resource scope 'galaxy'",
        ),
        ("[resources]\ndb = 5\n", ValueError, r"resource 'db': expected a table \[resources.db\]"),
    ],
)
def test_bad_toml_files_name_the_resource_and_the_problem(
    tmp_path: Path, queue: Queue, body: str, error: type[Exception], text: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[resources.ok]\nfactory = 'builtins:dict'\n" + body)
    with pytest.raises(error, match=text):
        queue.load_resources(path)
    assert queue._resource_definitions == {}  # none of the file's resources was kept


def test_status_with_nothing_defined_is_empty_and_async_mirrors_it(queue: Queue) -> None:
    import asyncio

    assert queue.resource_status() == []
    assert asyncio.run(queue.aresource_status()) == []
    queue.worker_resource("db", depends_on=["config"])(dict)
    rows = asyncio.run(queue.aresource_status())
    assert rows == [
        {
            "name": "db",
            "scope": "worker",
            "health": "not_initialized",
            "init_duration_ms": 0.0,
            "recreations": 0,
            "depends_on": ["config"],
            "workers": 0,
        }
    ]
    assert queue._build_resource_health_json() is None


def test_a_task_asking_during_a_rebuild_waits_for_the_new_instance() -> None:
    gate = threading.Event()
    builds = iter(range(10))

    def factory() -> int:
        built = next(builds)
        if built > 0:
            gate.wait(10)  # the rebuild takes a while
        return built

    runtime = ResourceRuntime({"db": defn("db", factory, acquire_timeout=10)})
    runtime.initialize()
    got: list[Any] = []
    rebuild = threading.Thread(target=runtime.recreate, args=("db",))
    rebuild.start()
    wait_until(lambda: "db" not in runtime._instances, message="the rebuild to begin")
    asker = threading.Thread(target=lambda: got.append(runtime.acquire_for_task("db")))
    asker.start()
    try:
        assert got == []  # waiting, not failing
    finally:
        gate.set()
        rebuild.join()
        asker.join()
    assert got == [(1, None)]
    runtime.teardown()


def test_a_rebuild_that_fails_on_the_last_attempt_marks_it_unhealthy() -> None:
    calls = iter(range(10))

    def factory() -> int:
        built = next(calls)
        if built > 0:
            raise ConnectionError("still down")
        return built

    runtime = ResourceRuntime(
        {
            "db": defn(
                "db",
                factory,
                teardown=lambda instance: (_ for _ in ()).throw(OSError("close failed")),
                health_check=lambda instance: False,
                health_check_interval=0.05,
                max_recreation_attempts=1,
            )
        }
    )
    runtime.initialize()
    checker = HealthChecker(runtime, tick_s=0.01)
    checker.start()
    try:
        wait_until(lambda: runtime.is_unhealthy("db"), message="db marked unhealthy")
    finally:
        checker.stop()
    assert next(calls) == 2  # built once, one rebuild tried (its teardown error was logged)
    runtime.teardown()
