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

from ..errors import ClockError, OperatorRefusedError, excerpt
from ..trades import format_instant
from .experiments import current_experiment, record, with_dropped, with_weights
from .model import OperatorResult, RolloutConfig, Stage, Transition
from .moves import (
    clock_ahead,
    clock_message,
    clock_pulled_back,
    entered,
    fresh_evidence,
    land,
    new_window,
    pinned,
    started,
)
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
    arm: Optional[str] = None
    weights: Optional[Mapping[str, float]] = None

    @property
    def at(self) -> str:
        return format_instant(self.now_us)


Handler = Callable[[_Call], Tuple[RolloutState, str]]
"""Edits the state for a verb and says why: (edited state, reason)."""


def _veto(call: _Call) -> Tuple[RolloutState, str]:
    target = call.state.advance_pending_to
    edited = dataclasses.replace(
        call.state,
        gate_windows=new_window(call.state, call.state.current_stage),
        **fresh_evidence(call.state, call.now_us),
    )
    reason = f"advance to stage {target} vetoed; its evidence will not count again"
    stage = current_experiment(call.config, call.state)
    if stage is not None and stage.experiment is not None:
        # The arms' evidence restarts too; the routing (weights, drops) is kept.
        evidence = call.config.experiment_evidence(stage.num, call.state.experiment)
        fresh = type(evidence)(stage.experiment, evidence.weights, sorted(evidence.dropped))
        edited = dataclasses.replace(edited, experiment=record(stage.experiment, fresh))
        reason += f" (arm {call.state.experiment_pending!r}: the experiment starts afresh)"
    return edited, reason


def _clear_kill(call: _Call) -> Tuple[RolloutState, str]:
    stage = call.state.current_stage
    edited = dataclasses.replace(
        call.state,
        kill_reason=None,
        kill_timestamp=None,
        **fresh_evidence(call.state, call.now_us),
        # The kill already began a new window, never judged while latched; a state
        # from before windows were counted may have judged its first one.
        gate_windows=(
            dict(call.state.gate_windows)
            if str(stage) in call.state.gate_windows
            else new_window(call.state, stage)
        ),
    )
    return edited, f"kill switch cleared (was: {call.state.kill_reason}); evidence starts afresh"


def _promote(call: _Call) -> Tuple[RolloutState, str]:
    target = _promotion_target(call.config, call.state, call.to_stage)
    edited = entered(call.state, target.num, call.now_us)
    return edited, f"promoted by hand to stage {target.label}, skipping gate and window"


def _promote_arm(call: _Call) -> Tuple[RolloutState, str]:
    target = call.config.next_stage(call.state.current_stage)
    assert target is not None  # an experiment stage always has one (RolloutConfig)
    edited = dataclasses.replace(
        entered(call.state, target.num, call.now_us), experiment_winner=call.arm
    )
    return edited, (
        f"arm {call.arm!r} promoted by hand: stage {target.label} runs its params, skipping"
        " the experiment's verdict and the veto window"
    )


def _drop_arm(call: _Call) -> Tuple[RolloutState, str]:
    assert call.arm is not None
    edited = with_dropped(call.config, call.state, call.arm)
    stage = current_experiment(call.config, call.state)
    assert stage is not None
    assert stage.experiment is not None
    reason = (
        f"arm {call.arm!r} dropped by hand; its traffic returns to control"
        f" {stage.experiment.control!r}"
    )
    if call.state.advance_pending_to is not None:
        reason += f"; pending advance to stage {call.state.advance_pending_to} cancelled"
    return edited, reason


def _change_weights(call: _Call) -> Tuple[RolloutState, str]:
    assert call.weights is not None
    edited = with_weights(call.config, call.state, call.weights)
    assert edited.experiment is not None
    shown = ", ".join(f"{n} {w:.1%}" for n, w in edited.experiment["weights"].items())
    return edited, f"weights changed by hand: {shown} (the SRM test counts afresh under them)"


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
        history_seq=call.state.history_seq,
        history_hash=call.state.history_hash,
        bot_stage=call.state.delivered_stage,  # the next tick tells the bot
        # A reset restarts the evidence, not the error level the windows spend.
        gate_windows=new_window(call.state, 0),
        **fresh_evidence(call.state, call.now_us),
    )
    return fresh, "reset to stage 0; evidence starts afresh"


def _accept_clock(call: _Call) -> Tuple[RolloutState, str]:
    edited, moved = clock_pulled_back(call.state, call.now_us)
    reason = (
        f"clock accepted at {call.at}: {moved} recorded instant(s) after it pulled back "
        "to it; evidence counts from there"
    )
    if call.state.advance_pending_to is not None:
        reason += (
            f"; pending advance to stage {call.state.advance_pending_to} cancelled "
            "(the gate re-opens it if it still holds)"
        )
    return edited, reason


HANDLERS: Mapping[Verb, Handler] = {
    Verb.VETO: _veto,
    Verb.CLEAR_KILL: _clear_kill,
    Verb.PROMOTE: _promote,
    Verb.PAUSE: _pause,
    Verb.RESUME: _resume,
    Verb.RESET: _reset,
    Verb.ACCEPT_CLOCK: _accept_clock,
    Verb.PROMOTE_ARM: _promote_arm,
    Verb.DROP_ARM: _drop_arm,
    Verb.CHANGE_WEIGHTS: _change_weights,
}
"""Each verb's edit of the state; the phase it lands in is the table's."""


def _nothing_to_do(state: RolloutState, verb: Verb) -> bool:
    """A veto with nothing pending, a clear with nothing tripped: not applied, no error."""
    if verb is Verb.VETO:
        return state.advance_pending_to is None
    if verb is Verb.CLEAR_KILL:
        return not state.kill_switch_tripped
    return False


_SAFE_ON_A_SUSPECT_CLOCK = frozenset({Verb.VETO, Verb.PAUSE, Verb.ACCEPT_CLOCK})
"""Verbs allowed while the clock is behind the state: they only stop advances (fail
closed) or are the way out."""


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
    arm: Optional[str] = None,
    weights: Optional[Mapping[str, float]] = None,
) -> OperatorResult:
    """Carry out an operator verb: veto, clear_kill, promote, pause, resume, reset,
    accept_clock, or on an experiment stage promote_arm (``arm``), drop_arm (``arm``)
    and change_weights (``weights``: arm name -> share, every arm named, summing to 1).

    Returns ``applied=False`` (and changes nothing) for a veto with no pending advance,
    a clear with no tripped kill switch or an accept_clock with nothing ahead of the
    clock. Raises :class:`OperatorRefusedError` for a verb that would be wrong (promote
    while latched or at the last stage, pause when paused, resume when not paused),
    ValueError for an unknown verb and :class:`~quant_rollout.errors.ClockError` when
    the clock is behind an instant the state recorded (every verb but veto, pause and
    accept_clock; the message points at accept_clock).

    No verb changes ``bot_stage``: the bot's next tick announces a stage it moved.
    """
    word = _as_verb(verb)
    ahead = clock_ahead(state, now_us)
    if word is Verb.ACCEPT_CLOCK and ahead is None:
        reason = "the clock is not behind anything the state recorded; nothing to accept"
        return OperatorResult(word, False, reason, state)
    if ahead is not None and word not in _SAFE_ON_A_SUSPECT_CLOCK:
        raise ClockError(
            clock_message(ahead, now_us, f"refusing to {word.value}; veto and pause still work")
        )
    if _nothing_to_do(state, word):
        return OperatorResult(word, False, refusal(state, word.event), state)
    if _refused_by_flag(state, word):
        raise OperatorRefusedError(refusal(state, word.event))
    _check_arm_verb(config, state, word, arm, weights, to_stage)
    phase = landing(state, word.event)
    transitions: List[Transition] = []
    state = pinned(started(state, now_us, transitions))
    call = _Call(config, state, now_us, to_stage, arm, weights)
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


_ARM_VERBS = frozenset({Verb.PROMOTE_ARM, Verb.DROP_ARM, Verb.CHANGE_WEIGHTS})


def _check_arm_verb(
    config: RolloutConfig,
    state: RolloutState,
    verb: Verb,
    arm: Optional[str],
    weights: Optional[Mapping[str, float]],
    to_stage: Optional[int],
) -> None:
    """Refuse an arm verb that makes no sense now, before anything is changed; and a
    plain promote out of a running experiment to the stage after it (that stage runs
    an arm: the operator names it with promote_arm)."""
    stage = current_experiment(config, state)
    if verb is Verb.PROMOTE and stage is not None:
        after = config.next_stage(state.current_stage)
        if after is not None and to_stage in (None, after.num):
            raise OperatorRefusedError(
                f"stage {stage.label} runs an experiment and stage {after.label} runs the"
                " arm it promotes: name the arm with promote_arm (quant-rollout"
                " promote-arm NAME)"
            )
    if verb not in _ARM_VERBS:
        return
    if stage is None or stage.experiment is None:
        raise OperatorRefusedError(
            f"{verb.value}: stage {config.stage(state.current_stage).label} runs no experiment"
        )
    names = list(stage.experiment.arm_names)
    if verb is Verb.CHANGE_WEIGHTS:
        if not isinstance(weights, Mapping) or not weights:
            raise OperatorRefusedError(
                f"change_weights needs weights by arm name ({names!r}), got {excerpt(weights)}"
            )
        return
    if not isinstance(arm, str) or arm not in names:
        raise OperatorRefusedError(
            f"{verb.value}: no arm named {excerpt(arm)}; the arms are {names!r}"
        )
    if verb is Verb.DROP_ARM and arm == stage.experiment.control:
        raise OperatorRefusedError(
            f"drop_arm: {arm!r} is the control arm and cannot be dropped (to end the"
            " experiment, promote an arm or reset)"
        )
    dropped = list((state.experiment or {}).get("dropped") or [])
    if arm in dropped:
        raise OperatorRefusedError(f"{verb.value}: arm {arm!r} was already dropped")
