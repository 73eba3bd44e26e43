"""Crash recovery benchmark: how long after one of two worker processes dies its jobs run again
in the other one. Target: at most 5 s on every backend (docs/architecture.md, invariant 4).

Each round starts worker A (4 threads) on a fresh database, lets it start 4 long jobs, starts
worker B, then stops A and times until every job A held has started in B:

* ``pid``: A is SIGKILLed; B is on the same host and sees A's process is gone.
* ``lease``: A is SIGKILLed; B does not check pids (as for a worker on another host), so
  A's jobs wait for their leases to expire.
* ``drain``: A gets SIGTERM with a 1 s drain timeout; at the timeout it releases its
  unfinished jobs (the figure counts from the signal, the timeout included).

Both workers are real processes running a small worker script written to a temporary
directory; they log ``start <job id> <pid>`` lines that the benchmark reads.

    .venv/bin/python benchmarks/recovery.py --backend sqlite
    .venv/bin/python benchmarks/recovery.py --backend postgres [--db-url postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench_backend import add_backend_arguments, describe, fresh_database

from taskito import Queue

HELD = 4  # jobs A holds when it dies
SCENARIOS = ("pid", "lease", "drain")
DRAIN_TIMEOUT_S = 1.0
TARGET_S = 5.0

WORKER_SCRIPT = """
import json, os, sys, time
from taskito.events import EventBus
from taskito.registry import ExecutionEnv, Hooks, TaskSpec
from taskito.serializers import CloudpickleSerializer
from taskito.storage import open_storage
from taskito.worker import Worker, WorkerSettings

storage_kwargs, log, options = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
hold_s = options.pop("hold_s")

def hold(sleep_s):
    from taskito.context import current_job
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"start {current_job.id} {os.getpid()}\\n".encode())
    os.close(fd)
    time.sleep(hold_s)

storage = open_storage(**storage_kwargs)
env = ExecutionEnv(storage=storage, serializer=CloudpickleSerializer(),
                   tasks={"hold": TaskSpec(name="hold", fn=hold)}, middleware=[], hooks=Hooks())
bus = EventBus()
try:
    Worker(env, bus, WorkerSettings(**options)).run()
finally:
    bus.shutdown()
    storage.close()
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per scenario (5)")
    parser.add_argument(
        "--scenario", choices=SCENARIOS, action="append", help="run only these (all)"
    )
    add_backend_arguments(parser)
    return parser.parse_args()


def storage_kwargs(queue_kwargs: dict[str, Any]) -> dict[str, Any]:
    return {
        "backend": queue_kwargs.get("backend", "sqlite"),
        "db_path": queue_kwargs.get("db_path", ""),
        "db_url": queue_kwargs.get("db_url"),
        "schema": queue_kwargs.get("schema", "taskito"),
    }


def starts(log: str) -> dict[str, list[int]]:
    """Job id -> the pids that started it, in order."""
    found: dict[str, list[int]] = {}
    if os.path.exists(log):
        with open(log, encoding="ascii") as handle:
            for line in handle:
                word, job_id, pid = line.split()
                if word == "start":
                    found.setdefault(job_id, []).append(int(pid))
    return found


def wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.005)


def one_round(queue_kwargs: dict[str, Any], tmp: str, scenario: str) -> float:
    """Seconds from stopping worker A until every job it held has started in worker B."""
    script = os.path.join(tmp, "worker.py")
    with open(script, "w", encoding="utf-8") as handle:
        handle.write(WORKER_SCRIPT)
    log = os.path.join(tmp, f"{scenario}.log")
    queue = Queue(**queue_kwargs)
    hold = queue.task(name="hold")(lambda sleep_s: None)
    processes: list[subprocess.Popen[bytes]] = []

    def start(**options: Any) -> subprocess.Popen[bytes]:
        argv = [sys.executable, script, json.dumps(storage_kwargs(queue_kwargs)), log]
        process = subprocess.Popen([*argv, json.dumps(options)], stderr=subprocess.DEVNULL)
        processes.append(process)
        return process

    try:
        for _ in range(HELD):
            hold.delay(0)
        a = start(threads=HELD, hold_s=600, drain_timeout_s=DRAIN_TIMEOUT_S)
        wait_for(lambda: len(starts(log)) == HELD, 30, "worker A to start its jobs")
        held = list(starts(log))
        b = start(threads=HELD, hold_s=0, check_pids=scenario == "pid")
        wait_for(lambda: len(queue.workers()) == 2, 30, "worker B to register")
        # Any moment between two of A's heartbeats and lease extensions (both every second).
        time.sleep(random.uniform(0.0, 1.0))
        a.send_signal(signal.SIGTERM if scenario == "drain" else signal.SIGKILL)
        stopped = time.perf_counter()
        if scenario != "drain":
            a.wait(10)  # reaped at once, as a supervisor would: no zombie left behind
        wait_for(
            lambda: all(b.pid in starts(log).get(job_id, []) for job_id in held),
            30,
            "worker B to run worker A's jobs",
        )
        return time.perf_counter() - stopped
    finally:
        for process in processes:
            process.kill()
            process.wait(30)
        queue.close()


def main() -> None:
    args = parse_args()
    if args.rounds < 1:
        raise SystemExit("--rounds must be positive")
    print(f"taskito crash recovery benchmark: {describe(args)}")
    print(f"{HELD} jobs held by the stopped worker; target at most {TARGET_S:.0f} s")
    for scenario in args.scenario or SCENARIOS:
        figures = []
        for _ in range(args.rounds):
            with (
                tempfile.TemporaryDirectory(prefix="taskito-recovery-") as tmp,
                fresh_database(args, tmp, "recovery.db") as queue_kwargs,
            ):
                figures.append(one_round(queue_kwargs, tmp, scenario))
        rounds = ", ".join(f"{figure:.2f}" for figure in figures)
        verdict = "ok" if max(figures) <= TARGET_S else "OVER TARGET"
        print(
            f"{scenario:>5}: median {statistics.median(figures):.2f} s, worst"
            f" {max(figures):.2f} s ({rounds}) {verdict}"
        )


if __name__ == "__main__":
    main()
