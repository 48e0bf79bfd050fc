"""Monte Carlo checks of the experiment statistics' guarantees (slow: run with -m slow).

Trades are routed 50/50 at random and every comparison is checked after EVERY trade, the
most a rollout can look. Tolerances are three Monte Carlo standard errors. The 300-trade
checks are quick and run in the ordinary suite; the longer horizons are marked slow.
benchmarks/sim_arms.py prints the same figures for benchmarks/README.md.
"""

from __future__ import annotations

import math
import random
import statistics
from typing import Callable, List, Optional

import pytest

from quant_rollout.stats.srm import SampleRatioTest
from quant_rollout.stats.two_sample import (
    DifferenceTest,
    EvPerDollarDifferenceTest,
    PnlPerOpportunityDifferenceTest,
    WinRateDifferenceTest,
)

ALPHA = 0.05


def _three_se(p: float, paths: int) -> float:
    return 3.0 * math.sqrt(p * (1.0 - p) / paths)


Feed = Callable[[DifferenceTest, bool, random.Random, int], None]


def _win_rate_feed(p_candidate: float, p_control: float) -> Feed:
    def feed(test: DifferenceTest, candidate: bool, rng: random.Random, n: int) -> None:
        assert isinstance(test, WinRateDifferenceTest)
        if candidate:
            test.add_candidate_trade(rng.random() < p_candidate)
        else:
            test.add_control_trade(rng.random() < p_control)

    return feed


def _first_better(
    make: Callable[[], DifferenceTest], feed: Feed, horizon: int, paths: int, seed: int
) -> List[Optional[int]]:
    """For each path, the trade after which ``better`` first held (None: never)."""
    rng = random.Random(seed)
    result: List[Optional[int]] = []
    for _ in range(paths):
        test = make()
        when = None
        for n in range(1, horizon + 1):
            feed(test, rng.random() < 0.5, rng, n)
            if test.better:
                when = n
                break
        result.append(when)
    return result


def _false_winner_rate(
    make: Callable[[], DifferenceTest], feed: Feed, horizon: int, paths: int
) -> float:
    return sum(t is not None for t in _first_better(make, feed, horizon, paths, 11)) / paths


def _no_grid(**kwargs: float) -> Callable[[], WinRateDifferenceTest]:
    return lambda: WinRateDifferenceTest(grid_points=0, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("win_rate", [0.5, 0.8])
def test_false_winner_rate_at_equal_arms_over_300_trades(win_rate: float) -> None:
    rate = _false_winner_rate(_no_grid(), _win_rate_feed(win_rate, win_rate), 300, 2000)
    assert rate <= ALPHA + _three_se(ALPHA, 2000)


@pytest.mark.slow
@pytest.mark.parametrize(("horizon", "paths"), [(2000, 1000), (10_000, 300)])
def test_false_winner_rate_at_equal_arms_over_long_horizons(horizon: int, paths: int) -> None:
    rate = _false_winner_rate(_no_grid(), _win_rate_feed(0.5, 0.5), horizon, paths)
    assert rate <= ALPHA + _three_se(ALPHA, paths)


@pytest.mark.slow
def test_false_winner_rate_with_a_margin_when_the_candidate_is_exactly_that_much_better() -> None:
    rate = _false_winner_rate(_no_grid(margin=0.05), _win_rate_feed(0.55, 0.5), 2000, 1000)
    assert rate <= ALPHA + _three_se(ALPHA, 1000)


@pytest.mark.slow
def test_false_winner_rate_when_the_market_regime_changes_for_both_arms() -> None:
    # Both arms win 70% for 1,000 trades, then 35%: a comparison with an earlier period
    # would be fooled; the paired comparison of arms running at the same time is not.
    def feed(test: DifferenceTest, candidate: bool, rng: random.Random, n: int) -> None:
        assert isinstance(test, WinRateDifferenceTest)
        p = 0.7 if n <= 1000 else 0.35
        if candidate:
            test.add_candidate_trade(rng.random() < p)
        else:
            test.add_control_trade(rng.random() < p)

    rate = _false_winner_rate(_no_grid(), feed, 2000, 1000)
    assert rate <= ALPHA + _three_se(ALPHA, 1000)


@pytest.mark.slow
@pytest.mark.parametrize("horizon", [300, 2000, 10_000])
def test_false_winner_rate_on_ev_per_dollar_with_skewed_returns(horizon: int) -> None:
    # Both arms: lose the whole stake 70% of the time, win 2.33x 30% (mean ~0): skewed.
    def feed(test: DifferenceTest, candidate: bool, rng: random.Random, n: int) -> None:
        assert isinstance(test, EvPerDollarDifferenceTest)
        pnl = -100.0 if rng.random() < 0.7 else 233.0
        if candidate:
            test.add_candidate_trade(pnl, 100.0)
        else:
            test.add_control_trade(pnl, 100.0)

    paths = {300: 1500, 2000: 600, 10_000: 200}[horizon]
    rate = _false_winner_rate(
        lambda: EvPerDollarDifferenceTest(1.0, 2.5, grid_points=0), feed, horizon, paths
    )
    assert rate <= ALPHA + _three_se(ALPHA, paths)


@pytest.mark.slow
@pytest.mark.parametrize("horizon", [300, 2000, 10_000])
def test_false_winner_rate_on_pnl_per_opportunity_when_arms_trade_at_different_rates(
    horizon: int,
) -> None:
    # The candidate trades 40% of its opportunities at mean pnl 5, control 20% at mean
    # 10: the same pnl per opportunity (2.0), so no winner, though the candidate wins
    # on trade count and control on pnl per trade.
    def feed(test: DifferenceTest, candidate: bool, rng: random.Random, n: int) -> None:
        assert isinstance(test, PnlPerOpportunityDifferenceTest)
        if candidate:
            pnls = [rng.choice((-15.0, 25.0))] if rng.random() < 0.4 else []
            test.add_candidate_opportunities(1, pnls, rng)
        else:
            pnls = [rng.choice((-20.0, 40.0))] if rng.random() < 0.2 else []
            test.add_control_opportunities(1, pnls, rng)

    paths = {300: 1500, 2000: 600, 10_000: 200}[horizon]
    rate = _false_winner_rate(
        lambda: PnlPerOpportunityDifferenceTest(20.0, 40.0, grid_points=0), feed, horizon, paths
    )
    assert rate <= ALPHA + _three_se(ALPHA, paths)


@pytest.mark.slow
def test_median_trades_to_detect_a_60_percent_candidate_against_50_percent_control() -> None:
    # Measured: a median of about 730 trades (both arms together, 50/50).
    times = _first_better(_no_grid(), _win_rate_feed(0.6, 0.5), 20_000, 400, 5)
    detected = [t for t in times if t is not None]
    assert len(detected) == len(times)
    assert 550 <= statistics.median(detected) <= 900


@pytest.mark.slow
def test_the_worse_verdict_finds_a_worse_candidate() -> None:
    rng = random.Random(8)
    times = []
    false_winners = 0
    for _ in range(200):
        test = WinRateDifferenceTest(grid_points=0)
        for n in range(1, 20_001):
            if rng.random() < 0.5:
                test.add_candidate_trade(rng.random() < 0.4)
            else:
                test.add_control_trade(rng.random() < 0.5)
            if test.worse:
                times.append(n)
                break
        false_winners += test.better
    assert len(times) == 200
    assert statistics.median(times) < 900
    assert false_winners / 200 <= ALPHA


@pytest.mark.slow
def test_confidence_sequence_covers_the_difference_at_all_times() -> None:
    rng = random.Random(21)
    paths = 300
    misses = 0
    for _ in range(paths):
        # Each side at 0.95: the interval covers with probability >= 0.90 throughout.
        test = DifferenceTest(0.0, 1.0, 0.0, 0.95, grid_points=40)
        for _ in range(2000):
            if rng.random() < 0.5:
                test.add_candidate(float(rng.random() < 0.65))
            else:
                test.add_control(float(rng.random() < 0.5))
            if not test.lower_bound <= 0.15 <= test.upper_bound:
                misses += 1
                break
    assert misses / paths <= 0.10 + _three_se(0.10, paths)


@pytest.mark.slow
def test_srm_detects_a_52_48_split_of_a_50_50_experiment() -> None:
    # Measured: a median of about 10,000 opportunities at confidence 0.999.
    rng = random.Random(31)
    times = []
    for _ in range(200):
        test = SampleRatioTest([0.5, 0.5])
        counts = [0, 0]
        for n in range(1, 100_001):
            counts[0 if rng.random() < 0.52 else 1] += 1
            test.update(counts)
            if test.alarmed:
                times.append(n)
                break
    assert len(times) == 200
    assert statistics.median(times) <= 13_000


@pytest.mark.slow
def test_srm_false_alarm_rate_when_routing_is_correct() -> None:
    rng = random.Random(32)
    paths = 400
    alarms = 0
    for _ in range(paths):
        test = SampleRatioTest([0.3, 0.7], confidence=0.95)
        counts = [0, 0]
        for _ in range(5000):
            counts[0 if rng.random() < 0.3 else 1] += 1
            test.update(counts)
            if test.alarmed:
                alarms += 1
                break
    assert alarms / paths <= ALPHA + _three_se(ALPHA, paths)


@pytest.mark.slow
def test_pnl_per_opportunity_stays_valid_when_trades_are_reported_late() -> None:
    # The bot reports its opportunities every tick (0-6 per arm) and each trade when it
    # closes, 0-5 ticks later: the order the comparison sees is approximate (see
    # quant_rollout.arms.evidence). Equal arms with different trade rates and payoffs
    # must still rarely produce a winner.
    from quant_rollout.arms import Arm, Experiment
    from quant_rollout.arms.evidence import ARM_KEY, ExperimentEvidence
    from quant_rollout.trades import TradeOutcome

    experiment = Experiment(
        (Arm("control", {"v": 1}), Arm("cheap", {"v": 2})),
        "control",
        metric="pnl_per_opportunity",
        loss_per_opportunity=20.0,
        gain_per_opportunity=40.0,
    )
    rng = random.Random(41)
    paths = 300
    winners = 0
    for _ in range(paths):
        evidence = ExperimentEvidence(experiment, grid_points=0)
        closing: List[List[TradeOutcome]] = [[] for _ in range(6)]
        for tick in range(1500):
            counts = {"control": rng.randint(0, 6), "cheap": rng.randint(0, 6)}
            for arm, count in counts.items():
                for _ in range(count):
                    # Same pnl per opportunity (2.0): cheap trades 40% at mean 5,
                    # control 20% at mean 10.
                    if arm == "cheap" and rng.random() < 0.4:
                        pnl = rng.choice((-15.0, 25.0))
                    elif arm == "control" and rng.random() < 0.2:
                        pnl = rng.choice((-20.0, 40.0))
                    else:
                        continue
                    trade = TradeOutcome(pnl, 10.0, 1_700_000_000 + tick, {ARM_KEY: arm})
                    closing[rng.randrange(6)].append(trade)
            for trade in closing.pop(0):
                evidence.add_trade(trade, 0)
            closing.append([])
            evidence.add_opportunities(counts)
            if evidence.report().winner:
                winners += 1
                break
    assert winners / paths <= ALPHA + _three_se(ALPHA, paths)
    print(f"false winners with late trades: {winners}/{paths}")
