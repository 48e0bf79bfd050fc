"""The plain criteria of a gate: 0.1's point estimates against a bar, and days elapsed.

Each point criterion is an :class:`AtLeastCriterion`: an observed figure of the window
(a count of trades, a win rate, EV per dollar, a total pnl) at least its bar.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Union

from ..metrics import Metrics
from .criterion import (
    AfterDays,
    AtLeast,
    Criterion,
    EvidenceView,
    Measure,
    PlanContext,
    PlanModel,
    Verdict,
)
from .results import CriterionProgress
from .text import distinct

__all__ = [
    "AtLeastCriterion",
    "MinDaysAfterPrev",
    "MinEvPerDollar",
    "MinTotalPnl",
    "MinTrades",
    "MinWinRate",
]


class AtLeastCriterion(Criterion):
    """Met when a figure of the window, as observed, is at least a bar (inclusive).

    Subclasses set ``measure`` and give :meth:`observed`, :attr:`bar` and
    :meth:`shortfall` (the reason when it is not met, as 0.1 worded it).
    """

    measure: ClassVar[Measure]

    @property
    def name(self) -> str:
        return self.measure.value

    @property
    @abstractmethod
    def bar(self) -> Union[int, float]:
        """The least the figure must be."""

    @abstractmethod
    def observed(self, metrics: Metrics) -> float:
        """The figure, in the bar's unit."""

    @abstractmethod
    def shortfall(self, metrics: Metrics) -> str:
        """Why it is not met: ``n=5 < 10``."""

    def verdict(self, view: EvidenceView) -> Verdict:
        return Verdict.MET if self.observed(view.metrics) >= self.bar else Verdict.NOT_MET

    def explain(self, view: EvidenceView, verdict: Verdict, *, estimate: bool = False) -> str:
        return "" if verdict is Verdict.MET else self.shortfall(view.metrics)

    def progress(self, view: EvidenceView) -> CriterionProgress:
        observed = self.observed(view.metrics)
        return CriterionProgress(self.name, observed, self.bar, observed >= self.bar)

    def requirement(self) -> str:
        return f"{self.name}>={self.bar:.6g}"

    def plan_model(self, context: PlanContext) -> PlanModel:
        return AtLeast(self.measure, float(self.bar))


@dataclass(frozen=True)
class MinTrades(AtLeastCriterion):
    """At least ``count`` trades in the window."""

    measure: ClassVar[Measure] = Measure.TRADES
    count: int

    @property
    def bar(self) -> int:
        return self.count

    def observed(self, metrics: Metrics) -> float:
        return metrics.n

    def shortfall(self, metrics: Metrics) -> str:
        return f"n={metrics.n} < {self.count}"

    def requirement(self) -> str:
        return f"n>={int(self.count)}"


@dataclass(frozen=True)
class MinWinRate(AtLeastCriterion):
    """The win rate (0–1) is at least ``rate``, as observed (0.1's criterion)."""

    measure: ClassVar[Measure] = Measure.WIN_RATE
    rate: float

    @property
    def bar(self) -> float:
        return self.rate

    def observed(self, metrics: Metrics) -> float:
        return metrics.win_rate

    def shortfall(self, metrics: Metrics) -> str:
        return f"win_rate={metrics.win_rate:.3f} < {self.rate:.3f}"


@dataclass(frozen=True)
class MinEvPerDollar(AtLeastCriterion):
    """Total pnl / total size is at least ``ev``, as observed (0.1's criterion)."""

    measure: ClassVar[Measure] = Measure.EV_PER_DOLLAR
    ev: float

    @property
    def bar(self) -> float:
        return self.ev

    def observed(self, metrics: Metrics) -> float:
        return metrics.ev_per_dollar

    def shortfall(self, metrics: Metrics) -> str:
        return f"ev_per_dollar={metrics.ev_per_dollar:.4f} < {self.ev:.4f}"


@dataclass(frozen=True)
class MinTotalPnl(AtLeastCriterion):
    """Total pnl of the window at least ``amount``, in account currency."""

    measure: ClassVar[Measure] = Measure.TOTAL_PNL
    amount: float

    @property
    def bar(self) -> float:
        return self.amount

    def observed(self, metrics: Metrics) -> float:
        return metrics.total_pnl

    def shortfall(self, metrics: Metrics) -> str:
        return f"total_pnl=${metrics.total_pnl:.2f} < ${self.amount:.2f}"


@dataclass(frozen=True)
class MinDaysAfterPrev(Criterion):
    """At least ``days`` days since the previous stage began (unknown counts as 0)."""

    days: Union[int, float]

    @property
    def name(self) -> str:
        return "days_since_prev"

    @staticmethod
    def _days(view: EvidenceView) -> float:
        return view.days_since_prev or 0.0

    def verdict(self, view: EvidenceView) -> Verdict:
        return Verdict.MET if self._days(view) >= self.days else Verdict.NOT_MET

    def explain(self, view: EvidenceView, verdict: Verdict, *, estimate: bool = False) -> str:
        if verdict is Verdict.MET:
            return ""
        return f"days_since_prev={distinct(self._days(view), self.days)}"

    def progress(self, view: EvidenceView) -> CriterionProgress:
        days = self._days(view)
        return CriterionProgress(self.name, days, self.days, days >= self.days)

    def requirement(self) -> str:
        return f"days_since_prev>={self.days:.6g}"

    def plan_model(self, context: PlanContext) -> PlanModel:
        return AfterDays(float(self.days), f"min_days_after_prev={self.days:g}")
