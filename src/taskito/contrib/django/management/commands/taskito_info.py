"""``manage.py taskito_info [--format table|json]``: job counts of the project's Queue, as
``taskito info`` prints them."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from taskito.contrib import commands
from taskito.contrib.django.project_queue import get_queue


class Command(BaseCommand):
    help = "Print the job counts of this project's taskito queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=commands.INFO_FORMATS, default="table")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(commands.render_info(get_queue(), options["format"]))
