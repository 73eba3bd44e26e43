"""Routes over dead letters: the list (by offset or by cursor), the groups by task and
exception class, retrying one letter or a whole group, and purging."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice
from typing import Any

import taskito
from taskito.dashboard.api.errors import bad_request, not_found
from taskito.dashboard.api.params import Page

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
    """Letters newest first, read by key ``BATCH`` at a time: each read is one index range,
    however far the walk has gone."""
    before: tuple[int, str] | None = None
    walked = 0
    while walked < limit:
        letters = queue.dead_letters(limit=min(BATCH, limit - walked), offset=0, before=before)
        yield from letters
        walked += len(letters)
        if len(letters) < BATCH:
            return
        before = (letters[-1]["failed_at"], letters[-1]["id"])


def list_dead_letters(queue: taskito.Queue, page: Page) -> list[dict[str, Any]]:
    """Dead letters newest first, each with ``exception``. A cursor is ``<failed_at>,<id>``
    of the last letter seen, read by key from the index (when that letter is gone, the page
    starts at the first letter older than it); a bare id (``after=<id>``) walks the list from
    the top to find its letter."""
    if page.limit == 0:
        return []
    if page.cursor is not None:
        cursor = (page.cursor.time_ms, page.cursor.id)
        letters = queue.dead_letters(limit=page.limit, offset=0, before=cursor)
    elif page.after_id is not None:
        return _after_id(queue, page.after_id, page.limit)
    else:
        letters = queue.dead_letters(limit=page.limit, offset=page.offset)
    return [_with_exception(letter) for letter in letters]


def _after_id(queue: taskito.Queue, after_id: str, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` letters after the one with id ``after_id``, found by walking."""
    walk = _walk(queue)
    for letter in walk:
        if letter["id"] == after_id:
            return [_with_exception(following) for following in islice(walk, limit)]
    raise bad_request(f"after={after_id!r}: no such dead letter")


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
