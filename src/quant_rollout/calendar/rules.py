"""The rules a schedule is made of: weekly windows, one-off periods and cron rules.

Each rule answers one question: which instants of ``[start_us, end_us)`` does it
cover? The answer is a sorted list of disjoint half-open intervals of integer
microseconds (UTC).

Weekly windows, dates and cron rules are written in local wall-clock time. A rule
covers an instant when the instant's local time falls inside it, so across a
daylight-saving change a window keeps its local hours: ``09:00-17:00`` is eight
hours on most days, and on the days the clocks change it is still 09:00 to 17:00 on
the wall. A local time the clocks skip is covered by nothing; one they repeat is
covered both times.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, tzinfo
from typing import FrozenSet, Iterable, List, Optional, Protocol, Sequence, Tuple

from .zones import DAY_US, MINUTE_US, offset_segments, zone_name

__all__ = [
    "CronRule",
    "Interval",
    "Period",
    "Rule",
    "Window",
    "intersect",
    "merge",
    "subtract",
]

Interval = Tuple[int, int]
"""A half-open stretch of instants ``[start_us, end_us)``, microseconds since the epoch."""

_ORDINAL_1970 = date(1970, 1, 1).toordinal()
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class Rule(Protocol):
    """What a schedule asks of a window or blackout."""

    @property
    def text(self) -> str:
        """The rule as written in the configuration."""

    def intervals(self, start_us: int, end_us: int) -> List[Interval]:
        """The instants of ``[start_us, end_us)`` this rule covers, sorted and disjoint."""

    def last_end_us(self) -> Optional[int]:
        """When a one-off rule is over for good (an instant); None for a recurring rule."""


def merge(intervals: Iterable[Interval]) -> List[Interval]:
    """Sort and join overlapping or touching intervals; drop empty ones."""
    out: List[Interval] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def subtract(keep: Sequence[Interval], remove: Sequence[Interval]) -> List[Interval]:
    """``keep`` minus ``remove``; both sorted and disjoint (as :func:`merge` returns)."""
    out: List[Interval] = []
    j = 0
    for start, end in keep:
        while j < len(remove) and remove[j][1] <= start:
            j += 1
        k = j
        cursor = start
        while k < len(remove) and remove[k][0] < end:
            if remove[k][0] > cursor:
                out.append((cursor, remove[k][0]))
            cursor = max(cursor, remove[k][1])
            k += 1
        if cursor < end:
            out.append((cursor, end))
    return out


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> List[Interval]:
    """The instants in both ``a`` and ``b``; both sorted and disjoint."""
    out: List[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _walls_to_instants(
    zone: tzinfo, start_us: int, end_us: int, walls: Sequence[Interval]
) -> List[Interval]:
    """Map wall-time intervals to the instants of ``[start_us, end_us)`` they cover."""
    out: List[Interval] = []
    for seg_start, seg_end, offset in offset_segments(zone, start_us, end_us):
        for wall_start, wall_end in walls:
            start, end = max(seg_start, wall_start - offset), min(seg_end, wall_end - offset)
            if start < end:
                out.append((start, end))
    return merge(out)


def _wall_span(start_us: int, end_us: int) -> Interval:
    """Wall values that instants of ``[start_us, end_us)`` can have (a safe superset)."""
    return start_us - DAY_US, end_us + DAY_US


def weekday_of_day(day: int) -> int:
    """Monday=0 … Sunday=6 for a day number (days since 1970-01-01, a Thursday)."""
    return (day + 3) % 7


@dataclass(frozen=True)
class Window:
    """A weekly window in local time, e.g. ``mon-fri 09:00-17:00 America/New_York``.

    Attributes:
        days: weekdays (Monday=0 … Sunday=6) on which the window *starts*.
        ranges: ``(start, end)`` minutes after local midnight; ``end <= start`` means
            the window runs past midnight into the next day (``22:00-02:00``), and
            ``end == 1440`` is midnight at the end of the day (``24:00``).
        zone: the time zone the times are read in.
        text: the window as written.
    """

    days: FrozenSet[int]
    ranges: Tuple[Tuple[int, int], ...]
    zone: tzinfo
    text: str

    def intervals(self, start_us: int, end_us: int) -> List[Interval]:
        """The instants of ``[start_us, end_us)`` inside the window, sorted and disjoint."""
        wall_lo, wall_hi = _wall_span(start_us, end_us)
        walls: List[Interval] = []
        # A window that crosses midnight started the day before.
        for day in range(wall_lo // DAY_US - 1, wall_hi // DAY_US + 1):
            if weekday_of_day(day) not in self.days:
                continue
            base = day * DAY_US
            for begin, finish in self.ranges:
                stop = finish if finish > begin else finish + 1440
                walls.append((base + begin * MINUTE_US, base + stop * MINUTE_US))
        return _walls_to_instants(self.zone, start_us, end_us, walls)

    def last_end_us(self) -> Optional[int]:
        return None

    def describe(self) -> str:
        """The window in a canonical form, e.g. ``Mon-Fri 09:00-17:00 America/New_York``."""
        return f"{_describe_days(self.days)} {_describe_ranges(self.ranges)} {zone_name(self.zone)}"


def _describe_days(days: FrozenSet[int]) -> str:
    if len(days) == 7:
        return "daily"
    runs: List[str] = []
    ordered = sorted(days)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        first, last = _DAY_NAMES[ordered[i]], _DAY_NAMES[ordered[j]]
        runs.append(first if i == j else f"{first}-{last}")
        i = j + 1
    return ",".join(runs)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _describe_ranges(ranges: Tuple[Tuple[int, int], ...]) -> str:
    return ",".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in ranges)


@dataclass(frozen=True)
class Period:
    """One stretch of time: a date, a date range, a pair of date-times, or an instant
    with a margin before and after.

    Attributes:
        start: the first instant covered, or the first local wall value when ``zone``
            is set (see :mod:`quant_rollout.calendar.zones`).
        end: the first instant (or wall value) no longer covered; ``end > start``.
        zone: None when ``start``/``end`` are instants; else the zone whose local time
            they are (a date is the whole local day, whatever its length).
        text: the period as written.
    """

    start: int
    end: int
    zone: Optional[tzinfo]
    text: str

    def intervals(self, start_us: int, end_us: int) -> List[Interval]:
        if self.zone is None:
            return merge([(max(self.start, start_us), min(self.end, end_us))])
        # Wall values are within a day of their instants: look only near the period.
        lo, hi = max(start_us, self.start - DAY_US), min(end_us, self.end + DAY_US)
        return _walls_to_instants(self.zone, lo, hi, [(self.start, self.end)])

    def last_end_us(self) -> Optional[int]:
        # Wall values are within a day of their instants.
        return self.end if self.zone is None else self.end + DAY_US


@dataclass(frozen=True)
class CronRule:
    """A recurring stretch that starts at each local minute a cron expression names.

    ``cron 30 8 * * 1-5 for 45m America/New_York`` covers 08:30-09:15 local time each
    weekday. The five fields are minute, hour, day of month, month and day of week
    (0 or 7 is Sunday); as in Vixie cron, when both day fields are restricted a day
    matches either. The length is counted on the local wall clock, like a window.

    Attributes:
        minutes, hours, days_of_month, months, days_of_week: the values each field
            matches (days of week Monday=0 … Sunday=6).
        dom_any, dow_any: whether the day-of-month / day-of-week field was ``*``.
        length_us: how long each occurrence lasts, in microseconds (> 0).
        zone: the time zone the fields are read in.
        text: the rule as written.
    """

    minutes: FrozenSet[int]
    hours: FrozenSet[int]
    days_of_month: FrozenSet[int]
    months: FrozenSet[int]
    days_of_week: FrozenSet[int]
    dom_any: bool
    dow_any: bool
    length_us: int
    zone: tzinfo
    text: str

    def _day_matches(self, day: int) -> bool:
        when = date.fromordinal(day + _ORDINAL_1970)
        if when.month not in self.months:
            return False
        dom = when.day in self.days_of_month
        dow = weekday_of_day(day) in self.days_of_week
        if self.dom_any or self.dow_any:
            return dom and dow
        return dom or dow

    def intervals(self, start_us: int, end_us: int) -> List[Interval]:
        wall_lo, wall_hi = _wall_span(start_us, end_us)
        pattern = _day_pattern(self.hours, self.minutes, self.length_us)
        spill_days = max(e for _, e in pattern) // DAY_US + 1
        walls: List[Interval] = []
        for day in range(wall_lo // DAY_US - spill_days, wall_hi // DAY_US + 1):
            if self._day_matches(day):
                base = day * DAY_US
                walls.extend((base + a, base + b) for a, b in pattern)
        return _walls_to_instants(self.zone, start_us, end_us, merge(walls))

    def last_end_us(self) -> Optional[int]:
        return None


@functools.lru_cache(maxsize=64)
def _day_pattern(hours: FrozenSet[int], minutes: FrozenSet[int], length_us: int) -> List[Interval]:
    """A matching day's coverage, relative to its local midnight (may spill past it)."""
    starts = sorted(h * 60 + m for h in hours for m in minutes)
    return merge((s * MINUTE_US, s * MINUTE_US + length_us) for s in starts)
