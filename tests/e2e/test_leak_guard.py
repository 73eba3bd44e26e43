"""The suite's leak guard (``tests/conftest.py``) fails tests that leave threads or children.

A copy of the guard runs in a separate pytest process over tests written for the purpose.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

GUARD = Path(__file__).resolve().parents[1] / "conftest.py"

SAMPLE_TESTS = """
import subprocess
import threading

leaked = []


def test_clean_thread():
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()


def test_leaks_a_thread():
    stop = threading.Event()
    leaked.append(stop)
    threading.Thread(target=stop.wait, name="left-running", daemon=True).start()


def test_leaks_a_child():
    leaked.append(subprocess.Popen(["true"]))


def test_clean_child():
    subprocess.run(["true"], check=True)


def test_thread_that_ends_soon_after_the_test():
    stop = threading.Event()
    threading.Thread(target=stop.wait, args=(0.1,), name="ends-soon").start()
"""


def test_guard_fails_exactly_the_leaking_tests(tmp_path: Path) -> None:
    shutil.copy(GUARD, tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(SAMPLE_TESTS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rE", str(tmp_path)],
        cwd=tmp_path,
        env={"TASKITO_TEST_LEAK_DEADLINE_S": "1.0", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "5 passed, 2 errors" in output, output
    assert "ERROR test_sample.py::test_leaks_a_thread" in output
    assert "thread 'left-running' (runs Event.wait, daemon=True)" in output
    assert "ERROR test_sample.py::test_leaks_a_child" in output
    assert "child process pid" in output and "exited but never waited for" in output
