"""The reason texts of ``storage/rules.py``: the SQL backends call the rules, the Redis scripts
build the same texts in Lua; these tests read the scripts' source (no server needed)."""

from __future__ import annotations

import importlib.resources

import pytest

from taskito.job import JobStatus
from taskito.storage import rules


def _lua() -> str:
    folder = importlib.resources.files("taskito.storage.redis").joinpath("lua")
    return "\n".join(
        entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda entry: entry.name)
        if entry.name.endswith(".lua")
    )


def test_the_texts_are_those_the_contract_promises() -> None:
    assert rules.EXPIRED == "expired before execution"
    assert rules.dependency_failed("a") == "dependency failed: a"
    assert rules.dependency_cancelled("a") == "dependency cancelled: a"
    assert rules.lease_expired("w1") == "rescued: worker w1 stopped renewing its lease"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (JobStatus.DEAD, "dependency failed: j"),
        (JobStatus.CANCELLED, "dependency cancelled: j"),
        (JobStatus.COMPLETE, None),
        (JobStatus.FAILED, None),
        (JobStatus.PENDING, None),
        (JobStatus.RUNNING, None),
    ],
)
def test_cascade_reason(status: JobStatus, expected: str | None) -> None:
    assert rules.cascade_reason(status, "j") == expected


def test_the_redis_scripts_build_the_same_texts() -> None:
    pytest.importorskip("redis")
    lua = _lua()
    assert f"'{rules.EXPIRED}'" in lua
    assert f"'{rules.dependency_failed('')}' .. " in lua
    assert f"'{rules.dependency_cancelled('')}' .. " in lua
    before, after = rules.lease_expired("\0").split("\0")
    assert f"'{before}' .. (job.worker_id or '') .. '{after}'" in lua
