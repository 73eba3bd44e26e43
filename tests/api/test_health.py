"""``check_readiness`` and ``build_scaler_response`` on SQLite: a storage that fails, jobs
running with no live worker, and every bad argument. The live-worker counts on every backend
are in tests/api/backends/test_health.py."""

from __future__ import annotations

import re
from typing import Any

import pytest

from taskito import Queue
from taskito.health import check_readiness
from taskito.scaler import build_scaler_response
from tests.api.driving import MakeQueue, claim


def test_a_storage_that_fails_makes_readiness_not_ready_with_the_error(
    make_queue: MakeQueue,
) -> None:
    queue = make_queue()
    queue.close()
    report = check_readiness(queue)
    assert report["status"] == "not_ready"
    storage = report["checks"]["storage"]
    assert storage["status"] == "error"
    assert storage["error"].startswith("StorageError: ") and "closed" in storage["error"]
    assert report["checks"]["workers"] == {"status": "unknown"}
    assert report["checks"]["resources"] == {"status": "unknown"}


def test_running_jobs_keep_the_payload_active_even_with_nothing_pending(queue: Queue) -> None:
    job = queue.enqueue("t", queue="a").id
    claim(queue, job)  # running under a worker that never registered (or died)
    payload = build_scaler_response(queue)
    assert (payload["metricValue"], payload["isActive"]) == (0, True)
    assert payload["perQueue"] == {"a": {"pending": 0, "running": 1}}
    # No live worker: no capacity, and utilization is 0.0 rather than a division by zero.
    assert (payload["liveWorkers"], payload["totalCapacity"]) == (0, 0)
    assert payload["workerUtilization"] == 0.0


def test_an_empty_queue_is_inactive(queue: Queue) -> None:
    assert build_scaler_response(queue) == {
        "metricName": "taskito_queue_depth",
        "metricValue": 0,
        "isActive": False,
        "liveWorkers": 0,
        "totalCapacity": 0,
        "targetQueueDepth": 10,
        "workerUtilization": 0.0,
        "perQueue": {},
    }


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"target_queue_depth": 0}, ValueError, "target_queue_depth must be >= 1, got 0"),
        ({"target_queue_depth": -5}, ValueError, "target_queue_depth must be >= 1, got -5"),
        ({"target_queue_depth": 2**53}, ValueError, "target_queue_depth must be <= "),
        ({"target_queue_depth": True}, TypeError, "target_queue_depth must be an int, not bool"),
        ({"target_queue_depth": 2.5}, TypeError, "target_queue_depth must be an int, not float"),
        ({"target_queue_depth": "10"}, TypeError, "target_queue_depth must be an int, not str"),
        ({"queue_name": ""}, ValueError, "queue_name must be a non-empty string"),
        ({"queue_name": 3}, TypeError, "queue_name must be a str, not int"),
        ({"queue_name": "a\x00b"}, ValueError, "queue_name holds a NUL character"),
    ],
)
def test_build_scaler_response_refuses_bad_arguments(
    queue: Queue, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match="^" + re.escape(message)):
        build_scaler_response(queue, **kwargs)


@pytest.mark.parametrize("not_a_queue", [None, "queue", {"db_path": "x.db"}])
def test_a_queue_is_required(not_a_queue: Any) -> None:
    with pytest.raises(TypeError, match=r"^queue must be a taskito\.Queue, not "):
        build_scaler_response(not_a_queue)
    with pytest.raises(TypeError, match=r"^queue must be a taskito\.Queue, not "):
        check_readiness(not_a_queue)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"timeout_s": 0}, ValueError, "timeout_s must be a finite positive number of seconds"),
        ({"timeout_s": -1.0}, ValueError, "timeout_s must be a finite positive number"),
        ({"timeout_s": float("inf")}, ValueError, "timeout_s must be a finite positive number"),
        ({"timeout_s": "2"}, TypeError, "timeout_s must be a number of seconds, not str"),
        ({"stale_after_s": 0}, ValueError, "stale_after_s must be a finite positive number"),
        ({"stale_after_s": None}, TypeError, "stale_after_s must be a number of seconds, not"),
    ],
)
def test_check_readiness_refuses_bad_arguments(
    queue: Queue, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match="^" + re.escape(message)):
        check_readiness(queue, **kwargs)
