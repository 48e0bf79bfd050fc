"""Does a configuration fit the bot's trades? Limits that can never fire on them.

A configuration's money limits are in account currency and its gates count trades,
so the same file means different things to a bot staking $100 and one staking 0.001
BTC, or to a bot trading 300 times a day and one trading twice a week.
:func:`scale_warnings` holds each kill criterion and gate against a trade history
and says which of them can never fire, or only after years, on trades like these:

* a drawdown limit (``max_drawdown``'s ``loss``, or ``fraction`` of ``capital``)
  larger than the whole history could lose: every trade losing at the worst rate
  per dollar any of them lost (``size x worst loss per dollar``, summed);
* a daily loss limit (``max_daily_loss``) larger than the busiest day could lose
  the same way;
* a losing streak (``max_consecutive_losses``) or a 0.1 lookback (``wr_lookback``,
  ``ev_lookback``) longer than the whole history;
* a gate's ``min_n`` that takes more than a year at the history's pace, or a
  ``min_total_pnl`` above what all its winning trades made together;
* a gate's ``max_trade_size`` below trades the bot makes (each voids the EV test for
  its window), or its ``max_loss_per_dollar`` below losses it takes.

Each :class:`ScaleWarning` names the key (``kill_switch.criteria[2].loss``), its
value, the figure from the trades and a value to try. Suggestions follow ``init
--trades``: a drawdown limit of fifty typical (median) stakes, a daily limit of a hundred,
a ``min_n`` of what 90 days bring. They are starting points, not advice for every bot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence

from ..gates import Gate
from ..kill.limits import MaxConsecutiveLosses, MaxDailyLoss, MaxDrawdown
from ..trades import TradeOutcome, as_trade
from .config import as_loaded_config

__all__ = ["ScaleWarning", "TradeScale", "scale_warnings"]

_DAY_US = 86_400 * 1_000_000
_DRAWDOWN_STAKES = 50
"""A suggested drawdown limit, in typical stakes (as ``init --trades`` writes it): at
even money a limit of 25 stakes alone kills a strategy making +0.10 a dollar about one
time in five within 2,000 trades, 50 almost never (the README's "why init's defaults")."""
_DAILY_STAKES = 100
"""A suggested daily loss limit, in typical stakes (as ``init --trades`` writes it)."""
_YEAR_DAYS = 365.0
_SUGGESTED_DAYS = 90.0


@dataclass(frozen=True)
class ScaleWarning:
    """A limit that can never fire (or only after years) on trades like the given ones.

    Attributes:
        key: where it is set, as a configuration file spells it
            (``kill_switch.criteria[2].loss``, ``stages[1].gate.min_n``).
        value: its value.
        figure: what the trades show, in words (``"the 179 trades stake 0.18 in all
            and lose at worst 7.9% of a stake: at most 0.0142"``).
        suggestion: a value to try (``"loss = 0.01"``), or advice.
    """

    key: str
    value: float
    figure: str
    suggestion: str

    def message(self, source: Optional[str] = None) -> str:
        """One line: ``rollout.toml: kill_switch.criteria[2].loss = 25: ...; try ...``."""
        where = f"{source}: " if source else ""
        return f"{where}{self.key} = {_num(self.value)}: {self.figure}; try {self.suggestion}"


@dataclass(frozen=True)
class TradeScale:
    """The figures of a trade history the checks compare limits with.

    Attributes:
        n: trades.
        days: the span from the first to the last opening time, in days (at least 1).
        median_size: the typical stake (median of the sizes above 0).
        total_size: the sizes summed.
        largest_size: the largest size.
        worst_loss_per_dollar: the largest loss per dollar of size any trade took (0
            when none lost).
        worst_case_loss: every trade losing at that rate: the sizes summed times it.
        worst_day_loss: the same for the trades of the busiest UTC day.
        max_drawdown: the history's own largest fall of its equity from a high.
        longest_losing_streak: the most trades in a row that did not win (pnl <= 0).
        total_gain: the pnl of the winning trades summed.
    """

    n: int
    days: float
    median_size: float
    total_size: float
    largest_size: float
    worst_loss_per_dollar: float
    worst_case_loss: float
    worst_day_loss: float
    max_drawdown: float
    longest_losing_streak: int
    total_gain: float

    @property
    def per_day(self) -> float:
        """Trades a day at the history's pace."""
        return self.n / self.days

    @classmethod
    def of(cls, trades: Sequence[TradeOutcome]) -> TradeScale:
        """The figures of ``trades`` (any order; at least one trade).

        Raises:
            ValueError: no trades.
        """
        if not trades:
            raise ValueError("no trades to hold the configuration against")
        ordered = sorted(trades, key=lambda t: t.instant_us)
        sizes = sorted(t.size for t in ordered if t.size > 0)
        worst = max(
            (-t.pnl / t.size for t in ordered if t.pnl < 0 and t.size > 0),
            default=0.0,
        )
        per_day: Dict[int, float] = {}
        for t in ordered:
            day = t.instant_us // _DAY_US
            per_day[day] = per_day.get(day, 0.0) + t.size
        equity = peak = drawdown = 0.0
        streak = longest = 0
        for t in ordered:
            equity += t.pnl
            peak = max(peak, equity)
            drawdown = max(drawdown, peak - equity)
            streak = 0 if t.pnl > 0 else streak + 1
            longest = max(longest, streak)
        span = (ordered[-1].instant_us - ordered[0].instant_us) / _DAY_US
        total = math.fsum(t.size for t in ordered)
        return cls(
            n=len(ordered),
            days=max(1.0, span),
            median_size=sizes[len(sizes) // 2] if sizes else 0.0,
            total_size=total,
            largest_size=max(t.size for t in ordered),
            worst_loss_per_dollar=worst,
            worst_case_loss=total * worst,
            worst_day_loss=max(per_day.values()) * worst,
            max_drawdown=drawdown,
            longest_losing_streak=longest,
            total_gain=math.fsum(t.pnl for t in ordered if t.pnl > 0),
        )


def scale_warnings(config: object, trades: Iterable[object]) -> List[ScaleWarning]:
    """The kill criteria and gates of ``config`` that can never fire (or only after a
    year) on trades like ``trades``, each with the figure and a value to try.

    ``config`` is anything the tools take as a configuration (a file's path, a
    ``LoadedConfig``, a ``RolloutConfig``, a ``Rollout``); ``trades`` any trades
    (``TradeOutcome``, mappings, objects). Warnings only: nothing here is an error,
    and a limit meant for a larger future stake may be right as it is.

    Raises:
        ValueError: no trades (InvalidTradeError for a bad one, naming its index).
    """
    loaded = as_loaded_config(config, needed_by="scale_warnings")
    scale = TradeScale.of([as_trade(t, i) for i, t in enumerate(trades)])
    found: List[ScaleWarning] = []
    switch = loaded.kill_switch
    for name, lookback, threshold in (
        ("wr_lookback", switch.wr_lookback, switch.wr_threshold),
        ("ev_lookback", switch.ev_lookback, switch.ev_threshold),
    ):
        if threshold is not None and lookback > scale.n:
            found.append(
                ScaleWarning(
                    f"kill_switch.{name}",
                    lookback,
                    f"longer than the whole history ({scale.n} trades)",
                    f"{name} = {max(1, scale.n // 4)}, or a CUSUM criterion",
                )
            )
    for i, criterion in enumerate(switch.criteria):
        found.extend(_kill_warnings(f"kill_switch.criteria[{i}]", criterion, scale))
    for i, stage in enumerate(loaded.stages):
        if stage.gate is not None:
            found.extend(_gate_warnings(f"stages[{i}].gate", stage.gate, scale))
    return found


def _kill_warnings(key: str, criterion: object, s: TradeScale) -> List[ScaleWarning]:
    found: List[ScaleWarning] = []
    stakes = (
        f"the {s.n} trades stake {_num(s.total_size)} in all and lose at worst "
        f"{s.worst_loss_per_dollar:.1%} of a stake"
    )
    drawdown = _suggest(_DRAWDOWN_STAKES * s.median_size)
    if isinstance(criterion, MaxDrawdown):
        limits = []
        if criterion.loss is not None:
            limits.append(("loss", criterion.loss, criterion.loss, f"loss = {drawdown}"))
        if criterion.fraction is not None and criterion.capital is not None:
            money = criterion.fraction * (criterion.capital + s.total_gain)
            suggested = _suggest(_DRAWDOWN_STAKES * s.median_size / criterion.capital)
            limits.append(("fraction", criterion.fraction, money, f"fraction = {suggested}"))
        for field, value, money, suggestion in limits:
            if money > s.worst_case_loss:
                found.append(
                    ScaleWarning(
                        f"{key}.{field}",
                        value,
                        _never(money, field, value)
                        + f"{stakes}: at most {_num(s.worst_case_loss)} (their own worst "
                        f"drawdown: {_num(s.max_drawdown)})",
                        f"{suggestion} ({_DRAWDOWN_STAKES} typical stakes of "
                        f"{_num(s.median_size)})",
                    )
                )
    elif isinstance(criterion, MaxDailyLoss):
        if criterion.loss > s.worst_day_loss:
            daily = _suggest(min(_DAILY_STAKES * s.median_size, s.worst_day_loss / 2))
            found.append(
                ScaleWarning(
                    f"{key}.loss",
                    criterion.loss,
                    f"can never fire: the busiest UTC day's trades lose at most "
                    f"{_num(s.worst_day_loss)} at the worst loss per dollar any trade took "
                    f"({s.worst_loss_per_dollar:.1%})",
                    f"loss = {daily}",
                )
            )
    elif isinstance(criterion, MaxConsecutiveLosses) and criterion.losses > s.n:
        found.append(
            ScaleWarning(
                f"{key}.losses",
                criterion.losses,
                f"longer than the whole history ({s.n} trades; its longest run "
                f"without a win: {s.longest_losing_streak})",
                f"losses = {max(2, s.longest_losing_streak + 2)}",
            )
        )
    return found


def _never(money: float, field: str, value: float) -> str:
    if field == "fraction":
        return f"can never fire: {value:.1%} of peak equity is about {_num(money)}, and "
    return "can never fire: "


def _gate_warnings(key: str, gate: Gate, s: TradeScale) -> List[ScaleWarning]:
    found: List[ScaleWarning] = []
    pace = f"{_num(s.per_day)} trades a day ({s.n} over {_num(s.days)} days)"
    if gate.min_n and gate.min_n / s.per_day > _YEAR_DAYS:
        years = gate.min_n / s.per_day / _YEAR_DAYS
        found.append(
            ScaleWarning(
                f"{key}.min_n",
                gate.min_n,
                f"takes {years:.1f} years at the history's pace of {pace}",
                f"min_n = {max(1, round(s.per_day * _SUGGESTED_DAYS))} (what "
                f"{_SUGGESTED_DAYS:.0f} days bring)",
            )
        )
    if gate.min_total_pnl is not None and gate.min_total_pnl > s.total_gain:
        found.append(
            ScaleWarning(
                f"{key}.min_total_pnl",
                gate.min_total_pnl,
                f"more than all {s.n} trades' wins made together ({_num(s.total_gain)} "
                f"over {_num(s.days)} days)",
                f"min_total_pnl = {_suggest(s.total_gain * 30 / s.days)} (their wins of "
                "30 days), or leave it out",
            )
        )
    cap = gate.max_trade_size
    if cap is not None and s.largest_size > cap:
        found.append(
            ScaleWarning(
                f"{key}.max_trade_size",
                cap,
                f"smaller than trades the bot makes (the largest: {_num(s.largest_size)}); "
                "each larger trade voids the EV test for its window",
                f"max_trade_size = {_suggest_up(s.largest_size)}",
            )
        )
    if gate.min_ev_per_dollar is not None and s.worst_loss_per_dollar > gate.max_loss_per_dollar:
        found.append(
            ScaleWarning(
                f"{key}.max_loss_per_dollar",
                gate.max_loss_per_dollar,
                f"below losses the bot takes (the worst: {s.worst_loss_per_dollar:.3g} per "
                "dollar of size); each such trade voids the EV test for its window",
                f"max_loss_per_dollar = {_suggest_up(s.worst_loss_per_dollar)}",
            )
        )
    return found


def _num(x: float) -> str:
    """A figure for a sentence: ``25``, ``0.0142``, ``1,234``, ``3.5e-06``."""
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _suggest(x: float) -> str:
    """A round value to try (two significant digits), as a configuration file takes it."""
    if x <= 0:
        return "0"
    digits = 1 - math.floor(math.log10(x))
    return f"{round(x, digits):g}"


def _suggest_up(x: float) -> str:
    """Like :func:`_suggest`, rounded up, so the trades fit under it."""
    if x <= 0:
        return "0"
    step = 10.0 ** (math.floor(math.log10(x)) - 1)
    return f"{math.ceil(x / step - 1e-9) * step:.6g}"
