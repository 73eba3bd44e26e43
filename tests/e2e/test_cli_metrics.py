"""``taskito metrics`` as a real process: after a ``taskito worker`` process ran the project's
jobs, the table and the JSON show one attempt per job; options and bad values behave."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from taskito import Queue
from tests.e2e.cli_project import COMMAND_TIMEOUT_S, Project
from tests.helpers import wait_until


def _run_jobs(project: Project, producer: Queue, count: int) -> None:
    """Enqueue ``count`` additions, run them in a ``taskito worker`` process, stop it."""
    for n in range(count):
        producer.enqueue("app_module.add", args=(n, 1))
    worker = project.start("worker", "--app", "app_module:queue", name="worker")
    try:
        wait_until(
            lambda: producer.stats()["completed"] == count or worker.poll() is not None,
            timeout_s=COMMAND_TIMEOUT_S,
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=COMMAND_TIMEOUT_S) == 0, project.output("worker")[1]
    assert producer.stats()["completed"] == count, project.output("worker")[1]


def _console_script(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``taskito`` executable (not ``python -m``) in the project."""
    script = Path(sys.executable).with_name("taskito")
    assert script.is_file(), f"the console script is not installed next to {sys.executable}"
    return subprocess.run(
        [str(script), *args],
        cwd=project.root,
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def test_metrics_prints_a_table_and_json(project: Project, producer: Queue) -> None:
    _run_jobs(project, producer, 3)
    table = _console_script(project, "metrics", "--app", "app_module:queue")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "taskito task metrics (attempts finished in the last 3600 s)"
    assert lines[1].split() == [
        "task", "count", "ok", "failed", "avg", "ms", "p50", "ms", "p95", "ms", "p99", "ms",
        "min", "ms", "max", "ms",
    ]  # fmt: skip
    (row,) = lines[3:]
    cells = row.split()
    assert cells[:4] == ["app_module.add", "3", "3", "0"]
    assert all(re.fullmatch(r"\d+\.\d{3}", cell) for cell in cells[4:]), row

    as_json = project.run("metrics", "--app", "app_module:queue", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    figures = json.loads(as_json.stdout)
    assert list(figures) == ["app_module.add"]
    summary = figures["app_module.add"]
    assert (summary["count"], summary["success_count"], summary["failure_count"]) == (3, 3, 0)
    assert summary["min_ms"] <= summary["p50_ms"] <= summary["max_ms"]
    assert summary == producer.metrics()["app_module.add"]


def test_metrics_filters_by_task_and_window(project: Project, producer: Queue) -> None:
    _run_jobs(project, producer, 2)
    other = project.run("metrics", "--app", "app_module:queue", "--task", "app_module.sleep_for")
    assert other.returncode == 0, other.stderr
    assert other.stdout.splitlines()[1] == "no finished attempts"
    mine = project.run(
        "metrics", "--app", "app_module:queue", "--task", "app_module.add", "--format", "json"
    )
    assert json.loads(mine.stdout)["app_module.add"]["count"] == 2
    empty = project.run("metrics", "--app", "app_module:queue", "--since", "0", "--format", "json")
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout) == {}


def test_metrics_on_an_empty_queue(project: Project) -> None:
    result = project.run("metrics", "--app", "app_module:queue", "--since", "60")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "taskito task metrics (attempts finished in the last 60 s)",
        "no finished attempts",
    ]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--since", "-1"], "--since"),
        (["--since", "1.5"], "whole number of seconds"),
        (["--since", "1e10"], "whole number of seconds"),
        (["--since", "2000000000"], "from 0 to 1e+09"),
        (["--format", "yaml"], "--format"),
    ],
)
def test_bad_options_are_usage_errors(project: Project, args: list[str], complaint: str) -> None:
    result = project.run("metrics", "--app", "app_module:queue", *args)
    assert result.returncode == 2
    assert complaint in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("taskito metrics: error: ")


def test_an_empty_task_name_is_a_configuration_error(project: Project) -> None:
    result = project.run("metrics", "--app", "app_module:queue", "--task", "")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "taskito metrics: error: task_name must be a non-empty string, or None for every task"
    )


def test_help_lists_the_metrics_command(project: Project) -> None:
    result = project.run("--help")
    assert result.returncode == 0
    assert "metrics" in result.stdout
