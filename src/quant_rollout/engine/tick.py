"""One tick, as a pure function: :func:`decide`.

The tick asks, in order (DESIGN.md draws it): has the kill switch tripped; has the
bot been told the stage it should run; is the clock behind what the state recorded;
is a veto window open, or has it expired; is the rollout paused; has the next
stage's gate passed. The first question with an answer gives an :class:`_Outcome`:
an action, a reason and, when the rollout changes, the event and the move's edit of
the state. The phase the move lands in is :data:`~.transitions.TRANSITIONS`'s.

**Delivery.** ``state.bot_stage`` is the stage whose params a returned decision last
told the bot to run. Operator verbs never change it, and a decision recorded in the
history whose tick then failed to return (its state write failed) is rolled forward
without it. So when a tick finds ``bot_stage`` behind ``current_stage`` it says so
before anything else but a new kill: ``ADVANCE`` (``KILL_TRIPPED`` for a latched
kill) with ``changed=True`` and the current stage's params, which every bot loop,
0.1's included, applies. That announcement is recorded (``announce``), so the state
remains the one the history's last line holds.

**A suspect clock.** When "now" is before an instant the state recorded (the clock
went back, or had jumped ahead when it was recorded), the tick still runs the kill
check and still announces, but never advances, opens or expires a veto window: it
answers ``NOOP`` with a reason naming the instant and the way out
(``accept_clock``). Fail closed, never stuck.

**Trades stamped ahead of the clock.** Every tick raises the state's
``counted_through`` to the newest open time its window counts when that is after now
(recorded with any event the tick records), and a window the tick starts begins
after it (:mod:`.moves`): each trade counts in at most one window. When the shell
says trades are stamped after now by more than a tolerance (``trades_ahead``), the
reason says so. Advances are not held for it: quant-rollout 0.1's own usage ticks an old
clock over newer trades, and its rollouts must keep advancing.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import List, Optional

from .._durations import format_duration
from ..arms.evidence import ExperimentEvidence
from ..calendar import ScheduleStatus, format_local
from ..evidence import StageEvidence, TradesAhead
from ..gates import GateVerdict
from ..trades import format_instant, parse_instant
from .experiments import arms_evidence, current_experiment, judgement, record, safety_check
from .judging import judge_gate, proof_of_passing
from .model import RolloutAction, RolloutConfig, RolloutDecision, Stage, Step, Transition
from .moves import (
    clock_ahead,
    clock_message,
    counted,
    entered,
    killed,
    land,
    pinned,
    started,
)
from .state import RolloutState
from .timing import veto_deadline_us
from .transitions import Event, landing

__all__ = ["decide"]


@dataclass(frozen=True)
class _Outcome:
    """What a tick decided before it is applied. ``event`` None: nothing changes."""

    action: RolloutAction
    reason: str
    event: Optional[Event] = None
    edited: Optional[RolloutState] = None
    to_stage: Optional[int] = None
    deadline: Optional[float] = None
    from_stage: Optional[int] = None


def decide(
    config: RolloutConfig,
    state: RolloutState,
    evidence: StageEvidence,
    now_us: int,
    *,
    cause: Optional[str] = None,
    trades_ahead: Optional[TradesAhead] = None,
) -> Step:
    """One tick: judge the current stage's evidence and decide (see DESIGN.md's diagram).

    ``evidence`` must be the evidence of ``state``'s current window. ``cause`` says,
    for an announcement (see the module docstring), what moved the stage (the shell
    passes the history's last event, e.g. ``"operator promote by ana at ..."``).

    A ``now_us`` before an instant the state recorded raises nothing: the kill check
    runs, nothing advances, and the reason names the way out. ``trades_ahead`` (the
    trades stamped after now, :meth:`~quant_rollout.evidence.EvidenceFeed.ahead`) is
    added to the reason as a warning.
    """
    transitions: List[Transition] = []
    arms: Optional[ExperimentEvidence] = None
    was_alarmed = False
    stage = current_experiment(config, state)
    if stage is not None and stage.experiment is not None:
        # An experiment stage: its record follows the arms' evidence (opportunities
        # counted, trades placed), whether or not the tick records a move.
        arms = arms_evidence(evidence)
        assert arms is not None, "an experiment stage's evidence has its arms' tracker"
        was_alarmed = bool(((state.experiment or {}).get("srm") or {}).get("alarmed"))
        state = dataclasses.replace(state, experiment=record(stage.experiment, arms))
    given = state
    ahead = clock_ahead(state, now_us)
    if state.started_at is None and ahead is None:
        state = started(state, now_us, transitions)
    state = pinned(state)
    config.stage(state.current_stage)
    newest = evidence.last_key
    state = counted(state, None if newest is None else newest[0], now_us)
    kill = _kill_check(config, state, evidence, now_us, arms, was_alarmed)
    announce = state.delivered_stage != state.current_stage
    if kill is not None and kill.event is not None and (kill.event is Event.KILL or not announce):
        outcome = kill  # an arm's drop or an SRM stop waits for the bot to hear its stage
    elif announce:
        outcome = _announce(config, state, cause)
    elif ahead is not None:
        what = "the kill switch keeps running, but nothing advances until then"
        if kill is not None:
            what = f"{kill.reason}; nothing advances until then"
        outcome = _Outcome(RolloutAction.NOOP, clock_message(ahead, now_us, what))
    else:
        outcome = (
            kill
            or _veto_window(config, state, evidence, now_us, arms)
            or _paused(state)
            or _next_gate(config, state, evidence, now_us, arms)
        )
    if trades_ahead is not None:
        warning = trades_ahead.message()
        outcome = dataclasses.replace(outcome, reason=f"{outcome.reason}; {warning}")
    step = _apply(config, state, evidence, now_us, outcome, transitions)
    # Nothing recorded: the state is the caller's, as given.
    return step if step.transitions else Step(step.decision, given, ())


def _announce(config: RolloutConfig, state: RolloutState, cause: Optional[str]) -> _Outcome:
    """Tell the bot the stage it should run, which no returned decision has told it yet."""
    stage = config.stage(state.current_stage)
    told = state.delivered_stage
    if state.kill_switch_tripped:
        action = RolloutAction.KILL_TRIPPED
        what = f"kill switch tripped at {state.kill_timestamp}: {state.kill_reason}"
    else:
        action = RolloutAction.ADVANCE
        what = cause or f"the rollout moved to stage {stage.label} at {state.stage_entered_at}"
    reason = f"{what}; run stage {stage.label}'s params (the bot was last told stage {told})"
    edited = dataclasses.replace(state, bot_stage=state.current_stage)
    return _Outcome(action, reason, Event.ANNOUNCE, edited, from_stage=told)


def _apply(
    config: RolloutConfig,
    state: RolloutState,
    evidence: StageEvidence,
    now_us: int,
    outcome: _Outcome,
    transitions: List[Transition],
) -> Step:
    metrics = evidence.metrics()
    new = state
    from_stage = state.current_stage if outcome.from_stage is None else outcome.from_stage
    if outcome.event is not None:
        assert outcome.edited is not None
        at = format_instant(now_us)
        if outcome.event is Event.ANNOUNCE:
            # Not a move: the phase stays; the clock's latest word is kept as it was.
            landed = dataclasses.replace(outcome.edited, updated_at=_later(state.updated_at, at))
        else:
            landed = land(outcome.edited, landing(state, outcome.event), at)
        new = dataclasses.replace(
            landed,
            last_tick_unix=now_us / 1e6,
            last_decision_action=outcome.action.value,
            # A returned decision tells the bot the stage it now runs.
            bot_stage=landed.current_stage,
        )
        transitions.append(
            Transition(
                outcome.event,
                at,
                from_stage,
                new.current_stage,
                outcome.reason,
                new,
                metrics=metrics,
            )
        )
    decision = RolloutDecision(
        action=outcome.action,
        from_stage=from_stage,
        to_stage=new.current_stage if outcome.to_stage is None else outcome.to_stage,
        reason=outcome.reason,
        metrics=metrics,
        veto_deadline_unix=outcome.deadline,
        changed=outcome.event is not None,
        params=config.params_for(new, new.current_stage),  # a copy: the bot may mutate it
    )
    return Step(decision, new, tuple(transitions))


def _later(recorded: Optional[str], at: str) -> str:
    if recorded is not None and parse_instant(recorded) > parse_instant(at):
        return recorded
    return at


def _kill(state: RolloutState, now_us: int, reason: str) -> _Outcome:
    return _Outcome(RolloutAction.KILL_TRIPPED, reason, Event.KILL, killed(state, now_us, reason))


def _kill_check(
    config: RolloutConfig,
    state: RolloutState,
    evidence: StageEvidence,
    now_us: int,
    arms: Optional[ExperimentEvidence] = None,
    was_alarmed: bool = False,
) -> Optional[_Outcome]:
    """The kill switch, on every tick unless latched; a gate that opted in to revert
    when the evidence shows it cannot pass acts as one more kill check. On an
    experiment stage the kill switch runs on each arm's own trades instead (see
    :func:`~.experiments.safety_check`)."""
    if state.kill_switch_tripped:
        return _Outcome(
            RolloutAction.NOOP,
            f"kill switch tripped: {state.kill_reason} (latched until cleared)",
        )
    if arms is not None:
        move = safety_check(config, state, arms, was_alarmed)
        if move is None:
            return None
        if move.event is Event.KILL:
            return _kill(state, now_us, move.reason)
        return _Outcome(RolloutAction.NOOP, move.reason, move.event, move.edited)
    tripped, why = config.kill_switch.judge_evidence(evidence, now_us)
    if tripped:
        return _kill(state, now_us, why or "kill switch tripped")
    ahead = config.next_stage(state.current_stage)
    if state.advance_pending_to is not None:
        ahead = config.stage(state.advance_pending_to)
    if ahead is not None and ahead.gate is not None and ahead.gate.revert_if_cannot_pass:
        verdict = judge_gate(config, state, ahead, evidence, now_us)
        if verdict.verdict is GateVerdict.CANNOT_PASS:
            return _kill(
                state, now_us, f"gate to stage {ahead.label} cannot pass: {verdict.reason}"
            )
    return None


def _veto_window(
    config: RolloutConfig,
    state: RolloutState,
    evidence: StageEvidence,
    now_us: int,
    arms: Optional[ExperimentEvidence] = None,
) -> Optional[_Outcome]:
    """An open veto window: still open, expired with the gate held, or dropped."""
    pending = state.advance_pending_to
    if pending is None:
        return None
    deadline = state.advance_veto_deadline_unix
    deadline_us = veto_deadline_us(state)
    assert deadline is not None  # checked when the state was read
    assert deadline_us is not None
    target = config.stage(pending)
    if now_us < deadline_us:
        left = format_duration(math.ceil(deadline - now_us / 1e6), units=2)
        runs_out = ""
        if config.operator_schedule is not None:
            local = format_local(round(deadline * 1e6), config.display_zone(target), now=now_us)
            runs_out = f" ({local}, counting operator hours)"
        return _Outcome(
            RolloutAction.VETO_OPEN,
            f"veto window still open: advance to stage {target.label} in {left}{runs_out} "
            "unless vetoed",
            to_stage=pending,
            deadline=deadline,
        )
    winner = state.experiment_pending
    if arms is not None:
        move = judgement(config, state, arms)
        holds, why = move.winner is not None and move.winner == winner, move.reason
    else:
        verdict = judge_gate(config, state, target, evidence, now_us)
        holds, why = verdict.passes, verdict.reason
    if holds:
        calendar = _calendar(config, target, now_us)
        if calendar is not None and not calendar.is_open:
            # Nothing lands outside the gate's windows or in a blackout; the window
            # stays pending (a veto still stops it) until they allow it.
            return _Outcome(
                RolloutAction.VETO_OPEN,
                f"veto window over; the advance to stage {target.label} waits: "
                f"{calendar.describe(config.display_zone(target))} (a veto still stops it)",
                to_stage=pending,
                deadline=deadline,
            )
        if arms is not None:
            return _Outcome(
                RolloutAction.VETO_EXPIRED,
                f"veto window expired without abort; arm {winner!r} still wins; stage"
                f" {target.label} runs its params" + _inside(config, target, calendar),
                Event.VETO_EXPIRED,
                dataclasses.replace(entered(state, pending, now_us), experiment_winner=winner),
            )
        proof = proof_of_passing(state, target, evidence)
        return _Outcome(
            RolloutAction.VETO_EXPIRED,
            "veto window expired without abort; gate still met" + _inside(config, target, calendar),
            Event.VETO_EXPIRED,
            entered(state, pending, now_us, proof),
        )
    what = "the gate is no longer met" if arms is None else f"arm {winner!r} no longer wins"
    return _Outcome(
        RolloutAction.NOOP,
        f"veto window expired but {what} ({why}); advance to stage {pending} dropped",
        Event.ADVANCE_DROPPED,
        state,  # the landing drops the pending advance; the evidence still counts
    )


def _calendar(config: RolloutConfig, target: Stage, now_us: int) -> Optional[ScheduleStatus]:
    """Where the advance to ``target`` stands against its windows and blackouts at
    ``now_us``; None when it has none (the common case costs nothing)."""
    schedule = config.advance_schedule(target)
    return None if schedule.always_open else schedule.status(now_us)


def _inside(config: RolloutConfig, target: Stage, calendar: Optional[ScheduleStatus]) -> str:
    """For the history: the window an advance landed in, and until when it is open."""
    if calendar is None:
        return ""
    return f" (inside its window: {calendar.describe(config.display_zone(target))})"


def _paused(state: RolloutState) -> Optional[_Outcome]:
    if state.paused:
        return _Outcome(RolloutAction.NOOP, "paused: no automatic advance until resumed")
    return None


def _next_gate(
    config: RolloutConfig,
    state: RolloutState,
    evidence: StageEvidence,
    now_us: int,
    arms: Optional[ExperimentEvidence] = None,
) -> _Outcome:
    """The next stage's gate: not met, cannot pass, or passed (window or advance).
    On an experiment stage the experiment stands in for the gate: it drops a worse
    candidate, waits, or names the winner the next stage will run."""
    target = config.next_stage(state.current_stage)
    if target is None:
        return _Outcome(RolloutAction.NOOP, "no further stage")
    winner: Optional[str] = None
    if arms is not None:
        move = judgement(config, state, arms)
        if move.event is not None or move.winner is None:
            return _Outcome(RolloutAction.NOOP, move.reason, move.event, move.edited)
        winner, reason = move.winner, move.reason
    elif target.gate is None:
        return _Outcome(RolloutAction.NOOP, "next stage has no gate; promote it by hand")
    else:
        verdict = judge_gate(config, state, target, evidence, now_us)
        if verdict.verdict is GateVerdict.CANNOT_PASS:
            return _Outcome(
                RolloutAction.NOOP,
                f"gate to stage {target.label} cannot pass: {verdict.reason} (the rollout "
                "stays; revert_if_cannot_pass would revert it)",
            )
        if not verdict.passes:
            return _Outcome(RolloutAction.NOOP, f"gate not yet met: {verdict.reason}")
        reason = verdict.reason
    calendar = _calendar(config, target, now_us)
    if calendar is not None and not calendar.is_open:
        met = "gate met" if reason == "ok" else f"gate met ({reason})"
        return _Outcome(
            RolloutAction.NOOP, f"{met}; {calendar.describe(config.display_zone(target))}"
        )
    inside = _inside(config, target, calendar)
    if config.veto_window_seconds > 0:
        passed = "gate passed" if reason == "ok" else f"gate passed: {reason}"
        if winner is not None:
            passed = f"{reason}; stage {target.label} will run its params"
        window_us = round(config.veto_window_seconds * 1e6)
        hours = config.operator_schedule
        counted = ""
        if hours is None:
            deadline = now_us / 1e6 + config.veto_window_seconds
        else:
            deadline_us = hours.deadline(now_us, window_us)
            if deadline_us is None:  # fail closed: no window that cannot run out
                return _Outcome(
                    RolloutAction.NOOP,
                    f"{passed}; but operator hours hold less than "
                    f"{format_duration(config.veto_window_seconds)} "
                    "within 4 years, so no veto window can open",
                )
            deadline = deadline_us / 1e6
            local = format_local(deadline_us, config.display_zone(target), now=now_us)
            window = format_duration(config.veto_window_seconds)
            counted = f": {window} of operator hours, runs out {local}"
        opened = dataclasses.replace(
            state,
            advance_pending_to=target.num,
            advance_veto_deadline_unix=deadline,
            advance_pending_since=format_instant(now_us),
            experiment_pending=winner,
        )
        return _Outcome(
            RolloutAction.VETO_OPEN,
            f"{passed}{inside}; veto window opened{counted}",
            Event.VETO_OPEN,
            opened,
            to_stage=target.num,
            deadline=deadline,
        )
    if winner is not None:
        return _Outcome(
            RolloutAction.ADVANCE,
            f"{reason}{inside}; stage {target.label} runs its params",
            Event.ADVANCE,
            dataclasses.replace(entered(state, target.num, now_us), experiment_winner=winner),
        )
    return _Outcome(
        RolloutAction.ADVANCE,
        f"gate passed: {reason}{inside}",
        Event.ADVANCE,
        entered(state, target.num, now_us, proof_of_passing(state, target, evidence)),
    )
