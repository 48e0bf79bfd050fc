"""Reading windows, blackouts and durations from the text an operator writes.

Windows (and weekly blackouts)::

    mon-fri 09:00-17:00 America/New_York
    weekdays 09-17 Europe/London          (hours alone are whole hours)
    sat,sun UTC                           (whole days)
    daily 22:00-02:00 Asia/Tokyo          (crosses midnight: 22:00 to 02:00 next day)
    mon-thu 09:00-12:00,13:00-17:00 UTC   (several ranges)

Days come first, then times, then the zone; days or times may be left out (every
day / the whole day). The zone may be left out only where a default zone is given.
A range crossing midnight belongs to the day it starts on. ``24:00`` ends a day.

Blackouts are any of the above, or::

    2026-12-25 America/New_York                     (a whole local day)
    2026-12-24..2026-12-26 America/New_York         (dates, both included)
    2026-03-18T13:45..2026-03-18T15:00 America/New_York   (end excluded)
    2026-06-17T18:00Z margin 30m                    (an instant, 30 min either side)
    2026-06-17T14:00 America/New_York before 15m after 1h
    cron 30 8 * * 1-5 for 45m America/New_York      (cron start times, each for 45m)

Durations as everywhere else: ``90s``, ``30m``, ``1h30m``, ``1.5h``, ``2d``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Dict, FrozenSet, List, NoReturn, Optional, Tuple, Union

from .._durations import parse_duration as shared_parse_duration
from .._durations import seconds_to_us
from ..errors import CalendarError
from .rules import CronRule, Period, Rule, Window
from .zones import DAY_US, load_zone, naive_to_wall, wall_to_instant

__all__ = ["parse_blackout", "parse_blackouts", "parse_duration", "parse_window", "parse_windows"]

ZoneLike = Union[str, tzinfo, None]

_DAYS: Dict[str, int] = {}
for _i, _names in enumerate(
    (
        ("mon", "monday"),
        ("tue", "tues", "tuesday"),
        ("wed", "weds", "wednesday"),
        ("thu", "thur", "thurs", "thursday"),
        ("fri", "friday"),
        ("sat", "saturday"),
        ("sun", "sunday"),
    )
):
    for _name in _names:
        _DAYS[_name] = _i
_DAY_SETS: Dict[str, FrozenSet[int]] = {
    "weekdays": frozenset(range(5)),
    "weekday": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
    "weekend": frozenset({5, 6}),
    "daily": frozenset(range(7)),
    "everyday": frozenset(range(7)),
}
_TIME_RANGE = re.compile(r"^(\d{1,2})(?::(\d{2}))?-(\d{1,2})(?::(\d{2}))?$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2}))?"
    r"(?P<tz>[Zz]|[+-]\d{2}:?\d{2})?$"
)
_EXAMPLE_WINDOW = "'mon-fri 09:00-17:00 America/New_York'"


def _short(text: object) -> str:
    shown = str(text)
    return repr(shown if len(shown) <= 80 else shown[:77] + "...")


def _fail(key: str, text: object, problem: str) -> NoReturn:
    raise CalendarError(f"{key}: {problem} in {_short(text)}", key=key, value=text)


def _normalise(text: str) -> List[str]:
    """Split into tokens, joining ``mon - fri`` / ``09:00 – 17:00`` / ``a, b``."""
    text = text.replace("\u2013", "-").replace("\u2014", "-")
    return re.sub(r"\s*([-,])\s*", r"\1", text.strip()).split()


def _zone(key: str, text: str, token: Optional[str], default: ZoneLike) -> tzinfo:
    if token is not None:
        return load_zone(token, key=key)
    if default is None:
        _fail(
            key,
            text,
            "no time zone: name one at the end, e.g. 'America/New_York' or 'UTC' "
            "(local times mean nothing without it)",
        )
    return load_zone(default, key=key)


def _check_text(key: str, text: object) -> str:
    if not isinstance(text, str):
        raise CalendarError(
            f"{key} must be text such as {_EXAMPLE_WINDOW}, got {_short(text)}", key=key, value=text
        )
    if not text.strip():
        _fail(key, text, f"empty text: expected something like {_EXAMPLE_WINDOW}")
    return text


# --- weekly windows ---------------------------------------------------------------


def _day_item(key: str, text: str, item: str) -> Optional[FrozenSet[int]]:
    low = item.lower()
    if low in _DAY_SETS:
        return _DAY_SETS[low]
    if low in _DAYS:
        return frozenset({_DAYS[low]})
    first, dash, last = low.partition("-")
    if dash and first in _DAYS and last in _DAYS:
        a, b = _DAYS[first], _DAYS[last]
        # fri-mon wraps through the weekend: one reading only, so it is allowed.
        return frozenset((a + k) % 7 for k in range((b - a) % 7 + 1))
    return None


def _days(key: str, text: str, token: str) -> Optional[FrozenSet[int]]:
    days: set[int] = set()
    for item in token.split(","):
        found = _day_item(key, text, item)
        if found is None:
            return None
        days |= found
    return frozenset(days)


def _clock(key: str, text: str, hours: str, minutes: Optional[str], *, end: bool) -> int:
    h, m = int(hours), int(minutes or 0)
    shown = f"{hours}:{minutes}" if minutes is not None else hours
    if m > 59:
        _fail(key, text, f"{shown!r} is not a time of day (minutes go up to 59)")
    if h > 24 or (h == 24 and m):
        _fail(key, text, f"{shown!r} is not a time of day (00:00 to 24:00)")
    if h == 24 and not end:
        _fail(key, text, f"{shown!r} cannot start a range (24:00 is the end of a day; use 00:00)")
    return h * 60 + m


def _ranges(key: str, text: str, token: str) -> Optional[Tuple[Tuple[int, int], ...]]:
    found: List[Tuple[int, int]] = []
    for item in token.split(","):
        m = _TIME_RANGE.match(item)
        if m is None:
            return None
        start = _clock(key, text, m.group(1), m.group(2), end=False)
        end = _clock(key, text, m.group(3), m.group(4), end=True)
        if start == end % 1440 and end != 1440:
            _fail(
                key,
                text,
                f"the range {item!r} starts and ends at the same time: empty, or a whole "
                "day? write 00:00-24:00 for a whole day",
            )
        found.append((start, end))
    return tuple(found)


def parse_window(text: object, *, key: str = "window", zone: ZoneLike = None) -> Window:
    """Read a weekly window such as ``mon-fri 09:00-17:00 America/New_York``.

    Args:
        text: the window (see the module docstring for the forms).
        key: where the text came from, for error messages (``windows[0]``).
        zone: the zone to use when the text names none; None requires one.

    Raises:
        CalendarError: naming ``key`` and the text: unknown words, ``25:00``, a range
            that starts and ends at the same time, an unknown or missing zone.
    """
    raw = _check_text(key, text)
    tokens = _normalise(raw)
    days: Optional[FrozenSet[int]] = None
    ranges: Optional[Tuple[Tuple[int, int], ...]] = None
    zone_token: Optional[str] = None
    for index, token in enumerate(tokens):
        if days is None and ranges is None and zone_token is None:
            days = _days(key, raw, token)
            if days is not None:
                continue
        if ranges is None and zone_token is None:
            ranges = _ranges(key, raw, token)
            if ranges is not None:
                continue
        if zone_token is None and index == len(tokens) - 1 and (days or ranges):
            zone_token = token
            continue
        _fail(
            key,
            raw,
            f"cannot read {token[:40]!r}: expected days (mon-fri, weekdays, sat,sun), "
            f"then times (09:00-17:00), then a time zone, as in {_EXAMPLE_WINDOW}",
        )
    # The loop refuses a first token that is neither days nor times.
    assert days is not None or ranges is not None
    return Window(
        days=days if days is not None else frozenset(range(7)),
        ranges=ranges if ranges is not None else ((0, 1440),),
        zone=_zone(key, raw, zone_token, zone),
        text=raw.strip(),
    )


# --- durations --------------------------------------------------------------------


def parse_duration(value: object, *, key: str = "duration") -> int:
    """Read a duration the way a configuration file does (``90s``, ``30m``, ``1h30m``,
    ``1.5h``, ``2d``, or seconds as a number; see :mod:`quant_rollout._durations`).

    Returns whole microseconds (>= 0).

    Raises:
        CalendarError: naming ``key`` and the value.
    """
    try:
        return seconds_to_us(shared_parse_duration(value))
    except ValueError as exc:
        raise CalendarError(f"{key}: {exc}", key=key, value=value) from None


# --- blackouts --------------------------------------------------------------------


def _date(key: str, text: str, token: str) -> Optional[date]:
    m = _DATE.match(token)
    if m is None:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        _fail(key, text, f"{token!r} is not a date ({exc})")


def _datetime(key: str, text: str, token: str) -> Optional[datetime]:
    """A date-time, aware when it carries ``Z`` or an offset, else naive."""
    m = _DATETIME.match(token)
    if m is None:
        return None
    tz = m.group("tz")
    zone: Optional[tzinfo] = None
    if tz is not None:
        digits = tz[1:].replace(":", "")
        sign = -1 if tz[0] == "-" else 1
        hours, minutes = (0, 0) if tz in ("Z", "z") else (int(digits[:2]), int(digits[2:]))
        if hours > 23 or minutes > 59:
            _fail(key, text, f"{tz!r} is not a UTC offset")
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    y, mo, d, h, mi = (int(m.group(i)) for i in range(1, 6))
    try:
        return datetime(y, mo, d, h, mi, int(m.group(6) or 0), tzinfo=zone)
    except ValueError as exc:
        _fail(key, text, f"{token!r} is not a date and time ({exc})")


def _instant(key: str, text: str, moment: datetime, zone: Optional[tzinfo]) -> int:
    if moment.tzinfo is not None:
        offset = moment.utcoffset()
        assert offset is not None
        return naive_to_wall(moment.replace(tzinfo=None) - offset)
    assert zone is not None
    return wall_to_instant(zone, naive_to_wall(moment))


_MARGIN_WORDS = ("margin", "±", "before", "after")


def _margins(key: str, text: str, tokens: List[str]) -> Tuple[int, int, Optional[str]]:
    """Read ``margin 30m`` / ``before 15m`` / ``after 1h`` and at most one zone, in any
    order; return (before, after, zone token)."""
    before = after = 0
    zone_token: Optional[str] = None
    seen = set()
    i = 0
    while i < len(tokens):
        word = tokens[i].lower()
        if word not in _MARGIN_WORDS:
            if zone_token is not None:
                _fail(
                    key,
                    text,
                    f"cannot read {tokens[i][:40]!r}: after a date or instant expect "
                    "'margin 30m', 'before 15m', 'after 1h' and a time zone",
                )
            zone_token = tokens[i]
            i += 1
            continue
        if i + 1 >= len(tokens):
            _fail(key, text, f"{word!r} needs a duration after it, e.g. '{word} 30m'")
        if word in seen:
            _fail(key, text, f"{word!r} is given twice")
        seen.add(word)
        amount = parse_duration(tokens[i + 1], key=key)
        if word in ("margin", "±"):
            before, after = amount, amount
        elif word == "before":
            before = amount
        else:
            after = amount
        i += 2
    return before, after, zone_token


def _period(key: str, text: str, tokens: List[str], default: ZoneLike) -> Period:
    # A date followed by a time token ("2026-06-17 14:00") is one date-time.
    if len(tokens) > 1 and _DATE.match(tokens[0]) and re.match(r"^\d{2}:\d{2}", tokens[1]):
        tokens = [f"{tokens[0]}T{tokens[1]}", *tokens[2:]]
    first, dots, second = tokens[0].partition("..")
    before, after, zone_token = _margins(key, text, tokens[1:])
    has_margin = before + after > 0 or any(t.lower() in _MARGIN_WORDS for t in tokens[1:])

    start_date, start_dt = _date(key, text, first), _datetime(key, text, first)
    if start_date is None and start_dt is None:
        _fail(
            key, text, f"{first[:40]!r} is not a date (2026-12-25) or date-time (2026-12-25T14:00)"
        )
    if dots:
        end_date, end_dt = _date(key, text, second), _datetime(key, text, second)
        if end_date is None and end_dt is None:
            _fail(key, text, f"{second[:40]!r} is not a date or date-time to end the range")
        if (start_date is None) != (end_date is None):
            _fail(key, text, "a range needs two dates or two date-times, not one of each")
        if has_margin:
            _fail(key, text, "a range takes no margin: widen the range instead")
        if start_date is not None and end_date is not None:
            if end_date < start_date:
                _fail(key, text, f"the range ends ({second}) before it starts ({first})")
            zone = _zone(key, text, zone_token, default)
            wall_start = naive_to_wall(datetime(start_date.year, start_date.month, start_date.day))
            wall_end = naive_to_wall(datetime(end_date.year, end_date.month, end_date.day))
            return Period(wall_start, wall_end + DAY_US, zone, text.strip())
        assert start_dt is not None
        assert end_dt is not None
        return _datetime_period(key, text, start_dt, end_dt, zone_token, default)
    if start_date is not None:
        if has_margin:
            _fail(key, text, "a date covers the whole local day: it takes no margin")
        zone = _zone(key, text, zone_token, default)
        wall = naive_to_wall(datetime(start_date.year, start_date.month, start_date.day))
        return Period(wall, wall + DAY_US, zone, text.strip())
    assert start_dt is not None
    if before + after == 0:
        _fail(
            key,
            text,
            "a single instant covers no time: add a margin, e.g. 'margin 30m' or "
            "'before 15m after 1h'",
        )
    moment_zone: Optional[tzinfo] = None
    if start_dt.tzinfo is None:
        moment_zone = _zone(key, text, zone_token, default)
    elif zone_token is not None:
        _fail(key, text, f"{first!r} carries its own UTC offset: drop {zone_token!r}")
    at = _instant(key, text, start_dt, moment_zone)
    return Period(at - before, at + after, None, text.strip())


def _datetime_period(
    key: str,
    text: str,
    start: datetime,
    end: datetime,
    zone_token: Optional[str],
    default: ZoneLike,
) -> Period:
    naive = start.tzinfo is None, end.tzinfo is None
    if all(naive):
        zone = _zone(key, text, zone_token, default)
        wall_start = naive_to_wall(start)
        wall_end = naive_to_wall(end)
        if wall_end <= wall_start:
            _fail(key, text, "the range ends before or when it starts")
        return Period(wall_start, wall_end, zone, text.strip())
    if any(naive):
        _fail(key, text, "give both ends a UTC offset, or neither (then name a zone)")
    if zone_token is not None:
        _fail(key, text, f"both ends carry a UTC offset: drop {zone_token!r}")
    start_us, end_us = _instant(key, text, start, None), _instant(key, text, end, None)
    if end_us <= start_us:
        _fail(key, text, "the range ends before or when it starts")
    return Period(start_us, end_us, None, text.strip())


# --- cron ---------------------------------------------------------------------------

_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_CRON_DAYS = {
    name: (i + 1) % 7 for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
}
_CRON_FIELDS: Tuple[Tuple[str, int, int, Dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _CRON_DAYS),
)
_MAX_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _cron_value(
    key: str, text: str, field: str, word: str, lo: int, hi: int, names: Dict[str, int]
) -> int:
    low = word.lower()
    if low in names:
        return names[low]
    if not low.isdigit():
        _fail(key, text, f"cron {field} {word!r} is not a number from {lo} to {hi}")
    value = int(low)
    if not lo <= value <= hi:
        _fail(key, text, f"cron {field} {word!r} is outside {lo}-{hi}")
    return value


def _cron_field(key: str, text: str, index: int, token: str) -> FrozenSet[int]:
    field, lo, hi, names = _CRON_FIELDS[index]
    values: set[int] = set()
    for item in token.split(","):
        spec, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                _fail(key, text, f"cron {field} step {step_text!r} must be a whole number >= 1")
            step = int(step_text)
        if spec == "*":
            first, last = lo, hi
        else:
            a, dash, b = spec.partition("-")
            first = _cron_value(key, text, field, a, lo, hi, names)
            last = _cron_value(key, text, field, b, lo, hi, names) if dash else first
            if slash and not dash:
                last = hi
            if last < first:
                _fail(key, text, f"cron {field} range {spec!r} runs backwards")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _cron(key: str, text: str, tokens: List[str], default: ZoneLike) -> CronRule:
    # tokens: "cron", five fields, "for", duration, [zone]
    if len(tokens) < 8 or tokens[6].lower() != "for":
        _fail(
            key,
            text,
            "expected 'cron <minute> <hour> <day of month> <month> <day of week> for "
            "<duration> <zone>', e.g. 'cron 30 8 * * 1-5 for 45m America/New_York'",
        )
    if len(tokens) > 9:
        _fail(key, text, f"cannot read {tokens[9][:40]!r} after the time zone")
    fields = [_cron_field(key, text, i, tokens[1 + i]) for i in range(5)]
    length = parse_duration(tokens[7], key=key)
    if length == 0:
        _fail(key, text, "a cron blackout must last longer than 0")
    zone = _zone(key, text, tokens[8] if len(tokens) == 9 else None, default)
    minutes, hours, doms, months, dows = fields
    dom_any, dow_any = tokens[3].startswith("*"), tokens[5].startswith("*")
    weekdays = frozenset((d - 1) % 7 for d in dows)  # cron: 0 and 7 are Sunday
    if (dom_any or dow_any) and not any(
        d <= _MAX_DAYS_IN_MONTH[m - 1] for m in months for d in doms
    ):
        _fail(key, text, "this cron rule names no day that exists (e.g. 30 February)")
    return CronRule(
        minutes=minutes,
        hours=hours,
        days_of_month=doms,
        months=months,
        days_of_week=weekdays,
        dom_any=dom_any,
        dow_any=dow_any,
        length_us=length,
        zone=zone,
        text=text.strip(),
    )


def parse_blackout(text: object, *, key: str = "blackout", zone: ZoneLike = None) -> Rule:
    """Read a blackout: a date, a range, an instant with a margin, a weekly window or a
    cron rule (see the module docstring for the forms).

    Args:
        text: the blackout.
        key: where the text came from, for error messages (``blackouts[0]``).
        zone: the zone to use when the text names none; None requires one (text
            with its own UTC offset, like ``2026-06-17T18:00Z``, needs none).

    Raises:
        CalendarError: naming ``key`` and the text: a date that does not exist
            (``2027-02-29``), an inverted range, an instant without a margin, a local
            time without a zone, an unknown zone, a cron field out of range.
    """
    raw = _check_text(key, text)
    tokens = raw.split()
    if tokens[0].lower() == "cron":
        return _cron(key, raw, tokens, zone)
    if re.match(r"^\d{4}-", tokens[0]):
        return _period(key, raw, _normalise_period(raw), zone)
    return parse_window(raw, key=key, zone=zone)


def _normalise_period(text: str) -> List[str]:
    text = text.replace("\u00b1", " ± ").replace("+-", " ± ")
    text = re.sub(r"\s*\.\.\s*|\s+to\s+", "..", text.strip())
    return text.split()


def parse_windows(
    values: object, *, key: str = "windows", zone: ZoneLike = None
) -> Tuple[Window, ...]:
    """Read a list of weekly windows (texts or :class:`Window` objects).

    Errors name ``key[i]``; see :func:`parse_window`.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise CalendarError(
            f"{key} must be a list of texts such as [{_EXAMPLE_WINDOW}], got {_short(values)}",
            key=key,
            value=values,
        )
    return tuple(
        value if isinstance(value, Window) else parse_window(value, key=f"{key}[{i}]", zone=zone)
        for i, value in enumerate(values)
    )


def parse_blackouts(
    values: object, *, key: str = "blackouts", zone: ZoneLike = None
) -> Tuple[Rule, ...]:
    """Read a list of blackouts (texts, or :class:`Window`, :class:`Period` or
    :class:`CronRule` objects). Errors name ``key[i]``; see :func:`parse_blackout`."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise CalendarError(
            f"{key} must be a list of texts such as ['2026-12-25 America/New_York'], "
            f"got {_short(values)}",
            key=key,
            value=values,
        )
    return tuple(
        value
        if isinstance(value, (Window, Period, CronRule))
        else parse_blackout(value, key=f"{key}[{i}]", zone=zone)
        for i, value in enumerate(values)
    )
