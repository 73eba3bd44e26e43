"""Guards the public surface: ``taskito.__all__``, ``__version__`` and the exception tree.

Adding or removing a public name is a decision: make it here, on purpose.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field

import pytest

import taskito
import taskito.exceptions

PUBLIC_NAMES = {
    "Queue",
    "JobResult",
    "TaskWrapper",
    "current_job",
    "TaskMiddleware",
    "EventType",
    "Signature",
    "chain",
    "group",
    "chord",
    "chunks",
    "starmap",
    "Serializer",
    "CloudpickleSerializer",
    "JsonSerializer",
    "MsgPackSerializer",
    "EncryptedSerializer",
    "SignedSerializer",
    # Payload codecs (docs/operations.md).
    "PayloadCodec",
    "GzipCodec",
    "AesGcmCodec",
    "HmacCodec",
    "CodecSerializer",
    "TestMode",
    "TestResult",
    "TestResults",
    "MockResource",
    "PeriodicInfo",
    # Worker resources (docs/resources.md).
    "Inject",
    # Retention windows per kind of history (docs/operations.md).
    "Retention",
    # Runtime overrides (docs/operations.md).
    "TaskOverride",
    "QueueOverride",
    # What a task does with work its rate limit refuses (docs/operations.md).
    "OnExcess",
    # A keyset page of the *_after listings (docs/operations.md).
    "Page",
    # Argument interception and proxies (docs/interception.md).
    "NoProxy",
    "InterceptionReport",
}

EXCEPTION_NAMES = set(taskito.exceptions.__all__)


def test_all_is_exactly_the_public_api_and_every_exception() -> None:
    exported = set(taskito.__all__)
    assert len(taskito.__all__) == len(exported), "taskito.__all__ lists a name twice"
    assert exported - (PUBLIC_NAMES | EXCEPTION_NAMES) == set(), "unexpected public names"
    assert (PUBLIC_NAMES | EXCEPTION_NAMES) - exported == set(), "missing public names"


@pytest.mark.parametrize("name", sorted(PUBLIC_NAMES | EXCEPTION_NAMES))
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(taskito, name, None) is not None, f"taskito.{name} does not resolve"


def test_exceptions_are_reexported_unchanged() -> None:
    for name in EXCEPTION_NAMES:
        assert getattr(taskito, name) is getattr(taskito.exceptions, name)


def test_version_is_a_version_string() -> None:
    assert isinstance(taskito.__version__, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", taskito.__version__), taskito.__version__


@pytest.mark.parametrize("name", sorted(EXCEPTION_NAMES))
def test_every_exception_derives_from_taskito_error(name: str) -> None:
    cls = getattr(taskito.exceptions, name)
    assert isinstance(cls, type)
    assert issubclass(cls, taskito.exceptions.TaskitoError)


@dataclass
class DrawnClass:
    name: str
    parent: str | None
    also: list[str] = field(default_factory=list)


_BRANCH = re.compile(r"^(?P<indent>(?:│   |    )*)(?:├── |└── )(?P<name>\w+)(?P<rest>.*)$")
_ALSO = re.compile(r"\(also (?P<bases>[\w, ]+)\)")


def parse_tree_drawing(docstring: str) -> list[DrawnClass]:
    """Read the box-drawing tree: a root line, then ``├──``/``└──`` branches 4 columns deep."""
    lines = [line for line in docstring.splitlines() if line.strip()]
    root_index = next(i for i, line in enumerate(lines) if line.strip() == "TaskitoError")
    margin = len(lines[root_index]) - len(lines[root_index].lstrip())
    classes = [DrawnClass("TaskitoError", None)]
    ancestors = ["TaskitoError"]
    end = len(lines)
    for index in range(root_index + 1, len(lines)):
        match = _BRANCH.match(lines[index][margin:])
        if match is None:
            end = index  # the drawing ends at the first line that is not a branch
            break
        depth = len(match["indent"]) // 4 + 1
        assert depth <= len(ancestors), f"branch skips a level: {lines[index]!r}"
        del ancestors[depth:]
        also = _ALSO.search(match["rest"])
        bases = [b.strip() for b in also["bases"].split(",")] if also else []
        classes.append(DrawnClass(match["name"], ancestors[-1], bases))
        ancestors.append(match["name"])
    stray = [line for line in lines[end:] if "├──" in line or "└──" in line]
    assert not stray, f"branches the parser could not read: {stray}"
    return classes


def _resolve(name: str) -> type:
    found = getattr(taskito.exceptions, name, None) or getattr(builtins, name, None)
    assert isinstance(found, type), f"{name!r} in the drawing is not a class"
    return found


def test_exception_tree_drawing_matches_the_classes() -> None:
    docstring = taskito.exceptions.__doc__
    assert docstring is not None
    drawn = parse_tree_drawing(docstring)
    assert {c.name for c in drawn} == EXCEPTION_NAMES, "drawing and __all__ list other classes"
    assert len(drawn) == len(EXCEPTION_NAMES), "a class is drawn twice"
    for entry in drawn:
        cls = _resolve(entry.name)
        expected = [_resolve(entry.parent)] if entry.parent else [Exception]
        expected += [_resolve(name) for name in entry.also]
        assert list(cls.__bases__) == expected, (
            f"{entry.name}: drawn with bases {[b.__name__ for b in expected]}, "
            f"defined with {[b.__name__ for b in cls.__bases__]}"
        )


SAMPLE_DRAWING = """Errors.

    TaskitoError
    ├── A                 one
    │   └── B             (also KeyError) two
    └── C
        ├── D
        └── E             (also ValueError, KeyError)

Prose after the drawing.
"""


def test_the_drawing_parser_reads_depth_and_extra_bases() -> None:
    assert parse_tree_drawing(SAMPLE_DRAWING) == [
        DrawnClass("TaskitoError", None),
        DrawnClass("A", "TaskitoError"),
        DrawnClass("B", "A", ["KeyError"]),
        DrawnClass("C", "TaskitoError"),
        DrawnClass("D", "C"),
        DrawnClass("E", "C", ["ValueError", "KeyError"]),
    ]


def test_lock_names_live_in_taskito_locks() -> None:
    """As in the reference, the lock classes are imported from ``taskito.locks``; the lock
    error still derives from ``TaskitoError`` so ``except TaskitoError`` catches it."""
    import taskito.locks

    assert set(taskito.locks.__all__) == {
        "DistributedLock",
        "LockNotAcquiredError",
        "OnLost",
        "default_owner_id",
    }
    assert issubclass(taskito.locks.LockNotAcquiredError, taskito.exceptions.TaskitoError)
    assert not {"DistributedLock", "LockNotAcquiredError"} & set(taskito.__all__)
