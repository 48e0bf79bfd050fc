"""When the passing of time alone changes what a tick decides.

A tick reads the clock in three places that can change its answer: an open veto
window closes at its deadline (:func:`veto_deadline_us`, the comparison
:func:`~.tick.decide` itself makes), the next gate's ``min_days_after_prev`` is
met (:func:`~.judging.days_since_stage_entry`), and an advance the calendar holds
back (a met gate outside its windows, a veto window run out in a blackout) lands
when the schedule opens. :func:`next_time_change` names the instant, for a caller
that skips the ticks in which nothing can change (a replay).
"""

from __future__ import annotations

from typing import Optional

from ..trades import parse_instant
from .judging import days_since_stage_entry
from .model import RolloutConfig, Stage
from .state import RolloutState

__all__ = ["next_time_change", "veto_deadline_us"]


def veto_deadline_us(state: RolloutState) -> Optional[int]:
    """The pending advance's veto deadline in microseconds, as :func:`decide` compares it
    (the window is open while ``now_us`` is before it); None with nothing pending."""
    deadline = state.advance_veto_deadline_unix
    return None if deadline is None else round(deadline * 1e6)


# A gate wanting more days than this is never met: no later instant fits in a datetime.
_MAX_GATE_DAYS = 2_000_000.0


def next_time_change(
    config: RolloutConfig, state: RolloutState, now_us: int, *, gate_met: bool = False
) -> Optional[int]:
    """The first instant (µs) from which the passing of time alone can change what
    :func:`decide` answers for this state, or None when no such instant is ahead.

    ``gate_met`` says whether the next stage's gate passes on the current evidence
    (the caller has the evidence; this function has only the state): a met gate held
    back by its windows or a blackout changes the answer when the schedule opens.
    A pending advance whose veto window ran out in a blackout needs no such word:
    the tick that held it judged its gate.

    Time matters to ``decide`` in three places: an open veto window closes at its
    deadline (the instant returned may then be at or before ``now_us``: it is due),
    the next gate's ``min_days_after_prev`` is met at an instant found here with
    the gate's own float comparison, and the calendar opens for an advance it holds
    back. Everything else (the gates' tests, the kill
    criteria) depends on the trades only. A latched kill switch or a pause waits for
    an operator, so returns None. For a caller that skips ticks in which nothing can
    change, such as a replay.
    """
    if state.kill_switch_tripped or state.paused:
        return None
    if state.advance_pending_to is not None:
        due = veto_deadline_us(state)
        pending = config.stage(state.advance_pending_to)
        if due is not None and due <= now_us and _holds(config, pending, now_us):
            return _opening(config, pending, now_us)  # None: it never opens again
        return due
    target = config.next_stage(state.current_stage)
    days = _days_met(state, target, now_us)
    opening = _opening(config, target, now_us) if gate_met and target is not None else None
    found = [t for t in (days, opening) if t is not None]
    return min(found) if found else None


def _holds(config: RolloutConfig, target: Stage, now_us: int) -> bool:
    """Whether the calendar holds back an advance to ``target`` at ``now_us``."""
    schedule = config.advance_schedule(target)
    return not schedule.always_open and not schedule.is_open(now_us)


def _opening(config: RolloutConfig, target: Stage, now_us: int) -> Optional[int]:
    """When the calendar next lets an advance to ``target`` land, if it holds it back
    at ``now_us``; None when nothing holds it, or when it never opens again."""
    if not _holds(config, target, now_us):
        return None
    return config.advance_schedule(target).next_open(now_us)


def _days_met(state: RolloutState, target: Optional[Stage], now_us: int) -> Optional[int]:
    """When the next gate's ``min_days_after_prev`` is met, if later than ``now_us``."""
    gate = None if target is None else target.gate
    if gate is None or gate.min_days_after_prev <= 0:
        return None
    need = gate.min_days_after_prev
    entered_text = state.stage_entered_at or state.started_at
    if entered_text is None or need > _MAX_GATE_DAYS:
        return None
    entered = parse_instant(entered_text)
    if days_since_stage_entry(state, now_us) >= need:
        return None  # met already: time has nothing more to change

    def met(at_us: int) -> bool:  # the gate's own comparison, float for float
        return days_since_stage_entry(state, at_us) >= need

    # Days are a float of microseconds, monotone in time: a few steps settle the
    # rounding of the first guess to the least instant that meets them.
    at = entered + round(need * 86_400e6)
    while met(at - 1):
        at -= 1
    while not met(at):
        at += 1
    return at
