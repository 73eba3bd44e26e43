"""The example of docs/observability.md, section Webhooks, runs in a fresh interpreter and
prints what the page shows (a real worker, a real HTTP receiver checking the signature)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
_SECTION = re.compile(r"^## Webhooks\n(?P<body>.*?)(?=^## |\Z)", re.M | re.S)
_EXAMPLE = re.compile(
    r"^### Example\n.*?^```python\n(?P<code>.*?)^```\n.*?^```\n(?P<out>.*?)^```\n", re.M | re.S
)


def test_the_webhooks_example_runs_and_prints_what_the_page_shows(tmp_path: Path) -> None:
    section = _SECTION.search((DOCS / "observability.md").read_text())
    assert section is not None, "docs/observability.md has no '## Webhooks' section"
    example = _EXAMPLE.search(section.group("body"))
    assert example is not None, "the Webhooks section has no '### Example' with its output"
    script = tmp_path / "webhooks_example.py"
    script.write_text(example.group("code"))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"the webhooks example failed:\n{done.stderr}"
    assert done.stdout == example.group("out")
