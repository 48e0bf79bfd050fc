"""The anytime-valid win-rate criterion of a confidence gate.

The test is the Beta-mixture likelihood-ratio test of
:func:`~quant_rollout.stats.win_rate_e_value` (Robbins 1970; Howard, Ramdas, McAuliffe
& Sekhon 2021), a function of the window's (trades, wins) only, so it is judged with
a table lookup and the planner computes it exactly.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from ..stats import (
    BetaPrior,
    win_rate_log_e_value,
    win_rate_lower_bound,
    win_rate_rejection_boundary,
    win_rate_upper_bound,
    win_rate_upper_log_e_value,
    win_rate_upper_rejection_boundary,
)
from .criterion import (
    Criterion,
    EvidenceView,
    PlanContext,
    PlanModel,
    Verdict,
    WinsTest,
)
from .results import CriterionProgress
from .text import at_least, below, more_trades_text, percent

__all__ = ["WinRateShown"]


# The rejection boundaries are computed once per (bar, confidence) and grown by
# doubling, so judging the win rate costs one lookup; past this many trades the
# e-values are evaluated directly instead of growing the table further.
_TABLE_FIRST = 512
_TABLE_LIMIT = 1 << 17


class _WinRateTables:
    """Both win-rate tests of one (bar, confidence) as lookups on (wins, n).

    ``least[n]``: the fewest wins in n trades at which "win rate <= bar" is rejected;
    ``most[n]``: the most wins at which "win rate >= bar" is rejected. The e-values are
    monotone in the wins, so the lookups decide exactly as the e-values do.
    """

    def __init__(self, bar: float, confidence: float) -> None:
        self.bar = bar
        self.confidence = confidence
        self.threshold = -math.log1p(-confidence)
        self.least: Tuple[int, ...] = ()
        self.most: Tuple[int, ...] = ()

    @staticmethod
    def _horizon(have: int, n: int) -> int:
        return min(_TABLE_LIMIT, max(_TABLE_FIRST, 2 * have, n))

    def passes(self, wins: int, n: int) -> bool:
        if n >= _TABLE_LIMIT:
            return win_rate_log_e_value(wins, n, self.bar) >= self.threshold
        if n >= len(self.least):
            horizon = self._horizon(len(self.least), n)
            self.least = win_rate_rejection_boundary(
                self.bar, horizon, self.confidence, prefix=self.least
            )
        return wins >= self.least[n]

    def cannot_pass(self, wins: int, n: int) -> bool:
        if n >= _TABLE_LIMIT:
            return win_rate_upper_log_e_value(wins, n, self.bar) >= self.threshold
        if n >= len(self.most):
            horizon = self._horizon(len(self.most), n)
            self.most = win_rate_upper_rejection_boundary(
                self.bar, horizon, self.confidence, prefix=self.most
            )
        return wins <= self.most[n]


_TABLES: Dict[Tuple[float, float], _WinRateTables] = {}


def _win_rate_tables(bar: float, confidence: float) -> _WinRateTables:
    key = (bar, confidence)
    tables = _TABLES.get(key)
    if tables is None:
        tables = _TABLES[key] = _WinRateTables(bar, confidence)
    return tables


_EXACT_ESTIMATE_UP_TO = 4096  # trades; beyond, the estimate is found by bisection


@functools.lru_cache(maxsize=4096)  # a tick without a new trade asks the same again
def _win_rate_trades_to_pass(wins: int, n: int, bar: float, confidence: float) -> Optional[int]:
    """How many more trades the win-rate test needs if the observed rate held.

    The smallest m such that ``round(rate * (n + m))`` wins in ``n + m`` trades reject
    "win rate <= bar", with ``rate = wins / n``. Found by doubling m until it rejects;
    when that is within 4,096 trades, the first such m is read off the rejection
    table, otherwise it is narrowed by bisection (the rounding of the wins can make
    the rejecting counts not quite contiguous, so then it is "about"). None when the
    observed rate is not above the bar or no m below ten million is enough.
    """
    if n == 0 or wins <= bar * n:
        return None
    rate = wins / n
    threshold = -math.log1p(-confidence)

    def wins_at(m: int) -> int:
        return min(n + m, round(rate * (n + m)))

    def rejects(m: int) -> bool:
        return win_rate_log_e_value(wins_at(m), n + m, bar) >= threshold

    high = 1
    while not rejects(high):
        if high >= 10_000_000:
            return None
        high *= 2
    if n + high <= _EXACT_ESTIMATE_UP_TO:
        tables = _win_rate_tables(bar, confidence)
        return next(m for m in range(1, high + 1) if tables.passes(wins_at(m), n + m))
    low = high // 2  # fails (0: the current evidence, which did not pass)
    while high - low > 1:
        middle = (low + high) // 2
        if rejects(middle):
            high = middle
        else:
            low = middle
    return high


@functools.lru_cache(maxsize=4096)
def _cached_win_rate_bound(wins: int, n: int, bar: float, confidence: float, upper: bool) -> float:
    """The bound a reason reports, by bisection: cached, since most ticks bring no new
    trade and would otherwise repeat the same ~50 incomplete-beta evaluations."""
    # Reasons print three decimals; 1e-6 keeps the bisection short and the bound safe.
    if upper:
        return win_rate_upper_bound(wins, n, confidence, BetaPrior.below(bar), tolerance=1e-6)
    return win_rate_lower_bound(wins, n, confidence, BetaPrior.above(bar), tolerance=1e-6)


@dataclass(frozen=True)
class WinRateShown(Criterion):
    """The win rate is shown to be above ``bar`` at ``confidence``, anytime-valid.

    CANNOT_BE_MET when the mirror test shows it is below the bar. Judged with the
    cached rejection tables, O(1) a tick.
    """

    bar: float
    confidence: float

    @property
    def name(self) -> str:
        return "win_rate"

    def _tables(self) -> _WinRateTables:
        return _win_rate_tables(float(self.bar), float(self.confidence))

    def verdict(self, view: EvidenceView) -> Verdict:
        m = view.metrics
        tables = self._tables()
        if tables.passes(m.wins, m.n):
            return Verdict.MET
        if tables.cannot_pass(m.wins, m.n):
            return Verdict.CANNOT_BE_MET
        return Verdict.NOT_MET

    def shown(self, wins: int, n: int) -> bool:
        """True when ``wins`` in ``n`` trades reject "win rate <= bar"."""
        return self._tables().passes(wins, n)

    def lower_bound(self, wins: int, n: int) -> float:
        """The anytime lower bound on the win rate, with this test's prior (cached)."""
        return _cached_win_rate_bound(wins, n, float(self.bar), float(self.confidence), False)

    def upper_bound(self, wins: int, n: int) -> float:
        """The anytime upper bound on the win rate, with the mirror test's prior (cached)."""
        return _cached_win_rate_bound(wins, n, float(self.bar), float(self.confidence), True)

    def explain(self, view: EvidenceView, verdict: Verdict, *, estimate: bool = False) -> str:
        m, bar = view.metrics, self.bar
        observed = (
            f"(observed {m.win_rate:.3f} over {m.n} trades, {percent(self.confidence)} anytime)"
        )
        if verdict is Verdict.CANNOT_BE_MET:
            return f"win_rate upper bound {below(self.upper_bound(m.wins, m.n), bar, 3)} {observed}"
        lower = self.lower_bound(m.wins, m.n)
        if verdict is Verdict.MET:
            return f"win_rate lower bound {at_least(lower, bar, 3)} {observed}"
        reason = f"win_rate lower bound {below(lower, bar, 3)} {observed}"
        if estimate and m.n > 0:
            more = _win_rate_trades_to_pass(m.wins, m.n, bar, self.confidence)
            reason += more_trades_text(more)
        return reason

    def progress(self, view: EvidenceView) -> CriterionProgress:
        m = view.metrics
        verdict = self.verdict(view)
        return CriterionProgress(
            self.name,
            m.win_rate,
            self.bar,
            verdict is Verdict.MET,
            lower_bound=self.lower_bound(m.wins, m.n),
            upper_bound=self.upper_bound(m.wins, m.n),
            cannot_pass=verdict is Verdict.CANNOT_BE_MET,
        )

    def requirement(self) -> str:
        return f"win_rate>{self.bar:.6g}"

    def plan_model(self, context: PlanContext) -> PlanModel:
        return WinsTest(float(self.bar))
