"""Turn the CLI's ``--app module:attribute`` into the user's ``taskito.Queue``.

Every way this can fail raises ``AppLoadError`` with a message meant for a person at a terminal.
A configuration error (a bad ``--app``, a missing module or dependency, an invalid Queue
option) is one line; only a crash of the user's module while importing carries its traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
import traceback

import taskito

#: Where code that is not the user's lives: taskito itself, the standard library, and the
#: installed packages. The user's line that failed is the innermost frame outside them.
_NOT_USER_CODE = tuple(
    os.path.join(os.path.abspath(directory), "")
    for directory in (
        os.path.dirname(taskito.__file__),
        *(sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")),
    )
    if directory
)


class AppLoadError(Exception):
    """``--app`` could not be turned into a Queue; the message says why."""

    def __init__(
        self, message: str, *, details: str | None = None, configuration: bool = True
    ) -> None:
        super().__init__(message)
        #: A traceback worth showing (an error raised by the user's own module), or None.
        self.details = details
        #: True for a configuration error (the CLI exits 2), False for a crash (exit 1).
        self.configuration = configuration


def parse_app_spec(spec: str) -> tuple[str, str]:
    """Split ``"package.module:attr"`` into its two parts, refusing anything else."""
    module_name, colon, attribute = spec.partition(":")
    module_name, attribute = module_name.strip(), attribute.strip()
    if not colon or not module_name or not attribute or ":" in attribute:
        raise AppLoadError(
            f"invalid --app {spec!r}: expected 'module:attribute' (for example 'myapp.tasks:queue')"
        )
    return module_name, attribute


def load_queue(spec: str) -> taskito.Queue:
    """Import the module named by ``spec`` (from the current directory too) and return its Queue."""
    module_name, attribute = parse_app_spec(spec)
    _put_cwd_on_path()
    module = _import(module_name, spec)
    target: object = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AppLoadError(
                f"--app {spec!r}: module {module_name!r} has no attribute {attribute!r}"
            ) from None
    if not isinstance(target, taskito.Queue):
        kind = type(target).__qualname__
        raise AppLoadError(f"--app {spec!r}: {attribute!r} is a {kind}, not a taskito.Queue")
    return target


def _put_cwd_on_path() -> None:
    # `taskito worker --app tasks:queue` run from a project directory must find tasks.py there,
    # as `python -m` would; the console script alone does not put the cwd on sys.path.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _import(module_name: str, spec: str) -> object:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and _is_prefix_of(exc.name, module_name):
            raise AppLoadError(
                f"--app {spec!r}: cannot import module {module_name!r}: {exc} "
                f"(searched the current directory {os.getcwd()!r} and sys.path)"
            ) from None
        raise _import_failed(module_name, spec, exc) from None
    except Exception as exc:
        raise _import_failed(module_name, spec, exc) from None


#: Raised while importing the app, these mean its configuration is wrong (a missing
#: dependency, an invalid Queue option or database URL): one line, no traceback.
_CONFIGURATION_ERRORS = (ImportError, ValueError, TypeError, taskito.TaskitoError)


def _import_failed(module_name: str, spec: str, exc: Exception) -> AppLoadError:
    message = (
        f"--app {spec!r}: importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
    )
    if isinstance(exc, _CONFIGURATION_ERRORS):
        where = _user_frame(exc)
        return AppLoadError(
            message + (f" (at {where})" if where else ""),
            configuration=isinstance(exc, ImportError | ValueError | TypeError),
        )
    # Anything else is the module crashing: its traceback is what the user needs.
    return AppLoadError(
        message, details="".join(traceback.format_exception(exc)), configuration=False
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
