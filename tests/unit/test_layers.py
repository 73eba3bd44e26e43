"""Imports inside ``src/taskito`` point only DOWN the layer table of docs/architecture.md.

Every module is parsed with ``ast``; every import counts, including those inside functions and
under ``if TYPE_CHECKING:``, and ``importlib.import_module("taskito....")`` with a literal name.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

import taskito

PACKAGE_ROOT = Path(taskito.__file__).resolve().parent

#: Lowest first. A module may import its own layer and the layers below it.
LAYERS = ("foundation", "contracts", "backends", "engine", "facade", "surfaces")

#: (glob over the path relative to src/taskito, layer); the first match wins; no match: facade.
LAYER_PATTERNS: tuple[tuple[str, str], ...] = (
    ("exceptions.py", "foundation"),
    ("job.py", "foundation"),
    ("serializers.py", "foundation"),
    ("serializers/*", "foundation"),
    ("codecs.py", "foundation"),
    ("ids.py", "foundation"),
    ("signing.py", "foundation"),
    ("storable.py", "foundation"),
    ("redaction.py", "foundation"),
    ("loading.py", "foundation"),
    ("_checks.py", "foundation"),
    ("metrics_math.py", "foundation"),
    ("inject.py", "foundation"),
    ("retention.py", "foundation"),
    # Interception and proxies: what the producer and the worker both use (markers, the
    # conversions, the walk over decoded arguments, proxy handlers, recipe signing and
    # schemas, figures) sits with the codecs; restoring arguments is the engine's (below);
    # walking them at enqueue is the façade's (the rest of interception/).
    ("interception/markers.py", "foundation"),
    ("interception/strategy.py", "foundation"),
    ("interception/converters.py", "foundation"),
    ("interception/traverse.py", "foundation"),
    ("interception/metrics.py", "foundation"),
    ("interception/settings.py", "foundation"),
    ("proxies/__init__.py", "engine"),
    ("proxies/rebuild.py", "engine"),
    ("proxies/*", "foundation"),
    ("async_support/helpers.py", "foundation"),
    ("async_support/context.py", "contracts"),
    ("storage/base.py", "contracts"),
    ("storage/control.py", "contracts"),
    ("storage/operations.py", "contracts"),
    ("storage/records.py", "contracts"),
    ("storage/operator_contract.py", "contracts"),
    ("storage/workflow_contract.py", "contracts"),
    ("context.py", "contracts"),
    ("middleware.py", "contracts"),
    ("events.py", "contracts"),
    ("advancing.py", "contracts"),
    ("events/*", "contracts"),
    ("retry.py", "contracts"),
    ("cron.py", "contracts"),
    ("registry.py", "contracts"),
    # Worker resources: what a definition is (the engine's env carries them), then the
    # runtime that builds and hands them out, which workers and prefork children own.
    ("resources/definition.py", "contracts"),
    ("resources/*", "engine"),
    # The rest of storage/: the backends, and the factory that imports them lazily.
    ("storage/*", "backends"),
    ("execution.py", "engine"),
    ("interception/restore.py", "engine"),
    ("async_support/executor.py", "engine"),
    ("execution_*.py", "engine"),
    ("execution/*", "engine"),
    ("worker/*", "engine"),
    ("scheduler/*", "engine"),
    ("prefork.py", "engine"),
    ("prefork/*", "engine"),
    ("cli/*", "surfaces"),
    ("__main__.py", "surfaces"),
    ("dashboard/*", "surfaces"),
    ("contrib/*", "surfaces"),
    ("health.py", "surfaces"),
    ("scaler.py", "surfaces"),
    # Everything else is the façade; named here so a reader finds the Queue's folder, and
    # webhooks, which the Queue's add_webhook() builds on (it uses events and foundation only).
    ("queue/*", "facade"),
    ("webhooks/*", "facade"),
    ("interception/*", "facade"),
    ("async_support/*", "facade"),
    # Durable workflows stand on the Queue; the worker reaches them through a contracts-layer
    # protocol only.
    ("workflows/*", "facade"),
)

#: Surfaces stand on the public API only: the ``taskito`` package, the façade, ``inspection``.
SURFACE_MAY_IMPORT = ("facade", "surfaces")
#: Modules of lower layers that surfaces may import by path: the ``module:attr`` loader the
#: CLI shares with prefork children, and the one vocabulary of argument checks.
SURFACE_MAY_IMPORT_MODULES = ("loading.py", "_checks.py")


@dataclass(frozen=True)
class Violation:
    importer: str
    importer_layer: str
    imported: str
    imported_layer: str
    line: int

    def __str__(self) -> str:
        return (
            f"{self.importer}:{self.line} ({self.importer_layer}) imports "
            f"{self.imported} ({self.imported_layer})"
        )


def layer_of(relative_path: str) -> str:
    for pattern, layer in LAYER_PATTERNS:
        if fnmatchcase(relative_path, pattern):
            return layer
    return "facade"


def is_allowed(importer_layer: str, imported_layer: str) -> bool:
    if importer_layer == "surfaces":
        return imported_layer in SURFACE_MAY_IMPORT
    return LAYERS.index(imported_layer) <= LAYERS.index(importer_layer)


def module_path(module: str, root: Path) -> str | None:
    """``taskito.a.b`` -> ``a/b.py`` or ``a/b/__init__.py`` (the file that would run)."""
    parts = module.split(".")
    if parts[0] != "taskito":
        return None
    inner = parts[1:]
    package = Path(*inner, "__init__.py") if inner else Path("__init__.py")
    if (root / package).is_file() or not inner:
        return package.as_posix()
    return Path(*inner[:-1], inner[-1] + ".py").as_posix()


def package_of(relative_path: str) -> str:
    """The package a module lives in, for resolving its relative imports."""
    parts = ["taskito", *Path(relative_path).parts[:-1]]
    return ".".join(parts)


def imported_modules(tree: ast.AST, package: str, root: Path) -> list[tuple[str, int]]:
    """Every taskito module this tree imports, with the line of the import."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute_from(node, package)
            for alias in node.names:
                # `from taskito.storage import sqlite` imports the submodule when one exists.
                candidate = f"{base}.{alias.name}"
                path = module_path(candidate, root)
                is_submodule = path is not None and (root / path).is_file()
                found.append((candidate if is_submodule else base, node.lineno))
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            argument = node.args[0]
            assert isinstance(argument, ast.Constant) and isinstance(argument.value, str)
            found.append((argument.value, node.lineno))
    return [(name, line) for name, line in found if name.split(".")[0] == "taskito"]


def _absolute_from(node: ast.ImportFrom, package: str) -> str:
    if node.level == 0:
        return node.module or ""
    anchor = package.split(".")
    if node.level > 1:
        anchor = anchor[: -(node.level - 1)]
    return ".".join([*anchor, node.module] if node.module else anchor)


def _is_dynamic_import(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in ("import_module", "__import__") or not node.args:
        return False
    first = node.args[0]
    return isinstance(first, ast.Constant) and isinstance(first.value, str)


def find_violations(root: Path) -> list[Violation]:
    violations: list[Violation] = []
    for file in sorted(root.rglob("*.py")):
        relative = file.relative_to(root).as_posix()
        importer_layer = layer_of(relative)
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        for module, line in imported_modules(tree, package_of(relative), root):
            target = module_path(module, root)
            if target is None:
                continue
            imported_layer = layer_of(target)
            if importer_layer == "surfaces" and target in SURFACE_MAY_IMPORT_MODULES:
                continue
            if not is_allowed(importer_layer, imported_layer):
                violations.append(Violation(relative, importer_layer, module, imported_layer, line))
    return violations


def test_no_module_imports_up_the_layer_table() -> None:
    violations = find_violations(PACKAGE_ROOT)
    assert not violations, "upward imports (see docs/architecture.md, Layers):\n" + "\n".join(
        str(v) for v in violations
    )


def test_the_package_is_where_the_checker_looks() -> None:
    modules = {p.relative_to(PACKAGE_ROOT).as_posix() for p in PACKAGE_ROOT.rglob("*.py")}
    assert {"__init__.py", "exceptions.py", "job.py", "storage/base.py", "cli/main.py"} <= modules


@pytest.mark.parametrize(
    ("path", "layer"),
    [
        ("exceptions.py", "foundation"),
        ("ids.py", "foundation"),
        ("signing.py", "foundation"),
        ("loading.py", "foundation"),
        ("storage/base.py", "contracts"),
        ("storage/control.py", "contracts"),
        ("registry.py", "contracts"),
        ("storage/__init__.py", "backends"),
        ("storage/sqlite/__init__.py", "backends"),
        ("storage/sqlite/storage.py", "backends"),
        ("storage/sqlite/schema.py", "backends"),
        ("storage/postgres/queries.py", "backends"),
        ("storage/redis/storage.py", "backends"),
        ("storage/validation.py", "backends"),
        ("worker/pools/thread.py", "engine"),
        ("scheduler/__init__.py", "engine"),
        ("prefork.py", "engine"),
        ("worker/pools/prefork/pool.py", "engine"),
        ("worker/pools/prefork/child_main.py", "engine"),
        ("cli/__init__.py", "surfaces"),
        ("cli/worker.py", "surfaces"),
        ("__main__.py", "surfaces"),
        ("dashboard/app.py", "surfaces"),
        ("health.py", "surfaces"),
        ("scaler.py", "surfaces"),
        ("cli/scaler.py", "surfaces"),
        ("app.py", "facade"),
        ("__init__.py", "facade"),
        ("inspection.py", "facade"),
        ("queue_enqueue.py", "facade"),
        ("webhooks/manager.py", "facade"),
        ("webhooks/__init__.py", "facade"),
        ("interception/markers.py", "foundation"),
        ("interception/converters.py", "foundation"),
        ("interception/restore.py", "engine"),
        ("interception/walker.py", "facade"),
        ("interception/__init__.py", "facade"),
        ("proxies/handlers/file.py", "foundation"),
        ("proxies/signing.py", "foundation"),
        ("proxies/rebuild.py", "engine"),
        ("proxies/__init__.py", "engine"),
        ("async_support/helpers.py", "foundation"),
        ("async_support/executor.py", "engine"),
        ("async_support/__init__.py", "facade"),
        ("workflows/builder.py", "facade"),
        ("workflows/__init__.py", "facade"),
    ],
)
def test_layer_of(path: str, layer: str) -> None:
    assert layer_of(path) == layer


def _write(root: Path, relative: str, source: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")


@pytest.fixture
def synthetic_package(tmp_path: Path) -> Path:
    """A miniature src/taskito whose imports all point down."""
    root = tmp_path / "taskito"
    _write(root, "__init__.py", "from taskito.app import Queue\n")
    _write(root, "app.py", "from taskito.worker import loop\nfrom taskito import job\n")
    _write(root, "job.py", "import time\n")
    _write(root, "exceptions.py", "")
    _write(root, "retry.py", "from .job import now_ms\n")
    _write(root, "storage/__init__.py", "def f():\n    from taskito.storage import sqlite\n")
    _write(root, "storage/base.py", "from taskito.job import JobRecord\n")
    _write(root, "storage/sqlite.py", "from taskito.storage.base import Storage\n")
    _write(root, "worker/__init__.py", "")
    _write(root, "worker/loop.py", "from ..retry import decide\nfrom . import pools\n")
    _write(root, "worker/pools.py", "from taskito.storage.base import Storage\n")
    _write(root, "cli/__init__.py", "from taskito.cli.main import main\n")
    _write(root, "cli/main.py", "import taskito\nfrom taskito.app import Queue\n")
    return root


def test_checker_accepts_downward_imports(synthetic_package: Path) -> None:
    assert find_violations(synthetic_package) == []


@pytest.mark.parametrize(
    ("relative", "source", "imported", "imported_layer"),
    [
        ("job.py", "from taskito.app import Queue\n", "taskito.app", "facade"),
        (
            "storage/base.py",
            "from taskito.storage import open_storage\n",
            "taskito.storage",
            "backends",
        ),
        ("storage/sqlite.py", "from taskito.worker import loop\n", "taskito.worker.loop", "engine"),
        (
            "retry.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from taskito.storage.sqlite import X\n",
            "taskito.storage.sqlite",
            "backends",
        ),
        ("worker/pools.py", "def f():\n    import taskito.app\n", "taskito.app", "facade"),
        ("worker/loop.py", "from .. import app\n", "taskito.app", "facade"),
        (
            "exceptions.py",
            "import importlib\nimportlib.import_module('taskito.cli')\n",
            "taskito.cli",
            "surfaces",
        ),
        ("cli/main.py", "from taskito.job import JobRecord\n", "taskito.job", "foundation"),
        ("cli/main.py", "from taskito.worker import loop\n", "taskito.worker.loop", "engine"),
    ],
)
def test_checker_catches_a_synthetic_upward_import(
    synthetic_package: Path, relative: str, source: str, imported: str, imported_layer: str
) -> None:
    _write(synthetic_package, relative, source)
    violations = find_violations(synthetic_package)
    assert [(v.importer, v.imported, v.imported_layer) for v in violations] == [
        (relative, imported, imported_layer)
    ]
