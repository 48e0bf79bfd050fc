"""Plain risk limits as kill criteria: drawdown, losing streak, daily loss."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Dict, Optional, Tuple

from .._validate import check_int, check_number
from ..errors import ConfigError
from ..gates import GateProof, Judgement, NotPlanned, PlanContext, PlanModel, Verdict
from ..trades import TradeOutcome, format_instant
from .base import BuiltInKillCriterion, KillTrackerBase, _open_fraction, _owner_check
from .models import DailyLoss, Drawdown, KillModel, LossChain

__all__ = ["MaxConsecutiveLosses", "MaxDailyLoss", "MaxDrawdown"]


def _money(value: float) -> str:
    return f"{value:,.2f}"


@dataclass(frozen=True)
class MaxDrawdown(BuiltInKillCriterion):
    """Kill when the stage's equity has fallen too far from its high-water mark.

    The stage's equity curve is the running sum of its trades' pnl in the order they
    closed (the order of the bot's list: its realized equity), starting at 0 (plus
    ``capital``). Money, not percentages: a $100 loss on a $1,000
    position weighs ten times a $10 loss on $100, whatever their returns per dollar.
    The high-water mark is the highest point so far, including the start; the
    drawdown is the high-water mark minus the current equity.

    Attributes:
        loss: kill when the drawdown reaches this, in account currency.
        fraction: kill when the drawdown reaches this fraction (0–1) of the equity at
            the high-water mark, ``capital + peak pnl``.
        capital: the account's equity when the stage began, in account currency;
            required with ``fraction``.

    Raises:
        ConfigError: neither limit given, a limit not > 0, or ``fraction`` without
            ``capital``.
    """

    kind: ClassVar[str] = "max_drawdown"

    loss: Optional[float] = None
    fraction: Optional[float] = None
    capital: Optional[float] = None

    def __post_init__(self) -> None:
        owner = "MaxDrawdown"
        if self.loss is None and self.fraction is None:
            raise ConfigError(
                "MaxDrawdown needs loss (account currency) or fraction (of peak equity, "
                "with capital)"
            )
        check_number(owner, "loss", self.loss, allow_none=True)
        if self.loss is not None:
            _owner_check(owner, "loss", self.loss > 0, "must be > 0 (account currency)", self.loss)
        if self.fraction is not None:
            _open_fraction(owner, "fraction", self.fraction)
            if self.capital is None:
                raise ConfigError(
                    "MaxDrawdown.capital is needed with fraction: the account's equity "
                    "when the stage began, in account currency"
                )
        check_number(owner, "capital", self.capital, allow_none=True)
        if self.capital is not None:
            _owner_check(owner, "capital", self.capital > 0, "must be > 0", self.capital)

    def tracker(self, proof: Optional[GateProof]) -> KillTrackerBase:
        return _DrawdownTracker(self)

    def plan_model(self, context: PlanContext) -> PlanModel:
        """Fast Monte Carlo on the run's running pnl."""
        limits = []
        if self.loss is not None:
            limits.append(f"{self.loss:,.6g}")
        if self.fraction is not None:
            limits.append(f"{self.fraction:.1%} of peak equity")
        capital = 0.0 if self.capital is None else float(self.capital)
        return KillModel(
            Drawdown(self.loss, self.fraction, capital), f"drawdown >= {' or '.join(limits)}"
        )


class _DrawdownTracker(KillTrackerBase):
    def __init__(self, criterion: MaxDrawdown) -> None:
        self.criterion = criterion
        self.capital = 0.0 if criterion.capital is None else float(criterion.capital)
        self.n = 0
        self.equity = 0.0  # pnl since the stage began
        self.peak = 0.0
        self.reason: Optional[str] = None

    def add(self, trade: TradeOutcome) -> None:
        if self.reason is not None:
            return
        self.n += 1
        self.equity += float(trade.pnl)
        if self.equity > self.peak:
            self.peak = self.equity
            return
        self.reason = self._check()

    def _check(self) -> Optional[str]:
        c = self.criterion
        drawdown = self.peak - self.equity
        if c.loss is not None and drawdown >= c.loss:
            return (
                f"max_drawdown: equity {_money(drawdown)} below its high-water mark >= "
                f"{_money(c.loss)} (peak pnl {self.peak:+,.2f}, now {self.equity:+,.2f}, "
                f"after {self.n} trades)"
            )
        if c.fraction is not None:
            top = self.capital + self.peak
            if top > 0 and drawdown / top >= c.fraction:
                return (
                    f"max_drawdown: equity {drawdown / top:.1%} below its high-water mark >= "
                    f"{c.fraction:.1%} (peak equity {_money(top)}, now "
                    f"{_money(self.capital + self.equity)}, after {self.n} trades)"
                )
        return None

    def state(self) -> Verdict:
        return Verdict.NOT_MET if self.reason is None else Verdict.MET

    def judge(self) -> Judgement:
        if self.reason is not None:
            return Judgement(Verdict.MET, self.reason)
        return Judgement(Verdict.NOT_MET, self.describe())

    def progress(self) -> Tuple[float, float]:
        limit = self.criterion.loss if self.criterion.loss is not None else math.inf
        return self.peak - self.equity, float(limit)

    def describe(self) -> str:
        drawdown = self.peak - self.equity
        limits = []
        if self.criterion.loss is not None:
            limits.append(_money(self.criterion.loss))
        if self.criterion.fraction is not None:
            limits.append(f"{self.criterion.fraction:.1%} of peak equity")
        return (
            f"drawdown {_money(drawdown)} (peak pnl {self.peak:+,.2f}, now "
            f"{self.equity:+,.2f}) of {' or '.join(limits)} after {self.n} trades"
        )


@dataclass(frozen=True)
class MaxConsecutiveLosses(BuiltInKillCriterion):
    """Kill when ``losses`` trades in a row are losses (pnl <= 0: not wins).

    In a row as they closed: in the order of the bot's list.

    Attributes:
        losses: the length of the losing streak that kills, >= 1.
    """

    kind: ClassVar[str] = "max_consecutive_losses"

    losses: int

    def __post_init__(self) -> None:
        check_int("MaxConsecutiveLosses", "losses", self.losses, minimum=1)

    def tracker(self, proof: Optional[GateProof]) -> KillTrackerBase:
        return _StreakTracker(self)

    def plan_model(self, context: PlanContext) -> PlanModel:
        """Exact: a streak of k losses is a chart that a win resets (Brook & Evans 1972)."""
        k = self.losses
        return KillModel(LossChain(k, 1, k), f"{k} losses in a row")


class _StreakTracker(KillTrackerBase):
    def __init__(self, criterion: MaxConsecutiveLosses) -> None:
        self.criterion = criterion
        self.n = 0
        self.streak = 0
        self.tripped = False

    def add(self, trade: TradeOutcome) -> None:
        if self.tripped:
            return
        self.n += 1
        self.streak = 0 if trade.pnl > 0 else self.streak + 1
        self.tripped = self.streak >= self.criterion.losses

    def state(self) -> Verdict:
        return Verdict.MET if self.tripped else Verdict.NOT_MET

    def judge(self) -> Judgement:
        if not self.tripped:
            return Judgement(Verdict.NOT_MET, self.describe())
        return Judgement(
            Verdict.MET,
            f"max_consecutive_losses: {self.streak} losses in a row >= "
            f"{self.criterion.losses} (after {self.n} trades)",
        )

    def progress(self) -> Tuple[float, float]:
        return float(self.streak), float(self.criterion.losses)

    def describe(self) -> str:
        return f"{self.streak} losses in a row of {self.criterion.losses} after {self.n} trades"


_DAY_US = 86_400_000_000


@dataclass(frozen=True)
class MaxDailyLoss(BuiltInKillCriterion):
    """Kill when the trades opened on one UTC day lose ``loss`` or more in total.

    The day is the UTC calendar day of each trade's timestamp (its opening time), and
    the day's loss is the net pnl of its trades (wins offset losses), summed as they
    close (the order of the bot's list), so a day can trip while its trades still
    close. Depends on the trades only, never on the clock.

    Attributes:
        loss: the net loss in one day that kills, in account currency, > 0.
    """

    kind: ClassVar[str] = "max_daily_loss"

    loss: float

    def __post_init__(self) -> None:
        check_number("MaxDailyLoss", "loss", self.loss)
        _owner_check(
            "MaxDailyLoss", "loss", self.loss > 0, "must be > 0 (account currency)", self.loss
        )

    def tracker(self, proof: Optional[GateProof]) -> KillTrackerBase:
        return _DailyLossTracker(self)

    def plan_model(self, context: PlanContext) -> PlanModel:
        """Fast Monte Carlo with trades evenly spread in time; needs the pace."""
        if context.trades_per_day is None:
            return NotPlanned(
                None, (f"max_daily_loss={self.loss:g} left out: give trades_per_day to count it",)
            )
        return KillModel(DailyLoss(float(self.loss)), f"daily loss >= {self.loss:,.6g}")


class _DailyLossTracker(KillTrackerBase):
    # Trades close in any order of their opening days (one opened at 23:50 may close
    # after one opened at 00:05), so every day keeps its own sum: one entry a day.
    def __init__(self, criterion: MaxDailyLoss) -> None:
        self.criterion = criterion
        self.days: Dict[int, Tuple[float, int]] = {}  # day -> (pnl, trades)
        self.day: Optional[int] = None  # the day of the latest trade added
        self.day_pnl = 0.0
        self.day_trades = 0
        self.tripped = False

    def add(self, trade: TradeOutcome) -> None:
        if self.tripped:
            return
        day = trade.instant_us // _DAY_US
        pnl, count = self.days.get(day, (0.0, 0))
        pnl, count = pnl + float(trade.pnl), count + 1
        self.days[day] = (pnl, count)
        self.day, self.day_pnl, self.day_trades = day, pnl, count
        self.tripped = -pnl >= self.criterion.loss

    def _date(self) -> str:
        assert self.day is not None
        return format_instant(self.day * _DAY_US)[:10]

    def state(self) -> Verdict:
        return Verdict.MET if self.tripped else Verdict.NOT_MET

    def judge(self) -> Judgement:
        if not self.tripped:
            return Judgement(Verdict.NOT_MET, self.describe())
        return Judgement(
            Verdict.MET,
            f"max_daily_loss: trades opened on {self._date()} (UTC) lost "
            f"{_money(-self.day_pnl)} >= {_money(self.criterion.loss)} over "
            f"{self.day_trades} trades",
        )

    def progress(self) -> Tuple[float, float]:
        return -self.day_pnl, float(self.criterion.loss)

    def describe(self) -> str:
        if self.day is None:
            return f"no trades yet (limit {_money(self.criterion.loss)} a day)"
        return (
            f"{self._date()} (UTC): pnl {self.day_pnl:+,.2f} over {self.day_trades} trades, "
            f"limit -{_money(self.criterion.loss)}"
        )
