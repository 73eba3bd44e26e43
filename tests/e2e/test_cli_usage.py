"""What ``taskito`` says when it is used wrongly: an unknown command, action, choice or option
(one line, what was expected, "did you mean ...?"), an unknown id, a closed pipe; each with its
exit status. And the reference's private helpers ``taskito.cli._load_queue``/``_print_stats``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

import taskito
from taskito import Queue
from taskito.cli import _load_queue, _print_stats
from tests.e2e.cli_project import COMMAND_TIMEOUT_S, TASKITO, Project

APP = ("--app", "app_module:queue")


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    return line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["job", "shwo", "x"],
            "taskito job: error: argument {show,cancel,requeue,watch}: invalid choice 'shwo'; "
            "expected one of show, cancel, requeue, watch; did you mean 'show'? "
            "(see 'taskito job --help')",
        ),
        (
            ["dead", "retyr"],
            "taskito dead: error: argument {list,retry,delete,purge}: invalid choice 'retyr'; "
            "expected one of list, retry, delete, purge; did you mean 'retry'? "
            "(see 'taskito dead --help')",
        ),
        (
            ["jobs", "--staus", "running", *APP],
            "taskito jobs: error: unrecognized arguments: --staus running; expected one of "
            "--after, --app, --format, --help, --limit, --log-level, --offset, --queue, --status, "
            "--task; did you mean '--status'? (see 'taskito jobs --help')",
        ),
        (
            ["jobs", "--status", "runing", *APP],
            "taskito jobs: error: argument --status: invalid choice 'runing'; expected one of "
            "pending, running, complete, failed, dead, cancelled; did you mean 'running'? "
            "(see 'taskito jobs --help')",
        ),
        (
            ["workers", "--zzz", *APP],
            "taskito workers: error: unrecognized arguments: --zzz; expected one of --app, "
            "--format, --help, --log-level (see 'taskito workers --help')",
        ),
        (
            ["info", "extra", *APP],
            "taskito info: error: unrecognized arguments: extra (see 'taskito info --help')",
        ),
        (
            ["job"],
            "taskito job: error: the following arguments are required: "
            "{show,cancel,requeue,watch} (see 'taskito job --help')",
        ),
    ],
    ids=[
        "job action",
        "dead action",
        "option",
        "choice",
        "far option",
        "extra",
        "no action",
    ],
)
def test_a_mistake_is_one_line_saying_what_was_expected(
    project: Project, args: list[str], expected: str
) -> None:
    result = project.run(*args)
    assert result.returncode == 2
    assert one_error_line(result) == expected


def test_an_unknown_command_gets_the_closest_one(project: Project) -> None:
    result = project.run("jbos", *APP)
    assert result.returncode == 2
    line = one_error_line(result)
    # The list goes on with the subcommands other modules add.
    assert line.startswith(
        "taskito: error: argument COMMAND: invalid choice 'jbos'; expected one of worker, "
        "info, pause, resume, jobs, job, dead, workers, periodic"
    )
    assert line.endswith("; did you mean 'jobs'? (see 'taskito --help')")


@pytest.mark.parametrize(
    "args",
    [["info"], ["jobs"], ["job", "show", "x"], ["dead", "list"], ["workers"], ["periodic"]],
    ids=" ".join,
)
def test_every_listing_refuses_an_unknown_format(project: Project, args: list[str]) -> None:
    result = project.run(*args, "--format", "yaml", *APP)
    assert result.returncode == 2
    assert "argument --format: invalid choice 'yaml'; expected one of table, json" in (
        one_error_line(result)
    )


@pytest.mark.parametrize(
    ("args", "name", "what"),
    [
        (["job", "show", "nope"], "job show", "job with id 'nope'"),
        (["job", "cancel", "nope"], "job cancel", "job with id 'nope'"),
        (["job", "watch", "nope"], "job watch", "job with id 'nope'"),
        (["dead", "retry", "nope"], "dead retry", "dead letter with id 'nope'"),
    ],
    ids=["show", "cancel", "watch", "retry"],
)
def test_an_unknown_id_exits_3(project: Project, args: list[str], name: str, what: str) -> None:
    result = project.run(*args, *APP)
    assert result.returncode == 3
    assert one_error_line(result) == f"taskito {name}: error: no {what}"


@pytest.mark.parametrize("args", [["dead", "retry"], ["dead", "retry", "some-id", "--all"]])
def test_dead_retry_takes_one_id_or_all(project: Project, args: list[str]) -> None:
    result = project.run(*args, *APP)
    assert result.returncode == 2
    assert one_error_line(result) == "taskito dead retry: error: pass one dead letter ID, or --all"


def test_info_watch_has_no_json(project: Project) -> None:
    result = project.run("info", "--watch", "--format", "json", *APP)
    assert result.returncode == 2
    assert one_error_line(result) == (
        "taskito info: error: --watch draws a live table; --format json prints once"
    )


def test_a_closed_pipe_ends_the_command_quietly(project: Project, producer: Queue) -> None:
    producer.enqueue("app_module.add", args=(1, 2))
    # `taskito jobs | head -0`: the reader is gone before anything is written.
    command = subprocess.Popen(
        [*TASKITO, "jobs", *APP],
        cwd=project.root,
        env=project.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert command.stdout is not None
    command.stdout.close()
    _, stderr = command.communicate(timeout=COMMAND_TIMEOUT_S)
    assert command.returncode == 1
    assert stderr == b""


# --- the reference's private helpers ------------------------------------------------------


@pytest.fixture
def in_project(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """The test runs in the project directory; the modules it imports are forgotten after."""
    monkeypatch.chdir(project.root)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    try:
        yield project
    finally:
        for name in set(sys.modules) - before:
            if not name.startswith(("taskito", "_")):
                del sys.modules[name]


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("app_module", "expected 'module:attribute'"),
        ("no_such_module:queue", "cannot import module 'no_such_module'"),
        ("app_module:nope", "module 'app_module' has no attribute 'nope'"),
        ("app_module:not_a_queue", "'not_a_queue' is a dict, not a taskito.Queue"),
    ],
    ids=["no colon", "import failure", "missing attribute", "not a queue"],
)
def test_load_queue_exits_when_the_app_cannot_be_loaded(
    in_project: Project, capsys: pytest.CaptureFixture[str], app: str, message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        _load_queue(app)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_load_queue_finds_the_app_in_the_working_directory(
    in_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = _load_queue("app_module:queue")
    try:
        assert isinstance(queue, taskito.Queue)
        assert str(in_project.root) in sys.path
        queue.enqueue("app_module.add", args=(1, 1))
        _print_stats(queue)
    finally:
        queue.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "taskito queue statistics"
    labels = [line.split()[0] for line in lines if line[:1].isalpha()][1:]
    assert labels == ["pending", "running", "completed", "failed", "dead", "cancelled", "total"]
    assert lines[2].split() == ["pending", "1"]
