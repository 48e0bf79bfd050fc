"""An anytime-valid test of total pnl / total size, with bets linear in each trade's size.

The null is the one a trader means by "this stage makes at most ``bar`` per dollar":

    H0: for every trade t, E[pnl_t - bar * size_t | everything before t] <= 0,

so that in expectation total pnl <= bar * total size. It allows the size of a trade to
depend on its outcome (a bot that bets big on the trades it is sure of, and loses
them). Testing by betting (G. Shafer, "Testing by betting", J. R. Stat. Soc. A 184
(2021) 407-431; I. Waudby-Smith & A. Ramdas, "Estimating means of bounded random
variables by betting", J. R. Stat. Soc. B 86 (2024) 1-27): with the declared largest
size M and loss bound L, each trade's

    y_t = (pnl_t - b * size_t) / (M * (L + b))  >=  -1   when size_t <= M, pnl_t >= -L * size_t,

and a bet lam_t in [0, max_bet] chosen from the past only, the wealth prod(1 + lam_t y_t)
is positive and, under H0, a supermartingale: E[1 + lam_t y_t | past] = 1 + lam_t
E[pnl_t - b size_t | past] / (M (L + b)) <= 1. The bet on a trade is therefore linear in
its size (lam_t * size_t / M), never clipped per trade: clipping the bet on a large
trade, as a bet proportional to size capped at a maximum does, weighs large trades less
than their dollars, and a bot whose large trades lose then passes a test it should fail.
By Ville's inequality the wealth ever reaches ``1/(1 - confidence)`` with probability at
most ``1 - confidence``.

The bet is the aGRAPA rule of Waudby-Smith & Ramdas (the running mean of y over its
running second moment, a Kelly approximation) with one pseudo-observation y^2 = 1 to
damp the first bets, clipped to [0, max_bet]. A grid of candidate bars, each with its
own wealth, gives an anytime-valid lower confidence bound (the largest grid bar with
every grid bar up to it rejected).

A trade of size 0 that lost money is not nothing: it counts as the largest loss a trade
can make, y = -1 (a trade of size M losing L per dollar), at every bar, which is never
better than what it did as long as it lost at most ``(L + b) * M``. A trade of size 0
with a gain counts its gain in dollars, exactly.
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

from ..errors import ConfigError, InvalidTradeError

__all__ = ["DollarEVBettingTest", "dollar_ev_default_grid"]

_GRID_STEPS = 32


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def dollar_ev_default_grid(bar: float, loss_bound: float) -> List[float]:
    """The 64 candidate bars ``-L + (L + bar) * j / 32``, j = 1..64, with ``bar`` exactly
    on the grid (j = 32): steps of ``(L + bar) / 32`` up to ``bar + (L + bar)``."""
    span = loss_bound + bar
    grid = [-loss_bound + span * j / _GRID_STEPS for j in range(1, 2 * _GRID_STEPS + 1)]
    grid[_GRID_STEPS - 1] = bar
    return grid


class _Side:
    """Wealth against "mean dollar excess over b <= 0" at the test bar and a grid of bars.

    ``units[j] = M * (L + b_j)``: y = (pnl - b size) / units[j]. Sums of pnl, size and
    their products are shared by every bar, so a trade costs O(len(bars)).
    """

    def __init__(
        self,
        bars: Sequence[float],
        loss_bound: float,
        max_size: float,
        max_bet: float,
        threshold: float,
    ) -> None:
        self.bars = list(bars)
        self.units = [max_size * (loss_bound + b) for b in self.bars]
        self.max_bet = max_bet
        self.threshold = threshold
        self.log_wealth = [0.0] * len(self.bars)
        self.crossed = [False] * len(self.bars)
        self.crossed_prefix = 0  # leading grid bars (after the test bar) all crossed
        self.sum_pnl = 0.0
        self.sum_size = 0.0
        self.sum_pnl2 = 0.0
        self.sum_pnl_size = 0.0
        self.sum_size2 = 0.0

    def bet(self, j: int) -> float:
        """The bet on the next trade at bar j, from the past only, in [0, max_bet]."""
        b, unit = self.bars[j], self.units[j]
        mean = (self.sum_pnl - b * self.sum_size) / unit
        second = (self.sum_pnl2 - 2.0 * b * self.sum_pnl_size + b * b * self.sum_size2) / (
            unit * unit
        )
        bet = mean / (max(second, 0.0) + 1.0)
        if not bet > 0.0:  # also nan
            return 0.0
        return min(bet, self.max_bet)

    def update(self, pnl: float, size: float, worst: bool) -> None:
        """Bet on one trade; ``worst`` counts it as y = -1 at every bar."""
        for j in range(len(self.bars)):
            bet = self.bet(j)
            if bet > 0.0:
                y = -1.0 if worst else (pnl - self.bars[j] * size) / self.units[j]
                self.log_wealth[j] += math.log1p(bet * y)
                if self.log_wealth[j] >= self.threshold:
                    self.crossed[j] = True
        while self.crossed_prefix + 1 < len(self.bars) and self.crossed[self.crossed_prefix + 1]:
            self.crossed_prefix += 1
        self.sum_pnl += pnl
        self.sum_size += size
        self.sum_pnl2 += pnl * pnl
        self.sum_pnl_size += pnl * size
        self.sum_size2 += size * size

    def bound(self) -> Optional[float]:
        return self.bars[self.crossed_prefix] if self.crossed_prefix > 0 else None


class DollarEVBettingTest:
    """Anytime-valid test that total pnl / total size beats ``bar``, sizes up to ``max_size``.

    Assumptions (each a promise the bot makes; :meth:`update` raises when a trade
    breaks one): every trade's size is at most ``max_size`` and it loses at most
    ``loss_bound`` per dollar of size (``pnl >= -loss_bound * size``); a trade of size
    0 loses at most ``loss_bound * max_size``. Under H0 (see the module) the chance
    that :attr:`rejected` ever becomes True is at most ``1 - confidence``, for any
    dependence of sizes on outcomes.

    The price of validity is speed when ``max_size`` is far above the typical size:
    each bet is sized so that a trade of ``max_size`` at the worst loss cannot ruin
    the bettor, so declare the real largest size.

    The mirror side ("total pnl / total size >= bar", for "cannot pass") needs a gain
    bound G (``pnl <= G * size``) and counts a size-0 gain there as the largest gain a
    trade can make; without ``gain_bound`` it stays off.

    Args:
        bar: the pnl per dollar to beat, > -loss_bound.
        loss_bound: L > 0, the most a trade loses per dollar of size.
        max_size: M > 0, the largest size a trade may have (account currency).
        confidence: e.g. 0.95.
        gain_bound: G > bar, or None.
        max_bet: the largest fraction of wealth bet on one trade of size M, in (0, 1).
        grid: candidate bars for :attr:`lower_bound` (each > -L), None = the default
            :func:`dollar_ev_default_grid`.

    Raises:
        ConfigError: a setting out of range, naming it.
    """

    def __init__(
        self,
        bar: float,
        loss_bound: float,
        max_size: float,
        confidence: float = 0.95,
        *,
        gain_bound: Optional[float] = None,
        max_bet: float = 0.5,
        grid: Optional[Sequence[float]] = None,
    ) -> None:
        self.bar = _number("bar", bar)
        self.loss_bound = _number("loss_bound", loss_bound)
        self.max_size = _number("max_size", max_size)
        self.confidence = _number("confidence", confidence)
        self.max_bet = _number("max_bet", max_bet)
        if self.loss_bound <= 0:
            raise ConfigError(f"loss_bound must be > 0, got {loss_bound!r}")
        if self.max_size <= 0:
            raise ConfigError(f"max_size must be > 0, got {max_size!r}")
        if self.bar <= -self.loss_bound:
            raise ConfigError(f"bar must be above -loss_bound={-self.loss_bound!r}, got {bar!r}")
        if not 0.0 < self.confidence < 1.0:
            raise ConfigError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
        if not 0.0 < self.max_bet < 1.0:
            raise ConfigError(f"max_bet must be strictly between 0 and 1, got {max_bet!r}")
        threshold = -math.log1p(-self.confidence)
        points = (
            dollar_ev_default_grid(self.bar, self.loss_bound)
            if grid is None
            else sorted(_number("grid", b) for b in grid)
        )
        if not points or points[0] <= -self.loss_bound:
            raise ConfigError(f"grid bars must lie above -loss_bound, got {grid!r}")
        self._lower = _Side(
            [self.bar, *points], self.loss_bound, self.max_size, self.max_bet, threshold
        )
        self.gain_bound: Optional[float] = None
        self._upper: Optional[_Side] = None
        if gain_bound is not None:
            self.gain_bound = _number("gain_bound", gain_bound)
            if self.gain_bound <= self.bar:
                raise ConfigError(f"gain_bound must be above bar={self.bar!r}, got {gain_bound!r}")
            # "mean >= b" for pnl is "mean <= -b" for -pnl, whose loss bound is G.
            self._upper = _Side(
                [-self.bar], self.gain_bound, self.max_size, self.max_bet, threshold
            )
        self.n = 0
        self.rejected = False
        self.upper_rejected = False

    def check(self, pnl: float, size: float) -> Optional[str]:
        """Why this trade breaks the test's assumptions, or None when it does not."""
        if size > self.max_size:
            return f"size={size!r} is above max_size={self.max_size!r}"
        if size > 0.0 and pnl < -self.loss_bound * size:
            return f"pnl={pnl!r} on size={size!r} loses more than {self.loss_bound!r} per dollar"
        if size == 0.0 and pnl < -self.loss_bound * self.max_size:
            return (
                f"pnl={pnl!r} on size 0 loses more than loss_bound * max_size="
                f"{self.loss_bound * self.max_size!r}"
            )
        gain = self.gain_bound
        if gain is not None and pnl > gain * max(size, 0.0):
            if size > 0.0:
                return f"pnl={pnl!r} on size={size!r} gains more than {gain!r} per dollar"
            if pnl > gain * self.max_size:
                return f"pnl={pnl!r} on size 0 gains more than gain_bound * max_size"
        return None

    def stop_upper(self) -> None:
        """Switch the "cannot pass" side off for good (its gain bound was broken)."""
        self.gain_bound = None
        self._upper = None
        self.upper_rejected = False

    def update(self, pnl: float, size: float) -> None:
        """Add one closed trade (account currency). O(grid).

        Raises:
            InvalidTradeError: a non-finite or negative input, or a trade that breaks
                an assumption (see :meth:`check`). Nothing changes then.
        """
        for name, value in (("pnl", pnl), ("size", size)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise InvalidTradeError(f"{name} must be a finite number, got {value!r}")
        if size < 0:
            raise InvalidTradeError(f"size must be >= 0, got {size!r}")
        why = self.check(float(pnl), float(size))
        if why is not None:
            raise InvalidTradeError(f"{why}, which the EV test assumes never happens")
        pnl_, size_ = float(pnl), float(size)
        self.n += 1
        self._lower.update(pnl_, size_, worst=size_ == 0.0 and pnl_ < 0.0)
        self.rejected = self.rejected or self._lower.crossed[0]
        if self._upper is not None:
            self._upper.update(-pnl_, size_, worst=size_ == 0.0 and pnl_ > 0.0)
            self.upper_rejected = self.upper_rejected or self._upper.crossed[0]

    @property
    def log_e_value(self) -> float:
        """ln of the wealth against "EV per dollar <= bar" (not latched)."""
        return self._lower.log_wealth[0]

    @property
    def lower_bound(self) -> float:
        """Anytime-valid lower confidence bound on EV per dollar; -loss_bound if none yet."""
        bound = self._lower.bound()
        return -self.loss_bound if bound is None else bound

    @property
    def upper_log_e_value(self) -> float:
        """ln of the wealth against "EV per dollar >= bar" (0 without a gain bound)."""
        return 0.0 if self._upper is None else self._upper.log_wealth[0]

    def state(self) -> Tuple[float, float, int]:
        """(log wealth at the bar, lower bound, trades): for tests and displays."""
        return self.log_e_value, self.lower_bound, self.n
