"""``manage.py taskito_dashboard``: serve the taskito dashboard (``serve_dashboard``, the
``dashboard`` extra) for the project's Queue until interrupted; loopback unless users or
tokens exist (docs/dashboard.md)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

import taskito
from taskito.cli.errors import EXIT_INTERRUPTED
from taskito.cli.options import positive_int
from taskito.contrib.django.project_queue import get_queue

AUTH_CHOICES = {"auto": None, "on": True, "off": False}


class Command(BaseCommand):
    help = "Serve the taskito dashboard for this project's queue (needs the dashboard extra)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=positive_int, default=8080)
        parser.add_argument("--root-path", default="", help="the prefix a proxy strips")
        parser.add_argument("--auth", choices=tuple(AUTH_CHOICES), default="auto")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            from taskito.dashboard import serve_dashboard
        except ImportError as exc:
            raise CommandError(str(exc)) from exc
        if options["port"] > 65535:
            raise CommandError(f"--port must be at most 65535, got {options['port']}")
        try:
            serve_dashboard(
                get_queue(),
                host=options["host"],
                port=options["port"],
                auth=AUTH_CHOICES[options["auth"]],
                root_path=options["root_path"].rstrip("/"),
            )
        except (ValueError, taskito.TaskitoError) as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:  # uvicorn stopped on SIGINT and re-raised it
            raise SystemExit(EXIT_INTERRUPTED) from None
