"""The operator verbs, as a pure function: :func:`operate`, and one handler per verb.

A verb goes through the same steps whatever it is: nothing to act on (a veto with
nothing pending) returns ``applied=False``; a move missing from
:data:`~.transitions.TRANSITIONS` (or a pause while paused) is refused with the
phase and the event named; otherwise the verb's handler edits the state and the
table's landing phase sets its flags. A refused verb changes nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, List, Mapping, Optional, Tuple, Union

from ..errors import OperatorRefusedError
from ..trades import format_instant
from .model import OperatorResult, RolloutConfig, Stage, Transition
from .moves import check_clock, entered, land, started
from .state import RolloutState
from .transitions import OPERATOR_VERBS, Verb, landing, refusal

__all__ = ["HANDLERS", "operate"]


@dataclass(frozen=True)
class _Call:
    """What a handler is given: the verb's context."""

    config: RolloutConfig
    state: RolloutState
    now_us: int
    to_stage: Optional[int]

    @property
    def at(self) -> str:
        return format_instant(self.now_us)


Handler = Callable[[_Call], Tuple[RolloutState, str]]
"""Edits the state for a verb and says why: (edited state, reason)."""


def _veto(call: _Call) -> Tuple[RolloutState, str]:
    target = call.state.advance_pending_to
    edited = dataclasses.replace(call.state, evidence_since=call.at)
    return edited, f"advance to stage {target} vetoed; its evidence will not count again"


def _clear_kill(call: _Call) -> Tuple[RolloutState, str]:
    edited = dataclasses.replace(
        call.state, kill_reason=None, kill_timestamp=None, evidence_since=call.at
    )
    return edited, f"kill switch cleared (was: {call.state.kill_reason}); evidence starts afresh"


def _promote(call: _Call) -> Tuple[RolloutState, str]:
    target = _promotion_target(call.config, call.state, call.to_stage)
    edited = entered(call.state, target.num, call.now_us)
    return edited, f"promoted by hand to stage {target.label}, skipping gate and window"


def _pause(call: _Call) -> Tuple[RolloutState, str]:
    reason = "paused: no automatic advance until resumed"
    if call.state.advance_pending_to is not None:
        reason += f"; pending advance to stage {call.state.advance_pending_to} cancelled"
    return dataclasses.replace(call.state, paused=True), reason


def _resume(call: _Call) -> Tuple[RolloutState, str]:
    return dataclasses.replace(call.state, paused=False), "resumed: automatic advance is back on"


def _reset(call: _Call) -> Tuple[RolloutState, str]:
    fresh = RolloutState(
        started_at=call.at,
        stage_entered_at=call.at,
        evidence_since=call.at,
        history_seq=call.state.history_seq,
        history_hash=call.state.history_hash,
    )
    return fresh, "reset to stage 0; evidence starts afresh"


HANDLERS: Mapping[Verb, Handler] = {
    Verb.VETO: _veto,
    Verb.CLEAR_KILL: _clear_kill,
    Verb.PROMOTE: _promote,
    Verb.PAUSE: _pause,
    Verb.RESUME: _resume,
    Verb.RESET: _reset,
}
"""Each verb's edit of the state; the phase it lands in is the table's."""


def _nothing_to_do(state: RolloutState, verb: Verb) -> bool:
    """A veto with nothing pending, a clear with nothing tripped: not applied, no error."""
    if verb is Verb.VETO:
        return state.advance_pending_to is None
    if verb is Verb.CLEAR_KILL:
        return not state.kill_switch_tripped
    return False


def _refused_by_flag(state: RolloutState, verb: Verb) -> bool:
    """Pause while paused, resume while not: the table allows both under a latched
    kill (they set the flag beneath it), but the flag must change."""
    return (verb is Verb.PAUSE and state.paused) or (verb is Verb.RESUME and not state.paused)


def _as_verb(verb: Union[Verb, str]) -> Verb:
    try:
        return Verb(verb)
    except ValueError:
        names = tuple(v.value for v in OPERATOR_VERBS)
        raise ValueError(f"unknown operator verb {verb!r}; expected one of {names!r}") from None


def operate(
    config: RolloutConfig,
    state: RolloutState,
    verb: Union[Verb, str],
    now_us: int,
    *,
    note: str = "",
    actor: Optional[str] = None,
    to_stage: Optional[int] = None,
) -> OperatorResult:
    """Carry out an operator verb: veto, clear_kill, promote, pause, resume or reset.

    Returns ``applied=False`` (and changes nothing) for a veto with no pending advance
    or a clear with no tripped kill switch. Raises :class:`OperatorRefusedError` for a
    verb that would be wrong (promote while latched or at the last stage, pause when
    paused, resume when not paused), ValueError for an unknown verb and
    :class:`~quant_rollout.errors.ClockError` on a clock gone back.
    """
    word = _as_verb(verb)
    check_clock(state, now_us)
    if _nothing_to_do(state, word):
        return OperatorResult(word, False, refusal(state, word.event), state)
    if _refused_by_flag(state, word):
        raise OperatorRefusedError(refusal(state, word.event))
    phase = landing(state, word.event)
    transitions: List[Transition] = []
    state = started(state, now_us, transitions)
    call = _Call(config, state, now_us, to_stage)
    edited, reason = HANDLERS[word](call)
    new = land(edited, phase, call.at)
    transitions.append(
        Transition(
            word.event,
            call.at,
            state.current_stage,
            new.current_stage,
            reason,
            new,
            note=note,
            actor=actor,
        )
    )
    return OperatorResult(word, True, reason, new, tuple(transitions))


def _promotion_target(config: RolloutConfig, state: RolloutState, to_stage: Optional[int]) -> Stage:
    if to_stage is None:
        target = config.next_stage(state.current_stage)
        if target is None:
            raise OperatorRefusedError(
                f"already at the last stage ({config.stage(state.current_stage).label})"
            )
        return target
    try:
        target = config.stage(to_stage)
    except KeyError:
        raise OperatorRefusedError(
            f"there is no stage {to_stage!r}; stages are {[s.num for s in config.stages]!r}"
        ) from None
    if target.num <= state.current_stage:
        raise OperatorRefusedError(
            f"promote moves forward only: stage {to_stage} is not after the current "
            f"stage {state.current_stage} (use reset to go back to stage 0)"
        )
    return target
