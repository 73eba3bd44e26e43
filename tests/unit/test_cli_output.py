"""``taskito.cli.output``: tables aligned, one JSON document, and the cell formats (times,
ages, durations, progress, text on one line)."""

from __future__ import annotations

import io
import json
import time

import pytest

from taskito.cli import output
from taskito.cli.output import Column

COLUMNS = (
    Column("name", "NAME"),
    Column("count", "COUNT", right=True),
    Column("note", "NOTE", max_width=8),
)


def rendered(rows: list[dict[str, object]], fmt: str, **options: str) -> str:
    out = io.StringIO()
    output.render(rows, COLUMNS, fmt, out=out, **options)
    return out.getvalue()


def test_a_table_aligns_its_columns() -> None:
    rows = [
        {"name": "emails", "count": 7, "note": None},
        {"name": "a", "count": 12345, "note": "a long note\nover two lines"},
    ]
    assert rendered(rows, "table").splitlines() == [
        "NAME    COUNT  NOTE",
        "emails      7  -",
        "a       12345  a lon...",
    ]


def test_json_is_one_document_of_the_rows_as_they_are() -> None:
    rows = [{"name": "emails", "count": 7, "note": None, "extra": [1, 2]}]
    assert json.loads(rendered(rows, "json")) == rows
    assert json.loads(rendered([], "json", empty="nothing")) == []


def test_an_empty_table_prints_the_empty_message_or_its_header() -> None:
    assert rendered([], "table", empty="no jobs") == "no jobs\n"
    assert rendered([], "table") == "NAME  COUNT  NOTE\n"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "-"),
        ("plain", "plain"),
        ("two\nlines\tand tab", "two lines and tab"),
        ("bell\x07 and escape \x1b[2J", "bell\\x07 and escape \\x1b[2J"),
        (42, "42"),
    ],
)
def test_text_is_one_line_that_cannot_drive_a_terminal(value: object, shown: str) -> None:
    assert output.text(value) == shown


def test_last_line_names_the_exception_of_a_traceback() -> None:
    traceback = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad\n\n'
    assert output.last_line(traceback) == "ValueError: bad"
    assert output.last_line(None) == "-"


def test_times_are_local_and_readable() -> None:
    ms = 1_700_000_000_000
    expected = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))
    assert output.timestamp(ms) == expected
    assert output.timestamp(None) == "-"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.04, "0.0s"),
        (3.25, "3.2s"),
        (42, "42s"),
        (184, "3m 04s"),
        (7500, "2h 05m"),
        (86400, "1d 00h"),
        (3 * 86400 + 4 * 3600 + 59, "3d 04h"),
    ],
)
def test_durations_keep_two_units(seconds: float, shown: str) -> None:
    assert output.duration(seconds) == shown


def test_ages_say_ago_or_in() -> None:
    now = 1_700_000_000_000
    assert output.age(now - 12_000, now) == "12s ago"
    assert output.age(now + 184_000, now) == "in 3m 04s"
    assert output.age(None, now) == "-"


@pytest.mark.parametrize(
    ("progress", "bar"),
    [
        (None, "[          ]    -"),
        (0, "[----------]   0%"),
        (45, "[####------]  45%"),
        (100, "[##########] 100%"),
    ],
)
def test_progress_bar(progress: int | None, bar: str) -> None:
    assert output.progress_bar(progress, width=10) == bar
    assert output.percent(progress) == ("-" if progress is None else f"{progress}%")


def test_fields_align_their_values() -> None:
    assert output.format_fields([("id", "j1"), ("status", "dead")]) == "id      j1\nstatus  dead"
