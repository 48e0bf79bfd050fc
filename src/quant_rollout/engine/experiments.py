"""Experiment stages in the engine: the state's record of a running experiment, what a
tick makes of its evidence, and the edits of the arm verbs.

A stage with an :class:`~quant_rollout.arms.Experiment` keeps its arms' evidence as a
tracker of the stage's evidence (:func:`arms_evidence`); what the trades cannot rebuild
(weights, dropped arms, opportunity counts, the SRM test) is the state's
``experiment`` record (:func:`record`). The tick (:mod:`.tick`) asks
:func:`safety_check` beside the kill switch (control tripping reverts; a candidate
tripping is dropped; a new SRM alarm is recorded) and :func:`judgement` in place of the
next stage's gate (drop a candidate worse with confidence, or promote the winner through
the veto window). Pure: no disk, clock or environment.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, NamedTuple, Optional

from ..arms.evidence import ExperimentEvidence, ExperimentReport
from ..errors import ConfigError, OperatorRefusedError, excerpt
from ..evidence import StageEvidence, experiment_tracker_key
from .model import RolloutConfig, Stage, record
from .state import RolloutState
from .transitions import Event

__all__ = [
    "ArmMove",
    "arms_evidence",
    "current_experiment",
    "judgement",
    "record",
    "safety_check",
    "state_report",
    "with_dropped",
    "with_weights",
]


class ArmMove(NamedTuple):
    """What an experiment makes a tick do: ``event`` None answers without a move."""

    reason: str
    event: Optional[Event] = None
    edited: Optional[RolloutState] = None
    winner: Optional[str] = None
    """The arm the move promotes (a winner found: open the veto window or advance)."""


def current_experiment(config: RolloutConfig, state: RolloutState) -> Optional[Stage]:
    """The current stage when it runs an experiment, else None."""
    stage = config.stage(state.current_stage)
    return stage if stage.experiment is not None else None


def arms_evidence(evidence: StageEvidence) -> Optional[ExperimentEvidence]:
    """The arms' evidence of an experiment stage's window, or None on a plain stage."""
    tracker = evidence.trackers.get(experiment_tracker_key())
    return tracker if isinstance(tracker, ExperimentEvidence) else None


def state_report(
    config: RolloutConfig, state: RolloutState, source: str = "state"
) -> Optional[ExperimentReport]:
    """The current experiment's report from the state's record alone (weights,
    opportunities, SRM; no trades), or None on a plain stage."""
    stage = current_experiment(config, state)
    if stage is None:
        return None
    return config.experiment_evidence(stage.num, state.experiment, source).report()


def safety_check(
    config: RolloutConfig, state: RolloutState, evidence: ExperimentEvidence, was_alarmed: bool
) -> Optional[ArmMove]:
    """What runs beside the kill switch on every tick, paused or not.

    Control's own trades tripping the kill switch: a kill (``event`` KILL; the caller
    reverts to stage 0). A candidate's tripping: it is dropped. A sample-ratio
    mismatch not yet recorded (``was_alarmed`` False): recorded, and the experiment
    judges nothing more.
    """
    report = evidence.report()
    stage = config.stage(state.current_stage)
    if report.control_killed:
        return ArmMove(f"stage {stage.label}'s {report.reason}", Event.KILL, None)
    for name, why in report.killed:
        if name not in evidence.dropped:
            edited = with_dropped(config, state, name)
            return ArmMove(
                f"arm {name!r} dropped: its own trades tripped the kill switch ({why});"
                f" its traffic returns to control {evidence.experiment.control!r}",
                Event.DROP_ARM,
                edited,
            )
    if report.srm_alarm and not was_alarmed:
        return ArmMove(
            f"experiment on stage {stage.label} stopped: {report.reason}. Fix the routing,"
            " then promote an arm by hand (promote-arm) or reset",
            Event.SRM_ALARM,
            state,
        )
    return None


def judgement(config: RolloutConfig, state: RolloutState, evidence: ExperimentEvidence) -> ArmMove:
    """What the experiment decides in place of a gate: drop a candidate worse than
    control with confidence, name the winner (``winner``: the caller opens the veto
    window or advances), or wait (no event; the reason says why)."""
    report = evidence.report()
    if report.srm_alarm:
        return ArmMove(f"experiment stopped by its SRM alarm: {report.reason}")
    if report.worse:
        name = report.worse[0]
        row = report.arm(name)
        c = row.comparison(report.metric)
        shown = (
            ""
            if c is None
            else f": difference {c.difference:+.4g} in [{c.lower:+.4g}, {c.upper:+.4g}]"
        )
        return ArmMove(
            f"arm {name!r} dropped: worse than control {evidence.experiment.control!r} on"
            f" {report.metric.value} with confidence {evidence.experiment.confidence:g}"
            f"{shown} after {row.trades} trades; its traffic returns to control",
            Event.DROP_ARM,
            with_dropped(config, state, name),
        )
    if report.winner is not None:
        return ArmMove(report.reason, winner=report.winner)
    return ArmMove(f"experiment running: {report.reason}")


def _restored(config: RolloutConfig, state: RolloutState) -> ExperimentEvidence:
    return config.experiment_evidence(state.current_stage, state.experiment)


def with_dropped(config: RolloutConfig, state: RolloutState, name: str) -> RolloutState:
    """``state`` with the candidate ``name`` dropped from its experiment record.

    Raises:
        OperatorRefusedError: ``name`` is control, unknown or already dropped.
    """
    evidence = _restored(config, state)
    try:
        evidence.drop(name)
    except ConfigError as exc:
        raise OperatorRefusedError(f"cannot drop arm {excerpt(name)}: {exc}") from None
    return dataclasses.replace(state, experiment=record(evidence.experiment, evidence))


def with_weights(
    config: RolloutConfig, state: RolloutState, weights: Mapping[str, float]
) -> RolloutState:
    """``state`` with its experiment routing by ``weights`` from now on.

    Raises:
        OperatorRefusedError: weights that name unknown arms, miss one, do not sum to
            1, give a dropped arm traffic or fail the routing checks.
    """
    evidence = _restored(config, state)
    try:
        evidence.change_weights(weights)
    except (ConfigError, KeyError) as exc:
        raise OperatorRefusedError(f"cannot change the weights: {exc}") from None
    return dataclasses.replace(state, experiment=record(evidence.experiment, evidence))
