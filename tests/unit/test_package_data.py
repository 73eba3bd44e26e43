"""Every file the package needs that is not Python (templates, static assets, Lua scripts) is
listed in pyproject.toml's package-data, so an installed wheel has it: the reference package
shipped its Django admin pages without their templates."""

from __future__ import annotations

import tomllib
from pathlib import Path

import taskito

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(taskito.__file__).resolve().parent
DATA_SUFFIXES = (".html", ".js", ".css", ".svg", ".lua", ".typed")


def test_every_data_file_is_in_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["taskito"]
    data_files = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.name.endswith(DATA_SUFFIXES)
    ]
    assert "contrib/django/templates/taskito/admin/jobs.html" in data_files
    assert "dashboard/static/js/pages/jobs.js" in data_files
    # Matched as setuptools matches them: a glob, where "*" stops at "/" ("static/*" leaves
    # out static/js/; "static/**/*" takes every file below static/).
    shipped = {
        path.relative_to(PACKAGE).as_posix()
        for pattern in patterns
        for path in PACKAGE.glob(pattern)
    }
    missing = [f for f in data_files if f not in shipped]
    assert missing == [], f"not in [tool.setuptools.package-data]: {missing}"
