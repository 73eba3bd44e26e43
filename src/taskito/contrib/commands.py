"""What ``flask taskito ...`` and ``manage.py taskito_...`` share with each other and with the
``taskito`` command: running a worker (``taskito.cli.worker.run_worker``), the statistics
(``taskito.cli.info.show_once``), and logging for the worker."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import taskito
from taskito.cli import info as cli_info
from taskito.cli import output as cli_output
from taskito.cli import worker as cli_worker
from taskito.cli.errors import EXIT_INTERRUPTED
from taskito.cli.main import LOG_FORMAT
from taskito.cli.options import LOG_LEVELS

POOLS = cli_worker.POOLS
INFO_FORMATS = cli_output.FORMATS
parse_queue_names = cli_worker.parse_queue_names


@dataclass(frozen=True)
class WorkerOptions:
    """The worker command's options, as both frameworks parse them; None: the Queue's."""

    queues: list[str] | None = None
    pool: str = "thread"
    workers: int | None = None
    drain_timeout_s: float | None = None
    max_tasks_per_child: int | None = None
    log_level: str = "INFO"


def run_worker(
    queue: taskito.Queue, options: WorkerOptions, *, app_spec: str | None, label: str
) -> None:
    """Block in the Queue's worker until SIGINT/SIGTERM (or ``queue.request_shutdown()``).

    ``app_spec`` (``'module:attr'`` of this Queue) is what prefork children import; without
    one, ``--pool prefork`` is refused (``ConfigurationError``) before anything starts, and
    ``label`` names the application in the log instead.
    """
    if options.pool == "prefork" and not app_spec:
        raise taskito.ConfigurationError(
            "--pool prefork needs TASKITO_APP = 'module:attr' naming this Queue, so that child "
            "processes can import it (e.g. 'wsgi:queue' in a wsgi.py that builds the app)"
        )
    configure_logging(options.log_level)
    try:
        cli_worker.run_worker(
            queue,
            app=app_spec or label,
            queues=options.queues,
            pool=options.pool,
            workers=options.workers,
            drain_timeout_s=options.drain_timeout_s,
            max_tasks_per_child=options.max_tasks_per_child,
        )
    except KeyboardInterrupt:  # a second SIGINT: stopped at once, as `taskito worker` is
        raise SystemExit(EXIT_INTERRUPTED) from None


def configure_logging(level: str) -> None:
    """Log to stderr as ``taskito worker`` does, unless the application configured the root
    logger already (``basicConfig`` does nothing then)."""
    level = level.upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    logging.basicConfig(level=level, format=LOG_FORMAT)


def render_info(queue: taskito.Queue, fmt: str) -> str:
    """What ``taskito info --format table|json`` prints (``taskito.cli.info.show_once``), without
    the final newline: the frameworks' writers add their own."""
    if fmt not in INFO_FORMATS:
        raise ValueError(f"format must be one of {', '.join(INFO_FORMATS)}, not {fmt!r}")
    out = io.StringIO()
    cli_info.show_once(queue, out, fmt=fmt)
    return out.getvalue().removesuffix("\n")


__all__ = [
    "INFO_FORMATS",
    "LOG_LEVELS",
    "POOLS",
    "WorkerOptions",
    "configure_logging",
    "parse_queue_names",
    "render_info",
    "run_worker",
]
