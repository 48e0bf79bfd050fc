"""The edits of the state that ticks and verbs share: the clock check, the start of a
rollout, entering a stage, tripping the kill switch, landing a move, pulling the
state's instants back to a clock that had jumped ahead, and where a new window of
evidence starts.

**Each trade counts in at most one window.** A window that starts at ``now`` (an
advance, a kill, a veto, a cleared kill, a reset, a promote) admits trades opened at
or after ``now``. A trade stamped after ``now`` (the bot's clock runs ahead, or the
rollout's clock is old: quant-rollout 0.1's own usage ticks a 1970 clock over trades
of 2026) may already have been counted by the window being replaced. So a new window
also starts *after* the newest open time the replaced window counted, when that is
after ``now``: ``evidence_after`` (:func:`window_start_us`). (A trade stamped at the
very microsecond a window starts is, as before, credited to the new window: the
parameters that start then.) A tick knows that time exactly (its evidence); a verb
knows it as ``counted_through``, which every tick that records an event raises
(:func:`counted`). So a verb from another process misses only the trades stamped
ahead of the clock that reached quiet ticks since the last recorded event.

A move's own edit changes the data (which stage, when its evidence starts, why it
was killed); :func:`land` then sets the flags of the phase that
:data:`~.transitions.TRANSITIONS` lands the move in.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

from ..errors import ClockError
from ..gates import GateProof
from ..trades import format_instant, parse_instant
from .model import Transition
from .state import RolloutState
from .transitions import Event, Phase, settle

__all__ = [
    "ACCEPT_CLOCK_HINT",
    "check_clock",
    "clock_ahead",
    "clock_message",
    "clock_pulled_back",
    "counted",
    "entered",
    "fresh_evidence",
    "killed",
    "land",
    "new_window",
    "pinned",
    "started",
    "window_start_us",
]

ACCEPT_CLOCK_HINT = (
    "if the clock is right now (it had jumped ahead), run `quant-rollout accept-clock` "
    "(Rollout.accept_clock()) to pull those instants back to now"
)
"""The way out of a suspect clock, as every message about one says it."""

_INSTANT_FIELDS = (
    "updated_at",
    "started_at",
    "stage_entered_at",
    "evidence_since",
    "advance_pending_since",
    "kill_timestamp",
)


def _instants(state: RolloutState) -> List[Tuple[str, str]]:
    """(field, ISO instant) for every instant the state records."""
    found = [(name, getattr(state, name)) for name in _INSTANT_FIELDS]
    found += [(f"ship_timestamps[{k!r}]", v) for k, v in state.ship_timestamps.items()]
    return [(name, value) for name, value in found if value is not None]


def clock_ahead(state: RolloutState, now_us: int) -> Optional[Tuple[str, str]]:
    """(field, instant) of the latest instant the state records after ``now_us``, or
    None when the clock is at or after every one of them.

    Such an instant means the clock went back, or was ahead when it was recorded (a
    forward glitch, since corrected). Either way "now" is suspect: a tick still runs
    the kill check, but never advances; see :func:`~.tick.decide`.
    """
    latest: Optional[Tuple[int, str, str]] = None
    for name, value in _instants(state):
        at = parse_instant(value)
        if at > now_us and (latest is None or at > latest[0]):
            latest = (at, name, value)
    return None if latest is None else (latest[1], latest[2])


def check_clock(state: RolloutState, now_us: int) -> None:
    """Refuse a clock behind an instant the state recorded (:func:`clock_ahead`).

    Raises:
        ClockError: naming the instant and pointing at ``accept-clock``.
    """
    ahead = clock_ahead(state, now_us)
    if ahead is not None:
        raise ClockError(clock_message(ahead, now_us, "refusing to act on it"))


def clock_message(ahead: Tuple[str, str], now_us: int, what: str) -> str:
    """The sentence every suspect-clock refusal or NOOP uses."""
    name, value = ahead
    return (
        f"the clock says {format_instant(now_us)}, before {name} = {value} recorded in "
        f"the state (the clock went back, or had jumped ahead); {what}. "
        f"{ACCEPT_CLOCK_HINT}"
    )


def clock_pulled_back(state: RolloutState, now_us: int) -> Tuple[RolloutState, int]:
    """``state`` with every instant after ``now_us`` set to ``now_us`` (and how many
    were). The evidence window never starts after now, so trades count again from now.
    """
    at = format_instant(now_us)
    moved = 0
    changes: Dict[str, Any] = {}
    for name in _INSTANT_FIELDS:
        value = getattr(state, name)
        if value is not None and parse_instant(value) > now_us:
            changes[name] = at
            moved += 1
    ships = dict(state.ship_timestamps)
    for key, value in ships.items():
        if parse_instant(value) > now_us:
            ships[key] = at
            moved += 1
    last_tick = state.last_tick_unix
    if last_tick is not None and last_tick > now_us / 1e6:
        last_tick = now_us / 1e6
    edited = dataclasses.replace(state, ship_timestamps=ships, last_tick_unix=last_tick, **changes)
    return edited, moved


def pinned(state: RolloutState) -> RolloutState:
    """``state`` with ``bot_stage`` None (an older file, a state built by hand) made
    explicit: the bot runs the current stage. Ticks and verbs pin it before they
    move, so a verb that moves the stage leaves the bot's stage behind it."""
    if state.bot_stage is not None:
        return state
    return dataclasses.replace(state, bot_stage=state.current_stage)


def started(state: RolloutState, now_us: int, transitions: List[Transition]) -> RolloutState:
    """The state with its start recorded, on the first tick or verb of a rollout.

    Appends the ``start`` transition to ``transitions``; the phase does not change.
    """
    if state.started_at is not None:
        return state
    at = format_instant(now_us)
    new = dataclasses.replace(
        state, started_at=at, stage_entered_at=state.stage_entered_at or at, updated_at=at
    )
    # A state with no start yet is either brand new or was written by something other
    # than a tick (a 0.1 file, or RolloutState.save); say which without guessing more.
    fresh = state == RolloutState(history_seq=state.history_seq, history_hash=state.history_hash)
    reason = (
        "rollout started at stage 0"
        if fresh
        else f"took over an existing state file at stage {state.current_stage}"
        + (" with the kill switch latched" if state.kill_switch_tripped else "")
    )
    transitions.append(
        Transition(Event.START, at, state.current_stage, new.current_stage, reason, new)
    )
    return new


def new_window(state: RolloutState, stage: int) -> Dict[str, int]:
    """``gate_windows`` after a new window of ``stage``'s evidence begins: restarts
    spend the gate's error level rather than reset it (:mod:`quant_rollout.stats.spending`)."""
    windows = dict(state.gate_windows)
    had = 1 if stage in (0, state.current_stage) else 0  # a window already under way
    windows[str(stage)] = windows.get(str(stage), had) + 1
    return windows


def window_start_us(state: RolloutState) -> Optional[int]:
    """The first instant (microseconds) a trade of the current window may be opened
    at: ``evidence_since``, or just after ``evidence_after`` when that is later. None:
    every trade counts (stage 0 before any revert)."""
    since = None if state.evidence_since is None else parse_instant(state.evidence_since)
    if state.evidence_after is None:
        return since
    after = parse_instant(state.evidence_after) + 1
    return after if since is None else max(since, after)


def counted(state: RolloutState, newest_us: Optional[int], now_us: int) -> RolloutState:
    """``state`` with ``counted_through`` raised to ``newest_us`` (the newest open time
    the current window counts), when that is after ``now_us``: a later window starting
    at a later now must not count it again. Trades before now need no record: a window
    starting at now or later never admits them."""
    if newest_us is None or newest_us <= now_us:
        return state
    through = state.counted_through
    if through is not None and parse_instant(through) >= newest_us:
        return state
    return dataclasses.replace(state, counted_through=format_instant(newest_us))


def fresh_evidence(state: RolloutState, now_us: int) -> Dict[str, Any]:
    """The fields that start a new window of evidence at ``now_us``: it admits trades
    opened at or after now and after every open time an earlier window counted."""
    ahead = [
        (parse_instant(value), value)
        for value in (state.evidence_after, state.counted_through)
        if value is not None and parse_instant(value) > now_us
    ]
    bound = max(ahead)[1] if ahead else None
    return {
        "evidence_since": format_instant(now_us),
        "evidence_after": bound,
        "counted_through": bound,
    }


def entered(
    state: RolloutState, stage: int, now_us: int, proof: Optional[GateProof] = None
) -> RolloutState:
    """The state after moving to ``stage`` at ``now_us``: fresh evidence (an experiment
    there starts afresh), and what the gate passed on showed (``proof``; None when no
    gate was passed). The last experiment's winner is kept: the stage after it runs
    that arm's params."""
    at = format_instant(now_us)
    ships = dict(state.ship_timestamps)
    if stage != 0:
        ships[str(stage)] = at
    return dataclasses.replace(
        state,
        current_stage=stage,
        ship_timestamps=ships,
        stage_entered_at=at,
        gate_windows=new_window(state, stage),
        gate_n=None if proof is None else proof.n,
        gate_win_rate=None if proof is None else proof.win_rate,
        gate_ev_per_dollar=None if proof is None else proof.ev_per_dollar,
        proven_win_rate=None if proof is None else proof.win_rate_lower,
        proven_ev_per_dollar=None if proof is None else proof.ev_per_dollar_lower,
        **fresh_evidence(state, now_us),
        experiment=None,
        experiment_pending=None,
    )


def killed(state: RolloutState, now_us: int, reason: str) -> RolloutState:
    """Back at stage 0 with the kill's reason and time (the latch is the landing's)."""
    return dataclasses.replace(
        entered(state, 0, now_us),
        kill_reason=reason,
        kill_timestamp=format_instant(now_us),
    )


def land(edited: RolloutState, phase: Phase, at: str) -> RolloutState:
    """A move's ``edited`` state settled into the ``phase`` the table lands it in
    (:func:`~.transitions.settle`), stamped with the move's time ``at``."""
    return dataclasses.replace(settle(edited, phase), updated_at=at)
