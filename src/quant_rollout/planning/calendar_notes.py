"""What the calendar adds to the time to advance: notes for :func:`plan`'s report.

The rows of a plan count trades and days of trading; a gate's windows and blackouts
add a wait of their own (a gate met on Friday evening waits for Monday), and a veto
window that counts operator hours lasts longer in real time than it says. Both are
measured exactly over a year of the schedule (:meth:`Schedule.waits
<quant_rollout.calendar.Schedule.waits>`), not simulated.
"""

from __future__ import annotations

from typing import List, Tuple

from .._durations import US_PER_DAY, format_duration
from ..calendar import format_wait
from ..engine import RolloutConfig, Stage
from ..trades import to_datetime

__all__ = ["calendar_notes", "has_calendar_notes"]

_YEAR_US = 52 * 7 * US_PER_DAY


def has_calendar_notes(config: RolloutConfig) -> bool:
    """Whether any transition of ``config`` gets a calendar note."""
    return config.operator_schedule is not None or any(
        not config.advance_schedule(stage).always_open for stage in config.stages[1:]
    )


def calendar_notes(config: RolloutConfig, target: Stage, start_us: int) -> Tuple[str, ...]:
    """The notes for the advance to ``target``, measured over the 52 weeks from
    ``start_us`` (microseconds since the epoch, UTC)."""
    if target.gate is None:
        return ()
    notes: List[str] = []
    schedule = config.advance_schedule(target)
    if not schedule.always_open:
        waits = schedule.waits(start_us, start_us + _YEAR_US)
        rules = "; ".join(rule.text for rule in (*schedule.windows, *schedule.blackouts))
        if waits.mean_wait_us is None or waits.max_wait_us is None:
            notes.append(f"calendar ({rules}): some advance would wait forever")
        else:
            notes.append(
                f"calendar ({rules}): advances land in {waits.open_fraction:.1%} of the 52 "
                f"weeks from {to_datetime(start_us):%Y-%m-%d}; a gate met at a random moment "
                f"waits {format_wait(round(waits.mean_wait_us))} on average, "
                f"{format_wait(waits.max_wait_us)} at most (not in the days above)"
            )
    hours = config.operator_schedule
    if hours is not None and config.veto_window_seconds > 0:
        window = format_duration(config.veto_window_seconds)
        longest = hours.waits(start_us, start_us + _YEAR_US).max_wait_us
        window_us = round(config.veto_window_seconds * 1e6)
        real = "" if longest is None else f", at most {format_wait(longest + window_us)} real"
        notes.append(f"veto window: {window} of operator hours{real}")
    return tuple(notes)
