"""The rollout's model: its stages, its validated definition, and what a tick or a
verb returns (the decision, the transitions to record, the new state).

Pure values: nothing here reads a clock, a disk or the environment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from enum import Enum
from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple, Union

from .._validate import check_int, check_non_negative
from ..arms import Experiment
from ..arms.evidence import PLAIN_ARM, ExperimentEvidence
from ..calendar import Rule, Schedule, Window, load_zone, parse_blackouts, parse_windows
from ..errors import ConfigError, CorruptStateError, excerpt
from ..evidence import (
    EvidenceTracker,
    TrackerKey,
    experiment_kill_tracker_key,
    experiment_tracker_key,
    gate_tracker_key,
)
from ..gates import Gate, GateProof
from ..kill import KillSwitch
from ..metrics import Metrics
from ..stats.spending import window_confidence
from .state import RESTORE_ADVICE, RolloutState
from .transitions import Event, Verb

__all__ = [
    "MAX_VETO_WINDOW_SECONDS",
    "Epoch",
    "OperatorResult",
    "RolloutAction",
    "RolloutConfig",
    "RolloutDecision",
    "Stage",
    "Step",
    "Transition",
    "gate_proof_of",
    "gate_window",
    "record",
    "windowed_gate",
]


MAX_VETO_WINDOW_SECONDS = 366 * 86_400
"""The longest veto window (a year and a day): a deadline must stay a date."""


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


class Epoch(NamedTuple):
    """What identifies an evidence window and everything its trackers depend on.

    A new epoch (another stage, a later evidence start after a veto or a cleared
    kill, another gate proof) gives the window fresh trackers.
    """

    stage: int
    since: Optional[str]
    proof: Optional[GateProof] = None
    """What the gate this stage was entered through showed; None: not entered
    through a gate (stage 0, a promote, a 0.1 file)."""
    window: int = 1
    """Which window of the stage's evidence this is (1: the first); the gate ahead
    judges it at that window's share of its error level (:func:`windowed_gate`)."""
    arms: Optional[str] = None
    """An experiment stage's routing (weights and dropped arms, as JSON text): an
    operator's or a tick's change rebuilds the arms' evidence from the state."""


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
    experiment: Optional[Experiment] = None
    """When set, the stage runs these arms side by side (see :mod:`quant_rollout.arms`):
    the bot routes each opportunity with :meth:`~quant_rollout.Rollout.route`, and
    the experiment, not a gate, decides the move to the next stage, which then runs
    the winning arm's params. ``params`` is then control's (give ``{}`` or the same)."""

    def __post_init__(self) -> None:
        check_int("Stage", "num", self.num, minimum=0)
        if not isinstance(self.params, Mapping):
            raise ConfigError(f"Stage {self.num}: params must be a dict, got {self.params!r}")
        if self.gate is not None and not isinstance(self.gate, Gate):
            raise ConfigError(f"Stage {self.num}: gate must be a Gate or None, got {self.gate!r}")
        if not isinstance(self.name, str):
            raise ConfigError(f"Stage {self.num}: name must be text, got {self.name!r}")
        if self.experiment is not None:
            if not isinstance(self.experiment, Experiment):
                raise ConfigError(
                    f"Stage {self.num}: experiment must be an arms.Experiment or None, got"
                    f" {excerpt(self.experiment)}"
                )
            if PLAIN_ARM in self.experiment.arm_names:
                raise ConfigError(
                    f"Stage {self.num}: no arm may be named {PLAIN_ARM!r}: it names the"
                    " trades of stages without an experiment (Rollout.route's answer there)"
                )
            control = dict(self.experiment.control_arm.params)
            if self.params and dict(self.params) != control:
                raise ConfigError(
                    f"Stage {self.num}: an experiment stage runs its control arm's params;"
                    f" give params={{}} or control's {excerpt(control)}, got"
                    f" {excerpt(self.params)}"
                )
            for arm in self.experiment.candidates:
                unknown = sorted(set(arm.params) - set(control), key=str)
                if unknown:
                    raise ConfigError(
                        f"Stage {self.num}: arm {arm.name!r} sets params {excerpt(unknown)}"
                        f" that control {self.experiment.control!r} does not have (a typo?);"
                        f" control's params are {excerpt(sorted(control, key=str))}"
                    )
            object.__setattr__(self, "params", control)

    @property
    def label(self) -> str:
        """``"1 (canary)"``, or ``"1"`` when unnamed."""
        return f"{self.num} ({self.name})" if self.name else str(self.num)


@dataclass(frozen=True)
class RolloutConfig:
    """A validated rollout definition: stages (sorted), kill switch and veto window.

    Raises:
        ConfigError: no stages, no stage 0, duplicate stage numbers, a kill switch of
            the wrong type, or a veto window that is negative, not finite or longer
            than :data:`MAX_VETO_WINDOW_SECONDS`. The message names the field.
    """

    stages: Tuple[Stage, ...]
    kill_switch: KillSwitch
    veto_window_seconds: float = 1800
    blackouts: Tuple[Union[str, Rule], ...] = ()
    """When no advance and no veto expiry lands, for every gate (see
    :mod:`quant_rollout.calendar`). The kill switch never waits."""
    operator_hours: Tuple[Union[str, Window], ...] = ()
    """Weekly windows the veto window counts in: 30 minutes of operator hours that
    start at 02:00 run out 30 minutes after operator hours begin. Empty: real time."""
    operator_zone: Optional[str] = None
    """The zone times are shown in (an IANA name); None: the zone of the first
    operator-hours window, else of the first gate window, else of the first blackout
    that has one, else UTC."""

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
        check_non_negative(
            "Rollout",
            "veto_window_seconds",
            self.veto_window_seconds,
            maximum=MAX_VETO_WINDOW_SECONDS,
            why="a veto window longer than a year is a pause; use pause() instead",
        )
        object.__setattr__(self, "stages", tuple(sorted(stages, key=lambda s: s.num)))
        self._check_experiments()
        object.__setattr__(self, "blackouts", parse_blackouts(self.blackouts))
        object.__setattr__(
            self, "operator_hours", parse_windows(self.operator_hours, key="operator_hours")
        )
        if self.operator_zone is not None:
            load_zone(self.operator_zone, key="operator_zone")
        if self.operator_hours:
            Schedule(parse_windows(self.operator_hours)).check_can_open(key="operator_hours")
        for stage in self.stages:
            if stage.gate is not None and self.blackouts:
                self.advance_schedule(stage).check_can_open(
                    key=f"blackouts (with stage {stage.label}'s gate)"
                )

    def _check_experiments(self) -> None:
        for i, stage in enumerate(self.stages):
            e = stage.experiment
            if e is None:
                continue
            where = f"stage {stage.label}"
            if i == 0:
                raise ConfigError(
                    f"{where}: stage 0 is the baseline a kill reverts to and cannot run an"
                    " experiment; put the experiment on a later stage"
                )
            before = self.stages[i - 1]
            if dict(e.control_arm.params) != dict(before.params):
                raise ConfigError(
                    f"{where}: control arm {e.control!r} must run the params the bot ran"
                    f" before, stage {before.label}'s {excerpt(dict(before.params))}; got"
                    f" {excerpt(dict(e.control_arm.params))}"
                )
            if i + 1 == len(self.stages):
                raise ConfigError(
                    f"{where}: an experiment needs a stage after it, which runs the winning"
                    " arm's params; add one (its params may be {})"
                )
            after = self.stages[i + 1]
            if after.experiment is not None:
                raise ConfigError(
                    f"stage {after.label}: the stage after an experiment runs its winner and"
                    " cannot be an experiment itself; put a plain stage between them"
                )
            if after.gate is not None:
                raise ConfigError(
                    f"stage {after.label}: the experiment on stage {stage.label} decides the"
                    " move to it; remove its gate"
                )

    def experiment_before(self, num: int) -> Optional[Stage]:
        """The experiment stage right before stage ``num``, whose winner it runs, or None."""
        for before, stage in zip(self.stages, self.stages[1:]):
            if stage.num == num:
                return before if before.experiment is not None else None
        return None

    def params_for(self, state: RolloutState, num: int) -> Dict[str, Any]:
        """What the bot runs at stage ``num`` (a fresh dict: the bot may mutate it).

        The stage's params; for the stage right after an experiment, the winning arm's
        params laid over them (the winner recorded in ``state.experiment_winner``).
        """
        params = dict(self.stage(num).params)
        before = self.experiment_before(num)
        if before is not None and before.experiment is not None and state.experiment_winner:
            names = before.experiment.arm_names
            if state.experiment_winner in names:
                params.update(before.experiment.arm(state.experiment_winner).params)
        return params

    def advance_schedule(self, target: Stage) -> Schedule:
        """When the rollout may advance to ``target``: its gate's windows, minus the
        gate's blackouts and the rollout's."""
        gate_schedule = Schedule() if target.gate is None else target.gate.schedule
        return gate_schedule.with_blackouts(parse_blackouts(self.blackouts))

    @property
    def has_calendar(self) -> bool:
        """Whether any window, blackout, operator hours or operator zone is set."""
        gated = any(s.gate is not None and not s.gate.schedule.always_open for s in self.stages)
        return gated or bool(self.blackouts or self.operator_hours or self.operator_zone)

    @property
    def operator_schedule(self) -> Optional[Schedule]:
        """The operator hours a veto window counts in; None: it counts real time."""
        return Schedule(parse_windows(self.operator_hours)) if self.operator_hours else None

    def display_zone(self, target: Optional[Stage] = None) -> tzinfo:
        """The zone to show times in (see :attr:`operator_zone`)."""
        if self.operator_zone is not None:
            return load_zone(self.operator_zone, key="operator_zone")
        candidates = list(self.operator_hours)
        if target is not None and target.gate is not None:
            candidates.extend(target.gate.windows)
        for stage in self.stages:
            if stage.gate is not None:
                candidates.extend(stage.gate.windows)
        for rule in candidates:
            if isinstance(rule, Window):
                return rule.zone
        blackouts = list(parse_blackouts(self.blackouts))
        for stage in self.stages:
            if stage.gate is not None:
                blackouts.extend(parse_blackouts(stage.gate.blackouts))
        for blackout in blackouts:
            zone = getattr(blackout, "zone", None)
            if isinstance(zone, tzinfo):
                return zone
        return timezone.utc

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

    def epoch(self, state: RolloutState) -> Epoch:
        """The epoch of ``state``'s current evidence window."""
        return Epoch(
            state.current_stage,
            state.evidence_since,
            gate_proof_of(state),
            gate_window(state),
            _routing_of(state) if self.stage(state.current_stage).experiment else None,
        )

    def experiment_evidence(
        self, num: int, snapshot: Optional[Mapping[str, Any]], source: str = "state"
    ) -> ExperimentEvidence:
        """Stage ``num``'s experiment evidence: fresh (``snapshot`` None) or continuing
        from the state's ``experiment`` snapshot, with the kill switch on every arm.

        Raises:
            CorruptStateError: a snapshot that does not fit the experiment, naming
                ``source``; the message ends with what to do.
        """
        experiment = self.stage(num).experiment
        assert experiment is not None
        if snapshot is None:
            return ExperimentEvidence(experiment, kill_switch=self.kill_switch)
        try:
            return ExperimentEvidence.restore(
                experiment, snapshot, f"{source}: experiment", kill_switch=self.kill_switch
            )
        except CorruptStateError as exc:
            raise CorruptStateError(
                f"{exc} (was the stage's experiment changed under a running one?). {RESTORE_ADVICE}"
            ) from None

    def make_trackers(
        self, epoch: Epoch, experiment: Optional[Mapping[str, Any]] = None
    ) -> Mapping[TrackerKey, EvidenceTracker]:
        """Per-trade trackers for an evidence window (see :meth:`epoch`).

        The EV test of the next stage's gate when it is a confidence gate (key
        :func:`~quant_rollout.evidence.gate_tracker_key`), one tracker per kill
        criterion (``kill[i]``; none for 0.1's criteria) and, on an experiment stage,
        the arms' evidence (``experiment``: the comparisons, fed the complete prefix),
        continuing from the state's ``experiment`` snapshot given as ``experiment``,
        and its kill switch on every arm (``experiment.kill``, fed every trade as it
        arrives).
        """
        stage, _since, proof, window, _arms = Epoch(*epoch)  # also takes (stage, since)
        trackers: Dict[TrackerKey, EvidenceTracker] = {}
        if self.stage(stage).experiment is not None:
            arms = self.experiment_evidence(stage, experiment)
            trackers[experiment_tracker_key()] = arms
            trackers[experiment_kill_tracker_key()] = arms.kill_tracker()
        target = self.next_stage(stage)
        if target is not None and target.gate is not None:
            gate_tracker = windowed_gate(target.gate, window).tracker()
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
        _check_experiment_state(self, state, source)


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
        changed: True only on the tick whose decision changed the rollout, or told the
            bot of a change it had not been told of, so an alert fires once rather
            than on every tick of a 30-minute window.
        params: the params of the stage the bot should run after applying the decision.
            :attr:`apply` says when to switch to them.
    """

    action: RolloutAction
    from_stage: int
    to_stage: int
    reason: str
    metrics: Metrics
    veto_deadline_unix: Optional[float] = None
    changed: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def apply(self) -> bool:
        """True when the bot should switch to ``params`` now.

        That is an ``ADVANCE``, a ``VETO_EXPIRED`` or a ``KILL_TRIPPED``: a gate's
        advance, the first tick after an operator moved the stage (announced as an
        ``ADVANCE``, or a ``KILL_TRIPPED`` for a kill not yet delivered), or a kill.
        A loop written for 0.1, which applies ``params`` on those three actions,
        gets the same answer.
        """
        return self.action in _APPLY_ACTIONS


_APPLY_ACTIONS = frozenset(
    {RolloutAction.ADVANCE, RolloutAction.VETO_EXPIRED, RolloutAction.KILL_TRIPPED}
)


@dataclass(frozen=True)
class Transition:
    """One recorded change: what the history log writes a line for.

    ``state`` is the rollout's state right after the change.
    """

    event: Event
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

    verb: Verb
    applied: bool
    reason: str
    state: RolloutState
    transitions: Tuple[Transition, ...] = ()


_FINGERPRINTS = "arm_params"
"""The key of the record holding each arm's params fingerprint (the arms the record
was taken with; a config file that changes them under a running experiment is refused)."""


def _fingerprint(params: Mapping[str, Any]) -> str:
    text = json.dumps(params, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def record(experiment: Experiment, evidence: ExperimentEvidence) -> Dict[str, Any]:
    """The state's ``experiment`` record: the evidence's snapshot and the arms it ran."""
    snapshot = evidence.snapshot()
    snapshot[_FINGERPRINTS] = {a.name: _fingerprint(a.params) for a in experiment.arms}
    return snapshot


def _check_experiment_state(config: RolloutConfig, state: RolloutState, source: str) -> None:
    """Refuse a state whose experiment record does not fit the configuration.

    Raises:
        CorruptStateError: a record on a plain stage, arms added, removed, renamed or
            given other params under a running experiment, a pending or winning arm
            the experiment does not have; the message names the field and says what
            to do.
    """
    stage = config.stage(state.current_stage)
    experiment = stage.experiment
    if experiment is None:
        if state.experiment is not None:
            raise CorruptStateError(
                f"{source}: the state records a running experiment but stage"
                f" {stage.label} has none; was the configuration changed under a live"
                f" state? {RESTORE_ADVICE}"
            )
    elif state.experiment is not None:
        ran = state.experiment.get(_FINGERPRINTS)
        now = {a.name: _fingerprint(a.params) for a in experiment.arms}
        if ran is not None and ran != now:
            changed = sorted(
                set(ran) ^ set(now) | {n for n in set(ran) & set(now) if ran[n] != now[n]}
            )
            raise CorruptStateError(
                f"{source}: the experiment running on stage {stage.label} was started with"
                f" other arms; arms added, removed or with other params:"
                f" {excerpt(changed)}. Changing a running experiment's arms would mix"
                " their evidence: put the arms back as they were, or finish the"
                " experiment first (promote-arm, or reset). Nothing was changed."
            )
        # The whole record is checked when the arms' evidence is built from it (the
        # first tick of a process, a new window, status): a restore costs more than a
        # tick, so a running bot's ticks check only what decides routing here.
        weights = state.experiment.get("weights")
        if not isinstance(weights, Mapping) or sorted(weights) != sorted(experiment.arm_names):
            raise CorruptStateError(
                f"{source}: experiment.weights must give each arm"
                f" {list(experiment.arm_names)!r} a weight, got {excerpt(weights)}."
                f" {RESTORE_ADVICE}"
            )
    if state.experiment_pending is not None:
        _check_arm(config, state.advance_pending_to, "experiment_pending", state, source)
    if state.experiment_winner is not None:
        names = [
            name
            for s in config.stages
            if s.experiment is not None
            for name in s.experiment.arm_names
        ]
        if state.experiment_winner not in names:
            raise CorruptStateError(
                f"{source}: experiment_winner {excerpt(state.experiment_winner)} is not an"
                f" arm of this rollout ({excerpt(names)}); was the configuration changed?"
                f" {RESTORE_ADVICE}"
            )


def _check_arm(
    config: RolloutConfig, target: Optional[int], key: str, state: RolloutState, source: str
) -> None:
    before = None if target is None else config.experiment_before(target)
    arms = () if before is None or before.experiment is None else before.experiment.arm_names
    value = getattr(state, key)
    if value not in arms:
        raise CorruptStateError(
            f"{source}: {key} {excerpt(value)} is not an arm of the experiment before stage"
            f" {target!r} ({excerpt(list(arms))}). {RESTORE_ADVICE}"
        )


def _routing_of(state: RolloutState) -> str:
    snapshot = state.experiment or {}
    return json.dumps(
        [snapshot.get("weights"), snapshot.get("dropped")], sort_keys=True, default=str
    )


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


def gate_window(state: RolloutState) -> int:
    """The number of the current window of evidence of the current stage (1: the first)."""
    return state.gate_windows.get(str(state.current_stage), 1)


def windowed_gate(gate: Gate, window: int) -> Gate:
    """``gate`` as it judges the ``window``-th window of its stage's evidence.

    A confidence gate tests at that window's share of its error level
    (:mod:`quant_rollout.stats.spending`), so that over every window of the stage (a
    veto, a cleared kill, a reset or a revert each start one) a stage at or below the
    bar advances with probability at most ``1 - confidence``.
    """
    if gate.confidence is None:
        return gate
    return dataclasses.replace(gate, confidence=window_confidence(gate.confidence, window))
