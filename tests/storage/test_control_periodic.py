"""Contract: periodic schedules (register_periodic, due_periodic, fire_periodic,
periodic_schedules), including N storages racing for the same slot."""

from __future__ import annotations

from dataclasses import replace

import pytest

from taskito.exceptions import DependencyError
from taskito.job import JobStatus, now_ms
from taskito.storage.base import Storage
from taskito.storage.control import PeriodicSchedule
from tests.storage.factories import Backend, make_job, open_storages, race

MINUTE_MS = 60_000


def _schedule(name: str = "nightly", /, **overrides: object) -> PeriodicSchedule:
    fields: dict[str, object] = {
        "name": name,
        "task_name": "tests.report",
        "cron": "0 0 * * *",
        "timezone": None,
        "queue": "periodic",
        "payload": b"\x80args",
        "next_run": 1_700_000_000_000,
    }
    fields.update(overrides)
    return PeriodicSchedule(**fields)  # type: ignore[arg-type]


def _stored(storage: Storage, name: str = "nightly") -> PeriodicSchedule:
    found = [s for s in storage.periodic_schedules() if s.name == name]
    assert len(found) == 1, f"no single schedule {name!r}: {storage.periodic_schedules()}"
    return found[0]


def _total_jobs(storage: Storage) -> int:
    return sum(storage.count_jobs().values())


def test_register_stores_a_new_schedule(storage: Storage) -> None:
    schedule = _schedule(timezone="Europe/Paris", enabled=False)
    assert storage.register_periodic(schedule) == schedule
    assert storage.periodic_schedules() == [schedule]


def test_reregistering_with_the_same_cron_keeps_next_and_last_run(storage: Storage) -> None:
    slot = now_ms()
    storage.register_periodic(_schedule(next_run=slot))
    assert storage.fire_periodic("nightly", slot, slot + MINUTE_MS, make_job()) is not None
    changed = _schedule(
        task_name="tests.other",
        queue="elsewhere",
        payload=b"new",
        enabled=False,
        next_run=slot + 99 * MINUTE_MS,
    )
    stored = storage.register_periodic(changed)
    # enabled is the stored one: a registration never pauses or resumes a schedule.
    expected = replace(changed, next_run=slot + MINUTE_MS, last_run=slot, enabled=True)
    assert stored == expected
    assert storage.periodic_schedules() == [expected]


@pytest.mark.parametrize(
    "change", [{"cron": "*/5 * * * *"}, {"timezone": "Asia/Tokyo"}], ids=["cron", "timezone"]
)
def test_reregistering_with_a_new_cron_or_timezone_takes_the_new_next_run(
    storage: Storage, change: dict[str, object]
) -> None:
    first = _schedule(next_run=1_000)
    storage.register_periodic(first)
    stored = storage.register_periodic(_schedule(next_run=5_000, **change))
    assert stored.next_run == 5_000
    assert (stored.cron, stored.timezone) == (
        change.get("cron", first.cron),
        change.get("timezone", first.timezone),
    )
    assert _stored(storage) == stored


def test_schedules_are_listed_by_name(storage: Storage) -> None:
    for name in ("weekly", "hourly", "daily"):
        storage.register_periodic(_schedule(name))
    assert [s.name for s in storage.periodic_schedules()] == ["daily", "hourly", "weekly"]


def test_due_periodic_lists_enabled_due_schedules_by_next_run(storage: Storage) -> None:
    now = now_ms()
    storage.register_periodic(_schedule("later-due", next_run=now - 10))
    storage.register_periodic(_schedule("earliest", next_run=now - 500))
    storage.register_periodic(_schedule("exactly-now", next_run=now))
    storage.register_periodic(_schedule("future", next_run=now + 1))
    storage.register_periodic(_schedule("disabled", next_run=now - 900, enabled=False))
    due = storage.due_periodic(now)
    assert [s.name for s in due] == ["earliest", "later-due", "exactly-now"]
    assert due[0] == _stored(storage, "earliest")
    assert storage.due_periodic(now - 1_000) == []


def test_fire_enqueues_the_job_and_advances_the_schedule(storage: Storage) -> None:
    slot = now_ms()
    storage.register_periodic(_schedule(next_run=slot))
    job = make_job(queue="periodic", task_name="tests.report", payload=b"\x80args")
    record = storage.fire_periodic("nightly", slot, slot + MINUTE_MS, job)
    assert record is not None
    assert record.id == job.id and record.status is JobStatus.PENDING
    assert storage.get_job(job.id) == record
    stored = _stored(storage)
    assert (stored.last_run, stored.next_run) == (slot, slot + MINUTE_MS)
    assert storage.due_periodic(slot) == []
    assert [s.name for s in storage.due_periodic(slot + MINUTE_MS)] == ["nightly"]


def test_a_slot_fires_once(storage: Storage) -> None:
    slot = now_ms()
    storage.register_periodic(_schedule(next_run=slot))
    assert storage.fire_periodic("nightly", slot, slot + MINUTE_MS, make_job()) is not None
    before = _stored(storage)
    second = make_job()
    assert storage.fire_periodic("nightly", slot, slot + 2 * MINUTE_MS, second) is None
    assert storage.get_job(second.id) is None
    assert _total_jobs(storage) == 1
    assert _stored(storage) == before


def test_fire_of_a_stale_slot_or_unknown_schedule_changes_nothing(storage: Storage) -> None:
    slot = now_ms()
    storage.register_periodic(_schedule(next_run=slot))
    before = _stored(storage)
    assert storage.fire_periodic("nightly", slot - MINUTE_MS, slot, make_job()) is None
    assert storage.fire_periodic("no-such-schedule", slot, slot + MINUTE_MS, make_job()) is None
    assert _total_jobs(storage) == 0
    assert _stored(storage) == before


def test_fire_honours_the_unique_key_like_enqueue(storage: Storage) -> None:
    slot = now_ms()
    active = storage.enqueue(make_job(unique_key="report-of-the-day"))
    storage.register_periodic(_schedule(next_run=slot))
    record = storage.fire_periodic(
        "nightly", slot, slot + MINUTE_MS, make_job(unique_key="report-of-the-day")
    )
    assert record is not None and record.id == active.id
    assert _total_jobs(storage) == 1
    assert (_stored(storage).last_run, _stored(storage).next_run) == (slot, slot + MINUTE_MS)


def test_a_failed_enqueue_leaves_the_schedule_unfired(storage: Storage) -> None:
    slot = now_ms()
    storage.register_periodic(_schedule(next_run=slot))
    before = _stored(storage)
    orphan = make_job(depends_on=("no-such-parent",))
    with pytest.raises(DependencyError):
        storage.fire_periodic("nightly", slot, slot + MINUTE_MS, orphan)
    assert _stored(storage) == before
    assert _total_jobs(storage) == 0
    assert storage.fire_periodic("nightly", slot, slot + MINUTE_MS, make_job()) is not None


def test_schedules_are_shared_by_two_storage_objects(
    backend_storage_pair: tuple[Storage, Storage],
) -> None:
    one, two = backend_storage_pair
    slot = now_ms()
    one.register_periodic(_schedule(next_run=slot))
    assert [s.name for s in two.due_periodic(slot)] == ["nightly"]
    assert two.fire_periodic("nightly", slot, slot + MINUTE_MS, make_job()) is not None
    assert one.fire_periodic("nightly", slot, slot + MINUTE_MS, make_job()) is None
    assert _stored(one).last_run == slot


def test_racing_storages_fire_each_slot_once(backend: Backend) -> None:
    storages = open_storages(backend, 4)
    start = now_ms()
    storages[0].register_periodic(_schedule(next_run=start))
    for round_index in range(5):
        slot = start + round_index * MINUTE_MS

        def fire(storage: Storage, slot: int = slot) -> str | None:
            record = storage.fire_periodic("nightly", slot, slot + MINUTE_MS, make_job())
            return None if record is None else record.id

        fired = [job_id for job_id in race(storages, fire) if job_id is not None]
        assert len(fired) == 1, f"slot {round_index} fired {len(fired)} times"
        assert _stored(storages[0]).last_run == slot
    assert _total_jobs(storages[0]) == 5


@pytest.mark.parametrize(
    "bad",
    [
        _schedule(""),
        _schedule(task_name=""),
        _schedule(payload="not bytes"),
        "nightly",
    ],
    ids=["empty-name", "empty-task", "str-payload", "not-a-schedule"],
)
def test_register_rejects_bad_input(storage: Storage, bad: object) -> None:
    storage.register_periodic(_schedule("kept"))
    with pytest.raises((ValueError, TypeError)):
        storage.register_periodic(bad)  # type: ignore[arg-type]
    assert [s.name for s in storage.periodic_schedules()] == ["kept"]


def test_fire_rejects_a_job_that_is_not_a_new_job(storage: Storage) -> None:
    slot = now_ms()
    storage.register_periodic(_schedule(next_run=slot))
    before = _stored(storage)
    with pytest.raises(TypeError):
        storage.fire_periodic("nightly", slot, slot + MINUTE_MS, {"id": "x"})  # type: ignore[arg-type]
    assert _stored(storage) == before
    assert _total_jobs(storage) == 0
