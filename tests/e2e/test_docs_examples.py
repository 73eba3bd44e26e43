"""Every docs page of a feature group carries an example that runs: this runs each one in a
fresh interpreter (its own temporary directory) and compares what it prints with the output
the page shows, so the pages cannot drift from the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = (
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
)
#: The example section's heading, its first python block, and the output block after it.
_EXAMPLE = re.compile(
    r"^## (?:A complete )?[Ee]xample\b.*?^```python\n(?P<code>.*?)^```\n", re.M | re.S
)
_OUTPUT = re.compile(r"\A(?:(?!^## ).)*?^```\n(?P<out>.*?)^```\n", re.M | re.S)


def example_of(page: str) -> tuple[str, str | None]:
    """The page's example code and, when the page shows it, the output it prints."""
    text = (DOCS / f"{page}.md").read_text()
    match = _EXAMPLE.search(text)
    assert match is not None, f"docs/{page}.md has no '## Example' section with a python block"
    rest = text[match.end() :]
    shown = _OUTPUT.match(rest)
    return match.group("code"), None if shown is None else shown.group("out")


@pytest.mark.parametrize("page", PAGES)
def test_the_example_runs_and_prints_what_the_page_shows(page: str, tmp_path: Path) -> None:
    code, expected = example_of(page)
    script = tmp_path / f"{page.replace('-', '_')}_example.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"docs/{page}.md example failed:\n{done.stderr}"
    if expected is not None:
        assert done.stdout == expected, f"docs/{page}.md shows other output than it prints"
