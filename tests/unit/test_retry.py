"""decide(): the pure retry policy, with a deterministic jitter source."""

from __future__ import annotations

import pytest

from taskito.job import JobRecord, JobStatus, Outcome, OutcomeKind
from taskito.retry import CANCELLED_ERROR, RetryPolicy, decide
from taskito.storage.base import Finish

NOW = 1_700_000_000_000


def half() -> float:
    return 0.5


def _job(retry_count: int = 0, max_retries: int = 3, attempt: int = 4) -> JobRecord:
    return JobRecord(
        id="job-1",
        queue="default",
        task_name="tasks.flaky",
        payload=b"",
        status=JobStatus.RUNNING,
        priority=0,
        created_at=NOW - 10_000,
        scheduled_at=NOW - 10_000,
        retry_count=retry_count,
        max_retries=max_retries,
        timeout_ms=None,
        worker_id="worker-1",
        attempt=attempt,
    )


FAILURE = Outcome(OutcomeKind.FAILURE, error="Traceback: boom")


def test_success_completes_with_the_result() -> None:
    outcome = Outcome(OutcomeKind.SUCCESS, result=b"result-bytes")

    assert decide(_job(), outcome, RetryPolicy(), NOW, random=half) == Finish(
        "job-1", 4, JobStatus.COMPLETE, result=b"result-bytes", worker_id="worker-1"
    )


def test_cancelled_is_cancelled_by_request_and_never_retried() -> None:
    finish = decide(_job(), Outcome(OutcomeKind.CANCELLED), RetryPolicy(), NOW, random=half)

    assert finish == Finish(
        "job-1", 4, JobStatus.CANCELLED, error="cancelled by request", worker_id="worker-1"
    )
    assert CANCELLED_ERROR == "cancelled by request"


def test_failure_with_retries_left_is_retried_after_backoff_and_jitter() -> None:
    finish = decide(_job(retry_count=0), FAILURE, RetryPolicy(backoff_s=1.0), NOW, random=half)

    # 1 s * 2**0 + 0.5 * 1 s of jitter
    assert finish == Finish(
        "job-1",
        4,
        JobStatus.PENDING,
        error="Traceback: boom",
        retry_at=NOW + 1_500,
        worker_id="worker-1",
    )


@pytest.mark.parametrize(
    ("retry_count", "delay_ms"), [(0, 2_000 + 1_000), (1, 4_000 + 1_000), (2, 8_000 + 1_000)]
)
def test_backoff_doubles_with_each_retry(retry_count: int, delay_ms: int) -> None:
    finish = decide(
        _job(retry_count=retry_count, max_retries=5),
        FAILURE,
        RetryPolicy(backoff_s=2.0),
        NOW,
        random=half,
    )
    assert finish.status is JobStatus.PENDING
    assert finish.retry_at == NOW + delay_ms


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.75])
def test_jitter_is_the_draw_times_backoff(draw: float) -> None:
    policy = RetryPolicy(backoff_s=4.0)
    finish = decide(_job(retry_count=1), FAILURE, policy, NOW, random=lambda: draw)

    assert finish.retry_at == NOW + 8_000 + int(draw * 4_000)


def test_jitter_stays_below_backoff_at_ms_resolution() -> None:
    policy = RetryPolicy(backoff_s=4.0)
    finish = decide(_job(retry_count=1), FAILURE, policy, NOW, random=lambda: 0.999_999)

    assert finish.retry_at is not None
    jitter_ms = finish.retry_at - NOW - 8_000
    assert 0 <= jitter_ms < 4_000


def test_default_jitter_source_is_in_range() -> None:
    policy = RetryPolicy(backoff_s=1.0)
    for _ in range(200):
        delay_s = policy.delay_s(0)
        assert 1.0 <= delay_s < 2.0


def test_exhausted_retries_go_dead() -> None:
    finish = decide(_job(retry_count=3, max_retries=3), FAILURE, RetryPolicy(), NOW, random=half)
    assert finish == Finish(
        "job-1", 4, JobStatus.DEAD, error="Traceback: boom", worker_id="worker-1"
    )


def test_last_retry_is_still_granted() -> None:
    finish = decide(_job(retry_count=2, max_retries=3), FAILURE, RetryPolicy(), NOW, random=half)
    assert finish.status is JobStatus.PENDING


def test_non_retryable_failure_goes_dead_with_retries_left() -> None:
    outcome = Outcome(OutcomeKind.FAILURE, error="ValueError: bad", retryable=False)
    finish = decide(_job(retry_count=0, max_retries=10), outcome, RetryPolicy(), NOW, random=half)
    assert finish == Finish(
        "job-1", 4, JobStatus.DEAD, error="ValueError: bad", worker_id="worker-1"
    )


def test_max_retries_zero_means_no_retry() -> None:
    finish = decide(_job(retry_count=0, max_retries=0), FAILURE, RetryPolicy(), NOW, random=half)
    assert finish.status is JobStatus.DEAD


def test_timed_out_attempt_is_retried_like_a_failure() -> None:
    outcome = Outcome(OutcomeKind.TIMED_OUT, error="job timed out after 1000ms")
    finish = decide(_job(), outcome, RetryPolicy(backoff_s=1.0), NOW, random=half)
    assert finish.status is JobStatus.PENDING
    assert finish.error == "job timed out after 1000ms"


def test_failure_without_error_text_gets_a_placeholder() -> None:
    finish = decide(_job(max_retries=0), Outcome(OutcomeKind.FAILURE), RetryPolicy(), NOW)
    assert finish.error == "task failed"


def test_retry_delays_override_backoff_per_index_then_fall_back() -> None:
    policy = RetryPolicy(backoff_s=1.0, delays_s=(5.0, 30.0))

    def retry_at(retry_count: int) -> int | None:
        job = _job(retry_count=retry_count, max_retries=5)
        return decide(job, FAILURE, policy, NOW, random=half).retry_at

    assert retry_at(0) == NOW + 5_500
    assert retry_at(1) == NOW + 30_500
    assert retry_at(2) == NOW + 4_500  # past the list: 1 s * 2**2 + jitter


def test_max_retry_delay_caps_the_backoff() -> None:
    policy = RetryPolicy(backoff_s=10.0, max_delay_s=30.0)
    finish = decide(_job(retry_count=6, max_retries=10), FAILURE, policy, NOW, random=half)
    assert finish.retry_at == NOW + 30_000 + 5_000  # cap + jitter


def test_default_cap_is_300_seconds_even_for_huge_retry_counts() -> None:
    policy = RetryPolicy(backoff_s=1.0)
    job = _job(retry_count=10_000, max_retries=20_000)
    finish = decide(job, FAILURE, policy, NOW, random=half)
    assert finish.retry_at == NOW + 300_000 + 500


def test_retry_delays_are_not_capped() -> None:
    policy = RetryPolicy(backoff_s=1.0, delays_s=(900.0,), max_delay_s=60.0)
    assert policy.delay_s(0, half) == 900.5


def test_decide_is_fenced_on_the_attempt() -> None:
    for attempt in (1, 7):
        finish = decide(_job(attempt=attempt), FAILURE, RetryPolicy(), NOW, random=half)
        assert finish.attempt == attempt
