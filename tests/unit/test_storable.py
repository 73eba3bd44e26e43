"""``taskito.storable``: text every backend can store, refused input, one-line errors."""

from __future__ import annotations

import os

import pytest

from taskito.exceptions import ConfigurationError
from taskito.storable import (
    check_storable,
    error_line,
    is_storable,
    one_line,
    optional_storable,
    storable_text,
)


@pytest.mark.parametrize("text", ["", "plain ascii", "café ☕ 😀", "tab\tand\nnewline", "\\x00"])
def test_clean_text_is_returned_as_the_same_object(text: str) -> None:
    assert storable_text(text) is text
    assert is_storable(text)


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("cannot import caf\udce9", "cannot import caf\\udce9"),
        ("a\x00b", "a\\x00b"),
        ("\x00", "\\x00"),
        ("\ud800\udfff", "\\ud800\\udfff"),  # a surrogate pair in a str is two surrogates
        ("é\x00\udce9😀", "é\\x00\\udce9😀"),
    ],
)
def test_nul_and_surrogates_become_visible_escapes(text: str, stored: str) -> None:
    result = storable_text(text)
    assert result == stored
    assert not is_storable(text)
    assert is_storable(result)
    result.encode("utf-8")  # strict: no surrogate left


def test_a_file_name_that_is_not_utf8_becomes_storable() -> None:
    name = os.fsdecode(b"caf\xe9.txt")  # what os.listdir gives for a Latin-1 name
    assert storable_text(f"cannot import {name}") == "cannot import caf\\udce9.txt"


def test_optional_storable_lets_none_through() -> None:
    assert optional_storable(None) is None
    assert optional_storable("a\x00") == "a\\x00"


def test_check_storable_returns_clean_input_unchanged() -> None:
    value = "orders:42 ☕"
    assert check_storable("unique_key", value) is value


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("ab\x00", "a NUL character at index 2"),
        ("k\udce9", "a lone surrogate (\\udce9) at index 1"),
    ],
)
def test_check_storable_refuses_what_storage_cannot_keep(value: str, named: str) -> None:
    with pytest.raises(ConfigurationError, match="unique_key holds") as caught:
        check_storable("unique_key", value)
    assert named in str(caught.value)
    assert isinstance(caught.value, ValueError)
    str(caught.value).encode("utf-8")  # the message itself is storable and printable


def test_one_line_is_the_last_line_of_a_traceback() -> None:
    trace = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: caf\udce9\n\n'
    assert one_line(trace) == "ValueError: caf\\udce9"
    assert one_line("") == ""
    long = one_line("E: " + "x" * 500, limit=50)
    assert len(long) == 50 and long.endswith("...")


def test_error_line_is_the_type_and_the_first_line_of_the_message() -> None:
    assert error_line(ValueError("bad value\nDETAIL: x")) == "ValueError: bad value"
    assert error_line(KeyboardInterrupt()) == "KeyboardInterrupt"
    assert error_line(OSError("caf\udce9\x00")) == "OSError: caf\\udce9\\x00"
    assert len(error_line(RuntimeError("y" * 1000), 40)) == 40
