"""The workflow migration (SQLite 8, Postgres 9): a database written before it, with a running
job, opens at the current version; the job's finish (whose statement now settles workflow
nodes) applies, and a workflow run is stored and settled on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskito.job import JobStatus
from taskito.storage.base import Storage
from taskito.storage.postgres import schema as postgres_schema
from taskito.storage.sqlite import schema as sqlite_schema
from taskito.storage.workflow_contract import WorkflowStorage
from tests.helpers import require_postgres
from tests.storage.factories import claim_job, finish, make_job, start_job
from tests.storage.postgres_support import run_sql
from tests.storage.workflow_support import node, run_record


def _before(storage: Storage) -> str:
    """A running job in a database at the version before (closed after)."""
    try:
        return start_job(storage, task_name="tests.before").id
    finally:
        storage.close()


def _after(storage: Storage, running_id: str) -> None:
    assert isinstance(storage, WorkflowStorage)
    running = storage.get_job(running_id)
    assert running is not None
    assert finish(storage, running, JobStatus.COMPLETE, result=b"old")
    run = run_record()
    job = make_job(queue="after-migration")
    storage.create_workflow_run(run, [node(run.id, "step", 0, job_id=job.id)], [job])
    assert finish(storage, claim_job(storage, job.id), JobStatus.DEAD, error="boom")
    (step,) = storage.workflow_nodes(run.id)
    assert (step.status, step.error) == ("failed", "boom")


def test_a_sqlite_database_from_before_gains_the_workflow_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskito.storage.sqlite import SqliteStorage

    path = str(tmp_path / "taskito.db")
    before = sqlite_schema.MIGRATIONS.index(sqlite_schema._MIGRATION_WORKFLOWS)
    assert before + 1 == 8
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:before])
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", before)
    running_id = _before(SqliteStorage(path))
    monkeypatch.undo()
    storage = SqliteStorage(path)
    try:
        _after(storage, running_id)
    finally:
        storage.close()


@pytest.fixture
def schema_name() -> Iterator[str]:
    url = require_postgres()
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name
    run_sql(url, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_a_postgres_schema_from_before_gains_the_workflow_tables(
    schema_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskito.storage.postgres import PostgresStorage

    url = require_postgres()
    before = postgres_schema.MIGRATIONS.index(postgres_schema._MIGRATION_WORKFLOWS)
    assert before + 1 == 9
    monkeypatch.setattr(postgres_schema, "MIGRATIONS", postgres_schema.MIGRATIONS[:before])
    monkeypatch.setattr(postgres_schema, "SCHEMA_VERSION", before)
    running_id = _before(PostgresStorage(url, schema=schema_name))
    monkeypatch.undo()
    storage = PostgresStorage(url, schema=schema_name)
    try:
        _after(storage, running_id)
    finally:
        storage.close()
