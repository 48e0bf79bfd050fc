"""Time zones, and the bridge between instants and local wall-clock time.

Instants are integer microseconds since the epoch, UTC, as everywhere in the
library. A *wall* value is a local date and time written as the same kind of
integer (the naive local ``datetime`` counted as if it were UTC), so that "09:00
on 2026-03-08" is one number and a day is ``86_400_000_000`` of them.

Between two changes of a zone's UTC offset, wall = instant + offset, so a stretch
of wall time maps to a stretch of instants by subtracting the offset. That is all
the calendar needs to be exact across daylight saving: a wall time that is skipped
(02:30 on the spring-forward night) has no instant, and one that is repeated (01:30
on the fall-back night) has two.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from typing import List, Tuple, Union

from ..errors import CalendarError
from ..trades import to_datetime

__all__ = [
    "DAY_US",
    "MINUTE_US",
    "Zone",
    "load_zone",
    "offset_segments",
    "wall_of",
    "wall_to_instant",
    "zone_name",
]

Zone = tzinfo
"""A time zone: a ``zoneinfo.ZoneInfo`` or ``datetime.timezone.utc``."""

MINUTE_US = 60 * 1_000_000
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US

_EPOCH_NAIVE = datetime(1970, 1, 1)
# Instants the calendar works with: a day inside years 1-9999 on either side, so that
# a local time never falls off the end of datetime's range.
MIN_US = -62_135_596_800_000_000 + 2 * DAY_US
MAX_US = 253_402_300_799_999_999 - 2 * DAY_US

_UTC_NAMES = ("UTC", "Z")


def load_zone(name: Union[str, tzinfo], *, key: str = "zone") -> tzinfo:
    """Return the time zone called ``name`` (an IANA key such as ``America/New_York``).

    ``UTC`` (any case) needs no zone database. Every other name is looked up with
    :mod:`zoneinfo`: the system's database, else the ``tzdata`` package (the
    ``calendar`` extra installs it).

    Raises:
        CalendarError: naming ``key`` and the name: an unknown zone (with the closest
            known names), or no zone database on this machine at all.
    """
    if isinstance(name, tzinfo):
        return name
    if not isinstance(name, str):
        raise CalendarError(
            f"{key} must be a time zone name such as 'America/New_York', got {name!r}",
            key=key,
            value=name,
        )
    text = name.strip()
    if text.upper() in _UTC_NAMES:
        return timezone.utc
    # Imported here: a rollout without a calendar never pays for them.
    import difflib
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    known = zoneinfo.available_timezones()
    if not known:
        raise CalendarError(
            f"{key}: cannot look up time zone {text!r}: this machine has no time zone "
            "database; install one with `pip install 'quant-rollout[calendar]'` "
            "(the tzdata package), or use 'UTC'",
            key=key,
            value=name,
        )
    close = difflib.get_close_matches(text, sorted(known), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise CalendarError(
        f"{key}: unknown time zone {text[:60]!r}: expected an IANA name such as "
        f"'America/New_York', 'Europe/London' or 'UTC'{hint}",
        key=key,
        value=name,
    )


def zone_name(zone: tzinfo) -> str:
    """The name a zone was loaded by (``America/New_York``, ``UTC``)."""
    if zone is timezone.utc:
        return "UTC"
    key = getattr(zone, "key", None)
    return key if isinstance(key, str) else str(zone)


def _us(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def offset_at(zone: tzinfo, instant_us: int) -> int:
    """The zone's UTC offset at an instant, in microseconds."""
    offset = to_datetime(instant_us).astimezone(zone).utcoffset()
    return 0 if offset is None else _us(offset)


def wall_of(zone: tzinfo, instant_us: int) -> int:
    """The local wall-clock value of an instant (see the module docstring)."""
    return instant_us + offset_at(zone, instant_us)


# Offsets are sampled this often and a change is then found exactly by bisection.
# Two changes less than this far apart that cancel out would be missed; no zone in
# the IANA database has them.
_SAMPLE_US = HOUR_US


def offset_segments(zone: tzinfo, start_us: int, end_us: int) -> List[Tuple[int, int, int]]:
    """Split ``[start_us, end_us)`` where the zone's offset changes.

    Returns ``(segment_start, segment_end, offset_us)`` triples covering the span in
    order; the offset is constant on each. Exact to the microsecond.
    """
    if end_us <= start_us:
        return []
    if isinstance(zone, timezone):
        return [(start_us, end_us, offset_at(zone, start_us))]
    segments: List[Tuple[int, int, int]] = []
    seg_start = start_us
    offset = offset_at(zone, start_us)
    probe = start_us
    while probe < end_us - 1:
        nxt = min(probe + _SAMPLE_US, end_us - 1)
        nxt_offset = offset_at(zone, nxt)
        while nxt_offset != offset:
            # The first instant in (probe, nxt] whose offset differs from `offset`.
            lo, hi = probe, nxt
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset_at(zone, mid) == offset:
                    lo = mid
                else:
                    hi = mid
            segments.append((seg_start, hi, offset))
            seg_start, offset, probe = hi, offset_at(zone, hi), hi
        probe = nxt
    segments.append((seg_start, end_us, offset))
    return segments


def naive_to_wall(value: datetime) -> int:
    """A naive local ``datetime`` as a wall value."""
    return _us(value - _EPOCH_NAIVE)


def wall_to_naive(wall: int) -> datetime:
    """A wall value as a naive local ``datetime``."""
    return _EPOCH_NAIVE + timedelta(microseconds=wall)


def wall_to_instant(zone: tzinfo, wall: int) -> int:
    """The first instant whose local time is ``wall`` or, if the clock skips it, later.

    A repeated local time (the fall-back hour) gives its first occurrence; a skipped
    one (the spring-forward hour) gives the instant the clocks jump past it.
    """
    # Every instant whose wall value is `wall` lies within a day of `wall - 0`.
    for seg_start, seg_end, offset in offset_segments(zone, wall - DAY_US, wall + DAY_US):
        if wall - offset < seg_end and seg_start + offset <= wall:
            return wall - offset
        if seg_start + offset > wall:
            # The wall clock jumped from before `wall` to after it at seg_start.
            return seg_start
    raise AssertionError("unreachable: a zone's offset is under a day")
