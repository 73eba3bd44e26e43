"""Classes of optional libraries named without importing them: a ``"module:qualname"`` is
looked up in ``sys.modules`` only, since an object of a class can only exist once its module
was imported. Building a Queue therefore never imports requests, httpx, boto3 or the rest."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable


def loaded_class(reference: str) -> type | None:
    """The class ``"module:qualname"`` names if its module is imported, else None."""
    module_name, _, qualname = reference.partition(":")
    target: object = sys.modules.get(module_name)
    if target is None:
        return None
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            return None
    return target if isinstance(target, type) else None


def loaded_classes(references: Iterable[str]) -> tuple[type, ...]:
    found = (loaded_class(reference) for reference in references)
    return tuple(cls for cls in found if cls is not None)


def installed(module_name: str) -> bool:
    """Whether ``module_name`` can be imported here, without importing it."""
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):  # a parent package is missing or broken
        return False


__all__ = ["installed", "loaded_class", "loaded_classes"]
