"""What only the PostgreSQL backend promises about its statements: a batch larger than one
statement is still all or nothing, and the query plans of claims, finishes and lease
extensions read a few rows of a long table, not all of it."""

from __future__ import annotations

from typing import Any

import pytest

from taskito.exceptions import UniqueConflictError
from taskito.job import JobStatus, now_ms
from taskito.storage.postgres import PostgresStorage
from tests.helpers import require_postgres
from tests.storage.factories import LEASE_MS, Backend, make_job
from tests.storage.postgres_support import on_postgres

# --- batches and plans --------------------------------------------------------------------------


@on_postgres
def test_a_batch_larger_than_one_statement_is_still_all_or_nothing(
    storage: PostgresStorage,
) -> None:
    storage.enqueue(make_job(unique_key="taken"))
    batch = [make_job() for _ in range(4_500)] + [make_job(unique_key="taken")]
    with pytest.raises(UniqueConflictError, match="UNIQUE"):
        storage.enqueue_many(batch)
    assert sum(storage.count_jobs().values()) == 1


def _scans_of_jobs(url: str, query: str, params: Any) -> list[dict[str, Any]]:
    """The plan nodes that read the jobs table or its indexes while ``query`` runs (then
    rolled back)."""
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params).fetchone()
        conn.rollback()
    assert row is not None
    plan = row[0]
    found: list[dict[str, Any]] = []
    pending = [plan[0]["Plan"]]
    while pending:
        node = pending.pop()
        index = node.get("Index Name") or ""
        if node.get("Relation Name") == "jobs" or index.startswith(("idx_jobs", "jobs_")):
            found.append(node)
        pending.extend(node.get("Plans", []))
    return found


@on_postgres
@pytest.mark.parametrize("queues", [None, ["default"], ["default", "other"]])
def test_a_claim_reads_a_few_rows_of_a_long_queue_without_statistics(
    backend: Backend, queues: list[str] | None
) -> None:
    from taskito.storage.postgres import claim as postgres_claim

    storage = backend.first()
    assert isinstance(storage, PostgresStorage)
    storage.enqueue_many([make_job() for _ in range(5_000)])
    mode, params = postgres_claim.claim_params("w", queues, None, 32, now_ms(), now_ms() + LEASE_MS)
    query = postgres_claim.claim_query(storage.schema, mode, False)
    scans = _scans_of_jobs(require_postgres(), query, params)
    indexes = {node.get("Index Name") for node in scans}
    assert {"idx_jobs_claim", "idx_jobs_expiry"} <= indexes, indexes
    for node in scans:
        read = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
        assert read <= 100, f"{node['Node Type']} on {node.get('Index Name')} read {read} rows"


@on_postgres
def test_finishes_and_lease_extensions_look_their_jobs_up_by_id(backend: Backend) -> None:
    from taskito.storage.base import Finish
    from taskito.storage.postgres import transitions

    storage = backend.first()
    assert isinstance(storage, PostgresStorage)
    storage.enqueue_many([make_job() for _ in range(3_016)])
    assert len(storage.claim("elsewhere", None, None, 3_000, now_ms(), LEASE_MS)) == 3_000
    mine = storage.claim("here", None, None, 16, now_ms(), LEASE_MS)
    ids = [job.id for job in mine]
    outcomes = [
        Finish(job.id, job.attempt, JobStatus.COMPLETE, worker_id=job.worker_id) for job in mine
    ]
    statements: dict[str, tuple[str, Any]] = {
        "finish_many": (storage._stmts.finish_many, transitions.finish_params(outcomes, 1, False)),
        "extend_leases": (storage._stmts.extend_leases, (now_ms(), ids, "here")),
    }
    for name, (query, params) in statements.items():
        for node in _scans_of_jobs(require_postgres(), query, params):
            read = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
            assert read <= 100, f"{name}: {node['Node Type']} {node.get('Index Name')} read {read}"
