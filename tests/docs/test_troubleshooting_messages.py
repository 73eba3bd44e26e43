"""docs/troubleshooting.md quotes taskito's error messages: each test here makes the error
happen for real and checks that the page shows its text, so the page cannot drift from the
code. The parts of a message that change from run to run (job ids, directories, pids, the
latest schema version) are written on the page in angle brackets, and replaced here the same
way before the comparison."""

from __future__ import annotations

import logging
import re
import sqlite3
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from taskito import (
    ConfigurationError,
    JsonSerializer,
    MaxRetriesExceededError,
    Queue,
    SchemaVersionError,
    SerializationError,
    StorageError,
    StorageUnavailableError,
    current_job,
)
from taskito.job import now_ms
from tests.helpers import require_postgres, wait_until

PAGE = Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md"
_JOB_ID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_VERSIONS_UP_TO = re.compile(r"versions up to \d+")


def page_text() -> str:
    """The page with its line breaks and indentation evened out, so a message wrapped over
    two lines of a paragraph still matches."""
    return " ".join(PAGE.read_text(encoding="utf-8").split())


def assert_on_page(
    message: str, *, directory: Path | None = None, varying: dict[str, str] | None = None
) -> None:
    """``message``, with its varying parts in angle brackets, is quoted on the page:
    job ids, the latest schema version, ``directory`` as ``<dir>``, and each key of
    ``varying`` as its value."""
    shown = _JOB_ID.sub("<job-id>", message)
    shown = _VERSIONS_UP_TO.sub("versions up to <N>", shown)
    if directory is not None:
        shown = shown.replace(str(directory), "<dir>")
    for actual, placeholder in (varying or {}).items():
        shown = shown.replace(actual, placeholder)
    shown = " ".join(shown.split())
    assert shown in page_text(), f"docs/troubleshooting.md does not quote:\n{shown}"


@contextmanager
def running_worker(queue: Queue, **options: object) -> Iterator[None]:
    """``queue.run_worker(**options)`` on a thread for the length of the block."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            queue.run_worker(**options)  # type: ignore[arg-type]
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run, name="troubleshooting-worker")
    worker.start()
    try:
        yield
    finally:
        queue.request_shutdown()
        worker.join(timeout=30)
    assert not worker.is_alive(), "the worker did not stop"
    if failure:
        raise failure[0]


@contextmanager
def captured(logger_name: str) -> Iterator[list[logging.LogRecord]]:
    """The records logged on ``logger_name`` (and below it) during the block."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    logger = logging.getLogger(logger_name)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def first_message(records: list[logging.LogRecord], start: str) -> Callable[[], str | None]:
    def find() -> str | None:
        for record in list(records):
            text = record.getMessage()
            if text.startswith(start):
                return text
        return None

    return find


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[Queue]:
    q = Queue(db_path=str(tmp_path / "t.db"), workers=2)
    yield q
    q.close()


def last_error(queue: Queue, job_id: str) -> str:
    errors = queue.job_errors(job_id)
    assert errors, f"job {job_id} has no error"
    return str(errors[-1]["error"]).splitlines()[-1]


# --- tasks and workers --------------------------------------------------------------------


def test_unknown_task_is_held_then_dead_lettered(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    with Queue(db_path=path, workers=1) as worker_queue, captured("taskito.worker") as logs:
        job = worker_queue.enqueue("reports.build", (2026,))
        with running_worker(worker_queue):
            warning = wait_until(first_message(logs, "task 'reports.build' is not registered"))
        assert_on_page(warning)
        worker_queue.cancel(job.id)
    with Queue(db_path=path, workers=1, unknown_task_window=0) as strict:
        job = strict.enqueue("reports.build", (2026,))
        with running_worker(strict), pytest.raises(MaxRetriesExceededError) as raised:
            job.result(timeout=10)
    assert_on_page(str(raised.value))


def test_result_timeout_names_the_status(queue: Queue) -> None:
    job = queue.enqueue("emails.send", ("ada@example.org",), queue="emails")
    with pytest.raises(TimeoutError) as raised:
        job.result(timeout=0.05)
    assert_on_page(str(raised.value).replace("within 0.05s", "within 30s"))


def test_worker_warns_about_a_queue_no_task_uses(queue: Queue) -> None:
    @queue.task()
    def send() -> None: ...

    with captured("taskito.worker") as logs, running_worker(queue, queues=["email"]):
        warning = wait_until(first_message(logs, "no registered task uses queue"))
    assert_on_page(warning)


def test_task_decorator_without_parentheses(queue: Queue) -> None:
    with pytest.raises(TypeError) as raised:

        @queue.task  # type: ignore[arg-type]
        def send() -> None: ...

    assert_on_page(str(raised.value))


def test_two_tasks_with_one_name(queue: Queue) -> None:
    @queue.task(name="send")
    def send() -> None: ...

    with pytest.raises(ConfigurationError) as raised:

        @queue.task(name="send")
        def send_again() -> None: ...

    assert_on_page(str(raised.value))


def test_current_job_outside_a_task() -> None:
    with pytest.raises(RuntimeError) as raised:
        current_job.update_progress(50)
    assert_on_page(str(raised.value))


def test_queue_used_after_close(tmp_path: Path) -> None:
    closed = Queue(db_path=str(tmp_path / "t.db"))
    closed.close()
    with pytest.raises(StorageError) as raised:
        closed.enqueue("reports.build")
    assert_on_page(str(raised.value), directory=tmp_path)


def test_hard_timeout(queue: Queue) -> None:
    release = threading.Event()

    @queue.task(timeout=0.1, max_retries=0)
    def stuck() -> None:
        release.wait(10)

    with running_worker(queue):
        job = stuck.delay()
        with pytest.raises(MaxRetriesExceededError):
            job.result(timeout=10)
        release.set()
    assert_on_page(last_error(queue, job.id).replace("100ms", "300000ms"))


# --- arguments, results and serializers ----------------------------------------------------


def test_arguments_that_cannot_be_pickled(queue: Queue) -> None:
    @queue.task(name="save")
    def save(lock: object) -> None: ...

    with pytest.raises(SerializationError) as raised:
        save.delay(threading.Lock())
    assert_on_page(str(raised.value))


def test_result_that_cannot_be_pickled(queue: Queue) -> None:
    @queue.task(name="open_lock")
    def open_lock() -> object:
        return threading.Lock()

    with running_worker(queue):
        job = open_lock.delay()
        with pytest.raises(MaxRetriesExceededError):
            job.result(timeout=10)
    assert_on_page(last_error(queue, job.id))


def test_producer_and_worker_with_different_serializers(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    with Queue(db_path=path, serializer=JsonSerializer()) as producer:
        job_id = producer.enqueue("resize", (1,)).id
    with Queue(db_path=path, workers=1) as worker_queue:

        @worker_queue.task(name="resize")
        def resize(n: int) -> int:
            return n

        with running_worker(worker_queue):
            job = worker_queue.get_job(job_id)
            assert job is not None
            with pytest.raises(MaxRetriesExceededError):
                job.result(timeout=10)
        error = last_error(worker_queue, job_id)
    # "payload of job <id> could not be decoded: UnpicklingError: <pickle's reason>"
    reason = error.partition("could not be decoded: ")[2]
    assert_on_page(error.partition(reason)[0] + reason.split(":")[0] + ":")


def test_serializer_without_dumps_and_loads(tmp_path: Path) -> None:
    with pytest.raises(TypeError) as raised:
        Queue(db_path=str(tmp_path / "t.db"), serializer="json")
    assert_on_page(str(raised.value))


# --- signing -------------------------------------------------------------------------------


def test_worker_without_signing_key_warns(queue: Queue) -> None:
    with captured("taskito") as logs, running_worker(queue):
        warning = wait_until(first_message(logs, "no signing_key is set"))
    assert_on_page(warning)


@pytest.mark.parametrize("producer_key", [None, "another-key-of-32-bytes-length!!"])
def test_payload_signature_failures(tmp_path: Path, producer_key: str | None) -> None:
    path = str(tmp_path / "t.db")
    with Queue(db_path=path, signing_key=producer_key) as producer:
        job_id = producer.enqueue("resize", (1,)).id
    with Queue(db_path=path, workers=1, signing_key="the-worker-key-of-32-bytes-long!") as signed:

        @signed.task(name="resize")
        def resize(n: int) -> int:
            return n

        with running_worker(signed):
            job = signed.get_job(job_id)
            assert job is not None
            with pytest.raises(MaxRetriesExceededError):
                job.result(timeout=10)
        assert_on_page(last_error(signed, job_id))


def test_signing_key_too_short(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as raised:
        Queue(db_path=str(tmp_path / "t.db"), signing_key="secret")
    assert_on_page(str(raised.value))


# --- schedules -----------------------------------------------------------------------------


def test_five_field_cron(queue: Queue) -> None:
    with pytest.raises(ConfigurationError) as raised:

        @queue.periodic(cron="*/5 * * * *")
        def report() -> None: ...

    assert_on_page(str(raised.value))


# --- storage -------------------------------------------------------------------------------


def test_postgres_unreachable() -> None:
    with pytest.raises(StorageUnavailableError) as raised:
        Queue("postgresql://postgres@127.0.0.1:1/test")
    message = str(raised.value)
    # The driver's own reason follows; the page quotes taskito's part.
    # taskito's part, then the driver's own reason after the first ": ".
    ours = message.partition(": ")[0]
    assert_on_page(
        f"{ours}: <the driver's reason>",
        varying={"postgresql://postgres@127.0.0.1:1/test": "<server>"},
    )


def test_redis_unreachable() -> None:
    with pytest.raises(StorageUnavailableError) as raised:
        Queue("redis://127.0.0.1:1/0")
    message = str(raised.value)
    ours = message.partition(": ")[0]
    assert_on_page(f"{ours}: <the driver's reason>", varying={"127.0.0.1:1/0": "<server>"})


def test_sqlite_schema_newer_than_this_taskito(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Queue(db_path=str(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    conn.close()
    with pytest.raises(SchemaVersionError) as raised:
        Queue(db_path=str(path))
    assert_on_page(str(raised.value), directory=tmp_path)


def test_postgres_schema_newer_than_this_taskito() -> None:
    url = require_postgres()
    import psycopg

    from taskito.storage.postgres.connections import conninfo_params, describe_target

    schema = f"docs_ts_{uuid.uuid4().hex[:12]}"
    Queue(url, schema=schema).close()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'UPDATE "{schema}".schema_version SET version = 99')
        with pytest.raises(SchemaVersionError) as raised:
            Queue(url, schema=schema)
        assert_on_page(
            str(raised.value),
            varying={repr(schema): "'taskito'", describe_target(conninfo_params(url)): "<server>"},
        )
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_job_of_a_crashed_worker_is_rescued(queue: Queue) -> None:
    @queue.task(name="resize")
    def resize(n: int) -> int:
        return n

    job = resize.delay(1)
    # A worker that claimed the job, then crashed: its lease is never extended.
    claimed = queue._storage.claim("crashed-worker", None, None, 1, now_ms(), lease_ms=1)
    assert [record.id for record in claimed] == [job.id]
    with captured("taskito.worker") as logs, running_worker(queue):
        assert job.result(timeout=10) == 1
        warning = wait_until(first_message(logs, "rescued 1 job(s) of worker crashed-worker"))
    assert_on_page(queue.job_errors(job.id)[0]["error"], varying={"crashed-worker": "<worker-id>"})
    assert_on_page(warning, varying={"crashed-worker": "<worker-id>"})


# --- prefork and the dashboard ---------------------------------------------------------------


def test_prefork_without_app(queue: Queue) -> None:
    with pytest.raises(ConfigurationError) as raised:
        queue.run_worker(pool="prefork")
    assert_on_page(str(raised.value))


def test_prefork_app_that_cannot_be_imported(
    queue: Queue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError) as raised:
        queue.run_worker(pool="prefork", app="myapp.tasks:queue", workers=1)
    assert_on_page(str(raised.value), directory=tmp_path)


def test_prefork_child_that_dies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "crashing_app.py").write_text(
        textwrap.dedent(
            """
            import os
            from taskito import Queue

            queue = Queue(db_path="t.db", workers=1)

            @queue.task(name="crash", max_retries=0)
            def crash() -> None:
                os._exit(3)
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    import crashing_app  # type: ignore[import-not-found]

    app_queue: Queue = crashing_app.queue
    try:
        with running_worker(app_queue, pool="prefork", app="crashing_app:queue"):
            job = app_queue.enqueue("crash")
            with pytest.raises(MaxRetriesExceededError):
                job.result(timeout=30)
        error = last_error(app_queue, job.id)
        assert_on_page(re.sub(r"child \d+", "child <pid>", error))
    finally:
        app_queue.close()


def test_dashboard_refuses_an_open_address_without_auth(queue: Queue) -> None:
    from taskito.dashboard.server.serve import check_bind

    with pytest.raises(ConfigurationError) as raised:
        check_bind(queue, "0.0.0.0", None)
    assert_on_page(str(raised.value))
    with pytest.raises(ConfigurationError) as raised:
        check_bind(queue, "0.0.0.0", False)
    assert_on_page(str(raised.value))


def test_every_quoted_message_is_checked() -> None:
    """Each message block on the page is one a test above triggers: a block nobody checks
    would drift. Blocks are the ```text fences; this counts them against the tests."""
    blocks = re.findall(r"```text\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == EXPECTED_MESSAGE_BLOCKS, (
        f"the page quotes {len(blocks)} messages; update EXPECTED_MESSAGE_BLOCKS and add a "
        "test that triggers any new one"
    )


#: How many ```text blocks the page has: one per message triggered above.
EXPECTED_MESSAGE_BLOCKS = 29
