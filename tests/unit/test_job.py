"""Job statuses (codes, parsing, terminal set), the transition table and the job records."""

from __future__ import annotations

import time

import pytest

from taskito.job import (
    TERMINAL_STATUSES,
    TRANSITIONS,
    JobRecord,
    JobStatus,
    NewJob,
    Outcome,
    OutcomeKind,
    can_transition,
    now_ms,
)

SPEC_ORDER = ["pending", "running", "complete", "failed", "dead", "cancelled"]


def test_status_codes_follow_the_spec_order() -> None:
    assert [(status.value, status.code) for status in JobStatus] == [
        (name, code) for code, name in enumerate(SPEC_ORDER)
    ]


@pytest.mark.parametrize("code", range(6))
def test_from_code_inverts_code(code: int) -> None:
    assert JobStatus.from_code(code).code == code
    assert JobStatus.from_code(code).value == SPEC_ORDER[code]


@pytest.mark.parametrize("bad", [-1, 6, 99])
def test_from_code_rejects_unknown_codes(bad: int) -> None:
    with pytest.raises(ValueError, match="Invalid status code"):
        JobStatus.from_code(bad)


@pytest.mark.parametrize("name", SPEC_ORDER)
def test_parse_every_status_name(name: str) -> None:
    assert JobStatus.parse(name) is JobStatus(name)


def test_parse_accepts_completed_as_an_alias_of_complete() -> None:
    assert JobStatus.parse("completed") is JobStatus.COMPLETE


def test_parse_ignores_case_and_surrounding_spaces() -> None:
    assert JobStatus.parse("  Running ") is JobStatus.RUNNING
    assert JobStatus.parse("DEAD") is JobStatus.DEAD


def test_parse_passes_a_status_through() -> None:
    assert JobStatus.parse(JobStatus.CANCELLED) is JobStatus.CANCELLED


@pytest.mark.parametrize("bad", ["done", "", "canceled", "complete d", "pending,running"])
def test_parse_rejects_unknown_names(bad: str) -> None:
    with pytest.raises(ValueError, match=r"^Invalid status: "):
        JobStatus.parse(bad)


@pytest.mark.parametrize("bad", [0, None, b"pending"])
def test_parse_rejects_non_strings(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^Invalid status: "):
        JobStatus.parse(bad)  # type: ignore[arg-type]


def test_terminal_statuses() -> None:
    assert {s for s in JobStatus if s.is_terminal} == {
        JobStatus.COMPLETE,
        JobStatus.FAILED,
        JobStatus.DEAD,
        JobStatus.CANCELLED,
    }
    assert frozenset(s for s in JobStatus if s.is_terminal) == TERMINAL_STATUSES


def test_every_status_has_a_transition_entry() -> None:
    assert set(TRANSITIONS) == set(JobStatus)


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES))
def test_terminal_statuses_have_no_transitions(status: JobStatus) -> None:
    assert TRANSITIONS[status] == frozenset()
    assert not any(can_transition(status, other) for other in JobStatus)


def test_pending_may_only_start_or_be_cancelled() -> None:
    assert TRANSITIONS[JobStatus.PENDING] == {JobStatus.RUNNING, JobStatus.CANCELLED}
    assert can_transition(JobStatus.PENDING, JobStatus.RUNNING)
    assert not can_transition(JobStatus.PENDING, JobStatus.COMPLETE)
    assert not can_transition(JobStatus.PENDING, JobStatus.DEAD)


def test_running_may_go_back_to_pending_or_to_any_terminal_status() -> None:
    assert TRANSITIONS[JobStatus.RUNNING] == {JobStatus.PENDING} | TERMINAL_STATUSES
    assert not can_transition(JobStatus.RUNNING, JobStatus.RUNNING)


def test_now_ms_is_wall_clock_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = now_ms()
    after = time.time_ns() // 1_000_000
    assert isinstance(value, int)
    assert before <= value <= after


def _new_job(**overrides: object) -> NewJob:
    fields: dict[str, object] = {
        "id": "j1",
        "queue": "emails",
        "task_name": "tasks.send",
        "payload": b"\x80payload",
        "priority": 5,
        "created_at": 1_000,
        "scheduled_at": 2_000,
        "max_retries": 3,
        "timeout_ms": 30_000,
        "unique_key": "u",
        "metadata": '{"a": 1}',
        "depends_on": ("j0",),
        "expires_at": 9_000,
        "result_ttl_ms": 60_000,
        "namespace": "ns",
    }
    fields.update(overrides)
    return NewJob(**fields)  # type: ignore[arg-type]


def test_record_from_new_copies_the_job_and_starts_pending() -> None:
    job = _new_job()
    record = JobRecord.from_new(job)

    assert record.status is JobStatus.PENDING
    assert record.retry_count == 0
    assert record.attempt == 0
    assert (record.started_at, record.completed_at, record.result, record.error) == (None,) * 4
    assert not record.cancel_requested
    for name in (
        "id",
        "queue",
        "task_name",
        "payload",
        "priority",
        "created_at",
        "scheduled_at",
        "max_retries",
        "timeout_ms",
        "unique_key",
        "metadata",
        "expires_at",
        "result_ttl_ms",
        "namespace",
    ):
        assert getattr(record, name) == getattr(job, name), name


def test_records_are_slotted() -> None:
    # Not frozen (construction cost on the hot path, see job.py), but no stray attributes.
    record = JobRecord.from_new(_new_job())
    with pytest.raises(AttributeError):
        record.no_such_field = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        _new_job().no_such_field = 1  # type: ignore[attr-defined]


def test_outcome_defaults_and_equality() -> None:
    outcome = Outcome(OutcomeKind.FAILURE, error="Traceback ...", exception_type="ValueError")
    assert outcome.retryable is True
    assert outcome.result is None
    # exception_type is informational and does not take part in equality.
    assert outcome == Outcome(OutcomeKind.FAILURE, error="Traceback ...", exception_type="KeyError")


def test_outcome_kinds() -> None:
    assert {kind.value for kind in OutcomeKind} == {"success", "failure", "cancelled", "timed_out"}
