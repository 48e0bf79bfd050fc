"""The win-rate CUSUM kill criterion (Page 1954), its threshold exact (Brook & Evans 1972)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar, Optional, Tuple

from ..gates import GateProof, Judgement, NotPlanned, PlanContext, PlanModel, Verdict
from ..stats import BernoulliCusum, cusum_threshold
from ..trades import TradeOutcome
from .base import (
    BuiltInKillCriterion,
    KillTrackerBase,
    _open_fraction,
    _owner_check,
    _Target,
    _target,
)
from .levels import ProvedLevel
from .models import KillModel, LossChain

__all__ = ["WinRateCusum"]


def _snap(level: float) -> float:
    # Rounded down to a hundredth: still a level the stage proved, and the threshold
    # (about a second to solve) is then shared by nearby proofs.
    return math.floor(level * 100 + 1e-9) / 100


_LEVEL = ProvedLevel(
    name="win_rate_cusum",
    what="win rate",
    article="a",
    bound="win_rate_lower",
    kind="win-rate",
    fmt=".3f",
    plan_fmt=".3f",
    snap=_snap,
    proof_note=(
        "win_rate_cusum planned at expected {level:.3f}, the bar of the gate into the "
        "stage: the least it proves (the real level is its lower bound when it passes)"
    ),
)


@functools.lru_cache(maxsize=256)
def _win_rate_threshold(p0: float, p1: float, target: _Target) -> float:
    """The chart's threshold, solved once per (levels, target): about a second each."""
    if target.arl0 is not None:
        return cusum_threshold(p0, p1, arl0=target.arl0)
    return cusum_threshold(p0, p1, horizon=target.horizon, false_alarm_prob=target.probability)


@dataclass(frozen=True)
class WinRateCusum(BuiltInKillCriterion):
    """Kill when the win rate has fallen from its expected level toward an unacceptable one.

    Page's CUSUM of the log-likelihood ratio of ``unacceptable`` against ``expected``
    over wins (pnl > 0) and losses (everything else), on the integer scores of
    :class:`~quant_rollout.stats.BernoulliCusum`, so the false-kill figures are exact:
    the threshold is the smallest that meets the target on the chart's Markov chain
    (:func:`~quant_rollout.stats.cusum_threshold`; solved once per levels and target,
    about a second, then cached). With expected 0.65, unacceptable 0.45 and the default
    target, a drop to 45% is caught after about 85 trades on average.

    Attributes:
        unacceptable: the win rate (0–1) that must be caught, below the expected level.
        expected: the win rate (0–1) the stage holds when all is well; None = what the
            stage proved at its gate (:attr:`GateProof.win_rate_lower`, rounded down
            to a hundredth). The false-kill target holds for a strategy at this level
            (better ones are killed less often, worse ones more).
        false_kill_prob: the chance that a strategy at the expected level is killed
            within ``horizon`` trades; default 0.05.
        horizon: trades for ``false_kill_prob``; default 2,000.
        trades_between_false_kills: instead of those two, the average number of
            trades between false kills (the in-control average run length).

    Raises:
        ConfigError: a level outside (0, 1), ``expected`` not above ``unacceptable``,
            or both kinds of target given.
    """

    kind: ClassVar[str] = "win_rate_cusum"

    unacceptable: float
    expected: Optional[float] = None
    false_kill_prob: Optional[float] = None
    horizon: Optional[int] = None
    trades_between_false_kills: Optional[float] = None

    def __post_init__(self) -> None:
        owner = "WinRateCusum"
        _open_fraction(owner, "unacceptable", self.unacceptable)
        if self.expected is not None:
            _open_fraction(owner, "expected", self.expected)
            _owner_check(
                owner,
                "expected",
                self.expected > self.unacceptable,
                f"must be above unacceptable={self.unacceptable!r}",
                self.expected,
            )
        _target(owner, self.false_kill_prob, self.horizon, self.trades_between_false_kills)

    @property
    def target(self) -> _Target:
        """The false-kill target with the defaults filled in."""
        return _target(
            "WinRateCusum", self.false_kill_prob, self.horizon, self.trades_between_false_kills
        )

    def threshold(self, expected: float) -> float:
        """The chart's threshold in nats for this expected level (cached)."""
        return _win_rate_threshold(float(expected), float(self.unacceptable), self.target)

    def tracker(self, proof: Optional[GateProof]) -> KillTrackerBase:
        """A fresh chart for a window; idle when no expected level is known."""
        return _LEVEL.tracker(
            self.expected, proof, self.unacceptable, lambda level: _WinRateCusumTracker(self, level)
        )

    def plan_model(self, context: PlanContext) -> PlanModel:
        """Exact: the chart's Markov chain, at ``expected`` or the gate's bar."""
        level = _LEVEL.planned(self.expected, context, self.unacceptable)
        if isinstance(level, NotPlanned):
            return level
        expected, notes = level
        chart = BernoulliCusum(float(expected), float(self.unacceptable), self.threshold(expected))
        return KillModel(
            LossChain(chart.scores.win_units, chart.scores.loss_units, chart.threshold_units),
            text=(
                f"win_rate_cusum(expected {expected:.3f}, unacceptable "
                f"{self.unacceptable:.3f}, {self.target.text()})"
            ),
            tolerated=float(expected),
            detect=float(self.unacceptable),
            notes=tuple(notes),
        )


class _WinRateCusumTracker(KillTrackerBase):
    def __init__(self, criterion: WinRateCusum, expected: float) -> None:
        self.criterion = criterion
        self.expected = expected
        self.chart = BernoulliCusum(expected, criterion.unacceptable, criterion.threshold(expected))
        # Trades since the chart last stood at 0: the run that is pushing it up.
        self.run_n = 0
        self.run_wins = 0

    def add(self, trade: TradeOutcome) -> None:
        chart = self.chart
        if chart.alarmed:
            return  # latched: keep the figures of the trade that fired it
        win = trade.pnl > 0
        chart.update(win)
        if chart.state_units == 0:
            self.run_n = self.run_wins = 0
        else:
            self.run_n += 1
            self.run_wins += int(win)

    def _figures(self) -> str:
        run = (
            f"win rate {self.run_wins / self.run_n:.3f} over the last {self.run_n} trades; "
            if self.run_n
            else ""
        )
        return (
            f"({run}expected {self.expected:.3f}, unacceptable {self.criterion.unacceptable:.3f})"
        )

    def state(self) -> Verdict:
        return Verdict.MET if self.chart.alarmed else Verdict.NOT_MET

    def judge(self) -> Judgement:
        chart = self.chart
        if not chart.alarmed:
            return Judgement(Verdict.NOT_MET, self.describe())
        return Judgement(
            Verdict.MET,
            f"win_rate_cusum: CUSUM {chart.statistic:.2f} >= {chart.h:.2f} after "
            f"{chart.n} trades {self._figures()}",
        )

    def progress(self) -> Tuple[float, float]:
        return self.chart.statistic, self.chart.h

    def describe(self) -> str:
        chart = self.chart
        return (
            f"CUSUM {chart.statistic:.2f} of {chart.h:.2f} after {chart.n} trades "
            f"{self._figures()}; {self.criterion.target.text()}"
        )
