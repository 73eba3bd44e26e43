"""The README: its commands are the ones that work, its application example runs as written
(a worker process and ``taskito info``), and its documentation table has one row per page."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

from taskito import Queue
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
#: ``| [<page>](docs/<page>.md) | what it covers |``
TABLE_ROW = re.compile(r"^\| \[([\w-]+)\]\(docs/([\w-]+)\.md\) \| (.*) \|$", re.MULTILINE)
CODE_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [body for lang, body in CODE_BLOCK.findall(README) if lang == language]


def test_the_install_quickstart_and_test_commands() -> None:
    assert 'pip install -e ".[dev]"\npython examples/quickstart.py\n' in blocks("bash")
    assert "python -m pytest\n" in blocks("bash")
    assert (ROOT / "examples" / "quickstart.py").is_file()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "dev" in project["optional-dependencies"]
    assert "runs unchanged" not in README  # ported code needs the changes the guide lists


def test_the_documentation_table_has_one_row_per_page() -> None:
    rows = TABLE_ROW.findall(README)
    labels = [label for label, _, _ in rows]
    assert len(labels) == len(set(labels)), "a page has two rows"
    assert [(label, page) for label, page, _ in rows if label != page] == []
    assert [label for label, _, what in rows if len(what.split()) < 3] == [], "say what it covers"
    pages = sorted(path.stem for path in (ROOT / "docs").glob("*.md"))
    assert [page for page in pages if page not in labels] == [], "pages without a row"


def test_the_application_example_runs_in_a_worker_process(tmp_path: Path) -> None:
    [tasks_source] = [body for body in blocks("python") if body.startswith("# tasks.py\n")]
    (tmp_path / "tasks.py").write_text(tasks_source, encoding="utf-8")
    producer = "from tasks import send_email\nsend_email.delay('ada@example.com', 'hello')\n"
    run_python(tmp_path, "-c", producer)
    worker = subprocess.Popen(
        [sys.executable, "-m", "taskito", "worker", "--app", "tasks:queue"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        queue = Queue(db_path=tmp_path / ".taskito" / "taskito.db")
        try:
            wait_until(lambda: queue.stats()["completed"] == 1, timeout_s=30)
        finally:
            queue.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "sending 'hello' to ada@example.com" in out.splitlines()
    info = run_python(tmp_path, "-m", "taskito", "info", "--app", "tasks:queue", "--format", "json")
    assert json.loads(info)["completed"] == 1


def run_python(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
