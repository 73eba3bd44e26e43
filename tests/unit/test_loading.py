"""``taskito.loading``: ``"module:attribute"`` through real modules written to a directory.

Each test works in its own directory (the working directory, as for ``taskito worker``) with
module names of its own, and leaves ``sys.path`` and ``sys.modules`` as it found them.
"""

from __future__ import annotations

import copy
import os
import pickle
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from taskito.exceptions import AppLoadError, ConfigurationError
from taskito.loading import load_attr, parse_spec, wrong_type

WriteModule = Callable[[str, str], str]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working directory that is not on ``sys.path`` yet."""
    monkeypatch.chdir(tmp_path)
    cwd = os.getcwd()
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", cwd)])
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


@pytest.fixture
def write_module(project: Path) -> WriteModule:
    """Write ``source`` as a module of a fresh name (``stem`` + a suffix); return its name."""

    def write(stem: str, source: str) -> str:
        name = f"{stem}_{uuid.uuid4().hex[:8]}"
        (project / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        return name

    return write


def load_error(spec: str) -> AppLoadError:
    with pytest.raises(AppLoadError) as caught:
        load_attr(spec)
    return caught.value


def test_loads_an_attribute_from_the_working_directory(write_module: WriteModule) -> None:
    name = write_module("app", "queue = {'the': 'app'}\n")
    assert load_attr(f"{name}:queue") == {"the": "app"}
    assert os.getcwd() in sys.path


def test_follows_dots_in_the_attribute_and_strips_blanks(write_module: WriteModule) -> None:
    name = write_module(
        "nested",
        """
        class Holder:
            class Inner:
                value = 42
        """,
    )
    assert load_attr(f" {name} : Holder.Inner.value ") == 42


def test_loads_a_module_inside_a_package(project: Path) -> None:
    package = f"pkg_{uuid.uuid4().hex[:8]}"
    (project / package).mkdir()
    (project / package / "__init__.py").write_text("", encoding="utf-8")
    (project / package / "tasks.py").write_text("queue = 'inside'\n", encoding="utf-8")
    assert load_attr(f"{package}.tasks:queue") == "inside"


@pytest.mark.parametrize("spec", ["app", "app:", ":queue", " : ", "app:a:b", ""])
def test_a_spec_that_is_not_module_colon_attribute_is_refused(spec: str) -> None:
    error = load_error(spec)
    assert error.spec == spec
    assert error.reason == "expected 'module:attribute' (for example 'myapp.tasks:queue')"
    assert str(error) == f"app {spec!r}: {error.reason}"
    assert error.traceback is None
    with pytest.raises(AppLoadError):
        parse_spec(spec)


def test_a_missing_module_says_where_it_looked(project: Path) -> None:
    error = load_error("taskito_loading_no_such_module:queue")
    assert error.reason == (
        "cannot import module 'taskito_loading_no_such_module': "
        "No module named 'taskito_loading_no_such_module' "
        f"(searched the current directory {os.getcwd()!r} and sys.path)"
    )
    assert error.traceback is None
    assert isinstance(error.__cause__, ModuleNotFoundError)


def test_a_missing_submodule_of_an_existing_module_is_a_missing_module(
    write_module: WriteModule,
) -> None:
    name = write_module("flat", "queue = 1\n")
    error = load_error(f"{name}.sub:queue")
    assert error.reason.startswith(f"cannot import module '{name}.sub': ")
    assert error.traceback is None


def test_a_missing_dependency_inside_the_module_names_the_users_line(
    write_module: WriteModule,
) -> None:
    name = write_module("needs", "import os\nimport taskito_loading_no_such_dependency\n")
    error = load_error(f"{name}:queue")
    assert error.reason == (
        f"importing module {name!r} failed: ModuleNotFoundError: "
        f"No module named 'taskito_loading_no_such_dependency' (at {name}.py:2)"
    )
    assert isinstance(error.__cause__, ModuleNotFoundError)
    assert error.traceback is not None and f"{name}.py" in error.traceback


def test_an_error_raised_in_a_library_names_the_users_line_that_called_it(
    write_module: WriteModule,
) -> None:
    name = write_module("calls", "import json\n\nqueue = json.loads('{')\n")
    error = load_error(f"{name}:queue")
    assert error.reason.startswith(f"importing module {name!r} failed: JSONDecodeError: ")
    assert error.reason.endswith(f"(at {name}.py:3)")


def test_a_module_that_crashes_while_imported_carries_its_traceback(
    write_module: WriteModule,
) -> None:
    name = write_module("crashes", "\n\nraise RuntimeError('boom while importing')\n")
    error = load_error(f"{name}:queue")
    assert error.reason == (
        f"importing module {name!r} failed: RuntimeError: boom while importing (at {name}.py:3)"
    )
    assert error.traceback is not None
    assert error.traceback.startswith("Traceback")
    assert error.traceback.rstrip().endswith("RuntimeError: boom while importing")
    assert isinstance(error.__cause__, RuntimeError)


def test_a_module_that_exits_while_imported_failed_to_load(write_module: WriteModule) -> None:
    name = write_module("exits", "import sys\nsys.exit(3)\n")
    error = load_error(f"{name}:queue")
    assert error.reason == f"importing module {name!r} failed: SystemExit: 3 (at {name}.py:2)"
    assert isinstance(error.__cause__, SystemExit)


def test_a_missing_attribute_names_module_and_attribute(write_module: WriteModule) -> None:
    name = write_module("plain", "queue = 1\n")
    error = load_error(f"{name}:holder.queue")
    assert error.reason == f"module {name!r} has no attribute 'holder.queue'"
    assert error.traceback is None
    assert isinstance(error.__cause__, AttributeError)


def test_wrong_type_words_the_callers_refusal() -> None:
    error = wrong_type("app:thing.queue", {"a": 1}, "a taskito.Queue")
    assert str(error) == "app 'app:thing.queue': 'thing.queue' is a dict, not a taskito.Queue"


def test_the_error_is_a_configuration_error_that_survives_pickle_and_copy() -> None:
    error = AppLoadError("m:q", "it went wrong", traceback="Traceback ...")
    assert isinstance(error, ConfigurationError) and isinstance(error, ValueError)
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert isinstance(clone, AppLoadError)
        assert (clone.spec, clone.reason, clone.traceback) == (
            "m:q",
            "it went wrong",
            "Traceback ...",
        )
        assert str(clone) == str(error)
