"""The circuit-breaker state machine of ``ControlStorage.breaker_admit``/``breaker_record`` as
pure functions over ``BreakerState``. The SQL backends load a breaker, apply one of these and
store the result inside one transaction; the Redis backend runs the same rules in Lua."""

from __future__ import annotations

from dataclasses import replace

from taskito.storage.control import BreakerState

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
# A half-open breaker whose probes are all out asks callers back this much later.
RETRY_MS = 1000


def admit(breaker: BreakerState, now: int) -> tuple[BreakerState, int | None]:
    """The breaker after one admission check, and None (admitted) or when to try again."""
    if breaker.state == CLOSED:
        return breaker, None
    cooled_at = (breaker.opened_at or 0) + breaker.cooldown_ms
    if breaker.state == HALF_OPEN and breaker.probes_started < breaker.half_open_probes:
        return replace(breaker, probes_started=breaker.probes_started + 1), None
    if now < cooled_at:
        return breaker, cooled_at if breaker.state == OPEN else min(cooled_at, now + RETRY_MS)
    # Open and cooled down, or a half-open round whose probes never all reported (cancelled,
    # or their worker died) for a whole cooldown: begin a new round with this job.
    return replace(_probing(breaker, HALF_OPEN, started=1), opened_at=now), None


def record(breaker: BreakerState, ok: bool, now: int) -> BreakerState:
    """The breaker after one attempt's outcome (``ok``: it completed)."""
    if breaker.state == CLOSED:
        return breaker if ok else _failed(breaker, now)
    if breaker.state == HALF_OPEN:
        return _probed(breaker, ok, now)
    return breaker  # open: outcomes of jobs admitted before it opened change nothing


def _failed(breaker: BreakerState, now: int) -> BreakerState:
    last = breaker.last_failure_at
    in_window = last is not None and now - last <= breaker.window_ms
    count = breaker.failure_count + 1 if in_window else 1
    failed = replace(breaker, failure_count=count, last_failure_at=now)
    return replace(failed, state=OPEN, opened_at=now) if count >= breaker.threshold else failed


def _probed(breaker: BreakerState, ok: bool, now: int) -> BreakerState:
    successes = breaker.probe_successes + int(ok)
    failures = breaker.probe_failures + int(not ok)
    probes = breaker.half_open_probes
    rate = breaker.half_open_success_rate
    if successes / probes >= rate:
        return replace(_probing(breaker, CLOSED), failure_count=0, opened_at=None)
    # The best case from here: every probe not yet answered succeeds.
    reachable = successes + max(0, probes - successes - failures)
    if reachable / probes < rate:
        return replace(_probing(breaker, OPEN), opened_at=now)
    return replace(breaker, probe_successes=successes, probe_failures=failures)


def _probing(breaker: BreakerState, state: str, started: int = 0) -> BreakerState:
    """``state`` with a fresh half-open round (probe counters zero, ``started`` begun)."""
    return replace(
        breaker, state=state, probes_started=started, probe_successes=0, probe_failures=0
    )
