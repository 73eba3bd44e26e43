"""Debounce options without storage: durations with their units, the checks of a window, and
the key a template resolves to for a call."""

from __future__ import annotations

import math
from typing import Any

import pytest

from taskito.queue.debounce import call_options, check_debounce, parse_duration_ms, resolve_key
from taskito.registry import DebounceOptions


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("250ms", 250),
        ("2s", 2_000),
        ("1.5s", 1_500),
        (" 3 m ", 180_000),
        ("2h", 7_200_000),
        ("1d", 86_400_000),
        (".5s", 500),
        ("0.1s", 100),
        (0.1, 100),
        (1.001, 1_001),
        (2, 2_000),
        (0.25, 250),
        (0.0001, 1),  # a positive duration is never rounded down to nothing
    ],
)
def test_durations(value: object, ms: int) -> None:
    assert parse_duration_ms("debounce", value) == ms


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ("5", ValueError, "with a unit"),
        ("5 weeks", ValueError, "with a unit"),
        ("", ValueError, "with a unit"),
        ("-1s", ValueError, "with a unit"),
        ("0ms", ValueError, "positive"),
        (0, ValueError, "positive"),
        (-3, ValueError, "positive"),
        (math.nan, ValueError, "positive"),
        (math.inf, ValueError, "finite"),
        (10**400, ValueError, "finite"),
        ("9" * 400 + "d", ValueError, "finite"),
        (True, TypeError, "debounce must be"),
        (None, TypeError, "debounce must be"),
    ],
)
def test_bad_durations_name_the_option(value: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match) as raised:
        parse_duration_ms("debounce", value)
    assert "debounce" in str(raised.value)


def test_a_window_and_its_checks() -> None:
    assert check_debounce(None, None, None, False) is None
    assert check_debounce("1s", "k", "1s", None) == DebounceOptions(1_000, "k", 1_000, False)
    assert call_options(None, None, None, None) is None
    assert call_options(1, "k", 2, True) == DebounceOptions(1_000, "k", 2_000, True)
    with pytest.raises(ValueError, match="debounce_replace_payload needs debounce="):
        call_options(None, None, None, False)


def _sync(user: str, scope: str = "all", *rest: Any, **extra: Any) -> None: ...


@pytest.mark.parametrize(
    ("template", "args", "kwargs", "key"),
    [
        ("{user}", ("ann",), {}, "ann"),
        ("{user}:{scope}", ("ann",), {}, "ann:all"),
        ("{user}:{scope}", (), {"user": "ann", "scope": "me"}, "ann:me"),
        ("{tenant}/{user}", ("ann",), {"tenant": "t1"}, "t1/ann"),
        ("{0}-{1}", ("ann", "x"), {}, "ann-x"),
        ("fixed", ("ann",), {}, "fixed"),
    ],
)
def test_keys_resolve_against_the_bound_call(
    template: str, args: tuple[Any, ...], kwargs: dict[str, Any], key: str
) -> None:
    assert resolve_key(template, "t", _sync, args, kwargs) == key


def test_a_task_this_queue_does_not_know_resolves_by_keyword_and_position() -> None:
    assert resolve_key("{0}/{region}", "t", None, ("a",), {"region": "eu"}) == "a/eu"


@pytest.mark.parametrize(
    ("template", "args", "match"),
    [
        ("{missing}", ("ann",), "names 'missing'"),
        ("{3}", ("ann",), "names position 3"),
        ("{user.nope}", ("ann",), "cannot be formatted"),
        ("{user}", ("",), "is empty"),
    ],
)
def test_keys_a_call_cannot_fill_raise(template: str, args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        resolve_key(template, "t", _sync, args, {})
