"""``flask taskito worker`` and ``flask taskito info``: the ``taskito`` command's worker and
statistics (contrib/commands.py) on the current app's Queue, as a click group Flask runs
inside an application context."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

import taskito
from taskito.contrib import commands
from taskito.contrib.settings import TASKITO_APP


def _queue() -> taskito.Queue:
    queue = current_app.extensions.get("taskito")
    if not isinstance(queue, taskito.Queue):
        raise click.UsageError(f"taskito is not initialised on the Flask app {current_app.name!r}")
    return queue


def _queue_names(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    try:
        return commands.parse_queue_names(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def make_group(name: str) -> AppGroup:
    """The command group, named ``name`` (``Taskito(cli_group=...)``)."""
    group = AppGroup(name, help="Run taskito workers for this app and inspect its queue.")
    _add_worker_command(group)
    _add_info_command(group)
    return group


def _add_worker_command(group: AppGroup) -> None:
    @group.command("worker")
    @click.option(
        "--queues",
        callback=_queue_names,
        help="Comma-separated queues to consume (default: every queue).",
    )
    @click.option("--pool", type=click.Choice(commands.POOLS), default="thread", show_default=True)
    @click.option("--workers", type=click.IntRange(min=1), help="Threads or child processes.")
    @click.option(
        "--drain-timeout",
        type=click.FloatRange(min=0, max=1e9),
        help="Seconds a warm shutdown waits for running jobs.",
    )
    @click.option(
        "--max-tasks-per-child",
        type=click.IntRange(min=1),
        help="Prefork: replace a child process after it ran this many jobs.",
    )
    @click.option(
        "--log-level",
        type=click.Choice(commands.LOG_LEVELS, case_sensitive=False),
        default="INFO",
        show_default=True,
    )
    def worker(
        queues: list[str] | None,
        pool: str,
        workers: int | None,
        drain_timeout: float | None,
        max_tasks_per_child: int | None,
        log_level: str,
    ) -> None:
        """Run a worker until SIGINT/SIGTERM (the first drains, a second stops at once)."""
        options = commands.WorkerOptions(
            queues=queues,
            pool=pool,
            workers=workers,
            drain_timeout_s=drain_timeout,
            max_tasks_per_child=max_tasks_per_child,
            log_level=log_level,
        )
        app_spec = current_app.config.get(TASKITO_APP.key)
        try:
            commands.run_worker(
                _queue(), options, app_spec=app_spec, label=f"{current_app.import_name} (flask)"
            )
        except (ValueError, NotImplementedError) as exc:  # ConfigurationError included
            raise click.UsageError(str(exc)) from exc


def _add_info_command(group: AppGroup) -> None:
    @group.command("info")
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(commands.INFO_FORMATS),
        default="table",
        show_default=True,
    )
    def info(fmt: str) -> None:
        """Print job counts by status, as `taskito info` does."""
        click.echo(commands.render_info(_queue(), fmt))


__all__ = ["make_group"]
