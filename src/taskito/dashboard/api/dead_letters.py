"""Routes over dead letters: the list (by offset or by cursor), the groups by task and
exception class, retrying one letter or a whole group, and purging."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import taskito
from taskito.dashboard.api.errors import bad_request, not_found
from taskito.dashboard.api.params import Cursor, Page

#: Letters read per storage call while walking the dead-letter list.
BATCH = 500
#: The most letters a group view or a group retry walks (the oldest beyond are left out).
MAX_WALK = 100_000
_EXCEPTION = re.compile(r"([A-Za-z_][\w.]*)(?::|$)")
_REASON_LENGTH = 100


def exception_of(error: str | None) -> str:
    """The exception class a dead letter died of: the last line of its traceback up to the
    colon (``ValueError: boom`` -> ``ValueError``). An error that is not a traceback (a
    poison pill, an expiry) groups by its first line, cut to 100 characters."""
    if not error or not error.strip():
        return "unknown"
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    last = lines[-1]
    match = _EXCEPTION.match(last)
    if match and " " not in match.group(1):
        return match.group(1)
    return lines[0][:_REASON_LENGTH]


def _with_exception(letter: dict[str, Any]) -> dict[str, Any]:
    return {**letter, "exception": exception_of(letter.get("error"))}


def _walk(queue: taskito.Queue, limit: int = MAX_WALK) -> Iterator[dict[str, Any]]:
    offset = 0
    while offset < limit:
        letters = queue.dead_letters(limit=min(BATCH, limit - offset), offset=offset)
        yield from letters
        if len(letters) < BATCH:
            return
        offset += len(letters)


def list_dead_letters(queue: taskito.Queue, page: Page) -> list[dict[str, Any]]:
    """Dead letters newest first, each with ``exception``. A cursor is ``<failed_at>,<id>``
    of the last letter seen (or its bare id); storage pages dead letters by offset only, so
    a cursor page walks the list from the top to find its place: right after that letter,
    or (when it is gone) at the first letter older than it."""
    if page.limit == 0:
        return []
    if page.cursor is None and page.after_id is None:
        letters = queue.dead_letters(limit=page.limit, offset=page.offset)
        return [_with_exception(letter) for letter in letters]
    found: list[dict[str, Any]] = []
    passed = False
    for letter in _walk(queue):
        if not passed:
            passed = _passes(letter, page.cursor, page.after_id)
            if letter["id"] == (page.after_id or (page.cursor and page.cursor.id)):
                continue
            if not passed:
                continue
        found.append(_with_exception(letter))
        if len(found) == page.limit:
            break
    if page.after_id is not None and not passed:
        raise bad_request(f"after={page.after_id!r}: no such dead letter")
    return found


def _passes(letter: dict[str, Any], cursor: Cursor | None, after_id: str | None) -> bool:
    """Whether the walk has reached the cursor: its own letter, or one older than it."""
    if after_id is not None:
        return bool(letter["id"] == after_id)
    assert cursor is not None
    return bool(letter["id"] == cursor.id or letter["failed_at"] < cursor.time_ms)


def dead_letter_groups(queue: taskito.Queue) -> list[dict[str, Any]]:
    """``[{task_name, exception, count, latest_failed_at, sample_error}]``, the largest group
    first: the letters grouped by task and by the exception class they died of."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for letter in _walk(queue):
        key = (letter["task_name"], exception_of(letter.get("error")))
        group = groups.get(key)
        if group is None:
            groups[key] = {
                "task_name": key[0],
                "exception": key[1],
                "count": 1,
                "latest_failed_at": letter["failed_at"],
                "sample_error": letter.get("error"),
            }
        else:
            group["count"] += 1
    return sorted(groups.values(), key=lambda g: (-g["count"], g["task_name"], g["exception"]))


def retry_dead_letter(queue: taskito.Queue, dead_id: str) -> dict[str, Any]:
    try:
        return {"new_job_id": queue.retry_dead(dead_id)}
    except taskito.StorageError as exc:
        # The façade's "no such letter" (a RuntimeError, as in the reference); any other
        # storage failure is a server error.
        if str(exc).startswith("dead letter not found"):
            raise not_found("Dead letter not found") from None
        raise


def retry_dead_group(queue: taskito.Queue, task_name: str, exception: str) -> dict[str, Any]:
    """Retry every letter of one group; ``{retried, new_job_ids}``. A letter retried by
    someone else meanwhile is skipped."""
    ids = [
        letter["id"]
        for letter in _walk(queue)
        if letter["task_name"] == task_name and exception_of(letter.get("error")) == exception
    ]
    new_ids: list[str] = []
    for dead_id in ids:
        try:
            new_ids.append(queue.retry_dead(dead_id))
        except taskito.StorageError as exc:
            if not str(exc).startswith("dead letter not found"):
                raise
    return {"retried": len(new_ids), "new_job_ids": new_ids}


def purge_dead_letters(queue: taskito.Queue, older_than_s: float) -> dict[str, Any]:
    """Delete dead letters older than ``older_than_s`` seconds (0: every one)."""
    return {"purged": queue.purge_dead(older_than_s)}


__all__ = [
    "dead_letter_groups",
    "exception_of",
    "list_dead_letters",
    "purge_dead_letters",
    "retry_dead_group",
    "retry_dead_letter",
]
