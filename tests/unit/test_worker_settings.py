"""``WorkerSettings``: one frozen value, normalised when built (the bad values themselves are
covered by tests/worker/test_worker_loop.py::test_bad_options_raise_clear_errors)."""

from __future__ import annotations

import dataclasses

import pytest

from taskito.worker import WorkerSettings
from taskito.worker.leases import LeaseTimings


def test_lists_become_tuples_and_seconds_floats() -> None:
    settings = WorkerSettings(queues=["a", "b"], tags=["x"], drain_timeout_s=2)  # type: ignore[arg-type]
    assert settings.queues == ("a", "b")
    assert settings.tags == ("x",)
    assert settings.drain_timeout_s == 2.0 and isinstance(settings.drain_timeout_s, float)


def test_the_lease_timings_come_from_the_four_lease_fields() -> None:
    settings = WorkerSettings(lease_ms=800, heartbeat_interval_s=0.2, reap_interval_s=0.1)
    assert settings.timings == LeaseTimings(800, 0.2, 0.1, 10.0)


def test_settings_are_frozen_and_compare_by_value() -> None:
    settings = WorkerSettings(pool="async", threads=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.threads = 4  # type: ignore[misc]
    assert settings == WorkerSettings(pool="async", threads=3)
    assert dataclasses.replace(settings, threads=4).threads == 4


def test_max_tasks_per_child_needs_the_prefork_pool() -> None:
    assert WorkerSettings(pool="prefork", app="m:q", max_tasks_per_child=5).max_tasks_per_child == 5
    with pytest.raises(ValueError, match="pool='prefork' only"):
        WorkerSettings(pool="thread", max_tasks_per_child=5)
