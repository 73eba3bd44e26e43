"""``taskito dashboard`` as a real subprocess: user and token management, the refusal to
serve a public address without users, and serving on loopback until SIGINT."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.harness import Client
from tests.e2e.cli_project import COMMAND_TIMEOUT_S, Project, make_project
from tests.helpers import wait_until

APP = ("--app", "app_module:queue")


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    made = make_project(tmp_path)
    try:
        yield made
    finally:
        made.stop_all()


def run(project: Project, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskito", "dashboard", *APP, *args],
        cwd=project.root,
        env=project.env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_public_address_without_users_is_refused(project: Project) -> None:
    result = run(project, "--host", "0.0.0.0", "--port", str(free_port()))
    assert result.returncode == 2
    assert "refusing to serve the dashboard on '0.0.0.0' without authentication" in result.stderr
    assert "--create-user" in result.stderr


def test_users_and_tokens_from_the_command_line(project: Project) -> None:
    created = run(project, "--create-user", "ada", "--role", "admin", stdin="a-good-password\n")
    assert created.returncode == 0, created.stderr
    assert "user 'ada' created (admin)" in created.stdout
    vic = run(project, "--create-user", "vic", "--role", "viewer", stdin="vic-password-1\n")
    assert vic.returncode == 0, vic.stderr
    listed = run(project, "--list-users")
    assert listed.stdout.splitlines() == ["ada\tadmin", "vic\tviewer"]
    token = run(project, "--create-token", "grafana", "--role", "viewer").stdout.strip()
    assert token.startswith("tsk_")
    assert run(project, "--list-tokens").stdout.splitlines() == ["grafana\tviewer"]
    assert run(project, "--set-role", "vic", "--role", "admin").returncode == 0
    assert run(project, "--delete-user", "vic").stdout.strip() == "user 'vic' deleted"
    assert run(project, "--revoke-token", "grafana").stdout.strip() == "1 token(s) revoked"


@pytest.mark.parametrize(
    ("args", "stdin", "complaint"),
    [
        (("--create-user", "ada"), "a-good-password\n", "--role admin or --role viewer"),
        (("--list-users", "--role", "admin"), "", "--role goes with"),
        (("--create-user", "ada", "--role", "admin"), "", "no password"),
        (("--create-user", "ada", "--role", "admin"), "short\n", "8 to 1024"),
        (("--create-user", "bad name", "--role", "admin"), "a-good-password\n", "user name"),
        (("--delete-user", "nobody"), "", "no user named 'nobody'"),
        (("--set-password", "nobody"), "a-good-password\n", "no user named 'nobody'"),
    ],
)
def test_refused_actions_are_one_line_errors(
    project: Project, args: tuple[str, ...], stdin: str, complaint: str
) -> None:
    result = run(project, *args, stdin=stdin)
    assert result.returncode == 2
    assert complaint in result.stderr
    assert "Traceback" not in result.stderr


def test_serves_on_loopback_until_interrupted(project: Project) -> None:
    run(project, "--create-user", "ada", "--role", "admin", stdin="a-good-password\n")
    token = run(project, "--create-token", "ci", "--role", "viewer").stdout.strip()
    port = free_port()
    server = project.start("dashboard", *APP, "--port", str(port), name="dash")
    client = Client(port)

    def healthy() -> bool:
        try:
            return client.get("/health").status == 200
        except OSError:
            return False

    wait_until(healthy, timeout_s=COMMAND_TIMEOUT_S, interval_s=0.05)
    assert client.get("/api/stats").status == 401
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/stats", headers=bearer).json()["pending"] == 0
    assert f"taskito dashboard → http://127.0.0.1:{port}/" in project.output("dash")[1]
    server.send_signal(signal.SIGINT)
    assert server.wait(timeout=COMMAND_TIMEOUT_S) in (0, 130)


def test_help_lists_the_dashboard(project: Project) -> None:
    result = project.run("--help")
    assert "dashboard" in result.stdout
