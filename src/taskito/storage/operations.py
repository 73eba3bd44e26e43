"""The vocabulary of the operator's storage methods (``Storage``'s "operator's tools" in
``base``): keyset cursors and the kinds of history a retention window ages out.

Keyset pages are newest first by ``(sort key, id)`` with a strict "before the cursor" bound:
``after`` is the ``(sort key, id)`` of the last row of the previous page (``page_cursor``), so
a page costs the same at any depth and rows inserted meanwhile neither repeat nor hide others.
"""

from __future__ import annotations

from enum import StrEnum

#: A keyset position: the sort key (ms) and the id of the last row of the previous page.
Cursor = tuple[int, str]


class HistoryKind(StrEnum):
    """A kind of history a retention window ages out."""

    COMPLETED_JOBS = "completed_jobs"
    DEAD_LETTERS = "dead_letters"
    JOB_ERRORS = "job_errors"
    TASK_LOGS = "task_logs"
    TASK_METRICS = "task_metrics"


def page_cursor(sort_key: int, row_id: object) -> Cursor:
    """The cursor that continues after a row."""
    return (int(sort_key), str(row_id))


def format_cursor(cursor: Cursor) -> str:
    """The opaque text form of a cursor: ``"<sort key>:<id>"``."""
    return f"{cursor[0]}:{cursor[1]}"


def parse_cursor(text: object) -> Cursor | None:
    """A cursor from its text form (None and "" start at the newest row); anything else that
    is not ``"<integer>:<id>"`` raises ``ValueError("invalid cursor: ...")``."""
    if text is None or text == "":
        return None
    if isinstance(text, tuple) and len(text) == 2:
        text = format_cursor((text[0], text[1])) if isinstance(text[0], int) else repr(text)
    if not isinstance(text, str):
        raise ValueError(f"invalid cursor: {text!r} (expected the text a page returned)")
    key, sep, row_id = text.partition(":")
    if not sep or not row_id or not key.lstrip("-").isdigit():
        raise ValueError(f"invalid cursor: {text!r} (expected '<sort key>:<id>')")
    return (int(key), row_id)
