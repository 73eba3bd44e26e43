"""Interception through the Queue façade on a real SQLite file: the options, enqueue in each
mode (nothing stored when a call is refused), batches, ``register_type``,
``register_proxy_handler``, ``task.analyze``, the statistics, and test mode, which intercepts
and restores as a worker would (docs/interception.md)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import decimal
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from taskito import (
    ConfigurationError,
    EventType,
    InterceptionError,
    InterceptionReport,
    MockResource,
    NoProxy,
    Queue,
    TaskMiddleware,
)
from taskito.interception import Strategy
from taskito.interception.markers import CONVERT, PROXY, REDIRECT
from tests.api.driving import MakeQueue


class Money:
    def __init__(self, cents: int) -> None:
        self.cents = cents

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and other.cents == self.cents

    def __hash__(self) -> int:
        return hash(self.cents)


@dataclasses.dataclass
class Order:
    id: int
    placed: dt.datetime


@pytest.fixture
def strict(make_queue: MakeQueue) -> Queue:
    return make_queue(interception="strict")


def echo_task(queue: Queue) -> Any:
    @queue.task(name="echo")
    def echo(*args: Any, **kwargs: Any) -> Any:
        return args, kwargs

    return echo


def stored_count(queue: Queue) -> int:
    return sum(queue.stats().values())


# --- options ----------------------------------------------------------------------------------


def test_interception_is_off_by_default(queue: Queue) -> None:
    assert queue._interceptor is None and queue.settings.interception == "off"
    assert queue.interception_stats() == {} and queue.proxy_stats() == []
    assert len(echo_task(queue).analyze(threading.Lock())) == 0
    with pytest.raises(RuntimeError, match="Interception is disabled"):
        queue.register_type(Money, "pass")


def test_every_queue_has_proxy_handlers_and_no_proxy_unwraps_when_off(queue: Queue) -> None:
    assert queue._interception.proxies.names()[:2] == ["file", "logger"]
    echo = echo_task(queue)
    with queue.test_mode():
        assert echo.delay(NoProxy(1), k=NoProxy([2])).result() == ((1,), {"k": [2]})
    job = echo.delay(NoProxy(3))  # serialized: the wrapper unpickles as its value
    assert queue.job_arguments(job.id) == ((3,), {})


@pytest.mark.parametrize("mode", ["strict", "lenient"])
def test_a_mode_builds_an_interceptor(make_queue: MakeQueue, mode: str) -> None:
    queue = make_queue(interception=mode, max_intercept_depth=3)
    assert queue._interceptor is not None and queue._interceptor.mode == mode
    assert queue._interceptor._walker.max_depth == 3


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"interception": "loose"}, ValueError, "Invalid interception mode: 'loose'"),
        ({"max_intercept_depth": 0}, ValueError, "max_intercept_depth must be >= 1"),
        ({"max_intercept_depth": "10"}, TypeError, "max_intercept_depth must be an int"),
        ({"recipe_signing_key": ""}, ValueError, "recipe_signing_key is empty"),
        ({"recipe_signing_key": 5}, TypeError, "recipe_signing_key must be a str or bytes"),
        ({"max_reconstruction_timeout": -1}, ValueError, "max_reconstruction_timeout must be"),
        ({"file_path_allowlist": "/data"}, TypeError, "file_path_allowlist must be a list"),
        ({"file_path_allowlist": [""]}, ValueError, "entries must be non-empty paths"),
        ({"disabled_proxies": ["ftp"]}, ValueError, "unknown proxy handlers \\['ftp'\\]"),
        ({"disabled_proxies": "file"}, TypeError, "disabled_proxies must be a list"),
    ],
)
def test_bad_options_are_refused_by_name(
    make_queue: MakeQueue, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        make_queue(**options)


def test_the_recipe_key_falls_back_on_the_environment_and_stays_out_of_reprs(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKITO_RECIPE_SECRET", "from-the-env")
    queue = make_queue(interception="strict")
    assert queue.settings.recipe_signing_key == "from-the-env"
    assert "from-the-env" not in repr(queue.settings)
    assert make_queue(recipe_signing_key="given").settings.recipe_signing_key == "given"
    monkeypatch.setenv("TASKITO_RECIPE_SECRET", "")
    with pytest.raises(ConfigurationError, match="TASKITO_RECIPE_SECRET is empty"):
        make_queue()


def test_the_allow_list_is_kept_absolute(make_queue: MakeQueue, tmp_path: Path) -> None:
    queue = make_queue(file_path_allowlist=[tmp_path / "a", "rel"])
    allowlist = queue.settings.file_path_allowlist
    assert allowlist is not None and all(Path(p).is_absolute() for p in allowlist)


# --- enqueue ----------------------------------------------------------------------------------


def test_a_strict_delay_stores_a_job_with_markers(strict: Queue) -> None:
    echo = echo_task(strict)
    job = echo.delay(dt.date(2024, 1, 2), amount=decimal.Decimal("1.5"))
    assert strict.get_job(job.id) is not None
    arguments = strict.job_arguments(job.id)
    assert arguments is not None
    args, kwargs = arguments
    assert args[0] == {CONVERT: True, "type_key": "date", "value": "2024-01-02"}
    assert kwargs["amount"]["type_key"] == "decimal"


def test_a_strict_refusal_stores_nothing_and_announces_nothing(strict: Queue) -> None:
    echo = echo_task(strict)
    announced: list[Any] = []
    strict.on_event(EventType.JOB_ENQUEUED, lambda _t, payload: announced.append(payload))
    with pytest.raises(InterceptionError) as raised:
        echo.delay(1, lock=threading.Lock())
    assert [f.path for f in raised.value.failures] == ["kwargs.lock"]
    assert stored_count(strict) == 0
    strict._event_bus.flush(5.0)
    assert announced == []


def test_lenient_stores_what_is_left(
    make_queue: MakeQueue, caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue(interception="lenient")
    echo = echo_task(queue)
    with caplog.at_level(logging.WARNING, logger="taskito.interception"):
        job = echo.delay(threading.Lock(), 2, lock=threading.RLock(), keep=3)
    arguments = queue.job_arguments(job.id)
    assert arguments == ((None, 2), {"keep": 3})
    assert "dropped kwargs.lock (type: RLock)" in caplog.text


def test_lenient_cannot_drop_an_argument_the_task_needs(make_queue: MakeQueue) -> None:
    queue = make_queue(interception="lenient")

    @queue.task(name="needs")
    def needs(*, lock: Any) -> None:
        return None

    with pytest.raises(TypeError, match="cannot be called with these arguments"):
        needs.delay(lock=threading.Lock())
    assert stored_count(queue) == 0


def test_on_enqueue_middleware_sees_the_call_before_interception(make_queue: MakeQueue) -> None:
    seen: list[Any] = []

    class Watch(TaskMiddleware):
        def on_enqueue(
            self, task_name: str, args: Any, kwargs: Any, options: dict[str, Any]
        ) -> None:
            seen.append(args[0])

    queue = make_queue(interception="strict", middleware=[Watch()])
    echo_task(queue).delay(dt.date(2024, 1, 2))
    assert seen == [dt.date(2024, 1, 2)]


def test_a_batch_is_refused_whole_when_one_job_is(strict: Queue) -> None:
    echo = echo_task(strict)
    with pytest.raises(InterceptionError) as raised:
        echo.map([(1,), (dt.date(2024, 1, 1),), (threading.Lock(),)])
    assert raised.value.failures[0].path == "args[0]"
    assert stored_count(strict) == 0
    jobs = strict.enqueue_many("echo", [(dt.date(2024, 1, 1),), (2,)])
    first = strict.job_arguments(jobs[0].id)
    assert first is not None and first[0][0]["type_key"] == "date"
    assert strict.job_arguments(jobs[1].id) == ((2,), {})


def test_a_marker_looking_dict_is_refused(strict: Queue) -> None:
    with pytest.raises(InterceptionError, match="reserved key"):
        echo_task(strict).delay({PROXY: True, "handler": "file"})


def test_no_proxy_sends_a_value_unchecked(strict: Queue) -> None:
    job = echo_task(strict).delay(NoProxy({"when": "as is"}))
    assert strict.job_arguments(job.id) == (({"when": "as is"},), {})


def test_statistics_count_what_was_intercepted(strict: Queue) -> None:
    echo = echo_task(strict)
    echo.delay(1, dt.date(2024, 1, 1))
    with pytest.raises(InterceptionError):
        echo.delay(threading.Lock())
    stats = strict.interception_stats()
    assert stats["total_intercepts"] == 2
    assert stats["strategy_counts"] == {
        "pass": 1,
        "convert": 1,
        "redirect": 0,
        "reject": 1,
        "proxy": 0,
    }
    assert asyncio.run(strict.ainterception_stats()) == stats
    assert asyncio.run(strict.aproxy_stats()) == strict.proxy_stats() == []


# --- register_type, register_proxy_handler, analyze ------------------------------------------


def test_register_type_options_are_checked(strict: Queue) -> None:
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"strategy": "explode"}, ValueError, "strategy must be one of"),
        ({"strategy": "redirect"}, ValueError, "needs resource="),
        ({"strategy": "proxy", "proxy_handler": "ftp"}, ValueError, "registered handler"),
        ({"strategy": "convert"}, ValueError, "needs converter="),
        ({"strategy": "convert", "converter": str, "type_key": "uuid"}, ValueError, "built-in"),
        ({"strategy": "reject", "resource": "db"}, ValueError, "does not take \\['resource'\\]"),
        ({"strategy": "reject", "message": 5}, TypeError, "message must be a str"),
    ]
    for options, error, message in cases:
        strategy = options.pop("strategy")
        with pytest.raises(error, match=message):
            strict.register_type(Money, strategy, **options)
    with pytest.raises(TypeError, match="python_type must be a class"):
        strict.register_type(Money(1), "pass")  # type: ignore[arg-type]


def test_register_type_entries_sit_at_priority_15_with_their_message(strict: Queue) -> None:
    strict.register_type(Money, "reject", message="send the cents")
    interceptor = strict._interceptor
    assert interceptor is not None
    entry = interceptor._registry.resolve(Money(1))
    assert entry is not None and entry.priority == 15 and entry.reject_reason == "send the cents"
    with pytest.raises(InterceptionError, match="send the cents"):
        echo_task(strict).delay(Money(1))


def test_register_type_overrides_a_built_in_entry(strict: Queue) -> None:
    strict.register_type(logging.Logger, "reject", message="no loggers here")
    with pytest.raises(InterceptionError, match="no loggers here"):
        echo_task(strict).delay(logging.getLogger("x"))


def test_register_type_redirect_and_pass(strict: Queue) -> None:
    strict.register_type(Money, "redirect", resource="ledger")
    job = echo_task(strict).delay(m=Money(1))
    assert strict.job_arguments(job.id) == ((), {"m": {REDIRECT: True, "resource": "ledger"}})
    strict.register_type(Money, "pass")
    assert strict._interceptor._registry.resolve(Money(1)).strategy is Strategy.PASS  # type: ignore[union-attr]


def test_analyze_reports_per_argument(strict: Queue) -> None:
    report = echo_task(strict).analyze(1, Order(1, dt.datetime(2024, 1, 1)), lock=threading.Lock())
    assert isinstance(report, InterceptionReport)
    assert [(e.path, e.strategy) for e in report] == [
        ("args[0]", Strategy.PASS),
        ("args[1]", Strategy.CONVERT),
        ("args[1].placed", Strategy.CONVERT),
        ("kwargs.lock", Strategy.REJECT),
    ]
    assert str(report).startswith("Argument Analysis:")
    assert strict.interception_stats()["total_intercepts"] == 0  # analysing counts nothing


# --- test mode ---------------------------------------------------------------------------------


def test_test_mode_restores_converted_arguments(strict: Queue) -> None:
    echo = echo_task(strict)
    order = Order(7, dt.datetime(2024, 1, 1, 12))
    with strict.test_mode() as results:
        job = echo.delay(order, when={dt.date(2024, 1, 2)})
    args, kwargs = job.result()
    assert args == (order,) and kwargs == {"when": {dt.date(2024, 1, 2)}}
    assert results[0].args == (order,)


def test_test_mode_refuses_what_a_strict_enqueue_refuses(strict: Queue) -> None:
    echo = echo_task(strict)
    with strict.test_mode() as results, pytest.raises(InterceptionError):
        echo.delay(threading.Lock())
    assert len(results) == 0


def test_test_mode_rebuilds_proxies_and_closes_them_after(strict: Queue, tmp_path: Path) -> None:
    seen: list[Any] = []

    @strict.task(name="reads")
    def reads(handle: Any, log: logging.Logger) -> str:
        seen.append(handle)
        return f"{log.name}:{handle.read()}"

    path = tmp_path / "in.txt"
    path.write_text("head|tail")
    logger = logging.getLogger("taskito.tests.test_mode")
    with path.open() as handle, strict.test_mode():
        handle.read(5)
        job = reads.delay(handle, logger)
        assert not handle.closed  # the producer's own handle stays open
    assert job.result() == "taskito.tests.test_mode:tail"
    assert seen[0] is not handle and seen[0].closed
    assert strict.proxy_stats()[0]["handler"] == "file"


def test_test_mode_resolves_redirects_with_its_resources(strict: Queue) -> None:
    strict.register_type(Money, "redirect", resource="ledger")
    echo = echo_task(strict)
    ledger = MockResource("ledger", return_value="the ledger")
    with strict.test_mode(resources={"ledger": ledger}):
        job = echo.delay(m=Money(1))
    assert job.result() == ((), {"m": "the ledger"}) and ledger.call_count == 1
    with strict.test_mode() as results:
        failed = echo.delay(m=Money(1))
    assert failed.status == "failed" and "test_mode(resources={'ledger': ...})" in str(
        results[0].error
    )


def test_custom_conversions_round_trip_with_a_reconstructor(strict: Queue) -> None:
    strict.register_type(
        Money, "convert", converter=lambda m: m.cents, type_key="money", reconstructor=Money
    )
    echo = echo_task(strict)
    with strict.test_mode():
        job = echo.delay(Money(250))
    assert job.result() == ((Money(250),), {})


def test_a_custom_proxy_handler(strict: Queue) -> None:
    class Ticket:
        def __init__(self, number: int) -> None:
            self.number = number

    class TicketHandler:
        name = "ticket"
        version = 1
        handled_types = (Ticket,)

        def detect(self, obj: Any) -> bool:
            return isinstance(obj, Ticket)

        def deconstruct(self, obj: Any) -> dict[str, Any]:
            return {"number": obj.number}

        def reconstruct(self, recipe: dict[str, Any], version: int) -> Any:
            return Ticket(recipe["number"] + 1000)

        def cleanup(self, obj: Any) -> None:
            return None

    strict.register_proxy_handler(TicketHandler())

    @strict.task(name="ticket")
    def ticket(t: Ticket) -> int:
        return t.number

    with strict.test_mode():
        assert ticket.delay(Ticket(1)).result() == 1001
    stats = strict.proxy_stats()
    assert [s["handler"] for s in stats] == ["ticket"] and stats[0]["total_reconstructions"] == 1
