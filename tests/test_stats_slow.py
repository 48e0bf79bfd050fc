"""Monte Carlo checks of the guarantees in quant_rollout.stats (slow: run with -m slow).

Each claim is checked with a seeded random.Random and enough paths that the tolerance
(three Monte Carlo standard errors) is small next to the claim. The exact figures the
simulations are compared with come from the fast, exactly-verified functions.
"""

from __future__ import annotations

import math
import random
import statistics
from typing import Callable, List

import pytest

from quant_rollout.stats import (
    BernoulliCusum,
    EVBettingTest,
    cusum_alarm_probability,
    cusum_arl,
    cusum_threshold,
    ev_cusum_threshold,
    win_rate_log_e_value,
    win_rate_rejection_boundary,
    win_rate_rejection_cdf,
)

pytestmark = pytest.mark.slow

ALPHA = 0.05
HORIZON = 2000


def _three_se(p: float, paths: int) -> float:
    return 3.0 * math.sqrt(p * (1.0 - p) / paths)


# ---------------------------------------------------------------------------------------
# Win rate
# ---------------------------------------------------------------------------------------


def _first_rejections(win_rate: float, paths: int, seed: int) -> List[int]:
    """Trades until the win-rate test (bar 0.55) first rejects; HORIZON + 1 if never."""
    boundary = win_rate_rejection_boundary(0.55, HORIZON)
    rng = random.Random(seed)
    times = []
    for _ in range(paths):
        wins = 0
        when = HORIZON + 1
        for n in range(1, HORIZON + 1):
            wins += rng.random() < win_rate
            if wins >= boundary[n]:
                when = n
                break
        times.append(when)
    return times


@pytest.mark.parametrize("win_rate", [0.50, 0.55])
def test_win_rate_test_rarely_advances_a_strategy_at_or_below_the_bar(win_rate: float) -> None:
    paths = 4000
    times = _first_rejections(win_rate, paths, seed=1 if win_rate == 0.5 else 2)
    rate = sum(t <= HORIZON for t in times) / paths
    exact = win_rate_rejection_cdf(0.55, win_rate, HORIZON)[-1]
    assert rate <= ALPHA + _three_se(ALPHA, paths)
    assert abs(rate - exact) <= _three_se(max(exact, 1e-3), paths) + 1.0 / paths


def test_win_rate_test_advances_a_65_percent_strategy_in_a_median_of_at_most_130_trades() -> None:
    paths = 4000
    times = _first_rejections(0.65, paths, seed=3)
    median = statistics.median(times)
    assert median <= 130
    exact = win_rate_rejection_cdf(0.55, 0.65, 400)
    assert abs(median - next(n for n, c in enumerate(exact) if c >= 0.5)) <= 6


def test_the_e_value_rejects_exactly_on_the_boundary() -> None:
    # The e-value (what a gate computes) and the boundary table (what the simulations
    # and the planner use) agree at every trade of every path.
    boundary = win_rate_rejection_boundary(0.55, 400)
    threshold = -math.log1p(-0.95)
    rng = random.Random(4)
    for _ in range(60):
        wins = 0
        for n in range(1, 401):
            wins += rng.random() < 0.62
            rejects = win_rate_log_e_value(wins, n, 0.55) >= threshold
            assert rejects == (wins >= boundary[n])


# ---------------------------------------------------------------------------------------
# EV per dollar
# ---------------------------------------------------------------------------------------

Draw = Callable[[random.Random], float]


def _pareto_gains(loss_prob: float, shape: float, mean: float) -> Draw:
    """-1 with prob loss_prob, else a Pareto(shape) gain scaled so E[r] = mean.

    With shape 1.5 the gains have infinite variance: the heavy right tail no
    variance-based test can handle.
    """
    pareto_mean = shape / (shape - 1.0)
    scale = (mean + loss_prob) / ((1.0 - loss_prob) * pareto_mean)

    def draw(rng: random.Random) -> float:
        if rng.random() < loss_prob:
            return -1.0
        return scale * rng.paretovariate(shape)

    return draw


def _pennies_before_a_steamroller(loss_prob: float, mean: float) -> Draw:
    """Small steady gains, rare total losses: negative skew, mean exactly ``mean``."""
    gain = (mean + loss_prob) / (1.0 - loss_prob)
    return lambda rng: -1.0 if rng.random() < loss_prob else gain


def _lognormal_gains(loss_prob: float, sigma: float, mean: float) -> Draw:
    """-(uniform loss up to 1) or a lognormal gain, mean exactly ``mean``."""
    lognormal_mean = math.exp(sigma * sigma / 2.0)
    scale = (mean + loss_prob * 0.5) / ((1.0 - loss_prob) * lognormal_mean)

    def draw(rng: random.Random) -> float:
        if rng.random() < loss_prob:
            return -rng.random()
        return scale * rng.lognormvariate(0.0, sigma)

    return draw


SIZES = (10.0, 25.0, 100.0, 400.0)


@pytest.mark.parametrize(
    ("name", "draw"),
    [
        ("pareto 1.5, mean 0", _pareto_gains(0.7, 1.5, 0.0)),
        ("pareto 1.5, mean -0.02", _pareto_gains(0.6, 1.5, -0.02)),
        ("pennies before a steamroller, mean 0", _pennies_before_a_steamroller(0.03, 0.0)),
        ("lognormal sigma 2, mean 0", _lognormal_gains(0.8, 2.0, 0.0)),
    ],
)
def test_ev_test_rarely_rejects_a_break_even_strategy_whatever_its_tails(
    name: str, draw: Draw
) -> None:
    paths = 2000
    rng = random.Random(hash(name) % 10**6)
    rejections = 0
    for _ in range(paths):
        # One grid bar keeps this fast; the test bar's wealth does not depend on the grid.
        test = EVBettingTest(0.0, grid=[0.0])
        for _ in range(HORIZON):
            size = rng.choice(SIZES)
            test.update(draw(rng) * size, size)
            if test.rejected:
                break
        rejections += test.rejected
    rate = rejections / paths
    assert rate <= ALPHA + _three_se(ALPHA, paths), (name, rate)


def test_ev_lower_bound_covers_the_true_mean() -> None:
    # True mean 0.05 per dollar; the default grid steps by 1/32, so a miss means the bound
    # reached 0.0625 at some point.
    draw = _pareto_gains(0.55, 2.5, 0.05)
    rng = random.Random(6)
    paths, misses, final_bounds = 400, 0, []
    for _ in range(paths):
        test = EVBettingTest(0.0)
        missed = False
        for _ in range(1000):
            size = rng.choice(SIZES)
            test.update(draw(rng) * size, size)
            missed = missed or test.lower_bound >= 0.05
        misses += missed
        final_bounds.append(test.lower_bound)
    assert misses / paths <= ALPHA + _three_se(ALPHA, paths)
    assert -0.2 < statistics.median(final_bounds) < 0.05  # and the bound is not vacuous


def test_ev_test_detects_a_good_strategy() -> None:
    # Win 60% of 1.2x-sized moves, lose 40% of 1x: 0.32 per dollar risked. A Kelly bettor
    # who knew the odds would need about 71 trades on average.
    rng = random.Random(7)
    times = []
    for _ in range(400):
        test = EVBettingTest(0.0, grid=[0.0])
        while not test.rejected and test.n < HORIZON:
            size = rng.uniform(50.0, 150.0)
            test.update((1.2 if rng.random() < 0.6 else -1.0) * size, size)
        times.append(test.n)
    assert statistics.median(times) < 100


# ---------------------------------------------------------------------------------------
# CUSUM
# ---------------------------------------------------------------------------------------


def test_cusum_false_alarm_within_2000_trades_and_detection_delay() -> None:
    h = cusum_threshold(0.65, 0.45, horizon=HORIZON, false_alarm_prob=ALPHA)
    exact = cusum_alarm_probability(0.65, 0.45, h, 0.65, HORIZON)
    rng = random.Random(8)
    paths, alarms = 4000, 0
    for _ in range(paths):
        chart = BernoulliCusum(0.65, 0.45, h)
        for _ in range(HORIZON):
            chart.update(rng.random() < 0.65)
            if chart.alarmed:
                break
        alarms += chart.alarmed
    rate = alarms / paths
    assert rate <= ALPHA + _three_se(ALPHA, paths)
    assert abs(rate - exact) <= 4.0 * math.sqrt(exact * (1 - exact) / paths)

    # The win rate drops from 65% to 45% after 300 trades; count trades to the alarm.
    delays: List[int] = []
    for _ in range(2000):
        chart = BernoulliCusum(0.65, 0.45, h)
        for _ in range(300):
            chart.update(rng.random() < 0.65)
        if chart.alarmed:
            continue  # a false alarm before the change
        start = chart.n
        while not chart.alarmed:
            chart.update(rng.random() < 0.45)
        delays.append(chart.n - start)
    mean_delay = statistics.fmean(delays)
    assert mean_delay <= 100
    # From a standing start the exact figure is the ARL under p1.
    assert mean_delay == pytest.approx(cusum_arl(0.65, 0.45, h, 0.45), rel=0.1)


def test_ev_cusum_bootstrap_threshold_holds_on_the_true_distribution() -> None:
    # The threshold comes from a 1000-trade sample; fresh paths from the distribution the
    # sample came from should alarm within the horizon about as often as targeted.
    draw = _lognormal_gains(0.45, 0.8, 0.0)
    rng = random.Random(9)
    sample = [draw(rng) for _ in range(1000)]
    expected, unacceptable = 0.05, -0.05
    design = ev_cusum_threshold(sample, expected, unacceptable, 500, ALPHA, rng, paths=2000)
    paths, alarms = 2000, 0
    for _ in range(paths):
        chart = design.cusum()
        for _ in range(500):
            chart.update(draw(rng) + expected, 1.0)  # the true in-control mean
            if chart.alarmed:
                break
        alarms += chart.alarmed
    rate = alarms / paths
    # Monte Carlo error of both estimates plus the sample's own error about the tail.
    assert abs(rate - ALPHA) <= 2 * _three_se(ALPHA, paths) + 0.02
