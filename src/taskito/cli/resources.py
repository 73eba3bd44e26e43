"""``taskito resources --app m:queue``: each worker resource with its scope, health, init time,
rebuilds and dependencies (``Queue.resource_status``), as a table; task-scoped ones add a line
of pool figures."""

from __future__ import annotations

import argparse
from typing import Any

import taskito
from taskito.cli import options
from taskito.cli.errors import EXIT_OK

#: (header, width) of each column but the last, which takes what is left.
HEADER = (("RESOURCE", 20), ("SCOPE", 10), ("HEALTH", 16), ("INIT (ms)", 12), ("RECREATIONS", 14))
LAST = "DEPENDS ON"


def register(commands: options.Commands) -> None:
    options.add_command(
        commands,
        "resources",
        help="list the worker resources: scope, health, init time, rebuilds, dependencies",
        handler=command,
    )


def command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    print(render(queue.resource_status()))
    return EXIT_OK


def render(rows: list[dict[str, Any]]) -> str:
    """The table; "No resources registered." when there are none."""
    if not rows:
        return "No resources registered."
    header = "".join(title.ljust(width) for title, width in HEADER) + LAST
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = (
            row["name"],
            row["scope"],
            row["health"],
            f"{float(row.get('init_duration_ms') or 0):.2f}",
            str(row.get("recreations", 0)),
        )
        depends = ", ".join(row.get("depends_on") or []) or "-"
        line = "".join(cell.ljust(width) for cell, (_, width) in zip(cells, HEADER, strict=True))
        lines.append(line + depends)
        pool = row.get("pool")
        if pool:
            lines.append(
                f"  pool: active={pool['active']} idle={pool['idle']} max={pool['size']} "
                f"timeouts={pool['total_timeouts']}"
            )
    return "\n".join(lines)


__all__ = ["command", "register", "render"]
