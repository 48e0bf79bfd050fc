"""Gates: the evidence a stage must show before the rollout may advance past it.

The gate of stage k+1 is judged on the trades of stage k (its evidence window).
Every criterion is optional. ``Gate()`` passes any evidence that is not losing money:
like quant-rollout 0.1, the EV-per-dollar floor defaults to 0.0 and is always checked
(a stage with negative EV does not advance). ``Gate(min_ev_per_dollar=None)`` drops
that floor and passes everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional, Tuple

from ._validate import check_fraction, check_int, check_non_negative, check_number
from .metrics import Metrics

__all__ = ["CriterionProgress", "Gate", "GateResult", "GateVerdict"]


class GateVerdict(str, Enum):
    """The three answers a gate can give."""

    PASS = "pass"
    """The evidence meets every criterion."""
    NOT_YET = "not_yet"
    """Some criterion is not met yet; more trades or more time may meet it."""
    CANNOT_PASS = "cannot_pass"
    """The evidence shows the stage cannot meet the bar (confidence gates only)."""


@dataclass(frozen=True)
class GateResult:
    """A gate's verdict with the reason: ``"ok"`` or the first criterion that failed."""

    verdict: GateVerdict
    reason: str

    @property
    def passes(self) -> bool:
        """True when the verdict is PASS."""
        return self.verdict is GateVerdict.PASS


@dataclass(frozen=True)
class CriterionProgress:
    """One gate criterion, observed against required, for ``status`` displays.

    ``observed`` and ``required`` are in the criterion's own unit: a count of trades,
    a 0–1 fraction, dollars per dollar, account currency, or days.
    """

    name: str
    observed: float
    required: float
    met: bool


@dataclass(frozen=True)
class Gate:
    """Pass/fail criteria for advancing to a stage.

    Attributes:
        min_n: at least this many trades in the previous stage's evidence.
        min_win_rate: win rate (0–1) at least this.
        min_ev_per_dollar: total pnl / total size at least this (0.03 = 3 cents a dollar);
            ``None`` = no floor at all.
        min_total_pnl: total pnl at least this, in account currency; ``None`` = no floor.
        min_days_after_prev: at least this many days since the previous stage began,
            measured with the rollout's clock (stage 0: since the rollout's first tick).

    Raises:
        ConfigError: a field out of range (e.g. ``min_win_rate=60`` instead of 0.6).
    """

    min_n: int = 0
    min_win_rate: float = 0.0
    min_ev_per_dollar: Optional[float] = 0.0
    min_total_pnl: Optional[float] = None
    min_days_after_prev: float = 0.0

    def __post_init__(self) -> None:
        check_int("Gate", "min_n", self.min_n, minimum=0)
        check_fraction("Gate", "min_win_rate", self.min_win_rate)
        check_number("Gate", "min_ev_per_dollar", self.min_ev_per_dollar, allow_none=True)
        check_number("Gate", "min_total_pnl", self.min_total_pnl, allow_none=True)
        check_non_negative("Gate", "min_days_after_prev", self.min_days_after_prev)

    def evaluate(
        self, metrics: Metrics, *, days_since_prev: Optional[float] = None
    ) -> Tuple[bool, str]:
        """Return ``(passes, reason)``; reason is ``"ok"`` or the first failing criterion.

        Reasons read like ``n=5 < 10`` or ``win_rate=0.500 < 0.600``, as in 0.1.
        ``days_since_prev=None`` counts as 0 days.
        """
        result = self.judge(metrics, days_since_prev=days_since_prev)
        return result.passes, result.reason

    def judge(self, metrics: Metrics, *, days_since_prev: Optional[float] = None) -> GateResult:
        """Like :meth:`evaluate`, with the three-way :class:`GateVerdict`."""
        for item in self.progress(metrics, days_since_prev=days_since_prev):
            if not item.met:
                return GateResult(GateVerdict.NOT_YET, _describe_failure(item))
        return GateResult(GateVerdict.PASS, "ok")

    def progress(
        self, metrics: Metrics, *, days_since_prev: Optional[float] = None
    ) -> Tuple[CriterionProgress, ...]:
        """Each criterion this gate sets, observed vs required, in the order they are checked."""
        items = [CriterionProgress("n", metrics.n, self.min_n, metrics.n >= self.min_n)]
        if self.min_win_rate > 0:
            items.append(
                CriterionProgress(
                    "win_rate",
                    metrics.win_rate,
                    self.min_win_rate,
                    metrics.win_rate >= self.min_win_rate,
                )
            )
        # 0.1 checked EV/$ even at its 0.0 default, so a losing stage never passed.
        if self.min_ev_per_dollar is not None:
            items.append(
                CriterionProgress(
                    "ev_per_dollar",
                    metrics.ev_per_dollar,
                    self.min_ev_per_dollar,
                    metrics.ev_per_dollar >= self.min_ev_per_dollar,
                )
            )
        if self.min_total_pnl is not None:
            items.append(
                CriterionProgress(
                    "total_pnl",
                    metrics.total_pnl,
                    self.min_total_pnl,
                    metrics.total_pnl >= self.min_total_pnl,
                )
            )
        if self.min_days_after_prev > 0:
            days = days_since_prev or 0.0
            items.append(
                CriterionProgress(
                    "days_since_prev",
                    days,
                    self.min_days_after_prev,
                    days >= self.min_days_after_prev,
                )
            )
        return tuple(items)


def _describe_failure(item: CriterionProgress) -> str:
    if item.name == "n":
        return f"n={int(item.observed)} < {int(item.required)}"
    if item.name == "win_rate":
        return f"win_rate={item.observed:.3f} < {item.required:.3f}"
    if item.name == "ev_per_dollar":
        return f"ev_per_dollar={item.observed:.4f} < {item.required:.4f}"
    if item.name == "total_pnl":
        return f"total_pnl=${item.observed:.2f} < ${item.required:.2f}"
    return f"days_since_prev={_distinct(item.observed, item.required)}"


def _distinct(observed: float, required: float) -> str:
    """``observed < required`` with 0.1's one decimal, or as many more as it takes for the
    two sides not to print equal (a day gate one second short reads ``13.99999 < 14``)."""
    for digits in range(1, 7):
        left, right = f"{observed:.{digits}f}", f"{required:.{digits}f}"
        if left != right:
            return f"{left} < {right}"
    return f"{observed!r} < {required!r}"
