"""A lock taken under clock skew (issue 10, item 6): lock expiry is on the storage's clock.

Each test has two holders in two processes: this one, and a child whose whole clock
(``time.time``/``time.time_ns``, patched before taskito is imported) runs ten minutes ahead
or behind; the database's clock is left alone. The holders never both hold the lock; every
acquisition's fencing token is greater than the one before; and a holder that stalled past
its expiry (SIGSTOP) while the other took the lock is told so when it wakes: ``held()`` is
False, ``lost`` is True, ``on_lost`` was called and a warning was logged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from taskito import Queue
from tests.backends import QueueTarget

SKEWS_S = [600.0, -600.0]

_CHILD = r"""
import json, sys, time

skew_s, kwargs, mode = float(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
_time, _time_ns = time.time, time.time_ns
time.time = lambda: _time() + skew_s
time.time_ns = lambda: _time_ns() + int(skew_s * 1e9)

from taskito import Queue
from taskito.locks import LockNotAcquiredError


def say(*parts):
    print(*parts, flush=True)


queue = Queue(**kwargs)
if mode == "contend":
    say("ready")
    sys.stdin.readline()  # the parent holds the lock now
    try:
        queue.lock("skewed", ttl=5, auto_extend=False).acquire()
        say("took-at-once")
    except LockNotAcquiredError:
        say("refused")
    lock = queue.lock("skewed", ttl=5, auto_extend=False, timeout=20, retry_interval=0.05)
    lock.acquire()
    say("took", lock.fencing_token)
    sys.stdin.readline()
    say("released", lock.release())
else:  # hold: keep the lock with the auto-extender, then report what it found
    lost = []
    lock = queue.lock(
        "skewed", ttl=1.0, on_lost=lambda held: lost.append(held.fencing_token)
    )
    lock.acquire()
    say("holding", lock.fencing_token)
    sys.stdin.readline()  # the parent stopped us, took the lock, and woke us
    deadline = time.monotonic() + 10
    while not lost and time.monotonic() < deadline:
        time.sleep(0.01)
    say("lost", json.dumps([lock.lost, lost, lock.held(), lock.release()]))
queue.close()
"""


@contextmanager
def skewed_holder(target: QueueTarget, skew_s: float, mode: str) -> Iterator[subprocess.Popen[str]]:
    """A child process holding locks with its clock shifted by ``skew_s``; killed at the end."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(skew_s), target.as_json(), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
        child.communicate(timeout=30)


def _line(child: subprocess.Popen[str]) -> list[str]:
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        _, err = child.communicate(timeout=30)
        pytest.fail(f"the skewed holder ended early ({child.returncode}):\n{err}")
    return line.split(" ", 1)


def _tell(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.write("go\n")
    child.stdin.flush()


@pytest.fixture
def queue(target: QueueTarget) -> Iterator[Queue]:
    with Queue(**target.kwargs) as opened:
        yield opened


@pytest.mark.parametrize("skew_s", SKEWS_S)
def test_holders_whose_clocks_disagree_never_hold_the_lock_at_once(
    target: QueueTarget, queue: Queue, skew_s: float
) -> None:
    with skewed_holder(target, skew_s, "contend") as child:
        assert _line(child) == ["ready\n"]
        mine = queue.lock("skewed", ttl=2, auto_extend=False)
        mine.acquire()
        taken_at = time.monotonic()
        first = mine.fencing_token
        assert first is not None and mine.held()
        _tell(child)
        # Ten minutes ahead, the child would see an expired lock if expiry were its clock's.
        assert _line(child) == ["refused\n"]
        word, token = _line(child)
        # Ten minutes behind, it would wait ten minutes; it takes the lock once it expires.
        assert word == "took"
        assert time.monotonic() - taken_at >= 1.5
        assert int(token) > first
        assert mine.held() is False
        info = mine.info()
        assert info is not None and info["fencing_token"] == int(token)
        assert info["owner_id"] != mine.owner_id
        assert mine.release() is False  # the child's lock is not ours to free
        _tell(child)
        assert _line(child) == ["released", "True\n"]
        assert child.wait(10) == 0
    assert mine.info() is None
    with queue.lock("skewed", auto_extend=False) as again:
        assert again.fencing_token is not None and again.fencing_token > int(token)


@pytest.mark.parametrize("skew_s", SKEWS_S)
def test_a_holder_that_stalled_past_its_expiry_is_told_it_lost_the_lock(
    target: QueueTarget, queue: Queue, skew_s: float
) -> None:
    with skewed_holder(target, skew_s, "hold") as child:
        word, token = _line(child)
        assert word == "holding"
        stalled = int(token)
        os.kill(child.pid, signal.SIGSTOP)  # its auto-extender stops with it
        mine = queue.lock("skewed", ttl=10, auto_extend=False, timeout=8, retry_interval=0.05)
        mine.acquire()
        assert mine.fencing_token is not None and mine.fencing_token > stalled
        os.kill(child.pid, signal.SIGCONT)
        _tell(child)
        word, report = _line(child)
        assert word == "lost"
        lost, called_with, still_held, released = json.loads(report)
        assert (lost, called_with, still_held, released) == (True, [stalled], False, False)
        assert child.wait(10) == 0
        assert child.stderr is not None
        assert "was lost" in child.stderr.read()
        assert mine.held() is True  # the stalled holder's release did not free ours
        info = mine.info()
        assert info is not None and info["owner_id"] == mine.owner_id
        assert mine.release() is True
