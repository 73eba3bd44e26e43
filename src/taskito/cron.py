"""Cron expressions for ``@queue.periodic``: parse the seconds-first format and compute the
next fire time in a timezone, without any third-party parser.

Format: ``sec min hour day-of-month month day-of-week [year]`` (6 or 7 fields)::

    field         values                       also
    second        0-59
    minute        0-59
    hour          0-23
    day-of-month  1-31                         ?
    month         1-12                         JAN-DEC
    day-of-week   0-7 (0 and 7 = Sunday,       SUN-SAT, ?
                  1 = Monday, 6 = Saturday)
    year          1970-2099 (optional)

Each field is ``*``, a number, a range ``a-b``, a step ``*/n``, ``a-b/n`` or ``a/n`` (``a``
to the field's maximum), or a comma-separated list of those. Names are case-insensitive.
A range never wraps: ``FRI-MON`` is an error; write ``FRI-SAT,SUN,MON`` or ``5-7,1``.

Days follow classic cron: when both day-of-month and day-of-week are restricted, a day fires
if *either* matches (``0 0 0 1 * MON``: the 1st of each month and every Monday). A field is
restricted when it leaves out some value of its range, so ``1-31`` counts as ``*``.

Times are wall-clock times in the schedule's timezone (UTC when None). A wall time that does
not exist (clocks spring forward) is skipped; one that happens twice (clocks fall back) fires
once, at its first occurrence (``fold=0``). So during a fall-back hour, an every-minute
schedule pauses until the repeated hour is over.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from taskito.exceptions import ConfigurationError

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
#: Longest each month can be (February in a leap year), to reject days that never come.
_MONTH_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
#: With no year field, a schedule that matches nothing in one Gregorian cycle never matches.
_GREGORIAN_CYCLE_YEARS = 400


@dataclass(frozen=True)
class _Field:
    """How to read one field: its name, value range, names and whether ``?`` is allowed."""

    name: str
    low: int
    high: int
    names: dict[str, int]
    allows_question: bool = False


_SECOND = _Field("second", 0, 59, {})
_MINUTE = _Field("minute", 0, 59, {})
_HOUR = _Field("hour", 0, 23, {})
_DAY_OF_MONTH = _Field("day-of-month", 1, 31, {}, allows_question=True)
_MONTH = _Field("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTH_NAMES)})
_DAY_OF_WEEK = _Field(
    "day-of-week", 0, 7, {name: i for i, name in enumerate(_WEEKDAY_NAMES)}, allows_question=True
)
_YEAR = _Field("year", 1970, 2099, {})
_FIELDS = (_SECOND, _MINUTE, _HOUR, _DAY_OF_MONTH, _MONTH, _DAY_OF_WEEK, _YEAR)


class _FieldError(Exception):
    """One field is wrong; ``CronSchedule.parse`` adds the expression to the message."""


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron expression. Build it with ``CronSchedule.parse``; each value field is
    the sorted tuple of values it allows (``years`` is None when the year is open)."""

    expression: str
    timezone: str | None
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: tuple[int, ...]
    months: tuple[int, ...]
    days_of_week: tuple[int, ...]
    years: tuple[int, ...] | None
    #: Both day fields restricted: a day matches if either does (classic cron).
    either_day: bool

    @classmethod
    def parse(cls, expression: str, timezone: str | None = None) -> CronSchedule:
        """Parse ``expression`` for ``timezone`` (an IANA name; None = UTC).

        Raises ``ConfigurationError`` (a ``ValueError``) naming the expression and the bad
        field, or the unknown timezone.
        """
        if not isinstance(expression, str):
            raise ConfigurationError(
                f"cron expression must be a str, not {type(expression).__name__} ({expression!r})"
            )
        _zone(timezone)
        parts = expression.split()
        if len(parts) not in (6, 7):
            raise ConfigurationError(
                f"invalid cron expression {expression!r}: expected 6 or 7 fields "
                f"(sec min hour day-of-month month day-of-week [year]), got {len(parts)}"
            )
        try:
            values = [_parse_field(text, spec) for text, spec in zip(parts, _FIELDS, strict=False)]
            seconds, minutes, hours, dom, months, dow = values[:6]
            dow = tuple(sorted({0 if day == 7 else day for day in dow}))
            dom_restricted = len(dom) < 31
            dow_restricted = len(dow) < 7
            if dom_restricted and not dow_restricted:
                _check_days_exist(dom, months)
        except _FieldError as exc:
            raise ConfigurationError(f"invalid cron expression {expression!r}: {exc}") from None
        return cls(
            expression=expression,
            timezone=timezone,
            seconds=seconds,
            minutes=minutes,
            hours=hours,
            days_of_month=dom,
            months=months,
            days_of_week=dow,
            years=values[6] if len(values) == 7 and parts[6] != "*" else None,
            either_day=dom_restricted and dow_restricted,
        )

    def next_after(self, ms: int) -> int | None:
        """The first fire time strictly after ``ms`` (epoch milliseconds), as epoch ms of a
        whole second; None when the schedule never fires again (its years are past)."""
        zone = _zone(self.timezone)
        start_s = ms // 1000 + 1
        wall = _wall_time(start_s, zone)
        last_year = self._last_year(wall.year)
        while True:
            found = self._next_wall_time(wall, last_year)
            if found is None:
                return None
            wall = found
            instant_s = _instant_s(wall, zone)
            if _wall_time(instant_s, zone) == wall and instant_s >= start_s:
                return instant_s * 1000
            # Skipped by a spring-forward (not a real time), or in the repeat of a fall-back
            # hour after its first pass (fired already): go on from where the change ends.
            wall = _after_clock_change(wall, zone)

    def _last_year(self, from_year: int) -> int:
        if self.years is not None:
            return self.years[-1]
        return min(from_year + _GREGORIAN_CYCLE_YEARS, MAXYEAR - 1)

    def _day_matches(self, wall: datetime) -> bool:
        in_month = wall.day in self.days_of_month
        in_week = wall.isoweekday() % 7 in self.days_of_week
        return (in_month or in_week) if self.either_day else (in_month and in_week)

    def _next_wall_time(self, wall: datetime, last_year: int) -> datetime | None:
        """The first wall time at or after ``wall`` that every field allows. Each miss moves
        to the start of the next year, month, day, hour or minute, so long gaps are cheap."""
        while wall.year <= last_year:
            year = wall.year if self.years is None else _at_least(self.years, wall.year)
            if year is None or year > last_year:
                return None
            if year != wall.year:
                wall = datetime(year, 1, 1)
            month = _at_least(self.months, wall.month)
            if month is None:
                wall = datetime(wall.year + 1, 1, 1)
                continue
            if month != wall.month:
                wall = datetime(wall.year, month, 1)
            if not self._day_matches(wall):
                wall = datetime(wall.year, wall.month, wall.day) + timedelta(days=1)
                continue
            found = self._time_in_day(wall)
            if found is not None:
                return found
            wall = datetime(wall.year, wall.month, wall.day) + timedelta(days=1)
        return None

    def _time_in_day(self, wall: datetime) -> datetime | None:
        """The first allowed time of ``wall``'s day at or after ``wall``, or None."""
        for hour in self.hours[bisect.bisect_left(self.hours, wall.hour) :]:
            minute_from = wall.minute if hour == wall.hour else 0
            for minute in self.minutes[bisect.bisect_left(self.minutes, minute_from) :]:
                same_minute = hour == wall.hour and minute == wall.minute
                second = _at_least(self.seconds, wall.second if same_minute else 0)
                if second is not None:
                    return wall.replace(hour=hour, minute=minute, second=second, fold=0)
        return None


def _parse_field(text: str, spec: _Field) -> tuple[int, ...]:
    """The sorted values ``text`` allows in field ``spec``; ``_FieldError`` when invalid."""
    values: set[int] = set()
    for item in text.split(","):
        try:
            values.update(_parse_item(item, spec))
        except _FieldError as exc:
            raise _FieldError(f"{spec.name} field {text!r}: {exc}") from None
    return tuple(sorted(values))


def _parse_item(item: str, spec: _Field) -> range:
    """One list item: ``*``, ``?``, ``n``, ``a-b``, each optionally followed by ``/step``."""
    if not item:
        raise _FieldError("empty list item")
    base, slash, step_text = item.partition("/")
    step = _parse_step(step_text) if slash else 1
    if base in ("*", "?"):
        if base == "?" and not spec.allows_question:
            raise _FieldError("'?' is only allowed in day-of-month and day-of-week")
        return range(spec.low, spec.high + 1, step)
    first_text, dash, last_text = base.partition("-")
    first = _parse_value(first_text, spec)
    if dash:
        last = _parse_value(last_text, spec)
        if last < first:
            raise _FieldError(f"range {base!r} runs backwards ({first} > {last})")
    else:
        last = spec.high if slash else first
    return range(first, last + 1, step)


def _parse_step(text: str) -> int:
    if not _is_number(text):
        raise _FieldError(f"step {text!r} is not a positive number")
    step = int(text)
    if step == 0:
        raise _FieldError("step must be at least 1, got 0")
    return step


def _parse_value(text: str, spec: _Field) -> int:
    """A number in the field's range, or one of its names."""
    if text.upper() in spec.names:
        return spec.names[text.upper()]
    if not _is_number(text):
        known = f" or a name ({', '.join(spec.names)})" if spec.names else ""
        raise _FieldError(f"{text!r} is not a number{known}")
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise _FieldError(f"{value} is out of range {spec.low}-{spec.high}")
    return value


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _check_days_exist(days_of_month: tuple[int, ...], months: tuple[int, ...]) -> None:
    """Reject a day of month that no chosen month has (``30 2``): it would never fire."""
    if all(days_of_month[0] > _MONTH_MAX_DAYS[month - 1] for month in months):
        raise _FieldError(
            f"day-of-month {days_of_month[0]} never occurs in month(s) "
            f"{', '.join(_MONTH_NAMES[m - 1] for m in months)}"
        )


def _at_least(values: tuple[int, ...], low: int) -> int | None:
    """The smallest of the sorted ``values`` that is >= ``low``, or None."""
    index = bisect.bisect_left(values, low)
    return values[index] if index < len(values) else None


def _zone(name: str | None) -> tzinfo:
    """The tzinfo for an IANA name (None = UTC); ``ConfigurationError`` when unknown."""
    if name is None:
        return UTC
    if not isinstance(name, str):
        raise ConfigurationError(
            f"cron timezone must be a str, not {type(name).__name__} ({name!r})"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"unknown timezone {name!r} (expected an IANA name)") from None


def _wall_time(epoch_s: int, zone: tzinfo) -> datetime:
    """The naive wall-clock time in ``zone`` at ``epoch_s``."""
    return datetime.fromtimestamp(epoch_s, zone).replace(tzinfo=None, fold=0)


def _instant_s(wall: datetime, zone: tzinfo) -> int:
    """The epoch second of wall time ``wall`` in ``zone``, first occurrence if repeated."""
    return int(wall.replace(tzinfo=zone, fold=0).timestamp())


def _after_clock_change(wall: datetime, zone: tzinfo) -> datetime:
    """The first wall time past the clock change that makes ``wall`` skipped (the end of a
    spring-forward gap) or repeated (the end of a fall-back's repeated period).

    The two readings of ``wall`` (``fold=0`` and ``fold=1``) bracket the change: a binary
    search over whole seconds finds its instant, so a long gap or repeat is never scanned.
    """
    first = _instant_s(wall, zone)
    second = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    early, late = min(first, second), max(first, second)
    new_offset = datetime.fromtimestamp(late, zone).utcoffset()
    while late - early > 1:
        middle = (early + late) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == new_offset:
            late = middle
        else:
            early = middle
    if first > second:  # a gap: fold=0 reads wall with the old offset, past the change
        return _wall_time(late, zone)
    return _wall_time(late + (second - first), zone)  # a repeat lasts second - first


__all__ = ["CronSchedule"]
