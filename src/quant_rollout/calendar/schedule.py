"""A schedule: when something is allowed (windows minus blackouts), and operator hours.

Pure arithmetic on instants: nothing here reads the clock; ``now`` is an argument.
Instants are integer microseconds since the epoch (UTC) as the rollout's core uses
them; the public methods also take an aware ``datetime`` or ISO-8601 text with an
offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Iterator, List, Optional, Sequence, Tuple, Union

from .._durations import US_PER_SECOND, format_duration
from ..errors import CalendarError
from ..trades import parse_instant, to_datetime
from .parse import ZoneLike, parse_blackouts, parse_windows
from .rules import Interval, Rule, Window, merge, subtract
from .zones import DAY_US, MAX_US, MIN_US

__all__ = [
    "HORIZON_US",
    "InstantLike",
    "Schedule",
    "ScheduleStatus",
    "WaitSummary",
    "format_local",
    "format_wait",
]

InstantLike = Union[int, datetime, str]
"""An instant: integer microseconds since the epoch (UTC), an aware ``datetime``, or
ISO-8601 text with ``Z`` or an offset."""

HORIZON_US = (4 * 366 + 14) * DAY_US
"""How far ahead a schedule looks for an opening before calling it never: a little
over four years, so that a rule tied to 29 February comes round."""

_AWARE_TEXT = re.compile(r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)\s*$")
_REFERENCE_US = 1_704_067_200_000_000  # 2024-01-01T00:00Z
_FIRST_CHUNK_US = DAY_US
_MAX_CHUNK_US = 32 * DAY_US


def _instant(value: InstantLike, name: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an instant, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime) and (value.tzinfo is None or value.utcoffset() is None):
        raise CalendarError(
            f"{name} is a naive datetime ({value.isoformat()!r}): give it a time zone",
            key=name,
            value=value,
        )
    if isinstance(value, str) and _AWARE_TEXT.search(value) is None:
        raise CalendarError(
            f"{name} {value[:40]!r} is not a date and time with a UTC offset: "
            "write e.g. '2026-11-30T09:00:00-05:00' or '...Z'",
            key=name,
            value=value,
        )
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise CalendarError(f"{name}: {exc}", key=name, value=value) from None


def _chunks(start: int, limit: int) -> Iterator[Tuple[int, int]]:
    """Consecutive spans from ``start`` to ``limit``, growing so that a near answer is
    cheap and a far one takes few steps."""
    size = _FIRST_CHUNK_US
    lo = start
    while lo < limit:
        hi = min(lo + size, limit)
        yield lo, hi
        lo = hi
        size = min(size * 2, _MAX_CHUNK_US)


@dataclass(frozen=True)
class Schedule:
    """When something is allowed: inside one of ``windows`` and in none of ``blackouts``.

    No windows means always, except in blackouts. Used for a gate's advance windows,
    the rollout's blackouts, and the operator hours a veto window counts.

    >>> hours = Schedule.parse(["mon-fri 09:00-17:00 America/New_York"])
    >>> friday_4pm = "2026-11-27T16:00:00-05:00"
    >>> hours.is_open(friday_4pm)
    True
    >>> deadline = hours.deadline(friday_4pm, 90 * 60 * 1_000_000)  # 90 operator minutes
    >>> format_local(deadline, hours.windows[0].zone)
    'Mon 2026-11-30 09:30 EST'

    Attributes:
        windows: rules whose union is when it may happen (empty: always).
        blackouts: rules whose union is when it may not, whatever the windows say.
    """

    windows: Tuple[Rule, ...] = ()
    blackouts: Tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", tuple(self.windows))
        object.__setattr__(self, "blackouts", tuple(self.blackouts))

    @classmethod
    def parse(
        cls,
        windows: Sequence[Union[str, Window]] = (),
        blackouts: Sequence[Union[str, Rule]] = (),
        *,
        zone: ZoneLike = None,
        key: str = "",
    ) -> Schedule:
        """Build a schedule from text (see :mod:`quant_rollout.calendar.parse`).

        Args:
            windows, blackouts: the rules as text (or rule objects, kept as they are).
            zone: the zone for rules that name none; None requires every rule to name
                one (or, for an instant, to carry a UTC offset).
            key: prefix for error messages, e.g. ``stages[1].gate.`` gives
                ``stages[1].gate.windows[0]``.

        Raises:
            CalendarError: naming the key (``windows[0]``) and the text.
        """
        return cls(
            windows=parse_windows(windows, key=f"{key}windows", zone=zone),
            blackouts=parse_blackouts(blackouts, key=f"{key}blackouts", zone=zone),
        )

    @property
    def always_open(self) -> bool:
        """True when the schedule has no windows and no blackouts."""
        return not self.windows and not self.blackouts

    def open_intervals(self, start: InstantLike, end: InstantLike) -> List[Interval]:
        """The stretches of ``[start, end)`` when the schedule is open, sorted, disjoint."""
        lo = max(_instant(start, "start"), MIN_US)
        hi = min(_instant(end, "end"), MAX_US)
        if hi <= lo:
            return []
        if self.windows:
            allowed = merge(iv for rule in self.windows for iv in rule.intervals(lo, hi))
        else:
            allowed = [(lo, hi)]
        if not self.blackouts or not allowed:
            return allowed
        blocked = merge(iv for rule in self.blackouts for iv in rule.intervals(lo, hi))
        return subtract(allowed, blocked)

    def is_open(self, at: InstantLike) -> bool:
        """Whether the instant ``at`` is inside a window and outside every blackout."""
        instant = _instant(at, "at")
        return bool(self.open_intervals(instant, instant + 1))

    def next_open(self, at: InstantLike, *, horizon_us: int = HORIZON_US) -> Optional[int]:
        """The first instant at or after ``at`` when the schedule is open.

        ``at`` itself when open now; None when it stays shut for ``horizon_us``.
        """
        start = _instant(at, "at")
        for lo, hi in _chunks(start, min(start + horizon_us, MAX_US)):
            found = self.open_intervals(lo, hi)
            if found:
                return found[0][0]
        return None

    def next_close(self, at: InstantLike, *, horizon_us: int = HORIZON_US) -> Optional[int]:
        """The first instant at or after ``at`` when the schedule is shut.

        ``at`` itself when shut now; None when it stays open for ``horizon_us``.
        """
        start = _instant(at, "at")
        for lo, hi in _chunks(start, min(start + horizon_us, MAX_US)):
            found = self.open_intervals(lo, hi)
            if not found or found[0][0] > lo:
                return lo
            if found[0][1] < hi:
                return found[0][1]
        return None

    def open_time(self, start: InstantLike, end: InstantLike) -> int:
        """Microseconds of ``[start, end)`` during which the schedule is open."""
        lo, hi = _instant(start, "start"), _instant(end, "end")
        return sum(
            b - a for c_lo, c_hi in _chunks(lo, hi) for a, b in self.open_intervals(c_lo, c_hi)
        )

    def deadline(
        self, start: InstantLike, duration_us: int, *, horizon_us: int = HORIZON_US
    ) -> Optional[int]:
        """The instant by which ``duration_us`` of open time has passed since ``start``.

        Operator-hours arithmetic: a 30-minute veto window that opens at 02:00 under
        ``mon-fri 09:00-17:00`` runs out at 09:30 (on Monday, if 02:00 was Saturday).
        Zero gives ``start``. None when the schedule does not hold that much open
        time within ``horizon_us``.
        """
        first = _instant(start, "start")
        if isinstance(duration_us, bool) or not isinstance(duration_us, int) or duration_us < 0:
            raise CalendarError(
                f"duration_us must be whole microseconds >= 0, got {duration_us!r}",
                key="duration_us",
                value=duration_us,
            )
        left = duration_us
        if left == 0:
            return first
        for lo, hi in _chunks(first, min(first + horizon_us, MAX_US)):
            for a, b in self.open_intervals(lo, hi):
                if b - a >= left:
                    return a + left
                left -= b - a
        return None

    def waits(self, start: InstantLike, end: InstantLike) -> WaitSummary:
        """How long something ready at a random instant of ``[start, end)`` waits.

        Exact, from the shut stretches: a shut stretch ``[a, b)`` contributes
        ``(b - t)`` for each instant ``t`` in it, so its share of the mean is
        ``((b - a)^2 - (b - c)^2) / 2`` over the span, ``c`` being where the span
        cuts it. Used by ``plan`` for the delay a window adds to an advance.

        Raises:
            CalendarError: ``end`` is not after ``start``.
        """
        lo, hi = _instant(start, "start"), _instant(end, "end")
        if hi <= lo:
            raise CalendarError(
                f"end must be after start, got {hi - lo} microseconds", key="end", value=end
            )
        opens = [iv for c_lo, c_hi in _chunks(lo, hi) for iv in self.open_intervals(c_lo, c_hi)]
        opens = merge(opens)
        shut = subtract([(lo, hi)], opens)
        total = 0.0
        longest = 0
        for a, c in shut:
            b = c if c < hi else self.next_open(c)
            if b is None:
                return WaitSummary(sum(e - s for s, e in opens) / (hi - lo), None, None)
            total += ((b - a) ** 2 - (b - c) ** 2) / 2
            longest = max(longest, b - a)
        return WaitSummary(
            open_fraction=sum(e - s for s, e in opens) / (hi - lo),
            mean_wait_us=total / (hi - lo),
            max_wait_us=longest,
        )

    def with_blackouts(self, blackouts: Sequence[Rule]) -> Schedule:
        """This schedule with more blackouts (e.g. a gate's plus the rollout's)."""
        if not blackouts:
            return self
        return Schedule(self.windows, (*self.blackouts, *blackouts))

    def covering_blackout(self, at: InstantLike) -> Optional[Rule]:
        """The first blackout that covers the instant ``at``, or None."""
        instant = _instant(at, "at")
        for rule in self.blackouts:
            if rule.intervals(instant, instant + 1):
                return rule
        return None

    def status(self, at: InstantLike, *, horizon_us: int = HORIZON_US) -> ScheduleStatus:
        """Whether the schedule is open at ``at``, until when, or why not and until when."""
        instant = _instant(at, "at")
        if self.is_open(instant):
            return ScheduleStatus(
                instant, True, instant, self.next_close(instant, horizon_us=horizon_us), None
            )
        blackout = self.covering_blackout(instant)
        opens = self.next_open(instant, horizon_us=horizon_us)
        return ScheduleStatus(instant, False, opens, instant, blackout)

    def last_one_off_end(self) -> Optional[int]:
        """When the last one-off rule (a date, a range, an instant) is over; None if none."""
        ends = [rule.last_end_us() for rule in (*self.windows, *self.blackouts)]
        known = [end for end in ends if end is not None]
        return max(known) if known else None

    def check_can_open(self, *, key: str = "schedule") -> None:
        """Raise if the schedule can never be open, whatever today's date.

        One-off blackouts only shut more; once the last is over, the recurring rules
        repeat, so the schedule can open at all exactly when it opens within
        :data:`HORIZON_US` after the last one-off rule (or after 2024-01-01). Pure: no
        clock is read, so a configuration can be checked when it is built.

        Raises:
            CalendarError: naming ``key``: the blackouts cover every window.
        """
        last = self.last_one_off_end()
        self.check_opens(max(last if last is not None else _REFERENCE_US, _REFERENCE_US), key=key)

    def check_opens(self, at: InstantLike, *, key: str = "schedule") -> int:
        """Return the first opening at or after ``at``; raise if there is none.

        Looks past the last one-off blackout by :data:`HORIZON_US`, far enough for
        every recurring rule to come round.

        Raises:
            CalendarError: naming ``key``: the blackouts cover every window.
        """
        start = _instant(at, "at")
        horizon = HORIZON_US
        last = self.last_one_off_end()
        if last is not None and last > start:
            horizon += last - start
        found = self.next_open(start, horizon_us=horizon)
        if found is None:
            shown = "; ".join(rule.text for rule in (*self.windows, *self.blackouts))
            raise CalendarError(
                f"{key}: can never be open: its blackouts cover every window "
                f"(checked {horizon // DAY_US} days from {to_datetime(start):%Y-%m-%d}): "
                f"{shown[:200]!r}",
                key=key,
                value=shown,
            )
        return found


@dataclass(frozen=True)
class WaitSummary:
    """What a schedule costs something that becomes ready at a random instant.

    Attributes:
        open_fraction: the share of the span during which the schedule is open (0-1).
        mean_wait_us: the average wait until the next opening, in microseconds
            (0 for an instant when it is open); None when some wait never ends.
        max_wait_us: the longest such wait; None when some wait never ends.
    """

    open_fraction: float
    mean_wait_us: Optional[float]
    max_wait_us: Optional[int]


@dataclass(frozen=True)
class ScheduleStatus:
    """A schedule at one instant, as :meth:`Schedule.status` reads it.

    Attributes:
        at: the instant asked about (microseconds since the epoch, UTC).
        is_open: whether the schedule is open then.
        opens_at: when it is next open (``at`` when open now); None: not within the
            horizon.
        closes_at: when it next shuts (``at`` when shut now); None: not within the
            horizon.
        blackout: when shut, the first blackout covering ``at``; None when ``at`` is
            simply outside every window (or when open).
    """

    at: int
    is_open: bool
    opens_at: Optional[int]
    closes_at: Optional[int]
    blackout: Optional[Rule]

    def describe(self, zone: tzinfo) -> str:
        """A phrase for reasons and status, with times in ``zone``.

        ``open until Fri 17:00 EST (3h05m)``; ``waiting for the window that opens Mon
        09:00 EST, in 2h13m``, preceded by ``blackout '2026-12-25 America/New_York';``
        when a blackout covers the instant; or ``no window opens within 4 years``.
        """
        if self.is_open:
            if self.closes_at is None:
                return "open"
            until = format_local(self.closes_at, zone, now=self.at)
            return f"open until {until} ({format_wait(self.closes_at - self.at)})"
        cause = "" if self.blackout is None else f"blackout {self.blackout.text[:80]!r}; "
        if self.opens_at is None:
            return f"{cause}no window opens within {HORIZON_US // (365 * DAY_US)} years"
        opens = format_local(self.opens_at, zone, now=self.at)
        wait = format_wait(self.opens_at - self.at)
        return f"{cause}waiting for the window that opens {opens}, in {wait}"


def format_local(at: InstantLike, zone: tzinfo, *, now: Optional[InstantLike] = None) -> str:
    """An instant as the operator reads it: ``Mon 2026-11-30 09:00 EST``.

    When ``now`` is given and the instant is less than six days ahead of it, the
    date is left out (``Mon 09:00 EST``): the weekday says it.
    """
    instant = _instant(at, "at")
    local = to_datetime(instant).astimezone(zone)
    name = local.tzname() or ""
    if now is not None and 0 <= instant - _instant(now, "now") < 6 * DAY_US:
        return f"{local:%a %H:%M} {name}".rstrip()
    return f"{local:%a %Y-%m-%d %H:%M} {name}".rstrip()


def format_wait(duration_us: int) -> str:
    """A wait as the operator reads it, in the library's two-unit form: ``2h13m``,
    ``3d04h``, ``45s`` (cut, not rounded: a wait is never overstated)."""
    return format_duration(max(0, duration_us) // US_PER_SECOND, units=2)
