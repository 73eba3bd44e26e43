"""The inspection and control commands on every backend: one real worker process and the real
``taskito`` command on SQLite, Postgres and Redis, every command once, its JSON parsed.
(test_cli_inspection.py covers each command in depth on SQLite.)"""

from __future__ import annotations

from tests.e2e.cli_ops import JOB_TIMEOUT_S, Ops, error_line
from tests.helpers import wait_until


def test_every_command_works_on_every_backend(backend_ops: Ops) -> None:
    ops = backend_ops
    worker = ops.start_worker("--workers", "2")
    done = ops.producer.enqueue("ops_app.add", args=(20, 22))
    assert done.result(timeout=JOB_TIMEOUT_S) == 42
    dead = ops.dead_job("card declined")
    running = ops.producer.enqueue("ops_app.stepped", args=("gate",))
    ops.wait_for_progress(running, 50)

    listed = ops.json("jobs")
    assert [row["id"] for row in listed] == [running.id, dead.id, done.id]
    assert [row["id"] for row in ops.json("jobs", "--status", "dead")] == [dead.id]
    shown = ops.json("job", "show", dead.id)
    assert (shown["status"], len(shown["errors"]), len(shown["logs"])) == ("dead", 2, 2)
    assert ops.json("job", "show", done.id)["result_repr"] == "42"

    watched = ops.run("job", "watch", done.id)
    assert (watched.returncode, watched.stdout.splitlines()[-1]) == (0, "complete: 42")
    cancel = ops.run("job", "cancel", running.id)
    assert cancel.returncode == 5, cancel.stderr
    ops.wait_for_status(running, "cancelled")
    missing = ops.run("job", "cancel", "no-such-job")
    assert missing.returncode == 3
    assert error_line(missing) == "taskito job cancel: error: no job with id 'no-such-job'"

    [worker_row] = ops.json("workers")
    assert (worker_row["pid"], worker_row["threads"]) == (worker.pid, 2)
    wait_until(ops.producer.list_periodic, timeout_s=JOB_TIMEOUT_S, message="schedule stored")
    assert [schedule["name"] for schedule in ops.json("periodic")] == ["new-year"]

    [letter] = ops.json("dead", "list")
    assert letter["original_job_id"] == dead.id
    ops.stop_worker(worker)
    retried = ops.run("dead", "retry", letter["id"])
    assert retried.returncode == 0, retried.stderr
    assert ops.json("dead", "list") == []
    assert ops.run("dead", "purge", "--older-than", "0").stdout == "deleted 0 dead letter(s)\n"

    assert ops.run("pause", "emails").returncode == 0
    assert ops.producer.paused_queues() == ["emails"]
    assert ops.run("resume", "emails").returncode == 0
    assert ops.json("info") == {
        "pending": 1,  # the retried copy
        "running": 0,
        "completed": 1,
        "failed": 0,
        "dead": 1,
        "cancelled": 1,
        "total": 4,
        "paused_queues": [],
    }
