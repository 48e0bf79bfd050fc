"""The one source of "now".

A clock is any zero-argument callable that returns the current time as an aware
``datetime``, Unix seconds, or ISO-8601 text. The rollout reads it once per tick or
operator action; nothing else in the library asks what time it is, so tests drive
time by hand with :class:`ManualClock` and never sleep.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable, Union

from .errors import ConfigError
from .trades import TimestampLike, has_utc_offset, parse_instant, to_datetime

__all__ = ["Clock", "ManualClock", "read_clock", "system_clock"]

Clock = Callable[[], Union[datetime, float, int, str]]
"""A zero-argument callable returning now (aware ``datetime``, Unix seconds or ISO text)."""


def system_clock() -> datetime:
    """The machine's wall clock, in UTC."""
    return datetime.now(timezone.utc)


def read_clock(clock: Clock) -> int:
    """Call ``clock`` and return now as integer microseconds since the epoch (UTC).

    Raises:
        ConfigError: the clock returned something that is not a time, or a naive time
            (a ``datetime`` or ISO text without a UTC offset), which could be local time
            or UTC; unlike a trade's timestamp, "now" is never guessed to be UTC.
    """
    value = clock()
    if _is_naive(value):
        # datetime.now() without a zone is local time, datetime.utcnow() is UTC: the
        # two differ by hours, and guessing wrong shifts every evidence window.
        raise ConfigError(
            f"the clock returned {value!r}, a time with no UTC offset: it could be local "
            "time or UTC. Return an aware time such as datetime.now(timezone.utc), Unix "
            "seconds such as time.time(), or leave the clock unset"
        )
    try:
        now_us = parse_instant(value)
        # A time the state and history can write down (years 1-9999); milliseconds
        # passed as seconds land in year ~55000 and would fail later, less clearly.
        to_datetime(now_us)
        return now_us
    except (ValueError, OverflowError) as exc:
        raise ConfigError(f"the clock returned {value!r}, which is not a time: {exc}") from None


def _is_naive(value: object) -> bool:
    if isinstance(value, datetime):
        return value.tzinfo is None or value.utcoffset() is None
    if isinstance(value, str):
        return not has_utc_offset(value)
    return False


class ManualClock:
    """A clock that only moves when told to: for tests, replays and simulations.

    >>> clock = ManualClock("2026-05-01T12:00:00Z")
    >>> clock.advance(minutes=30)
    >>> clock().isoformat()
    '2026-05-01T12:30:00+00:00'
    """

    def __init__(self, start: TimestampLike = 0) -> None:
        self._now_us = parse_instant(start)

    def __call__(self) -> datetime:
        return to_datetime(self._now_us)

    def set(self, when: TimestampLike) -> None:
        """Jump to ``when`` (ISO text, datetime or Unix seconds); may go backwards."""
        self._now_us = parse_instant(when)

    def advance(self, seconds: float = 0.0, *, minutes: float = 0.0, days: float = 0.0) -> None:
        """Move forward by the given amount (negative amounts are refused)."""
        delta = timedelta(seconds=seconds, minutes=minutes, days=days)
        if delta < timedelta(0):
            raise ValueError(f"a ManualClock only advances forward, got {delta!r}")
        self._now_us += (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

    @property
    def unix(self) -> float:
        """Now as Unix seconds."""
        return self._now_us / 1_000_000

    def __repr__(self) -> str:
        return f"ManualClock({self().isoformat()!r})"
