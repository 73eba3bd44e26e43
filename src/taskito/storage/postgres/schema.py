"""The PostgreSQL schema: name checks, forward migrations applied inside the named schema, and
the version check run when a storage object opens.

Migration N (1-based) is ``MIGRATIONS[N - 1]``; append new ones, never edit applied ones.
Statements are templates: ``{s}`` becomes the quoted schema name (``psycopg.sql.Identifier``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from taskito.exceptions import DatabaseCorruptError, SchemaVersionError
from taskito.storage.postgres.queries import render

if TYPE_CHECKING:
    import psycopg

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")

# Status codes inside SQL text are the integer JobStatus codes: pending 0, running 1,
# complete 2, failed 3, dead 4, cancelled 5. Partial indexes serve only queries whose WHERE
# repeats the same literal terms, so postgres_queries uses the same literals.
# Times are BIGINT ms since the epoch in the caller's clock, except jobs.lease_expires_at,
# which is on the server's clock (see PostgresStorage.claim). Ids and names compare
# byte-wise (COLLATE "C") so that ordering by id matches every other backend.
_MIGRATION_1 = (
    """
    CREATE TABLE {s}.jobs (
        id TEXT COLLATE "C" PRIMARY KEY,
        queue TEXT COLLATE "C" NOT NULL,
        task_name TEXT COLLATE "C" NOT NULL,
        payload BYTEA NOT NULL,
        status SMALLINT NOT NULL DEFAULT 0,
        priority BIGINT NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL,
        scheduled_at BIGINT NOT NULL,
        retry_count BIGINT NOT NULL DEFAULT 0,
        max_retries BIGINT NOT NULL DEFAULT 0,
        timeout_ms BIGINT,
        started_at BIGINT,
        completed_at BIGINT,
        result BYTEA,
        error TEXT,
        unique_key TEXT COLLATE "C",
        progress SMALLINT,
        metadata TEXT,
        cancel_requested SMALLINT NOT NULL DEFAULT 0,
        expires_at BIGINT,
        result_ttl_ms BIGINT,
        namespace TEXT COLLATE "C",
        worker_id TEXT COLLATE "C",
        attempt BIGINT NOT NULL DEFAULT 0,
        lease_expires_at BIGINT
    )
    """,
    # Every index costs a write per enqueue, so there are few. The claim index holds only
    # pending rows, per queue in claim order (a claim on every queue walks the queues).
    "CREATE INDEX idx_jobs_claim ON {s}.jobs (queue, priority DESC, scheduled_at, id)"
    " WHERE status = 0",
    "CREATE INDEX idx_jobs_expiry ON {s}.jobs (expires_at)"
    " WHERE status = 0 AND expires_at IS NOT NULL",
    "CREATE UNIQUE INDEX uq_jobs_unique_key ON {s}.jobs (unique_key)"
    " WHERE unique_key IS NOT NULL AND status IN (0, 1)",
    # cancel_requested: 0 none, 1 cooperative, 2 forced. The cancel watcher's query reads
    # this tiny index only.
    "CREATE INDEX idx_jobs_cancel_requested ON {s}.jobs (id) INCLUDE (cancel_requested)"
    " WHERE cancel_requested > 0 AND status = 1",
    "CREATE INDEX idx_jobs_lease ON {s}.jobs (lease_expires_at) WHERE status = 1",
    "CREATE INDEX idx_jobs_created ON {s}.jobs (created_at, id)",
    # counts per status and queue, purge_queue, purge_completed
    "CREATE INDEX idx_jobs_status ON {s}.jobs (status, queue, completed_at)",
    """
    CREATE TABLE {s}.job_dependencies (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id TEXT COLLATE "C" NOT NULL,
        depends_on_job_id TEXT COLLATE "C" NOT NULL
    )
    """,
    "CREATE INDEX idx_job_dependencies_job ON {s}.job_dependencies (job_id)",
    "CREATE INDEX idx_job_dependencies_parent ON {s}.job_dependencies (depends_on_job_id)",
    """
    CREATE TABLE {s}.job_errors (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id TEXT COLLATE "C" NOT NULL,
        attempt BIGINT NOT NULL,
        error TEXT NOT NULL,
        failed_at BIGINT NOT NULL
    )
    """,
    "CREATE INDEX idx_job_errors_job ON {s}.job_errors (job_id, attempt)",
    """
    CREATE TABLE {s}.dead_letter (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT COLLATE "C" NOT NULL UNIQUE,
        original_job_id TEXT COLLATE "C" NOT NULL,
        queue TEXT COLLATE "C" NOT NULL,
        task_name TEXT COLLATE "C" NOT NULL,
        payload BYTEA NOT NULL,
        error TEXT,
        retry_count BIGINT NOT NULL,
        failed_at BIGINT NOT NULL,
        metadata TEXT,
        priority BIGINT NOT NULL,
        max_retries BIGINT NOT NULL,
        timeout_ms BIGINT,
        result_ttl_ms BIGINT,
        namespace TEXT COLLATE "C"
    )
    """,
    "CREATE INDEX idx_dead_letter_failed ON {s}.dead_letter (failed_at, seq)",
    """
    CREATE TABLE {s}.workers (
        worker_id TEXT COLLATE "C" PRIMARY KEY,
        hostname TEXT NOT NULL,
        pid BIGINT NOT NULL,
        queues TEXT[],
        pool_type TEXT NOT NULL,
        threads BIGINT NOT NULL,
        status TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        last_heartbeat BIGINT NOT NULL,
        tags TEXT[] NOT NULL
    )
    """,
    """
    CREATE TABLE {s}.task_logs (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id TEXT COLLATE "C" NOT NULL,
        task_name TEXT COLLATE "C" NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL,
        extra TEXT,
        logged_at BIGINT NOT NULL
    )
    """,
    "CREATE INDEX idx_task_logs_job ON {s}.task_logs (job_id, logged_at)",
    "CREATE INDEX idx_task_logs_time ON {s}.task_logs (logged_at)",
)

# Flow control (storage/control.py): queue state, rate slots, circuit breakers, periodic
# schedules, locks, the archive, replay history and settings. Every table is small or
# append-only; the one new index on jobs holds only finished jobs that carry a result TTL.
_MIGRATION_2 = (
    # A row per paused queue: the claim probes this (usually empty) table once per queue.
    'CREATE TABLE {s}.paused_queues (queue TEXT COLLATE "C" PRIMARY KEY,'
    " paused_at BIGINT NOT NULL)",
    'CREATE TABLE {s}.rate_slots (key TEXT COLLATE "C" PRIMARY KEY, next_free_at BIGINT NOT NULL)',
    """
    CREATE TABLE {s}.circuit_breakers (
        task_name TEXT COLLATE "C" PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
        failure_count BIGINT NOT NULL DEFAULT 0,
        last_failure_at BIGINT,
        opened_at BIGINT,
        threshold BIGINT NOT NULL,
        window_ms BIGINT NOT NULL,
        cooldown_ms BIGINT NOT NULL,
        half_open_probes BIGINT NOT NULL,
        half_open_success_rate DOUBLE PRECISION NOT NULL,
        probes_started BIGINT NOT NULL DEFAULT 0,
        probe_successes BIGINT NOT NULL DEFAULT 0,
        probe_failures BIGINT NOT NULL DEFAULT 0
    )
    """,
    """
    CREATE TABLE {s}.periodic_schedules (
        name TEXT COLLATE "C" PRIMARY KEY,
        task_name TEXT COLLATE "C" NOT NULL,
        cron TEXT NOT NULL,
        timezone TEXT,
        queue TEXT COLLATE "C" NOT NULL,
        payload BYTEA NOT NULL,
        next_run BIGINT NOT NULL,
        last_run BIGINT,
        enabled BOOLEAN NOT NULL
    )
    """,
    "CREATE INDEX idx_periodic_due ON {s}.periodic_schedules (next_run) WHERE enabled",
    """
    CREATE TABLE {s}.locks (
        name TEXT COLLATE "C" PRIMARY KEY,
        owner_id TEXT COLLATE "C" NOT NULL,
        acquired_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
    )
    """,
    # The jobs columns, without the claim-time indexes: archived rows are only listed.
    """
    CREATE TABLE {s}.archived_jobs (
        id TEXT COLLATE "C" PRIMARY KEY,
        queue TEXT COLLATE "C" NOT NULL,
        task_name TEXT COLLATE "C" NOT NULL,
        payload BYTEA NOT NULL,
        status SMALLINT NOT NULL,
        priority BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        scheduled_at BIGINT NOT NULL,
        retry_count BIGINT NOT NULL,
        max_retries BIGINT NOT NULL,
        timeout_ms BIGINT,
        started_at BIGINT,
        completed_at BIGINT,
        result BYTEA,
        error TEXT,
        unique_key TEXT COLLATE "C",
        progress SMALLINT,
        metadata TEXT,
        cancel_requested SMALLINT NOT NULL,
        expires_at BIGINT,
        result_ttl_ms BIGINT,
        namespace TEXT COLLATE "C",
        worker_id TEXT COLLATE "C",
        attempt BIGINT NOT NULL,
        lease_expires_at BIGINT
    )
    """,
    "CREATE INDEX idx_archived_jobs_completed ON {s}.archived_jobs (completed_at, id)",
    """
    CREATE TABLE {s}.replay_history (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        original_job_id TEXT COLLATE "C" NOT NULL,
        replay_job_id TEXT COLLATE "C" NOT NULL,
        replayed_at BIGINT NOT NULL,
        original_error TEXT
    )
    """,
    "CREATE INDEX idx_replay_history_original ON {s}.replay_history (original_job_id, id)",
    """
    CREATE TABLE {s}.settings (
        key TEXT COLLATE "C" PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at BIGINT NOT NULL
    )
    """,
    # purge_expired_results: a job enters this index only when it finishes with a TTL. The
    # TTL is capped at 2**62 ms so the sum cannot overflow BIGINT, which would fail the
    # finish of a job with an absurd TTL (the cap is 146 million years).
    "CREATE INDEX idx_jobs_result_expiry ON {s}.jobs"
    " ((completed_at + LEAST(result_ttl_ms, 4611686018427387904)))"
    " WHERE result_ttl_ms IS NOT NULL AND status >= 2",
)

# Rescues counted apart from retries (docs/architecture.md, invariant 4): a job sent back to
# pending because its worker died or gave it up keeps its retries; after a cap it is dead-lettered
# instead. A constant default adds the column without rewriting the table.
_MIGRATION_3 = (
    "ALTER TABLE {s}.jobs ADD COLUMN rescue_count BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE {s}.archived_jobs ADD COLUMN rescue_count BIGINT NOT NULL DEFAULT 0",
)

# Locks carry a fencing token, a counter per lock name that every acquisition increases. A
# released lock keeps its row (owner '' and expired), so its counter survives the release.
_MIGRATION_4 = ("ALTER TABLE {s}.locks ADD COLUMN fencing_token BIGINT NOT NULL DEFAULT 0",)

# Task metrics: one row per finished attempt, inserted by finish_many's statement with its
# outcome. Rows arrive in finished_at order; reads (a window) and purges (the oldest rows) walk
# the one index.
_MIGRATION_5 = (
    """
    CREATE TABLE {s}.task_metrics (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        task_name TEXT COLLATE "C" NOT NULL,
        queue TEXT COLLATE "C" NOT NULL,
        job_id TEXT COLLATE "C" NOT NULL,
        attempt BIGINT NOT NULL,
        outcome TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        finished_at BIGINT NOT NULL,
        wall_ns BIGINT NOT NULL
    )
    """,
    "CREATE INDEX idx_task_metrics_finished ON {s}.task_metrics (finished_at, id)",
)

# The dashboard's filtered job pages read 20 rows from the top of one of these, not a walk
# of idx_jobs_created (or a sort); one entry each per enqueue (docs/benchmarks.md).
_MIGRATION_DASHBOARD_INDEXES = (
    "CREATE INDEX idx_jobs_status_created ON {s}.jobs (status, created_at, id)",
    "CREATE INDEX idx_jobs_queue_created ON {s}.jobs (queue, created_at, id)",
    "CREATE INDEX idx_jobs_task_created ON {s}.jobs (task_name, created_at, id)",
)

# Worker resources: their names (a JSON list) and health at the last heartbeat (JSON object).
_MIGRATION_RESOURCES = (
    "ALTER TABLE {s}.workers ADD COLUMN IF NOT EXISTS resources TEXT",
    "ALTER TABLE {s}.workers ADD COLUMN IF NOT EXISTS resource_health TEXT",
)

# Dead-letter management: the automatic retry's count in its own column (a job carries it to
# its next dead letter; the user's metadata is never touched), and the keyset orders of the
# dead-letter pages (newest first by failed_at then id, per task too) and of the error purge.
_MIGRATION_DEAD_LETTERS = (
    "ALTER TABLE {s}.jobs ADD COLUMN dlq_retry_count BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE {s}.dead_letter ADD COLUMN dlq_retry_count BIGINT NOT NULL DEFAULT 0",
    "CREATE INDEX idx_dead_letter_keyset ON {s}.dead_letter (failed_at, id)",
    "CREATE INDEX idx_dead_letter_task ON {s}.dead_letter (task_name, failed_at, id)",
    "CREATE INDEX idx_job_errors_failed ON {s}.job_errors (failed_at)",
)

# Durable workflows (docs/workflows.md): definitions once per (name, version, digest), one row
# per run and one per node. The sweep reads runs due for an advance and gates past their
# deadline through partial indexes; a finish settles the open node of its job through
# idx_workflow_nodes_open_job (its WHERE repeated literally by queries.FINISH_MANY_CTES).
_MIGRATION_WORKFLOWS = (
    """
    CREATE TABLE {s}.workflow_definitions (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        digest TEXT COLLATE "C" NOT NULL,
        dag TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        UNIQUE (name, version, digest)
    )
    """,
    """
    CREATE TABLE {s}.workflow_runs (
        id TEXT COLLATE "C" PRIMARY KEY,
        definition_id TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        namespace TEXT COLLATE "C",
        state TEXT COLLATE "C" NOT NULL,
        on_failure TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        completed_at BIGINT,
        error TEXT,
        parent_run_id TEXT COLLATE "C",
        parent_node_name TEXT COLLATE "C",
        base_run_id TEXT COLLATE "C",
        advance_due_at BIGINT
    )
    """,
    "CREATE INDEX idx_workflow_runs_due ON {s}.workflow_runs (advance_due_at, id)"
    " WHERE advance_due_at IS NOT NULL",
    "CREATE INDEX idx_workflow_runs_page ON {s}.workflow_runs (namespace, started_at, id)",
    "CREATE INDEX idx_workflow_runs_parent ON {s}.workflow_runs (parent_run_id, started_at, id)"
    " WHERE parent_run_id IS NOT NULL",
    """
    CREATE TABLE {s}.workflow_nodes (
        run_id TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        kind TEXT COLLATE "C" NOT NULL,
        status TEXT COLLATE "C" NOT NULL,
        position BIGINT NOT NULL,
        job_id TEXT COLLATE "C",
        error TEXT,
        result_hash TEXT,
        payload BYTEA,
        condition_blob BYTEA,
        fan_out_index BIGINT,
        fan_out_count BIGINT,
        child_run_id TEXT COLLATE "C",
        gate_deadline_at BIGINT,
        gate_decision TEXT,
        input_digest TEXT,
        started_at BIGINT,
        completed_at BIGINT,
        PRIMARY KEY (run_id, name)
    )
    """,
    "CREATE INDEX idx_workflow_nodes_job ON {s}.workflow_nodes (job_id) WHERE job_id IS NOT NULL",
    "CREATE INDEX idx_workflow_nodes_open_job ON {s}.workflow_nodes (job_id)"
    " WHERE job_id IS NOT NULL AND status IN ('pending', 'ready', 'running', 'waiting_approval')",
    "CREATE INDEX idx_workflow_nodes_gate ON {s}.workflow_nodes (status, gate_deadline_at)"
    " WHERE gate_deadline_at IS NOT NULL",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    _MIGRATION_1,
    _MIGRATION_2,
    _MIGRATION_3,
    _MIGRATION_4,
    _MIGRATION_5,
    _MIGRATION_DASHBOARD_INDEXES,
    _MIGRATION_RESOURCES,
    _MIGRATION_DEAD_LETTERS,
    _MIGRATION_WORKFLOWS,
)
SCHEMA_VERSION = len(MIGRATIONS)

_TABLE_NAMES = (
    "jobs",
    "job_dependencies",
    "job_errors",
    "dead_letter",
    "workers",
    "task_logs",
    "paused_queues",
    "rate_slots",
    "circuit_breakers",
    "periodic_schedules",
    "locks",
    "archived_jobs",
    "replay_history",
    "settings",
    "task_metrics",
    "workflow_definitions",
    "workflow_runs",
    "workflow_nodes",
)


def validate_schema_name(schema: object) -> str:
    """Return ``schema`` when it is a plain PostgreSQL identifier, else raise ``ValueError``."""
    if not isinstance(schema, str) or _IDENTIFIER.fullmatch(schema) is None:
        raise ValueError(
            "schema must be a PostgreSQL identifier: a letter or underscore, then letters,"
            f" digits, underscores or '$', at most 63 characters; got {schema!r}"
        )
    if schema.lower().startswith("pg_"):
        raise ValueError(f"schema names starting with 'pg_' are reserved by PostgreSQL: {schema!r}")
    return schema


def _qualified_name(schema: str, table: str) -> str:
    return render("{s}." + table, schema)


def stored_version(conn: psycopg.Connection[Any], schema: str) -> int:
    """The schema version recorded in ``schema``; 0 when it has no ``schema_version`` table."""
    (exists,) = _one(
        conn, "SELECT to_regclass(%s) IS NOT NULL", (_qualified_name(schema, "schema_version"),)
    )
    if not exists:
        return 0
    (version,) = _one(conn, render("SELECT max(version) FROM {s}.schema_version", schema), ())
    return int(version) if version is not None else 0


def _one(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...]) -> tuple[Any, ...]:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return tuple(row)


def _ensure_supported(version: int, schema: str, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"schema {schema!r} on {where} has schema version {version}, but this taskito only"
            f" knows versions up to {SCHEMA_VERSION}: upgrade taskito to use it"
        )


def migrate(conn: psycopg.Connection[Any], schema: str, where: str) -> None:
    """Create or upgrade ``schema`` (``conn`` is in autocommit mode).

    An up-to-date schema costs two reads and no lock. Otherwise the work runs in one
    transaction under a transaction-level advisory lock named after the schema, so processes
    opening a fresh schema at once apply each migration exactly once.
    """
    version = stored_version(conn, schema)
    _ensure_supported(version, schema, where)
    if version == SCHEMA_VERSION:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"taskito.schema:{schema}",))
        # A schema made beforehand (by an administrator, for a role that may not create
        # schemas) is used as it is; CREATE SCHEMA would need that privilege even then.
        exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
        if exists.fetchone() is None:
            conn.execute(render("CREATE SCHEMA IF NOT EXISTS {s}", schema))
        version = stored_version(conn, schema)
        _ensure_supported(version, schema, where)
        if version == 0:
            _refuse_foreign_tables(conn, schema, where)
            conn.execute(
                render("CREATE TABLE {s}.schema_version (version INTEGER NOT NULL)", schema)
            )
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[number - 1]:
                conn.execute(render(statement, schema))
        if version < SCHEMA_VERSION:
            conn.execute(render("DELETE FROM {s}.schema_version", schema))
            conn.execute(
                render("INSERT INTO {s}.schema_version (version) VALUES (%s)", schema),
                (SCHEMA_VERSION,),
            )


def _refuse_foreign_tables(conn: psycopg.Connection[Any], schema: str, where: str) -> None:
    """A schema without ``schema_version`` may hold other tables, but not ones named like ours."""
    rows = conn.execute(
        "SELECT tablename FROM pg_catalog.pg_tables"
        " WHERE schemaname = %s AND tablename = ANY(%s::text[])",
        (schema, list(_TABLE_NAMES)),
    ).fetchall()
    if rows:
        names = ", ".join(sorted(str(row[0]) for row in rows))
        raise DatabaseCorruptError(
            f"schema {schema!r} on {where} is not a taskito schema: it has tables named {names}"
            " but no schema_version"
        )
