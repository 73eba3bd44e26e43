"""The enqueue side of interception, without I/O: the type registry and its built-in table, the
walker's rules and strategies, the interceptor's modes, the report and the metrics
(docs/interception.md)."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import datetime as dt
import decimal
import enum
import io
import logging
import pathlib
import re
import socket
import tempfile
import threading
import types
import uuid
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from taskito import InterceptionError, NoProxy, SerializationError
from taskito.interception import (
    ArgumentFailure,
    ArgumentInterceptor,
    ArgumentWalker,
    InterceptionMetrics,
    InterceptionReport,
    Strategy,
    TypeRegistry,
    build_default_registry,
)
from taskito.interception.markers import CONVERT, PROXY, REDIRECT, REF
from taskito.proxies import ProxyRegistry, register_builtin_handlers


class Color(enum.Enum):
    RED = 1
    BLUE = 2


@dataclasses.dataclass
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Stamped:
    at: dt.datetime
    point: Point


class Pair(NamedTuple):
    left: int
    right: uuid.UUID


class Money:
    def __init__(self, cents: int) -> None:
        self.cents = cents


class Unknown:
    pass


@pytest.fixture
def proxies() -> ProxyRegistry:
    registry = ProxyRegistry()
    register_builtin_handlers(registry)
    return registry


@pytest.fixture
def walker(proxies: ProxyRegistry) -> ArgumentWalker:
    return ArgumentWalker(build_default_registry(), max_depth=10, proxy_registry=proxies)


@pytest.fixture
def open_file(tmp_path: pathlib.Path) -> Iterator[io.TextIOWrapper]:
    path = tmp_path / "data.txt"
    path.write_text("hello")
    with path.open() as handle:
        yield handle


def walk(walker: ArgumentWalker, *args: Any, **kwargs: Any) -> Any:
    return walker.walk(args, kwargs)


def strategy_of(value: Any) -> Strategy | None:
    entry = build_default_registry().resolve(value)
    return None if entry is None else entry.strategy


# --- the built-in table -----------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 1.5, "s", True, b"b"])
def test_primitives_pass(value: Any) -> None:
    assert strategy_of(value) is Strategy.PASS


@pytest.mark.parametrize(
    "value",
    [
        threading.Lock(),
        threading.RLock(),
        threading.Semaphore(),
        threading.Event(),
        contextvars.copy_context(),
        (i for i in range(2)),
    ],
)
def test_locks_contexts_and_generators_are_rejected_with_a_reason(value: Any) -> None:
    entry = build_default_registry().resolve(value)
    assert entry is not None and entry.strategy is Strategy.REJECT
    assert entry.priority == 30 and entry.reject_reason and entry.reject_suggestions


def test_sockets_coroutines_and_asyncio_futures_are_rejected() -> None:
    registry = build_default_registry()
    with socket.socket() as sock:
        assert registry.resolve(sock).strategy is Strategy.REJECT  # type: ignore[union-attr]

    async def nothing() -> None:
        return None

    coroutine = nothing()
    loop = asyncio.new_event_loop()
    try:
        assert registry.resolve(coroutine).strategy is Strategy.REJECT  # type: ignore[union-attr]
        future = loop.create_future()
        assert registry.resolve(future).strategy is Strategy.REJECT  # type: ignore[union-attr]
    finally:
        coroutine.close()
        loop.close()


@pytest.mark.parametrize(
    ("value", "type_key"),
    [
        (dt.datetime(2024, 5, 6, 7, 8, 9), "datetime"),
        (dt.date(2024, 5, 6), "date"),
        (dt.time(7, 8), "time"),
        (dt.timedelta(days=2, seconds=3), "timedelta"),
        (uuid.uuid4(), "uuid"),
        (decimal.Decimal("1.10"), "decimal"),
        (pathlib.Path("/tmp/x"), "path"),
        (pathlib.PurePosixPath("a/b"), "path"),
        (re.compile(r"\d+", re.I), "pattern"),
        (OrderedDict(a=1), "ordered_dict"),
        (Color.RED, "enum"),
    ],
)
def test_well_known_types_convert(value: Any, type_key: str) -> None:
    entry = build_default_registry().resolve(value)
    assert entry is not None and entry.strategy is Strategy.CONVERT and entry.type_key == type_key


def test_datetime_beats_date_by_priority() -> None:
    entry = build_default_registry().resolve(dt.datetime.now())
    assert entry is not None and (entry.type_key, entry.priority) == ("datetime", 11)


def test_loggers_and_files_are_proxied(open_file: io.TextIOWrapper) -> None:
    registry = build_default_registry()
    logger_entry = registry.resolve(logging.getLogger("walk"))
    file_entry = registry.resolve(open_file)
    assert logger_entry is not None and logger_entry.proxy_handler == "logger"
    assert file_entry is not None and file_entry.proxy_handler == "file"
    assert logger_entry.strategy is file_entry.strategy is Strategy.PROXY


def test_clients_of_installed_libraries_are_redirected_once_imported() -> None:
    import redis

    client = redis.Redis()  # connects lazily: nothing is opened here
    try:
        entry = build_default_registry().resolve(client)
        assert entry is not None and entry.strategy is Strategy.REDIRECT
        assert entry.redirect_resource == "redis"
    finally:
        client.close()


def test_unknown_types_have_no_entry() -> None:
    assert build_default_registry().resolve(Unknown()) is None


# --- the registry itself ----------------------------------------------------------------------


def test_highest_priority_wins_and_the_earliest_breaks_ties() -> None:
    registry = TypeRegistry()
    registry.register(Money, Strategy.PASS, priority=0)
    registry.register(object, Strategy.REJECT, priority=40)
    assert registry.resolve(1).strategy is Strategy.REJECT  # type: ignore[union-attr]
    # Money's own entry wins over a base class's, whatever the priorities.
    assert registry.resolve(Money(1)).strategy is Strategy.PASS  # type: ignore[union-attr]
    registry.register(Money, Strategy.CONVERT, priority=0, converter=lambda m: m.cents)
    assert registry.resolve(Money(1)).strategy is Strategy.PASS  # type: ignore[union-attr]


def test_replace_drops_the_entries_of_the_same_type() -> None:
    registry = build_default_registry()
    registry.register(logging.Logger, Strategy.REJECT, priority=15, replace=True)
    assert registry.resolve(logging.getLogger("x")).strategy is Strategy.REJECT  # type: ignore[union-attr]


def test_replacing_one_type_of_an_entry_keeps_its_other_types() -> None:
    registry = build_default_registry()
    registry.register(int, Strategy.REJECT, priority=15, replace=True)
    assert registry.resolve(1).strategy is Strategy.REJECT  # type: ignore[union-attr]
    assert registry.resolve(1.5).strategy is Strategy.PASS  # type: ignore[union-attr]
    assert registry.resolve(True).strategy is Strategy.PASS  # type: ignore[union-attr]


def test_registering_again_clears_cached_answers() -> None:
    registry = TypeRegistry()
    assert registry.resolve(Money(1)) is None
    registry.register(Money, "reject")
    assert registry.resolve(Money(1)).strategy is Strategy.REJECT  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", [1, "no-colon", None])
def test_register_refuses_what_is_not_a_type(bad: Any) -> None:
    with pytest.raises(TypeError, match="types must be classes"):
        TypeRegistry().register(bad, Strategy.PASS)


def test_strategy_parse_names_the_five() -> None:
    assert Strategy.parse("CONVERT") is Strategy.CONVERT
    with pytest.raises(ValueError, match="'pass', 'convert', 'redirect', 'reject', 'proxy'"):
        Strategy.parse("explode")


# --- the walk ---------------------------------------------------------------------------------


def test_none_and_primitives_stay_and_primitives_count_as_pass(walker: ArgumentWalker) -> None:
    args, kwargs, result = walk(walker, None, 1, "a", flag=True)
    assert args == (None, 1, "a") and kwargs == {"flag": True}
    assert result.strategy_counts[Strategy.PASS] == 3 and not result.markers


def test_no_proxy_is_unwrapped_and_not_checked(walker: ArgumentWalker) -> None:
    lock = threading.Lock()
    args, _, result = walk(walker, NoProxy(lock))
    assert args[0] is lock and not result.failures


def test_a_lambda_and_a_temporary_file_are_refused(walker: ArgumentWalker) -> None:
    with tempfile.NamedTemporaryFile() as temporary:
        _, _, result = walk(walker, lambda: 1, tmp=temporary)
    assert [(f.path, f.type_name) for f in result.failures] == [
        ("args[0]", "lambda"),
        ("kwargs.tmp", "_TemporaryFileWrapper"),
    ]
    assert "Temporary file handles" in result.failures[1].reason


def test_converted_values_become_markers(walker: ArgumentWalker) -> None:
    args, _, result = walk(walker, dt.date(2024, 1, 2))
    assert args[0] == {CONVERT: True, "type_key": "date", "value": "2024-01-02"}
    assert result.markers and result.strategy_counts[Strategy.CONVERT] == 1


def test_named_tuples_and_dataclasses_are_converted_with_their_fields_walked(
    walker: ArgumentWalker,
) -> None:
    when = dt.datetime(2024, 1, 2)
    args, _, result = walk(walker, Pair(1, uuid.UUID(int=5)), Stamped(when, Point(1, 2)))
    pair, stamped = args
    assert pair["type_key"] == "named_tuple" and pair["type_path"].endswith(":Pair")
    assert pair["fields"]["right"]["type_key"] == "uuid"
    assert stamped["type_key"] == "dataclass" and stamped["fields"]["at"]["type_key"] == "datetime"
    assert stamped["fields"]["point"]["type_key"] == "dataclass"  # nested stays a dataclass
    assert result.marker_depth == 1


def test_a_dataclass_with_an_entry_takes_the_entry(walker: ArgumentWalker) -> None:
    registry = build_default_registry()
    registry.register(Point, Strategy.REJECT, priority=15, reject_reason="no points")
    other = ArgumentWalker(registry)
    _, _, result = walk(other, Point(1, 2))
    assert result.failures[0].reason == "no points"


def test_a_class_defined_in_a_function_is_refused(walker: ArgumentWalker) -> None:
    @dataclasses.dataclass
    class Local:
        x: int

    _, _, result = walk(walker, Local(1))
    assert result.failures[0].path == "args[0]"
    assert "defined inside a function" in result.failures[0].reason


def test_containers_are_walked_and_rebuilt_as_their_own_type(walker: ArgumentWalker) -> None:
    day = dt.date(2024, 1, 2)
    data = {"list": [day], "tuple": (day,), "plain": [1, 2]}
    args, _, _ = walk(walker, data)
    out = args[0]
    assert type(out) is dict and out is not data
    assert isinstance(out["list"], list) and isinstance(out["tuple"], tuple)
    assert out["list"][0]["type_key"] == "date"
    assert out["plain"] is data["plain"]  # unchanged contents: the same object


def test_sets_with_converted_items_become_set_markers(walker: ArgumentWalker) -> None:
    args, _, _ = walk(walker, {dt.date(2024, 1, 2)}, frozenset({1}))
    assert args[0]["type_key"] == "set" and args[0]["frozen"] is False
    assert args[1] == frozenset({1})


def test_dict_subclasses_keep_their_type(walker: ArgumentWalker) -> None:
    counts: defaultdict[str, list[Any]] = defaultdict(list, a=[dt.date(2024, 1, 2)])
    args, _, _ = walk(walker, counts, Counter(a=1))
    assert type(args[0]) is defaultdict and args[0].default_factory is list
    assert type(args[1]) is Counter


def test_a_self_referencing_container_ends_the_walk(walker: ArgumentWalker) -> None:
    loop: dict[str, Any] = {"when": dt.date(2024, 1, 2)}
    loop["self"] = loop
    args, _, result = walk(walker, loop)
    assert args[0]["self"] is loop and args[0]["when"]["type_key"] == "date"
    assert not result.failures


def test_deeper_than_max_depth_is_left_unchecked_and_reported(proxies: ProxyRegistry) -> None:
    shallow = ArgumentWalker(build_default_registry(), max_depth=2, proxy_registry=proxies)
    nested = [[[threading.Lock()]]]
    args, _, result = walk(shallow, nested, [[1, 2]])
    assert args[0] is nested  # unchanged
    (failure,) = result.failures
    assert failure.path == "args[0][0][0][0]" and "max_intercept_depth=2" in failure.reason
    assert result.max_depth == 3


def test_reserved_marker_keys_in_a_dict_are_refused(walker: ArgumentWalker) -> None:
    _, _, result = walk(walker, data={PROXY: True, "recipe": {}})
    assert result.failures[0].path == "kwargs.data"
    assert "reserved key" in result.failures[0].reason


def test_unknown_types_never_fail(walker: ArgumentWalker) -> None:
    thing = Unknown()
    args, _, result = walk(walker, thing)
    assert args[0] is thing and not result.failures


def test_redirects_are_markers_and_listed(walker: ArgumentWalker) -> None:
    import redis

    client = redis.Redis()
    try:
        _, kwargs, result = walk(walker, cache=client)
    finally:
        client.close()
    assert kwargs["cache"] == {REDIRECT: True, "resource": "redis"}
    assert result.redirects == {"kwargs.cache": "redis"}


def test_a_redirect_entry_without_a_resource_names_unknown() -> None:
    registry = TypeRegistry()
    registry.register(Money, Strategy.REDIRECT)
    _, kwargs, _ = walk(ArgumentWalker(registry), m=Money(1))
    assert kwargs["m"] == {REDIRECT: True, "resource": "unknown"}


def test_proxies_get_an_identity_and_repeats_a_reference(
    walker: ArgumentWalker, open_file: io.TextIOWrapper
) -> None:
    logger = logging.getLogger("walk.same")
    args, kwargs, result = walk(walker, open_file, logger, again=open_file, nested={"f": open_file})
    first = args[0]
    assert first[PROXY] is True and first["handler"] == "file"
    assert first["recipe"]["mode"] == "r" and first["recipe"]["encoding"]
    assert "checksum" not in first  # no recipe key: not signed
    assert args[1]["identity"] != first["identity"]  # distinct objects, distinct identities
    assert kwargs["again"] == {REF: first["identity"]}
    assert kwargs["nested"]["f"] == {REF: first["identity"]}
    assert result.proxies and result.strategy_counts[Strategy.PROXY] == 4


def test_a_recipe_key_signs_every_recipe(proxies: ProxyRegistry) -> None:
    signed = ArgumentWalker(build_default_registry(), proxy_registry=proxies, signing_secret="k")
    args, _, _ = walk(signed, logging.getLogger("signed"))
    assert isinstance(args[0]["checksum"], str) and len(args[0]["checksum"]) == 64


def test_a_proxy_whose_handler_does_not_detect_it_passes(
    walker: ArgumentWalker, tmp_path: pathlib.Path
) -> None:
    handle = (tmp_path / "closed.txt").open("w")
    handle.close()
    args, _, result = walk(walker, handle)
    assert args[0] is handle and not result.failures and not result.markers


def test_a_disabled_proxy_handler_refuses_its_values(open_file: io.TextIOWrapper) -> None:
    registry = ProxyRegistry(disabled={"file"})
    register_builtin_handlers(registry, disabled_proxies=["file"])
    walker = ArgumentWalker(build_default_registry(), proxy_registry=registry)
    _, _, result = walk(walker, open_file)
    assert "proxy handler 'file' is disabled" in result.failures[0].reason


def test_a_file_outside_the_allow_list_is_refused_at_enqueue(
    open_file: io.TextIOWrapper, tmp_path: pathlib.Path
) -> None:
    registry = ProxyRegistry()
    register_builtin_handlers(registry, file_path_allowlist=[str(tmp_path / "allowed")])
    walker = ArgumentWalker(build_default_registry(), proxy_registry=registry)
    _, _, result = walk(walker, f=open_file)
    assert result.failures[0].path == "kwargs.f"
    assert "outside file_path_allowlist" in result.failures[0].reason
    assert open_file.name in result.failures[0].reason


def test_custom_conversions_with_and_without_a_reconstructor() -> None:
    registry = build_default_registry()
    registry.register(Money, Strategy.CONVERT, priority=15, converter=lambda m: m.cents)
    args, _, _ = walk(ArgumentWalker(registry), Money(5))
    assert args[0] == 5  # the task receives the converter's output
    registry.register(
        Money,
        Strategy.CONVERT,
        priority=15,
        converter=lambda m: m.cents,
        type_key="money",
        reconstructor=Money,
        replace=True,
    )
    args, _, _ = walk(ArgumentWalker(registry), Money(5))
    assert args[0] == {CONVERT: True, "type_key": "money", "value": 5}
    assert registry.reconstructors == {"money": Money}


def test_a_converter_that_raises_is_a_failure_naming_it() -> None:
    registry = build_default_registry()
    registry.register(Money, Strategy.CONVERT, converter=lambda m: 1 / 0)
    _, _, result = walk(ArgumentWalker(registry), Money(1))
    assert "ZeroDivisionError" in result.failures[0].reason


# --- the interceptor ----------------------------------------------------------------------------


def interceptor(mode: str, metrics: InterceptionMetrics | None = None) -> ArgumentInterceptor:
    registry = ProxyRegistry()
    register_builtin_handlers(registry)
    return ArgumentInterceptor(
        build_default_registry(), mode, proxy_registry=registry, metrics=metrics
    )


def test_off_returns_the_call_as_it_is() -> None:
    lock = threading.Lock()
    args, kwargs = interceptor("off").intercept((lock,), {"a": 1})
    assert args == (lock,) and kwargs == {"a": 1}


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="Invalid interception mode: 'loose'"):
        interceptor("loose")


def test_strict_raises_with_every_failure_and_still_counts() -> None:
    metrics = InterceptionMetrics()
    with pytest.raises(InterceptionError) as raised:
        interceptor("strict", metrics).intercept(
            (threading.Lock(), 1), {"session": threading.Event(), "ok": 2}
        )
    error = raised.value
    assert isinstance(error, SerializationError)
    assert [f.path for f in error.failures] == ["args[0]", "kwargs.session"]
    assert all(isinstance(f, ArgumentFailure) for f in error.failures)
    text = str(error)
    assert text.startswith("Cannot serialize 2 argument(s):")
    assert "args[0] (type: lock)" in text and "kwargs.session (type: Event)" in text
    assert "1. Create the lock inside the task" in text
    assert metrics.to_dict()["total_intercepts"] == 1
    assert metrics.to_dict()["strategy_counts"]["reject"] == 2


def test_lenient_drops_refused_values_wherever_they_are(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="taskito.interception"):
        args, kwargs = interceptor("lenient").intercept(
            (threading.Lock(), 1),
            {"lock": threading.Lock(), "data": {"keep": 1, "drop": threading.Event()}},
        )
    assert args == (None, 1)
    assert kwargs == {"data": {"keep": 1}}
    assert len([r for r in caplog.records if "interception (lenient)" in r.message]) == 3


def test_interceptor_exposes_its_mode_registry_and_walker() -> None:
    strict = interceptor("strict")
    assert strict.mode == "strict"
    assert strict._registry.resolve(1).strategy is Strategy.PASS  # type: ignore[union-attr]
    assert strict._walker.walk((1,), {})[0] == (1,)


def test_the_envelope_says_whether_markers_and_proxies_are_inside() -> None:
    strict = interceptor("strict")
    assert strict.intercept_call((1,), {}).envelope is None
    call = strict.intercept_call((dt.date(2024, 1, 1),), {"log": logging.getLogger("e")})
    assert call.envelope == {"taskito_markers": 1, "proxies": True, "depth": 0}


# --- analyze, metrics -------------------------------------------------------------------------


def test_analyze_reports_each_argument_and_what_is_inside() -> None:
    report = interceptor("strict").analyze(
        (None, 1, Point(1, 2), Unknown(), {"lock": threading.Lock()}),
        {"when": dt.datetime(2024, 1, 1), "log": logging.getLogger("a")},
    )
    rows = [(e.path, e.strategy, e.detail) for e in report]
    assert rows == [
        ("args[0]", Strategy.PASS, "None"),
        ("args[1]", Strategy.PASS, "passed to the serializer"),
        ("args[2]", Strategy.CONVERT, "type_key=dataclass (auto-detected)"),
        ("args[3]", Strategy.PASS, "unknown type, passed to serializer"),
        ("args[4]", Strategy.PASS, "container: its contents are checked"),
        ("args[4].lock", Strategy.REJECT, rows[5][2]),
        ("kwargs.when", Strategy.CONVERT, "type_key=datetime"),
        ("kwargs.log", Strategy.PROXY, "handler=logger"),
    ]
    assert [e.path for e in report.failures] == ["args[4].lock"]
    assert str(report).startswith("Argument Analysis:")


def test_analyze_is_empty_when_off_and_deconstructs_nothing(open_file: io.TextIOWrapper) -> None:
    assert len(interceptor("off").analyze((1,), {})) == 0
    report = interceptor("strict").analyze((open_file,), {})
    assert open_file.tell() == 0 and report.entries[0].strategy is Strategy.PROXY
    assert isinstance(report, InterceptionReport)


def test_metrics_count_calls_strategies_and_depth() -> None:
    metrics = InterceptionMetrics()
    strict = interceptor("strict", metrics)
    assert metrics.to_dict() == {
        "total_intercepts": 0,
        "total_duration_ms": 0.0,
        "avg_duration_ms": 0.0,
        "strategy_counts": {s.value: 0 for s in Strategy},
        "max_depth_reached": 0,
    }
    strict.intercept((1, [[dt.date(2024, 1, 1)]]), {})
    stats = metrics.to_dict()
    assert stats["total_intercepts"] == 1 and stats["max_depth_reached"] == 2
    assert stats["strategy_counts"]["pass"] == 1 and stats["strategy_counts"]["convert"] == 1
    assert stats["avg_duration_ms"] == stats["total_duration_ms"]


def test_generator_types_are_rejected_through_the_walk(walker: ArgumentWalker) -> None:
    async def agen() -> Any:
        yield 1

    generator = agen()
    assert isinstance(generator, types.AsyncGeneratorType)
    _, _, result = walk(walker, generator)
    assert result.failures[0].type_name == "async_generator"


def test_classes_of_the_built_in_table_resolve_without_instances() -> None:
    import multiprocessing.queues
    import multiprocessing.synchronize
    import subprocess

    import django.db.backends.base.base
    import httpx
    import psycopg
    import pydantic
    import redis.asyncio
    import requests

    registry = build_default_registry()

    def entry_of(cls: type) -> tuple[Strategy, str | None]:
        entry = registry.resolve_type(cls)
        assert entry is not None, cls
        return entry.strategy, entry.redirect_resource or entry.proxy_handler or entry.type_key

    assert entry_of(subprocess.Popen)[0] is Strategy.REJECT
    assert entry_of(multiprocessing.synchronize.Lock)[0] is Strategy.REJECT
    assert entry_of(multiprocessing.queues.Queue)[0] is Strategy.REJECT
    assert entry_of(psycopg.Connection) == (Strategy.REDIRECT, "db")
    assert entry_of(psycopg.AsyncConnection) == (Strategy.REDIRECT, "db")
    assert entry_of(django.db.backends.base.base.BaseDatabaseWrapper) == (Strategy.REDIRECT, "db")
    assert entry_of(redis.asyncio.Redis) == (Strategy.REDIRECT, "redis")
    assert entry_of(requests.Session) == (Strategy.PROXY, "requests_session")
    assert entry_of(httpx.AsyncClient) == (Strategy.PROXY, "httpx_client")

    class Model(pydantic.BaseModel):
        name: str

    assert entry_of(Model) == (Strategy.CONVERT, "pydantic")


def test_the_module_map_of_the_reference() -> None:
    import taskito
    import taskito.async_support as async_support
    import taskito.interception as interception
    import taskito.proxies as proxies
    from taskito.exceptions import ProxyCleanupError, ProxyReconstructionError, ResourceError
    from taskito.interception import built_in, converters, metrics, walker
    from taskito.proxies import schema as proxy_schema
    from taskito.proxies import signing
    from taskito.proxies.handlers.file import FileHandler
    from taskito.proxies.handlers.logger import LoggerHandler

    assert {"NoProxy", "InterceptionError", "InterceptionReport"} <= set(taskito.__all__)
    assert issubclass(taskito.InterceptionError, taskito.SerializationError)
    assert issubclass(ProxyReconstructionError, ResourceError)
    assert issubclass(ProxyCleanupError, ResourceError)
    assert {
        "Strategy",
        "ArgumentInterceptor",
        "InterceptionReport",
        "ArgumentFailure",
        "TypeRegistry",
        "reconstruct_args",
    } <= set(interception.__all__)
    assert walker.ArgumentWalker and built_in.build_default_registry and converters.to_marker
    assert metrics.InterceptionMetrics
    assert {
        "ProxyHandler",
        "ProxyRegistry",
        "NoProxy",
        "reconstruct_proxies",
        "cleanup_proxies",
    } <= set(proxies.__all__)
    assert signing.sign_recipe and proxy_schema.validate_recipe and FileHandler and LoggerHandler
    assert {
        "run_maybe_async",
        "set_async_context",
        "get_async_context",
        "clear_async_context",
        "AsyncTaskExecutor",
        "AsyncMixin",
    } <= set(async_support.__all__)
