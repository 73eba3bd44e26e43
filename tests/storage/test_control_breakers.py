"""Contract: circuit breakers (breaker_admit, breaker_record, circuit_breakers)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from taskito.job import now_ms
from taskito.storage.base import Storage
from taskito.storage.control import BreakerConfig, BreakerState

CONFIG = BreakerConfig(
    threshold=3,
    window_ms=10_000,
    cooldown_ms=30_000,
    half_open_probes=4,
    half_open_success_rate=0.5,
)
TASK = "tests.flaky"


def _state(storage: Storage, task_name: str = TASK) -> BreakerState:
    found = [state for state in storage.circuit_breakers() if state.task_name == task_name]
    assert len(found) == 1, f"no single breaker for {task_name}: {storage.circuit_breakers()}"
    return found[0]


def _open(storage: Storage, at: int, config: BreakerConfig = CONFIG) -> None:
    """Admit one job and record ``threshold`` failures ending at ``at``: the breaker opens."""
    assert storage.breaker_admit(TASK, config, at - config.threshold) is None
    for offset in range(config.threshold - 1, -1, -1):
        storage.breaker_record(TASK, config, False, at - offset)
    assert _state(storage).state == "open"


def _half_open(storage: Storage, at: int) -> int:
    """Open the breaker at ``at``; return the time it turned half_open (first probe taken)."""
    _open(storage, at)
    probe_at = at + CONFIG.cooldown_ms
    assert storage.breaker_admit(TASK, CONFIG, probe_at) is None
    return probe_at


def test_first_admit_creates_a_closed_breaker_with_its_config(storage: Storage) -> None:
    assert storage.circuit_breakers() == []
    assert storage.breaker_admit(TASK, CONFIG, now_ms()) is None
    assert storage.circuit_breakers() == [
        BreakerState(
            task_name=TASK,
            state="closed",
            failure_count=0,
            last_failure_at=None,
            opened_at=None,
            threshold=3,
            window_ms=10_000,
            cooldown_ms=30_000,
            half_open_probes=4,
            half_open_success_rate=0.5,
        )
    ]


def test_the_latest_config_wins(storage: Storage) -> None:
    now = now_ms()
    assert storage.breaker_admit(TASK, CONFIG, now) is None
    strict = replace(CONFIG, threshold=1, cooldown_ms=5_000, half_open_success_rate=0.75)
    assert storage.breaker_admit(TASK, strict, now + 1) is None
    state = _state(storage)
    assert (state.threshold, state.cooldown_ms, state.half_open_success_rate) == (1, 5_000, 0.75)
    storage.breaker_record(TASK, strict, False, now + 2)
    assert _state(storage).state == "open"
    assert storage.breaker_admit(TASK, strict, now + 3) == now + 2 + 5_000


def test_closed_breaker_opens_at_the_threshold(storage: Storage) -> None:
    now = now_ms()
    assert storage.breaker_admit(TASK, CONFIG, now) is None
    storage.breaker_record(TASK, CONFIG, False, now + 1)
    storage.breaker_record(TASK, CONFIG, False, now + 2)
    state = _state(storage)
    assert (state.state, state.failure_count, state.last_failure_at) == ("closed", 2, now + 2)
    assert storage.breaker_admit(TASK, CONFIG, now + 3) is None
    storage.breaker_record(TASK, CONFIG, False, now + 4)
    state = _state(storage)
    assert (state.state, state.failure_count, state.opened_at) == ("open", 3, now + 4)
    assert state.last_failure_at == now + 4


def test_a_success_in_closed_state_changes_nothing(storage: Storage) -> None:
    now = now_ms()
    assert storage.breaker_admit(TASK, CONFIG, now) is None
    storage.breaker_record(TASK, CONFIG, False, now + 1)
    storage.breaker_record(TASK, CONFIG, False, now + 2)
    before = _state(storage)
    storage.breaker_record(TASK, CONFIG, True, now + 3)
    assert _state(storage) == before


def test_a_failure_outside_the_window_restarts_the_count(storage: Storage) -> None:
    now = now_ms()
    assert storage.breaker_admit(TASK, CONFIG, now) is None
    storage.breaker_record(TASK, CONFIG, False, now)
    storage.breaker_record(TASK, CONFIG, False, now + 1_000)
    late = now + 1_000 + CONFIG.window_ms + 1
    storage.breaker_record(TASK, CONFIG, False, late)
    state = _state(storage)
    assert (state.state, state.failure_count, state.last_failure_at) == ("closed", 1, late)


def test_the_window_runs_from_the_last_failure(storage: Storage) -> None:
    now = now_ms()
    assert storage.breaker_admit(TASK, CONFIG, now) is None
    step = CONFIG.window_ms - 2_000  # each failure is within the window of the one before
    for index in range(3):
        storage.breaker_record(TASK, CONFIG, False, now + index * step)
    state = _state(storage)
    assert (state.state, state.failure_count, state.opened_at) == ("open", 3, now + 2 * step)


def test_open_breaker_refuses_until_the_cooldown_ends(storage: Storage) -> None:
    opened = now_ms()
    _open(storage, opened)
    reopen_at = opened + CONFIG.cooldown_ms
    assert storage.breaker_admit(TASK, CONFIG, opened) == reopen_at
    assert storage.breaker_admit(TASK, CONFIG, reopen_at - 1) == reopen_at
    state = _state(storage)
    assert (state.state, state.opened_at, state.probes_started) == ("open", opened, 0)


def test_open_breaker_ignores_outcomes(storage: Storage) -> None:
    opened = now_ms()
    _open(storage, opened)
    before = _state(storage)
    storage.breaker_record(TASK, CONFIG, False, opened + 10)
    storage.breaker_record(TASK, CONFIG, True, opened + 20)
    assert _state(storage) == before


def test_after_the_cooldown_the_breaker_admits_a_first_probe(storage: Storage) -> None:
    probe_at = _half_open(storage, now_ms())
    state = _state(storage)
    assert (state.state, state.opened_at) == ("half_open", probe_at)  # the round's start
    assert (state.probes_started, state.probe_successes, state.probe_failures) == (1, 0, 0)
    assert storage.breaker_admit(TASK, CONFIG, probe_at + 1) is None
    assert _state(storage).probes_started == 2


def test_half_open_admits_only_the_probe_count(storage: Storage) -> None:
    probe_at = _half_open(storage, now_ms())
    for _ in range(CONFIG.half_open_probes - 1):
        assert storage.breaker_admit(TASK, CONFIG, probe_at) is None
    assert storage.breaker_admit(TASK, CONFIG, probe_at + 7) == probe_at + 7 + 1_000
    assert storage.breaker_admit(TASK, CONFIG, probe_at + 9) == probe_at + 9 + 1_000
    state = _state(storage)
    assert (state.state, state.probes_started) == ("half_open", CONFIG.half_open_probes)


def test_with_every_probe_out_the_retry_time_never_passes_the_round_end(storage: Storage) -> None:
    probe_at = _half_open(storage, now_ms())
    for _ in range(CONFIG.half_open_probes - 1):
        assert storage.breaker_admit(TASK, CONFIG, probe_at) is None
    round_end = probe_at + CONFIG.cooldown_ms
    assert storage.breaker_admit(TASK, CONFIG, round_end - 300) == round_end


def test_probes_that_never_report_do_not_hold_the_breaker_half_open(storage: Storage) -> None:
    """Probes cancelled or lost with their worker: after a cooldown a new round begins."""
    probe_at = _half_open(storage, now_ms())
    for _ in range(CONFIG.half_open_probes - 1):
        assert storage.breaker_admit(TASK, CONFIG, probe_at) is None
    storage.breaker_record(TASK, CONFIG, True, probe_at + 1)  # one of four reported
    new_round = probe_at + CONFIG.cooldown_ms
    assert storage.breaker_admit(TASK, CONFIG, new_round - 1) is not None
    assert storage.breaker_admit(TASK, CONFIG, new_round) is None
    state = _state(storage)
    assert (state.state, state.opened_at) == ("half_open", new_round)
    assert (state.probes_started, state.probe_successes, state.probe_failures) == (1, 0, 0)


def test_half_open_closes_once_the_success_rate_is_reached(storage: Storage) -> None:
    probe_at = _half_open(storage, now_ms())
    for _ in range(CONFIG.half_open_probes - 1):
        assert storage.breaker_admit(TASK, CONFIG, probe_at) is None
    storage.breaker_record(TASK, CONFIG, True, probe_at + 1)
    storage.breaker_record(TASK, CONFIG, False, probe_at + 2)
    state = _state(storage)
    assert (state.state, state.probe_successes, state.probe_failures) == ("half_open", 1, 1)
    storage.breaker_record(TASK, CONFIG, True, probe_at + 3)
    state = _state(storage)
    assert (state.state, state.opened_at) == ("closed", None)
    assert (state.probes_started, state.probe_successes, state.probe_failures) == (0, 0, 0)
    assert state.failure_count == 0
    assert storage.breaker_admit(TASK, CONFIG, probe_at + 4) is None
    storage.breaker_record(TASK, CONFIG, False, probe_at + 5)
    assert (_state(storage).state, _state(storage).failure_count) == ("closed", 1)


def test_half_open_reopens_once_the_rate_is_unreachable(storage: Storage) -> None:
    probe_at = _half_open(storage, now_ms())
    for _ in range(CONFIG.half_open_probes - 1):
        assert storage.breaker_admit(TASK, CONFIG, probe_at) is None
    storage.breaker_record(TASK, CONFIG, False, probe_at + 1)
    storage.breaker_record(TASK, CONFIG, False, probe_at + 2)
    assert _state(storage).state == "half_open"  # 2 of 4 can still succeed: 0.5 is reachable
    storage.breaker_record(TASK, CONFIG, False, probe_at + 3)
    state = _state(storage)
    assert (state.state, state.opened_at) == ("open", probe_at + 3)
    assert (state.probes_started, state.probe_successes, state.probe_failures) == (0, 0, 0)
    assert storage.breaker_admit(TASK, CONFIG, probe_at + 4) == probe_at + 3 + CONFIG.cooldown_ms


def test_a_full_success_rate_reopens_on_the_first_failed_probe(storage: Storage) -> None:
    now = now_ms()
    strict = replace(CONFIG, half_open_success_rate=1.0)
    _open(storage, now, strict)
    probe_at = now + strict.cooldown_ms
    assert storage.breaker_admit(TASK, strict, probe_at) is None
    storage.breaker_record(TASK, strict, False, probe_at + 1)
    assert (_state(storage).state, _state(storage).opened_at) == ("open", probe_at + 1)


def test_breakers_are_per_task_and_listed_by_name(storage: Storage) -> None:
    now = now_ms()
    for name in ("tests.zeta", "tests.alpha", TASK):
        assert storage.breaker_admit(name, CONFIG, now) is None
    _open(storage, now + 10)
    assert [state.task_name for state in storage.circuit_breakers()] == [
        "tests.alpha",
        TASK,
        "tests.zeta",
    ]
    assert storage.breaker_admit("tests.alpha", CONFIG, now + 11) is None
    assert _state(storage, "tests.zeta").state == "closed"


def test_breaker_state_is_shared_by_two_storage_objects(
    backend_storage_pair: tuple[Storage, Storage],
) -> None:
    one, two = backend_storage_pair
    opened = now_ms()
    _open(one, opened)
    assert two.breaker_admit(TASK, CONFIG, opened + 1) == opened + CONFIG.cooldown_ms
    assert two.breaker_admit(TASK, CONFIG, opened + CONFIG.cooldown_ms) is None
    assert _state(one).state == "half_open"


@pytest.mark.parametrize(
    ("task_name", "config"),
    [
        ("", CONFIG),
        (None, CONFIG),
        (TASK, replace(CONFIG, threshold=0)),
        (TASK, replace(CONFIG, half_open_probes=0)),
        (TASK, replace(CONFIG, cooldown_ms=-1)),
        (TASK, "threshold=3"),
    ],
)
def test_breakers_reject_bad_input(storage: Storage, task_name: object, config: object) -> None:
    now = now_ms()
    assert storage.breaker_admit(TASK, CONFIG, now) is None
    storage.breaker_record(TASK, CONFIG, False, now)
    before = storage.circuit_breakers()
    with pytest.raises((ValueError, TypeError)):
        storage.breaker_admit(task_name, config, now + 1)  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError)):
        storage.breaker_record(task_name, config, False, now + 2)  # type: ignore[arg-type]
    assert storage.circuit_breakers() == before
