"""Integrations with other software, each an optional extra imported by its own module path
(importing this package imports none of them): the web frameworks ``taskito.contrib.flask``,
``taskito.contrib.django`` and ``taskito.contrib.fastapi`` (docs/integrations.md), and the
observability tools ``taskito.contrib.prometheus``, ``taskito.contrib.otel`` and
``taskito.contrib.sentry`` (docs/observability.md).

This module owns the install hint a contrib module gives when its SDK is missing, and the one
place that names the distribution pip installs (``DISTRIBUTION``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: The name pip installs this package by (pyproject.toml's ``[project] name``; a test checks).
#: Not the import name: ``taskito`` on the package index is the Rust-core package. Fixed rather
#: than read from the installed metadata, which could name that other package when both are
#: installed, and would then send the reader to the wrong one.
DISTRIBUTION = "pytaskito"


def install_hint(extra: str) -> str:
    """``pip install "<distribution>[extra]"``, as a user would type it."""
    return f'pip install "{DISTRIBUTION}[{extra}]"'


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module`` (an SDK), or raise ``ImportError`` saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{feature} needs the {module!r} package, which is not installed: "
            f"{install_hint(extra)}",
            name=module,
        ) from exc


__all__ = ["DISTRIBUTION", "install_hint", "require"]
