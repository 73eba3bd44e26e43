"""The dashboard's own assets: a folder inside the package, served under ``/static/``, and
``index.html`` (with the mount prefix written in) for every page route. A path that could
leave the folder is refused before the file system is asked."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

#: The assets shipped with the package.
PACKAGE_ASSETS = Path(__file__).resolve().parent.parent / "static"
INDEX = "index.html"
#: Written into index.html where the page needs the mount prefix (links, the API base).
ROOT_MARK = "%TASKITO_ROOT%"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_ASSET_PATH = 256

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}


def content_type_for(name: str) -> str:
    return CONTENT_TYPES.get(os.path.splitext(name)[1].lower(), "application/octet-stream")


def check_asset_path(relative: str) -> list[str] | None:
    """The parts of a relative asset path, or None when it is unsafe: empty, absolute,
    with ``..`` or ``.`` parts, an empty part (``//``), a backslash, NUL or any control
    character, or longer than 256 characters."""
    if not relative or len(relative) > MAX_ASSET_PATH:
        return None
    if "\\" in relative or _CONTROL.search(relative) or relative.startswith("/"):
        return None
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    return parts


class StaticAssets:
    """Files under ``root``; ``resolve`` finds one without ever leaving the folder."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root if root is not None else PACKAGE_ASSETS).resolve()

    def resolve(self, relative: str) -> Path | None:
        """The file for ``relative``, or None (unsafe, missing, not a file, or a link that
        points out of the folder)."""
        parts = check_asset_path(relative)
        if parts is None:
            return None
        candidate = self.root.joinpath(*parts)
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self.root) or not resolved.is_file():
            return None
        return resolved

    def index_html(self, root_path: str) -> str | None:
        """index.html with ``%TASKITO_ROOT%`` replaced by the mount prefix; None when the
        bundle is missing."""
        index = self.resolve(INDEX)
        if index is None:
            return None
        return index.read_text("utf-8").replace(ROOT_MARK, html.escape(root_path, quote=True))


__all__ = [
    "CONTENT_TYPES",
    "PACKAGE_ASSETS",
    "StaticAssets",
    "check_asset_path",
    "content_type_for",
]
