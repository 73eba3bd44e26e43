"""The source of the app module the pool tests run: ``PoolApp`` (``pool_app.py``) writes it to
disk with the Queue's target and options filled in, and prefork children import that file.
Its tasks poll for cancellation, ignore it, hang, die in several ways, report their pid or
count how many run at once; marks (files named JOB_ID.EVENT) tell the test what ran where."""

POOL_APP_SOURCE = '''
"""An app for the pool tests, written by tests/worker/pool_app.py. The prefork children import
this same file; marks (files named JOB_ID.EVENT) tell the test what ran where and when."""

import asyncio
import ctypes
import os
import signal
import threading
import time
from pathlib import Path

from taskito import Queue, TaskCancelledError, TaskMiddleware, current_job

HERE = Path(__file__).resolve().parent
MARKS = HERE / "marks"
MARKS.mkdir(exist_ok=True)


def mark(event, value=""):
    """Record ``event`` for the current job (written whole, then renamed into place)."""
    path = MARKS / f"{current_job.id}.{event}"
    scratch = MARKS / f".{current_job.id}.{event}.{os.getpid()}.{threading.get_ident()}"
    scratch.write_text(str(value))
    os.replace(scratch, path)


def where():
    return f"{os.getpid()} {threading.current_thread().name}"


class OutcomeHooks(TaskMiddleware):
    """The outcome hooks as the worker process calls them: (hook, job id, pid)."""

    def __init__(self):
        self.calls = []

    def on_cancel(self, ctx):
        self.calls.append(("on_cancel", ctx.id, os.getpid()))

    def on_timeout(self, ctx):
        self.calls.append(("on_timeout", ctx.id, os.getpid()))

    def on_retry(self, ctx, error, retry_count):
        self.calls.append(("on_retry", ctx.id, os.getpid()))

    def on_dead_letter(self, ctx, error):
        self.calls.append(("on_dead_letter", ctx.id, os.getpid()))


hooks = OutcomeHooks()
queue = Queue(**TARGET_KWARGS, middleware=[hooks], **QUEUE_OPTIONS)


@queue.task(max_retries=0)
def polls(interval_s=0.05):
    mark("started", where())
    try:
        while True:
            current_job.check_cancelled()
            time.sleep(interval_s)
    except TaskCancelledError:
        mark("raised", repr(time.monotonic()))
        raise


@queue.task(max_retries=0)
async def apolls(interval_s=0.05):
    mark("started", where())
    try:
        while True:
            current_job.check_cancelled()
            await asyncio.sleep(interval_s)
    except TaskCancelledError:
        mark("raised", repr(time.monotonic()))
        raise


@queue.task(max_retries=0)
def ignores(seconds):
    mark("started", where())
    time.sleep(seconds)
    mark("finished")
    return "ran to the end"


@queue.task(max_retries=0)
async def aignores(seconds):
    mark("started", where())
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        mark("interrupted")
        raise
    mark("finished")
    return "ran to the end"


@queue.task(max_retries=0)
async def blocks_the_loop(seconds):
    mark("started", where())
    time.sleep(seconds)
    return "done"


@queue.task(max_retries=1, retry_backoff=0.01)
def hangs(first_attempt_s=3600.0):
    """The first attempt sleeps (never checking for cancellation); a retry returns at once."""
    mark(f"attempt{current_job.retry_count}", where())
    if current_job.retry_count == 0:
        time.sleep(first_attempt_s)
    return "recovered"


@queue.task(max_retries=1, retry_backoff=0.01)
async def ahangs(first_attempt_s=3600.0):
    mark(f"attempt{current_job.retry_count}", where())
    if current_job.retry_count == 0:
        try:
            await asyncio.sleep(first_attempt_s)
        except asyncio.CancelledError:
            mark("interrupted")
            raise
    return "recovered"


@queue.task(max_retries=1, retry_backoff=0.01)
def dies(how):
    """The first attempt takes its process down; a retry returns its pid."""
    mark(f"attempt{current_job.retry_count}", where())
    if current_job.retry_count == 0:
        if how == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif how == "segfault":
            ctypes.string_at(0)
        elif how == "os_exit":
            os._exit(7)
        time.sleep(3600)  # "external": the test kills this process
    return os.getpid()


@queue.task()
def pid():
    return os.getpid()


@queue.task(max_retries=0)
def spawns_then_dies(seconds):
    """Start a long-lived process (as a task may), then take this child down."""
    import subprocess
    import sys

    sleeper = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"],
                               close_fds=False)
    mark("started", f"{os.getpid()} {sleeper.pid}")
    os.kill(os.getpid(), signal.SIGKILL)


@queue.task()
async def apid():
    await asyncio.sleep(0)
    return os.getpid(), threading.current_thread().name, current_job.id


class Stamp(TaskMiddleware):
    """A task middleware that marks, in the process running the task, that it ran."""

    name = "stamp"

    def before(self, ctx):
        mark("stamped", os.getpid())


@queue.task(middleware=[Stamp()])
def stamped():
    return os.getpid()


@queue.task()
def noisy(text):
    print(text, flush=True)
    print(text, file=__import__("sys").stderr, flush=True)
    return len(text)


@queue.task(max_retries=0)
def slow(seconds):
    mark("started", where())
    time.sleep(seconds)
    return seconds


@queue.task(max_retries=0)
async def aslow(seconds):
    mark("started", where())
    await asyncio.sleep(seconds)
    return seconds


running_now = []  # one entry per ``counted`` job running in this process
most_at_once = [0]


@queue.task(max_retries=0)
async def counted(seconds):
    running_now.append(current_job.id)
    most_at_once[0] = max(most_at_once[0], len(running_now))
    try:
        await asyncio.sleep(seconds)
    finally:
        running_now.remove(current_job.id)
    return seconds


@queue.task(max_retries=0, timeout=None)
def untimed(seconds):
    mark("started", where())
    time.sleep(seconds)
    return os.getpid()


@queue.task(max_retries=0, timeout=None)
async def auntimed(seconds):
    mark("started", where())
    await asyncio.sleep(seconds)
    return os.getpid()
'''
