"""Pre-flight: what a rollout configuration will do, before it trades a cent.

:func:`plan` answers, for a range of *true* win rates (and, given a trade history, of
true EV levels): how likely each gate is to pass within a horizon of trades and how
many trades (and days) that takes, and how likely the kill switch is to fire and how
soon. A gate that passes a strategy whose true win rate is at or below its bar is a
**false advance**; a kill switch that fires on a strategy meeting all its criteria is
a **false kill**. :func:`format_plan` prints the report as text tables.

The model
---------
* Trades are independent and identically distributed. Each wins (``pnl > 0``) with
  the true win rate ``p``.
* When only a win rate is given, the money side comes from a :class:`Payoff`: a winning
  trade makes ``win`` per dollar of size, a losing one loses ``loss`` per dollar, and
  every trade risks ``size`` dollars. The default is even money, +1/-1 per dollar of a
  $1 stake, so EV per dollar is ``2p - 1`` (p = 0.55 is 10 cents a dollar) and an EV
  floor such as the seed's 0.03 binds only below a win rate of 0.515. Given trades, the
  payoff is taken from them (:meth:`Payoff.from_trades`); or pass your own.
* Given trades, the EV rows resample those trades with replacement (a bootstrap,
  B. Efron, Ann. Statist. 7 (1979) 1-26), each return per dollar shifted by the same
  amount so that the total pnl / total size of the population is exactly the EV level
  of the row; sizes are drawn with their returns. Wins follow from the shifted returns.
* Each rule is planned on its own, from the first trade of a stage: a gate as if the
  kill switch never fired, the kill switch as if the stage never advanced. A gate
  "advances" when it first passes (when the veto window opens; an expiring window
  re-checks the gate, which is not modelled). The trades of stage ``k`` decide the gate
  of stage ``k + 1``, as in the rollout.
* Detection delay is counted from a stage whose true level is the lower one from its
  first trade: a parameter change that is bad is bad from the start.
* ``min_days_after_prev`` needs a trading pace: with ``trades_per_day`` the ``n``-th
  trade arrives on day ``n / trades_per_day``, so a gate cannot pass before trade
  ``floor(days * trades_per_day)``; without it the criterion is left out (and the
  report says so).

Methods
-------
*exact*, where the rule allows it:

* a gate whose criteria are functions of the stage's counts and sums (``min_n``,
  ``min_win_rate``, ``min_ev_per_dollar``, ``min_total_pnl``, and a confidence gate's
  win-rate test, which depends on (trades, wins) only): under a fixed payoff each is a
  least number of wins at each trade count, found by asking the gate itself, and a
  dynamic programme over (trades, wins) absorbs the mass that passes. Mass below 1e-18
  at the edges of the wins range is dropped; the total dropped is the row's
  ``error_bound``. For a confidence win-rate gate the figures are those of
  :func:`~quant_rollout.stats.win_rate_rejection_cdf`.
* a kill switch whose only running criterion is a win-rate CUSUM or a losing streak:
  the chart's Markov chain stepped forward (Brook & Evans 1972), as
  :func:`~quant_rollout.stats.cusum_alarm_probability` does.

*Monte Carlo* otherwise: 0.1's sliding windows ("the last 30 trades"), a confidence
gate's EV test (a bet on every trade, replayed with the arithmetic of
:class:`~quant_rollout.stats.EVBettingTest`), the EV CUSUM, drawdown and daily-loss
limits, several criteria at once, and every EV row. ``paths`` runs per row; run ``i``
of a row draws from its own generator, seeded from (``seed``, the row, ``i``), so the
figures are reproducible and do not depend on which other rules are planned.
Probabilities carry their standard error ``sqrt(P(1 - P) / paths)``; quantiles one from
the order-statistic interval of the simulated distribution.

A kill criterion whose level defaults to what the stage proved at its gate (a CUSUM's
``expected``) is planned per stage, at the bar of the confidence gate the stage is
entered through (the least such a gate proves); where that level cannot be known in
advance (stage 0, a gate without that tested criterion) it is left out, and the report
says so. An EV CUSUM that calibrates on a stage's first trades is planned with the
design that trades at its expected level give (the payoff's two returns in that
proportion, or the trade history).

Nothing here touches a disk, a clock or the environment; randomness comes only from
``random.Random`` generators seeded as above.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import os
import random
import sys
import textwrap
from array import array
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import accumulate, repeat
from operator import ge, itemgetter, lt, mul, sub, truediv
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Hashable,
    Iterable,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Union,
)

from ..engine.machine import RolloutConfig, Stage
from ..errors import ConfigError
from ..gates import Gate, GateVerdict
from ..kill import (
    EvPerDollarCusum,
    KillSwitch,
    MaxConsecutiveLosses,
    MaxDailyLoss,
    MaxDrawdown,
    WinRateCusum,
    criterion_name,
)
from ..metrics import Metrics
from ..stats import BernoulliCusum
from ..trades import as_trade

if TYPE_CHECKING:  # imported lazily at run time: the shell sits above us
    from ..rollout import Rollout

__all__ = [
    "DEFAULT_EV_LEVELS",
    "DEFAULT_HORIZON",
    "DEFAULT_PATHS",
    "DEFAULT_WIN_RATES",
    "GatePlan",
    "KillPlan",
    "Payoff",
    "PlanReport",
    "PlanRow",
    "format_plan",
    "plan",
]

DEFAULT_WIN_RATES: Tuple[float, ...] = (0.45, 0.50, 0.55, 0.60, 0.65, 0.70)
"""The true win rates planned when none are given (fractions 0–1)."""

DEFAULT_HORIZON = 2000
"""Trades of a stage followed when no horizon is given."""

DEFAULT_PATHS = 2_000
"""Monte Carlo runs per row when none are given."""

DEFAULT_EV_LEVELS: Tuple[float, ...] = (-0.05, 0.0, 0.025, 0.05, 0.10)
"""The true EV levels (per dollar) planned from a trade history when none are given."""

_EXACT = "exact"
_MONTE_CARLO = "monte_carlo"

# Mass this small at the edge of the wins range is dropped by the exact programme.
_PRUNE = 1e-18
# Quantile levels reported, and the share of runs that must end within the horizon
# before a mean is shown (the mean of the runs cut off at the horizon is biased low).
_MEDIAN, _P90 = 0.5, 0.9
_MEAN_NEEDS = 0.99
_Z95 = 1.959963984540054
# stats.EVBettingTest's default largest bet, which GateTracker keeps.
_MAX_BET = 0.5
# Monte Carlo runs are scanned in growing chunks so a run stops soon after its event.
_FIRST_CHUNK, _MAX_CHUNK = 32, 1024


# ---------------------------------------------------------------------------------------
# The payoff model
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRow:
    """When one rule fires (a gate passes, the kill switch trips), at one true level.

    Trades are counted from the first trade of the stage. Quantiles are None when
    fewer than that share of runs fire within the horizon.

    Attributes:
        level: the true win rate (0–1) or the true EV per dollar, per ``measure``.
        measure: ``"win_rate"`` or ``"ev_per_dollar"``.
        method: ``"exact"`` or ``"monte_carlo"``.
        probability: P(the rule fires within the horizon), 0–1.
        probability_se: its Monte Carlo standard error; None when exact.
        median_trades: the median number of trades until it fires.
        median_se: the Monte Carlo standard error of the median (None when exact).
        p90_trades: the 90th percentile of the trades until it fires.
        p90_se: the Monte Carlo standard error of the 90th percentile.
        mean_trades: the mean trades until it fires, when at least 99% of runs fire
            within the horizon (runs that do not are counted at the horizon).
        median_days: ``median_trades`` in days, given ``trades_per_day``.
        p90_days: ``p90_trades`` in days, given ``trades_per_day``.
        false_alarm: True when firing at this level is an error: a gate passing at or
            below its bar (a false advance), a kill switch tripping at a level that
            meets all its criteria (a false kill).
        paths: Monte Carlo runs, or None when exact.
        error_bound: exact only: the probability mass dropped by pruning (the figures
            are exact to within it); 0 for Monte Carlo.
        cdf: ``cdf[n]`` = P(fired by trade n), n = 0..horizon.
    """

    level: float
    measure: str
    method: str
    probability: float
    probability_se: Optional[float]
    median_trades: Optional[int]
    median_se: Optional[float]
    p90_trades: Optional[int]
    p90_se: Optional[float]
    mean_trades: Optional[float]
    median_days: Optional[float]
    p90_days: Optional[float]
    false_alarm: bool
    paths: Optional[int]
    error_bound: float
    cdf: Tuple[float, ...] = field(repr=False, compare=False)

    def to_dict(self) -> Dict[str, Any]:
        """The row as JSON-ready data (without the cdf)."""
        data = dataclasses.asdict(self)
        del data["cdf"]
        return data


@dataclass(frozen=True)
class GatePlan:
    """The plan of one stage transition: the gate of ``to_stage`` judged on ``from_stage``.

    Attributes:
        from_stage: the stage whose trades are the evidence, as ``"0 (baseline)"``.
        to_stage: the stage the gate leads to.
        gate: the gate's criteria as text, or None when the stage has no gate
            (reached only by promote; then there are no rows).
        bar: the gate's bar as a win rate: the least true win rate whose expected
            results meet every criterion (None when no criterion sets one). Passing at
            or below it is a false advance.
        ev_bar: the same in EV per dollar, for the EV rows (None when no EV floor).
        rows: one row per true win rate.
        ev_rows: one row per true EV level (only given a trade history).
        notes: what was left out of the model, and why.
    """

    from_stage: str
    to_stage: str
    gate: Optional[str]
    bar: Optional[float]
    ev_bar: Optional[float]
    rows: Tuple[PlanRow, ...]
    ev_rows: Tuple[PlanRow, ...]
    notes: Tuple[str, ...]

    def to_dict(self) -> Dict[str, Any]:
        """The transition as JSON-ready data."""
        return {
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "gate": self.gate,
            "bar": self.bar,
            "ev_bar": self.ev_bar,
            "rows": [r.to_dict() for r in self.rows],
            "ev_rows": [r.to_dict() for r in self.ev_rows],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class KillPlan:
    """The plan of the kill switch over one stage's trades, for the stages it applies to.

    A criterion whose level defaults to what a stage proved at its gate (a CUSUM's
    expected level) can differ from stage to stage; stages where the kill switch comes
    out the same share one plan.

    Attributes:
        stages: the stages this plan applies to, as ``"1 (canary)"``.
        kill_switch: the criteria that run there, as text (None: none runs).
        tolerated: the least true win rate at which every criterion is met on average
            (a window's threshold, a CUSUM's expected level): a kill at or above it is a
            false kill (None when no criterion sets one).
        ev_tolerated: the same in EV per dollar, for the EV rows.
        rows: one row per true win rate: P(kill) is the false-kill rate at or above
            ``tolerated`` and the chance of catching a drop below it.
        detection: rows for the levels a drop is planned to (``drop_to``, and the
            unacceptable level of each win-rate CUSUM) that are not among ``rows``.
        ev_rows: one row per true EV level (only given a trade history).
        notes: what was left out of the model, and why.
    """

    stages: Tuple[str, ...]
    kill_switch: Optional[str]
    tolerated: Optional[float]
    ev_tolerated: Optional[float]
    rows: Tuple[PlanRow, ...]
    detection: Tuple[PlanRow, ...]
    ev_rows: Tuple[PlanRow, ...]
    notes: Tuple[str, ...]

    def to_dict(self) -> Dict[str, Any]:
        """The kill switch's plan as JSON-ready data."""
        return {
            "stages": list(self.stages),
            "kill_switch": self.kill_switch,
            "tolerated": self.tolerated,
            "ev_tolerated": self.ev_tolerated,
            "rows": [r.to_dict() for r in self.rows],
            "detection": [r.to_dict() for r in self.detection],
            "ev_rows": [r.to_dict() for r in self.ev_rows],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class PlanReport:
    """What a configuration will do: every gate and the kill switch, level by level.

    Attributes:
        source: what was planned (the configuration file, or ``"rollout"``).
        horizon: trades of each stage followed.
        trades_per_day: the pace used to turn trades into days, or None.
        payoff: the payoff model behind the win-rate rows.
        paths: Monte Carlo runs per row (used only where a rule needs them).
        seed: the Monte Carlo seed.
        win_rates: the true win rates planned.
        ev_levels: the true EV levels planned (empty without a trade history).
        trades: a sentence describing the trade history used, or None.
        transitions: one :class:`GatePlan` per stage after stage 0, in order.
        kills: the kill switch's :class:`KillPlan` for each group of stages where it
            comes out the same (one, unless a criterion's level depends on the gate a
            stage was entered through).
    """

    source: str
    horizon: int
    trades_per_day: Optional[float]
    payoff: Payoff
    paths: int
    seed: int
    win_rates: Tuple[float, ...]
    ev_levels: Tuple[float, ...]
    trades: Optional[str]
    transitions: Tuple[GatePlan, ...]
    kills: Tuple[KillPlan, ...]

    def to_dict(self) -> Dict[str, Any]:
        """The report as JSON-ready data (``quant-rollout plan --json``)."""
        return {
            "source": self.source,
            "horizon": self.horizon,
            "trades_per_day": self.trades_per_day,
            "payoff": dataclasses.asdict(self.payoff),
            "paths": self.paths,
            "seed": self.seed,
            "win_rates": list(self.win_rates),
            "ev_levels": list(self.ev_levels),
            "trades": self.trades,
            "transitions": [t.to_dict() for t in self.transitions],
            "kills": [k.to_dict() for k in self.kills],
        }


# ---------------------------------------------------------------------------------------
# Summaries of a distribution of trades-until-event
# ---------------------------------------------------------------------------------------


def _quantile(cdf: Sequence[float], q: float) -> Optional[int]:
    """The least n with cdf[n] >= q, or None when the horizon is reached first."""
    lo, hi = 0, len(cdf)
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf[mid] >= q - 1e-12:
            hi = mid
        else:
            lo = mid + 1
    return lo if lo < len(cdf) else None


def _quantile_se(cdf: Sequence[float], q: float, paths: int) -> Optional[float]:
    """Half the 95% order-statistic interval of a Monte Carlo quantile, over 1.96."""
    spread = _Z95 * math.sqrt(q * (1.0 - q) / paths)
    low = _quantile(cdf, max(0.0, q - spread))
    high = _quantile(cdf, min(1.0, q + spread))
    if low is None or high is None:
        return None
    return (high - low) / (2.0 * _Z95)


def _row(
    cdf: Sequence[float],
    *,
    level: float,
    measure: str,
    method: str,
    false_alarm: bool,
    paths: Optional[int],
    error_bound: float,
    trades_per_day: Optional[float],
    min_days: float = 0.0,
) -> PlanRow:
    probability = cdf[-1]
    median = _quantile(cdf, _MEDIAN)
    p90 = _quantile(cdf, _P90)
    mean = None
    if probability >= _MEAN_NEEDS:
        mean = math.fsum(1.0 - c for c in cdf[:-1])

    def days(n: Optional[int]) -> Optional[float]:
        if n is None or trades_per_day is None:
            return None
        return max(n / trades_per_day, min_days)

    runs = paths if method == _MONTE_CARLO else None

    def se(q: float, n: Optional[int]) -> Optional[float]:
        return None if runs is None or n is None else _quantile_se(cdf, q, runs)

    return PlanRow(
        level=level,
        measure=measure,
        method=method,
        probability=probability,
        probability_se=None if runs is None else math.sqrt(probability * (1 - probability) / runs),
        median_trades=median,
        median_se=se(_MEDIAN, median),
        p90_trades=p90,
        p90_se=se(_P90, p90),
        mean_trades=mean,
        median_days=days(median),
        p90_days=days(p90),
        false_alarm=false_alarm,
        paths=runs,
        error_bound=error_bound,
        cdf=tuple(cdf),
    )


def _cdf_from_times(times: Sequence[Optional[int]], horizon: int) -> List[float]:
    counts = [0] * (horizon + 1)
    for t in times:
        if t is not None:
            counts[t] += 1
    total = len(times)
    return [c / total for c in accumulate(counts)]


# ---------------------------------------------------------------------------------------
# Exact: first passage of the wins count over a boundary
# ---------------------------------------------------------------------------------------


def _first_passage(p: float, least_wins: Sequence[int], horizon: int) -> Tuple[List[float], float]:
    """(cdf, mass dropped): P(wins(m) >= least_wins[m] for some m <= n), n = 0..horizon.

    i.i.d. trades winning with probability ``p``; ``least_wins[n] > n`` means the rule
    cannot fire after n trades. A dynamic programme over (trades, wins) whose passed
    mass is absorbed at each step; mass below 1e-18 at either edge of the wins range is
    dropped, and the total dropped is returned (the cdf is exact to within it).
    """
    q = 1.0 - p
    lo = 0  # the wins count of alive[0]
    alive = [1.0]  # alive[i]: P(lo + i wins so far, not passed yet)
    passed: List[float] = []
    dropped: List[float] = []
    for n in range(horizon + 1):
        if n > 0:
            alive = [q * a + p * b for a, b in zip([*alive, 0.0], [0.0, *alive])]
        start = max(least_wins[n] - lo, 0)
        if start < len(alive):
            passed.append(math.fsum(alive[start:]))
            del alive[start:]
        else:
            passed.append(0.0)
        cut = 0
        while cut < len(alive) and alive[cut] < _PRUNE:
            cut += 1
        end = len(alive)
        while end > cut and alive[end - 1] < _PRUNE:
            end -= 1
        if cut or end < len(alive):
            dropped.append(math.fsum(alive[:cut]) + math.fsum(alive[end:]))
            alive = alive[cut:end]
            lo += cut
        if not alive:
            passed.extend([0.0] * (horizon - n))
            break
    return [min(1.0, c) for c in accumulate(passed)], math.fsum(dropped)


def _chain_alarm_cdf(
    p: float, win_units: int, loss_units: int, threshold: int, horizon: int
) -> List[float]:
    """P(a CUSUM on wins and losses has alarmed by trade n), n = 0..horizon, exactly.

    The chart's Markov chain on states 0..threshold-1 (Brook & Evans 1972), stepped
    forward as :func:`~quant_rollout.stats.cusum_alarm_probability` does: a loss adds
    ``loss_units``, a win takes ``win_units`` off (not below 0), and reaching
    ``threshold`` alarms. A streak of k losses is the chart with ``loss_units=1``,
    ``win_units=threshold=k``.
    """
    q = 1.0 - p
    states = threshold
    mass = [0.0] * states
    mass[0] = 1.0
    to_zero = min(win_units, states)  # states a win sends to 0
    stay = max(0, states - loss_units)  # states a loss leaves below the threshold
    alarms = [0.0]
    for _ in range(horizon):
        alarms.append(q * math.fsum(mass[stay:]))
        after_win = mass[win_units:] + [0.0] * to_zero
        after_loss = [0.0] * min(loss_units, states) + mass[:stay]
        at_zero = p * math.fsum(mass[:to_zero])
        mass = [p * w + q * v for w, v in zip(after_win, after_loss)]
        mass[0] += at_zero
    return [min(1.0, c) for c in accumulate(alarms)]


# ---------------------------------------------------------------------------------------
# Monte Carlo: runs drawn in chunks, rules scanned chunk by chunk
# ---------------------------------------------------------------------------------------


class _Run:
    """One simulated stage: its trades so far, as counts and running sums.

    ``wins[i]`` is 1 when trade i + 1 won; ``cum_wins[n]``, ``cum_pnl[n]`` and
    ``cum_size[n]`` are the wins, pnl and size of the first n trades, and
    ``pnl``/``size`` the trades themselves (money only when the source was asked for it).
    """

    __slots__ = ("cum_pnl", "cum_size", "cum_wins", "pnl", "rng", "size", "source", "wins")

    def __init__(self, rng: random.Random, source: _Source) -> None:
        self.rng = rng
        self.source = source
        self.wins = bytearray()
        self.cum_wins: List[int] = [0]
        self.cum_pnl: List[float] = [0.0]
        self.cum_size: List[float] = [0.0]
        self.pnl: List[float] = []
        self.size: List[float] = []

    @property
    def n(self) -> int:
        return len(self.wins)

    def extend_to(self, n: int) -> None:
        if n > len(self.wins):
            self.source.draw(self, n - len(self.wins))


class _Source(Protocol):
    def draw(self, run: _Run, k: int) -> None: ...


def _extend_sums(target: List[Any], values: Iterable[Any]) -> None:
    it = accumulate(values, initial=target[-1])
    next(it)
    target.extend(it)


class _Bernoulli:
    """Trades winning with probability p, exactly, 8 random bits a trade.

    A byte below ``floor(256 p)`` wins, one above loses, and a byte equal to it (one
    trade in 256) wins with probability ``frac(256 p)`` by a second draw. The money
    side follows the payoff: ``sums`` fills the running pnl and size, ``trades`` the
    per-trade lists (each only when a rule reads it).
    """

    def __init__(self, p: float, payoff: Payoff, *, sums: bool, trades: bool) -> None:
        scaled = p * 256.0  # exact: a power-of-two scaling
        cut = math.floor(scaled)
        self.frac = scaled - cut
        self.table = bytes(1 if b < cut else (2 if b == cut else 0) for b in range(256))
        self.sums = sums
        self.trades = trades
        self.size = float(payoff.size)
        self.pnls = (-payoff.loss * payoff.size, payoff.win * payoff.size)  # by outcome

    def draw(self, run: _Run, k: int) -> None:
        rng = run.rng
        outcomes = bytearray(rng.randbytes(k).translate(self.table))
        i = outcomes.find(2)
        while i >= 0:
            outcomes[i] = rng.random() < self.frac
            i = outcomes.find(2, i + 1)
        run.wins += outcomes
        _extend_sums(run.cum_wins, outcomes)
        if self.trades:
            run.pnl.extend(map(self.pnls.__getitem__, outcomes))
            run.size.extend(repeat(self.size, k))
        if self.sums:
            _extend_sums(run.cum_pnl, map(self.pnls.__getitem__, outcomes))
            _extend_sums(run.cum_size, repeat(self.size, k))


class _Bootstrap:
    """Trades resampled from a history, returns shifted to a target EV per dollar."""

    def __init__(self, returns: Sequence[float], sizes: Sequence[float], ev: float) -> None:
        total_size = math.fsum(sizes)
        observed = math.fsum(r * s for r, s in zip(returns, sizes)) / total_size
        shift = ev - observed
        self.pnl = [(r + shift) * s for r, s in zip(returns, sizes)]
        self.sizes = list(sizes)
        self.won = [1 if x > 0 else 0 for x in self.pnl]

    def draw(self, run: _Run, k: int) -> None:
        picks = _uniform_indices(run.rng, len(self.pnl), k)
        if k == 1:
            picks = [picks[0], picks[0]]  # itemgetter of one index returns a bare item
        get = itemgetter(*picks)
        won: Tuple[int, ...] = get(self.won)[:k]
        pnl: Tuple[float, ...] = get(self.pnl)[:k]
        size: Tuple[float, ...] = get(self.sizes)[:k]
        run.wins += bytes(won)
        _extend_sums(run.cum_wins, won)
        run.pnl.extend(pnl)
        run.size.extend(size)
        _extend_sums(run.cum_pnl, pnl)
        _extend_sums(run.cum_size, size)


def _uniform_indices(rng: random.Random, m: int, k: int) -> List[int]:
    """k indices drawn uniformly from range(m), m <= 65536, from 16 random bits each.

    Values at or above the largest multiple of m below 2**16 are rejected, so every
    index is exactly equally likely.
    """
    if m > 1 << 16:
        return rng.choices(range(m), k=k)
    limit = (1 << 16) - (1 << 16) % m
    picks: List[int] = []
    while len(picks) < k:
        need = k - len(picks)
        words = array("H", rng.randbytes(2 * (need + need // 32 + 4)))
        if sys.byteorder == "big":  # read the bytes little-endian on every machine
            words.byteswap()
        picks.extend(map(m.__rmod__, filter(limit.__gt__, words)))
    del picks[k:]
    return picks


class _GateScan(Protocol):
    """One gate criterion on one run: where it holds, chunk by chunk."""

    def holds(self, run: _Run, start: int, end: int) -> bytes:
        """1 at position n - start where the criterion holds after n trades, n in [start, end]."""


class _KillScan(Protocol):
    """One kill criterion on one run: where it first fires, chunk by chunk."""

    def first(self, run: _Run, start: int, end: int) -> Optional[int]:
        """The first n in [start, end] at which it fires after n trades, else None."""


class _LeastWins:
    """Holds after n trades when wins(n) >= least[n]."""

    def __init__(self, least: Sequence[int]) -> None:
        self.least = least

    def holds(self, run: _Run, start: int, end: int) -> bytes:
        return bytes(map(ge, run.cum_wins[start : end + 1], self.least[start : end + 1]))


class _FloatCriteria:
    """A gate's count and sum criteria on a run's running sums (bootstrap runs).

    ``least_wins`` decides the win-rate criterion of a confidence gate (its rejection
    boundary); a point-estimate gate compares wins / n with the bar as the gate does.
    The EV criterion here is the point-estimate one; a confidence gate's EV test is a
    :class:`_BettingScan` of its own.
    """

    def __init__(self, gate: Gate, n_floor: int, least_wins: Optional[Sequence[int]]) -> None:
        self.n_floor = max(gate.min_n, n_floor)
        self.least_wins = least_wins
        self.win_rate = gate.min_win_rate if gate.min_win_rate > 0 else None
        self.ev = gate.min_ev_per_dollar if _confidence(gate) is None else None
        self.pnl = gate.min_total_pnl

    def holds(self, run: _Run, start: int, end: int) -> bytes:
        first = max(start, self.n_floor, 1)
        if first > end:
            return bytes(end - start + 1)
        ok = int.from_bytes(b"\x01" * (end - first + 1), "little")
        wins = run.cum_wins[first : end + 1]
        if self.least_wins is not None:
            ok &= int.from_bytes(bytes(map(ge, wins, self.least_wins[first : end + 1])), "little")
        elif self.win_rate is not None:
            rates = map(truediv, wins, range(first, end + 1))
            ok &= int.from_bytes(bytes(map(ge, rates, repeat(self.win_rate))), "little")
        if self.ev is not None:
            evs = map(truediv, run.cum_pnl[first : end + 1], run.cum_size[first : end + 1])
            ok &= int.from_bytes(bytes(map(ge, evs, repeat(self.ev))), "little")
        if self.pnl is not None:
            ok &= int.from_bytes(
                bytes(map(ge, run.cum_pnl[first : end + 1], repeat(self.pnl))), "little"
            )
        return bytes(first - start) + ok.to_bytes(end - first + 1, "little")


class _BettingScan:
    """A confidence gate's EV test, replayed on a run: where it holds, chunk by chunk.

    The arithmetic of :class:`~quant_rollout.stats.EVBettingTest` at its bar (the
    size-weighted aGRAPA bet of ``stats._BettingSide``), in the same order, so it rejects
    at the same trade to the bit; only the bar is followed (the confidence bounds do not
    change the verdict). As in :class:`~quant_rollout.gates.GateTracker` the test
    latches once it rejects, and a trade losing more than ``loss_bound`` per dollar
    voids it from that trade on, even after a rejection.
    """

    def __init__(self, bar: float, loss_bound: float, confidence: float, max_bet: float) -> None:
        self.bar = bar
        self.floor = -loss_bound
        self.scale = 1.0 / (loss_bound + bar)
        self.threshold = -math.log1p(-confidence)
        self.max_bet = max_bet
        self.count = 0
        self.log_wealth = 0.0
        self.sums = (0.0, 0.0, 0.0, 0.0, 0.0)  # pnl, size, pnl^2, pnl*size, size^2
        self.scanned = 0
        self.rejected_at: Optional[int] = None
        self.void_at: Optional[int] = None

    def holds(self, run: _Run, start: int, end: int) -> bytes:
        if self.void_at is None and self.scanned < end:
            losses = map(
                lt,
                run.pnl[self.scanned : end],
                map(mul, run.size[self.scanned : end], repeat(self.floor)),
            )
            i = bytes(losses).find(1)
            if i >= 0:
                self.void_at = self.scanned + i + 1
            self.scanned = end
        if self.rejected_at is None and self.count < end:
            last = end if self.void_at is None else min(end, self.void_at - 1)
            if self.count < last:
                self._follow(run, last)
        on = self.rejected_at
        if on is None or on > end:
            return bytes(end - start + 1)
        off = end + 1 if self.void_at is None else min(end + 1, self.void_at)
        on = max(on, start)
        off = max(off, on)
        return bytes(on - start) + b"\x01" * (off - on) + bytes(end + 1 - off)

    def _follow(self, run: _Run, last: int) -> None:
        """Bet on trades count+1..last (none of them void the test), until it rejects."""
        b, scale, max_bet, threshold = self.bar, self.scale, self.max_bet, self.threshold
        count, log_wealth = self.count, self.log_wealth
        sum_pnl, sum_size, sum_pnl2, sum_pnl_size, sum_size2 = self.sums
        log1p = math.log1p
        two_b, b_b = 2.0 * b, b * b
        for pnl, size in zip(run.pnl[count:last], run.size[count:last]):
            if count > 0:
                numerator = (sum_pnl - b * sum_size) * scale
                # The bet is size * numerator / (a positive number): it is only placed
                # (and worth the arithmetic) when the numerator is positive.
                if numerator > 0.0:
                    mean_size = sum_size / count
                    second = sum_pnl2 - two_b * sum_pnl_size + b_b * sum_size2
                    if second < 0.0:
                        second = 0.0
                    bet = size * numerator / (second * scale * scale + mean_size * mean_size)
                    if bet > max_bet:
                        bet = max_bet
                    log_wealth += log1p(bet * (pnl / size - b) * scale)
                    if log_wealth >= threshold:
                        self.rejected_at = count + 1
                        break
            count += 1
            sum_pnl += pnl
            sum_size += size
            sum_pnl2 += pnl * pnl
            sum_pnl_size += pnl * size
            sum_size2 += size * size
        self.count, self.log_wealth = count, log_wealth
        self.sums = (sum_pnl, sum_size, sum_pnl2, sum_pnl_size, sum_size2)


class _WindowWins:
    """Fires after n >= lookback trades when the last ``lookback`` hold < ``least`` wins."""

    def __init__(self, lookback: int, least: int) -> None:
        self.lookback = lookback
        self.least = least

    def first(self, run: _Run, start: int, end: int) -> Optional[int]:
        n0 = max(start, self.lookback)
        if n0 > end:
            return None
        cum, k = run.cum_wins, self.lookback
        counts = map(sub, cum[n0 : end + 1], cum[n0 - k : end + 1 - k])
        i = bytes(map(lt, counts, repeat(self.least))).find(1)
        return None if i < 0 else n0 + i


class _WindowEv:
    """Fires after n >= lookback trades when the last ``lookback`` have EV/$ below a floor."""

    def __init__(self, lookback: int, floor: float) -> None:
        self.lookback = lookback
        self.floor = floor

    def first(self, run: _Run, start: int, end: int) -> Optional[int]:
        n0 = max(start, self.lookback)
        if n0 > end:
            return None
        cum_pnl, cum_size, k = run.cum_pnl, run.cum_size, self.lookback
        pnl = map(sub, cum_pnl[n0 : end + 1], cum_pnl[n0 - k : end + 1 - k])
        size = map(sub, cum_size[n0 : end + 1], cum_size[n0 - k : end + 1 - k])
        i = bytes(map(lt, map(truediv, pnl, size), repeat(self.floor))).find(1)
        return None if i < 0 else n0 + i


_BLOCK = 64  # trades a walk is screened by at a time


def _reflected_first(walk: List[Any], low: Any, threshold: Any) -> Tuple[Optional[int], Any]:
    """(first i with walk[i] - min(low, walk[:i + 1]) >= threshold, or None; the new low).

    ``walk[i] - running min`` is a reflected walk (Lindley's recursion): a CUSUM, or a
    drawdown below a peak. It is screened a block at a time: a block can only reach the
    threshold if its highest point is that far above the lowest point so far, which a
    block's max and min show cheaply; only such blocks are followed term by term.
    Rounding is monotone, so the screen never hides a term that reaches the threshold.
    """
    running = low
    for a in range(0, len(walk), _BLOCK):
        block = walk[a : a + _BLOCK]
        bottom = min(block)
        if max(block) - min(running, bottom) >= threshold:
            lows = list(accumulate(block, min, initial=running))
            del lows[0]
            i = bytes(map(ge, map(sub, block, lows), repeat(threshold))).find(1)
            if i >= 0:
                return a + i, min(running, bottom)
        if bottom < running:
            running = bottom
    return None, running


class _CusumScan:
    """Fires when the integer-score CUSUM on wins and losses reaches its threshold.

    ``S_n = max(0, S_{n-1} + step)`` equals ``X_n - min(0, X_1, ..., X_n)`` for the walk
    ``X`` of the steps (Lindley's recursion); the scores are integers
    (:class:`~quant_rollout.stats.BernoulliCusum`'s units), so the chart is followed
    exactly.
    """

    def __init__(self, win_units: int, loss_units: int, threshold: int) -> None:
        self.steps = (loss_units, -win_units)
        self.threshold = threshold
        self.walk = 0
        self.low = 0
        self.seen = 0

    def first(self, run: _Run, start: int, end: int) -> Optional[int]:
        steps = map(self.steps.__getitem__, run.wins[self.seen : end])
        walk = list(accumulate(steps, initial=self.walk))
        del walk[0]
        found = None
        if walk:
            i, self.low = _reflected_first(walk, self.low, self.threshold)
            found = None if i is None else self.seen + 1 + i
            self.walk = walk[-1]
        self.seen = end
        return found


class _StreakScan:
    """Fires after the first run of ``losses`` losses in a row."""

    def __init__(self, losses: int) -> None:
        self.losses = losses
        self.pattern = bytes(losses)

    def first(self, run: _Run, start: int, end: int) -> Optional[int]:
        i = run.wins.find(self.pattern, max(0, start - self.losses), end)
        return None if i < 0 else i + self.losses


class _DrawdownScan:
    """Fires when the stage's equity falls ``loss`` (money) or ``fraction`` below its peak.

    The equity is the running pnl from 0, as :class:`~quant_rollout.kill.MaxDrawdown`
    sums it; the peak includes the start.
    """

    def __init__(self, criterion: MaxDrawdown) -> None:
        self.loss = criterion.loss
        self.fraction = criterion.fraction
        self.capital = 0.0 if criterion.capital is None else float(criterion.capital)
        self.peak = 0.0

    def first(self, run: _Run, start: int, end: int) -> Optional[int]:
        equity = run.cum_pnl[start : end + 1]
        loss, fraction, capital = self.loss, self.fraction, self.capital
        peak = self.peak
        for a in range(0, len(equity), _BLOCK):
            block = equity[a : a + _BLOCK]
            top = max(peak, max(block))
            # No drawdown in the block exceeds top - min(block) (see _reflected_first).
            widest = top - min(block)
            if (loss is not None and widest >= loss) or (
                fraction is not None and widest / (capital + peak) >= fraction
            ):
                peaks = list(accumulate(block, max, initial=peak))
                del peaks[0]
                hits: List[int] = []
                if loss is not None:
                    drawdowns = map(sub, peaks, block)
                    i = bytes(map(ge, drawdowns, repeat(loss))).find(1)
                    if i >= 0:
                        hits.append(i)
                if fraction is not None:
                    tops = map(float.__add__, repeat(capital), peaks)
                    shares = map(truediv, map(sub, peaks, block), tops)
                    i = bytes(map(ge, shares, repeat(fraction))).find(1)
                    if i >= 0:
                        hits.append(i)
                if hits:
                    self.peak = top
                    return start + a + min(hits)
            peak = top
        self.peak = peak
        return None


class _DailyLossScan:
    """Fires when one day's trades lose ``loss`` in total, trades evenly spread in time.

    Trade n opens ``(n - 1) / trades_per_day`` days after the stage began, which was at
    midnight UTC, so trade n falls on day ``floor((n - 1) / trades_per_day)``.
    """

    def __init__(self, loss: float, trades_per_day: float) -> None:
        self.loss = loss
        self.pace = trades_per_day
        self.day = -1
        self.day_pnl = 0.0

    def first(self, run: _Run, start: int, end: int) -> Optional[int]:
        day, day_pnl, pace, loss = self.day, self.day_pnl, self.pace, self.loss
        found = None
        for n, pnl in zip(range(start, end + 1), run.pnl[start - 1 : end]):
            today = math.floor((n - 1) / pace)
            if today != day:
                day, day_pnl = today, 0.0
            day_pnl += pnl
            if -day_pnl >= loss:
                found = n
                break
        self.day, self.day_pnl = day, day_pnl
        return found


class _EvCusumScan:
    """The CUSUM on returns per dollar, ``S = max(0, S + reference - r)``, from trade ``skip + 1``.

    Followed as ``X - min(0, X)`` like :class:`_CusumScan`; in floating point this can
    differ from the recursion in the last bits, which can only matter at an exact tie
    with the threshold.
    """

    def __init__(
        self, reference: float, threshold: float, skip: int, payoff: Optional[Payoff] = None
    ) -> None:
        self.reference = reference
        self.threshold = threshold
        self.skip = skip
        self.walk = 0.0
        self.low = 0.0
        # Win-rate runs: each trade's step is one of two, computed as the chart would.
        self.by_outcome: Optional[Tuple[float, float]] = None
        if payoff is not None:
            size = float(payoff.size)
            loss, win = -payoff.loss * payoff.size, payoff.win * payoff.size
            self.by_outcome = (reference - loss / size, reference - win / size)

    def first(self, run: _Run, start: int, end: int) -> Optional[int]:
        first = max(start, self.skip + 1)
        if first > end:
            return None
        steps: Iterable[float]
        if self.by_outcome is not None:
            steps = map(self.by_outcome.__getitem__, run.wins[first - 1 : end])
        else:
            returns = map(truediv, run.pnl[first - 1 : end], run.size[first - 1 : end])
            steps = map(float.__sub__, repeat(self.reference), returns)
        walk = list(accumulate(steps, initial=self.walk))
        del walk[0]
        self.walk = walk[-1]
        i, self.low = _reflected_first(walk, self.low, self.threshold)
        return None if i is None else first + i


def _chunks(first: int, horizon: int) -> Iterable[Tuple[int, int]]:
    start, size = first, _FIRST_CHUNK
    while start <= horizon:
        end = min(horizon, start + size - 1)
        yield start, end
        start, size = end + 1, min(2 * size, _MAX_CHUNK)


class _Rule(Protocol):
    def time(self, run: _Run, horizon: int) -> Optional[int]:
        """Trades until the rule fires on this run, or None within the horizon."""


class _GateRule:
    """A gate on a run: passes at the first n where every criterion holds.

    ``lazy`` criteria (the EV betting test, a loop over trades) are only followed as
    far as the last trade at which all the cheap ones hold: a stage that never meets
    its win-rate bar needs no betting at all.
    """

    def __init__(
        self,
        passes_at_zero: bool,
        scans: Callable[[], Sequence[_GateScan]],
        lazy: Callable[[], Sequence[_GateScan]] = lambda: (),
    ) -> None:
        self.passes_at_zero = passes_at_zero
        self.scans = scans
        self.lazy = lazy

    def time(self, run: _Run, horizon: int) -> Optional[int]:
        if self.passes_at_zero:
            return 0
        scans, lazy = self.scans(), self.lazy()
        for start, end in _chunks(1, horizon):
            run.extend_to(end)
            ok = (1 << (8 * (end - start + 1))) - 1
            for scan in scans:
                ok &= int.from_bytes(scan.holds(run, start, end), "little")
                if not ok:
                    break
            if ok and lazy:
                last = start + (ok.bit_length() - 1) // 8
                for scan in lazy:
                    ok &= int.from_bytes(scan.holds(run, start, last), "little")
                    if not ok:
                        break
            if ok:
                return start + ((ok & -ok).bit_length() - 1) // 8
        return None


class _KillTables:
    """Several kill switches sharing criteria, on one run: each fires at its first criterion.

    Each distinct criterion is scanned once per chunk, and only while a switch that has
    it has not fired yet.
    """

    def __init__(
        self,
        tables: Sequence[Sequence[Hashable]],
        scans: Callable[[], Mapping[Hashable, _KillScan]],
    ) -> None:
        self.tables = tables
        self.scans = scans

    def times(self, run: _Run, horizon: int) -> List[Optional[int]]:
        scans = self.scans()
        fired: Dict[Hashable, int] = {}
        times: List[Optional[int]] = [None] * len(self.tables)
        pending = [i for i, keys in enumerate(self.tables) if keys]
        for start, end in _chunks(1, horizon):
            if not pending:
                break
            run.extend_to(end)
            for key in dict.fromkeys(k for i in pending for k in self.tables[i]):
                if key not in fired:
                    found = scans[key].first(run, start, end)
                    if found is not None:
                        fired[key] = found
            still = []
            for i in pending:
                hits = [fired[k] for k in self.tables[i] if k in fired]
                if hits:
                    times[i] = min(hits)
                else:
                    still.append(i)
            pending = still
        return times


def _seed_of(seed: int, label: str) -> int:
    digest = hashlib.sha256(f"quant-rollout plan/{seed}/{label}".encode()).digest()
    return int.from_bytes(digest[:8], "little") << 32


def _simulate(
    make_source: Callable[[], _Source],
    rule: Union[_Rule, _KillTables],
    horizon: int,
    paths: int,
    seed: int,
    label: str,
) -> List[List[Optional[int]]]:
    """Trades until the rule fires on each of ``paths`` runs: one list per kill table
    (a single list for a gate)."""
    base = _seed_of(seed, label)
    source = make_source()
    if isinstance(rule, _KillTables):
        out: List[List[Optional[int]]] = [[] for _ in rule.tables]
        for i in range(paths):
            for times, t in zip(out, rule.times(_Run(random.Random(base + i), source), horizon)):
                times.append(t)
        return out
    return [[rule.time(_Run(random.Random(base + i), source), horizon) for i in range(paths)]]


# ---------------------------------------------------------------------------------------
# What a configuration's rules are, in the model's terms
# ---------------------------------------------------------------------------------------


def _exact_sum(value: float, count: int) -> Fraction:
    return Fraction(value) * count


def _metrics_for(n: int, wins: int, payoff: Payoff) -> Metrics:
    """The metrics of n trades with ``wins`` wins under ``payoff``, as the rollout computes them.

    Sums are exactly rounded, as :class:`~quant_rollout.metrics.MetricsAccumulator`'s are.
    """
    if n == 0:
        return Metrics.empty()
    win_pnl = payoff.win * payoff.size
    loss_pnl = -payoff.loss * payoff.size
    total_pnl = float(_exact_sum(win_pnl, wins) + _exact_sum(loss_pnl, n - wins))
    total_size = float(_exact_sum(float(payoff.size), n))
    return Metrics(
        n=n,
        wins=wins,
        win_rate=wins / n,
        total_pnl=total_pnl,
        total_size=total_size,
        ev_per_dollar=total_pnl / total_size if total_size > 0 else 0.0,
    )


def _least_wins(horizon: int, holds: Callable[[int, int], bool]) -> List[int]:
    """For n = 0..horizon, the least wins w with holds(n, w) (n + 1 when none).

    ``holds`` must rise with w; the answer moves little from one n to the next, so the
    search starts from the previous one.
    """
    least: List[int] = []
    k = 0
    for n in range(horizon + 1):
        k = min(k, n + 1)
        while k > 0 and holds(n, k - 1):
            k -= 1
        while k <= n and not holds(n, k):
            k += 1
        least.append(k)
    return least


_SEED_GATE_FIELDS = frozenset(
    {"min_n", "min_win_rate", "min_ev_per_dollar", "min_total_pnl", "min_days_after_prev"}
)
_SEED_KILL_FIELDS = frozenset({"wr_lookback", "wr_threshold", "ev_lookback", "ev_threshold"})


def _criteria_text(gate: Gate) -> str:
    """``n>=50, win_rate>=0.6``; a confidence gate's tested criteria read ``win_rate>0.6``
    and the confidence follows, as in ``quant-rollout validate``."""
    confidence = _confidence(gate)
    parts = []
    for item in gate.progress(Metrics.empty(), days_since_prev=0.0):
        required = f"{int(item.required)}" if item.name == "n" else f"{item.required:.6g}"
        tested = confidence is not None and item.name in ("win_rate", "ev_per_dollar")
        parts.append(f"{item.name}{'>' if tested else '>='}{required}")
    text = ", ".join(parts)
    if confidence is not None:
        text += f" at {confidence * 100:g}% confidence"
    return text


def _confidence(gate: Gate) -> Optional[float]:
    value = getattr(gate, "confidence", None)
    return None if value is None else float(value)


def _passes(gate: Gate, metrics: Metrics) -> bool:
    """The gate's verdict on ``metrics`` with every day criterion met (days are counted apart)."""
    return gate.verdict(metrics, days_since_prev=math.inf) is GateVerdict.PASS


@dataclass(frozen=True)
class _GateModel:
    """A gate in the model's terms.

    ``counts`` is the gate without its EV betting test: a function of the stage's
    counts and sums, exact under a fixed payoff. ``betting`` is (bar, loss bound,
    confidence) of that test, which needs every trade in order (Monte Carlo).
    """

    gate: Gate
    text: str
    bar: Optional[float]
    ev_bar: Optional[float]
    min_days: float
    n_floor: int
    notes: Tuple[str, ...]
    counts: Gate
    betting: Optional[Tuple[float, float, float]]


def _gate_model(gate: Gate, payoff: Payoff, trades_per_day: Optional[float]) -> _GateModel:
    notes: List[str] = []
    n_floor = 0
    min_days = float(gate.min_days_after_prev)
    if min_days > 0:
        if trades_per_day is None:
            notes.append(
                f"min_days_after_prev={min_days:g} left out: give trades_per_day to count it"
            )
            min_days = 0.0
        else:
            n_floor = math.floor(min_days * trades_per_day + 1e-9)
    bars = []
    if gate.min_win_rate > 0:
        bars.append(gate.min_win_rate)
    if gate.min_ev_per_dollar is not None:
        bars.append(payoff.win_rate_for_ev(gate.min_ev_per_dollar))
    confidence = _confidence(gate)
    counts, betting = gate, None
    if confidence is not None and gate.min_ev_per_dollar is not None:
        loss_bound = float(gate.max_loss_per_dollar)
        betting = (float(gate.min_ev_per_dollar), loss_bound, confidence)
        counts = dataclasses.replace(gate, min_ev_per_dollar=None)
        if payoff.loss > loss_bound:
            notes.append(
                f"the payoff's loss ({payoff.loss:g} per dollar) is beyond max_loss_per_dollar="
                f"{loss_bound:g}: the EV test is void at the first loss, so the gate cannot pass"
            )
    if getattr(gate, "revert_if_cannot_pass", False):
        notes.append(
            "revert_if_cannot_pass is not modelled: P(advance) counts every pass as if "
            "a CANNOT_PASS verdict let the stage run on"
        )
    return _GateModel(
        gate=gate,
        text=_criteria_text(gate),
        bar=max(bars) if bars else None,
        ev_bar=gate.min_ev_per_dollar,
        min_days=min_days,
        n_floor=n_floor,
        notes=tuple(notes),
        counts=counts,
        betting=betting,
    )


def _gate_least_wins(model: _GateModel, payoff: Payoff, horizon: int) -> List[int]:
    """The least wins at each n for which the counts part passes, asked of the gate itself."""

    def holds(n: int, wins: int) -> bool:
        return n >= model.n_floor and _passes(model.counts, _metrics_for(n, wins, payoff))

    return _least_wins(horizon, holds)


def _win_rate_least_wins(gate: Gate, horizon: int) -> Optional[List[int]]:
    """A confidence gate's win-rate criterion alone, as least wins at each n (else None)."""
    confidence = _confidence(gate)
    if confidence is None or gate.min_win_rate <= 0:
        return None
    alone = Gate(min_win_rate=gate.min_win_rate, min_ev_per_dollar=None, confidence=confidence)
    return _least_wins(
        horizon,
        lambda n, wins: _passes(alone, Metrics(n, wins, wins / n if n else 0.0, 0.0, 0.0, 0.0)),
    )


def _window_least_wins(lookback: int, ok: Callable[[Metrics], bool], payoff: Payoff) -> int:
    """The least wins in a full window for which ``ok`` (not firing) holds."""
    for wins in range(lookback + 1):
        if ok(_metrics_for(lookback, wins, payoff)):
            return wins
    return lookback + 1


@dataclass(frozen=True)
class _KillModel:
    """The kill switch of one stage in the model's terms.

    Criteria whose levels come from what the stage proved at its gate are resolved for
    that stage; stages with equal models share one table.
    """

    text: Tuple[str, ...]
    tolerated: Optional[float]
    ev_tolerated: Optional[float]
    wr_window: Optional[Tuple[int, float]]
    ev_window: Optional[Tuple[int, float]]
    cusums: Tuple[Tuple[float, float, float], ...]  # (expected, unacceptable, threshold)
    streaks: Tuple[int, ...]
    drawdowns: Tuple[MaxDrawdown, ...]
    daily_losses: Tuple[float, ...]
    ev_cusums: Tuple[Tuple[EvPerDollarCusum, float], ...]  # (criterion, expected)
    notes: Tuple[str, ...]

    @property
    def exact(self) -> bool:
        """One chain criterion (a win-rate CUSUM or a streak) and nothing else."""
        others = (
            self.wr_window
            or self.ev_window
            or self.drawdowns
            or self.daily_losses
            or self.ev_cusums
        )
        return not others and len(self.cusums) + len(self.streaks) <= 1


_PROVED_AT_RUN_TIME = (
    "its expected level is what the stage proves when it passes its gate, known only "
    "then; set expected= in the configuration to plan it"
)


def _proved(gate_in: Optional[Gate], what: str) -> Tuple[Optional[float], str]:
    """The level a stage entered through ``gate_in`` proves at least, for planning."""
    if gate_in is None:
        return None, (
            "not run at a stage entered without a gate (stage 0, or promoted by hand): such "
            "a stage proves nothing"
        )
    confidence = _confidence(gate_in)
    if what == "win rate" and confidence is not None and gate_in.min_win_rate > 0:
        return float(gate_in.min_win_rate), ""
    if what == "EV" and confidence is not None and gate_in.min_ev_per_dollar is not None:
        return float(gate_in.min_ev_per_dollar), ""
    return None, _PROVED_AT_RUN_TIME


def _kill_model(
    kill: KillSwitch, gate_in: Optional[Gate], payoff: Payoff, trades_per_day: Optional[float]
) -> _KillModel:
    text: List[str] = []
    notes: List[str] = []
    tolerated: List[float] = []
    ev_tolerated: List[float] = []
    wr_window = ev_window = None
    if kill.wr_threshold is not None:
        wr_window = (kill.wr_lookback, float(kill.wr_threshold))
        text.append(f"win_rate({kill.wr_lookback}) < {kill.wr_threshold:.6g}")
        tolerated.append(float(kill.wr_threshold))
    if kill.ev_threshold is not None:
        ev_window = (kill.ev_lookback, float(kill.ev_threshold))
        text.append(f"ev_per_dollar({kill.ev_lookback}) < {kill.ev_threshold:.6g}")
        tolerated.append(payoff.win_rate_for_ev(kill.ev_threshold))
        ev_tolerated.append(float(kill.ev_threshold))
    left_out: Dict[str, List[str]] = {}  # why -> criteria
    cusums: List[Tuple[float, float, float]] = []
    streaks: List[int] = []
    drawdowns: List[MaxDrawdown] = []
    daily: List[float] = []
    ev_cusums: List[Tuple[EvPerDollarCusum, float]] = []
    for c in kill.criteria:
        if isinstance(c, WinRateCusum):
            expected = c.expected
            if expected is None:
                expected, why = _proved(gate_in, "win rate")
                if expected is None:
                    left_out.setdefault(why, []).append("win_rate_cusum")
                    continue
                notes.append(
                    f"win_rate_cusum planned at expected {expected:.3f}, the bar of the gate "
                    "into the stage: the least it proves (the real level is its lower bound "
                    "when it passes)"
                )
            if expected <= c.unacceptable:
                notes.append(
                    f"win_rate_cusum does not run: expected {expected:.3f} is not above the "
                    f"unacceptable {c.unacceptable:.3f}"
                )
                continue
            h = c.threshold(expected)
            cusums.append((float(expected), float(c.unacceptable), h))
            text.append(
                f"win_rate_cusum(expected {expected:.3f}, unacceptable {c.unacceptable:.3f}, "
                f"{c.target.text()})"
            )
            tolerated.append(float(expected))
        elif isinstance(c, MaxConsecutiveLosses):
            streaks.append(c.losses)
            text.append(f"{c.losses} losses in a row")
        elif isinstance(c, MaxDrawdown):
            drawdowns.append(c)
            limits = []
            if c.loss is not None:
                limits.append(f"{c.loss:,.6g}")
            if c.fraction is not None:
                limits.append(f"{c.fraction:.1%} of peak equity")
            text.append(f"drawdown >= {' or '.join(limits)}")
        elif isinstance(c, MaxDailyLoss):
            if trades_per_day is None:
                notes.append(f"max_daily_loss={c.loss:g} left out: give trades_per_day to count it")
                continue
            daily.append(float(c.loss))
            text.append(f"daily loss >= {c.loss:,.6g}")
        elif isinstance(c, EvPerDollarCusum):
            expected = c.expected
            if expected is None:
                expected, why = _proved(gate_in, "EV")
                if expected is None:
                    left_out.setdefault(why, []).append("ev_per_dollar_cusum")
                    continue
                notes.append(
                    f"ev_per_dollar_cusum planned at expected {expected:+.4f}, the EV bar of "
                    "the gate into the stage: the least it proves"
                )
            if expected <= c.unacceptable:
                notes.append(
                    f"ev_per_dollar_cusum does not run: expected {expected:+.4f} is not above "
                    f"the unacceptable {c.unacceptable:+.4f}"
                )
                continue
            if c.sample_returns is None:
                notes.append(
                    f"ev_per_dollar_cusum calibrates on each stage's first {c.calibration_trades} "
                    "trades, during which it does not run; planned with the design that trades "
                    "at its expected level give"
                )
            ev_cusums.append((c, float(expected)))
            tolerated.append(payoff.win_rate_for_ev(expected))
            text.append(
                f"ev_per_dollar_cusum(expected {expected:+.4f}, unacceptable "
                f"{c.unacceptable:+.4f}, {c.target.text()})"
            )
            ev_tolerated.append(float(expected))
        else:
            notes.append(
                f"{criterion_name(c)} left out: the planner models the built-in criteria only"
            )
    for why, names in left_out.items():
        notes.insert(0, f"{' and '.join(names)} left out: {why}")
    return _KillModel(
        text=tuple(text),
        tolerated=max(tolerated) if tolerated else None,
        ev_tolerated=max(ev_tolerated) if ev_tolerated else None,
        wr_window=wr_window,
        ev_window=ev_window,
        cusums=tuple(cusums),
        streaks=tuple(streaks),
        drawdowns=tuple(drawdowns),
        daily_losses=tuple(daily),
        ev_cusums=tuple(ev_cusums),
        notes=tuple(dict.fromkeys(notes)),
    )


# ---------------------------------------------------------------------------------------
# plan
# ---------------------------------------------------------------------------------------

ConfigLike = Union["Rollout", RolloutConfig, Any]


def _resolve(obj: object) -> Tuple[RolloutConfig, str]:
    """The configuration to plan and how the report names it.

    A configuration file is read by the caller (the CLI, or
    ``quant_rollout.tools.config.as_rollout_config``): the planner sits below the tools
    and does no I/O. A ``LoadedConfig`` is recognised by its ``rollout_config``.
    """
    from ..rollout import Rollout

    if isinstance(obj, Rollout):
        return obj.config, "rollout"
    if isinstance(obj, RolloutConfig):
        return obj, "rollout configuration"
    loaded = getattr(obj, "rollout_config", None)
    if isinstance(loaded, RolloutConfig):
        source = getattr(obj, "source", None)
        return loaded, str(source) if source else "configuration"
    if isinstance(obj, (str, os.PathLike)):
        raise ConfigError(
            f"plan() takes a configuration, not a file name ({os.fspath(obj)!r}); read it "
            "first: plan(quant_rollout.tools.config.load_config(path))"
        )
    raise ConfigError(
        f"plan() takes a Rollout, a RolloutConfig or a LoadedConfig, got {_excerpt(obj)}"
    )


def _excerpt(obj: object) -> str:
    text = repr(obj)
    return text if len(text) <= 60 else text[:57] + "..."


def _levels(name: str, values: Sequence[float], low: float, high: float) -> Tuple[float, ...]:
    if isinstance(values, (str, bytes)):
        raise ConfigError(f"{name} must be a sequence of numbers, got {values!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= v <= high:
            raise ConfigError(f"{name} must hold numbers from {low} to {high}, got {v!r}")
        out.append(float(v))
    if not out:
        raise ConfigError(f"{name} must hold at least one level, got {values!r}")
    return tuple(out)


def _whole(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


def plan(
    rollout_or_config: ConfigLike,
    *,
    win_rates: Sequence[float] = DEFAULT_WIN_RATES,
    horizon: int = DEFAULT_HORIZON,
    trades_per_day: Optional[float] = None,
    trades: Optional[Iterable[object]] = None,
    ev_levels: Optional[Sequence[float]] = None,
    payoff: Optional[Payoff] = None,
    drop_to: Optional[float] = None,
    paths: int = DEFAULT_PATHS,
    seed: int = 0,
) -> PlanReport:
    """What a rollout configuration will do: every gate and the kill switch, level by level.

    See the module documentation for the model and the methods.

    Args:
        rollout_or_config: a :class:`~quant_rollout.Rollout`, a ``RolloutConfig`` or a
            ``LoadedConfig`` (read a file with
            ``quant_rollout.tools.config.load_config`` first).
        win_rates: the true win rates to plan for, fractions 0–1.
        horizon: trades of each stage to follow, >= 1.
        trades_per_day: the trading pace, > 0, to show days and count
            ``min_days_after_prev``; None leaves both out.
        trades: a trade history (``TradeOutcome`` or mappings): the payoff is taken
            from it, and EV rows are planned by bootstrap.
        ev_levels: the true EV levels (per dollar) for the EV rows; default
            ``DEFAULT_EV_LEVELS``. Needs ``trades``.
        payoff: the payoff model of the win-rate rows (default: from ``trades``, else
            even money, +1/-1 per dollar of a $1 stake).
        drop_to: a win rate to plan the kill switch's detection delay for, besides the
            rows (and the unacceptable level of a sequential criterion).
        paths: Monte Carlo runs per row, >= 100.
        seed: the Monte Carlo seed; the same seed gives the same report.

    Returns:
        A :class:`PlanReport`; print it with :func:`format_plan`.

    Raises:
        ConfigError: an argument out of range, or an invalid configuration (or a file
            name given instead of one).
        InvalidTradeError: a trade cannot be read.
    """
    config, source = _resolve(rollout_or_config)
    rates = _levels("win_rates", win_rates, 0.0, 1.0)
    horizon_ = _whole("horizon", horizon, 1)
    paths_ = _whole("paths", paths, 100)
    seed_ = _whole("seed", seed, 0)
    tpd: Optional[float] = None
    if trades_per_day is not None:
        if isinstance(trades_per_day, bool) or not isinstance(trades_per_day, (int, float)):
            raise ConfigError(f"trades_per_day must be a number, got {trades_per_day!r}")
        if not (math.isfinite(trades_per_day) and trades_per_day > 0):
            raise ConfigError(f"trades_per_day must be > 0, got {trades_per_day!r}")
        tpd = float(trades_per_day)
    drop: Optional[float] = None
    if drop_to is not None:
        drop = _levels("drop_to", [drop_to], 0.0, 1.0)[0]
    history = None if trades is None else [as_trade(t, i) for i, t in enumerate(trades)]
    if ev_levels is not None and history is None:
        raise ConfigError("ev_levels needs trades: the EV rows resample a trade history")
    sample: Optional[Tuple[List[float], List[float]]] = None
    described: Optional[str] = None
    evs: Tuple[float, ...] = ()
    if history is not None:
        usable = [t for t in history if t.size > 0]
        if len(usable) < 2:
            raise ConfigError(
                f"trades: need at least 2 trades of size > 0 to resample, got {len(usable)}"
            )
        sample = ([t.pnl / t.size for t in usable], [float(t.size) for t in usable])
        evs = _levels("ev_levels", DEFAULT_EV_LEVELS if ev_levels is None else ev_levels, -1e9, 1e9)
        wins = sum(1 for t in usable if t.pnl > 0)
        ev = math.fsum(t.pnl for t in usable) / math.fsum(t.size for t in usable)
        described = f"{len(usable)} trades: win rate {wins / len(usable):.3f}, EV/$ {ev:.4f}" + (
            f" ({len(history) - len(usable)} of size 0 left out)"
            if len(usable) < len(history)
            else ""
        )
    if payoff is None:
        payoff = Payoff() if history is None else Payoff.from_trades(history, "the trades")
    elif not isinstance(payoff, Payoff):
        raise ConfigError(f"payoff must be a Payoff, got {payoff!r}")

    planner = _Planner(config, payoff, horizon_, tpd, paths_, seed_, sample)
    transitions = tuple(
        planner.transition(a, b, rates, evs) for a, b in zip(config.stages, config.stages[1:])
    )
    kills = planner.kills(rates, evs, drop)
    return PlanReport(
        source=source,
        horizon=horizon_,
        trades_per_day=tpd,
        payoff=payoff,
        paths=paths_,
        seed=seed_,
        win_rates=rates,
        ev_levels=evs,
        trades=described,
        transitions=transitions,
        kills=kills,
    )


class _Planner:
    def __init__(
        self,
        config: RolloutConfig,
        payoff: Payoff,
        horizon: int,
        trades_per_day: Optional[float],
        paths: int,
        seed: int,
        sample: Optional[Tuple[List[float], List[float]]],
    ) -> None:
        self.config = config
        self.payoff = payoff
        self.horizon = horizon
        self.tpd = trades_per_day
        self.paths = paths
        self.seed = seed
        self.sample = sample

    # -- gates

    def transition(
        self, before: Stage, after: Stage, rates: Sequence[float], evs: Sequence[float]
    ) -> GatePlan:
        gate = after.gate
        if gate is None:
            return GatePlan(before.label, after.label, None, None, None, (), (), ())
        model = _gate_model(gate, self.payoff, self.tpd)
        least = _gate_least_wins(model, self.payoff, self.horizon)
        betting = model.betting

        def count_scans() -> Sequence[_GateScan]:
            return (_LeastWins(least),)

        def betting_scans() -> Sequence[_GateScan]:
            return () if betting is None else (_BettingScan(*betting, _MAX_BET),)

        rows = []
        for p in rates:
            false_alarm = model.bar is not None and p <= model.bar
            if betting is None:
                cdf, dropped = _first_passage(p, least, self.horizon)
                rows.append(
                    _row(
                        cdf,
                        level=p,
                        measure="win_rate",
                        method=_EXACT,
                        false_alarm=false_alarm,
                        paths=None,
                        error_bound=dropped,
                        trades_per_day=self.tpd,
                        min_days=model.min_days,
                    )
                )
                continue
            rows.append(
                self._monte_carlo_row(
                    _GateRule(False, count_scans, betting_scans),
                    p,
                    f"gate {after.num} win rate {p!r}",
                    false_alarm=false_alarm,
                    measure="win_rate",
                    min_days=model.min_days,
                    source=self._bernoulli(p, sums=False, trades=True),
                )
            )
        ev_rows = []
        if self.sample is not None:
            passes_at_zero = (
                betting is None and model.n_floor == 0 and _passes(model.counts, Metrics.empty())
            )
            win_least = _win_rate_least_wins(gate, self.horizon)

            def float_scans() -> Sequence[_GateScan]:
                return (_FloatCriteria(gate, model.n_floor, win_least),)

            rule = _GateRule(passes_at_zero, float_scans, betting_scans)
            for ev in evs:
                ev_rows.append(
                    self._monte_carlo_row(
                        rule,
                        ev,
                        f"gate {after.num} ev {ev!r}",
                        false_alarm=model.ev_bar is not None and ev <= model.ev_bar,
                        min_days=model.min_days,
                    )
                )
        return GatePlan(
            from_stage=before.label,
            to_stage=after.label,
            gate=model.text,
            bar=model.bar,
            ev_bar=model.ev_bar,
            rows=tuple(rows),
            ev_rows=tuple(ev_rows),
            notes=model.notes,
        )

    def _bernoulli(self, p: float, *, sums: bool, trades: bool) -> Callable[[], _Source]:
        payoff = self.payoff

        def source() -> _Source:
            return _Bernoulli(p, payoff, sums=sums, trades=trades)

        return source

    def _monte_carlo_row(
        self,
        rule: _Rule,
        level: float,
        label: str,
        *,
        false_alarm: bool,
        measure: str = "ev_per_dollar",
        min_days: float = 0.0,
        source: Optional[Callable[[], _Source]] = None,
    ) -> PlanRow:
        if source is None:
            assert self.sample is not None
            returns, sizes = self.sample

            def source() -> _Source:
                return _Bootstrap(returns, sizes, level)

        (times,) = _simulate(source, rule, self.horizon, self.paths, self.seed, label)
        return _row(
            _cdf_from_times(times, self.horizon),
            level=level,
            measure=measure,
            method=_MONTE_CARLO,
            false_alarm=false_alarm,
            paths=self.paths,
            error_bound=0.0,
            trades_per_day=self.tpd,
            min_days=min_days,
        )

    # -- the kill switch

    def kills(
        self, rates: Sequence[float], evs: Sequence[float], drop: Optional[float]
    ) -> Tuple[KillPlan, ...]:
        """One plan per distinct kill model; stages whose models are equal share one.

        The Monte Carlo tables of a level share their runs, and a criterion they share
        is followed once.
        """
        groups: Dict[_KillModel, List[str]] = {}
        for i, stage in enumerate(self.config.stages):
            gate_in = None if i == 0 else stage.gate
            model = _kill_model(self.config.kill_switch, gate_in, self.payoff, self.tpd)
            groups.setdefault(model, []).append(stage.label)
        models = list(groups)
        keyed = [self._kill_keys(m) for m in models]
        sums = any(m.drawdowns for m in models)
        trades = self.tpd is not None and any(m.daily_losses for m in models)
        simulated = [i for i, m in enumerate(models) if not m.exact and m.text]

        def win_rate_rows(levels: Sequence[float]) -> Dict[float, List[PlanRow]]:
            rows: Dict[float, List[PlanRow]] = {}
            for p in levels:
                cdfs: Dict[int, List[float]] = {}
                method: Dict[int, str] = {}
                for i, m in enumerate(models):
                    if i not in simulated:
                        cdfs[i], method[i] = self._exact_kill_cdf(m, p), _EXACT
                if simulated:
                    scans = {k: v for i in simulated for k, v in keyed[i][0].items()}
                    rule = _KillTables([list(keyed[i][0]) for i in simulated], _fresh(scans))
                    found = _simulate(
                        self._bernoulli(p, sums=sums, trades=trades),
                        rule,
                        self.horizon,
                        self.paths,
                        self.seed,
                        f"kill win rate {p!r}",
                    )
                    for i, times in zip(simulated, found):
                        cdfs[i], method[i] = _cdf_from_times(times, self.horizon), _MONTE_CARLO
                rows[p] = [
                    self._kill_row(cdfs[i], p, "win_rate", method[i], m.tolerated)
                    for i, m in enumerate(models)
                ]
            return rows

        by_rate = win_rate_rows(rates)
        drops = [] if drop is None else [drop]
        for m in models:
            drops += [unacceptable for _, unacceptable, _ in m.cusums]
        by_drop = win_rate_rows([d for d in dict.fromkeys(drops) if d not in rates])
        by_ev: Dict[float, List[PlanRow]] = {}
        if self.sample is not None:
            live = [i for i, m in enumerate(models) if m.text]
            scans = {k: v for i in live for k, v in keyed[i][1].items()}
            returns, sizes = self.sample
            for ev in evs:
                rule = _KillTables([list(keyed[i][1]) for i in live], _fresh(scans))
                found = _simulate(
                    functools.partial(_Bootstrap, returns, sizes, ev),
                    rule,
                    self.horizon,
                    self.paths,
                    self.seed,
                    f"kill ev {ev!r}",
                )
                cdf_of = dict(zip(live, (_cdf_from_times(t, self.horizon) for t in found)))
                never = [0.0] * (self.horizon + 1)
                by_ev[ev] = [
                    self._kill_row(
                        cdf_of.get(i, never),
                        ev,
                        "ev_per_dollar",
                        _MONTE_CARLO if i in cdf_of else _EXACT,
                        m.ev_tolerated,
                    )
                    for i, m in enumerate(models)
                ]
        plans = []
        for i, m in enumerate(models):
            plans.append(
                KillPlan(
                    stages=tuple(groups[m]),
                    kill_switch=" or ".join(m.text) if m.text else None,
                    tolerated=m.tolerated,
                    ev_tolerated=m.ev_tolerated,
                    rows=tuple(by_rate[p][i] for p in rates),
                    detection=tuple(
                        by_drop[d][i]
                        for d in by_drop
                        if d == drop or d in [u for _, u, _ in m.cusums]
                    ),
                    ev_rows=tuple(by_ev[ev][i] for ev in by_ev) if m.text else (),
                    notes=m.notes,
                )
            )
        return tuple(plans)

    def _kill_row(
        self, cdf: List[float], level: float, measure: str, method: str, tolerated: Optional[float]
    ) -> PlanRow:
        return _row(
            cdf,
            level=level,
            measure=measure,
            method=method,
            false_alarm=tolerated is not None and level >= tolerated,
            paths=self.paths,
            error_bound=0.0,
            trades_per_day=self.tpd,
        )

    def _exact_kill_cdf(self, model: _KillModel, p: float) -> List[float]:
        if model.cusums:
            return _chain_alarm_cdf(p, *_chart_units(*model.cusums[0]), horizon=self.horizon)
        if model.streaks:
            k = model.streaks[0]
            return _chain_alarm_cdf(p, k, 1, k, self.horizon)
        return [0.0] * (self.horizon + 1)

    def _kill_keys(
        self, model: _KillModel
    ) -> Tuple[Dict[Hashable, Callable[[], _KillScan]], Dict[Hashable, Callable[[], _KillScan]]]:
        """The model's criteria as scans, keyed so that tables can share them.

        The first map is for win-rate runs (money windows as win counts under the
        payoff), the second for bootstrap runs.
        """
        payoff = self.payoff
        rate: Dict[Hashable, Callable[[], _KillScan]] = {}
        boot: Dict[Hashable, Callable[[], _KillScan]] = {}
        if model.wr_window is not None:
            lookback, threshold = model.wr_window
            least = _window_least_wins(lookback, lambda m: not m.win_rate < threshold, payoff)
            rate[("wins", lookback, least)] = boot[("wins", lookback, least)] = functools.partial(
                _WindowWins, lookback, least
            )
        if model.ev_window is not None:
            lookback, floor = model.ev_window
            least = _window_least_wins(lookback, lambda m: not m.ev_per_dollar < floor, payoff)
            rate[("wins", lookback, least)] = functools.partial(_WindowWins, lookback, least)
            boot[("ev", lookback, floor)] = functools.partial(_WindowEv, lookback, floor)
        for chart in model.cusums:
            units = _chart_units(*chart)
            rate[("cusum", units)] = boot[("cusum", units)] = functools.partial(_CusumScan, *units)
        for k in model.streaks:
            rate[("streak", k)] = boot[("streak", k)] = functools.partial(_StreakScan, k)
        for drawdown in model.drawdowns:
            key: Hashable = ("drawdown", drawdown)
            rate[key] = boot[key] = functools.partial(_DrawdownScan, drawdown)
        if self.tpd is not None:
            for loss in model.daily_losses:
                key = ("daily", loss)
                rate[key] = boot[key] = functools.partial(_DailyLossScan, loss, self.tpd)
        for criterion, expected in model.ev_cusums:
            design = self._ev_cusum_design(criterion, expected, rows="win_rate")
            if design is not None:
                rate[("ev_cusum", design)] = functools.partial(_EvCusumScan, *design, payoff)
            design = self._ev_cusum_design(criterion, expected, rows="ev_per_dollar")
            if design is not None:
                boot[("ev_cusum", design)] = functools.partial(_EvCusumScan, *design)
        return rate, boot

    def _ev_cusum_design(
        self, criterion: EvPerDollarCusum, expected: float, rows: str
    ) -> Optional[Tuple[float, float, int]]:
        """(reference, threshold, trades before the chart runs), or None if it never runs.

        A chart that calibrates on the stage's first trades is designed once, from a
        sample like the trades it would see at its expected level: the payoff's two
        returns in the expected proportion for win-rate rows, the trade history for EV
        rows (the bootstrap shifts the sample to the expected level either way).
        """
        if criterion.sample_returns is not None:
            reference, threshold = criterion.design(criterion.sample_returns, expected)
            return reference, threshold, 0
        count = criterion.calibration_trades
        if rows == "win_rate":
            wins = round(self.payoff.win_rate_for_ev(expected) * count)
            sample = [self.payoff.win] * wins + [-self.payoff.loss] * (count - wins)
        else:
            if self.sample is None:
                return None
            sample = list(self.sample[0])
        if len(set(sample)) < 2:
            return None
        reference, threshold = criterion.design(sample, expected)
        return reference, threshold, count


def _fresh(
    factories: Mapping[Hashable, Callable[[], _KillScan]],
) -> Callable[[], Mapping[Hashable, _KillScan]]:
    """A function giving fresh scans (their state is per run) for every criterion."""

    def make() -> Mapping[Hashable, _KillScan]:
        return {key: factory() for key, factory in factories.items()}

    return make


def _chart_units(expected: float, unacceptable: float, h: float) -> Tuple[int, int, int]:
    """(win units, loss units, threshold units) of the chart a WinRateCusum runs."""
    chart = BernoulliCusum(expected, unacceptable, h)
    return chart.scores.win_units, chart.scores.loss_units, chart.threshold_units


# ---------------------------------------------------------------------------------------
# format_plan
# ---------------------------------------------------------------------------------------


def format_plan(report: PlanReport) -> str:
    """The report as text: a header, a table per stage transition and per kill switch plan.

    Lines are at most 100 characters. Each row names its method: ``exact`` (dynamic
    programming) or ``MC`` (Monte Carlo, its figures ``±`` one standard error). A ``*``
    marks the levels where the rule firing is an error (a false advance, a false kill).
    """
    horizon = report.horizon
    out = [f"plan: {report.source}, each stage followed for {horizon:,} trades"]
    out += _wrap(f"payoff: {report.payoff.describe()}", indent="  ")
    if report.trades is not None:
        out += _wrap(f"EV rows: bootstrap of {report.trades}", indent="  ")
    if report.trades_per_day is not None:
        out.append(f"pace: {report.trades_per_day:g} trades a day")
    methods = "exact = dynamic programming"
    if any(r.method == _MONTE_CARLO for r in _all_rows(report)):
        methods += (
            f"; MC = Monte Carlo, {report.paths:,} runs (seed {report.seed}), ± one standard error"
        )
    out += _wrap(f"methods: {methods}", indent="  ")
    for t in report.transitions:
        out.append("")
        title = f"gate {t.from_stage} -> {t.to_stage}: "
        if t.gate is None:
            out.append(title + "none (reached only by promote)")
            continue
        out += _wrap(title + t.gate, indent="  ")
        out += _table(t.rows, "P(advance)", report)
        if t.bar is not None and any(r.false_alarm for r in t.rows):
            out += _wrap(
                f"* at or below the bar (win rate {t.bar:.3f}): an advance there is false",
                first="  ",
                indent="    ",
            )
        if t.ev_rows:
            out += _table(t.ev_rows, "P(advance)", report)
            if t.ev_bar is not None and any(r.false_alarm for r in t.ev_rows):
                out.append(f"  * at or below the EV/$ floor {t.ev_bar:+.4f}")
        for note in t.notes:
            out += _wrap(f"note: {note}", first="  ", indent="    ")
    every = len(report.kills) == 1
    for k in report.kills:
        out.append("")
        where = "at every stage" if every else "at stage" + ("s" if len(k.stages) > 1 else "")
        if not every:
            where += " " + ", ".join(k.stages)
        if k.kill_switch is None:
            out += _wrap(f"kill switch {where}: no criterion runs", indent="  ")
        else:
            out += _wrap(f"kill switch {where}: {k.kill_switch}", indent="  ")
            out += _table(k.rows + k.detection, "P(kill)", report)
            if k.tolerated is not None and any(r.false_alarm for r in k.rows + k.detection):
                out += _wrap(
                    f"* at or above win rate {k.tolerated:.3f}, where every criterion is met "
                    "on average: a kill there is false",
                    first="  ",
                    indent="    ",
                )
            if k.ev_rows:
                out += _table(k.ev_rows, "P(kill)", report)
                if k.ev_tolerated is not None and any(r.false_alarm for r in k.ev_rows):
                    out.append(f"  * at or above EV/$ {k.ev_tolerated:+.4f}")
        for note in k.notes:
            out += _wrap(f"note: {note}", first="  ", indent="    ")
    return "\n".join(out)


_WIDTH = 100


def _wrap(text: str, *, indent: str = "", first: str = "") -> List[str]:
    return textwrap.wrap(
        text,
        width=_WIDTH,
        initial_indent=first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _all_rows(report: PlanReport) -> List[PlanRow]:
    rows: List[PlanRow] = []
    for t in report.transitions:
        rows += [*t.rows, *t.ev_rows]
    for k in report.kills:
        rows += [*k.rows, *k.detection, *k.ev_rows]
    return rows


def _percent(p: float) -> str:
    if p <= 0.0:
        return "0%"
    if p >= 1.0:
        return "100%"
    if p < 0.0001:
        return "<0.01%"
    if p > 0.9999:
        return ">99.99%"
    if p < 0.001 or p > 0.999:
        return f"{100 * p:.2f}%"
    return f"{100 * p:.1f}%"


def _trades(n: Optional[int], se: Optional[float], horizon: int) -> str:
    if n is None:
        return f">{horizon}"
    if not se:
        return f"{n}"
    return f"{n} ±{se:.0f}" if se >= 10 else f"{n} ±{se:.1f}"


def _days(d: Optional[float], n: Optional[int], horizon: int, pace: Optional[float]) -> str:
    if d is None:
        return f">{horizon / pace:.1f}" if n is None and pace else "-"
    return f"{d:.1f}"


def _level(row: PlanRow) -> str:
    text = f"{row.level:.2f}" if row.measure == "win_rate" else f"{row.level:+.3f}"
    if row.measure == "win_rate" and round(row.level, 2) != row.level:
        text = f"{row.level:.4g}"
    return text + (" *" if row.false_alarm else "  ")


def _table(rows: Sequence[PlanRow], event: str, report: PlanReport) -> List[str]:
    if not rows:
        return []
    horizon, pace = report.horizon, report.trades_per_day
    measure = "win rate" if rows[0].measure == "win_rate" else "EV/$"
    heads = [measure, f"{event} by {horizon}", "median trades", "90% trades"]
    if any(r.mean_trades is not None for r in rows) and event == "P(kill)":
        heads.append("mean")
    if pace is not None:
        heads += ["median days", "90% days"]
    heads.append("method")
    body = []
    for r in rows:
        se = r.probability_se
        cells = [
            _level(r),
            _percent(r.probability) + (f" ±{100 * se:.2f}" if se else ""),
            _trades(r.median_trades, r.median_se, horizon),
            _trades(r.p90_trades, r.p90_se, horizon),
        ]
        if "mean" in heads:
            cells.append("-" if r.mean_trades is None else f"{r.mean_trades:.1f}")
        if pace is not None:
            cells.append(_days(r.median_days, r.median_trades, horizon, pace))
            cells.append(_days(r.p90_days, r.p90_trades, horizon, pace))
        cells.append("exact" if r.method == _EXACT else "MC")
        body.append(cells)
    widths = [max(len(h), *(len(c[i]) for c in body)) for i, h in enumerate(heads)]
    lines = ["  " + "  ".join(h.rjust(w) for h, w in zip(heads, widths)).rstrip()]
    for cells in body:
        lines.append("  " + "  ".join(c.rjust(w) for c, w in zip(cells, widths)).rstrip())
    return lines
