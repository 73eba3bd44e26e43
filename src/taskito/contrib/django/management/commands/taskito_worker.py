"""``manage.py taskito_worker``: run a worker of the project's Queue until SIGINT/SIGTERM
(``taskito worker``'s options; prefork children import ``TASKITO_APP``, by default this
integration's entry point, ``taskito.contrib.django.app:queue``)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

import taskito
from taskito.cli.options import non_negative_seconds, positive_int
from taskito.contrib import commands
from taskito.contrib.django.project_queue import app_spec, get_queue


def _queue_names(value: str) -> list[str]:
    try:
        return commands.parse_queue_names(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Command(BaseCommand):
    help = "Run a taskito worker for this project's queue until SIGINT/SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--queues",
            type=_queue_names,
            default=None,
            help="comma-separated queues to consume (default: every queue)",
        )
        parser.add_argument("--pool", choices=commands.POOLS, default="thread")
        parser.add_argument("--workers", type=positive_int, default=None)
        parser.add_argument("--drain-timeout", type=non_negative_seconds, default=None)
        parser.add_argument("--max-tasks-per-child", type=positive_int, default=None)
        parser.add_argument(
            "--log-level", type=str.upper, choices=commands.LOG_LEVELS, default="INFO"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        worker_options = commands.WorkerOptions(
            queues=options["queues"],
            pool=options["pool"],
            workers=options["workers"],
            drain_timeout_s=options["drain_timeout"],
            max_tasks_per_child=options["max_tasks_per_child"],
            log_level=options["log_level"],
        )
        try:
            commands.run_worker(
                get_queue(), worker_options, app_spec=app_spec(), label="django project"
            )
        except (ValueError, NotImplementedError, taskito.TaskitoError) as exc:
            raise CommandError(str(exc)) from exc
