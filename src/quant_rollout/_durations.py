"""Durations and time units, written once.

One way to read a duration (``"90s"``, ``"30m"``, ``"1h30m"``, ``"2d"``, or a number of
seconds) and one way to print it: units glued to their numbers, every unit after the
first as two digits (``"3h05m"``, ``"4m00s"``, ``"2d03h"``). The exact form is what a
configuration would say; the two-unit form is for people reading a status or a summary.
"""

from __future__ import annotations

import math
import re
from typing import List, Optional, Tuple

__all__: list[str] = []

US_PER_SECOND = 1_000_000
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3_600
SECONDS_PER_DAY = 86_400
US_PER_DAY = SECONDS_PER_DAY * US_PER_SECOND

_UNITS = (("d", SECONDS_PER_DAY), ("h", SECONDS_PER_HOUR), ("m", SECONDS_PER_MINUTE), ("s", 1))
_UNIT_SECONDS = {unit: float(size) for unit, size in _UNITS}
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*", re.IGNORECASE)


def seconds_to_us(seconds: float) -> int:
    """Seconds (a float, as in the state file) as whole microseconds, rounded."""
    return round(seconds * US_PER_SECOND)


def parse_duration(value: object) -> float:
    """Return a duration in seconds: a number is seconds; text may carry units.

    >>> parse_duration("30m"), parse_duration("1h30m"), parse_duration(90)
    (1800.0, 5400.0, 90.0)

    Units are ``s``, ``m``, ``h`` and ``d``; text without a unit is seconds.

    Raises:
        ValueError: not a finite, non-negative duration (the message quotes it).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '30m' or seconds, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value)
    else:
        raise ValueError(f"expected a duration like '30m' or seconds, got {value!r}")
    if not (seconds >= 0 and seconds != math.inf):
        raise ValueError(f"a duration must be finite and >= 0, got {value!r}")
    return seconds


def _parse_text(value: str) -> float:
    text = value.strip()
    pos, seconds, parts = 0, 0.0, 0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        unit = m.group(2).lower() if m else ""
        if m is None or m.end() == pos or (unit and unit not in _UNIT_SECONDS):
            raise ValueError(
                f"expected a duration like '90s', '30m', '1.5h', '1h30m' or '2d', got {value!r}"
            )
        if not unit and (parts or m.end() < len(text)):
            raise ValueError(f"every part of {value!r} needs a unit (s, m, h or d)")
        seconds += float(m.group(1)) * _UNIT_SECONDS.get(unit, 1.0)
        pos, parts = m.end(), parts + 1
    if parts == 0:
        raise ValueError(f"expected a duration like '30m' or seconds, got {value!r}")
    return seconds


def format_duration(seconds: float, *, units: Optional[int] = None) -> str:
    """Seconds as text that :func:`parse_duration` reads back.

    With ``units=None``, exact and short: ``"30m"``, ``"1h30m"``, ``"1d05s"``; a
    fractional number of seconds is kept as it is (``"2.5s"``). With ``units=2``, the
    two largest units, cut (not rounded) to whole seconds, the second always shown:
    ``"59s"``, ``"4m00s"``, ``"3h05m"``, ``"2d03h"``, for a time left or spent.
    """
    if units is None:
        whole = round(seconds)
        if whole != seconds or whole == 0:
            return f"{seconds:g}s"
        counts = _split(whole)
        shown = [(n, unit) for n, unit in counts if n]
    else:
        counts = _split(int(seconds))
        first = next((i for i, (n, _) in enumerate(counts) if n), len(counts) - 1)
        shown = counts[first : first + units]
    return "".join(
        f"{n}{unit}" if i == 0 else f"{n:02d}{unit}" for i, (n, unit) in enumerate(shown)
    )


def _split(whole: int) -> List[Tuple[int, str]]:
    counts = []
    for unit, size in _UNITS:
        n, whole = divmod(whole, size)
        counts.append((n, unit))
    return counts
