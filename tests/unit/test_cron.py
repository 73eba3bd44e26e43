"""taskito.cron: parsing the seconds-first cron format and computing next fire times, in UTC
and across daylight-saving changes, checked against hand-picked dates and a brute force."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from taskito import cron
from taskito.cron import CronSchedule
from taskito.exceptions import ConfigurationError


def at(wall: str, zone: str = "UTC") -> int:
    """Epoch ms of ISO wall time ``wall`` in ``zone`` (first occurrence if repeated)."""
    return int(datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(zone)).timestamp() * 1000)


def utc_ms(wall: str) -> int:
    """Epoch ms of an ISO time that carries its own offset (``...+02:00``)."""
    return int(datetime.fromisoformat(wall).timestamp() * 1000)


def fires(expression: str, start: int, count: int, zone: str | None = None) -> list[int]:
    """The next ``count`` fire times after ``start``, each found from the previous one."""
    schedule = CronSchedule.parse(expression, zone)
    times: list[int] = []
    current = start
    for _ in range(count):
        following = schedule.next_after(current)
        assert following is not None, f"{expression} stopped firing after {current}"
        times.append(following)
        current = following
    return times


def walls(times: list[int], zone: str = "UTC") -> list[str]:
    """Fire times as ISO wall times with offsets, for readable assertions."""
    return [datetime.fromtimestamp(ms / 1000, ZoneInfo(zone)).isoformat() for ms in times]


# --- basic fields -----------------------------------------------------------------------------


def test_every_second_fires_one_second_later_even_from_inside_a_second() -> None:
    schedule = CronSchedule.parse("* * * * * *")
    start = at("2024-05-01T12:00:00")
    assert schedule.next_after(start) == start + 1000
    assert schedule.next_after(start + 999) == start + 1000
    assert schedule.next_after(start - 1) == start


def test_every_five_minutes() -> None:
    assert walls(fires("0 */5 * * * *", at("2024-05-01T12:03:30"), 3)) == [
        "2024-05-01T12:05:00+00:00",
        "2024-05-01T12:10:00+00:00",
        "2024-05-01T12:15:00+00:00",
    ]


def test_end_of_day_rolls_into_next_month_and_year() -> None:
    assert walls(fires("30 59 23 * * *", at("2024-12-31T23:59:30"), 1)) == [
        "2025-01-01T23:59:30+00:00"
    ]
    assert walls(fires("0 0 0 * * *", at("2024-12-31T00:00:00"), 1)) == [
        "2025-01-01T00:00:00+00:00"
    ]


def test_ranges_lists_and_steps() -> None:
    schedule = CronSchedule.parse("0,30 10-40/15 8-17/4 * * *")
    assert schedule.seconds == (0, 30)
    assert schedule.minutes == (10, 25, 40)
    assert schedule.hours == (8, 12, 16)
    assert CronSchedule.parse("50/3 * * * * *").seconds == (50, 53, 56, 59)
    assert CronSchedule.parse("1-3,2-4,10 * * * * *").seconds == (1, 2, 3, 4, 10)
    assert CronSchedule.parse("*/90 * * * * *").seconds == (0,)
    assert walls(fires("0,30 10-40/15 8-17/4 * * *", at("2024-05-01T12:40:00"), 3)) == [
        "2024-05-01T12:40:30+00:00",
        "2024-05-01T16:10:00+00:00",
        "2024-05-01T16:10:30+00:00",
    ]


def test_month_and_weekday_names_are_case_insensitive() -> None:
    schedule = CronSchedule.parse("0 0 9 ? jan-Mar,DEC mon-FRI")
    assert schedule.months == (1, 2, 3, 12)
    assert schedule.days_of_week == (1, 2, 3, 4, 5)
    assert CronSchedule.parse("0 0 0 ? * SUN").days_of_week == (0,)
    # 2024-03-29 is a Friday; the next weekday at 09:00 in those months is December 2nd.
    assert walls(fires("0 0 9 ? JAN-MAR,DEC MON-FRI", at("2024-03-29T10:00:00"), 2)) == [
        "2024-12-02T09:00:00+00:00",
        "2024-12-03T09:00:00+00:00",
    ]


def test_sunday_is_zero_and_seven_and_monday_is_one() -> None:
    assert CronSchedule.parse("0 0 0 ? * 7").days_of_week == (0,)
    assert CronSchedule.parse("0 0 0 ? * 0,7").days_of_week == (0,)
    assert CronSchedule.parse("0 0 0 ? * 5-7").days_of_week == (0, 5, 6)
    # 2024-05-01 is a Wednesday.
    assert walls(fires("0 0 0 * * 1", at("2024-05-01T00:00:00"), 1)) == [
        "2024-05-06T00:00:00+00:00"
    ]
    assert walls(fires("0 0 0 * * 7", at("2024-05-01T00:00:00"), 1)) == [
        "2024-05-05T00:00:00+00:00"
    ]


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # The 13th of each month, and every Friday (classic cron), from Wed 2024-09-11.
    assert walls(fires("0 0 0 13 * FRI", at("2024-09-11T00:00:00"), 4)) == [
        "2024-09-13T00:00:00+00:00",
        "2024-09-20T00:00:00+00:00",
        "2024-09-27T00:00:00+00:00",
        "2024-10-04T00:00:00+00:00",
    ]
    assert walls(fires("0 0 0 13 * FRI", at("2024-10-04T00:00:00"), 2)) == [
        "2024-10-11T00:00:00+00:00",
        "2024-10-13T00:00:00+00:00",
    ]


def test_an_unrestricted_day_field_leaves_the_other_in_charge() -> None:
    only_the_13th = ["2024-10-13T00:00:00+00:00", "2024-11-13T00:00:00+00:00"]
    assert walls(fires("0 0 0 13 * ?", at("2024-09-14T00:00:00"), 2)) == only_the_13th
    assert walls(fires("0 0 0 13 * *", at("2024-09-14T00:00:00"), 2)) == only_the_13th
    # A field that lists every value counts as unrestricted: 1-31 with Monday means Mondays.
    assert walls(fires("0 0 0 1-31 * MON", at("2024-09-11T00:00:00"), 2)) == [
        "2024-09-16T00:00:00+00:00",
        "2024-09-23T00:00:00+00:00",
    ]


def test_year_field() -> None:
    assert walls(fires("0 0 12 1 JAN ? 2030", at("2024-06-01T00:00:00"), 1)) == [
        "2030-01-01T12:00:00+00:00"
    ]
    assert walls(fires("0 0 0 1 1 * 2026-2030/2", at("2024-06-01T00:00:00"), 3)) == [
        "2026-01-01T00:00:00+00:00",
        "2028-01-01T00:00:00+00:00",
        "2030-01-01T00:00:00+00:00",
    ]
    assert CronSchedule.parse("0 0 0 1 1 * *").years is None


def test_no_future_fire_time_returns_none() -> None:
    assert CronSchedule.parse("0 0 0 1 1 * 2020").next_after(at("2024-01-01T00:00:00")) is None
    assert CronSchedule.parse("0 0 0 1 1 * 2030").next_after(at("2030-01-01T00:00:00")) is None
    # Feb 29 in a range of years without a leap year.
    schedule = CronSchedule.parse("0 0 0 29 FEB * 2025-2027")
    assert schedule.next_after(at("2024-03-01T00:00:00")) is None


def test_month_ends_and_leap_days() -> None:
    assert walls(fires("0 0 0 31 * *", at("2024-01-31T00:00:00"), 3)) == [
        "2024-03-31T00:00:00+00:00",
        "2024-05-31T00:00:00+00:00",
        "2024-07-31T00:00:00+00:00",
    ]
    assert walls(fires("0 0 0 29 2 *", at("2024-02-29T00:00:00"), 2)) == [
        "2028-02-29T00:00:00+00:00",
        "2032-02-29T00:00:00+00:00",
    ]
    # 2100 is not a leap year (divisible by 100, not by 400): 2096, then 2104.
    assert walls(fires("0 0 0 29 2 *", at("2096-03-01T00:00:00"), 1)) == [
        "2104-02-29T00:00:00+00:00"
    ]


def test_far_fire_times_are_found_without_scanning_every_second() -> None:
    schedule = CronSchedule.parse("59 59 23 29 FEB * 2096")
    started = time.perf_counter()
    found = schedule.next_after(at("2024-01-01T00:00:00"))
    elapsed = time.perf_counter() - started
    assert found == at("2096-02-29T23:59:59")
    # ~72 years of seconds would take minutes to scan; skipping by field takes microseconds.
    assert elapsed < 0.5


@pytest.mark.parametrize(
    "expression",
    ["0 */7 * * * *", "0 0 */5 * * 1-5", "0 15 3 1,15 * *", "0 0 12 13 * FRI", "0 0 0 ? FEB 3"],
)
def test_matches_a_minute_by_minute_brute_force(expression: str) -> None:
    schedule = CronSchedule.parse(expression)
    start = datetime(2024, 1, 30, tzinfo=UTC)
    expected = [
        int(moment.timestamp() * 1000)
        for minute in range(60 * 24 * 62)
        if matches(schedule, moment := start + timedelta(minutes=minute))
    ]
    got = fires(expression, int(start.timestamp() * 1000) - 1, len(expected))
    assert got == expected


def matches(schedule: CronSchedule, moment: datetime) -> bool:
    """A direct reading of the fields for one UTC time (seconds are 0 in these cases)."""
    in_month = moment.day in schedule.days_of_month
    in_week = moment.isoweekday() % 7 in schedule.days_of_week
    day_ok = (in_month or in_week) if schedule.either_day else (in_month and in_week)
    return (
        day_ok
        and moment.second in schedule.seconds
        and moment.minute in schedule.minutes
        and moment.hour in schedule.hours
        and moment.month in schedule.months
    )


# --- daylight-saving time ---------------------------------------------------------------------


def test_paris_spring_forward_skips_the_missing_wall_time() -> None:
    # 2024-03-31: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
    zone = "Europe/Paris"
    assert walls(fires("0 30 2 * * *", at("2024-03-30T12:00:00", zone), 2, zone), zone) == [
        "2024-04-01T02:30:00+02:00",
        "2024-04-02T02:30:00+02:00",
    ]
    # Every second: 01:59:59 CET is followed by 03:00:00 CEST, one real second later.
    before = utc_ms("2024-03-31T01:59:59+01:00")
    assert fires("* * * * * *", before, 1, zone) == [before + 1000]
    # Every 20 minutes across the gap: 01:40, then 03:00.
    assert walls(fires("0 */20 * * * *", at("2024-03-31T01:30:00", zone), 3, zone), zone) == [
        "2024-03-31T01:40:00+01:00",
        "2024-03-31T03:00:00+02:00",
        "2024-03-31T03:20:00+02:00",
    ]


def test_paris_fall_back_fires_a_repeated_wall_time_once() -> None:
    # 2024-10-27: 03:00 CEST falls back to 02:00 CET, so 02:00-02:59 happens twice.
    zone = "Europe/Paris"
    assert walls(fires("0 30 2 * * *", at("2024-10-26T12:00:00", zone), 2, zone), zone) == [
        "2024-10-27T02:30:00+02:00",
        "2024-10-28T02:30:00+01:00",
    ]
    # From inside the repeated hour (second pass), the repeat of 02:30 does not fire.
    second_pass = utc_ms("2024-10-27T02:10:00+01:00")
    assert walls(fires("0 30 2 * * *", second_pass, 1, zone), zone) == ["2024-10-28T02:30:00+01:00"]
    # Every 15 minutes: the first pass fires, the repeated hour is skipped, then 03:00 CET.
    assert walls(fires("0 */15 * * * *", at("2024-10-27T02:40:00", zone), 3, zone), zone) == [
        "2024-10-27T02:45:00+02:00",
        "2024-10-27T03:00:00+01:00",
        "2024-10-27T03:15:00+01:00",
    ]


def test_new_york_spring_forward_and_fall_back() -> None:
    zone = "America/New_York"
    # 2024-03-10: 02:00 EST jumps to 03:00 EDT.
    assert walls(fires("0 0 2 * * *", at("2024-03-09T12:00:00", zone), 2, zone), zone) == [
        "2024-03-11T02:00:00-04:00",
        "2024-03-12T02:00:00-04:00",
    ]
    assert walls(fires("0 59 1,3 * * *", at("2024-03-10T00:00:00", zone), 2, zone), zone) == [
        "2024-03-10T01:59:00-05:00",
        "2024-03-10T03:59:00-04:00",
    ]
    # 2024-11-03: 02:00 EDT falls back to 01:00 EST; 01:30 fires once, in EDT.
    assert walls(fires("0 30 1 * * *", at("2024-11-02T12:00:00", zone), 2, zone), zone) == [
        "2024-11-03T01:30:00-04:00",
        "2024-11-04T01:30:00-05:00",
    ]
    # The daily fire after the change is 24 wall hours later: 25 real hours.
    first, second = fires("0 0 0 * * *", at("2024-11-02T12:00:00", zone), 2, zone)
    assert second - first == 25 * 3600 * 1000


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts epoch-to-wall-time conversions in taskito.cron (one element per call)."""
    calls: list[int] = []
    real_wall_time = cron._wall_time

    def counting_wall_time(epoch_s: int, tz: tzinfo) -> datetime:
        calls.append(epoch_s)
        return real_wall_time(epoch_s, tz)

    monkeypatch.setattr(cron, "_wall_time", counting_wall_time)
    return calls


def test_a_whole_missing_day_is_jumped_over_not_scanned(conversions: list[int]) -> None:
    # Samoa skipped 2011-12-30 entirely (UTC-10 to UTC+14). Every second of Dec 30 is a
    # wall time that does not exist; the next real one is a year later.
    zone = "Pacific/Apia"
    assert walls(fires("* * * 30 DEC *", at("2011-12-29T12:00:00", zone), 1, zone), zone) == [
        "2012-12-30T00:00:00+14:00"
    ]
    # A binary search over the gap, not one step per missing second (86,400).
    assert len(conversions) < 100


def test_a_repeated_hour_is_jumped_over_not_scanned(conversions: list[int]) -> None:
    # From the start of the second pass of Paris's repeated hour, every second: the whole
    # repeat fired on the first pass, so the next fire is 03:00 CET, an hour later.
    zone = "Europe/Paris"
    start = utc_ms("2024-10-27T02:00:00+01:00")
    assert fires("* * * * * *", start, 1, zone) == [start + 3600 * 1000]
    assert len(conversions) < 100


def test_timezone_none_is_utc() -> None:
    schedule = CronSchedule.parse("0 0 9 * * *")
    assert schedule.timezone is None
    assert schedule.next_after(at("2024-07-01T00:00:00")) == at("2024-07-01T09:00:00")
    paris = CronSchedule.parse("0 0 9 * * *", "Europe/Paris")
    assert paris.next_after(at("2024-07-01T00:00:00")) == at("2024-07-01T07:00:00")


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "expected 6 or 7 fields.*got 0"),
        ("   ", "expected 6 or 7 fields"),
        ("* * * * *", "expected 6 or 7 fields.*got 5"),
        ("* * * * * * * *", "got 8"),
        ("60 * * * * *", "second field '60': 60 is out of range 0-59"),
        ("* 60 * * * *", "minute field"),
        ("* * 24 * * *", "hour field '24'"),
        ("* * * 0 * *", "day-of-month field '0'"),
        ("* * * 32 * *", "day-of-month field"),
        ("* * * * 13 *", "month field '13'"),
        ("* * * * 0 *", "month field"),
        ("* * * * * 8", "day-of-week field '8'"),
        ("* * * * * * 1969", "year field '1969'"),
        ("* * * * * * 2100", "year field"),
        ("*/0 * * * * *", "step must be at least 1"),
        ("* 5-10/0 * * * *", "step must be at least 1"),
        ("*/x * * * * *", "step 'x' is not a positive number"),
        ("*/ * * * * *", "step '' is not"),
        ("5-1 * * * * *", "range '5-1' runs backwards"),
        ("0 0 0 ? * FRI-MON", "runs backwards"),
        ("0 0 0 1 FOO *", "month field 'FOO': 'FOO' is not a number or a name"),
        ("0 0 0 ? * SUNDAY", "day-of-week field 'SUNDAY'"),
        ("0 0 0 1 MON *", "month field 'MON'"),
        ("? * * * * *", r"'\?' is only allowed in day-of-month and day-of-week"),
        ("* * * * ? *", "month field"),
        ("1,,2 * * * * *", "empty list item"),
        ("1, * * * * *", "empty list item"),
        ("-1 * * * * *", "second field '-1'"),
        ("1- * * * * *", "second field '1-'"),
        ("L * * * * *", "second field 'L'"),
        ("0 0 0 L * *", "day-of-month field 'L'"),
        ("0 0 0 ? * 5#3", "day-of-week field '5#3'"),
        ("\u00b2 * * * * *", "second field '\u00b2'"),  # a digit to str.isdigit, not to int()
        ("0 0 0 30 2 *", "day-of-month 30 never occurs in month.*FEB"),
        ("0 0 0 31 APR,JUN *", "day-of-month 31 never occurs"),
    ],
)
def test_invalid_expressions_name_the_expression_and_the_field(
    expression: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        CronSchedule.parse(expression)
    assert repr(expression) in str(caught.value)
    assert isinstance(caught.value, ConfigurationError)


def test_an_impossible_day_of_month_is_fine_when_day_of_week_can_fire() -> None:
    # Feb 30 never comes, but with day-of-week restricted too, Mondays in February fire.
    assert walls(fires("0 0 0 30 FEB MON", at("2024-01-01T00:00:00"), 1)) == [
        "2024-02-05T00:00:00+00:00"
    ]


@pytest.mark.parametrize("expression", [None, 5, b"* * * * * *", ["*"] * 6])
def test_an_expression_must_be_a_string(expression: object) -> None:
    with pytest.raises(ValueError, match="cron expression must be a str"):
        CronSchedule.parse(expression)  # type: ignore[arg-type]


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "not a zone", "../etc/passwd", ""])
def test_unknown_timezones_are_named(zone: str) -> None:
    with pytest.raises(ValueError, match=f"unknown timezone {zone!r}"):
        CronSchedule.parse("* * * * * *", zone)


def test_a_timezone_must_be_a_string() -> None:
    with pytest.raises(ValueError, match="timezone must be a str"):
        CronSchedule.parse("* * * * * *", 3)  # type: ignore[arg-type]
