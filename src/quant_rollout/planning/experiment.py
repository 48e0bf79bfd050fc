"""Pre-flight for an experiment: how likely a winner is found, and how often a false one.

:func:`plan_experiment` answers, before an experiment routes a single signal: for a
control winning ``p0`` of its trades and candidates winning ``p1`` (one row each), how
likely the win-rate comparison is to declare the candidate better than control (by the
experiment's margin) within a horizon of trades, how many trades that takes (the median,
and the count by which it has happened with the chance asked for, the *power*), and how
likely it is to declare it worse. A row whose candidate is not better than control by
the margin shows the **false-winner rate**: at most ``1 - confidence`` by construction.

The model: trades i.i.d. within each arm, each trade routed to the candidate with
probability ``candidate_weight`` independently (as hash routing of distinct signals
does), the comparison checked after every trade, as a rollout ticking once a trade
would. Monte Carlo with the library's own :class:`~quant_rollout.stats.two_sample.
WinRateDifferenceTest`: ``runs`` runs per row, run ``i`` of row ``j`` drawing from a
``random.Random`` seeded from (``seed``, ``j``, ``i``), so figures are reproducible.
Probabilities carry their standard error ``sqrt(P (1 - P) / runs)``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from ..errors import ConfigError
from ..stats.two_sample import WinRateDifferenceTest

__all__ = [
    "ExperimentPlan",
    "ExperimentPlanRow",
    "format_experiment_plan",
    "plan_experiment",
]


@dataclass(frozen=True)
class ExperimentPlanRow:
    """One candidate win rate against the control's.

    Attributes:
        control_win_rate: the control's true win rate, 0–1.
        candidate_win_rate: the candidate's true win rate, 0–1.
        p_winner: chance the candidate is declared better within the horizon.
        p_winner_se: its Monte Carlo standard error.
        p_worse: chance it is declared worse (cannot win) within the horizon.
        median_trades: trades (both arms) by which half the runs declared a winner, or
            None when fewer than half did within the horizon.
        trades_for_power: trades by which the runs declared a winner with the chance
            asked for (``power``), or None when not within the horizon.
        false_winner: True when the candidate is not better than control by the
            margin, so ``p_winner`` is a false-winner rate.
    """

    control_win_rate: float
    candidate_win_rate: float
    p_winner: float
    p_winner_se: float
    p_worse: float
    median_trades: Optional[int]
    trades_for_power: Optional[int]
    false_winner: bool


@dataclass(frozen=True)
class ExperimentPlan:
    """:func:`plan_experiment`'s answer: the settings and one row per candidate win rate."""

    rows: Tuple[ExperimentPlanRow, ...]
    margin: float
    confidence: float
    candidate_weight: float
    horizon: int
    runs: int
    power: float


def _fraction(name: str, value: object, *, open_interval: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    low_ok = value > 0.0 if open_interval else value >= 0.0
    high_ok = value < 1.0 if open_interval else value <= 1.0
    if not (low_ok and high_ok):
        interval = "strictly between 0 and 1" if open_interval else "between 0 and 1"
        raise ConfigError(f"{name} must be a fraction {interval}, got {value!r}")
    return float(value)


def _whole(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


def _quantile_time(times: List[int], runs: int, share: float) -> Optional[int]:
    """The least trade count by which at least ``share`` of all runs had declared."""
    needed = math.ceil(share * runs - 1e-9)
    if needed == 0:
        return 0
    if len(times) < needed:
        return None
    return sorted(times)[needed - 1]


def plan_experiment(
    control_win_rate: float = 0.5,
    candidate_win_rates: Sequence[float] = (0.5, 0.55, 0.6, 0.65),
    *,
    margin: float = 0.0,
    confidence: float = 0.95,
    candidate_weight: float = 0.5,
    horizon: int = 2000,
    runs: int = 1000,
    power: float = 0.8,
    seed: int = 0,
) -> ExperimentPlan:
    """Simulate a two-arm win-rate experiment (see the module notes).

    Args:
        control_win_rate: the control arm's true win rate, 0–1.
        candidate_win_rates: one row per true candidate win rate, 0–1.
        margin: how much better the candidate must be, win-rate points.
        confidence: of the comparison, strictly between 0 and 1.
        candidate_weight: the candidate's share of trades, strictly between 0 and 1.
        horizon: trades (both arms) to follow, >= 1.
        runs: simulated runs per row, >= 1.
        power: the chance of detection :attr:`ExperimentPlanRow.trades_for_power` is
            reported for, strictly between 0 and 1.
        seed: for reproducible figures.

    Raises:
        ConfigError: an argument out of range.
    """
    p0 = _fraction("control_win_rate", control_win_rate)
    if isinstance(candidate_win_rates, (str, bytes)) or not candidate_win_rates:
        raise ConfigError(
            f"candidate_win_rates must list at least one win rate, got {candidate_win_rates!r}"
        )
    candidates = [_fraction("candidate_win_rates item", p) for p in candidate_win_rates]
    weight = _fraction("candidate_weight", candidate_weight, open_interval=True)
    level = _fraction("power", power, open_interval=True)
    horizon_ = _whole("horizon", horizon, 1)
    runs_ = _whole("runs", runs, 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be a whole number, got {seed!r}")
    # Validates margin and confidence with the test's own messages.
    WinRateDifferenceTest(margin, confidence, grid_points=0)
    rows = []
    for j, p1 in enumerate(candidates):
        winner_times: List[int] = []
        worse = 0
        for i in range(runs_):
            rng = random.Random(f"experiment-plan:{seed}:{j}:{i}")
            test = WinRateDifferenceTest(margin, confidence, grid_points=0)
            for n in range(1, horizon_ + 1):
                if rng.random() < weight:
                    test.add_candidate_trade(rng.random() < p1)
                else:
                    test.add_control_trade(rng.random() < p0)
                if test.better:
                    winner_times.append(n)
                    break
                if test.worse:
                    worse += 1
                    break
        p_winner = len(winner_times) / runs_
        rows.append(
            ExperimentPlanRow(
                control_win_rate=p0,
                candidate_win_rate=p1,
                p_winner=p_winner,
                p_winner_se=math.sqrt(p_winner * (1.0 - p_winner) / runs_),
                p_worse=worse / runs_,
                median_trades=_quantile_time(winner_times, runs_, 0.5),
                trades_for_power=_quantile_time(winner_times, runs_, level),
                false_winner=p1 - p0 <= margin,
            )
        )
    return ExperimentPlan(
        rows=tuple(rows),
        margin=float(margin),
        confidence=float(confidence),
        candidate_weight=weight,
        horizon=horizon_,
        runs=runs_,
        power=level,
    )


def format_experiment_plan(plan: ExperimentPlan) -> str:
    """The plan as a text table, one line per candidate win rate."""
    lines = [
        f"Experiment plan: win rate, candidate share {plan.candidate_weight:.0%}, margin"
        f" {plan.margin:g}, confidence {plan.confidence:g}, {plan.horizon:,} trades,"
        f" {plan.runs:,} runs per row",
        f"{'control':>8} {'candidate':>9} {'P(winner)':>15} {'P(worse)':>8}"
        f" {'median':>7} {'for ' + format(plan.power, '.0%'):>8}",
    ]
    for row in plan.rows:
        note = "  <- false-winner rate" if row.false_winner else ""
        median = "-" if row.median_trades is None else f"{row.median_trades:,}"
        powered = "-" if row.trades_for_power is None else f"{row.trades_for_power:,}"
        lines.append(
            f"{row.control_win_rate:>8.1%} {row.candidate_win_rate:>9.1%}"
            f" {row.p_winner:>7.1%} ± {row.p_winner_se:>4.1%} {row.p_worse:>8.1%}"
            f" {median:>7} {powered:>8}{note}"
        )
    return "\n".join(lines)
