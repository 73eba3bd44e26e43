"""The inspection and control commands (``jobs``, ``job show|cancel|watch``, ``dead``,
``workers``, ``periodic``, ``pause``/``resume``, ``info --format json``) in depth, as real
``taskito`` processes against a real worker process, on SQLite (test_cli_backends.py runs
every command on Postgres and Redis too)."""

from __future__ import annotations

import calendar
import json
import re
import time

from taskito import Queue
from tests.e2e.cli_ops import JOB_TIMEOUT_S, Ops, error_line
from tests.e2e.cli_project import COMMAND_TIMEOUT_S
from tests.helpers import wait_until

JOB_FIELDS = {
    "id",
    "queue",
    "task_name",
    "status",
    "priority",
    "progress",
    "retry_count",
    "max_retries",
    "created_at",
    "scheduled_at",
    "started_at",
    "completed_at",
    "error",
    "timeout_ms",
    "unique_key",
    "metadata",
    "namespace",
}
DEAD_LETTER_KEYS = {
    "id",
    "original_job_id",
    "queue",
    "task_name",
    "error",
    "retry_count",
    "failed_at",
    "metadata",
    "dlq_retry_count",
}


# --- jobs ---------------------------------------------------------------------------------


def test_jobs_lists_newest_first_with_filters_and_pages(ops: Ops) -> None:
    added = [ops.producer.enqueue("ops_app.add", args=(n, n)) for n in range(3)]
    mail = ops.producer.enqueue("ops_app.add", args=(9, 9), queue="emails")
    newest_first = [mail.id, *reversed([job.id for job in added])]

    listed = ops.json("jobs")
    assert [row["id"] for row in listed] == newest_first
    assert all(set(row) == JOB_FIELDS for row in listed)
    assert {row["status"] for row in listed} == {"pending"}

    assert [row["id"] for row in ops.json("jobs", "--queue", "emails")] == [mail.id]
    first = ops.json("jobs", "--status", "pending", "--task", "ops_app.add", "--limit", "2")
    second = ops.json("jobs", "--limit", "2", "--offset", "2")
    assert [row["id"] for row in first + second] == newest_first
    assert ops.json("jobs", "--status", "completed") == []  # info's spelling is accepted
    assert ops.json("jobs", "--task", "ops_app.nothing") == []

    table = ops.run("jobs", "--limit", "2")
    assert table.returncode == 0, table.stderr
    header, *rows, hint = table.stdout.splitlines()
    assert header.split() == [
        "ID", "TASK", "QUEUE", "STATUS", "RETRIES", "PROGRESS", "CREATED", "ERROR"
    ]  # fmt: skip
    assert [row.split()[0] for row in rows] == newest_first[:2]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows[0]), rows[0]  # a readable time
    assert "--offset 2" in hint
    assert ops.run("jobs", "--queue", "nowhere").stdout == "no jobs match\n"


# --- job show -----------------------------------------------------------------------------


def test_job_show_gives_every_field_the_result_the_errors_and_the_log(ops: Ops) -> None:
    worker = ops.start_worker()
    done = ops.producer.enqueue("ops_app.add", args=(2, 3))
    assert done.result(timeout=JOB_TIMEOUT_S) == 5
    dead = ops.dead_job("no such invoice")
    ops.stop_worker(worker)

    shown = ops.json("job", "show", done.id)
    sections = {"result_repr", "dependencies", "dependents", "errors", "logs"}
    assert set(shown) == JOB_FIELDS | sections
    assert (shown["status"], shown["result_repr"], shown["errors"]) == ("complete", "5", [])

    failed = ops.json("job", "show", dead.id)
    assert failed["status"] == "dead" and failed["result_repr"] is None
    assert failed["error"].splitlines()[-1] == "ValueError: no such invoice"
    assert [error["attempt"] for error in failed["errors"]] == [0, 1]
    assert [log["message"] for log in failed["logs"]] == ["about to fail: no such invoice"] * 2

    table = ops.run("job", "show", dead.id)
    assert table.returncode == 0, table.stderr
    assert re.search(rf"^id\s+{dead.id}$", table.stdout, re.M)
    assert re.search(r"^status\s+dead$", table.stdout, re.M)
    assert re.search(r"^created_at\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", table.stdout, re.M)
    assert "\nerror:\n  Traceback (most recent call last):" in table.stdout
    assert "failed attempts (2):" in table.stdout and "log (2):" in table.stdout
    assert table.stdout.count("ValueError: no such invoice") >= 3  # the error, each attempt
    assert re.search(r"^result\s+5$", ops.run("job", "show", done.id).stdout, re.M)


# --- job cancel ---------------------------------------------------------------------------


def test_job_cancel_says_what_it_did_with_its_exit_status(ops: Ops) -> None:
    pending = ops.producer.enqueue("ops_app.add", args=(1, 1))
    cancelled = ops.run("job", "cancel", pending.id)
    assert (cancelled.returncode, cancelled.stdout) == (0, f"job {pending.id} cancelled\n")
    pending.refresh()
    assert pending.status == "cancelled"

    again = ops.run("job", "cancel", pending.id)
    assert again.returncode == 4
    assert again.stderr == (
        f"taskito job cancel: error: job {pending.id} had already finished (cancelled); "
        "nothing to cancel\n"
    )
    unknown = ops.run("job", "cancel", "no-such-job")
    assert unknown.returncode == 3
    assert unknown.stderr == "taskito job cancel: error: no job with id 'no-such-job'\n"

    ops.start_worker()
    running = ops.producer.enqueue("ops_app.stepped", args=("never-opened",))
    ops.wait_for_progress(running, 50)
    requested = ops.run("job", "cancel", running.id)
    assert requested.returncode == 5, requested.stderr
    assert requested.stdout == f"job {running.id} is running: cancel requested\n"
    ops.wait_for_status(running, "cancelled")  # the task checks, and stops


# --- job watch ----------------------------------------------------------------------------


def test_job_watch_follows_the_progress_to_the_result(ops: Ops) -> None:
    ops.start_worker()
    job = ops.producer.enqueue("ops_app.stepped", args=("gate",))
    watcher = ops.project.start(
        "job", "watch", job.id, "--app", "ops_app:queue", "--interval", "0.05", name="watch"
    )
    wait_until(
        lambda: "running    50%" in ops.project.output("watch")[0],
        timeout_s=JOB_TIMEOUT_S,
        message="the watcher saw 50%",
    )
    ops.open_gate("gate")
    assert watcher.wait(timeout=COMMAND_TIMEOUT_S) == 0, ops.project.output("watch")[1]
    lines = ops.project.output("watch")[0].splitlines()
    assert lines[0] == f"job {job.id} (ops_app.stepped)"
    assert "running    50%" in lines and "complete  100%" in lines
    assert lines[-1] == "complete: {'gate': 'gate', 'done': True}"


def test_job_watch_ends_with_the_error_of_a_failed_or_cancelled_job(ops: Ops) -> None:
    ops.start_worker()
    dead = ops.dead_job("card declined")
    watched = ops.run("job", "watch", dead.id)
    assert watched.returncode == 6, watched.stderr
    assert watched.stdout.splitlines()[-1] == "dead: ValueError: card declined"

    cancelled = ops.producer.enqueue("ops_app.add", args=(1, 2), delay=3600)
    assert ops.producer.cancel(cancelled.id)
    watched = ops.run("job", "watch", cancelled.id)
    assert watched.returncode == 7, watched.stderr
    assert watched.stdout.splitlines()[-1].startswith("cancelled: ")

    missing = ops.run("job", "watch", "no-such-job")
    assert missing.returncode == 3
    assert missing.stderr == "taskito job watch: error: no job with id 'no-such-job'\n"


# --- dead ---------------------------------------------------------------------------------


def test_dead_letters_are_listed_retried_and_purged(ops: Ops) -> None:
    worker = ops.start_worker()
    dead = [ops.dead_job(f"invoice {n}") for n in range(3)]
    ops.stop_worker(worker)

    letters = ops.json("dead", "list")
    assert [letter["original_job_id"] for letter in letters] == [job.id for job in reversed(dead)]
    assert all(set(letter) == DEAD_LETTER_KEYS for letter in letters)
    assert [row["id"] for row in ops.json("dead", "list", "--limit", "1", "--offset", "1")] == [
        letters[1]["id"]
    ]
    table = ops.run("dead", "list")
    assert "ValueError: invoice 2" in table.stdout.splitlines()[1]

    one = ops.run("dead", "retry", letters[0]["id"])
    assert one.returncode == 0, one.stderr
    new_id = one.stdout.split()[-1]
    assert one.stdout == f"dead letter {letters[0]['id']} retried as job {new_id}\n"
    retried = ops.producer.get_job(new_id)
    assert retried is not None and retried.status == "pending"
    assert ops.run("dead", "retry", letters[0]["id"]).returncode == 3  # gone with the retry

    every = ops.run("dead", "retry", "--all")
    assert (every.returncode, every.stdout) == (0, "retried 2 dead letter(s) as new jobs\n")
    assert ops.json("dead", "list") == []
    assert ops.run("dead", "list").stdout == "no dead letters\n"

    worker = ops.start_worker()  # the three copies fail again
    wait_until(lambda: len(ops.producer.dead_letters()) == 3, timeout_s=JOB_TIMEOUT_S)
    ops.stop_worker(worker)
    kept = ops.run("dead", "purge")
    assert kept.stdout == "deleted 0 dead letter(s) older than 1d 00h\n"
    purged = ops.run("dead", "purge", "--older-than", "0")
    assert (purged.returncode, purged.stdout) == (0, "deleted 3 dead letter(s)\n")
    assert ops.producer.dead_letters() == []


# --- workers, periodic --------------------------------------------------------------------


def test_workers_lists_the_running_worker(ops: Ops) -> None:
    assert ops.run("workers").stdout == "no workers\n"
    worker = ops.start_worker("--workers", "3", "--queues", "default,emails")
    [row] = ops.json("workers")
    assert row["pid"] == worker.pid
    assert (row["pool"], row["threads"], row["queues"], row["status"]) == (
        "thread",
        3,
        "default,emails",
        "active",
    )
    assert abs(row["last_heartbeat"] - time.time() * 1000) < 60_000
    header, line = ops.run("workers").stdout.splitlines()
    assert header.split() == ["ID", "HOST", "PID", "POOL", "SLOTS", "QUEUES", "STATUS", "HEARTBEAT"]
    assert line.startswith(row["worker_id"]) and line.endswith(" ago")
    assert f" {worker.pid} " in line and " thread " in line


def test_periodic_lists_the_stored_schedules_and_their_next_run(ops: Ops) -> None:
    empty = ops.run("periodic")
    assert (empty.returncode, empty.stdout.startswith("no periodic schedules")) == (0, True)
    ops.start_worker()  # stores the app's schedules
    wait_until(ops.producer.list_periodic, timeout_s=JOB_TIMEOUT_S, message="stored")
    [schedule] = ops.json("periodic")
    next_new_year_s = calendar.timegm((time.gmtime().tm_year + 1, 1, 1, 0, 0, 0))
    assert schedule == {
        "name": "new-year",
        "task_name": "new-year",
        "cron_expr": "0 0 0 1 1 *",
        "queue": "default",
        "enabled": True,
        "last_run": None,
        "next_run": next_new_year_s * 1000,
        "timezone": None,
    }
    header, line = ops.run("periodic").stdout.splitlines()
    assert header.split()[:4] == ["NAME", "TASK", "CRON", "TIMEZONE"]
    assert line.startswith("new-year") and "0 0 0 1 1 *" in line and line.endswith("h)")


# --- pause, resume, info ------------------------------------------------------------------


def test_pause_and_resume_a_queue(ops: Ops) -> None:
    paused = ops.run("pause", "emails")
    assert (paused.returncode, paused.stdout) == (0, "queue 'emails' is now paused\n")
    assert ops.producer.paused_queues() == ["emails"]
    assert ops.run("pause", "emails").stdout == "queue 'emails' was already paused\n"
    assert ops.run("info").stdout.endswith("\npaused queues: emails\n")
    assert ops.json("info")["paused_queues"] == ["emails"]

    resumed = ops.run("resume", "emails")
    assert (resumed.returncode, resumed.stdout) == (0, "queue 'emails' is resumed\n")
    assert ops.producer.paused_queues() == []
    assert ops.run("resume", "emails").stdout == "queue 'emails' was not paused\n"


def test_info_prints_one_json_document(ops: Ops) -> None:
    for n in range(2):
        ops.producer.enqueue("ops_app.add", args=(n, n))
    assert ops.json("info") == {
        "pending": 2,
        "running": 0,
        "completed": 0,
        "failed": 0,
        "dead": 0,
        "cancelled": 0,
        "total": 2,
        "paused_queues": [],
    }


def test_dead_letters_that_cannot_be_retried_fail_with_one_line(ops: Ops) -> None:
    signed = {
        "db_path": str(ops.project.root / "signed.db"),
        "signing_key": "the first key, 32 bytes long.....",
    }
    ops.project.use_queue(signed)
    producer = Queue(**signed)
    try:
        ops.producer = producer
        worker = ops.start_worker()
        ops.dead_job("signed and failed")
        ops.stop_worker(worker)
        [letter] = producer.dead_letters()
    finally:
        producer.close()
    # Another key cannot vouch for the letter's payload: nothing is retried, nothing lost.
    other_key = json.dumps({**signed, "signing_key": "another key, also long enough...."})
    one = ops.run("dead", "retry", letter["id"], CLI_PROJECT_QUEUE=other_key)
    assert one.returncode == 1
    assert error_line(one) == (
        f"taskito dead retry: error: job {letter['original_job_id']} cannot be copied: payload "
        "signature check failed: not signed by a known key"
    )
    every = ops.run("dead", "retry", "--all", CLI_PROJECT_QUEUE=other_key)
    assert every.returncode == 1
    assert every.stdout == "retried 0 dead letter(s) as new jobs\n"
    assert error_line(every).startswith(
        f"taskito dead retry: error: 1 dead letter(s) could not be retried (first: {letter['id']}: "
        "SignatureError: "
    )
    assert [row["id"] for row in ops.json("dead", "list")] == [letter["id"]]
