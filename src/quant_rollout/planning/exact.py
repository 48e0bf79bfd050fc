"""The exact methods: first passage of the wins count, and a chart's Markov chain."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import accumulate
from typing import Callable, List, Sequence, Tuple

from ..metrics import Metrics
from .payoff import Payoff

__all__ = ["chain_alarm_cdf", "first_passage", "least_wins", "metrics_for", "window_least_wins"]

# Mass this small at the edge of the wins range is dropped by the exact programme.
_PRUNE = 1e-18


def first_passage(p: float, least_wins: Sequence[int], horizon: int) -> Tuple[List[float], float]:
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


def chain_alarm_cdf(
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


def _exact_sum(value: float, count: int) -> Fraction:
    return Fraction(value) * count


def metrics_for(n: int, wins: int, payoff: Payoff) -> Metrics:
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


def least_wins(horizon: int, holds: Callable[[int, int], bool]) -> List[int]:
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


def window_least_wins(lookback: int, ok: Callable[[Metrics], bool], payoff: Payoff) -> int:
    """The least wins in a full window for which ``ok`` (not firing) holds."""
    for wins in range(lookback + 1):
        if ok(metrics_for(lookback, wins, payoff)):
            return wins
    return lookback + 1
