"""The ``taskito`` command through real subprocesses: version, help, ``--app`` errors, ``info``."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import taskito
from taskito import Queue
from tests.e2e.cli_project import COMMAND_TIMEOUT_S, Project
from tests.helpers import wait_until

STAT_ROWS = ("pending", "running", "completed", "failed", "dead", "cancelled")


def table_counts(output: str) -> dict[str, int]:
    """The counts in one ``info`` table, by row label (``--watch`` adds a change/s column)."""
    assert output.startswith("taskito queue statistics"), output
    counts = {}
    for line in output.splitlines():
        match = re.fullmatch(r"(\w+)\s+(\d+)(?:\s+[-+]?[\d.,]+/s)?", line.strip())
        if match:
            counts[match[1]] = int(match[2])
        if line.startswith("total"):
            break
    assert list(counts) == [*STAT_ROWS, "total"], output
    return counts


def test_version_prints_the_package_version(project: Project) -> None:
    result = project.run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"taskito {taskito.__version__}"


def test_no_command_prints_help_and_exits_1(project: Project) -> None:
    result = project.run()
    assert result.returncode == 1
    assert "usage: taskito" in result.stderr
    assert "worker" in result.stderr and "info" in result.stderr


def test_help_lists_the_commands(project: Project) -> None:
    result = project.run("--help")
    assert result.returncode == 0
    listed = re.findall(r"^    (\w+) ", result.stdout, re.M)
    # Other subcommands may follow; these come first, in this order.
    assert listed[:9] == [
        "worker", "info", "pause", "resume", "jobs", "job", "dead", "workers", "periodic"
    ]  # fmt: skip


#: Every command with the arguments it needs besides --app, and the name its errors give.
EVERY_COMMAND = [
    (["worker"], "worker"),
    (["info"], "info"),
    (["pause", "emails"], "pause"),
    (["resume", "emails"], "resume"),
    (["jobs"], "jobs"),
    (["job", "show", "some-id"], "job show"),
    (["job", "cancel", "some-id"], "job cancel"),
    (["job", "watch", "some-id"], "job watch"),
    (["dead", "list"], "dead list"),
    (["dead", "retry", "some-id"], "dead retry"),
    (["dead", "purge"], "dead purge"),
    (["workers"], "workers"),
    (["periodic"], "periodic"),
]


@pytest.mark.parametrize(("args", "name"), EVERY_COMMAND, ids=[name for _, name in EVERY_COMMAND])
def test_app_is_required(project: Project, args: list[str], name: str) -> None:
    result = project.run(*args)
    assert result.returncode == 2
    assert result.stderr == (
        f"taskito {name}: error: --app is required: pass --app MODULE:ATTR "
        "(e.g. --app myproject.tasks:queue) or set TASKITO_APP\n"
    )
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["info", "worker"])
@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("app_module", "expected 'module:attribute'"),
        ("app_module:", "expected 'module:attribute'"),
        (":queue", "expected 'module:attribute'"),
        ("no_such_module:queue", "cannot import module 'no_such_module'"),
        ("app_module.sub:queue", "cannot import module 'app_module.sub'"),
        (
            "needs_missing_dependency:queue",
            "importing module 'needs_missing_dependency' failed: ModuleNotFoundError: "
            "No module named 'taskito_e2e_no_such_dependency' (at needs_missing_dependency.py:1)",
        ),
        ("app_module:nope", "module 'app_module' has no attribute 'nope'"),
        ("app_module:not_a_queue", "'not_a_queue' is a dict, not a taskito.Queue"),
        (
            "invalid_queue_option:queue",
            "importing module 'invalid_queue_option' failed: ConfigurationError: "
            "Unknown backend 'mongo'",
        ),
        (
            "invalid_queue_type:queue",
            "TypeError: workers must be an int, not str (at invalid_queue_type.py:3)",
        ),
    ],
)
def test_a_bad_app_is_a_configuration_error_of_one_line(
    project: Project, command: str, app: str, message: str
) -> None:
    result = project.run(command, "--app", app)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("taskito: error: ")
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr  # no traceback
    assert result.stdout == ""


def test_debug_logging_shows_where_a_configuration_error_came_from(project: Project) -> None:
    result = project.run("--log-level", "DEBUG", "info", "--app", "invalid_queue_option:queue")
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "invalid_queue_option.py" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("taskito: error: --app ")


def test_a_configuration_error_of_the_command_itself_is_one_line(project: Project) -> None:
    result = project.run("worker", "--app", "app_module:queue", "--max-tasks-per-child", "3")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "taskito worker: error: max_tasks_per_child applies to pool='prefork' only, "
        "not pool='thread'"
    )


def test_import_error_inside_the_app_shows_its_traceback(project: Project) -> None:
    # Not a configuration error: the module crashed, and its traceback is what helps.
    result = project.run("worker", "--app", "raises_on_import:queue")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "raises_on_import.py" in result.stderr
    assert "RuntimeError: boom while importing" in result.stderr.splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["worker", "--workers", "0"], "--workers"),
        (["worker", "--max-tasks-per-child", "0"], "--max-tasks-per-child"),
        (["worker", "--workers", "many"], "--workers"),
        (["worker", "--pool", "fibers"], "--pool"),
        (["worker", "--queues", " , "], "--queues"),
        (["worker", "--drain-timeout", "-1"], "--drain-timeout"),
        (["worker", "--drain-timeout", "nan"], "--drain-timeout"),
        (["worker", "--drain-timeout", "1e11"], "at most 1e+09 seconds"),
        (["info", "--interval", "1e300"], "at most 1e+09 seconds"),
        (["info", "--interval", "0"], "--interval"),
        (["info", "--log-level", "LOUD"], "--log-level"),
        (["jobs", "--limit", "0"], "argument --limit: expected a number >= 1, got 0"),
        (["jobs", "--offset", "-1"], "argument --offset: expected a number >= 0, got -1"),
        (["dead", "purge", "--older-than", "soon"], "expected a number of seconds, got 'soon'"),
        (["job", "watch", "x", "--interval", "0"], "expected seconds > 0"),
    ],
)
def test_bad_options_are_usage_errors(project: Project, args: list[str], complaint: str) -> None:
    result = project.run(*args, "--app", "app_module:queue")
    assert result.returncode == 2
    assert complaint in result.stderr
    [line] = result.stderr.splitlines()  # one line, not argparse's usage block
    command = " ".join(args[:2] if args[0] in ("job", "dead") else args[:1])
    assert line.startswith(f"taskito {command}: error: ")
    assert line.endswith(f"(see 'taskito {command} --help')")


def test_info_prints_the_counts(project: Project, producer: Queue) -> None:
    for a in range(3):
        producer.enqueue("app_module.add", args=(a, 1))
    result = project.run("info", "--app", "app_module:queue")
    assert result.returncode == 0, result.stderr
    counts = table_counts(result.stdout)
    assert counts == {**dict.fromkeys(STAT_ROWS, 0), "pending": 3, "total": 3}


def test_info_on_an_empty_queue(project: Project) -> None:
    result = project.run("info", "--app", "app_module:queue")
    assert result.returncode == 0, result.stderr
    assert table_counts(result.stdout)["total"] == 0


def test_app_can_come_from_the_environment(project: Project, producer: Queue) -> None:
    producer.enqueue("app_module.add", args=(1, 1))
    result = project.run("info", TASKITO_APP="app_module:queue")
    assert result.returncode == 0, result.stderr
    assert table_counts(result.stdout)["pending"] == 1


def test_console_script_finds_the_app_in_the_working_directory(
    project: Project, producer: Queue
) -> None:
    # Unlike `python -m`, the console script does not put the cwd on sys.path by itself.
    script = Path(sys.executable).with_name("taskito")
    assert script.is_file(), f"the console script is not installed next to {sys.executable}"
    producer.enqueue("app_module.add", args=(2, 2))
    result = subprocess.run(
        [str(script), "info", "--app", "app_module:queue"],
        cwd=project.root,
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert table_counts(result.stdout)["pending"] == 1


def test_info_watch_refreshes_until_interrupted(project: Project, producer: Queue) -> None:
    watcher = project.start(
        "info", "--app", "app_module:queue", "--watch", "--interval", "0.05", name="watch"
    )
    wait_until(
        lambda: project.output("watch")[0].count("taskito queue statistics") >= 2,
        timeout_s=COMMAND_TIMEOUT_S,
    )
    producer.enqueue("app_module.add", args=(5, 5))
    wait_until(
        lambda: re.search(r"^pending\s+1\s", project.output("watch")[0], re.M),
        timeout_s=COMMAND_TIMEOUT_S,
    )
    watcher.send_signal(signal.SIGINT)
    assert watcher.wait(timeout=COMMAND_TIMEOUT_S) == 0, project.output("watch")[1]
    stdout, _ = project.output("watch")
    last = "taskito queue statistics" + stdout.split("taskito queue statistics")[-1]
    assert "throughput" in last and "change/s" in last
    assert table_counts(last)["pending"] == 1
    assert last.rstrip().endswith("no running jobs")


def test_bad_log_level_in_the_environment_is_a_usage_error(project: Project) -> None:
    result = project.run("info", "--app", "app_module:queue", TASKITO_LOG_LEVEL="chatty")
    assert result.returncode == 2
    assert "TASKITO_LOG_LEVEL='CHATTY'" in result.stderr
