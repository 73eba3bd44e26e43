"""docs/integrations.md: the Flask and Django sections' examples run (each in a fresh
interpreter, in its own temporary directory) and print what the page shows, and the settings
table lists exactly the keys the integrations accept. (tests/e2e/test_docs_examples.py runs
the one ``## Example`` section of a page; this page has one example per framework.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from taskito.contrib.django import DJANGO_SETTINGS
from taskito.contrib.settings import valid_keys

PAGE = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
_CODE_THEN_OUTPUT = re.compile(
    r"^```python\n(?P<code>.*?)^```\n\nIt prints:\n\n^```\n(?P<out>.*?)^```\n", re.M | re.S
)


def section(heading: str) -> str:
    text = PAGE.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


@pytest.mark.slow
@pytest.mark.parametrize("heading", ["Flask", "Django"])
def test_the_example_runs_and_prints_what_the_page_shows(heading: str, tmp_path: Path) -> None:
    match = _CODE_THEN_OUTPUT.search(section(heading))
    assert match is not None, f"## {heading} has no python block followed by its output"
    script = tmp_path / f"{heading.lower()}_example.py"
    script.write_text(match.group("code"))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"## {heading} example failed:\n{done.stderr}"
    assert done.stdout == match.group("out")


def test_the_settings_table_lists_every_key() -> None:
    table = section("The TASKITO_* settings (Flask and Django)")
    documented = re.findall(r"^\| `(TASKITO_[A-Z_]+)` \|", table, re.M)
    assert sorted(documented) == sorted(valid_keys(DJANGO_SETTINGS))
    assert len(documented) == len(set(documented))
