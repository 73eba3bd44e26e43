"""``FileHandler``: an open file crosses to the worker as its absolute path, mode, encoding and
position, and is opened again there.

Two rules keep this safe: with ``file_path_allowlist`` a path is accepted only inside one of the
listed directories, compared by whole path components after symlinks are resolved (on both
sides); and the worker never truncates: a file written with ``"w"`` is reopened for update
(``"r+"``) at the same position, so what the producer wrote is still there.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from taskito.proxies.handler import FieldSpec

#: Write modes that would truncate or refuse an existing file, and what the worker uses instead.
_NO_TRUNCATE = {"w": "r+", "x": "r+"}


class FileHandler:
    """Open regular files (not stdin, stdout or stderr), text or binary."""

    name = "file"
    version = 1
    handled_types: tuple[type, ...] = (
        io.TextIOWrapper,
        io.BufferedReader,
        io.BufferedWriter,
        io.BufferedRandom,
        io.FileIO,
    )
    schema = {
        "path": FieldSpec(str),
        "mode": FieldSpec(str),
        "encoding": FieldSpec(str, required=False),
        "position": FieldSpec(int, required=False),
    }

    def __init__(self, allowlist: Sequence[str | os.PathLike[str]] | None = None) -> None:
        self._allowed: tuple[Path, ...] | None = (
            None if allowlist is None else tuple(Path(os.path.realpath(p)) for p in allowlist)
        )

    def detect(self, obj: Any) -> bool:
        if not isinstance(obj, self.handled_types) or getattr(obj, "closed", True):
            return False
        if obj in (sys.stdin, sys.stdout, sys.stderr, sys.__stdin__, sys.__stdout__):
            return False
        name = getattr(obj, "name", None)
        return isinstance(name, str) and not name.startswith("<")

    def deconstruct(self, obj: Any) -> dict[str, Any]:
        path = os.path.abspath(obj.name)
        self.check_allowed(path)
        if obj.writable():
            obj.flush()  # what the producer wrote is on disk before the worker opens the file
        binary = not isinstance(obj, io.TextIOWrapper)
        return {
            "path": path,
            "mode": _mode_of(obj),
            "encoding": None if binary else obj.encoding,
            "position": obj.tell(),
        }

    def reconstruct(self, recipe: dict[str, Any], version: int) -> Any:
        path = recipe["path"]
        if not os.path.isabs(path):
            raise PermissionError(f"file proxy path {path!r} is not absolute: refused")
        self.check_allowed(path)
        mode = _worker_mode(recipe["mode"])
        encoding = None if "b" in mode else recipe.get("encoding")
        handle = open(path, mode, encoding=encoding)  # noqa: SIM115 (the task uses it; cleanup closes)
        position = recipe.get("position")
        if position and "a" not in mode:
            handle.seek(position)
        return handle

    def cleanup(self, obj: Any) -> None:
        if not obj.closed:
            obj.close()

    def check_allowed(self, path: str) -> None:
        """``PermissionError`` naming ``path`` when an allow-list is set and no entry holds it."""
        if self._allowed is None:
            return
        resolved = Path(os.path.realpath(path))
        if not any(resolved.is_relative_to(root) for root in self._allowed):
            allowed = ", ".join(str(root) for root in self._allowed) or "(none)"
            raise PermissionError(f"file path {path!r} is outside file_path_allowlist ({allowed})")


def _mode_of(obj: Any) -> str:
    mode = str(getattr(obj, "mode", "r"))
    if isinstance(obj, io.FileIO | io.BufferedReader | io.BufferedWriter | io.BufferedRandom):
        return mode if "b" in mode else mode + "b"
    return mode


def _worker_mode(mode: str) -> str:
    """The producer's mode without truncation: ``w``/``x`` become ``r+`` (same binary flag)."""
    if not mode or mode[0] not in "rwax":
        raise ValueError(f"file proxy mode {mode!r} is not a file mode")
    replacement = _NO_TRUNCATE.get(mode[0])
    if replacement is None:
        return mode
    return replacement + "".join(c for c in mode[1:] if c not in "+")


__all__ = ["FileHandler"]
