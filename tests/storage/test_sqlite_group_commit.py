"""SQLite group commit: enqueues from concurrent threads share a commit, each caller gets its
own outcome (a failing job fails alone), and ``close()`` while producers wait ends them all."""

from __future__ import annotations

import os
import select
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from taskito.exceptions import DependencyError, StorageError
from taskito.job import JobRecord, JobStatus, NewJob
from taskito.storage.sqlite import SqliteStorage
from taskito.storage.sqlite import enqueue as group_commit
from tests.storage.factories import make_job


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[SqliteStorage]:
    opened = SqliteStorage(str(tmp_path / "taskito.db"))
    yield opened
    opened.close()


class Producers:
    """One thread per job, each calling ``storage.enqueue``; outcomes by job id."""

    def __init__(self, storage: SqliteStorage, jobs: list[NewJob]) -> None:
        self.outcomes: dict[str, JobRecord | BaseException] = {}
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._enqueue, args=(storage, job)) for job in jobs]

    def _enqueue(self, storage: SqliteStorage, job: NewJob) -> None:
        try:
            outcome: JobRecord | BaseException = storage.enqueue(job)
        except BaseException as exc:
            outcome = exc
        with self._lock:
            self.outcomes[job.id] = outcome

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in self.threads)


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)


def queued(storage: SqliteStorage) -> int:
    group = storage._group_commit
    with group._lock:
        return len(group._queue)


def in_one_group(storage: SqliteStorage, jobs: list[NewJob]) -> Producers:
    """Enqueue ``jobs`` from one thread each while the write lock is held, so that one
    leader waits for it and the others queue behind: all of them share one commit."""
    producers = Producers(storage, jobs)
    write_lock = storage._conns._write_lock
    with write_lock:
        producers.start()
        # The leader has taken the first job and waits for the lock; the rest are queued.
        wait_until(lambda: queued(storage) == len(jobs) - 1)
    producers.join()
    return producers


def test_jobs_queued_while_a_commit_runs_share_the_next_one(storage: SqliteStorage) -> None:
    commits: list[int] = []
    group = storage._group_commit
    commit = group._commit
    group._commit = lambda pending: (commits.append(len(pending)), commit(pending))[1]  # type: ignore[method-assign]
    jobs = [make_job() for _ in range(6)]
    producers = Producers(storage, jobs)
    with storage._conns._write_lock:
        producers.start()
        wait_until(lambda: queued(storage) == 5)
    producers.join()
    # The first leader took its own job before the others queued; the rest went together.
    assert commits == [1, 5]
    assert all(producers.outcomes[job.id] == JobRecord.from_new(job) for job in jobs)
    assert storage.count_jobs()[JobStatus.PENDING] == 6
    assert not group._leading and group._queue == []


def test_a_failing_job_fails_alone_in_its_group(storage: SqliteStorage) -> None:
    stored = storage.enqueue(make_job())
    duplicate = make_job(id=stored.id)
    orphan = make_job(depends_on=("no-such-job",))
    good = [make_job() for _ in range(4)]
    first, *rest = good
    producers = in_one_group(storage, [first, duplicate, rest[0], orphan, *rest[1:]])
    outcomes = producers.outcomes
    assert isinstance(outcomes[duplicate.id], StorageError)
    assert isinstance(outcomes[orphan.id], DependencyError)
    assert "no-such-job" in str(outcomes[orphan.id])
    for job in good:
        assert outcomes[job.id] == JobRecord.from_new(job)
        assert storage.get_job(job.id) == JobRecord.from_new(job)
    assert storage.get_job(orphan.id) is None
    assert storage.dependencies(orphan.id) == []
    assert storage.count_jobs()[JobStatus.PENDING] == 1 + len(good)


def test_a_unique_key_taken_earlier_in_the_group_returns_its_holder(
    storage: SqliteStorage,
) -> None:
    jobs = [make_job(unique_key="once") for _ in range(5)]
    producers = in_one_group(storage, jobs)
    records = list(producers.outcomes.values())
    assert all(isinstance(record, JobRecord) for record in records)
    holders = {record.id for record in records if isinstance(record, JobRecord)}
    assert len(holders) == 1
    (holder,) = holders
    assert holder in {job.id for job in jobs}
    assert storage.count_jobs()[JobStatus.PENDING] == 1


def test_a_failed_commit_fails_every_job_of_the_group(storage: SqliteStorage) -> None:
    jobs = [make_job() for _ in range(4)]
    group = storage._group_commit

    def failing_commit(pending: object) -> None:
        with storage._conns._write_lock:  # where a commit waits, as the real one does
            raise StorageError("disk on fire")

    group._commit = failing_commit  # type: ignore[method-assign,assignment]
    producers = in_one_group(storage, jobs)
    errors = [producers.outcomes[job.id] for job in jobs]
    assert all(isinstance(error, StorageError) and "disk on fire" in str(error) for error in errors)
    assert len({id(error) for error in errors}) == len(errors)  # each caller its own object
    del group._commit
    assert storage.count_jobs()[JobStatus.PENDING] == 0
    assert isinstance(storage.enqueue(make_job()), JobRecord)


def test_close_while_producers_wait_ends_every_one_of_them(tmp_path: Path) -> None:
    path = str(tmp_path / "taskito.db")
    storage = SqliteStorage(path)
    jobs = [make_job() for _ in range(6)]
    producers = Producers(storage, jobs)
    closer = threading.Thread(target=storage.close)
    with storage._conns._write_lock:
        producers.start()
        wait_until(lambda: queued(storage) == len(jobs) - 1)
        closer.start()
    closer.join(timeout=30)
    producers.join()
    assert not closer.is_alive()
    reopened = SqliteStorage(path)
    try:
        for job in jobs:
            outcome = producers.outcomes[job.id]
            if isinstance(outcome, JobRecord):
                assert reopened.get_job(job.id) == outcome  # returned: committed
            else:
                assert isinstance(outcome, StorageError), outcome
                assert reopened.get_job(job.id) is None
    finally:
        reopened.close()


def test_after_close_an_enqueue_fails_at_once(storage: SqliteStorage) -> None:
    storage.close()
    with pytest.raises(StorageError, match="closed"):
        storage.enqueue(make_job())
    assert not storage._group_commit._leading


def test_a_forked_child_enqueues_while_the_parent_has_producers_waiting(
    storage: SqliteStorage,
) -> None:
    jobs = [make_job() for _ in range(3)]
    producers = Producers(storage, jobs)
    child_job = make_job()
    with storage._conns._write_lock:
        producers.start()
        wait_until(lambda: queued(storage) == len(jobs) - 1)
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():
            # Python warns about fork() in a multi-threaded process; that is the point here.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # child: neither the parent's leader nor its queue may hold it up
            code = 1
            try:
                os.close(read_end)
                os.write(write_end, storage.enqueue(child_job).id.encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        try:
            ready, _, _ = select.select([read_end], [], [], 10.0)
            reply = os.read(read_end, 64).decode() if ready else ""
            if not ready:
                os.kill(pid, signal.SIGKILL)  # it hung on the parent's group
        finally:
            os.close(read_end)
            _, status = os.waitpid(pid, 0)
    producers.join()
    assert os.waitstatus_to_exitcode(status) == 0
    assert reply == child_job.id
    assert storage.get_job(child_job.id) is not None
    assert all(isinstance(producers.outcomes[job.id], JobRecord) for job in jobs)


class Interrupted(BaseException):
    """Stands for KeyboardInterrupt arriving while a producer waits for its leader."""


class InterruptedWait:
    """A wake lock whose blocking wait is interrupted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._acquires = 0

    def acquire(self) -> bool:
        self._acquires += 1
        if self._acquires == 2:  # the first takes it; the second is the wait
            raise Interrupted
        return self._lock.acquire()

    def release(self) -> None:
        self._lock.release()


def test_a_producer_interrupted_while_waiting_withdraws_its_job(
    storage: SqliteStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    leader_job, withdrawn, later = make_job(), make_job(), make_job()
    leader = Producers(storage, [leader_job])
    quitter = Producers(storage, [withdrawn])
    follower = Producers(storage, [later])
    with storage._conns._write_lock:
        leader.start()
        wait_until(lambda: storage._group_commit._leading)
        monkeypatch.setattr(group_commit, "_allocate_lock", InterruptedWait)
        quitter.start()
        quitter.join()
        monkeypatch.undo()
        follower.start()
        wait_until(lambda: queued(storage) == 1)
    leader.join()
    follower.join()
    assert isinstance(quitter.outcomes[withdrawn.id], Interrupted)
    assert storage.get_job(withdrawn.id) is None
    assert leader.outcomes[leader_job.id] == JobRecord.from_new(leader_job)
    assert follower.outcomes[later.id] == JobRecord.from_new(later)
    assert not storage._group_commit._leading
