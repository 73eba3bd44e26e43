"""Gates on the package's shape (issue 11): no import cycle anywhere inside ``src/taskito``,
and modules split by concept before they grow too long.

The cycle check reads every import with ``ast`` the way the layer check does (imports inside
functions and under ``if TYPE_CHECKING:`` count too): a cycle is a pair of rooms that need
each other, whatever the layers say. Complexity has its own gate in ruff (C901, at most 12).
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

from tests.unit.test_layers import PACKAGE_ROOT, imported_modules, module_path, package_of

#: Past this many lines a module warns: ask whether it holds two things.
WARN_LINES = 400
#: Past this many lines a module fails, exemption or not.
FAIL_LINES = 600
#: Modules allowed past WARN_LINES without a warning, each with the reason it stays one module.
EXEMPT: dict[str, str] = {}


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each module (path under ``root``) -> the modules of the package it imports."""
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = set()
        for name, _line in imported_modules(tree, package_of(relative), root):
            target = module_path(name, root)
            if target is not None and target != relative and (root / target).is_file():
                targets.add(target)
        graph[relative] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_the_package_has_no_import_cycle() -> None:
    found = cycles(import_graph(PACKAGE_ROOT))
    assert found == [], "modules that import each other: " + "; ".join(
        " <-> ".join(group) for group in found
    )


def test_the_cycle_check_finds_a_cycle(tmp_path: Path) -> None:
    """The gate can fail: two modules reaching each other through a third, one import inside
    a function, are found."""
    for name, text in {
        "__init__.py": "",
        "a.py": "from taskito import b\n",
        "b.py": "def f():\n    from taskito.c import x\n",
        "c.py": "import taskito.a\nx = 1\n",
        "d.py": "from taskito import a\n",
    }.items():
        (tmp_path / name).write_text(text)
    assert cycles(import_graph(tmp_path)) == [["a.py", "b.py", "c.py"]]


def _line_counts() -> dict[str, int]:
    return {
        path.relative_to(PACKAGE_ROOT).as_posix(): len(
            path.read_text(encoding="utf-8").splitlines()
        )
        for path in sorted(PACKAGE_ROOT.rglob("*.py"))
    }


def test_no_module_is_past_the_hard_limit() -> None:
    too_long = {name: lines for name, lines in _line_counts().items() if lines > FAIL_LINES}
    assert too_long == {}, f"split these by concept (past {FAIL_LINES} lines): {too_long}"


@pytest.mark.filterwarnings("default::UserWarning")
def test_long_modules_warn_unless_exempted_with_a_reason() -> None:
    for name, lines in _line_counts().items():
        if lines > WARN_LINES and name not in EXEMPT:
            warnings.warn(
                f"{name} has {lines} lines (past {WARN_LINES}): does it hold two things?",
                UserWarning,
                stacklevel=1,
            )
    assert all(reason.strip() for reason in EXEMPT.values()), "an exemption needs its reason"
    stale = [name for name in EXEMPT if _line_counts().get(name, 0) <= WARN_LINES]
    assert stale == [], f"exempted modules that are short again (drop them): {stale}"
