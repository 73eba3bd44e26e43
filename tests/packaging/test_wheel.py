"""The wheel a user installs: built from a copy of the source tree (pip's own build, in its
isolated build environment), it holds every file of the package and nothing else, and once
installed in a fresh virtual environment (no system site-packages, no source tree on the path)
taskito imports, runs the quickstart end to end on SQLite, finds its package data (Lua scripts,
templates, the dashboard's assets, ``py.typed``), and names ``pytaskito`` in its install hints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import pytest

from taskito.storage.redis.connections import SCRIPT_NAMES

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "taskito"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
NAME: str = PROJECT["name"]
VERSION: str = PROJECT["version"]
#: What pip needs besides src/ to build: the project file, the readme it embeds and the license.
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE")
#: Build, venv and install each take a few seconds; allow for a loaded machine.
STEP_TIMEOUT_S = 120

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def clean_env() -> dict[str, str]:
    """This environment without what would let the source tree or the dev venv leak in."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done


def source_files() -> set[str]:
    """Every file of the package in the source tree, as the wheel names it."""
    return {
        "taskito/" + path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy, so the build's own files (build/, *.egg-info) stay out of the
    checkout, and a file the build needs but the copy lacks fails here."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(
        PACKAGE,
        source / "src" / "taskito",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    for name in BUILD_INPUTS:
        shutil.copy2(ROOT / name, source / name)
    dist = work / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source], cwd=work)
    [built] = dist.glob("*.whl")
    assert built.name == f"{NAME}-{VERSION}-py3-none-any.whl"
    return built


@dataclass(frozen=True)
class Venv:
    python: Path
    bin: Path
    workdir: Path


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh virtual environment with the wheel installed by pip, which fetches the one
    dependency (cloudpickle) from the configured index."""
    work = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", work / "env"], cwd=work)
    bin_dir = work / "env" / "bin"
    run([bin_dir / "python", "-m", "pip", "install", "-q", wheel], cwd=work)
    return Venv(python=bin_dir / "python", bin=bin_dir, workdir=work)


def in_venv(venv: Venv, code: str) -> str:
    return run([venv.python, "-c", code], cwd=venv.workdir).stdout


def test_the_wheel_holds_the_package_and_only_it(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = {name for name in archive.namelist() if not name.endswith("/")}
    dist_info = f"{NAME}-{VERSION}.dist-info"
    assert {name.split("/", 1)[0] for name in names} == {"taskito", dist_info}
    shipped = {name for name in names if name.startswith("taskito/")}
    expected = source_files()
    # The kinds of package data that have gone missing from wheels before, by name.
    for wanted in (
        "taskito/py.typed",
        "taskito/storage/redis/lua/prelude.lua",
        "taskito/contrib/django/templates/taskito/admin/jobs.html",
        "taskito/dashboard/static/index.html",
    ):
        assert wanted in expected, f"{wanted} is not in the source tree"
        assert wanted in shipped, f"{wanted} is not in the wheel"
    assert sorted(expected - shipped) == [], "in the source tree, not in the wheel"
    assert sorted(shipped - expected) == [], "in the wheel, not in the source tree"


def test_the_metadata_names_the_distribution_its_dependency_and_extras(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        metadata = Parser().parsestr(archive.read(f"{NAME}-{VERSION}.dist-info/METADATA").decode())
        entry_points = archive.read(f"{NAME}-{VERSION}.dist-info/entry_points.txt").decode()
    assert (metadata["Name"], metadata["Version"]) == (NAME, VERSION)
    assert metadata["Requires-Python"] == PROJECT["requires-python"]
    assert set(metadata.get_all("Provides-Extra") or ()) == set(PROJECT["optional-dependencies"])
    unconditional = [r for r in metadata.get_all("Requires-Dist") or () if "extra ==" not in r]
    assert unconditional == PROJECT["dependencies"]
    assert "taskito = taskito.cli:main" in entry_points


def test_the_wheel_carries_the_license(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        metadata = Parser().parsestr(archive.read(f"{NAME}-{VERSION}.dist-info/METADATA").decode())
        licenses = [n for n in archive.namelist() if "/licenses/" in n]
        texts = [archive.read(n).decode() for n in licenses]
    assert metadata["License-Expression"] == "MIT"
    assert any(text.startswith("MIT License") for text in texts), licenses


def test_installed_in_a_fresh_venv_it_runs_the_quickstart(venv: Venv) -> None:
    where = in_venv(venv, "import taskito, sys; print(taskito.__file__); print(sys.prefix)")
    module_file, prefix = where.split()
    assert Path(module_file).is_relative_to(prefix), "taskito came from outside the venv"
    assert Path(prefix) == venv.python.parent.parent
    done = run([venv.python, ROOT / "examples" / "quickstart.py"], cwd=venv.workdir)
    assert done.stdout.splitlines()[-1] == "add(2, 3) = 5"
    assert (venv.workdir / ".taskito" / "quickstart.db").is_file()
    assert run([venv.bin / "taskito", "--version"], cwd=venv.workdir).stdout.strip() == (
        f"taskito {VERSION}"
    )


def test_the_venv_has_only_the_package_and_its_dependency(venv: Venv) -> None:
    listed = run([venv.python, "-m", "pip", "list", "--format", "json"], cwd=venv.workdir)
    names = {entry["name"].lower() for entry in json.loads(listed.stdout)}
    assert names - {"pip", "setuptools"} == {NAME, "cloudpickle"}


def test_the_installed_package_reads_its_data(venv: Venv) -> None:
    """Every data file of the source tree (each Lua script the Redis backend registers among
    them), read through importlib.resources as the package reads them."""
    wanted = sorted(f.removeprefix("taskito/") for f in source_files() if not f.endswith(".py"))
    assert {f"storage/redis/lua/{name}.lua" for name in SCRIPT_NAMES} <= set(wanted)
    code = (
        "import importlib.resources, json, sys\n"
        "root = importlib.resources.files('taskito')\n"
        "names = json.loads(sys.argv[1])\n"
        "print(json.dumps({n: len(root.joinpath(n).read_bytes()) for n in names}))\n"
    )
    done = run([venv.python, "-c", code, json.dumps(wanted)], cwd=venv.workdir)
    sizes = json.loads(done.stdout)
    assert sizes == {name: (PACKAGE / name).stat().st_size for name in wanted}


def test_the_installed_package_names_itself_in_install_hints(venv: Venv) -> None:
    code = (
        "try:\n"
        "    import taskito.contrib.flask\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "from importlib import metadata\n"
        "import taskito\n"
        "print(metadata.version('pytaskito'), taskito.__version__)\n"
    )
    hint, versions = in_venv(venv, code).splitlines()
    assert hint.endswith('pip install "pytaskito[flask]"'), hint
    assert versions == f"{VERSION} {VERSION}"
