"""The EV-per-dollar CUSUM kill criterion, its threshold by bootstrap (Efron 1979)."""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from typing import ClassVar, List, Optional, Sequence, Tuple

from .._validate import check_int, check_number
from ..errors import ConfigError
from ..gates import GateProof, Judgement, NotPlanned, PlanContext, PlanModel, Verdict
from ..stats import EvCusum as _EvCusumChart
from ..stats import ev_cusum_threshold
from ..trades import TradeOutcome
from .base import BuiltInKillCriterion, KillTrackerBase, _owner_check, _Target, _target
from .levels import ProvedLevel
from .models import EvCusum, KillModel

__all__ = ["EvPerDollarCusum"]


# An ARL target is met by bootstrap as a chance within this many trades, assuming
# (as holds closely for a CUSUM with a large ARL) that run lengths are exponential.
_EV_ARL_HORIZON = 2000

_LEVEL = ProvedLevel(
    name="ev_per_dollar_cusum",
    what="EV per dollar",
    article="an",
    bound="ev_per_dollar_lower",
    kind="EV",
    fmt=".4f",
    plan_fmt="+.4f",
    proof_note=(
        "ev_per_dollar_cusum planned at expected {level:+.4f}, the EV bar of the gate "
        "into the stage: the least it proves"
    ),
)


@functools.lru_cache(maxsize=256)
def _ev_design(
    sample: Tuple[float, ...],
    expected: float,
    unacceptable: float,
    horizon: int,
    probability: float,
    paths: int,
    seed: int,
) -> Tuple[float, float]:
    """(reference, threshold) by bootstrap, once per inputs (a fraction of a second)."""
    design = ev_cusum_threshold(
        sample, expected, unacceptable, horizon, probability, random.Random(seed), paths=paths
    )
    return design.reference, design.threshold


@dataclass(frozen=True)
class EvPerDollarCusum(BuiltInKillCriterion):
    """Kill when the EV per dollar has fallen from its expected level toward an unacceptable one.

    Page's CUSUM on each trade's return per dollar ``r = pnl / size`` (every trade
    counts equally; trades of size 0 are skipped): ``S = max(0, S + k - r)`` with
    ``k`` halfway between the two levels, killing when ``S`` reaches the threshold
    (:class:`~quant_rollout.stats.EvCusum`). Returns have no standard shape, so the
    threshold is found by bootstrap (:func:`~quant_rollout.stats.ev_cusum_threshold`,
    Efron 1979): ``paths`` simulated in-control paths of ``horizon`` trades drawn from
    a sample of returns shifted to the expected mean (so only the sample's shape
    matters: spread, skew, tails), the threshold that at most ``false_kill_prob`` of
    them reach. The sample is ``sample_returns`` if given, else the stage's own first
    ``calibration_trades`` returns, during which the chart does not run yet (the other
    criteria do). The design is computed once per sample and levels and cached (about
    0.3 s for 2,000 paths of 2,000 trades) and is seeded, so it is reproducible. The
    false-kill chance is an estimate: the sample stands in for the unknown law of
    returns, and a small calibration sample understates rare large losses.

    Attributes:
        unacceptable: the EV per dollar that must be caught (0.0: break-even), below
            the expected level.
        expected: the EV per dollar the stage holds when all is well; None = what its
            gate proved (:attr:`GateProof.ev_per_dollar_lower`, known only after a
            confidence gate with an EV criterion). Compared with per-trade returns,
            so with very unequal sizes give it explicitly.
        false_kill_prob, horizon: the chance of a false kill within ``horizon`` trades
            (default 0.05 within 2,000).
        trades_between_false_kills: instead, the average trades between false kills;
            met as the chance ``1 - exp(-h/ARL)`` within ``h = min(ARL, 2000)`` trades,
            as if run lengths were exponential (close for a CUSUM with a large ARL).
        sample_returns: returns per dollar (pnl/size) to bootstrap from, at least 2,
            not all equal; None = the stage's own first trades.
        calibration_trades: how many of the stage's trades form the sample when
            ``sample_returns`` is None, >= 2.
        paths: bootstrap paths, >= 100.
        seed: the bootstrap's random seed.

    Raises:
        ConfigError: a bad level, sample or setting, naming the field.
    """

    kind: ClassVar[str] = "ev_per_dollar_cusum"

    unacceptable: float
    expected: Optional[float] = None
    false_kill_prob: Optional[float] = None
    horizon: Optional[int] = None
    trades_between_false_kills: Optional[float] = None
    sample_returns: Optional[Tuple[float, ...]] = None
    calibration_trades: int = 50
    paths: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        owner = "EvPerDollarCusum"
        check_number(owner, "unacceptable", self.unacceptable)
        check_number(owner, "expected", self.expected, allow_none=True)
        if self.expected is not None:
            _owner_check(
                owner,
                "expected",
                self.expected > self.unacceptable,
                f"must be above unacceptable={self.unacceptable!r}",
                self.expected,
            )
        _target(owner, self.false_kill_prob, self.horizon, self.trades_between_false_kills)
        if self.sample_returns is not None:
            sample = self.sample_returns
            if isinstance(sample, (str, bytes)) or not isinstance(sample, Sequence):
                raise ConfigError(
                    f"{owner}.sample_returns must be a list of returns per dollar, got {sample!r}"
                )
            for i, r in enumerate(sample):
                check_number(owner, f"sample_returns[{i}]", r)
            _owner_check(
                owner,
                "sample_returns",
                len(sample) >= 2 and len(set(sample)) > 1,
                "must hold at least 2 returns that are not all equal",
                sample,
            )
            object.__setattr__(self, "sample_returns", tuple(float(r) for r in sample))
        check_int(owner, "calibration_trades", self.calibration_trades, minimum=2)
        check_int(owner, "paths", self.paths, minimum=100)
        check_int(owner, "seed", self.seed, minimum=0)

    @property
    def target(self) -> _Target:
        """The false-kill target with the defaults filled in."""
        return _target(
            "EvPerDollarCusum", self.false_kill_prob, self.horizon, self.trades_between_false_kills
        )

    def design(self, sample: Sequence[float], expected: float) -> Tuple[float, float]:
        """(reference, threshold) per dollar for a bootstrap sample and expected level."""
        target = self.target
        if target.arl0 is not None:
            horizon = min(math.ceil(target.arl0), _EV_ARL_HORIZON)
            probability = -math.expm1(-horizon / target.arl0)
        else:
            horizon, probability = target.horizon, target.probability
        return _ev_design(
            tuple(float(r) for r in sample),
            float(expected),
            float(self.unacceptable),
            horizon,
            probability,
            self.paths,
            self.seed,
        )

    def tracker(self, proof: Optional[GateProof]) -> KillTrackerBase:
        """A fresh chart for a window; idle when no expected level is known."""
        return _LEVEL.tracker(
            self.expected, proof, self.unacceptable, lambda level: _EvCusumTracker(self, level)
        )

    def plan_model(self, context: PlanContext) -> PlanModel:
        """Fast Monte Carlo: the chart followed on the run's returns per dollar."""
        level = _LEVEL.planned(self.expected, context, self.unacceptable)
        if isinstance(level, NotPlanned):
            return level
        expected, notes = level
        if self.sample_returns is None:
            notes.append(
                f"ev_per_dollar_cusum calibrates on each stage's first {self.calibration_trades} "
                "trades, during which it does not run; planned with the design that trades "
                "at its expected level give"
            )
        return KillModel(
            EvCusum(
                owner=self,
                expected=float(expected),
                sample_returns=self.sample_returns,
                calibration_trades=self.calibration_trades,
                design=self.design,
            ),
            text=(
                f"ev_per_dollar_cusum(expected {expected:+.4f}, unacceptable "
                f"{self.unacceptable:+.4f}, {self.target.text()})"
            ),
            tolerated_ev=float(expected),
            notes=tuple(notes),
        )


class _EvCusumTracker(KillTrackerBase):
    def __init__(self, criterion: EvPerDollarCusum, expected: float) -> None:
        self.criterion = criterion
        self.expected = expected
        self.chart: Optional[_EvCusumChart] = None
        self.sample: List[float] = []
        self.broken: Optional[str] = None
        self.run_n = 0
        self.run_sum = 0.0
        if criterion.sample_returns is not None:
            self._start(criterion.sample_returns)

    def _start(self, sample: Sequence[float]) -> None:
        if len(set(sample)) < 2:
            self.broken = (
                f"the stage's first {len(sample)} returns are all equal, so they say nothing "
                "about the spread to bootstrap from; give sample_returns"
            )
            return
        reference, threshold = self.criterion.design(sample, self.expected)
        self.chart = _EvCusumChart(reference, threshold)

    def add(self, trade: TradeOutcome) -> None:
        pnl, size = float(trade.pnl), float(trade.size)
        if size <= 0.0 or self.broken is not None:
            return
        chart = self.chart
        if chart is None:
            self.sample.append(pnl / size)
            if len(self.sample) >= self.criterion.calibration_trades:
                self._start(self.sample)
            return
        if chart.alarmed:
            return
        chart.update(pnl, size)
        if chart.statistic == 0.0:
            self.run_n, self.run_sum = 0, 0.0
        else:
            self.run_n += 1
            self.run_sum += pnl / size

    def _figures(self) -> str:
        run = (
            f"return per dollar {self.run_sum / self.run_n:.4f} over the last {self.run_n} trades; "
            if self.run_n
            else ""
        )
        return (
            f"({run}expected {self.expected:.4f}, unacceptable {self.criterion.unacceptable:.4f})"
        )

    def state(self) -> Verdict:
        if self.broken is not None:
            return Verdict.OFF
        chart = self.chart
        if chart is None:
            return Verdict.WAITING
        return Verdict.MET if chart.alarmed else Verdict.NOT_MET

    def judge(self) -> Judgement:
        if self.broken is not None:
            return Judgement(Verdict.OFF, self.broken)
        chart = self.chart
        if chart is None:
            return Judgement(
                Verdict.WAITING,
                f"{len(self.sample)} of {self.criterion.calibration_trades} trades for the "
                "bootstrap sample",
            )
        if not chart.alarmed:
            return Judgement(Verdict.NOT_MET, self.describe())
        return Judgement(
            Verdict.MET,
            f"ev_per_dollar_cusum: CUSUM {chart.statistic:.4f} >= {chart.threshold:.4f} "
            f"after {chart.n} trades {self._figures()}",
        )

    def progress(self) -> Optional[Tuple[float, float]]:
        chart = self.chart
        return None if chart is None else (chart.statistic, chart.threshold)

    def describe(self) -> str:
        if self.broken is not None:
            return f"not running: {self.broken}"
        chart = self.chart
        if chart is None:
            return (
                f"calibrating: {len(self.sample)} of {self.criterion.calibration_trades} "
                "trades for the bootstrap sample"
            )
        return (
            f"CUSUM {chart.statistic:.4f} of {chart.threshold:.4f} after {chart.n} trades "
            f"{self._figures()}; {self.criterion.target.text()}"
        )
