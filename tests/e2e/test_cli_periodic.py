"""``taskito periodic list|pause|resume|update|delete`` (issue 18): the schedule catalog from a
shell, as real ``taskito`` processes against a database a real worker stored the app's
schedule on, on every backend, with the bad inputs."""

from __future__ import annotations

from tests.e2e.cli_ops import JOB_TIMEOUT_S, Ops, error_line
from tests.helpers import wait_until


def _stored(ops: Ops) -> None:
    worker = ops.start_worker()  # stores the app's "new-year" schedule
    wait_until(ops.producer.list_periodic, timeout_s=JOB_TIMEOUT_S, message="stored")
    ops.stop_worker(worker)


def test_pause_resume_update_delete_from_the_command_line(backend_ops: Ops) -> None:
    ops = backend_ops
    _stored(ops)
    assert [row["name"] for row in ops.json("periodic", "list")] == ["new-year"]

    paused = ops.run("periodic", "pause", "new-year")
    assert (paused.returncode, paused.stdout) == (0, "periodic schedule 'new-year' is now paused\n")
    assert ops.json("periodic")[0]["enabled"] is False
    again = ops.run("periodic", "pause", "new-year")
    assert again.stdout == "periodic schedule 'new-year' was already paused\n"

    resumed = ops.run("periodic", "resume", "new-year")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith("periodic schedule 'new-year' is resumed; next run ")
    assert ops.json("periodic")[0]["enabled"] is True

    updated = ops.run(
        "periodic", "update", "new-year", "--cron", "0 0 12 * * *", "--timezone", "Europe/Paris"
    )
    assert updated.returncode == 0, updated.stderr
    [row] = ops.json("periodic")
    assert (row["cron_expr"], row["timezone"]) == ("0 0 12 * * *", "Europe/Paris")
    utc = ops.run("periodic", "update", "new-year", "--cron", "0 0 0 1 1 *", "--timezone", "UTC")
    assert utc.returncode == 0, utc.stderr
    assert ops.json("periodic")[0]["timezone"] is None

    deleted = ops.run("periodic", "delete", "new-year")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.startswith("periodic schedule 'new-year' deleted")
    assert ops.json("periodic") == []


def test_bad_inputs_are_one_line_errors_and_change_nothing(ops: Ops) -> None:
    _stored(ops)
    before = ops.json("periodic")
    for action in ("pause", "resume", "delete"):
        missing = ops.run("periodic", action, "no-such")
        assert missing.returncode == 3, missing.stderr
        assert error_line(missing) == (
            f"taskito periodic {action}: error: no periodic schedule named 'no-such' "
            "(see 'taskito periodic')"
        )
    bad_cron = ops.run("periodic", "update", "new-year", "--cron", "61 * * * * *")
    assert bad_cron.returncode == 2
    assert error_line(bad_cron).startswith("taskito periodic update: error: ")
    assert "61" in error_line(bad_cron)
    bad_zone = ops.run(
        "periodic", "update", "new-year", "--cron", "* * * * * *", "--timezone", "Mars/Olympus"
    )
    assert bad_zone.returncode == 2 and "Mars/Olympus" in error_line(bad_zone)
    no_cron = ops.run("periodic", "update", "new-year")
    assert no_cron.returncode == 2 and "--cron" in error_line(no_cron)
    unknown = ops.run("periodic", "stop", "new-year")
    assert unknown.returncode == 2 and "invalid choice 'stop'" in error_line(unknown)
    assert ops.json("periodic") == before
