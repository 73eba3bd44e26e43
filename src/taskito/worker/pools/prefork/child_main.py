"""The prefork child: ``python -m taskito.prefork APP --from-parent FD --to-parent FD ...``.

It imports the app's Queue, sends ``Ready``, then runs the jobs its parent sends, one at a
time on the main thread, through ``execution.run_job``, each resolved once here against the
child's own registry (the parent sends the record only). A reader thread takes messages while a
job runs, so a ``Cancel`` sets the job's flag at once, also when it arrives before the job
starts. The child never writes job status: each ``Outcome`` goes back to the parent, which
records it. It exits on ``Shutdown``, and at once when the parent goes away (end of stream on
its pipe; on Linux also ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Sequence

from taskito.exceptions import AppLoadError
from taskito.execution import run_job
from taskito.loading import load_attr, wrong_type
from taskito.registry import ClaimedJob, ExecutionEnv
from taskito.worker.overrides import middleware_name
from taskito.worker.pools.base import CancelFlag
from taskito.worker.pools.prefork import protocol
from taskito.worker.resources import WorkerResources

logger = logging.getLogger("taskito.prefork")

EXIT_OK = 0
EXIT_APP_FAILED = 3
EXIT_PARENT_GONE = 4
_PR_SET_PDEATHSIG = 1
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s[%(process)d]: %(message)s"


def load_app_env(spec: str) -> ExecutionEnv:
    """Import ``"module:attr"`` (``taskito.loading``) and return the Queue's execution
    environment; raise ``AppLoadError`` when that fails."""
    target = load_attr(spec)
    # The child stands below the façade (it must not import taskito.queue): a Queue is what
    # hands out its execution environment.
    make_env = getattr(target, "_execution_env", None)
    env = make_env() if callable(make_env) else None
    if not isinstance(env, ExecutionEnv):
        raise wrong_type(spec, target, "a taskito.Queue")
    return env


class Child:
    """Serves one parent: jobs on the calling (main) thread, messages on a reader thread."""

    def __init__(
        self,
        env: ExecutionEnv,
        reader: protocol.MessageReader,
        writer: protocol.MessageWriter,
    ) -> None:
        self._env = env
        self._reader = reader
        self._writer = writer
        self._inbox: queue.SimpleQueue[protocol.Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._flags: dict[str, CancelFlag] = {}

    def serve(self) -> int:
        """Run jobs until ``Shutdown``; return the exit status."""
        threading.Thread(target=self._read, name="taskito-prefork-reader", daemon=True).start()
        self._writer.send(protocol.Ready(os.getpid()))
        while True:
            message = self._inbox.get()
            if message is None:
                return EXIT_OK
            job = message.record
            with self._lock:
                flag = self._flags[job.id]
            claimed = _without(self._env.resolve(job), message.skip_middleware)
            outcome = run_job(claimed, self._env, flag)
            with self._lock:
                del self._flags[job.id]
            try:
                self._writer.send(protocol.Outcome(job.id, job.attempt, outcome))
            except OSError:
                # The parent is gone; nobody can record this outcome.
                os._exit(EXIT_PARENT_GONE)

    def _read(self) -> None:
        while True:
            try:
                message = self._reader.receive()
            except (OSError, protocol.ProtocolError):
                logger.exception("reading from the parent failed; exiting")
                os._exit(EXIT_PARENT_GONE)
            if message is None:
                # The parent died (or closed our pipe): whatever runs here has no one to
                # report to, and its lease will bring it back elsewhere.
                os._exit(EXIT_PARENT_GONE)
            self._handle(message)

    def _handle(self, message: object) -> None:
        if isinstance(message, protocol.Job):
            with self._lock:
                self._flags[message.record.id] = CancelFlag()
            self._inbox.put(message)
        elif isinstance(message, protocol.Cancel):
            with self._lock:
                flag = self._flags.get(message.job_id)
            # No flag: the job already finished here and its outcome is on the way.
            if flag is not None:
                flag.set()
        elif isinstance(message, protocol.Shutdown):
            # Keep reading: a Cancel for the job still running must get through while draining.
            self._inbox.put(None)
        else:
            logger.error("unexpected message from the parent: %r", type(message).__name__)


def _without(claimed: ClaimedJob, names: tuple[str, ...]) -> ClaimedJob:
    """``claimed`` without the middleware a runtime override switched off in the parent."""
    if not names:
        return claimed
    kept = tuple(m for m in claimed.middleware if middleware_name(m) not in names)
    return dataclasses.replace(claimed, middleware=kept, disabled_middleware=frozenset(names))


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when the parent goes; exit now if it already went."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            logger.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != parent_pid:
        os._exit(EXIT_PARENT_GONE)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m taskito.prefork",
        description="A prefork child; started by a taskito worker, not by hand.",
    )
    parser.add_argument("app", help="the Queue as 'module:attribute'")
    parser.add_argument("--from-parent", type=int, required=True, metavar="FD")
    parser.add_argument("--to-parent", type=int, required=True, metavar="FD")
    parser.add_argument("--parent-pid", type=int, required=True, metavar="PID")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    die_with_parent(args.parent_pid)
    # Ctrl+C and a SIGTERM sent to the whole process group are the parent's to handle: it
    # drains, then stops its children with a Shutdown message (or SIGKILL).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=args.log_level, format=LOG_FORMAT, stream=sys.stderr)
    for fd in (args.from_parent, args.to_parent):
        # A process the task starts must not hold these pipes open: the parent learns of
        # this child's death from the end of its pipe.
        os.set_inheritable(fd, False)
    reader = protocol.MessageReader(args.from_parent)
    writer = protocol.MessageWriter(args.to_parent)
    try:
        env = load_app_env(args.app)
    except AppLoadError as exc:
        details = f"\n{exc.traceback.rstrip()}" if exc.traceback else ""
        writer.send(protocol.StartupFailed(f"{exc}{details}"))
        return EXIT_APP_FAILED
    # The child's own resources: instances built in the parent cannot cross the pipe.
    resources = WorkerResources(env)
    try:
        resources.start()
    except Exception as exc:
        writer.send(protocol.StartupFailed(f"{type(exc).__name__}: {exc}"))
        return EXIT_APP_FAILED
    resources.install_reload_signal()
    try:
        return Child(env, reader, writer).serve()
    finally:
        resources.stop()


if __name__ == "__main__":
    sys.exit(main())
