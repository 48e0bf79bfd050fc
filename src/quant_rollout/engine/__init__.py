"""The pure engine: the rollout's model, its transition table, and the pure
``decide`` (a tick) and ``operate`` (an operator verb) over the state.

Nothing here touches a disk, a clock or the environment, and nothing here imports
:mod:`quant_rollout.storage`, :mod:`quant_rollout.tools` or an optional extra
(``tests/test_layers.py`` checks it). The one exception to "no disk" is 0.1's
``RolloutState.load``/``save``, which use the leaf :mod:`quant_rollout._files`.

Modules, bottom up: :mod:`.state` (the persisted state and its schema),
:mod:`.transitions` (phases, events, verbs, the table), :mod:`.model` (stages,
configuration, decisions, epochs), :mod:`.judging` (the next gate on the evidence),
:mod:`.moves` (edits shared by ticks and verbs), :mod:`.timing` (when time alone
changes a tick), :mod:`.tick` (``decide``) and :mod:`.verbs` (``operate``).
"""

from __future__ import annotations

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
    gate_window,
    windowed_gate,
)
from .state import SCHEMA_VERSION, RolloutState, state_from_dict
from .tick import decide
from .timing import next_time_change, veto_deadline_us
from .transitions import (
    BOOKKEEPING_EVENTS,
    OPERATOR_VERBS,
    TICK_EVENTS,
    TRANSITIONS,
    Event,
    Phase,
    Verb,
    phase_of,
)
from .verbs import operate

__all__ = [
    "BOOKKEEPING_EVENTS",
    "OPERATOR_VERBS",
    "SCHEMA_VERSION",
    "TICK_EVENTS",
    "TRANSITIONS",
    "Epoch",
    "Event",
    "OperatorResult",
    "Phase",
    "RolloutAction",
    "RolloutConfig",
    "RolloutDecision",
    "RolloutState",
    "Stage",
    "Step",
    "Transition",
    "Verb",
    "days_since_stage_entry",
    "decide",
    "gate_progress",
    "gate_proof_of",
    "gate_window",
    "judge_gate",
    "next_time_change",
    "operate",
    "phase_of",
    "state_from_dict",
    "veto_deadline_us",
    "windowed_gate",
]
