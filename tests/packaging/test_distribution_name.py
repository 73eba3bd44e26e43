"""The distribution is ``pytaskito`` (``taskito`` on the package index is the Rust-core package;
the import name stays ``taskito``): pyproject.toml, ``taskito.contrib.DISTRIBUTION`` and the
version lookup agree, and every ``pip install`` a reader can copy (from the source, the docs,
the README, the examples and the deployment files) names it with extras pyproject.toml has."""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito.contrib import DISTRIBUTION, install_hint

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
EXTRAS = frozenset(PYPROJECT["project"]["optional-dependencies"])
#: Where a reader meets install hints: error messages, pages, examples, manifests.
SCANNED = ("src", "docs", "README.md", "examples", "deploy", "benchmarks")
TEXT_SUFFIXES = frozenset({".py", ".md", ".html", ".js", ".yaml", ".yml", ".toml", ".txt"})

#: ``pip install`` and what follows on the line, up to the end of the command.
PIP_INSTALL = re.compile(r"pip install((?:\s+[^\s`<>]+)+)")
#: The old hint: the import name used as a distribution name with extras.
BARE_NAME_WITH_EXTRAS = re.compile(r"(?<![\w.-])taskito\[")
#: The migration guide's table shows the Rust-core package's command as the "before" of ours,
#: on the same line as ours.
QUOTES_THE_REFERENCE = "docs/migrating-from-taskito.md"


def scanned_files() -> Iterator[Path]:
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            yield path
            continue
        for file in sorted(path.rglob("*")):
            if file.is_file() and file.suffix in TEXT_SUFFIXES and "__pycache__" not in file.parts:
                yield file


def install_targets(command_tail: str) -> list[str]:
    """The requirements of one ``pip install ...``: its words, unquoted, without options."""
    targets = []
    for word in command_tail.split():
        if word.startswith(("#", "(")):
            break  # a shell comment or the prose after the command
        word = unquoted(word)
        if word and not word.startswith("-"):
            targets.append(word)
    return targets


def unquoted(word: str) -> str:
    """``"pytaskito[redis]".`` -> ``pytaskito[redis]``; ``".[dev]"`` -> ``.[dev]``."""
    previous = None
    while word != previous:
        previous = word
        word = word.strip("`'\"")
        if word != ".":
            word = word.rstrip(",.;:)")
    return word


def hint_problems(target: str) -> list[str]:
    name, bracket, rest = target.partition("[")
    problems = []
    if name not in (DISTRIBUTION, "."):
        if name == "taskito":
            problems.append(f"{target!r} names the Rust-core package; ours is {DISTRIBUTION!r}")
        return problems  # another project's package (e.g. the browser tests' driver)
    if bracket:
        extras = rest.removesuffix("]").split(",")
        problems += [f"{target!r}: no extra {extra!r}" for extra in extras if extra not in EXTRAS]
    return problems


def test_pyproject_contrib_and_the_version_lookup_name_the_same_distribution() -> None:
    assert PYPROJECT["project"]["name"] == DISTRIBUTION == "pytaskito"
    init = ast.parse((ROOT / "src" / "taskito" / "__init__.py").read_text(encoding="utf-8"))
    looked_up = [
        node.args[0].value
        for node in ast.walk(init)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "version"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ]
    assert looked_up == [DISTRIBUTION]
    # From a source tree that is not installed, __version__ falls back to pyproject's.
    fallbacks = [
        node.value.value
        for node in ast.walk(init)
        if isinstance(node, ast.Assign)
        and [getattr(target, "id", None) for target in node.targets] == ["__version__"]
        and isinstance(node.value, ast.Constant)
    ]
    assert fallbacks == [PYPROJECT["project"]["version"]]
    assert install_hint("redis") == 'pip install "pytaskito[redis]"'


def test_the_scan_finds_hints_in_every_kind_of_file() -> None:
    """The check below looks where the hints are: each kind of file holds some."""
    found = {
        path.relative_to(ROOT).parts[0]
        for path in scanned_files()
        if PIP_INSTALL.search(path.read_text(encoding="utf-8"))
    }
    assert {"src", "docs", "README.md", "examples", "deploy"} <= found, found


def test_every_install_hint_names_the_distribution_and_real_extras() -> None:
    problems = []
    for path in scanned_files():
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(text.splitlines(), 1):
            if where == QUOTES_THE_REFERENCE and "pytaskito[" in line:
                continue
            if BARE_NAME_WITH_EXTRAS.search(line):
                problems.append(f"{where}:{number}: 'taskito[' (the distribution is pytaskito)")
            for match in PIP_INSTALL.finditer(line):
                for target in install_targets(match.group(1)):
                    problems += [f"{where}:{number}: {p}" for p in hint_problems(target)]
    assert problems == [], "\n".join(problems)


def extras_named_in_calls(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """``install_hint("x")`` and ``require(..., extra="x")``: the extras hints are built from."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        if node.func.id == "install_hint" and node.args:
            argument: ast.expr | None = node.args[0]
        elif node.func.id == "require":
            argument = next((k.value for k in node.keywords if k.arg == "extra"), None)
        else:
            continue
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            yield node.lineno, argument.value


def test_hints_built_at_run_time_name_real_extras() -> None:
    named = []
    for path in sorted((ROOT / "src" / "taskito").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        named += [(path.name, line, extra) for line, extra in extras_named_in_calls(tree)]
    assert len(named) >= 10, named  # every integration and the dashboard build theirs
    assert [entry for entry in named if entry[2] not in EXTRAS] == []


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ('"taskito[redis]"', "names the Rust-core package"),
        ("'pytaskito[nosuch]'", "no extra 'nosuch'"),
        ('"pytaskito[redis,nosuch]"', "no extra 'nosuch'"),
    ],
)
def test_the_check_catches_a_wrong_hint(target: str, problem: str) -> None:
    [found] = [p for t in install_targets(target) for p in hint_problems(t)]
    assert problem in found


def test_the_check_accepts_the_right_hints() -> None:
    for hint in ('"pytaskito[redis]"', "-e '.[dev]'", "pytaskito", "playwright  # the driver"):
        assert [p for t in install_targets(hint) for p in hint_problems(t)] == [], hint
