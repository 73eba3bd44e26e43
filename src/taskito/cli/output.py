"""How commands print what they list: an aligned table for a person or one JSON document for a
program (``--format table|json``), and the cell formats tables share (times, ages, one line of
text, progress).

A listing builds its rows as dicts with stable keys (times in ms since the epoch) and calls
``render(rows, columns, fmt)``: JSON prints the rows as they are, the table shows the
``columns``. Any subcommand may use it::

    output.add_format_argument(parser)
    output.render(rows, [Column("id", "ID"), Column("count", "COUNT", right=True)], args.format)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

FORMATS = ("table", "json")
#: What a table shows for a missing value.
NONE = "-"
_GAP = "  "
_ELLIPSIS = "..."
#: (seconds, name) of a unit and of the one below it, for ``duration``.
_UNITS = ((86400, "d", 3600, "h"), (3600, "h", 60, "m"), (60, "m", 1, "s"))


def add_format_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table (default) or json (one JSON document on stdout)",
    )


def text(value: object) -> str:
    """A cell: the value on one line, control characters escaped; None is ``-``."""
    if value is None:
        return NONE
    return printable(str(value))


def printable(value: str) -> str:
    """``value`` on one line with nothing that could drive a terminal: newlines and tabs
    become spaces, other control characters visible escapes."""
    value = value.replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
    if value.isprintable():
        return value
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in value)


def last_line(value: object) -> str:
    """The last non-blank line of a stored error (a traceback ends with the exception)."""
    if value is None:
        return NONE
    lines = [line for line in str(value).splitlines() if line.strip()]
    return printable(lines[-1].strip()) if lines else ""


def timestamp(ms: object) -> str:
    """ms since the epoch as local time, ``2025-06-01 14:03:07``."""
    if not isinstance(ms, int | float):
        return NONE
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def duration(seconds: float) -> str:
    """``0.4s``, ``12s``, ``3m 04s``, ``2h 05m``, ``3d 04h``."""
    seconds = abs(seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    for unit_s, unit, sub_s, sub in _UNITS:
        if whole >= unit_s:
            return f"{whole // unit_s}{unit} {whole % unit_s // sub_s:02d}{sub}"
    return f"{whole}s"


def age(ms: object, now_ms: float | None = None) -> str:
    """How long ago (``12s ago``) or how far ahead (``in 3m 04s``) a time in ms is."""
    if not isinstance(ms, int | float):
        return NONE
    now = time.time() * 1000 if now_ms is None else now_ms
    delta_s = (now - ms) / 1000
    return f"{duration(delta_s)} ago" if delta_s >= 0 else f"in {duration(delta_s)}"


def percent(value: object) -> str:
    return NONE if value is None else f"{value}%"


@dataclass(frozen=True)
class Column:
    """One column of a table: the row's ``key``, its ``header``, how a value ``show``s, and
    whether it is aligned right (numbers) and cut at ``max_width`` characters."""

    key: str
    header: str
    show: Callable[[Any], str] = text
    right: bool = False
    max_width: int | None = None

    def cell(self, row: Mapping[str, Any]) -> str:
        shown = self.show(row.get(self.key))
        if self.max_width is not None and len(shown) > self.max_width:
            shown = shown[: max(0, self.max_width - len(_ELLIPSIS))] + _ELLIPSIS
        return shown


def render(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    fmt: str,
    *,
    out: TextIO | None = None,
    empty: str = "",
) -> None:
    """Print ``rows``: as one JSON list of objects, or as a table of ``columns`` (``empty``,
    when given, is printed instead of a table without rows)."""
    stream = sys.stdout if out is None else out
    if fmt == "json":
        print_json([dict(row) for row in rows], stream)
    elif rows or not empty:
        print(format_table(rows, columns), file=stream)
    else:
        print(empty, file=stream)


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """A header line, then one line a row; columns aligned, two spaces apart."""
    lines = [[column.header for column in columns]]
    lines += [[column.cell(row) for column in columns] for row in rows]
    widths = [max(len(line[index]) for line in lines) for index in range(len(columns))]
    return "\n".join(
        _GAP.join(
            cell.rjust(width) if column.right else cell.ljust(width)
            for cell, width, column in zip(line, widths, columns, strict=True)
        ).rstrip()
        for line in lines
    )


def format_fields(fields: Sequence[tuple[str, str]]) -> str:
    """``label  value`` lines with the values aligned (one record, shown field by field)."""
    width = max((len(label) for label, _ in fields), default=0)
    return "\n".join(f"{label:<{width}}{_GAP}{value}".rstrip() for label, value in fields)


def print_json(document: object, out: TextIO | None = None) -> None:
    """One JSON document, indented, on ``out`` (stdout by default)."""
    stream = sys.stdout if out is None else out
    print(json.dumps(document, indent=2), file=stream, flush=True)


def progress_bar(value: object, width: int = 20) -> str:
    """``[########------------]  40%`` (blank with ``  -%`` before any progress)."""
    if not isinstance(value, int):
        return f"[{' ' * width}]    -"
    filled = round(width * max(0, min(100, value)) / 100)
    return f"[{'#' * filled}{'-' * (width - filled)}] {value:>3}%"
