"""Every ```python block on every docs page runs on its own, in a fresh interpreter in a
temporary directory, and prints exactly what the page shows after it (``It prints:``); a block
that shows no output must print nothing. A block that cannot run alone is marked
``<!-- not run: <reason> -->``; one that needs a server is marked ``<!-- needs: postgres -->``
or ``<!-- needs: redis -->`` and gets ``TASKITO_DB_URL`` and ``TASKITO_SCHEMA`` (a fresh
schema or key prefix, dropped afterwards), skipping without the server and failing under CI
like every server-backed test. The layout is read by tests/docs/pages.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends import queue_target
from tests.docs.pages import DOCS, PRINTS, Example, all_examples

#: Under the suite's 60 s per-test timeout, so a hung example is reported (and killed) here.
TIMEOUT_S = 45
EXAMPLES = all_examples()
#: The feature pages that each end in an ``## Example`` section (the page's tour in one run).
PAGES_WITH_AN_EXAMPLE_SECTION = (
    "ordering",
    "limits",
    "queue-control",
    "periodic",
    "canvas",
    "locks",
    "operations",
    "security",
    "dashboard",
    "integrations",
    "interception",
)

_EXAMPLE_HEADING = re.compile(r"^## (?:A complete )?[Ee]xample\n", re.M)


def environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment less the ``TASKITO_*`` settings a reader would not have."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TASKITO_")}
    return env | extra


def run(example: Example, cwd: Path, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = cwd / f"{Path(example.page).stem.replace('-', '_')}_{example.index}.py"
    script.write_text(example.code)
    try:
        return subprocess.run(
            [sys.executable, script.name],
            cwd=cwd,
            env=environment(extra_env),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{example.where} still ran after {TIMEOUT_S}s:\n{exc.stderr!r}", pytrace=False)


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=[example.id for example in EXAMPLES])
def test_the_example_runs_and_prints_what_the_page_shows(example: Example, tmp_path: Path) -> None:
    assert example.problem is None, f"{example.where}: {example.problem}"
    if example.not_run is not None:
        pytest.skip(f"{example.where} is not run: {example.not_run}")
    extra_env: dict[str, str] = {}
    cleanup = None
    if example.needs is not None:
        target = queue_target(example.needs, tmp_path)  # skips, or fails under CI, without it
        extra_env = {
            "TASKITO_DB_URL": target.kwargs["db_url"],
            "TASKITO_SCHEMA": target.kwargs["schema"],
        }
        cleanup = target.cleanup
    work = tmp_path / "run"
    work.mkdir()
    try:
        done = run(example, work, extra_env)
    finally:
        if cleanup is not None:
            cleanup()
    assert done.returncode == 0, f"{example.where} failed:\n{done.stderr}"
    if example.expected is None:
        assert done.stdout == "", (
            f"{example.where} prints, but the page shows no '{PRINTS}' block after it:\n"
            f"{done.stdout}"
        )
    else:
        assert done.stdout == example.expected, (
            f"{example.where} prints other output than the page shows:\n{done.stdout}"
        )


@pytest.mark.parametrize("page", PAGES_WITH_AN_EXAMPLE_SECTION)
def test_the_feature_page_ends_in_an_example_that_runs(page: str) -> None:
    heading = _EXAMPLE_HEADING.search((DOCS / f"{page}.md").read_text())
    assert heading is not None, f"docs/{page}.md has no '## Example' section"
    section = heading.string[heading.end() :]
    first = next((e for e in EXAMPLES if e.page == f"{page}.md" and e.code in section), None)
    assert first is not None, f"docs/{page}.md: its '## Example' section has no python block"
    assert first.not_run is None, f"docs/{page}.md: its '## Example' is marked not run"
