"""A small project directory and a runner for the ``taskito`` command as a real subprocess.

The directory holds ``app_module.py`` (a Queue on ``jobs.db`` beside it, tasks ``add`` and
``sleep_for``), ``ops_app.py`` (tasks for the inspection commands, on the database that
``$CLI_PROJECT_QUEUE`` describes as ``Queue(**json)`` keyword arguments, ``jobs.db`` without
it) and a few broken modules; commands run with it as their working directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

COMMAND_TIMEOUT_S = 30.0
#: The real ``taskito`` executable (the console script installed beside this Python), or the
#: same program as ``python -m taskito`` where it is not installed.
_SCRIPT = Path(sys.executable).with_name("taskito")
TASKITO = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "taskito"]

APP_MODULE = """
import os
import time

from taskito import Queue

here = os.path.dirname(os.path.abspath(__file__))
queue = Queue(db_path=os.path.join(here, "jobs.db"))


@queue.task()
def add(a, b):
    return a + b


@queue.task()
def sleep_for(seconds):
    time.sleep(seconds)
    return seconds


not_a_queue = {"db_path": "jobs.db"}
"""

#: The variable ``ops_app.py`` reads its Queue's keyword arguments from (JSON).
QUEUE_ENV = "CLI_PROJECT_QUEUE"

OPS_APP = """
import json
import os
import time
from pathlib import Path

from taskito import Queue, current_job

here = Path(__file__).resolve().parent
options = os.environ.get("CLI_PROJECT_QUEUE")
queue = Queue(**json.loads(options)) if options else Queue(db_path=str(here / "jobs.db"))
GATE_TIMEOUT_S = 60


@queue.task()
def add(a, b):
    return a + b


@queue.task()
def stepped(gate):
    # Progress 25, a log line, 50; then it waits for the file `gate` (or a cancel) to end.
    current_job.update_progress(25)
    current_job.log("halfway", extra={"step": 2})
    current_job.update_progress(50)
    deadline = time.monotonic() + GATE_TIMEOUT_S
    while not (here / gate).exists():
        current_job.check_cancelled()
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {gate} never opened")
        time.sleep(0.01)
    current_job.update_progress(100)
    return {"gate": gate, "done": True}


@queue.task(max_retries=1, retry_delays=[0.01])
def explode(message):
    current_job.log("about to fail: " + message)
    raise ValueError(message)


@queue.periodic("0 0 0 1 1 *", name="new-year")
def new_year():
    return "happy new year"
"""

BROKEN_MODULES = {
    "raises_on_import.py": 'raise RuntimeError("boom while importing")\n',
    "needs_missing_dependency.py": "import taskito_e2e_no_such_dependency\n",
    "invalid_queue_option.py": 'from taskito import Queue\n\nqueue = Queue(backend="mongo")\n',
    "invalid_queue_type.py": 'from taskito import Queue\n\nqueue = Queue(workers="four")\n',
}


@dataclass
class Project:
    """A directory the CLI runs in, and the commands started in it."""

    root: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    #: Set in every command's environment (e.g. ``QUEUE_ENV``).
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.root / "jobs.db"

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKITO_")}
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def use_queue(self, queue_kwargs: dict[str, object]) -> None:
        """Point ``ops_app.py`` at the database that ``Queue(**queue_kwargs)`` opens."""
        self.extra_env[QUEUE_ENV] = json.dumps(queue_kwargs)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run ``taskito ARGS`` to completion and capture its output."""
        return subprocess.run(
            [*TASKITO, *args],
            cwd=self.root,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )

    def start(self, *args: str, name: str, **env: str) -> subprocess.Popen[bytes]:
        """Start ``taskito ARGS`` in the background, output to ``name.out/.err``."""
        with (
            open(self.root / f"{name}.out", "wb") as stdout,
            open(self.root / f"{name}.err", "wb") as stderr,
        ):
            process = subprocess.Popen(
                [*TASKITO, *args],
                cwd=self.root,
                env=self.env(**env),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        self.processes.append(process)
        return process

    def output(self, name: str) -> tuple[str, str]:
        """What a background command has written so far: (stdout, stderr)."""
        return (
            (self.root / f"{name}.out").read_text(errors="replace"),
            (self.root / f"{name}.err").read_text(errors="replace"),
        )

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=COMMAND_TIMEOUT_S)


def make_project(root: Path) -> Project:
    (root / "app_module.py").write_text(textwrap.dedent(APP_MODULE).lstrip())
    (root / "ops_app.py").write_text(textwrap.dedent(OPS_APP).lstrip())
    for filename, source in BROKEN_MODULES.items():
        (root / filename).write_text(source)
    return Project(root)
