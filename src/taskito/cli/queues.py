"""``taskito pause QUEUE`` and ``taskito resume QUEUE``: stop and restart the starting of a
queue's jobs, for every worker on the database (``Queue.pause`` / ``Queue.resume``)."""

from __future__ import annotations

import argparse

import taskito
from taskito.cli import options
from taskito.cli.errors import EXIT_OK


def register_pause(commands: options.Commands) -> None:
    pause = options.add_command(
        commands,
        "pause",
        help="stop workers from starting the jobs of a queue (running ones finish)",
        handler=pause_command,
    )
    pause.add_argument("queue_name", metavar="QUEUE", help="the queue to pause")


def register_resume(commands: options.Commands) -> None:
    resume = options.add_command(
        commands,
        "resume",
        help="let workers start the jobs of a paused queue",
        handler=resume_command,
    )
    resume.add_argument("queue_name", metavar="QUEUE", help="the queue to resume")


def pause_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    name: str = args.queue_name
    was_paused = name in queue.paused_queues()
    queue.pause(name)
    print(f"queue {name!r} {'was already' if was_paused else 'is now'} paused")
    return EXIT_OK


def resume_command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    name: str = args.queue_name
    was_paused = name in queue.paused_queues()
    queue.resume(name)
    print(f"queue {name!r} {'is resumed' if was_paused else 'was not paused'}")
    return EXIT_OK
