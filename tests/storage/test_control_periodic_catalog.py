"""Contract: the schedule catalog (set_periodic_enabled, update_periodic, delete_periodic) and
the rules it relies on: a registration keeps a stored schedule's ``enabled``, and a paused
schedule is neither due nor fired."""

from __future__ import annotations

from dataclasses import replace

import pytest

from taskito.storage.base import Storage
from taskito.storage.control import PeriodicSchedule
from tests.storage.factories import make_job

SLOT = 1_700_000_000_000
MINUTE_MS = 60_000


def _schedule(name: str = "nightly", **overrides: object) -> PeriodicSchedule:
    fields: dict[str, object] = {
        "name": name,
        "task_name": "tests.report",
        "cron": "0 0 * * * *",
        "timezone": None,
        "queue": "periodic",
        "payload": b"args",
        "next_run": SLOT,
    }
    fields.update(overrides)
    return PeriodicSchedule(**fields)  # type: ignore[arg-type]


def _only(storage: Storage) -> PeriodicSchedule:
    (schedule,) = storage.periodic_schedules()
    return schedule


def test_pause_keeps_next_run_and_takes_the_schedule_off_the_due_list(storage: Storage) -> None:
    storage.register_periodic(_schedule())
    assert storage.set_periodic_enabled("nightly", False, None) is True
    assert _only(storage) == replace(_schedule(), enabled=False)
    assert storage.due_periodic(SLOT + MINUTE_MS) == []


def test_a_paused_schedule_does_not_fire_even_when_its_slot_was_seen_due(
    storage: Storage,
) -> None:
    storage.register_periodic(_schedule())
    assert [s.name for s in storage.due_periodic(SLOT)] == ["nightly"]
    storage.set_periodic_enabled("nightly", False, None)
    assert storage.fire_periodic("nightly", SLOT, SLOT + MINUTE_MS, make_job()) is None
    assert sum(storage.count_jobs().values()) == 0
    assert _only(storage).next_run == SLOT


def test_resume_takes_the_given_next_run(storage: Storage) -> None:
    storage.register_periodic(_schedule(enabled=False))
    later = SLOT + 30 * MINUTE_MS
    assert storage.set_periodic_enabled("nightly", True, later) is True
    assert _only(storage) == replace(_schedule(), next_run=later)
    assert storage.due_periodic(later - 1) == []
    assert [s.name for s in storage.due_periodic(later)] == ["nightly"]
    assert storage.fire_periodic("nightly", later, later + MINUTE_MS, make_job()) is not None


def test_registering_again_keeps_a_paused_schedule_paused(storage: Storage) -> None:
    storage.register_periodic(_schedule())
    storage.set_periodic_enabled("nightly", False, None)
    stored = storage.register_periodic(_schedule(payload=b"new", enabled=True))
    assert stored.enabled is False
    assert _only(storage).enabled is False
    assert storage.due_periodic(SLOT + MINUTE_MS) == []


def test_registering_a_new_cron_keeps_a_paused_schedule_paused(storage: Storage) -> None:
    storage.register_periodic(_schedule())
    storage.set_periodic_enabled("nightly", False, None)
    stored = storage.register_periodic(_schedule(cron="*/5 * * * * *", next_run=SLOT + 5))
    assert (stored.enabled, stored.cron, stored.next_run) == (False, "*/5 * * * * *", SLOT + 5)
    assert storage.due_periodic(SLOT + MINUTE_MS) == []


def test_update_changes_cron_timezone_and_next_run_and_keeps_the_rest(storage: Storage) -> None:
    storage.register_periodic(_schedule(enabled=False, last_run=SLOT - MINUTE_MS))
    assert storage.update_periodic("nightly", "*/10 * * * * *", "Asia/Tokyo", SLOT + 10) is True
    assert _only(storage) == replace(
        _schedule(),
        cron="*/10 * * * * *",
        timezone="Asia/Tokyo",
        next_run=SLOT + 10,
        enabled=False,
        last_run=SLOT - MINUTE_MS,
    )
    assert storage.due_periodic(SLOT + MINUTE_MS) == []  # still paused
    assert storage.update_periodic("nightly", "0 0 * * * *", None, SLOT) is True
    assert _only(storage).timezone is None


def test_update_of_an_enabled_schedule_moves_its_due_time(storage: Storage) -> None:
    storage.register_periodic(_schedule())
    storage.update_periodic("nightly", "0 0 0 * * *", None, SLOT + 99 * MINUTE_MS)
    assert storage.due_periodic(SLOT + MINUTE_MS) == []
    assert [s.name for s in storage.due_periodic(SLOT + 99 * MINUTE_MS)] == ["nightly"]


def test_delete_removes_the_schedule_and_keeps_its_jobs(storage: Storage) -> None:
    storage.register_periodic(_schedule())
    storage.register_periodic(_schedule("other"))
    assert storage.fire_periodic("nightly", SLOT, SLOT + MINUTE_MS, make_job()) is not None
    assert storage.delete_periodic("nightly") is True
    assert [s.name for s in storage.periodic_schedules()] == ["other"]
    assert [s.name for s in storage.due_periodic(SLOT + 2 * MINUTE_MS)] == ["other"]
    assert sum(storage.count_jobs().values()) == 1
    assert storage.delete_periodic("nightly") is False


def test_unknown_names_return_false_and_create_nothing(storage: Storage) -> None:
    assert storage.set_periodic_enabled("missing", False, None) is False
    assert storage.set_periodic_enabled("missing", True, SLOT) is False
    assert storage.update_periodic("missing", "* * * * * *", None, SLOT) is False
    assert storage.delete_periodic("missing") is False
    assert storage.periodic_schedules() == []


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.set_periodic_enabled("", True, None), ValueError),
        (lambda s: s.set_periodic_enabled("n", "yes", None), TypeError),
        (lambda s: s.set_periodic_enabled("n", True, "soon"), ValueError),
        (lambda s: s.update_periodic("n", "", None, SLOT), ValueError),
        (lambda s: s.update_periodic("n", "* * * * * *", "", SLOT), ValueError),
        (lambda s: s.delete_periodic(""), ValueError),
    ],
    ids=["empty-name", "enabled-str", "next-run-str", "empty-cron", "empty-zone", "delete-empty"],
)
def test_bad_arguments_raise(storage: Storage, call: object, error: type[Exception]) -> None:
    storage.register_periodic(_schedule("n"))
    with pytest.raises(error):
        call(storage)  # type: ignore[operator]
    assert _only(storage) == _schedule("n")
