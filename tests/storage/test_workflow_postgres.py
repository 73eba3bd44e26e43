"""What only the PostgreSQL backend promises about the workflow half: the settlement that
rides in every finish statement looks the finished jobs' open nodes up by index, so a finish
reads a few rows of a long history of workflow nodes, not all of them."""

from __future__ import annotations

from typing import Any

from taskito.job import JobStatus, now_ms
from taskito.storage.base import Finish
from taskito.storage.postgres import PostgresStorage
from tests.helpers import require_postgres
from tests.storage.factories import LEASE_MS, Backend, make_job
from tests.storage.postgres_support import on_postgres
from tests.storage.workflow_support import node, run_record


def _scans_of_nodes(url: str, query: str, params: Any) -> list[dict[str, Any]]:
    """The plan nodes that read workflow_nodes or its indexes while ``query`` runs (then
    rolled back)."""
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params).fetchone()
        conn.rollback()
    assert row is not None
    found: list[dict[str, Any]] = []
    pending = [row[0][0]["Plan"]]
    while pending:
        plan = pending.pop()
        index = plan.get("Index Name") or ""
        if plan.get("Relation Name") == "workflow_nodes" or index.startswith("idx_workflow_nodes"):
            found.append(plan)
        pending.extend(plan.get("Plans", []))
    return found


@on_postgres
def test_a_finish_settles_its_nodes_through_the_index_of_open_nodes(backend: Backend) -> None:
    from taskito.storage.postgres import transitions

    storage = backend.first()
    assert isinstance(storage, PostgresStorage)
    history = run_record(state="completed")
    settled = [
        node(history.id, f"old[{i}]", i, status="completed", job_id=f"old-job-{i}")
        for i in range(3_000)
    ]
    storage.create_workflow_run(history, settled, [])
    run = run_record()
    jobs = [make_job(queue="live") for _ in range(16)]
    storage.create_workflow_run(
        run, [node(run.id, f"n{i}", i, job_id=job.id) for i, job in enumerate(jobs)], jobs
    )
    mine = storage.claim("here", ["live"], None, 16, now_ms(), LEASE_MS)
    assert len(mine) == 16
    outcomes = [
        Finish(job.id, job.attempt, JobStatus.COMPLETE, worker_id=job.worker_id) for job in mine
    ]
    params = transitions.finish_params(outcomes, now_ms(), False)
    scans = _scans_of_nodes(require_postgres(), storage._stmts.finish_many, params)
    assert scans, "the finish statement does not touch workflow_nodes"
    for plan in scans:
        read = plan["Actual Rows"] * plan.get("Actual Loops", 1) + plan.get(
            "Rows Removed by Filter", 0
        )
        assert read <= 100, f"{plan['Node Type']} {plan.get('Index Name')} read {read}"
