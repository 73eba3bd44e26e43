"""The README's quickstart runs as written, from a fresh directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


def test_quickstart_prints_the_result(tmp_path: Path) -> None:
    script = tmp_path / "examples" / "quickstart.py"
    script.parent.mkdir()
    shutil.copy(QUICKSTART, script)
    result = subprocess.run(
        [sys.executable, "examples/quickstart.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "add(2, 3) = 5" in result.stdout
    assert (tmp_path / ".taskito" / "quickstart.db").is_file()
