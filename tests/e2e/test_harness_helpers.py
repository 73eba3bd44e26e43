"""The shared test helpers behave as the suite relies on: ``wait_until`` waits with a deadline,
and a missing server skips a test on a laptop but fails it under CI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_wait_until_returns_the_first_truthy_value() -> None:
    ready = threading.Event()
    timer = threading.Timer(0.05, ready.set)
    timer.start()
    try:
        assert wait_until(lambda: ready.is_set() and "done", timeout_s=5) == "done"
    finally:
        timer.join()


def test_wait_until_fails_at_the_deadline_naming_the_condition() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match=re.escape("timed out after 0.1s waiting for: never")):
        wait_until(lambda: False, timeout_s=0.1, message="never")
    assert 0.1 <= time.monotonic() - started < 2


def test_wait_until_refuses_a_non_positive_timeout() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        wait_until(lambda: True, timeout_s=0)


MISSING_SERVER_TEST = """
from tests.helpers import require_server


def unreachable():
    raise ConnectionRefusedError("nothing listens on 127.0.0.1:1")


def test_needs_a_server():
    require_server("FakeDB", unreachable, env_var="FAKEDB_URL")
"""


def run_missing_server_test(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_server.py").write_text(MISSING_SERVER_TEST)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rsf", "."],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_missing_server_skips_outside_ci(tmp_path: Path, ci: str | None) -> None:
    result = run_missing_server_test(tmp_path, ci)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
    assert "FakeDB is not reachable" in result.stdout
    assert "start it or set FAKEDB_URL to run these tests" in result.stdout


@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_server_fails_under_ci(tmp_path: Path, ci: str) -> None:
    result = run_missing_server_test(tmp_path, ci)
    assert result.returncode == 1, result.stdout
    assert "1 failed" in result.stdout
    assert "CI is set and FakeDB is not reachable" in result.stdout
