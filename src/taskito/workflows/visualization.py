"""Drawing a workflow's DAG as Mermaid or Graphviz DOT text, optionally coloured by the
statuses of a run's nodes (docs/workflows.md, "Pictures").

For names made of ASCII letters, digits and ``_`` the output is the reference's, byte for
byte. A node's id is its name with ``[``, ``]`` and spaces turned into ``_``. Other names
would give invalid text there, so ours keeps them valid: Mermaid gets an id with each other
character spelled ``_<hex>_`` and a quoted label; DOT gets a quoted id, and a name that is a
DOT keyword (``node``, ``graph``...) or starts with a digit is quoted too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

#: The symbol a status adds to a node's label.
SYMBOLS = {
    "completed": "\u2713",
    "failed": "\u2717",
    "running": "\u25b6",
    "pending": "\u25cb",
    "skipped": "\u2014",
    "waiting_approval": "\u23f8",
}
#: A node's fill colour by status, in Mermaid; a status missing here gets no style line.
MERMAID_COLOURS = {
    "completed": "#90EE90",
    "failed": "#FFB6C1",
    "running": "#87CEEB",
    "pending": "#D3D3D3",
    "skipped": "#F5F5F5",
    "waiting_approval": "#FFFACD",
    "ready": "#E0E0E0",
}
#: A node's fill colour by status, in DOT; a status missing here (or none) is white.
DOT_COLOURS = {
    "completed": "lightgreen",
    "failed": "lightcoral",
    "running": "lightskyblue",
    "pending": "lightgray",
    "skipped": "whitesmoke",
    "waiting_approval": "lightyellow",
    "ready": "gainsboro",
}

Statuses = Mapping[str, str] | None

_REFERENCE_ID = str.maketrans({"[": "_", "]": "_", " ": "_"})
_WORD = re.compile(r"[A-Za-z0-9_]+")
_NOT_WORD = re.compile(r"[^A-Za-z0-9_]")
_PLAIN_LABEL = re.compile(r"[A-Za-z0-9_ ]+")
_DOT_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_DOT_KEYWORDS = frozenset({"node", "edge", "graph", "digraph", "subgraph", "strict"})


def render_mermaid(
    nodes: Sequence[str], edges: Iterable[tuple[str, str]], statuses: Statuses = None
) -> str:
    """A Mermaid flowchart (left to right): one line per node, one per edge, then, when
    ``statuses`` is a non-empty mapping, a fill style per node whose status has a colour."""
    lines = ["graph LR"]
    lines += [f"  {_mermaid_id(name)}{_mermaid_label(name, statuses)}" for name in nodes]
    lines += [f"  {_mermaid_id(source)} --> {_mermaid_id(target)}" for source, target in edges]
    if statuses:
        for name in nodes:
            colour = MERMAID_COLOURS.get(_status(name, statuses) or "")
            if colour is not None:
                lines.append(f"  style {_mermaid_id(name)} fill:{colour}")
    return "\n".join(lines)


def render_dot(
    nodes: Sequence[str], edges: Iterable[tuple[str, str]], statuses: Statuses = None
) -> str:
    """A Graphviz digraph (left to right), every node filled with its status's colour."""
    lines = ["digraph workflow {", "  rankdir=LR;"]
    for name in nodes:
        colour = DOT_COLOURS.get(_status(name, statuses) or "", "white")
        label = _dot_escape(_label(name, statuses))
        lines.append(f'  {_dot_id(name)} [label="{label}" style=filled fillcolor={colour}];')
    lines += [f"  {_dot_id(source)} -> {_dot_id(target)};" for source, target in edges]
    lines.append("}")
    return "\n".join(lines)


def _status(name: str, statuses: Statuses) -> str | None:
    """The status of ``name`` as its plain string (enums included), or None."""
    if not statuses:
        return None
    status = statuses.get(name)
    return None if status is None else str(status)


def _label(name: str, statuses: Statuses) -> str:
    symbol = SYMBOLS.get(_status(name, statuses) or "")
    return name if symbol is None else f"{name} {symbol}"


def _mermaid_id(name: str) -> str:
    node_id = name.translate(_REFERENCE_ID)
    if _WORD.fullmatch(node_id):
        return node_id
    return _NOT_WORD.sub(lambda match: f"_{ord(match.group()):x}_", node_id)


def _mermaid_label(name: str, statuses: Statuses) -> str:
    label = _label(name, statuses)
    if _PLAIN_LABEL.fullmatch(name):
        return f"[{label}]"
    return '["' + label.replace('"', "#quot;") + '"]'


def _dot_id(name: str) -> str:
    node_id = name.translate(_REFERENCE_ID)
    if _DOT_ID.fullmatch(node_id) and node_id.lower() not in _DOT_KEYWORDS:
        return node_id
    return f'"{_dot_escape(node_id)}"'


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


__all__ = ["DOT_COLOURS", "MERMAID_COLOURS", "SYMBOLS", "render_dot", "render_mermaid"]
