"""Contract: the reads behind the dashboard's pages. Keyset paging (``JobFilter.before``) is
exact when many jobs share a millisecond; queue depths without completed jobs still list every
queue. And on SQLite and Postgres, every list and count a page makes is served by an index
(the query plans read a range of an index, never the whole table, and sort nothing)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from taskito.job import JobRecord, JobStatus, now_ms
from taskito.storage.base import Finish, JobFilter, Storage
from taskito.storage.postgres import PostgresStorage
from taskito.storage.sqlite import queries as sqlite_queries
from taskito.storage.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS
from tests.helpers import require_postgres
from tests.storage.factories import Backend, claim_job, finish, make_job
from tests.storage.postgres_support import on_postgres

#: The filters of the dashboard's job pages (static/js/pages/jobs.js, overview.js).
PAGE_FILTERS = (
    JobFilter(),
    JobFilter(status=JobStatus.FAILED),
    JobFilter(queue="emails"),
    JobFilter(task_name="send"),
    JobFilter(queue="emails", status=JobStatus.PENDING),
    JobFilter(task_name="send", status=JobStatus.RUNNING),
)


def _ids(records: list[JobRecord]) -> list[str]:
    return [record.id for record in records]


def _walk(storage: Storage, filter: JobFilter, size: int) -> list[str]:
    """Every job ``filter`` lists, a page of ``size`` at a time, each after the last one."""
    seen: list[str] = []
    before = None
    while True:
        page = storage.list_jobs(
            JobFilter(
                status=filter.status,
                queue=filter.queue,
                created_before=filter.created_before,
                before=before,
            ),
            size,
            0,
        )
        seen += _ids(page)
        if len(page) < size:
            return seen
        before = (page[-1].created_at, page[-1].id)


def test_paging_by_key_is_exact_when_jobs_share_a_millisecond(storage: Storage) -> None:
    now = now_ms()
    # Nine jobs in one millisecond between older and newer ones, on two queues.
    for offset, count in ((-5, 2), (0, 9), (3, 4)):
        for n in range(count):
            storage.enqueue(make_job(created_at=now + offset, queue=("a", "b")[n % 2]))
    for size in (1, 2, 4, 7, 50):
        for filter in (JobFilter(), JobFilter(queue="a"), JobFilter(status=JobStatus.PENDING)):
            expected = _ids(storage.list_jobs(filter, 100, 0))
            assert _walk(storage, filter, size) == expected, (size, filter)
    assert len(_walk(storage, JobFilter(), 4)) == 15


def test_paging_by_key_starts_after_the_cursor_and_keeps_created_before(storage: Storage) -> None:
    now = now_ms()
    jobs = [storage.enqueue(make_job(created_at=now)) for _ in range(6)]
    newest_first = sorted(_ids(jobs), reverse=True)
    cursor = (now, newest_first[2])
    assert _ids(storage.list_jobs(JobFilter(before=cursor), 10, 0)) == newest_first[3:]
    assert _ids(storage.list_jobs(JobFilter(before=cursor), 2, 1)) == newest_first[4:6]
    assert storage.list_jobs(JobFilter(before=cursor, created_before=now - 1), 10, 0) == []
    # A cursor that is no job: the jobs after its place in the order.
    assert _ids(storage.list_jobs(JobFilter(before=(now + 1, "0")), 10, 0)) == newest_first


@pytest.mark.parametrize("before", [(1, 2), ("1", "x"), (-1, "x"), (1,), [1, "x"], (1, "")])
def test_paging_by_key_rejects_a_bad_cursor(storage: Storage, before: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="before"):
        storage.list_jobs(JobFilter(before=before), 10, 0)


def test_queue_depths_without_completed_jobs_list_every_queue(storage: Storage) -> None:
    done = claim_job(storage, storage.enqueue(make_job(queue="reports")).id)
    assert finish(storage, done, JobStatus.COMPLETE)
    failed = claim_job(storage, storage.enqueue(make_job(queue="emails")).id)
    assert finish(storage, failed, JobStatus.DEAD, error="ValueError: no")
    storage.enqueue(make_job(queue="emails"))
    unfinished = [status for status in JobStatus if status is not JobStatus.COMPLETE]
    zero = dict.fromkeys(unfinished, 0)
    assert storage.count_jobs_by_queue(include_complete=False) == {
        "emails": {**zero, JobStatus.PENDING: 1, JobStatus.DEAD: 1},
        "reports": zero,
    }
    assert storage.count_jobs_by_queue()["reports"][JobStatus.COMPLETE] == 1
    counts = storage.count_jobs()
    assert counts[JobStatus.COMPLETE] == 1 and sum(counts.values()) == 3


def _dead_letters(storage: Storage, count: int, at: int) -> list[str]:
    """``count`` dead letters that all failed at ``at``; their ids, newest first."""
    ids = []
    for _ in range(count):
        running = claim_job(storage, storage.enqueue(make_job(queue="dead-end")).id)
        assert storage.finish_many(
            [Finish(running.id, running.attempt, JobStatus.DEAD, error="x", worker_id="worker-1")],
            at,
        ) == [True]
    ids = [letter.id for letter in storage.dead_letters(100, 0)]
    assert len(ids) == count
    return ids


def test_dead_letters_page_by_key_when_they_failed_in_the_same_millisecond(
    storage: Storage,
) -> None:
    now = now_ms()
    newest_first = _dead_letters(storage, 7, now)
    for size in (1, 2, 3, 10):
        seen: list[str] = []
        before = None
        while True:
            page = storage.dead_letters(size, 0, before)
            seen += [letter.id for letter in page]
            if len(page) < size:
                break
            before = (page[-1].failed_at, page[-1].id)
        assert seen == newest_first, size
    third = (now, newest_first[2])
    assert [d.id for d in storage.dead_letters(2, 1, third)] == newest_first[4:6]
    # A letter that is gone: the page starts at the letters that failed before its time.
    assert storage.dead_letters(10, 0, (now, "gone")) == []
    assert [d.id for d in storage.dead_letters(10, 0, (now + 1, "gone"))] == newest_first
    with pytest.raises((TypeError, ValueError), match="before"):
        storage.dead_letters(10, 0, (now, ""))  # type: ignore[arg-type]


# --- SQLite: the query plans ----------------------------------------------------------------


def _sqlite_plan(sql: str, params: list[Any] | tuple[Any, ...]) -> list[str]:
    """The plan of ``sql`` on a fresh schema without statistics (as a new file has)."""
    conn = sqlite3.connect(":memory:")
    try:
        for migration in SQLITE_MIGRATIONS:
            for statement in migration:
                conn.execute(statement)
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    finally:
        conn.close()


def _assert_served_by_an_index(plan: list[str]) -> None:
    for line in plan:
        assert "TEMP B-TREE" not in line, plan
        if line.startswith("SCAN jobs") or line.startswith("SCAN dead_letter"):
            assert "INDEX" in line, plan


@pytest.mark.parametrize("filter", PAGE_FILTERS, ids=repr)
@pytest.mark.parametrize("before", [None, (1_800_000_000_000, "01900000")])
def test_sqlite_job_pages_read_one_index_range(
    filter: JobFilter, before: tuple[int, str] | None
) -> None:
    paged = JobFilter(
        status=filter.status, queue=filter.queue, task_name=filter.task_name, before=before
    )
    plan = _sqlite_plan(*sqlite_queries.list_jobs_query(paged, 21, 0))
    _assert_served_by_an_index(plan)
    if paged == JobFilter():
        assert plan == ["SCAN jobs USING INDEX idx_jobs_created"], plan
    else:
        # A filter or a cursor: a range of an index that holds it, not a walk of them all.
        assert all(line.startswith("SEARCH jobs USING INDEX") for line in plan), plan


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        (sqlite_queries.COUNT_BY_STATUS, ()),
        (sqlite_queries.COUNT_BY_STATUS_IN_QUEUE, ("emails",)),
        (sqlite_queries.COUNT_UNFINISHED_BY_QUEUE, ()),
        (sqlite_queries.QUEUES_WITH_COMPLETED, ()),
        (sqlite_queries.SELECT_DEAD_LETTERS, (21, 0)),
        (sqlite_queries.SELECT_DEAD_LETTERS_BEFORE, (1_800_000_000_000, "x", 21, 0)),
    ],
    ids=["stats", "queue stats", "queue depths", "queue names", "dead letters", "dead by key"],
)
def test_sqlite_counts_and_lists_of_the_pages_use_an_index(sql: str, params: Any) -> None:
    plan = _sqlite_plan(sql, params)
    _assert_served_by_an_index(plan)
    if "dead_letter" not in sql:
        # Counts other than the table's size are ranges of the covering status index.
        searches = [line for line in plan if line.startswith(("SEARCH jobs", "SCAN jobs"))]
        assert all("idx_jobs_status" in line for line in searches[-5:]), plan


# --- Postgres: the query plans --------------------------------------------------------------


def _postgres_plan(url: str, storage: PostgresStorage, query: str, params: Any) -> list[str]:
    """Node types and index names of ``query``'s plan, with sequential scans, bitmap scans
    and sorts priced out: a small test table would rightly be read whole, so what is asserted
    is that the planner has an index that gives the page in order (it picks a priced-out
    node only when it has no other way)."""
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            conn.execute(f"SET LOCAL {setting} = off")
        row = conn.execute("EXPLAIN (FORMAT JSON) " + query, params).fetchone()
        conn.rollback()
    assert row is not None
    nodes: list[str] = []
    pending = [row[0][0]["Plan"]]
    while pending:
        node = pending.pop()
        nodes.append(f"{node['Node Type']} {node.get('Index Name', '')}".strip())
        pending.extend(node.get("Plans", []))
    return nodes


@on_postgres
def test_postgres_job_pages_read_one_index_range_in_order(backend: Backend) -> None:
    from taskito.storage.postgres import queries as pg_queries

    storage = backend.first()
    assert isinstance(storage, PostgresStorage)
    storage.enqueue_many([make_job(queue=("emails", "default")[n % 2]) for n in range(2_000)])
    url = require_postgres()
    for filter in PAGE_FILTERS:
        for before in (None, (1_800_000_000_000, "01900000")):
            paged = JobFilter(
                status=filter.status, queue=filter.queue, task_name=filter.task_name, before=before
            )
            terms, params = pg_queries.list_jobs_terms(paged)
            query = pg_queries.list_jobs_query(storage.schema, terms)
            nodes = _postgres_plan(url, storage, query, [*params, 21, 0])
            assert not any(node.startswith(("Seq Scan", "Sort")) for node in nodes), nodes
            assert any(node.startswith("Index") for node in nodes), nodes


@on_postgres
def test_postgres_queue_depths_read_ranges_of_the_status_index(backend: Backend) -> None:
    storage = backend.first()
    assert isinstance(storage, PostgresStorage)
    storage.enqueue_many([make_job(queue=("emails", "default")[n % 2]) for n in range(2_000)])
    url = require_postgres()
    for query in (storage._stmts.count_unfinished_by_queue, storage._stmts.queues_with_completed):
        nodes = _postgres_plan(url, storage, query, ())
        assert not any(node.startswith("Seq Scan") for node in nodes), nodes
        assert any("idx_jobs_status" in node for node in nodes), nodes


def test_redis_reads_behind_the_pages_walk_indexes_not_the_key_space() -> None:
    """Counts are ZCARDs of the status sets, lists walk the created/status sorted sets, dead
    letters the dead-letter index: nothing a page asks for enumerates keys (KEYS or SCAN,
    whose cost grows with every key of every prefix on the server)."""
    import re
    from pathlib import Path

    import taskito.storage.redis as redis_backend

    folder = Path(redis_backend.__file__).parent
    sources = {
        path.name: path.read_text("utf-8")
        for path in [folder / "reads.py", folder / "storage.py"]
        + [folder / "lua" / f"{name}.lua" for name in ("counts", "dead_letters", "get_jobs")]
    }
    enumerating = re.compile(r"""['"](KEYS|SCAN)['"]|\.(keys|scan|scan_iter)\(""")
    found = {name: enumerating.findall(text) for name, text in sources.items()}
    assert {name: hits for name, hits in found.items() if hits} == {}
