"""The calendar against a brute-force, minute-by-minute reading of the same rules.

The oracle below reads each minute's local time with ``datetime.astimezone`` and
checks it against the rule's definition directly; it shares no code with the
calendar beyond the standard library. Instants are drawn around real daylight-saving
changes in zones that move by an hour, by half an hour, south of the equator, or not
at all.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import FrozenSet, List, Optional, Tuple
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_rollout.calendar import Schedule

ZONES = (
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "UTC",
)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIN_US = 60_000_000
SPAN_MIN = 2 * 24 * 60  # the oracle looks at two days of minutes from the start
FIRST = datetime(2024, 1, 1, tzinfo=timezone.utc)
LAST = datetime(2028, 1, 1, tzinfo=timezone.utc)


def _zone(name: str) -> timezone | ZoneInfo:
    return timezone.utc if name == "UTC" else ZoneInfo(name)


@functools.cache
def transitions(name: str) -> Tuple[int, ...]:
    """Minutes (since the epoch) at which the zone's offset changes, 2024-2027."""
    zone = _zone(name)
    found = []
    t = FIRST
    prev = t.astimezone(zone).utcoffset()
    while t < LAST:
        t += timedelta(hours=1)
        off = t.astimezone(zone).utcoffset()
        if off != prev:
            lo = t - timedelta(hours=1)
            while (t - lo) > timedelta(minutes=1):
                mid = lo + (t - lo) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid.astimezone(zone).utcoffset() == prev:
                    lo = mid
                else:
                    t = mid
            found.append(int(t.timestamp()) // 60)
            prev = off
    return tuple(found)


@dataclass(frozen=True)
class WindowSpec:
    days: FrozenSet[int]
    start: int  # minutes after midnight
    end: int  # 1..1440; <= start crosses midnight

    def text(self, zone: str) -> str:
        days = ",".join(DAY_NAMES[d] for d in sorted(self.days))
        start = f"{self.start // 60:02d}:{self.start % 60:02d}"
        end = f"{self.end // 60:02d}:{self.end % 60:02d}"
        return f"{days} {start}-{end} {zone}"

    def covers(self, weekday: int, minute: int) -> bool:
        if self.end > self.start:
            return weekday in self.days and self.start <= minute < self.end
        return (weekday in self.days and minute >= self.start) or (
            (weekday - 1) % 7 in self.days and minute < self.end
        )


@dataclass(frozen=True)
class CronSpec:
    minute: int
    hours: FrozenSet[int]
    weekdays: FrozenSet[int]  # Monday=0
    length: int  # minutes

    def text(self, zone: str) -> str:
        hours = ",".join(str(h) for h in sorted(self.hours))
        dows = ",".join(str((d + 1) % 7) for d in sorted(self.weekdays))
        return f"cron {self.minute} {hours} * * {dows} for {self.length}m {zone}"

    def covers(self, local: datetime) -> bool:
        wall = local.replace(tzinfo=None, second=0, microsecond=0)
        # The latest local time at or before `wall` whose minute is the cron minute,
        # then one hour earlier at a time, while still within the length.
        start = wall.replace(minute=self.minute)
        if start > wall:
            start -= timedelta(hours=1)
        while wall - start < timedelta(minutes=self.length):
            if start.hour in self.hours and start.weekday() in self.weekdays:
                return True
            start -= timedelta(hours=1)
        return False


@dataclass(frozen=True)
class DatesSpec:
    first: date
    last: date

    def text(self, zone: str) -> str:
        return f"{self.first.isoformat()}..{self.last.isoformat()} {zone}"

    def covers(self, local: datetime) -> bool:
        return self.first <= local.date() <= self.last


@dataclass(frozen=True)
class Case:
    zone: str
    windows: Tuple[WindowSpec, ...]
    blackout_zone: str
    weekly_blackouts: Tuple[WindowSpec, ...]
    cron: Optional[CronSpec]
    dates: Optional[DatesSpec]
    start_minute: int

    def schedule(self) -> Schedule:
        blackouts = [w.text(self.blackout_zone) for w in self.weekly_blackouts]
        if self.cron is not None:
            blackouts.append(self.cron.text(self.blackout_zone))
        if self.dates is not None:
            blackouts.append(self.dates.text(self.blackout_zone))
        return Schedule.parse([w.text(self.zone) for w in self.windows], blackouts)

    def open_at(self, minute: int) -> bool:
        """The oracle: is the schedule open during this minute?"""
        instant = datetime.fromtimestamp(minute * 60, timezone.utc)
        local = instant.astimezone(_zone(self.zone))
        m = local.hour * 60 + local.minute
        if self.windows and not any(w.covers(local.weekday(), m) for w in self.windows):
            return False
        black = instant.astimezone(_zone(self.blackout_zone))
        bm = black.hour * 60 + black.minute
        if any(w.covers(black.weekday(), bm) for w in self.weekly_blackouts):
            return False
        if self.cron is not None and self.cron.covers(black):
            return False
        return not (self.dates is not None and self.dates.covers(black))


# Boundaries on the half hour often land on the daylight-saving changes themselves.
minutes_of_day = st.one_of(st.integers(0, 47).map(lambda k: k * 30), st.integers(0, 1439))


@st.composite
def window_specs(draw: st.DrawFn) -> WindowSpec:
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    start = draw(minutes_of_day)
    end = draw(minutes_of_day.map(lambda m: m + 1 if m == 1439 else m or 1440))
    if end == start:
        end = 1440 if start != 0 else 720
    return WindowSpec(days, start, end)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    zone = draw(st.sampled_from(ZONES))
    blackout_zone = draw(st.sampled_from((zone, *ZONES)))
    moments = transitions(zone) or transitions("America/New_York")
    base = draw(st.sampled_from(moments))
    start_minute = base + draw(st.integers(-2 * 24 * 60, 24 * 60))
    start_day = datetime.fromtimestamp(start_minute * 60, timezone.utc).date()
    cron = draw(
        st.none()
        | st.builds(
            CronSpec,
            st.integers(0, 59),
            st.frozensets(st.integers(0, 23), min_size=1, max_size=4),
            st.frozensets(st.integers(0, 6), min_size=1),
            st.integers(1, 180),
        )
    )
    dates = draw(
        st.none()
        | st.tuples(st.integers(-2, 3), st.integers(0, 2)).map(
            lambda t: DatesSpec(
                start_day + timedelta(days=t[0]), start_day + timedelta(days=t[0] + t[1])
            )
        )
    )
    return Case(
        zone=zone,
        windows=tuple(draw(st.lists(window_specs(), max_size=3))),
        blackout_zone=blackout_zone,
        weekly_blackouts=tuple(draw(st.lists(window_specs(), max_size=2))),
        cron=cron,
        dates=dates,
        start_minute=start_minute,
    )


def _minutes_open(schedule: Schedule, start_minute: int) -> List[bool]:
    """The calendar's answer for each minute of the span, from its open intervals."""
    lo, hi = start_minute * MIN_US, (start_minute + SPAN_MIN) * MIN_US
    flags = [False] * SPAN_MIN
    for a, b in schedule.open_intervals(lo, hi):
        # Every boundary is a whole minute here (whole-minute offsets and rules).
        assert a % MIN_US == 0
        assert b % MIN_US == 0
        for k in range((a - lo) // MIN_US, (b - lo) // MIN_US):
            flags[k] = True
    return flags


def check_open_minutes(case: Case) -> None:
    schedule = case.schedule()
    expected = [case.open_at(case.start_minute + k) for k in range(SPAN_MIN)]
    assert _minutes_open(schedule, case.start_minute) == expected
    # is_open at a few instants agrees too (mid-minute, so boundaries are not special).
    for k in range(0, SPAN_MIN, 457):
        instant = (case.start_minute + k) * MIN_US + 17_000_000
        assert schedule.is_open(instant) == expected[k]


def check_next_open_next_close_and_deadline(case: Case, offset: int, duration_minutes: int) -> None:
    schedule = case.schedule()
    start = case.start_minute + offset
    open_flags = [case.open_at(start + k) for k in range(SPAN_MIN)]
    now = start * MIN_US

    first_open = next((k for k, f in enumerate(open_flags) if f), None)
    found = schedule.next_open(now)
    if first_open is not None:
        assert found == (start + first_open) * MIN_US
    else:
        assert found is None or found >= (start + SPAN_MIN) * MIN_US

    first_shut = next((k for k, f in enumerate(open_flags) if not f), None)
    closes = schedule.next_close(now)
    if first_shut is not None:
        assert closes == (start + first_shut) * MIN_US
    else:
        assert closes is None or closes >= (start + SPAN_MIN) * MIN_US

    # Operator hours: the deadline is the end of the duration-th open minute.
    counted = 0
    expected_deadline: Optional[int] = now if duration_minutes == 0 else None
    for k, f in enumerate(open_flags):
        if counted == duration_minutes:
            break
        if f:
            counted += 1
            if counted == duration_minutes:
                expected_deadline = (start + k + 1) * MIN_US
    deadline = schedule.deadline(now, duration_minutes * MIN_US)
    if expected_deadline is not None:
        assert deadline == expected_deadline
        assert schedule.open_time(now, expected_deadline) == duration_minutes * MIN_US
    else:
        assert deadline is None or deadline > (start + SPAN_MIN) * MIN_US


@settings(max_examples=100, deadline=None)
@given(cases())
def test_open_minutes_match_the_brute_force_reading(case: Case) -> None:
    check_open_minutes(case)


@settings(max_examples=100, deadline=None)
@given(cases(), st.integers(0, SPAN_MIN - 1), st.integers(0, 8 * 60))
def test_next_open_next_close_and_deadlines_match_the_brute_force_reading(
    case: Case, offset: int, duration_minutes: int
) -> None:
    check_next_open_next_close_and_deadline(case, offset, duration_minutes)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(cases(), st.integers(0, SPAN_MIN - 1), st.integers(0, 8 * 60))
def test_many_more_schedules_match_the_brute_force_reading(
    case: Case, offset: int, duration_minutes: int
) -> None:
    check_open_minutes(case)
    check_next_open_next_close_and_deadline(case, offset, duration_minutes)


def test_the_oracle_sees_the_changes_it_is_meant_to_test() -> None:
    # New York's 2026 changes, and Lord Howe's half-hour ones, are where expected.
    ny = [datetime.fromtimestamp(m * 60, timezone.utc) for m in transitions("America/New_York")]
    assert datetime(2026, 3, 8, 7, tzinfo=timezone.utc) in ny
    assert datetime(2026, 11, 1, 6, tzinfo=timezone.utc) in ny
    assert len(transitions("Australia/Lord_Howe")) == 8
    assert transitions("Asia/Kolkata") == ()
