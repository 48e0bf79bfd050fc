"""The rollout state machine, as a pure function.

Everything that decides what a rollout does lives in this module: the legal moves
(:data:`TRANSITIONS`), the tick (:func:`decide`) and the operator verbs
(:func:`operate`). Both functions map (configuration, state, evidence, now) to
(decision, new state, transitions) and touch no disk, clock or environment; the
shell in :mod:`quant_rollout.rollout` loads, saves and records what they return.

Each move is looked up in :data:`TRANSITIONS`, so a verb that is illegal in the
current phase is a failed lookup that becomes one precise refusal, and the README's
state diagram is drawn from the same table (``scripts/gen_diagram.py``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from .._validate import check_int, check_non_negative
from ..errors import ClockError, ConfigError, CorruptStateError, OperatorRefusedError
from ..evidence import EvidenceTracker, StageEvidence
from ..gates import CriterionProgress, Gate, GateProof, GateResult, GateVerdict
from ..kill import KillSwitch
from ..metrics import Metrics
from ..trades import format_instant, parse_instant
from .state import RolloutState

__all__ = [
    "TRANSITIONS",
    "OperatorResult",
    "Phase",
    "RolloutAction",
    "RolloutConfig",
    "RolloutDecision",
    "Stage",
    "Step",
    "Transition",
    "decide",
    "gate_progress",
    "gate_proof_of",
    "gate_tracker_key",
    "operate",
    "phase_of",
]


class RolloutAction(str, Enum):
    """What a tick tells the bot to do. Values are 0.1's, so they serialize unchanged."""

    NOOP = "noop"
    """Nothing to apply (the reason says why)."""
    KILL_TRIPPED = "kill"
    """The kill switch tripped: run stage 0's params now."""
    ADVANCE = "advance"
    """A gate passed with no veto window: run ``to_stage``'s params now."""
    VETO_OPEN = "veto_open"
    """A gate passed; the advance lands at ``veto_deadline_unix`` unless vetoed."""
    VETO_EXPIRED = "veto_expired"
    """The veto window closed unvetoed and the gate still holds: run ``to_stage`` now."""


class Phase(str, Enum):
    """The phases of a rollout, derived from its state (see :func:`phase_of`)."""

    RUNNING = "running"
    VETO_PENDING = "veto_pending"
    PAUSED = "paused"
    KILLED = "killed"


# Every legal move: phase -> event -> phase after it. Tick events: kill, veto_open,
# advance, veto_expired, advance_dropped. Operator events: veto, clear_kill, promote,
# pause, resume, reset. ("start", the first tick, creates the rollout in RUNNING.)
# While killed, pause/resume only set the pause flag; clearing the kill returns to
# PAUSED rather than RUNNING when that flag is set.
TRANSITIONS: Mapping[Phase, Mapping[str, Phase]] = {
    Phase.RUNNING: {
        "kill": Phase.KILLED,
        "veto_open": Phase.VETO_PENDING,
        "advance": Phase.RUNNING,
        "promote": Phase.RUNNING,
        "pause": Phase.PAUSED,
        "reset": Phase.RUNNING,
    },
    Phase.VETO_PENDING: {
        "kill": Phase.KILLED,
        "veto_expired": Phase.RUNNING,
        "advance_dropped": Phase.RUNNING,
        "veto": Phase.RUNNING,
        "promote": Phase.RUNNING,
        "pause": Phase.PAUSED,
        "reset": Phase.RUNNING,
    },
    Phase.PAUSED: {
        "kill": Phase.KILLED,
        "resume": Phase.RUNNING,
        "promote": Phase.PAUSED,
        "reset": Phase.RUNNING,
    },
    Phase.KILLED: {
        "clear_kill": Phase.RUNNING,
        "pause": Phase.KILLED,
        "resume": Phase.KILLED,
        "reset": Phase.RUNNING,
    },
}

OPERATOR_VERBS = ("veto", "clear_kill", "promote", "pause", "resume", "reset")


@dataclass(frozen=True)
class Stage:
    """A parameter set, with the gate that must pass before the rollout moves to it.

    Attributes:
        num: the stage number, >= 0; stage 0 is the baseline a kill reverts to.
        params: what the bot runs at this stage (returned in decisions, never read).
        gate: judged on the previous stage's evidence; ``None`` means the stage is only
            reached by :meth:`~quant_rollout.Rollout.promote`.
        name: a label for people (``"canary"``).
    """

    num: int
    params: Dict[str, Any]
    gate: Optional[Gate] = None
    name: str = ""

    def __post_init__(self) -> None:
        check_int("Stage", "num", self.num, minimum=0)
        if not isinstance(self.params, Mapping):
            raise ConfigError(f"Stage {self.num}: params must be a dict, got {self.params!r}")
        if self.gate is not None and not isinstance(self.gate, Gate):
            raise ConfigError(f"Stage {self.num}: gate must be a Gate or None, got {self.gate!r}")
        if not isinstance(self.name, str):
            raise ConfigError(f"Stage {self.num}: name must be text, got {self.name!r}")

    @property
    def label(self) -> str:
        """``"1 (canary)"``, or ``"1"`` when unnamed."""
        return f"{self.num} ({self.name})" if self.name else str(self.num)


@dataclass(frozen=True)
class RolloutConfig:
    """A validated rollout definition: stages (sorted), kill switch and veto window.

    Raises:
        ConfigError: no stages, no stage 0, duplicate stage numbers, a kill switch of
            the wrong type, or a negative/non-finite veto window. The message names
            the field.
    """

    stages: Tuple[Stage, ...]
    kill_switch: KillSwitch
    veto_window_seconds: float = 1800

    def __post_init__(self) -> None:
        stages = tuple(self.stages)
        if not stages:
            raise ConfigError("a rollout needs at least one Stage (stage 0, the baseline)")
        for i, s in enumerate(stages):
            if not isinstance(s, Stage):
                raise ConfigError(f"stages[{i}] must be a Stage, got {s!r}")
        nums = [s.num for s in stages]
        dupes = sorted({n for n in nums if nums.count(n) > 1})
        if dupes:
            raise ConfigError(f"stage numbers must be unique; repeated: {dupes!r}")
        if 0 not in nums:
            raise ConfigError(f"a rollout needs a stage 0 (the baseline); got stages {nums!r}")
        if not isinstance(self.kill_switch, KillSwitch):
            raise ConfigError(f"kill_switch must be a KillSwitch, got {self.kill_switch!r}")
        check_non_negative("Rollout", "veto_window_seconds", self.veto_window_seconds)
        object.__setattr__(self, "stages", tuple(sorted(stages, key=lambda s: s.num)))

    def stage(self, num: int) -> Stage:
        """The stage numbered ``num``; KeyError if there is none."""
        for s in self.stages:
            if s.num == num:
                return s
        raise KeyError(num)

    def next_stage(self, num: int) -> Optional[Stage]:
        """The first stage numbered above ``num``, or None at the last stage."""
        for s in self.stages:
            if s.num > num:
                return s
        return None

    @property
    def recent_capacity(self) -> int:
        """How many latest trades of a stage its criteria ever look back over."""
        return self.kill_switch.lookback

    def epoch(self, state: RolloutState) -> Tuple[Any, ...]:
        """What identifies the current evidence window and everything its trackers
        depend on: the stage, the evidence start and the stage's gate proof."""
        return (state.current_stage, state.evidence_since, gate_proof_of(state))

    def make_trackers(self, epoch: Tuple[Any, ...]) -> Mapping[str, EvidenceTracker]:
        """Per-trade trackers for an evidence window (see :meth:`epoch`).

        The EV test of the next stage's gate when it is a confidence gate (key
        :func:`gate_tracker_key`), and one tracker per kill criterion (``kill[i]``).
        None for 0.1's criteria. An epoch without a proof (``(stage, since)``) is a
        window not entered through a gate.
        """
        stage = epoch[0]
        proof = epoch[2] if len(epoch) > 2 and isinstance(epoch[2], GateProof) else None
        trackers: Dict[str, EvidenceTracker] = {}
        target = self.next_stage(stage) if isinstance(stage, int) else None
        if target is not None and target.gate is not None:
            gate_tracker = target.gate.tracker()
            if gate_tracker is not None:
                trackers[gate_tracker_key(target.num)] = gate_tracker
        trackers.update(self.kill_switch.trackers(proof))
        return trackers

    def check_state(self, state: RolloutState, source: str) -> None:
        """Refuse a state that does not fit this configuration (fail closed)."""
        nums = [s.num for s in self.stages]
        if state.current_stage not in nums:
            raise CorruptStateError(
                f"{source}: current_stage {state.current_stage!r} is not a stage of this "
                f"rollout (stages {nums!r}); was the configuration changed under a live state?"
            )
        pending = state.advance_pending_to
        if pending is not None and pending not in nums:
            raise CorruptStateError(
                f"{source}: advance_pending_to {pending!r} is not a stage of this rollout "
                f"(stages {nums!r})"
            )


@dataclass(frozen=True)
class RolloutDecision:
    """What one tick decided. Act on ``action``; ``params`` is what to run afterwards.

    Attributes:
        action: see :class:`RolloutAction`.
        from_stage: the stage before the tick.
        to_stage: the stage after it (for VETO_OPEN: the stage the window will advance to).
        reason: a sentence for people and logs.
        metrics: the current stage's evidence when the decision was made.
        veto_deadline_unix: when an open veto window closes (Unix seconds), else None.
        changed: True only on the tick whose decision changed the rollout, so an alert
            fires once rather than on every tick of a 30-minute window.
        params: the params of the stage the bot should run after applying the decision.
    """

    action: RolloutAction
    from_stage: int
    to_stage: int
    reason: str
    metrics: Metrics
    veto_deadline_unix: Optional[float] = None
    changed: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    """One recorded change: what the history log writes a line for.

    ``state`` is the rollout's state right after the change.
    """

    event: str
    at: str
    from_stage: int
    to_stage: int
    reason: str
    state: RolloutState
    note: str = ""
    actor: Optional[str] = None
    metrics: Optional[Metrics] = None


@dataclass(frozen=True)
class Step:
    """The result of :func:`decide`: the decision, the new state and what to record."""

    decision: RolloutDecision
    state: RolloutState
    transitions: Tuple[Transition, ...]


@dataclass(frozen=True)
class OperatorResult:
    """The result of an operator verb.

    ``applied`` is False when there was nothing to act on (veto with no pending
    advance); ``reason`` then says why and nothing was changed or recorded.
    """

    verb: str
    applied: bool
    reason: str
    state: RolloutState
    transitions: Tuple[Transition, ...] = ()


def phase_of(state: RolloutState) -> Phase:
    """The phase a state is in: killed, else paused, else veto pending, else running."""
    if state.kill_switch_tripped:
        return Phase.KILLED
    if state.paused:
        return Phase.PAUSED
    if state.advance_pending_to is not None:
        return Phase.VETO_PENDING
    return Phase.RUNNING


def _move(state: RolloutState, event: str) -> Phase:
    phase = phase_of(state)
    try:
        return TRANSITIONS[phase][event]
    except KeyError:
        raise OperatorRefusedError(_refusal(state, event)) from None


def _refusal(state: RolloutState, event: str) -> str:
    phase = phase_of(state)
    if event == "veto":
        return "there is no pending advance to veto"
    if event == "clear_kill":
        return "the kill switch is not tripped"
    if event == "promote" and phase is Phase.KILLED:
        return f"the kill switch is latched ({state.kill_reason}); clear it before promoting"
    if event == "pause":
        return "the rollout is already paused"
    if event == "resume":
        return "the rollout is not paused"
    return f"{event!r} is not allowed while the rollout is {phase.value}"


def _stamp(now_us: int) -> str:
    return format_instant(now_us)


def _instant(text: Optional[str]) -> Optional[int]:
    return None if text is None else parse_instant(text)


def _check_clock(state: RolloutState, now_us: int) -> None:
    last = _instant(state.updated_at)
    if last is not None and now_us < last:
        raise ClockError(
            f"the clock says {_stamp(now_us)}, before the last recorded transition at "
            f"{state.updated_at}; refusing to decide on a clock that went backwards"
        )


def _started(state: RolloutState, now_us: int, transitions: list[Transition]) -> RolloutState:
    """The state with its start recorded, on the first tick or verb of a rollout."""
    if state.started_at is not None:
        return state
    at = _stamp(now_us)
    new = dataclasses.replace(
        state,
        started_at=at,
        stage_entered_at=state.stage_entered_at or at,
        updated_at=at,
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
    transitions.append(Transition("start", at, state.current_stage, new.current_stage, reason, new))
    return new


def days_since_stage_entry(state: RolloutState, now_us: int) -> float:
    """Days from the current stage's start (stage 0: the rollout's start) to ``now_us``."""
    entered = _instant(state.stage_entered_at or state.started_at)
    return 0.0 if entered is None else max(0.0, (now_us - entered) / 86_400e6)


def gate_tracker_key(stage: int) -> str:
    """The evidence tracker key of the gate of ``stage`` (``gate[1]``)."""
    return f"gate[{stage}]"


def gate_proof_of(state: RolloutState) -> Optional[GateProof]:
    """What the current stage's gate evidence showed, from the state (None: no gate)."""
    if state.gate_n is None or state.gate_win_rate is None or state.gate_ev_per_dollar is None:
        return None
    return GateProof(
        n=state.gate_n,
        win_rate=state.gate_win_rate,
        ev_per_dollar=state.gate_ev_per_dollar,
        win_rate_lower=state.proven_win_rate,
        ev_per_dollar_lower=state.proven_ev_per_dollar,
    )


def _gate_tracker(target: Stage, evidence: StageEvidence) -> Any:
    return evidence.trackers.get(gate_tracker_key(target.num))


def judge_gate(
    config: RolloutConfig, state: RolloutState, target: Stage, evidence: StageEvidence, now_us: int
) -> GateResult:
    """The verdict of ``target``'s gate on the current evidence (a missing gate: NOT_YET)."""
    if target.gate is None:
        return GateResult(GateVerdict.NOT_YET, "next stage has no gate; promote it by hand")
    return target.gate.judge(
        evidence.metrics(),
        days_since_prev=days_since_stage_entry(state, now_us),
        tracker=_gate_tracker(target, evidence),
    )


def gate_progress(
    state: RolloutState, target: Stage, evidence: StageEvidence, now_us: int
) -> Optional[Tuple[CriterionProgress, ...]]:
    """``target``'s gate criteria on the current evidence, for status (None: no gate)."""
    if target.gate is None:
        return None
    return target.gate.progress(
        evidence.metrics(),
        days_since_prev=days_since_stage_entry(state, now_us),
        tracker=_gate_tracker(target, evidence),
    )


def _entered(
    state: RolloutState, stage: int, now_us: int, proof: Optional[GateProof] = None
) -> RolloutState:
    """The state after moving to ``stage`` at ``now_us``: fresh evidence, no window,
    and what the gate passed on showed (``proof``; None when no gate was passed)."""
    at = _stamp(now_us)
    ships = dict(state.ship_timestamps)
    if stage != 0:
        ships[str(stage)] = at
    return dataclasses.replace(
        state,
        current_stage=stage,
        ship_timestamps=ships,
        stage_entered_at=at,
        evidence_since=at,
        advance_pending_to=None,
        advance_veto_deadline_unix=None,
        advance_pending_since=None,
        gate_n=None if proof is None else proof.n,
        gate_win_rate=None if proof is None else proof.win_rate,
        gate_ev_per_dollar=None if proof is None else proof.ev_per_dollar,
        proven_win_rate=None if proof is None else proof.win_rate_lower,
        proven_ev_per_dollar=None if proof is None else proof.ev_per_dollar_lower,
    )


def _proof(target: Stage, evidence: StageEvidence) -> Optional[GateProof]:
    if target.gate is None:
        return None
    return target.gate.proof(evidence.metrics(), tracker=_gate_tracker(target, evidence))


def _killed(state: RolloutState, now_us: int, reason: str) -> RolloutState:
    return dataclasses.replace(
        _entered(state, 0, now_us),
        kill_switch_tripped=True,
        kill_reason=reason,
        kill_timestamp=_stamp(now_us),
    )


def decide(
    config: RolloutConfig, state: RolloutState, evidence: StageEvidence, now_us: int
) -> Step:
    """One tick: judge the current stage's evidence and decide (see DESIGN.md's diagram).

    ``evidence`` must be the evidence of ``state``'s current window. Raises
    :class:`ClockError` when ``now_us`` is before the last recorded transition.
    """
    _check_clock(state, now_us)
    transitions: list[Transition] = []
    state = _started(state, now_us, transitions)
    metrics = evidence.metrics()
    at = _stamp(now_us)
    stage = state.current_stage
    config.stage(stage)

    def done(
        action: RolloutAction,
        reason: str,
        new: RolloutState,
        *,
        event: Optional[str] = None,
        to_stage: Optional[int] = None,
        deadline: Optional[float] = None,
    ) -> Step:
        if event is not None:
            _move(state, event)  # a move missing from the table is a bug: fail loudly
            new = dataclasses.replace(
                new, updated_at=at, last_tick_unix=now_us / 1e6, last_decision_action=action.value
            )
            transitions.append(
                Transition(event, at, stage, new.current_stage, reason, new, metrics=metrics)
            )
        return Step(
            RolloutDecision(
                action=action,
                from_stage=stage,
                to_stage=new.current_stage if to_stage is None else to_stage,
                reason=reason,
                metrics=metrics,
                veto_deadline_unix=deadline,
                changed=event is not None,
                params=dict(config.stage(new.current_stage).params),  # the bot may mutate it
            ),
            new,
            tuple(transitions),
        )

    # 1. The kill switch, on every tick, unless already latched; a gate that opted in
    #    to revert when the evidence shows it cannot pass acts as one more kill check.
    if not state.kill_switch_tripped:
        tripped, why = config.kill_switch.judge_evidence(evidence)
        if tripped:
            reason = why or "kill switch tripped"
            return done(
                RolloutAction.KILL_TRIPPED, reason, _killed(state, now_us, reason), event="kill"
            )
        ahead = config.next_stage(stage)
        if state.advance_pending_to is not None:
            ahead = config.stage(state.advance_pending_to)
        if ahead is not None and ahead.gate is not None and ahead.gate.revert_if_cannot_pass:
            verdict = judge_gate(config, state, ahead, evidence, now_us)
            if verdict.verdict is GateVerdict.CANNOT_PASS:
                reason = f"gate to stage {ahead.label} cannot pass: {verdict.reason}"
                return done(
                    RolloutAction.KILL_TRIPPED,
                    reason,
                    _killed(state, now_us, reason),
                    event="kill",
                )
    else:
        return done(
            RolloutAction.NOOP,
            f"kill switch tripped: {state.kill_reason} (latched until cleared)",
            state,
        )

    # 2. An open veto window.
    pending = state.advance_pending_to
    if pending is not None:
        deadline = state.advance_veto_deadline_unix
        assert deadline is not None  # checked when the state was read
        if now_us < round(deadline * 1e6):
            left = math.ceil(deadline - now_us / 1e6)
            return done(
                RolloutAction.VETO_OPEN,
                f"veto window still open: advance to stage {config.stage(pending).label} "
                f"in {left}s unless vetoed",
                state,
                to_stage=pending,
                deadline=deadline,
            )
        pending_stage = config.stage(pending)
        verdict = judge_gate(config, state, pending_stage, evidence, now_us)
        if verdict.passes:
            return done(
                RolloutAction.VETO_EXPIRED,
                "veto window expired without abort; gate still met",
                _entered(state, pending, now_us, _proof(pending_stage, evidence)),
                event="veto_expired",
            )
        dropped = dataclasses.replace(
            state,
            advance_pending_to=None,
            advance_veto_deadline_unix=None,
            advance_pending_since=None,
        )
        return done(
            RolloutAction.NOOP,
            f"veto window expired but the gate is no longer met ({verdict.reason}); "
            f"advance to stage {pending} dropped",
            dropped,
            event="advance_dropped",
        )

    # 3. Paused: no automatic advance.
    if state.paused:
        return done(RolloutAction.NOOP, "paused: no automatic advance until resumed", state)

    # 4. The next stage's gate.
    target = config.next_stage(stage)
    if target is None:
        return done(RolloutAction.NOOP, "no further stage", state)
    if target.gate is None:
        return done(RolloutAction.NOOP, "next stage has no gate; promote it by hand", state)
    verdict = judge_gate(config, state, target, evidence, now_us)
    if verdict.verdict is GateVerdict.CANNOT_PASS:
        return done(
            RolloutAction.NOOP,
            f"gate to stage {target.label} cannot pass: {verdict.reason} (the rollout stays; "
            "revert_if_cannot_pass would revert it)",
            state,
        )
    if not verdict.passes:
        return done(RolloutAction.NOOP, f"gate not yet met: {verdict.reason}", state)
    passed = "gate passed" if verdict.reason == "ok" else f"gate passed: {verdict.reason}"
    if config.veto_window_seconds > 0:
        deadline = now_us / 1e6 + config.veto_window_seconds
        opened = dataclasses.replace(
            state,
            advance_pending_to=target.num,
            advance_veto_deadline_unix=deadline,
            advance_pending_since=at,
        )
        return done(
            RolloutAction.VETO_OPEN,
            f"{passed}; veto window opened",
            opened,
            event="veto_open",
            to_stage=target.num,
            deadline=deadline,
        )
    return done(
        RolloutAction.ADVANCE,
        f"gate passed: {verdict.reason}",
        _entered(state, target.num, now_us, _proof(target, evidence)),
        event="advance",
    )


def operate(
    config: RolloutConfig,
    state: RolloutState,
    verb: str,
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
    paused, resume when not paused), and :class:`ClockError` on a clock gone back.
    """
    if verb not in OPERATOR_VERBS:
        raise ValueError(f"unknown operator verb {verb!r}; expected one of {OPERATOR_VERBS!r}")
    _check_clock(state, now_us)
    if (verb == "veto" and state.advance_pending_to is None) or (
        verb == "clear_kill" and not state.kill_switch_tripped
    ):
        return OperatorResult(verb, False, _refusal(state, verb), state)
    if (verb == "pause" and state.paused) or (verb == "resume" and not state.paused):
        raise OperatorRefusedError(_refusal(state, verb))
    transitions: list[Transition] = []
    state = _started(state, now_us, transitions)
    _move(state, verb)
    at = _stamp(now_us)
    stage = state.current_stage
    if verb == "veto":
        target = state.advance_pending_to
        new = dataclasses.replace(
            state,
            advance_pending_to=None,
            advance_veto_deadline_unix=None,
            advance_pending_since=None,
            evidence_since=at,
        )
        reason = f"advance to stage {target} vetoed; its evidence will not count again"
    elif verb == "clear_kill":
        new = dataclasses.replace(
            state,
            kill_switch_tripped=False,
            kill_reason=None,
            kill_timestamp=None,
            evidence_since=at,
        )
        reason = f"kill switch cleared (was: {state.kill_reason}); evidence starts afresh"
    elif verb == "promote":
        target_stage = _promotion_target(config, state, to_stage)
        new = _entered(state, target_stage.num, now_us)
        reason = f"promoted by hand to stage {target_stage.label}, skipping gate and window"
    elif verb == "pause":
        new = dataclasses.replace(
            state,
            paused=True,
            advance_pending_to=None,
            advance_veto_deadline_unix=None,
            advance_pending_since=None,
        )
        reason = "paused: no automatic advance until resumed"
        if state.advance_pending_to is not None:
            reason += f"; pending advance to stage {state.advance_pending_to} cancelled"
    elif verb == "resume":
        new = dataclasses.replace(state, paused=False)
        reason = "resumed: automatic advance is back on"
    else:  # reset
        new = RolloutState(
            started_at=at,
            stage_entered_at=at,
            evidence_since=at,
            history_seq=state.history_seq,
            history_hash=state.history_hash,
        )
        reason = "reset to stage 0; evidence starts afresh"
    new = dataclasses.replace(new, updated_at=at)
    transitions.append(
        Transition(verb, at, stage, new.current_stage, reason, new, note=note, actor=actor)
    )
    return OperatorResult(verb, True, reason, new, tuple(transitions))


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


def transitions_table() -> Sequence[Tuple[str, str, str]]:
    """Every legal move as (from phase, event, to phase), in table order."""
    return [
        (phase.value, event, target.value)
        for phase, moves in TRANSITIONS.items()
        for event, target in moves.items()
    ]
