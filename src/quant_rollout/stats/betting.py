"""EV per dollar: an anytime-valid test by betting, valid for any tails of the gains.

See :mod:`quant_rollout.stats` for the units and what "anytime-valid" means.
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence

from .._validate import number, open_fraction, positive
from ..errors import ConfigError, InvalidTradeError
from ._checks import _exp, _log_threshold, _trade

__all__ = [
    "EVBettingTest",
]

#
# I. Waudby-Smith & A. Ramdas, "Estimating means of bounded random variables by betting",
# J. R. Stat. Soc. B 86 (2024) 1-27. A trade's return r = pnl/size is at least -L. With
# x = (r - bar)/(L + bar) >= -1 and a bet lam in [0, max_bet], max_bet < 1, each factor
# 1 + lam x is positive, and under H0 (conditional mean of r at most bar) its conditional
# mean is at most 1: the product is a nonnegative supermartingale whatever the upper tail
# of r, its skew, or how lam was chosen from the past. The bet is their aGRAPA rule
# (mean over second moment of past x, a Kelly approximation) with each trade weighted by
# its size: lam_t = size_t * sum(s x) / (sum(s^2 x^2) + mean(s)^2), clipped to
# [0, max_bet]. Weighting by size makes the test track the size-weighted mean, i.e. total
# pnl / total size; the pseudo-term mean(s)^2 (one past trade with |x| = 1) damps the
# first bets.


_DEFAULT_GRID_POINTS = 64


class _BettingSide:
    """Betting wealth for H0 "mean return <= b" at the test bar and at a grid of bars.

    Index 0 is the test bar, the rest the grid in increasing order. One pass over the
    bars per trade: O(len(bars)).
    """

    def __init__(
        self, bar: float, grid: Sequence[float], loss_bound: float, max_bet: float, threshold: float
    ) -> None:
        self.bars = [bar, *grid]
        self.scales = [1.0 / (loss_bound + b) for b in self.bars]
        self.loss_bound = loss_bound
        self.max_bet = max_bet
        self.threshold = threshold
        self.log_wealth = [0.0] * len(self.bars)
        self.crossed = [False] * len(self.bars)
        self.crossed_prefix = 0  # leading grid bars all crossed
        self.count = 0
        self.sum_pnl = 0.0
        self.sum_size = 0.0
        self.sum_pnl2 = 0.0
        self.sum_pnl_size = 0.0
        self.sum_size2 = 0.0

    def update(self, pnl: float, size: float) -> None:
        ret = pnl / size
        if self.count > 0:
            mean_size = self.sum_size / self.count
            prior_term = mean_size * mean_size
            for j, b in enumerate(self.bars):
                scale = self.scales[j]
                # sum(s x) and sum(s^2 x^2) for this bar, from the shared sums.
                numerator = (self.sum_pnl - b * self.sum_size) * scale
                second = self.sum_pnl2 - 2.0 * b * self.sum_pnl_size + b * b * self.sum_size2
                denominator = max(second, 0.0) * scale * scale + prior_term
                bet = size * numerator / denominator
                # Any predictable bet in [0, max_bet] keeps validity; nan/inf become 0.
                if not bet > 0.0:
                    continue
                if bet > self.max_bet:
                    bet = self.max_bet
                self.log_wealth[j] += math.log1p(bet * (ret - b) * scale)
                if self.log_wealth[j] >= self.threshold:
                    self.crossed[j] = True
        while self.crossed_prefix + 1 < len(self.bars) and self.crossed[self.crossed_prefix + 1]:
            self.crossed_prefix += 1
        self.count += 1
        self.sum_pnl += pnl
        self.sum_size += size
        self.sum_pnl2 += pnl * pnl
        self.sum_pnl_size += pnl * size
        self.sum_size2 += size * size

    def bound(self) -> Optional[float]:
        """The largest grid bar with all grid bars up to it rejected, or None."""
        return self.bars[self.crossed_prefix] if self.crossed_prefix > 0 else None


def _grid(name: str, values: Sequence[float], low: float, high: float) -> List[float]:
    points = sorted(number(name, v) for v in values)
    if not points:
        raise ConfigError(f"{name} must hold at least one bar, got {values!r}")
    if points[0] <= low or points[-1] >= high:
        raise ConfigError(
            f"{name} bars must lie strictly between {low!r} and {high!r}, got {values!r}"
        )
    return points


class EVBettingTest:
    """An anytime-valid test that the expected pnl per dollar beats ``bar``, by betting.

    The only assumption is a loss bound: no trade loses more than ``loss_bound`` per
    dollar of size (``pnl >= -loss_bound * size``; 1.0 for an unlevered position). Gains
    may have any tail. Under H0, "every trade's expected pnl/size, given its size and
    everything before it, is at most ``bar``", the probability that :attr:`e_value` *ever*
    reaches ``1/(1 - confidence)`` is at most ``1 - confidence`` (Waudby-Smith & Ramdas
    2024; the bets are a size-weighted aGRAPA rule, see the module source). Bets grow with
    a trade's size relative to the average, so the test tracks total pnl / total size.

    Speed depends on how tight ``loss_bound`` is, because each bet is scaled to survive
    the worst loss: for trades winning 1.2% of size 60% of the time and losing 1% the
    rest (0.32 cents per dollar), the median trades to reject bar 0 are 71 with
    ``loss_bound=0.01`` (a 1% stop), 214 with 0.1 and 1949 with 1.0. Set it to the real
    worst loss per dollar. Sizes that vary a lot also cost speed, as the bets concentrate
    on the largest trades: 60% wins of 1.2x against 1x losses takes a median 76 trades at
    one size, 83 with sizes spread over 50–150, 179 with sizes from 10 to 400.

    :attr:`lower_bound` is an anytime-valid lower confidence bound on the same mean read
    off a fixed grid of candidate bars, each with its own wealth (O(grid) per trade). It
    is the largest grid bar with every grid bar up to it rejected, so it is conservative
    by less than one grid step. The default grid is the 64 bars
    ``-L + (L + bar) * j / 32``, j = 1..64: steps of ``(L + bar) / 32`` (3.1 cents per
    dollar for L = 1, bar = 0), up to ``bar + (L + bar)``; ``bar`` itself is on it.

    The mirror test ("mean >= bar", for "this stage cannot pass") needs gains bounded as
    well: with unbounded gains no bet against the mean can be both valid and useful (a
    law with mean >= bar can put almost all its mass at -L, balanced by a rare huge
    gain). Pass ``gain_bound`` (pnl <= gain_bound * size) to enable :attr:`upper_e_value`,
    :attr:`upper_rejected` and :attr:`upper_bound`; without it they stay at 1, False and
    inf.

    Args:
        bar: the expected pnl per dollar to beat, > -loss_bound (0.0 = break even).
        loss_bound: L > 0, the most a trade can lose per dollar of size.
        confidence: 0.95 means each direction errs with probability at most 5%.
        gain_bound: G > bar, the most a trade can win per dollar, or None (unbounded).
        max_bet: the largest fraction of wealth bet on one trade, in (0, 1).
        grid: candidate bars for :attr:`lower_bound`, each > -L; None = default grid.
        upper_grid: candidate bars for :attr:`upper_bound`, each < G; None mirrors the
            default: ``G - (G - bar) * j / 32``, j = 1..64.

    Raises:
        ConfigError: L <= 0, bar <= -L, confidence outside (0, 1), G <= bar, max_bet
            outside (0, 1), a grid bar out of range.
    """

    def __init__(
        self,
        bar: float = 0.0,
        loss_bound: float = 1.0,
        confidence: float = 0.95,
        *,
        gain_bound: Optional[float] = None,
        max_bet: float = 0.5,
        grid: Optional[Sequence[float]] = None,
        upper_grid: Optional[Sequence[float]] = None,
    ) -> None:
        self.loss_bound = positive("loss_bound", loss_bound)
        self.bar = number("bar", bar)
        if self.bar <= -self.loss_bound:
            raise ConfigError(
                f"bar must be above -loss_bound={-self.loss_bound!r} (no trade can return"
                f" less than that), got {bar!r}"
            )
        self.confidence = open_fraction("confidence", confidence)
        self.max_bet = open_fraction("max_bet", max_bet)
        threshold = _log_threshold(confidence)
        self.gain_bound: Optional[float] = None
        if gain_bound is not None:
            self.gain_bound = number("gain_bound", gain_bound)
            if self.gain_bound <= self.bar:
                raise ConfigError(f"gain_bound must be above bar={self.bar!r}, got {gain_bound!r}")
        span = self.loss_bound + self.bar
        points = (
            [-self.loss_bound + span * j / 32.0 for j in range(1, _DEFAULT_GRID_POINTS + 1)]
            if grid is None
            else _grid("grid", grid, -self.loss_bound, math.inf)
        )
        self._lower = _BettingSide(self.bar, points, self.loss_bound, self.max_bet, threshold)
        self._upper: Optional[_BettingSide] = None
        if self.gain_bound is not None:
            g = self.gain_bound
            up = (
                [g - (g - self.bar) * j / 32.0 for j in range(1, _DEFAULT_GRID_POINTS + 1)]
                if upper_grid is None
                else _grid("upper_grid", upper_grid, -math.inf, g)
            )
            # "mean >= b" for r is "mean <= -b" for -r, whose loss bound is G.
            self._upper = _BettingSide(
                -self.bar, sorted(-b for b in up), g, self.max_bet, threshold
            )
        self.n = 0
        self.rejected = False
        self.upper_rejected = False

    def update(self, pnl: float, size: float) -> None:
        """Add one closed trade: ``pnl`` and ``size`` in account currency. O(grid).

        A trade with ``size == 0`` carries no information and is skipped.

        Raises:
            InvalidTradeError: pnl or size not finite, size < 0, a loss beyond
                ``loss_bound * size`` or a gain beyond ``gain_bound * size``. Nothing changes.
        """
        pnl_, size_ = _trade(pnl, size)
        if size_ == 0.0:
            return
        if pnl_ < -self.loss_bound * size_:
            raise InvalidTradeError(
                f"pnl={pnl!r} on size={size!r} loses more than loss_bound={self.loss_bound!r}"
                " per dollar, which the EV test assumes never happens; raise loss_bound"
                " (e.g. for leveraged trades) or fix the trade"
            )
        if self.gain_bound is not None and pnl_ > self.gain_bound * size_:
            raise InvalidTradeError(
                f"pnl={pnl!r} on size={size!r} gains more than gain_bound={self.gain_bound!r}"
                " per dollar, which the EV test assumes never happens; raise gain_bound"
                " or fix the trade"
            )
        self.n += 1
        self._lower.update(pnl_, size_)
        self.rejected = self.rejected or self._lower.crossed[0]
        if self._upper is not None:
            self._upper.update(-pnl_, size_)
            self.upper_rejected = self.upper_rejected or self._upper.crossed[0]

    @property
    def log_e_value(self) -> float:
        """ln of :attr:`e_value`."""
        return self._lower.log_wealth[0]

    @property
    def e_value(self) -> float:
        """The betting wealth against "EV per dollar <= bar", >= 0 (not latched)."""
        return _exp(self._lower.log_wealth[0])

    @property
    def lower_bound(self) -> float:
        """Anytime-valid lower confidence bound on EV per dollar; -loss_bound if none yet."""
        bound = self._lower.bound()
        return -self.loss_bound if bound is None else bound

    @property
    def upper_e_value(self) -> float:
        """The wealth against "EV per dollar >= bar"; 1 without a gain bound."""
        return 1.0 if self._upper is None else _exp(self._upper.log_wealth[0])

    @property
    def upper_bound(self) -> float:
        """Anytime-valid upper confidence bound; gain_bound (or inf) if none yet."""
        if self._upper is None or self.gain_bound is None:
            return math.inf
        bound = self._upper.bound()
        return self.gain_bound if bound is None else -bound
