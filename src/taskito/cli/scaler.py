"""``taskito scaler``: serve the KEDA scaler endpoint (``/api/scaler``) with ``/health``,
``/readiness`` and ``/metrics`` until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import threading

import taskito
from taskito import scaler
from taskito.cli import options
from taskito.cli.errors import EXIT_FAILURE, EXIT_OK, report_command_error
from taskito.cli.signals import stop_on_signals


def register(commands: options.Commands) -> None:
    parser = commands.add_parser(
        "scaler", help="serve queue depth for KEDA, health and readiness over HTTP"
    )
    options.add_app_argument(parser)
    parser.add_argument(
        "--host",
        default=scaler.DEFAULT_HOST,
        help=f"address to listen on (default: {scaler.DEFAULT_HOST}; "
        "0.0.0.0 for a cluster Service: there is no authentication)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=scaler.DEFAULT_PORT,
        help=f"port to listen on, 0 for any free one (default: {scaler.DEFAULT_PORT})",
    )
    parser.add_argument(
        "--target-queue-depth",
        type=options.positive_int,
        default=scaler.DEFAULT_TARGET_QUEUE_DEPTH,
        metavar="N",
        help="pending jobs one worker should take, reported as targetQueueDepth "
        f"(default: {scaler.DEFAULT_TARGET_QUEUE_DEPTH})",
    )
    parser.set_defaults(handler=command)


def command(queue: taskito.Queue, args: argparse.Namespace, app_spec: str) -> int:
    """Serve until the first SIGINT/SIGTERM; a port that cannot be bound is exit status 1."""
    stop = threading.Event()
    with stop_on_signals(stop.set):
        try:
            scaler.serve_scaler(
                queue,
                host=args.host,
                port=args.port,
                target_queue_depth=args.target_queue_depth,
                stop=stop,
            )
        except OSError as exc:
            report_command_error("scaler", exc)
            return EXIT_FAILURE
    return EXIT_OK


def _port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {value!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port between 0 and 65535, got {number}")
    return number
