"""Import the object that ``"module:attribute"`` names: the one loader of the CLI's ``--app``
and of prefork children (``python -m taskito.prefork APP``).

Every way this can fail raises ``AppLoadError`` (exceptions.py) whose message says what went
wrong for a person at a terminal: the spec is not ``module:attribute``, the module is not
found (and where it was looked for), the module raised while it was imported (its type,
message and the user's line that raised, ``(at file:line)``; ``AppLoadError.traceback`` holds
the whole traceback), or the attribute is missing. What the object must be (a ``Queue``) is
the caller's check: this layer cannot import the façade; ``wrong_type`` words its refusal.
"""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
import traceback
from types import ModuleType

from taskito.exceptions import AppLoadError

EXAMPLE_SPEC = "myapp.tasks:queue"

#: Where code that is not the user's lives: taskito itself, the standard library, and the
#: installed packages. The user's line that failed is the innermost frame outside them.
_NOT_USER_CODE = tuple(
    os.path.join(os.path.abspath(directory), "")
    for directory in (
        os.path.dirname(os.path.abspath(__file__)),
        *(sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")),
    )
    if directory
)


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``"package.module:attr.path"`` into its two parts, refusing anything else."""
    module_name, colon, attribute = spec.partition(":")
    module_name, attribute = module_name.strip(), attribute.strip()
    if not colon or not module_name or not attribute or ":" in attribute:
        raise AppLoadError(spec, f"expected 'module:attribute' (for example {EXAMPLE_SPEC!r})")
    return module_name, attribute


def load_attr(spec: str) -> object:
    """Import the module that ``spec`` names (the working directory first on ``sys.path``, as
    ``python -m`` would) and return the attribute, following dots (``module:obj.attr``)."""
    module_name, attribute = parse_spec(spec)
    _put_cwd_on_path()
    target: object = _import(spec, module_name)
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise AppLoadError(
                spec, f"module {module_name!r} has no attribute {attribute!r}"
            ) from exc
    return target


def wrong_type(spec: str, found: object, expected: str) -> AppLoadError:
    """The error for a loaded object of the wrong kind, e.g. ``'x' is a dict, not a Queue``."""
    _, attribute = parse_spec(spec)
    kind = type(found).__qualname__
    return AppLoadError(spec, f"{attribute!r} is a {kind}, not {expected}")


def _put_cwd_on_path() -> None:
    # `taskito worker --app tasks:queue` run from a project directory must find tasks.py there,
    # as `python -m` would; neither the console script nor a prefork child puts the cwd on
    # sys.path by itself.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _import(spec: str, module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and _is_prefix_of(exc.name, module_name):
            raise AppLoadError(
                spec,
                f"cannot import module {module_name!r}: {exc} "
                f"(searched the current directory {os.getcwd()!r} and sys.path)",
            ) from exc
        raise _import_failed(spec, module_name, exc) from exc
    except (Exception, SystemExit) as exc:
        # SystemExit too: a module that exits while it is imported failed to load.
        raise _import_failed(spec, module_name, exc) from exc


def _import_failed(spec: str, module_name: str, exc: BaseException) -> AppLoadError:
    where = _user_frame(exc)
    return AppLoadError(
        spec,
        f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
        + (f" (at {where})" if where else ""),
        traceback="".join(traceback.format_exception(exc)),
    )


def _user_frame(exc: BaseException) -> str | None:
    """``file:line`` of the innermost frame of the user's code: the line that raised, or that
    called the taskito (or library) function that did."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        filename = frame.filename
        if filename.startswith("<") or os.path.abspath(filename).startswith(_NOT_USER_CODE):
            continue
        try:
            shown = os.path.relpath(filename)
        except ValueError:  # another drive (Windows)
            shown = filename
        if shown.startswith(".." + os.sep):
            shown = filename
        return f"{shown}:{frame.lineno}"
    return None


def _is_prefix_of(missing: str, module_name: str) -> bool:
    """True when the missing module is ``module_name`` itself or one of its parent packages."""
    return module_name == missing or module_name.startswith(missing + ".")
