"""The python examples of the docs pages, read the way tests/docs/test_examples.py runs them.

A page's ```` ```python ```` block is an example. The lines just before it (blank lines between
are fine) may hold markers, one HTML comment each:

* ``<!-- not run: <reason> -->``: the block is not run; the reason is required.
* ``<!-- needs: postgres -->`` / ``<!-- needs: redis -->``: the block runs with a server; the
  test gives it ``TASKITO_DB_URL`` and ``TASKITO_SCHEMA`` (a fresh schema or key prefix).

After the block, a line ``It prints:`` and a plain ```` ``` ```` block hold exactly what it prints.
Every problem in that layout is reported in ``Example.problem`` rather than guessed around.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
SERVERS = ("postgres", "redis")
PRINTS = "It prints:"
#: The fence languages of an example (```python, ```py, ```python title="tasks.py").
PYTHON = ("python", "py")

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+)(?P<info>[^`]*)$")
_MARKER = re.compile(r"^ *<!--\s*(?P<kind>[a-z ]+?)\s*:(?P<value>.*?)-->\s*$")


@dataclass(frozen=True)
class Example:
    """One python block of a page: ``page`` is its path under docs/, ``index`` its number."""

    page: str
    index: int
    line: int
    code: str
    expected: str | None = None
    not_run: str | None = None
    needs: str | None = None
    problem: str | None = None

    @property
    def id(self) -> str:
        return f"{self.page}#{self.index}"

    @property
    def where(self) -> str:
        return f"docs/{self.page} line {self.line} (block {self.id})"


@dataclass(frozen=True)
class _Block:
    start: int  # the index of the opening fence line
    end: int  # the index of the closing fence line
    info: str  # the opening fence's language and attributes: 'python title="tasks.py"'
    body: str

    @property
    def language(self) -> str:
        return self.info.split(maxsplit=1)[0].lstrip(".{").rstrip("}") if self.info else ""


def _blocks(lines: list[str]) -> list[_Block]:
    """The fenced blocks of a page, in order; an unclosed fence runs to the end of the page."""
    blocks: list[_Block] = []
    at = 0
    while at < len(lines):
        opening = _FENCE.match(lines[at])
        if opening is None:
            at += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        close = at + 1
        while close < len(lines):
            closing = _FENCE.match(lines[close])
            if closing and closing["fence"] == fence and not closing["info"].strip():
                break
            close += 1
        body = "\n".join(line[indent:] for line in lines[at + 1 : close])
        blocks.append(_Block(at, close, opening["info"].strip(), body + "\n" if body else ""))
        at = close + 1
    return blocks


def _markers(lines: list[str], start: int) -> tuple[list[tuple[str, str]], str | None]:
    """The ``<!-- kind: value -->`` lines just before line ``start`` (blank lines skipped)."""
    found: list[tuple[str, str]] = []
    at = start - 1
    while at >= 0:
        text = lines[at].strip()
        if not text:
            at -= 1
            continue
        match = _MARKER.match(lines[at])
        if match is None:
            if text.startswith("<!--") and ("not run" in text or "needs" in text):
                return found, f"a malformed marker {text!r}"
            break
        found.append((match["kind"].strip(), match["value"].strip()))
        at -= 1
    return found, None


def _next_text_line(lines: list[str], at: int) -> int:
    while at < len(lines) and not lines[at].strip():
        at += 1
    return at


def _expected_output(
    lines: list[str], block: _Block, others: list[_Block]
) -> tuple[str | None, str | None]:
    """What the page says the block prints (None when it shows nothing), and any problem."""
    at = _next_text_line(lines, block.end + 1)
    if at >= len(lines) or lines[at].strip() != PRINTS:
        return None, None
    fence = _next_text_line(lines, at + 1)
    shown = next((other for other in others if other.start == fence), None)
    if shown is None or shown.language not in ("", "text"):
        return None, f"'{PRINTS}' is not followed by a plain ``` block"
    return shown.body, None


def _example(
    page: str, index: int, lines: list[str], block: _Block, others: list[_Block]
) -> Example:
    markers, problem = _markers(lines, block.start)
    expected, output_problem = _expected_output(lines, block, others)
    problem = problem or output_problem
    not_run = needs = None
    for kind, value in markers:
        if kind == "not run":
            not_run = value
            if not value:
                problem = problem or "'<!-- not run: -->' gives no reason"
        elif kind == "needs":
            needs = value
            if value not in SERVERS:
                problem = problem or f"'<!-- needs: {value} -->': a block needs one of {SERVERS}"
        else:
            problem = problem or f"unknown marker '<!-- {kind}: ... -->'"
    return Example(page, index, block.start + 1, block.body, expected, not_run, needs, problem)


def examples_of(path: Path, docs: Path = DOCS) -> list[Example]:
    """Every python block of one page, numbered from 0."""
    lines = path.read_text().splitlines()
    blocks = _blocks(lines)
    page = path.relative_to(docs).as_posix()
    python = [block for block in blocks if block.language in PYTHON]
    return [_example(page, n, lines, block, blocks) for n, block in enumerate(python)]


def all_examples(docs: Path = DOCS) -> list[Example]:
    """Every python block of every page under ``docs``, page by page in path order."""
    return [example for path in sorted(docs.rglob("*.md")) for example in examples_of(path, docs)]
