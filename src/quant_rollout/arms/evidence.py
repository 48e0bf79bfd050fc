"""An experiment's evidence: each arm's trades and opportunities, compared with control.

:class:`ExperimentEvidence` takes the trades of an experiment stage (each tagged with its
arm) and the opportunity counts the bot reports, and keeps, in O(1) per trade whatever
the history:

* each arm's metrics (trades, wins, pnl, size, opportunities);
* for each candidate against control, the anytime-valid comparisons of
  :mod:`quant_rollout.stats.two_sample` on win rate, EV per dollar (when the experiment
  bounds the gains per dollar) and PnL per opportunity (when it bounds them per
  opportunity);
* the sample-ratio-mismatch alarm of :mod:`quant_rollout.stats.srm` on the routed counts.

:meth:`ExperimentEvidence.report` turns that into an :class:`ExperimentReport`: a row per
arm for ``status``, the winner (a candidate better than control by the margin on the
deciding metric), the candidates to drop (worse, with confidence) and, when the split is
broken, the SRM alarm, which stops all judging.

**Which arm a trade belongs to** is ``trade.metadata["arm"]`` (:data:`ARM_KEY`). In an
experiment every trade must carry one of the experiment's arm names; a trade without it
or with another name is an :class:`~quant_rollout.errors.InvalidTradeError` naming the
trade, never silently counted to control.

**Which trades, in which order.** On a rollout's stage (:mod:`quant_rollout.evidence`)
the comparisons and each arm's tallies take the *complete prefix*, as a gate does: the
trades opened before the oldest still open, append-only in the order they were opened
(a bot that takes profits fast and holds its losers would otherwise show each arm's
quick wins first and crown the arm that closes its wins fastest). The kill switch on
each arm takes every closed trade as it arrives, in the order of the bot's list
(:meth:`ExperimentEvidence.kill_tracker`), as the stage's own kill switch does. Neither
re-reads a trade: a late one is added at the end, never replayed.
:meth:`ExperimentEvidence.add_trade` feeds both at once, in the caller's order.

**Opportunities and trades.** The bot reports how many opportunities each arm was routed
since its last report (:meth:`ExperimentEvidence.add_opportunities`); a trade is usually
reported later, when it closes. For the PnL-per-opportunity comparison each report
becomes one batch per arm: the new opportunities, with the pnl of that arm's trades
reported since the previous batch placed among them at positions drawn from a generator
seeded by the experiment's salt and the batch number (deterministic, independent of the
outcomes). Trades beyond the batch's opportunities wait for the next batch. Totals, and
so every estimate shown, are exact; only the order in which the sequential test sees the
outcomes is approximate, as it is for any trade reported after it closes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import Enum
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ..errors import ConfigError, CorruptStateError, InvalidTradeError
from ..evidence import EvidenceTracker, StageEvidence
from ..kill import KillSwitch
from ..metrics import MetricsAccumulator
from ..stats.srm import SampleRatioTest
from ..stats.two_sample import (
    DEFAULT_DIFFERENCE_GRID_POINTS,
    DifferenceTest,
    EvPerDollarDifferenceTest,
    PnlPerOpportunityDifferenceTest,
    WinRateDifferenceTest,
)
from ..trades import TradeOutcome
from .model import Experiment, Metric

__all__ = [
    "ARM_KEY",
    "PLAIN_ARM",
    "ArmSummary",
    "Comparison",
    "ExperimentEvidence",
    "ExperimentReport",
    "Verdict",
    "arm_of",
    "format_experiment",
]

ARM_KEY = "arm"
"""The ``TradeOutcome.metadata`` key that names a trade's arm."""

PLAIN_ARM = "main"
"""The arm a rollout routes to on a stage without an experiment. As a tracker of an
experiment stage's evidence, :class:`ExperimentEvidence` leaves trades tagged with it
out (a trade the bot opened under the stage before, stamped after the experiment
began): they are not the experiment's, and never counted to control."""


class Verdict(str, Enum):
    """What a comparison of a candidate with control shows so far."""

    BETTER = "better"
    """Better than control by more than the margin, with confidence."""
    WORSE = "worse"
    """Not better than control by the margin, with confidence: it cannot win."""
    UNDECIDED = "undecided"
    """Not enough evidence either way yet."""


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def arm_of(trade: TradeOutcome, index: int, arms: Sequence[str]) -> str:
    """The arm named by ``trade.metadata["arm"]``, checked against ``arms``.

    Raises:
        InvalidTradeError: no arm, or an arm not in ``arms``; names ``trades[index]``.
    """
    name = trade.metadata.get(ARM_KEY) if isinstance(trade.metadata, Mapping) else None
    if name is None:
        raise InvalidTradeError(
            f"trades[{index}] has no arm: in an experiment stage every trade needs"
            f" metadata[{ARM_KEY!r}] naming one of {list(arms)!r} (pnl={trade.pnl!r},"
            f" timestamp={_short(trade.timestamp)})"
        )
    if name not in arms:
        raise InvalidTradeError(
            f"trades[{index}] names arm {_short(name)}, which is not in this experiment;"
            f" the arms are {list(arms)!r}"
        )
    return str(name)


@dataclass(frozen=True)
class Comparison:
    """One candidate against control on one metric.

    Attributes:
        metric: what is compared.
        difference: candidate minus control over the paired observations, or None
            before the first pair (win-rate points 0–1, dollars per dollar, or account
            currency per opportunity).
        lower: anytime-valid lower confidence bound on the difference.
        upper: anytime-valid upper confidence bound on the difference.
        verdict: the comparison's verdict at the experiment's margin.
        pairs: paired observations so far.
    """

    metric: Metric
    difference: Optional[float]
    lower: float
    upper: float
    verdict: Verdict
    pairs: int


@dataclass(frozen=True)
class ArmSummary:
    """One arm, as ``status`` shows it.

    Attributes:
        name: the arm's name.
        weight: its current share of opportunities, 0–1 (0 once dropped).
        dropped: True once the arm was dropped.
        trades: trades reported for it.
        wins: of which won (pnl > 0).
        pnl: total pnl, account currency.
        size: total size, account currency.
        opportunities: opportunities the bot reported routing to it.
        comparisons: against control, one per metric compared (empty for control).
    """

    name: str
    weight: float
    dropped: bool
    trades: int
    wins: int
    pnl: float
    size: float
    opportunities: int
    comparisons: Tuple[Comparison, ...]

    @property
    def win_rate(self) -> Optional[float]:
        """Wins / trades, 0–1, or None before the first trade."""
        return self.wins / self.trades if self.trades else None

    @property
    def ev_per_dollar(self) -> Optional[float]:
        """Total pnl / total size, or None without size."""
        return self.pnl / self.size if self.size > 0 else None

    @property
    def pnl_per_opportunity(self) -> Optional[float]:
        """Total pnl / opportunities, or None before the first opportunity."""
        return self.pnl / self.opportunities if self.opportunities else None

    def comparison(self, metric: Metric) -> Optional[Comparison]:
        """The comparison on ``metric``, or None when it is not compared."""
        return next((c for c in self.comparisons if c.metric is metric), None)


@dataclass(frozen=True)
class ExperimentReport:
    """What an experiment's evidence shows now.

    Attributes:
        arms: one row per arm, control first.
        metric: the deciding metric.
        srm_alarm: True when the routed counts do not match the weights (latched):
            no winner and no drop is proposed while it holds.
        srm_e_value: the evidence of a mismatch so far.
        winner: the candidate to promote, or None.
        worse: the candidates worse than control by the margin, with confidence, that
            are still running (to drop).
        reason: one line saying why.
        killed: ``(arm, reason)`` for each arm whose own trades tripped the kill
            switch (latched), in arm order. A candidate there is to be dropped and is
            never the winner; control there means the experiment itself failed (revert),
            and nothing else is proposed.
    """

    arms: Tuple[ArmSummary, ...]
    metric: Metric
    srm_alarm: bool
    srm_e_value: float
    winner: Optional[str]
    worse: Tuple[str, ...]
    reason: str
    killed: Tuple[Tuple[str, str], ...] = ()

    @property
    def control_killed(self) -> bool:
        """True when control's own trades tripped the kill switch."""
        return bool(self.killed) and self.killed[0][0] == self.arms[0].name

    def arm(self, name: str) -> ArmSummary:
        """The row of the arm ``name``.

        Raises:
            ConfigError: no such arm.
        """
        for row in self.arms:
            if row.name == name:
                return row
        raise ConfigError(f"no arm named {_short(name)} in this experiment")


class _ArmKillTracker:
    """The kill switch's view of an :class:`ExperimentEvidence`: every trade as it
    arrives, append-only in the caller's list order (see ``arrival_order`` in
    :mod:`quant_rollout.evidence`)."""

    __slots__ = ("evidence",)
    order_sensitive = True
    arrival_order = True

    def __init__(self, evidence: ExperimentEvidence) -> None:
        self.evidence = evidence

    def add(self, trade: TradeOutcome) -> None:
        self.evidence.watch(trade)


class _ArmTally:
    __slots__ = (
        "already_reported",
        "metrics",
        "opportunities",
        "pending_pnls",
        "reported",
    )

    def __init__(self) -> None:
        # Exactly rounded sums: a rebuilt tally equals the running one to the bit.
        self.metrics = MetricsAccumulator()
        self.opportunities = 0
        self.pending_pnls: List[float] = []
        self.reported = 0  # trades whose pnl went to the per-opportunity comparison
        self.already_reported = 0  # of the trades fed again after a restore


class ExperimentEvidence:
    """Each arm's evidence and the comparisons with control (see the module notes).

    Args:
        experiment: the arms and the deciding rule.
        weights: the current weights by arm name when an operator changed them; None
            uses the experiment's.
        dropped: names of candidates already dropped (their weight must be 0).
        grid_points: bars of each comparison's confidence grid (0: verdicts only, the
            intervals span every possible difference; for simulations).
        kill_switch: run on every arm's own trades (each arm its own window and
            criterion trackers); an arm that trips is reported in
            :attr:`ExperimentReport.killed`. None: no kill switch here.

    Raises:
        ConfigError: weights or dropped names that do not fit the experiment.
    """

    def __init__(
        self,
        experiment: Experiment,
        weights: Optional[Mapping[str, float]] = None,
        dropped: Iterable[str] = (),
        *,
        grid_points: int = DEFAULT_DIFFERENCE_GRID_POINTS,
        kill_switch: Optional[KillSwitch] = None,
    ) -> None:
        if not isinstance(experiment, Experiment):
            raise ConfigError(f"experiment must be an Experiment, got {_short(experiment)}")
        self.experiment = experiment
        dropped = list(dropped)
        self.weights: Dict[str, float] = dict(
            zip(
                experiment.arm_names,
                experiment.weights if weights is None else _weights(experiment, weights, dropped),
            )
        )
        self.dropped = set()
        for name in dropped:
            self._check_candidate(name)
            if self.weights[name] != 0.0:
                raise ConfigError(f"dropped arm {name!r} must have weight 0")
            self.dropped.add(name)
        self._names = experiment.arm_names
        self._tallies = {name: _ArmTally() for name in self._names}
        self._grid_points = grid_points
        self._per_opportunity = (
            experiment.loss_per_opportunity is not None
            and experiment.gain_per_opportunity is not None
        )
        self._tests: Dict[str, Dict[Metric, DifferenceTest]] = {
            arm.name: self._make_tests() for arm in experiment.candidates
        }
        if kill_switch is not None and not isinstance(kill_switch, KillSwitch):
            raise ConfigError(f"kill_switch must be a KillSwitch, got {_short(kill_switch)}")
        self._kill_switch = kill_switch
        self._kill_evidence: Dict[str, StageEvidence] = {}
        if kill_switch is not None:
            for name in experiment.arm_names:
                self._kill_evidence[name] = StageEvidence(
                    None, max(1, kill_switch.lookback), kill_switch.trackers(None)
                )
        self._killed: Dict[str, str] = {}
        split = [self.weights[n] for n in self._names]
        if sum(1 for w in split if w > 0) < 2:  # every candidate dropped: nothing to check
            split = list(experiment.weights)
        self._srm = SampleRatioTest(split, experiment.srm_confidence)
        self._batches = 0
        self._report: Optional[ExperimentReport] = None  # until the evidence changes

    def _check_candidate(self, name: str) -> None:
        if name not in self.experiment.arm_names:
            raise ConfigError(
                f"no arm named {_short(name)}; the arms are {list(self.experiment.arm_names)!r}"
            )
        if name == self.experiment.control:
            raise ConfigError(f"{name!r} is the control arm; only candidates can be dropped")

    def _make_tests(self) -> Dict[Metric, DifferenceTest]:
        e = self.experiment
        margin = e.margin
        confidence = e.confidence

        def at(metric: Metric) -> float:
            # The margin is in the deciding metric's unit; the others compare at 0.
            return margin if e.metric is metric else 0.0

        tests: Dict[Metric, DifferenceTest] = {
            Metric.WIN_RATE: WinRateDifferenceTest(
                at(Metric.WIN_RATE), confidence, grid_points=self._grid_points
            )
        }
        if e.gain_per_dollar is not None:
            tests[Metric.EV_PER_DOLLAR] = EvPerDollarDifferenceTest(
                e.loss_per_dollar,
                e.gain_per_dollar,
                at(Metric.EV_PER_DOLLAR),
                confidence,
                grid_points=self._grid_points,
            )
        if e.loss_per_opportunity is not None and e.gain_per_opportunity is not None:
            tests[Metric.PNL_PER_OPPORTUNITY] = PnlPerOpportunityDifferenceTest(
                e.loss_per_opportunity,
                e.gain_per_opportunity,
                at(Metric.PNL_PER_OPPORTUNITY),
                confidence,
                grid_points=self._grid_points,
            )
        return tests

    # -- input ------------------------------------------------------------------------

    order_sensitive = True
    complete_evidence = True
    """As a tracker on a stage's evidence (key
    :func:`~quant_rollout.evidence.experiment_tracker_key`): the comparisons and the
    arms' tallies take the complete prefix, append-only in the order the trades were
    opened, as a gate does; the kill switch takes every trade as it arrives through
    :meth:`kill_tracker`. A late trade so never rebuilds the experiment's evidence."""

    def check(self, trade: TradeOutcome, index: int) -> None:
        """Raise what :meth:`add_trade` would raise for ``trade``, changing nothing.

        The rollout checks every new trade of a tick with this before it adds any, so
        a bad trade leaves its evidence as it was.

        Raises:
            InvalidTradeError: as :meth:`add_trade`, naming ``trades[index]``.
        """
        if not self._plain(trade):
            self._checked(trade, index)

    def add(self, trade: TradeOutcome) -> None:
        """Count one trade already :meth:`check`-ed in the tallies and comparisons (the
        evidence-tracker protocol, complete prefix); one tagged :data:`PLAIN_ARM` is
        left out. The kill switch takes trades through :meth:`kill_tracker`."""
        if not self._plain(trade):
            self._compare(trade, self._checked(trade, -1))

    def kill_tracker(self) -> EvidenceTracker:
        """The tracker that runs the kill switch on every arm's own trades, fed every
        closed trade as it arrives (``arrival_order``, key
        :func:`~quant_rollout.evidence.experiment_kill_tracker_key`); trades must be
        :meth:`check`-ed first."""
        return _ArmKillTracker(self)

    def watch(self, trade: TradeOutcome) -> None:
        """Run the kill switch on one :meth:`check`-ed trade (arrival order); one
        tagged :data:`PLAIN_ARM` is left out."""
        if not self._plain(trade):
            self._watch(trade, arm_of(trade, -1, self._names))

    def _plain(self, trade: TradeOutcome) -> bool:
        metadata = trade.metadata
        return (
            isinstance(metadata, Mapping)
            and metadata.get(ARM_KEY) == PLAIN_ARM
            and PLAIN_ARM not in self._names
        )

    def _checked(self, trade: TradeOutcome, index: int) -> str:
        name = arm_of(trade, index, self._names)
        control = name == self.experiment.control
        groups = list(self._tests.values()) if control else [self._tests[name]]
        ev_return = trade.pnl / trade.size if trade.size > 0 else None
        for tests in groups:
            for metric, test in tests.items():
                value = trade.pnl if metric is Metric.PNL_PER_OPPORTUNITY else ev_return
                if metric is Metric.WIN_RATE or value is None:
                    continue
                if not test.low <= value <= test.high:
                    unit = "per dollar" if metric is Metric.EV_PER_DOLLAR else "per opportunity"
                    raise InvalidTradeError(
                        f"trades[{index}] (arm {name!r}, pnl={trade.pnl!r}, size={trade.size!r})"
                        f" is {value:.4g} {unit}, outside [{test.low!r}, {test.high!r}]; widen"
                        f" the experiment's loss/gain bounds {unit} or fix the trade"
                    )
        return name

    def add_trade(self, trade: TradeOutcome, index: int) -> None:
        """Count one closed trade of the experiment in the comparisons and the kill
        switch at once (for callers that feed trades in their own order, as replay
        does); ``index`` names it in errors.

        Raises:
            InvalidTradeError: no arm or an unknown arm, or a trade outside the bounds
                the comparisons assume. Nothing changes.
        """
        # Check every bound first so that a bad trade changes nothing.
        name = self._checked(trade, index)
        self._watch(trade, name)
        self._compare(trade, name)

    def _watch(self, trade: TradeOutcome, name: str) -> None:
        kill_evidence = self._kill_evidence.get(name)
        if kill_evidence is None or self._kill_switch is None:
            return
        self._report = None
        kill_evidence.add(trade, (trade.instant_us, kill_evidence.n))
        if name not in self._killed and name not in self.dropped:
            tripped, why = self._kill_switch.judge_evidence(kill_evidence)
            if tripped:
                self._killed[name] = why or "kill switch tripped"

    def _compare(self, trade: TradeOutcome, name: str) -> None:
        self._report = None
        control = name == self.experiment.control
        groups = list(self._tests.values()) if control else [self._tests[name]]
        ev_return = trade.pnl / trade.size if trade.size > 0 else None
        tally = self._tallies[name]
        tally.metrics.add(trade)
        for tests in groups:
            for metric, test in tests.items():
                if metric is Metric.WIN_RATE:
                    assert isinstance(test, WinRateDifferenceTest)
                    add = test.add_control_trade if control else test.add_candidate_trade
                    add(trade.pnl > 0)
                elif metric is Metric.EV_PER_DOLLAR and ev_return is not None:
                    (test.add_control if control else test.add_candidate)(ev_return)
        if self._per_opportunity:
            if tally.already_reported > 0:
                tally.already_reported -= 1  # in the restored snapshot already
            else:
                tally.pending_pnls.append(trade.pnl)
                tally.reported += 1

    def add_opportunities(self, counts: Mapping[str, int]) -> None:
        """Count opportunities routed to each arm since the last report.

        Arms not named got none. Updates the SRM alarm and feeds one batch per arm to
        the PnL-per-opportunity comparison (see the module notes).

        Raises:
            ConfigError: an unknown arm or a count that is not a whole number >= 0.
                Nothing changes.
        """
        if not isinstance(counts, Mapping):
            raise ConfigError(f"opportunities must map arm names to counts, got {_short(counts)}")
        for name, count in counts.items():
            if name not in self._tallies:
                raise ConfigError(
                    f"opportunities name unknown arm {_short(name)}; the arms are"
                    f" {list(self._names)!r}"
                )
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ConfigError(
                    f"opportunities[{name!r}] must be a whole number >= 0, got {_short(count)}"
                )
        if not any(counts.values()):
            return
        self._report = None
        for name, count in counts.items():
            self._tallies[name].opportunities += count
        if sum(1 for w in self.weights.values() if w > 0) >= 2:
            self._srm.update(
                [self._srm.counts[i] + counts.get(n, 0) for i, n in enumerate(self._names)]
            )
        self._batches += 1
        if not self._per_opportunity:
            return
        rng = random.Random(f"{self.experiment.routing_salt}:{self._batches}")
        control = self.experiment.control
        for name in self._names:
            tally = self._tallies[name]
            count = counts.get(name, 0)
            placed = tally.pending_pnls[:count]
            del tally.pending_pnls[:count]
            if name == control:
                for tests in self._tests.values():
                    test = tests[Metric.PNL_PER_OPPORTUNITY]
                    assert isinstance(test, PnlPerOpportunityDifferenceTest)
                    test.add_control_opportunities(count, placed, random.Random(rng.random()))
            else:
                test = self._tests[name][Metric.PNL_PER_OPPORTUNITY]
                assert isinstance(test, PnlPerOpportunityDifferenceTest)
                test.add_candidate_opportunities(count, placed, random.Random(rng.random()))

    def change_weights(self, weights: Mapping[str, float]) -> None:
        """Route with new weights from now on (the SRM alarm starts a new stretch).

        Raises:
            ConfigError: weights that fail the experiment's checks, or a dropped arm
                given a weight.
        """
        current = _weights(self.experiment, weights, self.dropped)
        for name in self.dropped:
            if weights[name] != 0.0:
                raise ConfigError(f"arm {name!r} was dropped; its weight must stay 0")
        self._report = None
        self.weights = dict(zip(self.experiment.arm_names, current))
        if sum(1 for w in current if w > 0) >= 2:
            self._srm.change_weights(current)
        # else every candidate was dropped: one arm takes everything and there is no
        # split left to check; the SRM test keeps what it had and counts no more.

    def drop(self, name: str) -> Dict[str, float]:
        """Drop a candidate: its weight goes to control. Returns the new weights.

        Raises:
            ConfigError: not a candidate, or already dropped.
        """
        self._check_candidate(name)
        if name in self.dropped:
            raise ConfigError(f"arm {name!r} was already dropped")
        weights = dict(self.weights)
        weights[self.experiment.control] += weights[name]
        weights[name] = 0.0
        self.dropped.add(name)
        try:
            self.change_weights(weights)
        except ConfigError:
            self.dropped.discard(name)
            raise
        return weights

    # -- persistence ------------------------------------------------------------------

    def snapshot(self) -> Dict[str, Any]:
        """What cannot be rebuilt from the trades, as JSON-ready values.

        The opportunity counts reach the rollout only through
        :meth:`add_opportunities`, so the state file must keep them: the weights and
        dropped arms, each arm's opportunities, the SRM test, the PnL-per-opportunity
        comparisons and the trades waiting for their opportunities. Everything else is
        rebuilt by feeding the trades again after :meth:`restore`.
        """
        return {
            "weights": dict(self.weights),
            "dropped": sorted(self.dropped),
            "opportunities": {n: self._tallies[n].opportunities for n in self._names},
            "batches": self._batches,
            "srm": self._srm.snapshot(),
            "reported": {n: self._tallies[n].reported for n in self._names},
            "pending": {n: list(self._tallies[n].pending_pnls) for n in self._names},
            "per_opportunity": {
                name: tests[Metric.PNL_PER_OPPORTUNITY].snapshot()
                for name, tests in self._tests.items()
                if Metric.PNL_PER_OPPORTUNITY in tests
            },
        }

    @classmethod
    def restore(
        cls,
        experiment: Experiment,
        data: Mapping[str, Any],
        where: str = "experiment",
        *,
        kill_switch: Optional[KillSwitch] = None,
    ) -> ExperimentEvidence:
        """Evidence continuing from a :meth:`snapshot`; then feed the stage's trades again.

        The first trades of each arm fed after this, as many as the snapshot had
        reported, are counted in the tallies and the per-trade comparisons but not again
        in the per-opportunity one. ``kill_switch`` as for the constructor (each arm's
        kill evidence is rebuilt from the trades fed again).

        Raises:
            CorruptStateError: the snapshot is malformed or does not fit the experiment
                (another set of arms, metrics or bounds); names ``where`` and the field.
        """
        if not isinstance(data, Mapping):
            raise CorruptStateError(f"{where} must be an object, got {_short(data)}")
        names = experiment.arm_names

        def per_arm(key: str) -> Mapping[str, Any]:
            value = data.get(key)
            if not isinstance(value, Mapping) or sorted(value) != sorted(names):
                raise CorruptStateError(
                    f"{where}.{key} must have one entry per arm {list(names)!r}, got"
                    f" {_short(value)}"
                )
            return value

        weights, dropped = per_arm("weights"), data.get("dropped")
        if not isinstance(dropped, list) or not all(isinstance(d, str) for d in dropped):
            raise CorruptStateError(f"{where}.dropped must be a list of arm names")
        try:
            evidence = cls(experiment, weights, dropped, kill_switch=kill_switch)
        except ConfigError as exc:
            raise CorruptStateError(f"{where}: {exc}") from None
        counts = {key: per_arm(key) for key in ("opportunities", "reported")}
        for key, values in counts.items():
            for name, n in values.items():
                if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                    raise CorruptStateError(
                        f"{where}.{key}[{name!r}] must be a whole number >= 0, got {_short(n)}"
                    )
        pending = per_arm("pending")
        for name, pnls in pending.items():
            if not isinstance(pnls, list) or not all(
                isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p)
                for p in pnls
            ):
                raise CorruptStateError(f"{where}.pending[{name!r}] must be a list of numbers")
        batches = data.get("batches")
        if isinstance(batches, bool) or not isinstance(batches, int) or batches < 0:
            raise CorruptStateError(
                f"{where}.batches must be a whole number >= 0, got {_short(batches)}"
            )
        srm = data.get("srm")
        if not isinstance(srm, Mapping):
            raise CorruptStateError(f"{where}.srm must be an object, got {_short(srm)}")
        evidence._srm.restore(srm, f"{where}.srm")
        tests = data.get("per_opportunity")
        expected = sorted(evidence._tests) if evidence._per_opportunity else []
        if not isinstance(tests, Mapping) or sorted(tests) != expected:
            raise CorruptStateError(
                f"{where}.per_opportunity must have one entry per candidate {expected!r}"
                " (the experiment's per-opportunity bounds changed?)"
            )
        for name, snapshot in tests.items():
            evidence._tests[name][Metric.PNL_PER_OPPORTUNITY].restore(
                snapshot, f"{where}.per_opportunity[{name!r}]"
            )
        for name in names:
            tally = evidence._tallies[name]
            tally.opportunities = counts["opportunities"][name]
            tally.reported = tally.already_reported = counts["reported"][name]
            tally.pending_pnls = [float(p) for p in pending[name]]
        evidence._batches = batches
        return evidence

    # -- output -----------------------------------------------------------------------

    def report(self) -> ExperimentReport:
        """The arms side by side, and what the evidence decides now (kept until the
        evidence next changes: a tick asks more than once)."""
        if self._report is None:
            self._report = self._fresh_report()
        return self._report

    def _fresh_report(self) -> ExperimentReport:
        e = self.experiment
        rows = []
        for name in (e.control, *(a.name for a in e.candidates)):
            tally = self._tallies[name]
            metrics = tally.metrics.metrics()
            comparisons: Tuple[Comparison, ...] = ()
            if name != e.control:
                comparisons = tuple(
                    Comparison(
                        metric=metric,
                        difference=test.difference,
                        lower=test.lower_bound,
                        upper=test.upper_bound,
                        verdict=(
                            Verdict.BETTER
                            if test.better
                            else Verdict.WORSE
                            if test.worse
                            else Verdict.UNDECIDED
                        ),
                        pairs=test.pairs,
                    )
                    for metric, test in self._tests[name].items()
                )
            rows.append(
                ArmSummary(
                    name=name,
                    weight=self.weights[name],
                    dropped=name in self.dropped,
                    trades=metrics.n,
                    wins=metrics.wins,
                    pnl=metrics.total_pnl,
                    size=metrics.total_size,
                    opportunities=tally.opportunities,
                    comparisons=comparisons,
                )
            )
        srm_e = self._srm.e_value
        killed = tuple((n, self._killed[n]) for n in (r.name for r in rows) if n in self._killed)
        if e.control in self._killed:
            return ExperimentReport(
                arms=tuple(rows),
                metric=e.metric,
                srm_alarm=self._srm.alarmed,
                srm_e_value=srm_e,
                winner=None,
                worse=(),
                reason=(
                    f"control arm {e.control!r} tripped the kill switch on its own trades:"
                    f" {self._killed[e.control]}"
                ),
                killed=killed,
            )
        if self._srm.alarmed:
            observed = ", ".join(
                f"{n} {s:.1%}" for n, s in zip(self._names, self._srm.observed_shares)
            )
            wanted = ", ".join(f"{n} {self.weights[n]:.1%}" for n in self._names)
            return ExperimentReport(
                arms=tuple(rows),
                metric=e.metric,
                srm_alarm=True,
                srm_e_value=srm_e,
                winner=None,
                worse=(),
                reason=(
                    f"sample-ratio mismatch: routed {observed} against weights {wanted}"
                    f" (evidence {_e_text(srm_e)} >= {1 / (1 - self._srm.confidence):.0f});"
                    " the split is broken, so no arm is judged until it is fixed"
                ),
                killed=killed,
            )
        live = [r for r in rows[1:] if not r.dropped and r.name not in self._killed]
        decisive = [(r, r.comparison(e.metric)) for r in live]
        better = [(r, c) for r, c in decisive if c is not None and c.verdict is Verdict.BETTER]
        worse = tuple(r.name for r, c in decisive if c is not None and c.verdict is Verdict.WORSE)
        winner = max(better, key=lambda rc: rc[1].lower)[0].name if better else None
        if winner is not None:
            chosen = next(c for r, c in better if r.name == winner)
            reason = (
                f"arm {winner!r} beats control {e.control!r} on {e.metric.value} by more than"
                f" {e.margin:g}: difference {_fmt(chosen.difference)}, interval"
                f" [{chosen.lower:.4g}, {chosen.upper:.4g}] at confidence {e.confidence:g}"
                f" after {chosen.pairs} pairs"
            )
        elif worse:
            reason = (
                f"{', '.join(repr(w) for w in worse)} cannot beat control {e.control!r} on"
                f" {e.metric.value} by {e.margin:g} (confidence {e.confidence:g})"
            )
        elif killed:
            reason = "; ".join(f"{n!r} tripped the kill switch: {why}" for n, why in killed)
        elif not live:
            reason = "every candidate was dropped"
        else:
            reason = f"no candidate is better than control on {e.metric.value} yet"
        return ExperimentReport(
            arms=tuple(rows),
            metric=e.metric,
            srm_alarm=False,
            srm_e_value=srm_e,
            winner=winner,
            worse=worse,
            reason=reason,
            killed=killed,
        )


def _weights(
    experiment: Experiment, weights: Mapping[str, float], dropped: Iterable[str]
) -> Tuple[float, ...]:
    """The weights by arm, checked; once every candidate is dropped control takes all
    (a split the experiment itself refuses, as it leaves nothing to compare)."""
    gone = set(dropped)
    if gone and all(a.name in gone for a in experiment.candidates):
        by_arm = dict(weights) if isinstance(weights, Mapping) else {}
        wanted = {n: 1.0 if n == experiment.control else 0.0 for n in experiment.arm_names}
        if by_arm != wanted:
            raise ConfigError(
                f"every candidate was dropped, so control {experiment.control!r} takes every"
                f" opportunity; weights must be {wanted!r}, got {_short(weights, 80)}"
            )
        return tuple(wanted[n] for n in experiment.arm_names)
    return experiment.with_weights(weights).weights


def _fmt(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:+.4g}"


def _e_text(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.3g}"


_METRIC_LABEL = {
    Metric.WIN_RATE: "win rate",
    Metric.EV_PER_DOLLAR: "EV/$",
    Metric.PNL_PER_OPPORTUNITY: "PnL/opp",
}


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1%}"


def _number(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:+.4g}"


def format_experiment(report: ExperimentReport) -> str:
    """The arms side by side as a text table, then each comparison and the verdict.

    One line per arm: weight, trades, opportunities, win rate, EV per dollar, PnL and
    PnL per opportunity; then, per candidate and metric, the difference from control
    with its anytime-valid interval and the verdict; last, the reason line.
    """
    header = (
        f"{'arm':<16} {'weight':>7} {'trades':>7} {'opps':>7} {'win rate':>8}"
        f" {'EV/$':>9} {'PnL':>11} {'PnL/opp':>9}"
    )
    lines = [header]
    for row in report.arms:
        label = row.name + (" (dropped)" if row.dropped else "")
        lines.append(
            f"{label:<16} {row.weight:>7.1%} {row.trades:>7} {row.opportunities:>7}"
            f" {_percent(row.win_rate):>8} {_number(row.ev_per_dollar):>9}"
            f" {row.pnl:>+11.2f} {_number(row.pnl_per_opportunity):>9}"
        )
    control = report.arms[0].name
    for row in report.arms[1:]:
        for c in row.comparisons:
            decisive = " (decides)" if c.metric is report.metric else ""
            lines.append(
                f"{row.name} - {control}, {_METRIC_LABEL[c.metric]}{decisive}:"
                f" {_number(c.difference)} in [{c.lower:+.4g}, {c.upper:+.4g}],"
                f" {c.verdict.value} ({c.pairs} pairs)"
            )
    for name, why in report.killed:
        lines.append(f"KILLED {name}: {why}")
    if report.srm_alarm:
        lines.append("SRM ALARM: " + report.reason)
    else:
        lines.append(("winner: " if report.winner else "verdict: ") + report.reason)
    return "\n".join(lines)
