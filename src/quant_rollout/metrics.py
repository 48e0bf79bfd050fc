"""Aggregate trade metrics, computed in one pass or kept up to date trade by trade.

Sums are exactly rounded (Shewchuk's algorithm, the one behind ``math.fsum``), so
the metrics of a set of trades are the same number whatever order the trades were
added in: an incremental tick and a full recomputation always agree to the bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, List

from .trades import TradeOutcome

__all__ = ["ExactSum", "Metrics", "MetricsAccumulator", "compute_metrics"]


@dataclass(frozen=True)
class Metrics:
    """What a set of trades achieved.

    Attributes:
        n: number of trades.
        wins: trades with ``pnl > 0``.
        win_rate: ``wins / n`` as a fraction 0–1 (not percent); 0 when ``n == 0``.
        total_pnl: sum of pnl, account currency.
        total_size: sum of size, account currency.
        ev_per_dollar: ``total_pnl / total_size`` (0.04 = 4 cents per dollar risked);
            0 when ``total_size == 0``.
    """

    n: int
    wins: int
    win_rate: float
    total_pnl: float
    total_size: float
    ev_per_dollar: float

    @classmethod
    def empty(cls) -> Metrics:
        """The metrics of no trades: all zeros."""
        return cls(n=0, wins=0, win_rate=0.0, total_pnl=0.0, total_size=0.0, ev_per_dollar=0.0)

    def to_dict(self) -> dict[str, float]:
        """The metrics as a JSON-ready dict (used in the history log)."""
        return {
            "n": self.n,
            "wins": self.wins,
            "win_rate": self.win_rate,
            "total_pnl": self.total_pnl,
            "total_size": self.total_size,
            "ev_per_dollar": self.ev_per_dollar,
        }


class ExactSum:
    """A running float sum that is exactly rounded, independent of addition order.

    Keeps Shewchuk's non-overlapping partials (J. R. Shewchuk, "Adaptive Precision
    Floating-Point Arithmetic and Fast Robust Geometric Predicates", 1997; the
    algorithm of Python's ``math.fsum``). Adding is amortised O(1): the partials list
    stays a handful of floats long for realistic pnl values.
    """

    __slots__ = ("_partials",)

    def __init__(self) -> None:
        self._partials: List[float] = []

    def add(self, x: float) -> None:
        """Add one finite float."""
        partials = self._partials
        i = 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                partials[i] = lo
                i += 1
            x = hi
        partials[i:] = [x]

    @property
    def value(self) -> float:
        """The correctly rounded sum of everything added so far."""
        return math.fsum(self._partials)


class MetricsAccumulator:
    """:class:`Metrics` kept up to date one trade at a time, in O(1) per trade."""

    __slots__ = ("_pnl", "_size", "n", "wins")

    def __init__(self) -> None:
        self.n = 0
        self.wins = 0
        self._pnl = ExactSum()
        self._size = ExactSum()

    def add(self, trade: TradeOutcome) -> None:
        """Count one more trade."""
        self.n += 1
        if trade.pnl > 0:
            self.wins += 1
        self._pnl.add(float(trade.pnl))
        self._size.add(float(trade.size))

    def metrics(self) -> Metrics:
        """The metrics of every trade added so far."""
        return _metrics(self.n, self.wins, self._pnl.value, self._size.value)


def _metrics(n: int, wins: int, total_pnl: float, total_size: float) -> Metrics:
    if n == 0:
        return Metrics.empty()
    ev = total_pnl / total_size if total_size > 0 else 0.0
    return Metrics(
        n=n,
        wins=wins,
        win_rate=wins / n,
        total_pnl=total_pnl,
        total_size=total_size,
        ev_per_dollar=ev,
    )


def compute_metrics(trades: Iterable[TradeOutcome]) -> Metrics:
    """Compute :class:`Metrics` for ``trades`` (any iterable; empty gives all zeros).

    ``win_rate`` is 0–1 and ``ev_per_dollar = total_pnl / total_size`` (0 when the
    total size is 0), as in quant-rollout 0.1; sums are exactly rounded.
    """
    pnls: List[float] = []
    sizes: List[float] = []
    wins = 0
    for t in trades:
        pnls.append(float(t.pnl))
        sizes.append(float(t.size))
        if t.pnl > 0:
            wins += 1
    return _metrics(len(pnls), wins, math.fsum(pnls), math.fsum(sizes))
