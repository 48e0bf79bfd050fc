"""The engine's names under their 0.2 development path, ``quant_rollout.engine.machine``.

The machine now lives in modules by concern: :mod:`.model` (stages, configuration,
decisions), :mod:`.transitions` (the table, phases, events and verbs), :mod:`.tick`
(``decide``), :mod:`.verbs` (``operate``) and :mod:`.judging` (the next gate on
the evidence). This module only re-exports them, so code written against the
single-module layout keeps importing; new code imports from :mod:`quant_rollout.engine`.
"""

from __future__ import annotations

from ..evidence import gate_tracker_key
from .judging import days_since_stage_entry, gate_progress, judge_gate
from .model import (
    Epoch,
    OperatorResult,
    RolloutAction,
    RolloutConfig,
    RolloutDecision,
    Stage,
    Step,
    Transition,
    gate_proof_of,
)
from .tick import decide
from .transitions import OPERATOR_VERBS, TICK_EVENTS, TRANSITIONS, Event, Phase, Verb, phase_of
from .verbs import operate

__all__ = [
    "OPERATOR_VERBS",
    "TICK_EVENTS",
    "TRANSITIONS",
    "Epoch",
    "Event",
    "OperatorResult",
    "Phase",
    "RolloutAction",
    "RolloutConfig",
    "RolloutDecision",
    "Stage",
    "Step",
    "Transition",
    "Verb",
    "days_since_stage_entry",
    "decide",
    "gate_progress",
    "gate_proof_of",
    "gate_tracker_key",
    "judge_gate",
    "operate",
    "phase_of",
]
