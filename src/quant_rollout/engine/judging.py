"""The gate of the next stage, judged on the current evidence's complete prefix
(:meth:`~quant_rollout.evidence.StageEvidence.judged_metrics`).

Used by the tick (:mod:`.tick`) and by the shell's ``status()``; pure functions of
(configuration, state, evidence, now).
"""

from __future__ import annotations

from typing import Optional, Tuple

from ..evidence import StageEvidence, gate_tracker_key
from ..gates import (
    CriterionProgress,
    GateProof,
    GateResult,
    GateTracker,
    GateTrackers,
    GateVerdict,
)
from ..gates.gate import AnyGateTracker
from ..trades import parse_instant
from .model import RolloutConfig, Stage, gate_window, windowed_gate
from .state import RolloutState

__all__ = ["days_since_stage_entry", "gate_progress", "judge_gate", "proof_of_passing"]


def days_since_stage_entry(state: RolloutState, now_us: int) -> float:
    """Days from the current stage's start (stage 0: the rollout's start) to ``now_us``."""
    entered_text = state.stage_entered_at or state.started_at
    if entered_text is None:
        return 0.0
    return max(0.0, (now_us - parse_instant(entered_text)) / 86_400e6)


def _tracker(target: Stage, evidence: StageEvidence) -> Optional[AnyGateTracker]:
    tracker = evidence.trackers.get(gate_tracker_key(target.num))
    return tracker if isinstance(tracker, (GateTracker, GateTrackers)) else None


def judge_gate(
    config: RolloutConfig, state: RolloutState, target: Stage, evidence: StageEvidence, now_us: int
) -> GateResult:
    """The verdict of ``target``'s gate on the current evidence (a missing gate: NOT_YET)."""
    if target.gate is None:
        return GateResult(GateVerdict.NOT_YET, "next stage has no gate; promote it by hand")
    return windowed_gate(target.gate, gate_window(state)).judge(
        evidence.judged_metrics(),
        days_since_prev=days_since_stage_entry(state, now_us),
        tracker=_tracker(target, evidence),
        now_us=now_us,
    )


def gate_progress(
    state: RolloutState, target: Stage, evidence: StageEvidence, now_us: int
) -> Optional[Tuple[CriterionProgress, ...]]:
    """``target``'s gate criteria on the current evidence, for status (None: no gate)."""
    if target.gate is None:
        return None
    return windowed_gate(target.gate, gate_window(state)).progress(
        evidence.judged_metrics(),
        days_since_prev=days_since_stage_entry(state, now_us),
        tracker=_tracker(target, evidence),
        now_us=now_us,
    )


def proof_of_passing(
    state: RolloutState, target: Stage, evidence: StageEvidence
) -> Optional[GateProof]:
    """What the evidence ``target``'s gate passed on showed (None: the stage has no gate),
    at the confidence the current window was judged at."""
    if target.gate is None:
        return None
    return windowed_gate(target.gate, gate_window(state)).proof(
        evidence.judged_metrics(), tracker=_tracker(target, evidence)
    )
