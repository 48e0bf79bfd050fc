"""The plain criteria of a gate: a count of trades, a total pnl, days since the last stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

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

__all__ = ["MinDaysAfterPrev", "MinTotalPnl", "MinTrades"]


@dataclass(frozen=True)
class MinTrades(Criterion):
    """At least ``count`` trades in the window."""

    count: int

    @property
    def name(self) -> str:
        return "n"

    def verdict(self, view: EvidenceView) -> Verdict:
        return Verdict.MET if view.metrics.n >= self.count else Verdict.NOT_MET

    def explain(self, view: EvidenceView, verdict: Verdict, *, estimate: bool = False) -> str:
        return "" if verdict is Verdict.MET else f"n={view.metrics.n} < {self.count}"

    def progress(self, view: EvidenceView) -> CriterionProgress:
        n = view.metrics.n
        return CriterionProgress(self.name, n, self.count, n >= self.count)

    def requirement(self) -> str:
        return f"n>={int(self.count)}"

    def plan_model(self, context: PlanContext) -> PlanModel:
        return AtLeast(Measure.TRADES, float(self.count))


@dataclass(frozen=True)
class MinTotalPnl(Criterion):
    """Total pnl of the window at least ``amount``, in account currency."""

    amount: float

    @property
    def name(self) -> str:
        return "total_pnl"

    def verdict(self, view: EvidenceView) -> Verdict:
        return Verdict.MET if view.metrics.total_pnl >= self.amount else Verdict.NOT_MET

    def explain(self, view: EvidenceView, verdict: Verdict, *, estimate: bool = False) -> str:
        if verdict is Verdict.MET:
            return ""
        return f"total_pnl=${view.metrics.total_pnl:.2f} < ${self.amount:.2f}"

    def progress(self, view: EvidenceView) -> CriterionProgress:
        pnl = view.metrics.total_pnl
        return CriterionProgress(self.name, pnl, self.amount, pnl >= self.amount)

    def requirement(self) -> str:
        return f"total_pnl>={self.amount:.6g}"

    def plan_model(self, context: PlanContext) -> PlanModel:
        return AtLeast(Measure.TOTAL_PNL, float(self.amount))


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
