"""The operator's commands through the real ``taskito`` command and a real worker process, on
every backend: ``job requeue``, ``dead list --task/--after``, ``dead delete``, ``dead purge
--task``, ``jobs --after`` and ``retention --dry-run``, with their bad inputs."""

from __future__ import annotations

from tests.e2e.cli_ops import JOB_TIMEOUT_S, Ops, error_line


def test_the_operator_commands_on_every_backend(backend_ops: Ops) -> None:
    ops = backend_ops
    # The same worker claims the requeued job again while it still runs the old attempt: the
    # new attempt waits until the worker has seen its lease lost and stopped the old one.
    worker = ops.start_worker("--workers", "2")
    done = ops.producer.enqueue("ops_app.add", args=(1, 2))
    assert done.result(timeout=JOB_TIMEOUT_S) == 3
    first, second = ops.dead_job("one"), ops.dead_job("two")
    running = ops.producer.enqueue("ops_app.stepped", args=("gate",))
    ops.wait_for_progress(running, 50)

    requeued = ops.run("job", "requeue", running.id)
    assert (requeued.returncode, requeued.stdout) == (
        0,
        f"job {running.id} requeued: pending again as a new attempt\n",
    )
    finished = ops.run("job", "requeue", done.id)
    assert finished.returncode == 2
    assert error_line(finished).endswith(
        f"job {done.id} is complete, not running: nothing to requeue"
    )
    assert ops.run("job", "requeue", "no-such-job").returncode == 3
    ops.open_gate("gate")
    ops.wait_for_status(running, "complete")
    ops.stop_worker(worker)

    letters = ops.json("dead", "list", "--task", "ops_app.explode")
    assert [row["original_job_id"] for row in letters] == [second.id, first.id]
    assert {row["dlq_retry_count"] for row in letters} == {0}
    paged = ops.run("dead", "list", "--task", "ops_app.explode", "--limit", "1")
    assert "(more: --after " in paged.stdout
    cursor = paged.stdout.rsplit("--after ", 1)[1].split()[0]
    [older] = ops.json("dead", "list", "--after", cursor)
    assert older["original_job_id"] == first.id
    bad = ops.run("dead", "list", "--after", "page-two")
    assert bad.returncode == 2 and "invalid cursor: 'page-two'" in error_line(bad)

    assert ops.run("dead", "delete", older["id"]).returncode == 0
    again = ops.run("dead", "delete", older["id"])
    assert again.returncode == 3 and "no dead letter with id" in error_line(again)
    purged = ops.run("dead", "purge", "--task", "ops_app.explode")
    assert purged.stdout == "deleted 1 dead letter(s) of task ops_app.explode\n"

    newest = ops.run("jobs", "--limit", "1", "--after", "")
    assert "(more: --after " in newest.stdout
    jobs_cursor = newest.stdout.rsplit("--after ", 1)[1].split()[0]
    rest = ops.json("jobs", "--after", jobs_cursor)
    assert len(rest) == 3  # four jobs in all

    report = ops.json("retention", "--dry-run", "--recommended")
    assert report["enabled"] is False and report["windows_s"] == {}
    assert report["dry_run"]["total"] == 0  # nothing is that old
