"""``taskito overrides ...`` and ``taskito middleware ...`` (issue 18) as real ``taskito``
processes on a real database, with the bad inputs: each is a one-line error that stores
nothing."""

from __future__ import annotations

from tests.e2e.cli_ops import Ops, error_line


def test_set_list_and_clear_overrides(ops: Ops) -> None:
    assert ops.run("overrides", "list").stdout == "no overrides stored\n"
    task = ops.run("overrides", "task", "ops_app.add", "--rate-limit", "5/s", "--paused", "yes")
    assert task.returncode == 0, task.stderr
    assert task.stdout.startswith("task 'ops_app.add': rate_limit=5/s, max_concurrent=None")
    cleared_rate = ops.run("overrides", "task", "ops_app.add", "--rate-limit", "none")
    assert cleared_rate.returncode == 0, cleared_rate.stderr
    queue = ops.run("overrides", "queue", "emails", "--max-concurrent", "2", "--paused", "yes")
    assert queue.returncode == 0, queue.stderr
    assert queue.stdout.endswith("paused=yes\n")
    assert ops.producer.paused_queues() == ["emails"]
    assert ops.json("overrides", "list") == [
        {"kind": "task", "name": "ops_app.add", "rate_limit": None, "max_concurrent": None,
         "timeout": None, "paused": True},
        {"kind": "queue", "name": "emails", "rate_limit": None, "max_concurrent": 2,
         "timeout": None, "paused": True},
    ]  # fmt: skip
    assert ops.run("overrides", "clear-task", "ops_app.add").stdout == (
        "task 'ops_app.add': overrides cleared\n"
    )
    assert ops.run("overrides", "clear-queue", "emails").returncode == 0
    assert ops.run("overrides", "clear-queue", "emails").stdout == (
        "queue 'emails': had no override\n"
    )
    assert ops.run("middleware", "list").stdout == "no middleware on this queue\n"


def test_bad_inputs(ops: Ops) -> None:
    unknown = ops.run("overrides", "task", "ops_app.nope", "--paused", "yes")
    assert unknown.returncode == 2
    assert error_line(unknown) == (
        "taskito overrides task: error: task 'ops_app.nope' is not registered on this queue"
    )
    negative = ops.run("overrides", "task", "ops_app.add", "--rate-limit=-5/s")
    assert negative.returncode == 2 and "invalid rate_limit '-5/s'" in error_line(negative)
    zero = ops.run("overrides", "queue", "emails", "--max-concurrent", "0")
    assert zero.returncode == 2 and "max_concurrent must be a whole number >= 1" in error_line(zero)
    nothing = ops.run("overrides", "task", "ops_app.add")
    assert nothing.returncode == 2 and "nothing to change" in error_line(nothing)
    bad_flag = ops.run("overrides", "task", "ops_app.add", "--paused", "maybe")
    assert bad_flag.returncode == 2 and "expected yes or no" in error_line(bad_flag)
    middleware = ops.run("middleware", "disable", "ops_app.add", "audit")
    assert middleware.returncode == 2
    assert "no middleware named 'audit' runs for task 'ops_app.add'" in error_line(middleware)
    assert ops.run("overrides", "list").stdout == "no overrides stored\n"
