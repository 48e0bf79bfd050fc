"""The edits of the state that ticks and verbs share: the clock check, the start of a
rollout, entering a stage, tripping the kill switch, and landing a move.

A move's own edit changes the data (which stage, when its evidence starts, why it
was killed); :func:`land` then sets the flags of the phase that
:data:`~.transitions.TRANSITIONS` lands the move in.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional

from ..errors import ClockError
from ..gates import GateProof
from ..trades import format_instant, parse_instant
from .model import Transition
from .state import RolloutState
from .transitions import Event, Phase, settle

__all__ = ["check_clock", "entered", "killed", "land", "started"]


def check_clock(state: RolloutState, now_us: int) -> None:
    """Refuse a clock that went back past the last recorded transition."""
    last = state.updated_at
    if last is not None and now_us < parse_instant(last):
        raise ClockError(
            f"the clock says {format_instant(now_us)}, before the last recorded transition "
            f"at {last}; refusing to decide on a clock that went backwards"
        )


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


def entered(
    state: RolloutState, stage: int, now_us: int, proof: Optional[GateProof] = None
) -> RolloutState:
    """The state after moving to ``stage`` at ``now_us``: fresh evidence, and what the
    gate passed on showed (``proof``; None when no gate was passed)."""
    at = format_instant(now_us)
    ships = dict(state.ship_timestamps)
    if stage != 0:
        ships[str(stage)] = at
    return dataclasses.replace(
        state,
        current_stage=stage,
        ship_timestamps=ships,
        stage_entered_at=at,
        evidence_since=at,
        gate_n=None if proof is None else proof.n,
        gate_win_rate=None if proof is None else proof.win_rate,
        gate_ev_per_dollar=None if proof is None else proof.ev_per_dollar,
        proven_win_rate=None if proof is None else proof.win_rate_lower,
        proven_ev_per_dollar=None if proof is None else proof.ev_per_dollar_lower,
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
