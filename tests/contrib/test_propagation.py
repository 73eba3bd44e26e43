"""``taskito.contrib.propagation``: trace headers carried in a job's metadata under one key,
the user's text kept as written, metadata that cannot carry them left alone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from taskito.contrib.propagation import TRACE_KEY, carried, carry

HEADERS = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def carry_into(metadata: str | None, system: str = "otel") -> tuple[bool, Any]:
    options: dict[str, Any] = {"metadata": metadata, "priority": None}
    carried_it = carry(options, system, HEADERS)
    return carried_it, options["metadata"]


def test_no_metadata_becomes_a_document_with_the_key_only() -> None:
    ok, metadata = carry_into(None)
    assert ok
    assert json.loads(metadata) == {TRACE_KEY: {"otel": HEADERS}}
    assert carried(metadata, "otel") == HEADERS


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ('{"tenant": 7}', '{"tenant": 7,"taskito.trace":{"otel":{"traceparent":"%s"}}}'),
        ('{ "a" : [1, 2] }\n', '{ "a" : [1, 2],"taskito.trace":{"otel":{"traceparent":"%s"}}}'),
        ("{}", '{"taskito.trace":{"otel":{"traceparent":"%s"}}}'),
        ("  { }  ", '  {"taskito.trace":{"otel":{"traceparent":"%s"}}}'),
    ],
)
def test_a_json_object_keeps_its_text_and_gains_the_key(given: str, expected: str) -> None:
    ok, metadata = carry_into(given)
    assert ok
    assert metadata == expected % HEADERS["traceparent"]
    assert carried(metadata, "otel") == HEADERS


@pytest.mark.parametrize("given", ["plain text", "[1, 2]", '"a string"', "3", "{not json"])
def test_metadata_that_is_not_a_json_object_is_left_alone(given: str) -> None:
    assert carry_into(given) == (False, given)
    assert carried(given, "otel") == {}


def test_a_user_value_under_the_key_is_not_replaced() -> None:
    given = json.dumps({TRACE_KEY: "mine"})
    assert carry_into(given) == (False, given)
    assert carried(given, "otel") == {}


def test_two_systems_share_the_key() -> None:
    _, with_otel = carry_into('{"tenant": 7}')
    options: dict[str, Any] = {"metadata": with_otel}
    assert carry(options, "sentry", {"sentry-trace": "abc-def-1", "baggage": "x=1"})
    document = json.loads(options["metadata"])
    assert document["tenant"] == 7
    assert document[TRACE_KEY] == {
        "otel": HEADERS,
        "sentry": {"sentry-trace": "abc-def-1", "baggage": "x=1"},
    }
    assert carried(options["metadata"], "sentry") == {"sentry-trace": "abc-def-1", "baggage": "x=1"}


def test_no_headers_changes_nothing() -> None:
    options: dict[str, Any] = {"metadata": None}
    assert carry(options, "otel", {}) is False
    assert options["metadata"] is None


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        "{}",
        json.dumps({TRACE_KEY: {"otel": "not a dict"}}),
        json.dumps({TRACE_KEY: ["otel"]}),
        json.dumps({TRACE_KEY: {"sentry": {"sentry-trace": "x"}}}),
    ],
)
def test_carried_finds_nothing_where_nothing_was_carried(metadata: str | None) -> None:
    assert carried(metadata, "otel") == {}


def test_carried_keeps_only_text_values() -> None:
    metadata = json.dumps({TRACE_KEY: {"otel": {"traceparent": "t", "bad": 3, "worse": None}}})
    assert carried(metadata, "otel") == {"traceparent": "t"}
