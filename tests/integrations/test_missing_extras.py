"""Without its framework installed, importing an integration raises an ``ImportError`` that
names the extra to install. The framework is really absent: a fresh interpreter without
site-packages (``-S``) that sees only taskito's source and cloudpickle."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import pytest

import taskito

SOURCE = Path(taskito.__file__).resolve().parents[1]
CLOUDPICKLE = Path(cloudpickle.__file__).resolve().parent


@pytest.mark.parametrize(
    "module, framework, hint",
    [
        ("taskito.contrib.flask", "flask", 'pip install "pytaskito[flask]"'),
        ("taskito.contrib.django", "django", 'pip install "pytaskito[django]"'),
    ],
)
def test_importing_without_the_framework_names_the_extra(
    tmp_path: Path, module: str, framework: str, hint: str
) -> None:
    (tmp_path / "cloudpickle").symlink_to(CLOUDPICKLE, target_is_directory=True)
    code = textwrap.dedent(
        f"""
        import importlib.util, sys
        sys.path[:0] = [{str(SOURCE)!r}, {str(tmp_path)!r}]
        assert importlib.util.find_spec({framework!r}) is None, "the framework is installed"
        import taskito  # the core needs nothing more
        try:
            import {module}
        except ImportError as exc:
            print(exc.name, "|", exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"{framework} | {module} needs the {framework!r} package, which is not installed: {hint}"
    )
