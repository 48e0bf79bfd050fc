"""Calendars: when a gate may pass, when nothing may land, and operator hours.

Pure arithmetic on instants (integer microseconds, UTC) and IANA time zones through
the standard library's :mod:`zoneinfo`; nothing here reads the clock. The ``tzdata``
package (the ``calendar`` extra) supplies the zone database where the system has
none.

- :mod:`.zones`: loading zones, and the exact map between instants and local time.
- :mod:`.rules`: weekly windows, one-off periods and cron rules as sets of instants.
- :mod:`.parse`: the text an operator writes (``mon-fri 09:00-17:00 America/New_York``).
- :mod:`.schedule`: :class:`Schedule` (windows minus blackouts): is it open, when does
  it next open or close, and deadlines that count only open time.
"""

from __future__ import annotations

from .parse import (
    parse_blackout,
    parse_blackouts,
    parse_duration,
    parse_window,
    parse_windows,
)
from .rules import CronRule, Interval, Period, Rule, Window
from .schedule import (
    HORIZON_US,
    InstantLike,
    Schedule,
    ScheduleStatus,
    WaitSummary,
    format_local,
    format_wait,
)
from .zones import load_zone, zone_name

__all__ = [
    "HORIZON_US",
    "CronRule",
    "InstantLike",
    "Interval",
    "Period",
    "Rule",
    "Schedule",
    "ScheduleStatus",
    "WaitSummary",
    "Window",
    "format_local",
    "format_wait",
    "load_zone",
    "parse_blackout",
    "parse_blackouts",
    "parse_duration",
    "parse_window",
    "parse_windows",
    "zone_name",
]
