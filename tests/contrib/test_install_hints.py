"""Importing an integration whose SDK is not installed raises ``ImportError`` naming the extra to
install. The imports run in a Python started without site-packages (``-S``), whose path holds
only taskito and cloudpickle: the SDKs are really absent there."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import cloudpickle
import pytest

import taskito
from taskito.contrib import DISTRIBUTION, install_hint, require


@pytest.fixture(scope="module")
def bare_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding only taskito and its one dependency."""
    root = tmp_path_factory.mktemp("bare")
    for package in (taskito, cloudpickle):
        assert package.__file__ is not None
        (root / package.__name__).symlink_to(Path(package.__file__).parent)
    return root


def import_bare(bare_path: Path, module: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(bare_path)}
    source = (
        "import importlib, sys\n"
        "try:\n"
        f"    importlib.import_module({module!r})\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc.name, '|', exc)\n"
        "    sys.exit(3)\n"
    )
    return subprocess.run(
        [sys.executable, "-S", "-c", source],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("module", "sdk", "extra"),
    [
        ("taskito.contrib.prometheus", "prometheus_client", "prometheus"),
        ("taskito.contrib.prometheus.middleware", "prometheus_client", "prometheus"),
        ("taskito.contrib.otel", "opentelemetry.trace", "otel"),
        ("taskito.contrib.sentry", "sentry_sdk", "sentry"),
    ],
)
def test_a_missing_sdk_names_the_extra(bare_path: Path, module: str, sdk: str, extra: str) -> None:
    done = import_bare(bare_path, module)
    assert done.returncode == 3, done.stderr
    name = module.rsplit(".", 1)[0] if module.endswith(".middleware") else module
    assert done.stdout.strip() == (
        f"ImportError {sdk} | {name} needs the {sdk!r} package, which is not installed: "
        f'pip install "{DISTRIBUTION}[{extra}]"'
    )


def test_the_bare_interpreter_imports_taskito_itself(bare_path: Path) -> None:
    """The check above fails for the right reason: taskito and the helpers import there."""
    done = import_bare(bare_path, "taskito.contrib.propagation")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_distribution_is_the_one_pyproject_names() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    with pyproject.open("rb") as file:
        assert tomllib.load(file)["project"]["name"] == DISTRIBUTION
    assert install_hint("otel") == 'pip install "pytaskito[otel]"'


def test_require_returns_an_installed_module() -> None:
    assert require("json", extra="none", feature="a test") is sys.modules["json"]
    with pytest.raises(ImportError, match=r"a test needs the 'taskito_no_such_sdk' package"):
        require("taskito_no_such_sdk", extra="x", feature="a test")
