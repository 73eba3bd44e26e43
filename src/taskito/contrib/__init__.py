"""Integrations with other software, each an optional extra imported by its own module path
(importing this package imports none of them): the web frameworks ``taskito.contrib.flask``,
``taskito.contrib.django`` and ``taskito.contrib.fastapi`` (docs/integrations.md), and the
observability tools ``taskito.contrib.prometheus``, ``taskito.contrib.otel`` and
``taskito.contrib.sentry`` (docs/observability.md).

This module owns the install hint a contrib module gives when its SDK is missing, and the one
place that names the distribution pip installs (``DISTRIBUTION``).
"""

from __future__ import annotations

import functools
import importlib
from importlib import metadata
from types import ModuleType

#: The distribution name in pyproject.toml (a test checks): the install hint's fallback when
#: the installed metadata cannot tell which one distribution holds the ``taskito`` package.
DISTRIBUTION = "taskito"


@functools.cache
def distribution_name() -> str:
    """The name pip knows this package by: from the installed metadata when the package is
    installed, else ``DISTRIBUTION``. Read once, and only when an install hint is needed."""
    names = set(metadata.packages_distributions().get(__name__.partition(".")[0], ()))
    return names.pop() if len(names) == 1 else DISTRIBUTION


def install_hint(extra: str) -> str:
    """``pip install "<distribution>[extra]"``, as a user would type it."""
    return f'pip install "{distribution_name()}[{extra}]"'


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


__all__ = ["DISTRIBUTION", "distribution_name", "install_hint", "require"]
