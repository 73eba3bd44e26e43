"""Poison strings: an error, log line or published result holding a lone surrogate (what
``os.listdir`` gives for a file name that is not UTF-8; no backend encodes it) or a NUL
(PostgreSQL refuses it in text) is stored as a visible escape, so the outcomes batched with it
are written, and the worker goes on working. And when storage refuses one job's outcome for
whatever reason, the batch splits itself: the innocent outcomes are written, the refused job
ends dead with a storable error (or, refused even so, is given up here), and no write is
repeated forever.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import pytest

from taskito import Queue
from taskito.context import current_job
from taskito.events import EventType
from taskito.exceptions import ConfigurationError, StorageError, StorageUnavailableError
from taskito.job import JobStatus, OutcomeKind
from taskito.storage.base import Finish
from tests.backends import QueueTarget
from tests.helpers import wait_until, write_through_finish_many
from tests.worker.harness import Harness

#: What ``os.listdir`` gives for the Latin-1 file name b"caf\xe9.py".
BAD_NAME = os.fsdecode(b"caf\xe9.py")


def raise_surrogate() -> None:
    raise ValueError("cannot import " + BAD_NAME)


def raise_nul() -> None:
    raise ValueError("bad\x00byte")


def log_poison() -> str:
    current_job.log("reading " + BAD_NAME + " \x00", level="warn\x00ing", extra={"n": BAD_NAME})
    current_job.log("plain", extra=object())  # not JSON: kept as str()
    current_job.publish({"file": BAD_NAME + "\x00"})
    return "logged"


def set_progress() -> str:
    current_job.update_progress(50)
    return "progressed"


def ident(i: int) -> int:
    return i


def _define(harness: Harness) -> None:
    for fn in (raise_surrogate, raise_nul, log_poison, set_progress, ident):
        harness.task(fn)


def _batch(harness: Harness, innocent: int) -> tuple[dict[str, str], list[str]]:
    """Poison and innocent jobs, enqueued before the worker starts so that one claim (with as
    many threads as jobs) takes them all and one write carries their outcomes."""
    poison = {
        "surrogate": harness.enqueue("raise_surrogate", max_retries=0),
        "nul": harness.enqueue("raise_nul", max_retries=0),
        "log": harness.enqueue("log_poison"),
        "progress": harness.enqueue("set_progress"),
    }
    innocents = [harness.enqueue("ident", i) for i in range(innocent)]
    return poison, innocents


def test_poison_strings_are_stored_and_the_batch_completes(harness: Harness) -> None:
    _define(harness)
    poison, innocents = _batch(harness, innocent=4)
    everything = [*poison.values(), *innocents]
    with harness.running(threads=len(everything)):
        wait_until(lambda: harness.is_terminal(*everything), 15, message="the batch")
        # The worker still works: a job enqueued afterwards runs.
        later = harness.enqueue("ident", 99)
        wait_until(lambda: harness.is_terminal(later), 10, message="the later job")
    assert harness.result(later) == 99
    assert [harness.result(job_id) for job_id in innocents] == [0, 1, 2, 3]

    surrogate = harness.job(poison["surrogate"])
    assert (surrogate.status, surrogate.retry_count) == (JobStatus.DEAD, 0)
    assert surrogate.error is not None
    assert "ValueError: cannot import caf\\udce9.py" in surrogate.error
    assert "Traceback (most recent call last)" in surrogate.error
    nul = harness.job(poison["nul"])
    assert nul.status is JobStatus.DEAD
    assert nul.error is not None and "ValueError: bad\\x00byte" in nul.error
    # The error rows and dead letters hold the same storable text.
    (error_row,) = harness.storage.job_errors(poison["surrogate"])
    assert "caf\\udce9.py" in error_row.error
    letters = {d.original_job_id: d.error for d in harness.storage.dead_letters(10, 0)}
    assert "bad\\x00byte" in (letters[poison["nul"]] or "")

    assert harness.result(poison["log"]) == "logged"
    logs = harness.storage.task_logs(poison["log"])
    assert [(e.level, e.message) for e in logs] == [
        ("warn\\x00ing", "reading caf\\udce9.py \\x00"),
        ("info", "plain"),
        ("result", ""),
    ]
    assert logs[0].extra == '{"n": "caf\\udce9.py"}'  # JSON escapes it already
    assert logs[1].extra is not None and logs[1].extra.startswith("<object object at")
    assert logs[2].extra == '{"file": "caf\\udce9.py\\u0000"}'
    assert harness.result(poison["progress"]) == "progressed"


class RefusingStorage:
    """Makes the real backend refuse the outcomes of chosen jobs, the way a driver refuses a
    value it cannot store: ``finish_many`` raises a ``StorageError`` (not an outage) for any
    batch holding one, and writes every other batch to the real database. It wraps the real
    ``finish_many`` so the worker's split logic runs against a real database; the test
    installs it with ``monkeypatch`` as the existing lost-reply test does (and routes
    ``finish_and_claim`` through it: ``write_through_finish_many``)."""

    def __init__(self, harness: Harness, *, refuse_dead_too: bool) -> None:
        self.real = harness.storage.finish_many
        self.refused: set[str] = set()
        self.refuse_dead_too = refuse_dead_too
        self.calls: list[list[str]] = []

    def finish_many(self, finishes: Sequence[Finish], now: int) -> list[bool]:
        self.calls.append([finish.job_id for finish in finishes])
        for finish in finishes:
            if finish.job_id in self.refused and (
                self.refuse_dead_too or finish.status is not JobStatus.DEAD
            ):
                raise StorageError(f"value too long for job {finish.job_id}")
        return self.real(finishes, now)


@pytest.mark.parametrize("refuse_dead_too", [False, True], ids=["dead-accepted", "all-refused"])
def test_a_refused_outcome_splits_the_batch_and_nothing_is_retried_forever(
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    refuse_dead_too: bool,
) -> None:
    """One job's outcome is refused every time: the worker writes its batch in parts, the
    innocent outcomes land, the refused job is written as dead with a storable error (or,
    refused even as dead, released from the worker with one ERROR line), and work goes on.
    The refused job is enqueued first, so its part is written before the innocent ones."""
    _define(harness)
    refusing = RefusingStorage(harness, refuse_dead_too=refuse_dead_too)
    write_through_finish_many(monkeypatch, harness.storage)
    monkeypatch.setattr(harness.storage, "finish_many", refusing.finish_many)
    refused = harness.enqueue("ident", -1)
    refusing.refused.add(refused)
    innocents = [harness.enqueue("ident", i) for i in range(6)]
    worker = harness.worker(threads=7, lease_ms=60_000)
    with caplog.at_level(logging.INFO, logger="taskito"), harness.running(worker):
        wait_until(lambda: harness.is_terminal(*innocents), 15, message="the innocent jobs")
        wait_until(lambda: refused not in worker._held.ids(), 10, message="the refused job")
        later = harness.enqueue("ident", 99)
        wait_until(lambda: harness.is_terminal(later), 10, message="the later job")
        calls_at_end = len(refusing.calls)
    assert harness.result(later) == 99
    assert [harness.result(job_id) for job_id in innocents] == list(range(6))
    record = harness.job(refused)
    messages = [r.getMessage() for r in caplog.records]
    # Each outcome written has its metric row, the dead replacement's as a failure.
    metrics = {row.job_id: row.outcome for row in harness.storage.task_metrics(None, 0)}
    assert {job_id: metrics.get(job_id) for job_id in [*innocents, later]} == dict.fromkeys(
        [*innocents, later], OutcomeKind.SUCCESS
    )
    if refuse_dead_too:
        # Given up here: still running in storage until its lease expires and it is rescued.
        assert record.status is JobStatus.RUNNING
        given_up = [m for m in messages if "giving up on it in this worker" in m]
        assert len(given_up) == 1 and refused in given_up[0]
        assert refused not in metrics
    else:
        assert (record.status, record.retry_count) == (JobStatus.DEAD, 0)
        assert record.result is None
        assert record.error == (
            f"outcome could not be stored: StorageError: value too long for job {refused}"
        )
        assert metrics[refused] is OutcomeKind.FAILURE
    # Refused once (backed off), refused again (split: the batch of 7, then 4, 2, 1, then the
    # dead replacement), and with the dead one refused as well, split once more: bounded.
    tries = sum(refused in call for call in refusing.calls)
    assert tries <= (11 if refuse_dead_too else 6), refusing.calls
    assert calls_at_end == len(refusing.calls)  # nothing is being retried in the background
    # One line per back-off step: refused once; with even the dead outcome refused before
    # anything else was written, once more (storage might refuse everything), then given up.
    steps = 2 if refuse_dead_too else 1
    failures = [m for m in messages if m.startswith("writing outcomes failed")]
    assert len(failures) == steps, failures
    assert sum("in parts to find the one it cannot take" in m for m in messages) == steps


@pytest.mark.parametrize(
    "option",
    [
        {"metadata": '{"file": "' + BAD_NAME + '"}'},
        {"metadata": "a\x00b"},
        {"unique_key": "k" + BAD_NAME},
        {"unique_key": "k\x00"},
        {"queue": "q\x00"},
        {"queue": BAD_NAME},
    ],
)
def test_a_poison_string_given_at_enqueue_is_refused_at_the_call(
    target: QueueTarget, option: dict[str, str]
) -> None:
    """The caller's own text (metadata, unique key, queue name) is refused with a clear
    ``ValueError`` rather than changed behind its back, the same on every backend, and
    nothing is stored."""
    queue = Queue(**target.kwargs)
    try:

        @queue.task()
        def noop() -> None:
            return None

        (name,) = option
        with pytest.raises(ConfigurationError, match=f"^{name} holds ") as caught:
            noop.apply_async(**option)
        assert isinstance(caught.value, ValueError)
        assert "storage cannot keep" in str(caught.value)
        with pytest.raises(ValueError, match="metadata holds a NUL"):
            queue.enqueue_many("noop", [(), ()], metadata="\x00")
        assert sum(queue.stats().values()) == 0
        with pytest.raises(ValueError, match="setting value holds a lone surrogate"):
            queue.set_setting("file", BAD_NAME)
        with pytest.raises(ValueError, match="key holds a NUL"):
            queue.set_setting("k\x00", "v")
        assert queue.list_settings() == {}
        ok = noop.apply_async(metadata='{"file": "caf\\udce9"}', unique_key="café")
        assert queue.get_job(ok.id) is not None
    finally:
        queue.close()


def test_a_split_whose_reply_is_lost_announces_each_outcome_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dead replacement of a refused outcome commits but its reply is lost (an outage
    mid-split): the worker backs off, writes the batch again, and still sees that its own
    earlier write applied it, so every outcome is announced exactly once."""
    _define(harness)
    refusing = RefusingStorage(harness, refuse_dead_too=False)
    lost: list[str] = []

    def finish_many(finishes: Sequence[Finish], now: int) -> list[bool]:
        applied = refusing.finish_many(finishes, now)
        if not lost and any(f.status is JobStatus.DEAD for f in finishes):
            lost.append(finishes[0].job_id)
            raise StorageUnavailableError("connection dropped before the reply")
        return applied

    write_through_finish_many(monkeypatch, harness.storage)
    monkeypatch.setattr(harness.storage, "finish_many", finish_many)
    refused = harness.enqueue("ident", -1)
    refusing.refused.add(refused)
    innocents = [harness.enqueue("ident", i) for i in range(4)]
    harness.burst(
        lambda: (
            harness.is_terminal(refused, *innocents)
            and len(harness.events.of(EventType.JOB_COMPLETED)) == len(innocents)
        ),
        threads=5,
    )
    assert lost == [refused]
    assert [harness.result(job_id) for job_id in innocents] == list(range(4))
    assert harness.status(refused) is JobStatus.DEAD
    completed = sorted(e["job_id"] for e in harness.events.of(EventType.JOB_COMPLETED))
    assert completed == sorted(innocents)
    assert [e["job_id"] for e in harness.events.of(EventType.JOB_DEAD)] == [refused]
