"""The SQLite schema as a list of forward migrations, and the checks run when a file is opened.

Migration N (1-based) is ``MIGRATIONS[N - 1]``; append new ones, never edit applied ones.
"""

from __future__ import annotations

import os
import sqlite3

from taskito.exceptions import DatabaseCorruptError, SchemaVersionError

_SQLITE_HEADER = b"SQLite format 3\x00"

# Status codes inside SQL text are the integer JobStatus codes: pending 0, running 1,
# complete 2, failed 3, dead 4, cancelled 5. Partial indexes only help queries whose WHERE
# repeats the same literal terms, so the queries in sqlite_queries.py use the same literals.
_MIGRATION_1 = (
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        queue TEXT NOT NULL,
        task_name TEXT NOT NULL,
        payload BLOB NOT NULL,
        status INTEGER NOT NULL DEFAULT 0,
        priority INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        scheduled_at INTEGER NOT NULL,
        retry_count INTEGER NOT NULL DEFAULT 0,
        max_retries INTEGER NOT NULL DEFAULT 0,
        timeout_ms INTEGER,
        started_at INTEGER,
        completed_at INTEGER,
        result BLOB,
        error TEXT,
        unique_key TEXT,
        progress INTEGER,
        metadata TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        expires_at INTEGER,
        result_ttl_ms INTEGER,
        namespace TEXT,
        worker_id TEXT,
        attempt INTEGER NOT NULL DEFAULT 0,
        lease_expires_at INTEGER
    )
    """,
    # Every index costs a page write per enqueue, so there are few. The claim index holds
    # only pending rows, per queue in claim order (a claim on every queue walks the queues).
    "CREATE INDEX idx_jobs_claim ON jobs (queue, priority DESC, scheduled_at, id) WHERE status = 0",
    "CREATE INDEX idx_jobs_expiry ON jobs (expires_at) WHERE status = 0 AND expires_at IS NOT NULL",
    "CREATE UNIQUE INDEX uq_jobs_unique_key ON jobs (unique_key)"
    " WHERE unique_key IS NOT NULL AND status IN (0, 1)",
    # cancel_requested: 0 none, 1 cooperative, 2 forced.
    "CREATE INDEX idx_jobs_cancel_requested ON jobs (id) WHERE cancel_requested > 0",
    "CREATE INDEX idx_jobs_lease ON jobs (lease_expires_at) WHERE status = 1",
    "CREATE INDEX idx_jobs_created ON jobs (created_at, id)",
    # counts per status and queue, purge_queue, purge_completed
    "CREATE INDEX idx_jobs_status ON jobs (status, queue, completed_at)",
    """
    CREATE TABLE job_dependencies (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL,
        depends_on_job_id TEXT NOT NULL
    )
    """,
    "CREATE INDEX idx_job_dependencies_job ON job_dependencies (job_id)",
    "CREATE INDEX idx_job_dependencies_parent ON job_dependencies (depends_on_job_id)",
    """
    CREATE TABLE job_errors (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        error TEXT NOT NULL,
        failed_at INTEGER NOT NULL
    )
    """,
    "CREATE INDEX idx_job_errors_job ON job_errors (job_id, attempt)",
    """
    CREATE TABLE dead_letter (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        original_job_id TEXT NOT NULL,
        queue TEXT NOT NULL,
        task_name TEXT NOT NULL,
        payload BLOB NOT NULL,
        error TEXT,
        retry_count INTEGER NOT NULL,
        failed_at INTEGER NOT NULL,
        metadata TEXT,
        priority INTEGER NOT NULL,
        max_retries INTEGER NOT NULL,
        timeout_ms INTEGER,
        result_ttl_ms INTEGER,
        namespace TEXT
    )
    """,
    "CREATE INDEX idx_dead_letter_failed ON dead_letter (failed_at, seq)",
    """
    CREATE TABLE workers (
        worker_id TEXT PRIMARY KEY,
        hostname TEXT NOT NULL,
        pid INTEGER NOT NULL,
        queues TEXT,
        pool_type TEXT NOT NULL,
        threads INTEGER NOT NULL,
        status TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        last_heartbeat INTEGER NOT NULL,
        tags TEXT NOT NULL,
        resources TEXT,
        resource_health TEXT
    )
    """,
    """
    CREATE TABLE task_logs (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL,
        task_name TEXT NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL,
        extra TEXT,
        logged_at INTEGER NOT NULL
    )
    """,
    "CREATE INDEX idx_task_logs_job ON task_logs (job_id, logged_at)",
    "CREATE INDEX idx_task_logs_time ON task_logs (logged_at)",
)

# Flow control (storage/control.py): queue state, limits, breakers, schedules, locks, the
# archive, replay history and settings. Each table is small or append-only; only one new
# index touches the jobs table, and it holds finished jobs with a result TTL only.
_MIGRATION_2 = (
    # A row per paused queue: the claim reads this (usually empty) table in its transaction.
    "CREATE TABLE paused_queues (queue TEXT PRIMARY KEY, paused_at INTEGER NOT NULL)",
    "CREATE TABLE rate_slots (key TEXT PRIMARY KEY, next_free_at INTEGER NOT NULL)",
    """
    CREATE TABLE circuit_breakers (
        task_name TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
        failure_count INTEGER NOT NULL DEFAULT 0,
        last_failure_at INTEGER,
        opened_at INTEGER,
        threshold INTEGER NOT NULL,
        window_ms INTEGER NOT NULL,
        cooldown_ms INTEGER NOT NULL,
        half_open_probes INTEGER NOT NULL,
        half_open_success_rate REAL NOT NULL,
        probes_started INTEGER NOT NULL DEFAULT 0,
        probe_successes INTEGER NOT NULL DEFAULT 0,
        probe_failures INTEGER NOT NULL DEFAULT 0
    )
    """,
    """
    CREATE TABLE periodic_schedules (
        name TEXT PRIMARY KEY,
        task_name TEXT NOT NULL,
        cron TEXT NOT NULL,
        timezone TEXT,
        queue TEXT NOT NULL,
        payload BLOB NOT NULL,
        next_run INTEGER NOT NULL,
        last_run INTEGER,
        enabled INTEGER NOT NULL
    )
    """,
    "CREATE INDEX idx_periodic_due ON periodic_schedules (next_run) WHERE enabled = 1",
    """
    CREATE TABLE locks (
        name TEXT PRIMARY KEY,
        owner_id TEXT NOT NULL,
        acquired_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    )
    """,
    # The jobs columns, without the claim-time indexes: archived rows are only listed.
    """
    CREATE TABLE archived_jobs (
        id TEXT PRIMARY KEY,
        queue TEXT NOT NULL,
        task_name TEXT NOT NULL,
        payload BLOB NOT NULL,
        status INTEGER NOT NULL,
        priority INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        scheduled_at INTEGER NOT NULL,
        retry_count INTEGER NOT NULL,
        max_retries INTEGER NOT NULL,
        timeout_ms INTEGER,
        started_at INTEGER,
        completed_at INTEGER,
        result BLOB,
        error TEXT,
        unique_key TEXT,
        progress INTEGER,
        metadata TEXT,
        cancel_requested INTEGER NOT NULL,
        expires_at INTEGER,
        result_ttl_ms INTEGER,
        namespace TEXT,
        worker_id TEXT,
        attempt INTEGER NOT NULL,
        lease_expires_at INTEGER
    )
    """,
    "CREATE INDEX idx_archived_jobs_completed ON archived_jobs (completed_at, id)",
    """
    CREATE TABLE replay_history (
        id INTEGER PRIMARY KEY,
        original_job_id TEXT NOT NULL,
        replay_job_id TEXT NOT NULL,
        replayed_at INTEGER NOT NULL,
        original_error TEXT
    )
    """,
    "CREATE INDEX idx_replay_history_original ON replay_history (original_job_id, id)",
    """
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    )
    """,
    # purge_expired_results: a job enters this index only when it finishes with a TTL.
    "CREATE INDEX idx_jobs_result_ttl ON jobs (completed_at)"
    " WHERE result_ttl_ms IS NOT NULL AND status >= 2",
)

# Rescues counted apart from retries (docs/architecture.md, invariant 4): a job sent back to
# pending because its worker died or gave it up keeps its retries; after a cap it is dead-lettered
# instead.
_MIGRATION_3 = (
    "ALTER TABLE jobs ADD COLUMN rescue_count INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE archived_jobs ADD COLUMN rescue_count INTEGER NOT NULL DEFAULT 0",
)

# Locks carry a fencing token, a counter per lock name that every acquisition increases. A
# released lock keeps its row (owner '' and expired), so its counter survives the release.
_MIGRATION_4 = ("ALTER TABLE locks ADD COLUMN fencing_token INTEGER NOT NULL DEFAULT 0",)

# Task metrics: one row per finished attempt, inserted by finish_many with its outcome. Rows
# arrive in finished_at order, so the one index grows at its right edge; reads (a window) and
# purges (the oldest rows) both walk it.
_MIGRATION_5 = (
    """
    CREATE TABLE task_metrics (
        id INTEGER PRIMARY KEY,
        task_name TEXT NOT NULL,
        queue TEXT NOT NULL,
        job_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER NOT NULL,
        wall_ns INTEGER NOT NULL
    )
    """,
    "CREATE INDEX idx_task_metrics_finished ON task_metrics (finished_at)",
)

# The dashboard's job lists (docs/dashboard.md, "Big tables"): a page filtered by status, by
# queue or by task, newest first, starts at the top of one of these and reads its 20 rows,
# where idx_jobs_created alone walks past every job that does not match (all of them, for a
# task or a queue with no jobs) and a status filter sorted every job of that status. Each
# costs one index write per enqueue; the status one also one delete and insert per status
# change (claim, finish), as idx_jobs_status already does. Measured in docs/benchmarks.md.
_MIGRATION_DASHBOARD_INDEXES = (
    "CREATE INDEX idx_jobs_status_created ON jobs (status, created_at, id)",
    "CREATE INDEX idx_jobs_queue_created ON jobs (queue, created_at, id)",
    "CREATE INDEX idx_jobs_task_created ON jobs (task_name, created_at, id)",
)

# Dead-letter management: the automatic retry's count in its own column (a job carries it to
# its next dead letter; the user's metadata is never touched), and the keyset orders of the
# dead-letter pages (newest first by failed_at then id, per task too) and of the error purge.
_MIGRATION_DEAD_LETTERS = (
    "ALTER TABLE jobs ADD COLUMN dlq_retry_count INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE dead_letter ADD COLUMN dlq_retry_count INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX idx_dead_letter_keyset ON dead_letter (failed_at, id)",
    "CREATE INDEX idx_dead_letter_task ON dead_letter (task_name, failed_at, id)",
    "CREATE INDEX idx_job_errors_failed ON job_errors (failed_at)",
)

# Durable workflows (docs/workflows.md): definitions once per (name, version, digest), one row
# per run and one per node. The sweep reads runs due for an advance and gates past their
# deadline through the two partial indexes; a finish settles the node of its job through
# idx_workflow_nodes_open_job.
_MIGRATION_WORKFLOWS = (
    """
    CREATE TABLE workflow_definitions (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        digest TEXT NOT NULL,
        dag TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (name, version, digest)
    )
    """,
    """
    CREATE TABLE workflow_runs (
        id TEXT PRIMARY KEY,
        definition_id TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        namespace TEXT,
        state TEXT NOT NULL,
        on_failure TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        completed_at INTEGER,
        error TEXT,
        parent_run_id TEXT,
        parent_node_name TEXT,
        base_run_id TEXT,
        advance_due_at INTEGER
    )
    """,
    "CREATE INDEX idx_workflow_runs_due ON workflow_runs (advance_due_at)"
    " WHERE advance_due_at IS NOT NULL",
    "CREATE INDEX idx_workflow_runs_page ON workflow_runs (namespace, started_at, id)",
    "CREATE INDEX idx_workflow_runs_parent ON workflow_runs (parent_run_id, started_at, id)"
    " WHERE parent_run_id IS NOT NULL",
    """
    CREATE TABLE workflow_nodes (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        position INTEGER NOT NULL,
        job_id TEXT,
        error TEXT,
        result_hash TEXT,
        payload BLOB,
        condition_blob BLOB,
        fan_out_index INTEGER,
        fan_out_count INTEGER,
        child_run_id TEXT,
        gate_deadline_at INTEGER,
        gate_decision TEXT,
        input_digest TEXT,
        started_at INTEGER,
        completed_at INTEGER,
        PRIMARY KEY (run_id, name)
    )
    """,
    "CREATE INDEX idx_workflow_nodes_job ON workflow_nodes (job_id) WHERE job_id IS NOT NULL",
    # The nodes a finish may settle (transitions.settle_workflow_nodes): empty while no
    # workflow job is in flight, so a batch then costs one probe of an empty index.
    "CREATE INDEX idx_workflow_nodes_open_job ON workflow_nodes (job_id)"
    " WHERE job_id IS NOT NULL AND status IN ('pending', 'ready', 'running', 'waiting_approval')",
    "CREATE INDEX idx_workflow_nodes_gate ON workflow_nodes (status, gate_deadline_at)"
    " WHERE gate_deadline_at IS NOT NULL",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    _MIGRATION_1,
    _MIGRATION_2,
    _MIGRATION_3,
    _MIGRATION_4,
    _MIGRATION_5,
    _MIGRATION_DASHBOARD_INDEXES,
    _MIGRATION_DEAD_LETTERS,
    _MIGRATION_WORKFLOWS,
)
SCHEMA_VERSION = len(MIGRATIONS)


def check_file_header(path: str) -> None:
    """Refuse, without touching it, a non-empty file that is not a SQLite database."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise DatabaseCorruptError(f"{path} is a directory, not a taskito database") from None
    except OSError as exc:
        raise DatabaseCorruptError(f"cannot read database file {path}: {exc}") from exc
    if header and header != _SQLITE_HEADER:
        raise DatabaseCorruptError(f"{path} is not a SQLite database (or it is corrupt)")


def stored_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the file; 0 for a fresh database."""
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if has_table is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def ensure_supported(conn: sqlite3.Connection, path: str) -> None:
    """Raise ``SchemaVersionError`` when a newer taskito wrote the file. Reads only."""
    version = stored_version(conn)
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"database {path} has schema version {version}, but this taskito only knows "
            f"versions up to {SCHEMA_VERSION}: upgrade taskito to open it"
        )


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Apply the missing migrations in one write transaction (safe under racing openers)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        ensure_supported(conn, path)
        version = stored_version(conn)
        if version == 0:
            _refuse_foreign_tables(conn, path)
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[number - 1]:
                conn.execute(statement)
        if version < SCHEMA_VERSION:
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _refuse_foreign_tables(conn: sqlite3.Connection, path: str) -> None:
    """A file without ``schema_version`` may hold other tables, but not ones named like ours."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN"
        " ('jobs', 'job_dependencies', 'job_errors', 'dead_letter', 'workers', 'task_logs',"
        " 'archived_jobs', 'circuit_breakers', 'periodic_schedules', 'replay_history',"
        " 'task_metrics', 'workflow_definitions', 'workflow_runs', 'workflow_nodes')"
    ).fetchall()
    if rows:
        names = ", ".join(sorted(row[0] for row in rows))
        raise DatabaseCorruptError(
            f"{path} is not a taskito database: it has tables named {names} but no schema_version"
        )


def parent_directory_ready(path: str) -> None:
    """Create the directory that will hold the database file (and any missing parent),
    readable by this user only (0700). A directory that exists is left as it is."""
    directory = os.path.dirname(os.path.abspath(path))
    missing: list[str] = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for created in reversed(missing):
        try:
            os.mkdir(created, 0o700)
        except FileExistsError:
            if not os.path.isdir(created):
                raise
            # made by a racing process: leave it as it is


def private_file_ready(path: str) -> None:
    """Create the database file, empty and readable by this user only (0600), before SQLite
    opens it: SQLite gives its -wal and -shm files the mode of the database file. An existing
    file is left as it is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)
