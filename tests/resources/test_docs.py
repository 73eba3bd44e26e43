"""docs/resources.md: every python block runs on its own (a fresh interpreter in its own
temporary directory) and prints exactly the output the page shows after it; blocks marked
``<!-- not run: reason -->`` are skipped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "resources.md"
_BLOCK = re.compile(
    r"(?P<mark><!-- not run: [^>]+ -->\n)?```python\n(?P<code>.*?)^```\n", re.M | re.S
)
_OUTPUT = re.compile(r"\A\nIt prints:\n\n```\n(?P<out>.*?)^```\n", re.M | re.S)


def examples() -> list[tuple[str, str | None]]:
    text = PAGE.read_text()
    found = []
    for match in _BLOCK.finditer(text):
        if match.group("mark"):
            continue
        shown = _OUTPUT.match(text[match.end() :])
        found.append((match.group("code"), None if shown is None else shown.group("out")))
    return found


def test_the_page_has_examples() -> None:
    assert len(examples()) >= 6


@pytest.mark.parametrize("number", range(len(examples())))
def test_each_example_runs_and_prints_what_the_page_shows(number: int, tmp_path: Path) -> None:
    code, expected = examples()[number]
    script = tmp_path / f"example_{number}.py"
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, f"example {number} failed:\n{done.stderr}"
    if expected is not None:
        assert done.stdout == expected
