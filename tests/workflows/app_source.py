"""The source of the app module the workflow suite runs (``harness.WorkflowApp`` writes it to
disk with the Queue's target filled in; prefork children and other processes import that
same file). Each task call leaves a mark (a file named STEP.PID.N) so tests can count what
ran, in any process."""

WORKFLOW_APP_SOURCE = '''
"""A workflow app written by tests/workflows/harness.py."""

import asyncio
import os
import time
import uuid
from pathlib import Path

from taskito import Queue, current_job
from taskito.workflows import Workflow

HERE = Path(__file__).resolve().parent
CALLS = HERE / "calls"
CALLS.mkdir(exist_ok=True)

queue = Queue(**TARGET_KWARGS, **QUEUE_OPTIONS)


def called(what):
    (CALLS / f"{what}.{os.getpid()}.{uuid.uuid4().hex}").write_text("")


@queue.task(max_retries=0)
def echo(value):
    called("echo")
    return value


@queue.task(max_retries=0)
def tag(name):
    called(name)
    return name


@queue.task(max_retries=0)
def add(x, y=0):
    called("add")
    return x + y


@queue.task(max_retries=0)
def boom(message="boom"):
    called("boom")
    raise RuntimeError(message)


@queue.task(max_retries=0)
def numbers(*values):
    called("numbers")
    return list(values)


@queue.task(max_retries=0)
def double(x):
    called("double")
    return x * 2


@queue.task(max_retries=0)
def fail_on(x, bad):
    called("fail_on")
    if x == bad:
        raise ValueError(f"bad item {x}")
    return x


@queue.task(max_retries=0)
def collect(items):
    called("collect")
    return items


@queue.task(max_retries=0)
def score():
    called("score")
    return {"score": 0.9}


@queue.task(max_retries=0)
def wait_for_file(name, timeout_s=60):
    """Run until the file ``name`` exists in the app's folder (or cancelled)."""
    called("wait_for_file")
    deadline = time.monotonic() + timeout_s
    while not (HERE / name).exists() and time.monotonic() < deadline:
        current_job.check_cancelled()
        time.sleep(0.02)
    return name


@queue.task(max_retries=0)
async def async_echo(value):
    called("async_echo")
    await asyncio.sleep(0)
    return value


@queue.workflow()
def child(n=1):
    wf = Workflow()
    wf.step("first", add, args=(n,), kwargs={"y": 1})
    wf.step("second", echo, args=("child done",), after="first")
    return wf


@queue.workflow()
def failing_child():
    wf = Workflow()
    wf.step("explode", boom, args=("child failed",))
    return wf


@queue.workflow()
def broken_factory():
    raise RuntimeError("factory exploded")


@queue.workflow()
def slow_child():
    wf = Workflow()
    wf.step("hold", wait_for_file, args=("never",))
    return wf
'''
