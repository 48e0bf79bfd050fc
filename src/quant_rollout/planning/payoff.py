"""The payoff model of the win-rate rows: what a win and a loss make per dollar."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, List

from ..errors import ConfigError
from ..trades import as_trade

__all__ = ["Payoff"]


@dataclass(frozen=True)
class Payoff:
    """What a trade makes when only whether it won is modelled.

    Attributes:
        win: profit per dollar of size on a winning trade, > 0 (1.0: the stake doubles).
        loss: loss per dollar of size on a losing trade, >= 0 (1.0: the whole stake).
        size: dollars (account currency) risked per trade, > 0. Only criteria in money
            (``min_total_pnl``) depend on it.
        source: where the numbers came from, for the report ("default", "given", or
            the trade history they were read from).

    Raises:
        ConfigError: a field out of range.
    """

    win: float = 1.0
    loss: float = 1.0
    size: float = 1.0
    source: str = "default"

    def __post_init__(self) -> None:
        for name, low, strict in (("win", 0.0, True), ("loss", 0.0, False), ("size", 0.0, True)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"Payoff.{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < low or (strict and value == low):
                sign = ">" if strict else ">="
                raise ConfigError(f"Payoff.{name} must be finite and {sign} {low}, got {value!r}")

    def ev_per_dollar(self, win_rate: float) -> float:
        """The expected pnl per dollar of a strategy winning ``win_rate`` (0–1) of trades."""
        return win_rate * self.win - (1.0 - win_rate) * self.loss

    def win_rate_for_ev(self, ev_per_dollar: float) -> float:
        """The win rate (0–1, clipped) at which the expected pnl per dollar is ``ev_per_dollar``."""
        return min(1.0, max(0.0, (ev_per_dollar + self.loss) / (self.win + self.loss)))

    @classmethod
    def from_trades(cls, trades: Iterable[object], source: str = "trades") -> Payoff:
        """The payoff of a trade history, size-weighted.

        ``win`` is the total pnl of the winning trades over their total size, ``loss``
        the total loss of the others over theirs, ``size`` the mean size. Trades of
        size 0 are left out.

        Raises:
            InvalidTradeError: a trade cannot be read.
            ConfigError: no winning or no losing trade with a size to learn from.
        """
        win_pnl: List[float] = []
        win_size: List[float] = []
        loss_pnl: List[float] = []
        loss_size: List[float] = []
        for i, item in enumerate(trades):
            t = as_trade(item, i)
            if t.size <= 0:
                continue
            if t.pnl > 0:
                win_pnl.append(float(t.pnl))
                win_size.append(float(t.size))
            else:
                loss_pnl.append(float(t.pnl))
                loss_size.append(float(t.size))
        if not win_size or not loss_size:
            raise ConfigError(
                f"{source}: a payoff needs winning and losing trades of size > 0, got "
                f"{len(win_size)} wins and {len(loss_size)} losses; pass payoff=Payoff(...)"
            )
        n = len(win_size) + len(loss_size)
        return cls(
            win=math.fsum(win_pnl) / math.fsum(win_size),
            loss=max(0.0, -math.fsum(loss_pnl) / math.fsum(loss_size)),
            size=math.fsum(win_size + loss_size) / n,
            source=source,
        )

    def describe(self) -> str:
        """One sentence for the report."""
        where = {"default": "the default", "given": "as given"}.get(
            self.source, f"from {self.source}"
        )
        even = "even money; " if self.win == self.loss else ""
        return (
            f"a win makes {self.win:+.4g} per dollar of size, a loss {-self.loss:+.4g} "
            f"({even}{where}); stake {self.size:.4g} a trade"
        )
