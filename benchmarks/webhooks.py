"""Webhook benchmark: does a webhook whose endpoint never answers slow a worker down?

Drains ``--jobs`` queued no-op jobs with one worker (thread pool) twice per round: once with no
webhook, once with a webhook for every event type pointing at a local server that accepts
connections and never replies (each delivery would wait ``timeout=60`` s). Enqueueing is not
timed. Prints both rates, and what happened to the webhook's events (mostly dropped: its
buffer holds 1,000 while the endpoint holds the one in flight).

    .venv/bin/python benchmarks/webhooks.py --jobs 20000 --threads 16
    .venv/bin/python benchmarks/webhooks.py --backend redis [--db-url redis://...]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench_backend import add_backend_arguments, describe, fresh_database

from taskito import Queue

ENQUEUE_BATCH = 1000
STATS_POLL_S = 0.05


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs to drain (20000)")
    parser.add_argument("--threads", type=int, default=16, help="worker threads (16)")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions, each on a new db (3)")
    add_backend_arguments(parser)
    return parser.parse_args()


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """A URL whose server accepts every connection and never reads or answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, name="bench-silent-endpoint")
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def drain_once(
    queue_kwargs: dict[str, Any], jobs: int, threads: int, webhook_url: str | None
) -> tuple[float, dict[str, Any] | None]:
    """Seconds one worker takes to complete ``jobs`` no-op jobs, and the webhook's counts."""
    queue = Queue(**queue_kwargs, workers=threads)
    try:

        @queue.task(name="noop")
        def noop() -> None:
            return None

        for start in range(0, jobs, ENQUEUE_BATCH):
            queue.enqueue_many("noop", [()] * min(ENQUEUE_BATCH, jobs - start))
        if webhook_url is not None:
            queue.add_webhook(webhook_url, timeout=60, allow_private=True)
        worker = threading.Thread(target=queue.run_worker, name="bench-worker")
        started = time.perf_counter()
        worker.start()
        while queue.stats()["completed"] < jobs:
            time.sleep(STATS_POLL_S)
        elapsed = time.perf_counter() - started
        while worker.is_alive():
            queue.request_shutdown()
            worker.join(0.05)
        manager = queue._webhook_manager
        counts = manager.stats()[0] if manager is not None else None
        return elapsed, counts
    finally:
        queue.close()


def main() -> None:
    args = parse_args()
    if args.jobs < 1 or args.threads < 1 or args.rounds < 1:
        raise SystemExit("--jobs, --threads and --rounds must be positive")
    backend = describe(args)
    print(f"taskito webhook benchmark: {backend}, {args.jobs} no-op jobs, {args.threads} threads")
    rates: dict[str, list[float]] = {"no webhook": [], "hung webhook": []}
    with silent_endpoint() as url:
        for round_number in range(1, args.rounds + 1):
            for label, webhook_url in (("no webhook", None), ("hung webhook", url)):
                with (
                    tempfile.TemporaryDirectory(prefix="taskito-webhooks-") as tmp,
                    fresh_database(args, tmp, "webhooks.db") as queue_kwargs,
                ):
                    elapsed, counts = drain_once(queue_kwargs, args.jobs, args.threads, webhook_url)
                rate = args.jobs / elapsed
                rates[label].append(rate)
                extra = ""
                if counts is not None:
                    extra = (
                        f" (webhook: {counts['dropped']:,} events dropped, "
                        f"{counts['delivered']} delivered)"
                    )
                print(f"round {round_number}, {label}: {rate:,.0f} jobs/s{extra}")
    for label, values in rates.items():
        print(
            f"{label}: median {statistics.median(values):,.0f} jobs/s, "
            f"best {max(values):,.0f} jobs/s"
        )
    ratio = statistics.median(rates["hung webhook"]) / statistics.median(rates["no webhook"])
    print(f"hung webhook / no webhook: {ratio:.2f}")


if __name__ == "__main__":
    main()
