"""The Redis key names agree: every name a Lua script or the Python side builds under
``<prefix>:`` is in the table of ``storage/redis/keys.py`` (as a single key or a family), and
every name in the table is built somewhere. Reads source text only: no server needed."""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path

import pytest

pytest.importorskip("redis")

import taskito.storage.redis as backend
from taskito.storage.redis.keys import KEY_FAMILIES, KEY_NAMES, Keys

# `P .. ':created'` is a single key; `P .. ':job:' .. id` a family.
_LUA_KEY = re.compile(r"\bP \.\. ':([a-z]+)(:?)'")
# f"{prefix}:created" / f"{self.prefix}:job:{job_id}"
_PY_KEY = re.compile(r"prefix\}:([a-z]+)(:?)")


def _names(pattern: re.Pattern[str], texts: list[str]) -> tuple[set[str], set[str]]:
    singles: set[str] = set()
    families: set[str] = set()
    for text in texts:
        for name, colon in pattern.findall(text):
            (families if colon else singles).add(name)
    return singles, families


def _lua_texts() -> list[str]:
    folder = importlib.resources.files("taskito.storage.redis").joinpath("lua")
    return [
        entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".lua")
    ]


def _python_texts() -> list[str]:
    folder = Path(backend.__file__).parent
    return [path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.py"))]


def test_the_scripts_build_only_names_in_the_table() -> None:
    singles, families = _names(_LUA_KEY, _lua_texts())
    assert singles, "no key found in the scripts: the pattern no longer matches prelude.lua"
    assert singles - KEY_NAMES == set()
    assert families - KEY_FAMILIES == set()


def test_python_builds_only_names_in_the_table() -> None:
    singles, families = _names(_PY_KEY, _python_texts())
    assert singles - KEY_NAMES == set()
    assert families - KEY_FAMILIES == set()


def test_every_name_in_the_table_is_built_somewhere() -> None:
    lua_singles, lua_families = _names(_LUA_KEY, _lua_texts())
    py_singles, py_families = _names(_PY_KEY, _python_texts())
    assert lua_singles | py_singles == KEY_NAMES
    assert lua_families | py_families == KEY_FAMILIES
    assert KEY_NAMES.isdisjoint(KEY_FAMILIES)


def test_the_python_key_names_are_the_scripts_names() -> None:
    keys = Keys("p")
    lua_singles, lua_families = _names(_LUA_KEY, _lua_texts())
    for attribute in ("created", "cancels", "logs", "log_index", "workers", "worker_status"):
        name = getattr(keys, attribute).removeprefix("p:")
        assert name in lua_singles, attribute
    for build in (keys.job, keys.by_status, keys.deps, keys.dependents, keys.errors):
        family = build("x").removeprefix("p:").partition(":")[0]
        assert family in lua_families, build.__name__
    assert keys.status(0, "q") == "p:status:0:q"
