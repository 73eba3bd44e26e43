"""A dropped connection does not fail an enqueue (issue 10, item 7).

The server ends our own connections while it stays up (Postgres: ``pg_terminate_backend`` of
the backends carrying this test's ``application_name``; Redis: ``CLIENT KILL`` of the clients
carrying this storage's client name). The next ``enqueue`` succeeds and stores the job exactly
once, and a worker still claims and finishes jobs afterwards. Never the server itself: other
suites share it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from taskito.ids import new_job_id
from taskito.job import JobStatus, NewJob, now_ms
from taskito.storage.base import JobFilter, Storage
from tests.backends import QueueTarget, queue_target
from tests.helpers import wait_until
from tests.worker.harness import Harness


@pytest.fixture(params=["postgres", "redis"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueTarget]:
    made = queue_target(request.param, tmp_path)
    if made.name == "postgres":
        app_name = f"taskito_fault_{uuid.uuid4().hex[:12]}"
        made.kwargs["db_url"] += f"?application_name={app_name}"
    try:
        yield made
    finally:
        made.cleanup()


def drop_connections(target: QueueTarget) -> int:
    """End every server connection of ``target``'s storages; return how many were ended."""
    if target.name == "postgres":
        import psycopg

        url, _, query = target.kwargs["db_url"].partition("?")
        app_name = query.partition("=")[2]
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s AND pid <> pg_backend_pid()",
                (app_name,),
            ).fetchall()
        return sum(1 for (ended,) in rows if ended)
    import redis

    client = redis.Redis.from_url(target.kwargs["db_url"], socket_timeout=5)
    try:
        name = f"taskito-{target.kwargs['schema']}"
        ids = [entry["id"] for entry in client.client_list() if entry.get("name") == name]
        for client_id in ids:
            client.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        client.close()


def _job(task_name: str, **fields: object) -> NewJob:
    now = now_ms()
    return NewJob(
        id=new_job_id(),
        queue="default",
        task_name=task_name,
        payload=b"\x80\x04N.",
        priority=0,
        created_at=now,
        scheduled_at=now,
        max_retries=0,
        timeout_ms=None,
        **fields,  # type: ignore[arg-type]
    )


def _all_jobs(storage: Storage) -> list[str]:
    return [job.id for job in storage.list_jobs(JobFilter(), limit=1000, offset=0)]


def _enqueued(storage: Storage, make: Callable[[], NewJob]) -> str:
    return storage.enqueue(make()).id


def test_an_enqueue_after_the_server_dropped_our_connections_succeeds_once(
    server: QueueTarget,
) -> None:
    storage = server.open_storage()
    try:
        first = storage.enqueue(_job("t")).id  # the pool holds a live connection now
        assert drop_connections(server) >= 1
        second = storage.enqueue(_job("t")).id
        assert drop_connections(server) >= 1
        batch = [job.id for job in storage.enqueue_many([_job("t"), _job("t")])]
        assert drop_connections(server) >= 1
        keyed = storage.enqueue(_job("t", unique_key="k-1")).id
        assert sorted(_all_jobs(storage)) == sorted([first, second, *batch, keyed])
        for job_id in (first, second, *batch, keyed):
            record = storage.get_job(job_id)
            assert record is not None and record.status is JobStatus.PENDING
            assert record.retry_count == 0
    finally:
        storage.close()


@pytest.mark.parametrize(
    ("lock_mode", "committed_meanwhile"),
    [
        # The retry's lookup waits too, then finds the job the lost attempt stored.
        ("ACCESS EXCLUSIVE", True),
        # The lookup finds nothing; the retried insert then meets the stored job's id.
        ("SHARE ROW EXCLUSIVE", True),
        # The lost attempt never committed: the retry inserts the job.
        ("SHARE ROW EXCLUSIVE", False),
    ],
)
def test_an_enqueue_whose_connection_dies_mid_insert_stores_one_row(
    lock_mode: str, committed_meanwhile: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Postgres ends our connection while the INSERT waits on a table lock held by another
    session; that session may store the very same job before it lets go, which is what a
    first attempt that committed just before its connection died leaves behind. Either way
    ``enqueue`` returns the job, and the table holds it once."""
    import psycopg
    from psycopg import sql

    caplog.set_level(logging.INFO, logger="taskito.storage.postgres")
    target = queue_target("postgres", tmp_path)
    app_name = f"taskito_fault_{uuid.uuid4().hex[:12]}"
    target.kwargs["db_url"] += f"?application_name={app_name}"
    url, schema = target.kwargs["db_url"].partition("?")[0], target.kwargs["schema"]
    storage = target.open_storage()
    jobs = sql.Identifier(schema, "jobs")
    try:
        job = _job("t")
        outcome: list[object] = []
        with psycopg.connect(url, connect_timeout=5) as blocker:
            blocker.execute(sql.SQL("LOCK TABLE {} IN " + lock_mode + " MODE").format(jobs))

            def enqueue() -> None:
                try:
                    outcome.append(storage.enqueue(job))
                except BaseException as exc:
                    outcome.append(exc)

            thread = threading.Thread(target=enqueue)
            thread.start()
            try:
                _wait_for_lock_wait(url, app_name)
                assert drop_connections(target) >= 1
                _wait_for_lock_wait(url, app_name)  # the retry waits on the lock in turn
                if committed_meanwhile:
                    copied = sql.SQL(
                        "INSERT INTO {} (id, queue, task_name, payload, priority, created_at,"
                        " scheduled_at, max_retries) VALUES (%s, 'default', 't', %s, 0, %s, %s, 0)"
                    ).format(jobs)
                    blocker.execute(copied, (job.id, job.payload, job.created_at, job.scheduled_at))
                blocker.commit()
            finally:
                thread.join(20)
        assert not thread.is_alive()
        [result] = outcome
        assert not isinstance(result, BaseException), result
        assert result.id == job.id and result.status is JobStatus.PENDING  # type: ignore[attr-defined]
        with psycopg.connect(url, connect_timeout=5) as conn:
            rows = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE id = %s").format(jobs), (job.id,)
            ).fetchone()
        assert rows == (1,)
        assert _all_jobs(storage) == [job.id]
        assert any("mid-write" in record.getMessage() for record in caplog.records)
    finally:
        storage.close()
        target.cleanup()


def _wait_for_lock_wait(url: str, app_name: str) -> None:
    import psycopg

    def waiting() -> bool:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
                " AND wait_event_type = 'Lock'",
                (app_name,),
            ).fetchone()
        return row is not None and row[0] > 0

    wait_until(waiting, 10, message="our INSERT waits on the table lock")


def test_a_worker_claims_and_finishes_after_its_connections_were_dropped(
    server: QueueTarget,
) -> None:
    harness = Harness(server)
    try:
        add = harness.task(lambda a, b: a + b, name="add")
        with harness.running():
            warm = harness.enqueue(add, 1, 2)
            wait_until(lambda: harness.is_terminal(warm), 10, message="the first job finished")
            assert drop_connections(server) >= 1
            after_drop = harness.enqueue(add, 2, 3)
            wait_until(lambda: harness.is_terminal(after_drop), 10, message="job after a drop")
            assert drop_connections(server) >= 1
            again = harness.enqueue(add, 3, 4)
            wait_until(lambda: harness.is_terminal(again), 10, message="job after a second drop")
        for job_id, expected in ((warm, 3), (after_drop, 5), (again, 7)):
            record = harness.job(job_id)
            assert record.status is JobStatus.COMPLETE, record.error
            assert record.retry_count == 0 and record.error is None
            assert harness.result(job_id) == expected
        assert sorted(_all_jobs(harness.storage)) == sorted([warm, after_drop, again])
    finally:
        harness.close()


class CuttingProxy:
    """A TCP proxy in front of the real Redis that cuts the one connection carrying a marked
    command: ``before`` it reaches the server (nothing ran), or ``after`` the server answered
    (the write committed, the reply is lost). Real sockets, a real server: only the link is
    cut, as a network or a load balancer would."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._stopped = threading.Event()
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._marker: bytes | None = None
        self._when = "before"
        self.cuts = 0
        self._muted: set[socket.socket] = set()  # clients whose replies are dropped
        self._answered = threading.Event()  # the server answered a muted client
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, name="proxy-accept")]
        self._threads[0].start()

    def cut_next(self, marker: bytes, when: str) -> None:
        with self._lock:
            self._marker, self._when = marker, when

    def close(self) -> None:
        self._stopped.set()
        self._threads[0].join(10)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        for thread in self._threads:
            thread.join(10)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            server = socket.create_connection(self._upstream)
            with self._lock:
                self._sockets += [client, server]
            for source, sink, upward in ((client, server, True), (server, client, False)):
                thread = threading.Thread(
                    target=self._pump, args=(source, sink, upward), name="proxy-pump"
                )
                self._threads.append(thread)
                thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket, upward: bool) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                if upward and self._cut_here(chunk, source, sink):
                    return
                if not upward and sink in self._muted:
                    self._answered.set()
                    continue
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def _cut_here(self, chunk: bytes, client: socket.socket, server: socket.socket) -> bool:
        with self._lock:
            if self._marker is None or self._marker not in chunk:
                return False
            self._marker, when = None, self._when
            self.cuts += 1
        if when == "after":
            self._muted.add(client)
            server.sendall(chunk)
            # The server runs the script and answers; the answer is dropped.
            assert self._answered.wait(5), "the server did not answer the marked command"
        for sock in (client, server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return True


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("mode", ["one", "many"])
def test_a_redis_enqueue_whose_connection_is_cut_stores_each_job_once(
    when: str, mode: str, tmp_path: Path
) -> None:
    from taskito.storage.redis import RedisStorage

    target = queue_target("redis", tmp_path)
    real = urlsplit(target.kwargs["db_url"])
    proxy = CuttingProxy((real.hostname or "127.0.0.1", real.port or 6379))
    storage = RedisStorage(
        f"redis://127.0.0.1:{proxy.port}{real.path}", prefix=target.kwargs["schema"]
    )
    try:
        jobs = [_job("t")] if mode == "one" else [_job("t"), _job("t")]
        proxy.cut_next(jobs[0].id.encode(), when)
        one = mode == "one"
        returned = [storage.enqueue(jobs[0])] if one else storage.enqueue_many(jobs)
        assert proxy.cuts == 1
        assert [job.id for job in returned] == [job.id for job in jobs]
        assert all(job.status is JobStatus.PENDING for job in returned)
        assert sorted(_all_jobs(storage)) == sorted(job.id for job in jobs)
        assert storage.count_jobs()[JobStatus.PENDING] == len(jobs)
    finally:
        storage.close()
        proxy.close()
        target.cleanup()
