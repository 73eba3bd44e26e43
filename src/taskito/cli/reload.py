"""``taskito reload --pid N [--resource NAME ...]``: ask a running worker to rebuild its
reloadable resources (SIGHUP). With ``--resource`` only those are rebuilt: the names are left
in a file the worker reads when the signal arrives. Needs no ``--app``."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys

from taskito.cli import options
from taskito.cli.errors import EXIT_FAILURE, EXIT_OK
from taskito.queue.resources_api import reload_request_path


def register(commands: options.Commands) -> None:
    help_text = "make a running worker rebuild its reloadable resources (sends SIGHUP)"
    parser = commands.add_parser("reload", help=help_text, description=help_text)
    parser.add_argument("--pid", type=int, required=True, help="the worker's process id")
    parser.add_argument(
        "--resource",
        action="append",
        default=None,
        metavar="NAME",
        help="rebuild only this resource (repeatable); default: every reloadable one",
    )
    parser.set_defaults(standalone=command, command_name="reload")


def command(args: argparse.Namespace) -> int:
    hup = getattr(signal, "SIGHUP", None)
    if hup is None:
        print("taskito reload: this platform has no SIGHUP", file=sys.stderr)
        return EXIT_FAILURE
    pid: int = args.pid
    if pid <= 0:
        print(f"taskito reload: --pid must be a positive process id, got {pid}", file=sys.stderr)
        return EXIT_FAILURE
    names = [name.strip() for name in args.resource or [] if name.strip()]
    path = reload_request_path(pid)
    try:
        if names:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write("\n".join(names) + "\n")
        os.kill(pid, hup)
    except ProcessLookupError:
        _discard(path, names)
        print(f"taskito reload: no process with PID {pid}", file=sys.stderr)
        return EXIT_FAILURE
    except PermissionError:
        _discard(path, names)
        print(f"taskito reload: permission denied to signal PID {pid}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"Sent SIGHUP to worker (PID {pid})")
    return EXIT_OK


def _discard(path: str, names: list[str]) -> None:
    if names:
        with contextlib.suppress(OSError):
            os.unlink(path)


__all__ = ["command", "register"]
