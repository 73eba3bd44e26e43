"""The examples of docs/observability.md's integration sections run, each in a fresh
interpreter, and print what the page shows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "observability.md"
SECTIONS = ("Prometheus", "OpenTelemetry", "Sentry")
#: In a section: its "### Example" python block, then the output block after it.
_EXAMPLE = re.compile(
    r"^### Example\n.*?^```python\n(?P<code>.*?)^```\n.*?^```\n(?P<out>.*?)^```\n", re.M | re.S
)


def example_of(section: str) -> tuple[str, str]:
    text = PAGE.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    match = _EXAMPLE.search(text[start : None if end == -1 else end])
    assert match is not None, f"docs/observability.md: ## {section} has no ### Example"
    return match.group("code"), match.group("out")


@pytest.mark.parametrize("section", SECTIONS)
def test_the_example_runs_and_prints_what_the_page_shows(section: str, tmp_path: Path) -> None:
    code, expected = example_of(section)
    script = tmp_path / f"{section.lower()}_example.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"the {section} example failed:\n{done.stderr}"
    assert done.stdout == expected, f"the {section} example printed:\n{done.stdout}"
