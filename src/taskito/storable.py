"""Text that every backend can store: ``storable_text`` for what a worker or task writes
(errors, tracebacks, log lines), ``check_storable`` for what a caller hands in (refused at the
call), and ``one_line`` / ``error_line`` for the short form of an error in a log line.

Two things in a Python ``str`` are refused by some backend: a surrogate code point (a lone
``\\udcXX`` is what ``os.listdir`` and ``surrogateescape`` give for a byte that is not UTF-8;
no backend can encode it as UTF-8) and NUL (PostgreSQL refuses ``\\x00`` in text). Both are
replaced by a visible escape of the same form Python's ``repr`` uses, ``\\udce9`` and ``\\x00``,
rather than by U+FFFD: the escape keeps which byte it was (``\\udce9`` is the byte 0xE9 of a
Latin-1 file name), which is what someone reading the error needs. The escape is one-way: a
backslash already in the text is left as it is, so ``\\x00`` in a stored error may also have
been those four characters; the text is for people, not for parsing.
"""

from __future__ import annotations

import re

from taskito.exceptions import ConfigurationError

#: Everything some backend refuses in text: NUL and every surrogate code point.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return "\\x00" if char == "\x00" else f"\\u{ord(char):04x}"


def storable_text(text: str) -> str:
    """``text`` with each NUL and surrogate replaced by a visible escape; the same object
    when there is none (the usual case, checked in C: this runs on every outcome)."""
    if "\x00" not in text:
        if text.isascii():  # O(1) in CPython
            return text
        try:
            text.encode("utf-8")  # in C, several times faster than the regex search
        except UnicodeEncodeError:
            pass
        else:
            return text
    return _UNSTORABLE.sub(_escape, text)


def optional_storable(text: str | None) -> str | None:
    """``storable_text`` that lets None through."""
    return None if text is None else storable_text(text)


def is_storable(text: str) -> bool:
    """True when every backend can store ``text`` as it is."""
    return storable_text(text) is text


def check_storable(name: str, value: str) -> str:
    """``value`` unchanged, or ``ConfigurationError`` (a ``ValueError``) naming the first
    character no backend stores: for what a caller passes in (queue names, keys, metadata),
    where changing the text behind the caller's back would lose what it meant."""
    if value.isascii() and "\x00" not in value:
        return value
    match = _UNSTORABLE.search(value)
    if match is None:
        return value
    char = match.group()
    what = "a NUL character" if char == "\x00" else f"a lone surrogate ({ascii(char)[1:-1]})"
    raise ConfigurationError(
        f"{name} holds {what} at index {match.start()}, which storage cannot keep: pass text "
        "that encodes as UTF-8 without NUL (decode bytes with errors='replace' or escape them)"
    )


def one_line(text: str, limit: int = 200) -> str:
    """The last non-blank line of ``text`` (a traceback's ``Type: message``), storable and cut
    to ``limit`` characters, for a log line that must stay on one line."""
    lines = [line for line in text.splitlines() if line.strip()]
    return _cut(storable_text(lines[-1].strip() if lines else ""), limit)


def error_line(error: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message``, storable and cut to ``limit``: a driver's error
    puts what went wrong first and its details (query, hints) on the lines after."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    text = type(error).__name__ + (f": {lines[0].strip()}" if lines else "")
    return _cut(storable_text(text), limit)


def _cut(line: str, limit: int) -> str:
    return line if len(line) <= limit else line[: limit - 3] + "..."


__all__ = [
    "check_storable",
    "error_line",
    "is_storable",
    "one_line",
    "optional_storable",
    "storable_text",
]
