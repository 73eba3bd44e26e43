"""The worker side of interception and the pieces both sides share, without I/O: markers round
trips (``reconstruct_args``), the checks on class references, the walk over decoded arguments,
recipe signatures and schemas, proxy figures, ``NoProxy``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import logging
import pathlib
import pickle
import re
import uuid
from collections import OrderedDict
from typing import Any, NamedTuple

import cloudpickle
import pydantic
import pytest

from taskito import NoProxy, ProxyReconstructionError
from taskito.interception import ArgumentWalker, build_default_registry, reconstruct_args
from taskito.interception.converters import reconstruct_converted
from taskito.interception.markers import (
    CONVERT,
    REDIRECT,
    convert_marker,
    envelope,
    read_envelope,
)
from taskito.interception.traverse import Traversal
from taskito.proxies import FieldSpec, ProxyMetrics, sign_recipe, validate_recipe, verify_recipe


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Shade(enum.Enum):
    DARK = ("d", 1)


@dataclasses.dataclass(frozen=True)
class Box:
    size: int
    label: str = "x"
    made: dt.date = dataclasses.field(default=dt.date(2024, 1, 1))
    note: str = dataclasses.field(default="", init=False)


@dataclasses.dataclass
class Outer:
    box: Box
    items: list[Any]


class Span(NamedTuple):
    start: dt.datetime
    end: dt.datetime


class Model(pydantic.BaseModel):
    name: str
    when: dt.datetime


def round_trip(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Walked as a producer walks, pickled as a payload is, restored as a worker restores."""
    walked_args, walked_kwargs, result = ArgumentWalker(build_default_registry()).walk(args, kwargs)
    assert not result.failures, result.failures
    payload = pickle.loads(cloudpickle.dumps((walked_args, walked_kwargs)))
    restored_args, restored_kwargs, redirects = reconstruct_args(*payload)
    assert redirects == {}
    return restored_args, restored_kwargs


VALUES = [
    dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC),
    dt.date(2024, 5, 6),
    dt.time(7, 8, 9, 10),
    dt.timedelta(days=40000, microseconds=1),
    uuid.uuid4(),
    decimal.Decimal("3.14159265358979323846"),
    pathlib.Path("/srv/data"),
    pathlib.PurePosixPath("relative/x"),
    pathlib.PureWindowsPath(r"C:\data"),
    re.compile(r"^a+$", re.IGNORECASE | re.MULTILINE),
    OrderedDict([("b", 1), ("a", dt.date(2024, 1, 1))]),
    Level.HIGH,
    Shade.DARK,
    Box(3, "b"),
    Outer(Box(1), [dt.date(2024, 1, 1), {2}]),
    Span(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)),
    Model(name="m", when=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
    {dt.date(2024, 1, 1), dt.date(2024, 1, 2)},
    frozenset({uuid.UUID(int=1)}),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_converted_values_come_back_equal_and_of_their_type(value: Any) -> None:
    (restored,), _ = round_trip(value)
    assert restored == value and type(restored) is type(value)


def test_nested_values_come_back_too() -> None:
    data = {"when": [dt.date(2024, 1, 1), (uuid.UUID(int=3),)], "n": 1}
    (restored,), kwargs = round_trip(data, box=Box(2))
    assert restored == data and kwargs == {"box": Box(2)}
    assert isinstance(restored["when"][1], tuple)


def test_a_frozen_dataclass_keeps_its_non_init_fields() -> None:
    box = Box(3)
    object.__setattr__(box, "note", "set later")
    (restored,), _ = round_trip(box)
    assert restored.note == "set later"


def test_a_top_level_redirect_keyword_is_removed_and_reported() -> None:
    marker = {REDIRECT: True, "resource": "db"}
    args, kwargs, redirects = reconstruct_args((marker,), {"session": marker, "n": 1})
    assert redirects == {"session": "db"} and kwargs == {"n": 1}
    assert args == (marker,)  # not a keyword: left as it is


def test_an_unknown_type_key_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown converted type_key 'nope'"):
        reconstruct_converted(convert_marker("nope", value=1))


@pytest.mark.parametrize(
    ("type_key", "type_path", "kind"),
    [
        ("enum", "os:system", "an Enum"),  # a function, not a class
        ("dataclass", "builtins:dict", "a dataclass"),  # a class of the wrong kind
        ("named_tuple", "builtins:tuple", "a NamedTuple"),
        ("pydantic", "pathlib:Path", "a pydantic model"),
    ],
)
def test_a_class_reference_of_the_wrong_kind_is_refused(
    type_key: str, type_path: str, kind: str
) -> None:
    marker = convert_marker(type_key, type_path=type_path, name="x", value={}, fields={})
    with pytest.raises(ValueError, match=f"{type_path} is not {kind}: refused"):
        reconstruct_converted(marker)


@pytest.mark.parametrize("type_path", ["no-colon", "a:b:c", ":x", 5])
def test_a_malformed_class_reference_is_refused(type_path: Any) -> None:
    with pytest.raises(ValueError, match="type_path must be 'module:qualname'"):
        reconstruct_converted(convert_marker("enum", type_path=type_path, value=1))


def test_custom_reconstructors_rebuild_their_type_key() -> None:
    marker = convert_marker("money", value={CONVERT: True, "type_key": "decimal", "value": "2.5"})
    assert reconstruct_converted(marker, lambda v, _s: reconstruct_converted(v), {"money": str})
    rebuilt = reconstruct_converted(
        marker, lambda v, _s: reconstruct_converted(v), {"money": lambda d: ("money", d)}
    )
    assert rebuilt == ("money", decimal.Decimal("2.5"))


# --- the envelope and the walk over decoded arguments -------------------------------------------


def test_the_envelope_round_trips_and_a_foreign_one_is_refused() -> None:
    assert read_envelope(envelope(True, 3)) == (True, 3)
    for bad in ({"taskito_markers": 2, "depth": 0}, {"depth": 1}, [1], None):
        with pytest.raises(ValueError, match="not a taskito markers envelope"):
            read_envelope(bad)


def test_the_traversal_calls_back_for_markers_only_and_keeps_unchanged_containers() -> None:
    seen: list[tuple[str, str]] = []

    def on_marker(kind: str, marker: dict[str, Any], path: str, nested: Any) -> Any:
        seen.append((kind, path))
        return "restored"

    plain = [1, 2]
    data = {"m": {CONVERT: True, "type_key": "x"}, "plain": plain}
    args, kwargs = Traversal(on_marker).call((data,), {"p": plain})
    assert seen == [(CONVERT, "args[0].m")]
    assert args[0] == {"m": "restored", "plain": plain} and args[0]["plain"] is plain
    assert kwargs["p"] is plain


def test_the_traversal_stops_at_the_envelope_depth() -> None:
    deep = [[{CONVERT: True, "type_key": "x"}]]
    calls: list[str] = []
    Traversal(lambda *a: calls.append(a[2]), max_depth=1).call((deep,), {})
    assert calls == []
    Traversal(lambda *a: calls.append(a[2]), max_depth=2).call((deep,), {})
    assert calls == ["args[0][0][0]"]


def test_the_traversal_survives_a_self_referencing_list() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    args, _ = Traversal(lambda *a: None).call((loop,), {})
    assert args[0] is loop


# --- recipes: signatures and schemas ------------------------------------------------------------


def test_recipe_signatures_are_deterministic_hmac_over_sorted_json() -> None:
    recipe = {"b": 1, "a": "x"}
    first = sign_recipe("file", 1, recipe, "secret")
    assert first == sign_recipe("file", 1, {"a": "x", "b": 1}, "secret")
    assert len(first) == 64 and int(first, 16) >= 0
    assert first != sign_recipe("file", 2, recipe, "secret")
    assert first != sign_recipe("file", 1, recipe, "other")
    assert verify_recipe("file", 1, recipe, first, "secret") is True


@pytest.mark.parametrize("checksum", ["0" * 64, None, 12])
def test_a_wrong_checksum_is_refused_and_not_retryable(checksum: Any) -> None:
    with pytest.raises(ProxyReconstructionError, match="checksum mismatch") as raised:
        verify_recipe("file", 1, {"a": 1}, checksum, "secret")
    assert raised.value.retryable is False


SCHEMA = {"path": FieldSpec(str), "position": FieldSpec(int, required=False)}


def test_a_valid_recipe_passes_its_schema() -> None:
    validate_recipe("file", {"path": "/x"}, SCHEMA)
    validate_recipe("file", {"path": "/x", "position": None}, SCHEMA)
    validate_recipe("file", {"anything": 1}, None)


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ({"path": "/x", "extra": 1}, "unexpected keys \\['extra'\\]"),
        ({"position": 1}, "missing required key 'path'"),
        ({"path": 5}, "'path' expected str, got int"),
        ("not a dict", "must be a dict"),
    ],
)
def test_a_recipe_that_breaks_its_schema_is_refused(recipe: Any, message: str) -> None:
    with pytest.raises(ProxyReconstructionError, match=message):
        validate_recipe("file", recipe, SCHEMA)


# --- proxy figures, NoProxy ---------------------------------------------------------------------


def test_proxy_figures_start_empty_and_average_durations() -> None:
    metrics = ProxyMetrics()
    assert metrics.to_list() == []
    metrics.record_duration("file", 15.5)
    metrics.record_duration("file", 20.0)
    metrics.record_checksum_failure("file")
    metrics.record_cleanup_error("logger")
    file_stats, logger_stats = metrics.to_list()
    assert file_stats == {
        "handler": "file",
        "total_reconstructions": 0,
        "total_errors": 1,
        "total_cleanup_errors": 0,
        "total_checksum_failures": 1,
        "total_duration_ms": 35.5,
        "avg_duration_ms": 17.75,
        "max_duration_ms": 20.0,
        "p95_duration_ms": 20.0,
    }
    assert logger_stats["handler"] == "logger" and logger_stats["total_cleanup_errors"] == 1


def test_proxy_figures_keep_a_bounded_window_for_the_percentile() -> None:
    from taskito.proxies.metrics import WINDOW

    metrics = ProxyMetrics()
    for index in range(WINDOW + 500):
        metrics.record_reconstruction("h", index / 1000, failed=index % 2 == 0)
    (stats,) = metrics.to_list()
    assert stats["total_reconstructions"] == WINDOW + 500
    assert stats["total_errors"] == (WINDOW + 500) // 2
    assert stats["p95_duration_ms"] >= 500  # the oldest durations left the window


def test_no_proxy_has_one_slot_and_unpickles_as_its_value() -> None:
    wrapped = NoProxy({"a": 1})
    assert NoProxy.__slots__ == ("value",) and wrapped.value == {"a": 1}
    assert pickle.loads(cloudpickle.dumps(wrapped)) == {"a": 1}
    assert repr(wrapped) == "NoProxy({'a': 1})"


def test_a_logger_recipe_names_the_logger() -> None:
    from taskito.proxies.handlers.logger import LoggerHandler

    handler = LoggerHandler()
    assert handler.deconstruct(logging.getLogger("a.b")) == {"name": "a.b", "level": 0}
    assert handler.deconstruct(logging.getLogger())["name"] == ""
