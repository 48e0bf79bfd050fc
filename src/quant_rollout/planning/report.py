"""What :func:`~quant_rollout.planning.plan` returns, and how a row sums up a distribution."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .payoff import Payoff

__all__ = [
    "EXACT",
    "MONTE_CARLO",
    "GatePlan",
    "KillPlan",
    "PlanReport",
    "PlanRow",
    "cdf_from_times",
    "format_share",
    "make_row",
]

EXACT = "exact"
MONTE_CARLO = "monte_carlo"

# Quantile levels reported, and the share of runs that must end within the horizon
# before a mean is shown (the mean of the runs cut off at the horizon is biased low).
_MEDIAN, _P90 = 0.5, 0.9
_MEAN_NEEDS = 0.99
_Z95 = 1.959963984540054
# An EV per dollar this close to 0 is break-even (it comes from a win rate and back).
_MONEY_TOLERANCE = 1e-9


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
        ev_per_dollar: a kill switch's win-rate row: the EV per dollar its level makes
            under the plan's payoff (what the level means in money); else None.
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
    ev_per_dollar: Optional[float] = None

    @property
    def losing(self) -> Optional[bool]:
        """True when the row's level loses money (EV per dollar at or below 0), None
        when unknown."""
        ev = self.level if self.measure == "ev_per_dollar" else self.ev_per_dollar
        return None if ev is None else ev <= _MONEY_TOLERANCE

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
            (reached by promote, or by an experiment's winner; then there are no rows).
        bar: the gate's bar as a win rate: the least true win rate whose expected
            results meet every criterion (None when no criterion sets one). Passing at
            or below it is a false advance.
        ev_bar: the same in EV per dollar, for the EV rows (None when no EV floor).
        rows: one row per true win rate.
        ev_rows: one row per true EV level (only given a trade history).
        notes: what was left out of the model, and why.
        experiment: when ``from_stage`` runs an experiment, what decides the move
            (its arms, weights, metric and confidence); None otherwise.
    """

    from_stage: str
    to_stage: str
    gate: Optional[str]
    bar: Optional[float]
    ev_bar: Optional[float]
    rows: Tuple[PlanRow, ...]
    ev_rows: Tuple[PlanRow, ...]
    notes: Tuple[str, ...]
    experiment: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        """The transition as JSON-ready data."""
        return {
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "gate": self.gate,
            "experiment": self.experiment,
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
        money: rows at the levels that matter in money and are not among the others:
            break-even (EV per dollar 0 under the payoff), each criterion's level where
            its false kills are stated, and halfway to the level it must catch.
        break_even: the win rate at which the payoff's EV per dollar is 0 (a row there
            is in ``rows``, ``detection`` or ``money``).
        purposes: what the criteria say they protect against (:class:`~quant_rollout.Protect`).
    """

    stages: Tuple[str, ...]
    kill_switch: Optional[str]
    tolerated: Optional[float]
    ev_tolerated: Optional[float]
    rows: Tuple[PlanRow, ...]
    detection: Tuple[PlanRow, ...]
    ev_rows: Tuple[PlanRow, ...]
    notes: Tuple[str, ...]
    money: Tuple[PlanRow, ...] = ()
    break_even: Optional[float] = None
    purposes: Tuple[str, ...] = ()

    def money_rows(self) -> Tuple[PlanRow, ...]:
        """Every win-rate row (``rows``, ``detection``, ``money``), once each, by level."""
        by_level = {r.level: r for r in self.rows + self.detection + self.money}
        return tuple(by_level[level] for level in sorted(by_level))

    def protection(self, horizon: int) -> Optional[str]:
        """What the kill switch does for the trader's money, in one sentence.

        The losing side is read at break-even: for every built-in criterion the chance
        to kill is non-increasing in the true win rate (raise one trade's return and no
        chart, drawdown or window can get closer to firing: a coupling argument), so a
        losing stage is killed at least as often, and sooner. The profitable side lists
        the planned profitable levels. None when no criterion runs or no row is at
        break-even.
        """
        if self.kill_switch is None or self.break_even is None:
            return None
        rows = self.money_rows()
        at_zero = [r for r in rows if abs(r.level - self.break_even) < 1e-9]
        if not at_zero:
            return None
        zero = at_zero[0]
        median = f"{zero.median_trades:,}" if zero.median_trades is not None else f">{horizon:,}"
        p90 = f"{zero.p90_trades:,}" if zero.p90_trades is not None else f">{horizon:,}"
        said = (
            f"a losing stage (EV/$ <= 0, win rate <= {self.break_even:.3g}) is killed "
            f"with at least {format_share(zero.probability)} within {horizon:,} trades (at "
            f"break-even: median {median} trades, 90% by {p90})"
        )
        profitable = [r for r in rows if r.losing is False]
        shown: List[PlanRow] = []
        for r in profitable:  # up to the first level never killed
            shown.append(r)
            if r.probability <= 0.0:
                break
        if shown:
            risks = ", ".join(
                f"{format_share(r.probability)} at {_ev(r.ev_per_dollar)}/$" for r in shown
            )
            said += f"; a profitable stage is killed with {risks}"
        if self.purposes:
            said = f"protects against {' and '.join(self.purposes)}: " + said
        return said

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
            "money": [r.to_dict() for r in self.money],
            "break_even": self.break_even,
            "purposes": list(self.purposes),
        }


def _ev(ev: Optional[float]) -> str:
    """An EV per dollar to three places, never ``-0.000``."""
    return "-" if ev is None else f"{0.0 if abs(ev) < _MONEY_TOLERANCE else ev:+.3f}"


def format_share(p: float) -> str:
    """A probability as the plan's tables and sentences print it."""
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
            "kills": [
                {**k.to_dict(), "protection": k.protection(self.horizon)} for k in self.kills
            ],
        }


# ----------------------------------------------------------------------------- rows


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


def make_row(
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

    runs = paths if method == MONTE_CARLO else None

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


def cdf_from_times(times: Sequence[Optional[int]], horizon: int) -> List[float]:
    counts = [0] * (horizon + 1)
    for t in times:
        if t is not None:
            counts[t] += 1
    total = len(times)
    return [c / total for c in accumulate(counts)]
