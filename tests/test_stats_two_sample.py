"""Fast checks of the two-arm comparisons (quant_rollout.stats.two_sample).

The wealth is recomputed from the formula in the module notes by a plain loop (no shared
sums, explicit pairing), its martingale property is checked by exact enumeration of every
outcome path, and Ville's bound by brute force. The long simulations of the guarantees
live in test_arms_slow.py.
"""

from __future__ import annotations

import json
import math
import random
from itertools import product
from typing import Any, List, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_rollout.errors import ConfigError, CorruptStateError, InvalidTradeError
from quant_rollout.stats.two_sample import (
    DifferenceTest,
    EvPerDollarDifferenceTest,
    PnlPerOpportunityDifferenceTest,
    WinRateDifferenceTest,
    difference_confidence_sequence,
)


def _reference_log_wealth(
    differences: Sequence[float], bar: float, width: float, max_bet: float, sign: float = 1.0
) -> float:
    """The wealth of the module notes, computed pair by pair from the raw past."""
    log_wealth = 0.0
    past: List[float] = []
    for d in differences:
        xs = [(sign * p - sign * bar) / (width + sign * bar) for p in past]
        bet = sum(xs) / (sum(x * x for x in xs) + 1.0)
        bet = min(max(bet, 0.0), max_bet)
        log_wealth += math.log(1.0 + bet * (sign * d - sign * bar) / (width + sign * bar))
        past.append(d)
    return log_wealth


def _alternate(test: DifferenceTest, pairs: Sequence[Tuple[float, float]]) -> None:
    for candidate, control in pairs:
        test.add_candidate(candidate)
        test.add_control(control)


# ---------------------------------------------------------------------------------------
# The wealth against an independent computation
# ---------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.floats(-1.0, 3.0), st.floats(-1.0, 3.0)), min_size=1, max_size=40),
    margin=st.floats(-2.0, 2.0),
)
def test_wealth_matches_the_formula_computed_pair_by_pair(
    pairs: List[Tuple[float, float]], margin: float
) -> None:
    test = DifferenceTest(-1.0, 3.0, margin, grid_points=0)
    _alternate(test, pairs)
    differences = [c - o for c, o in pairs]
    assert test.pairs == len(pairs)
    assert test.log_e_value == pytest.approx(
        _reference_log_wealth(differences, margin, 4.0, 0.5), abs=1e-9
    )
    assert test.worse_log_e_value == pytest.approx(
        _reference_log_wealth(differences, margin, 4.0, 0.5, sign=-1.0), abs=1e-9
    )
    assert test.difference == pytest.approx(sum(differences) / len(differences))


def test_grid_bars_have_the_same_wealth_as_a_test_at_that_margin() -> None:
    rng = random.Random(3)
    pairs = [(float(rng.random() < 0.7), float(rng.random() < 0.4)) for _ in range(300)]
    gridded = DifferenceTest(0.0, 1.0, 0.0, grid_points=9)
    _alternate(gridded, pairs)
    # Grid bars are 2 k / 10 for k = -4..4 (through the margin 0).
    bars = [2.0 * k / 10 for k in range(-4, 5)]
    rejected = []
    for bar in bars:
        single = DifferenceTest(0.0, 1.0, bar, grid_points=0)
        _alternate(single, pairs)
        rejected.append(single.better)
    expected = -1.0
    for bar, hit in zip(bars, rejected):
        if not hit:
            break
        expected = bar
    assert gridded.lower_bound == pytest.approx(expected)
    assert gridded.lower_bound < 0.7 - 0.4 < gridded.upper_bound


def _all_paths_expectation(
    pc: float, p0: float, margin: float, pairs: int
) -> Tuple[float, float, float]:
    """E[wealth after n pairs] for both tests and P(ever >= 2), summed over all paths."""
    expected = expected_worse = ever = 0.0
    outcomes = [(1, 1), (1, 0), (0, 1), (0, 0)]
    for path in product(outcomes, repeat=pairs):
        probability = 1.0
        for c, o in path:
            probability *= (pc if c else 1 - pc) * (p0 if o else 1 - p0)
        test = WinRateDifferenceTest(margin, confidence=0.5, grid_points=0)
        for c, o in path:
            test.add_candidate_trade(bool(c))
            test.add_control_trade(bool(o))
        expected += probability * test.e_value
        expected_worse += probability * test.worse_e_value
        ever += probability * test.better
    return expected, expected_worse, ever


@pytest.mark.parametrize(
    ("pc", "p0", "margin"), [(0.5, 0.5, 0.0), (0.3, 0.3, 0.0), (0.7, 0.5, 0.2), (0.6, 0.4, -0.1)]
)
def test_wealth_is_a_martingale_on_the_boundary_of_the_null_exactly(
    pc: float, p0: float, margin: float
) -> None:
    # Every path of 6 pairs, enumerated: E[W_6] is exactly 1 when the difference equals
    # the margin (a fair bet), for the mirror test too; never above 1 inside the null.
    e_better, e_worse, ever = _all_paths_expectation(pc, p0, margin, 6)
    if math.isclose(pc - p0, margin):
        assert e_better == pytest.approx(1.0, abs=1e-12)
        assert e_worse == pytest.approx(1.0, abs=1e-12)
    elif pc - p0 < margin:
        assert e_better <= 1.0 + 1e-12
    else:
        assert e_worse <= 1.0 + 1e-12
    # Ville: P(the wealth ever reaches 2) <= 1/2, here by brute force.
    assert ever <= 0.5 + 1e-12


def test_inside_the_null_the_expected_wealth_stays_below_one() -> None:
    e_better, _, _ = _all_paths_expectation(0.4, 0.6, 0.0, 6)
    assert e_better <= 1.0


# ---------------------------------------------------------------------------------------
# Pairing
# ---------------------------------------------------------------------------------------


def test_observations_pair_first_in_first_out_whatever_the_arrival_order() -> None:
    test = DifferenceTest(0.0, 10.0, grid_points=0)
    for value in (1.0, 2.0, 3.0):
        test.add_candidate(value)
    assert test.waiting == (3, 0)
    assert test.pairs == 0
    test.add_control(5.0)
    test.add_control(5.0)
    assert test.waiting == (1, 0)
    assert test.difference == pytest.approx(((1 - 5) + (2 - 5)) / 2)
    test.add_control(9.0)
    test.add_control(0.0)
    assert test.waiting == (0, 1)
    assert test.pairs == 3
    assert (test.candidate_count, test.control_count) == (3, 4)
    assert (test.candidate_total, test.control_total) == (6.0, 19.0)


def test_a_long_queue_drops_its_oldest_observations() -> None:
    test = DifferenceTest(0.0, 1.0, grid_points=0, max_unpaired=3)
    for value in (0.0, 0.0, 1.0, 1.0, 1.0):
        test.add_control(value)
    assert test.waiting == (0, 3)
    assert test.dropped == 2
    test.add_candidate(1.0)
    assert test.difference == 0.0  # paired with the first kept control (1.0), not a dropped 0


def test_before_any_pair_nothing_is_known() -> None:
    test = WinRateDifferenceTest()
    assert test.difference is None
    assert (test.e_value, test.worse_e_value) == (1.0, 1.0)
    assert (test.lower_bound, test.upper_bound) == (-1.0, 1.0)
    assert not test.better
    assert not test.worse


# ---------------------------------------------------------------------------------------
# Behaviour
# ---------------------------------------------------------------------------------------


def test_a_clearly_better_candidate_wins_and_the_verdicts_latch() -> None:
    test = WinRateDifferenceTest()
    for _ in range(200):
        test.add_candidate_trade(True)
        test.add_control_trade(False)
    assert test.better
    assert not test.worse
    assert test.lower_bound > 0.5
    for _ in range(400):
        test.add_candidate_trade(False)
        test.add_control_trade(True)
    assert test.better  # latched
    assert test.worse


def test_a_margin_makes_winning_harder() -> None:
    rng = random.Random(5)
    pairs = [(rng.random() < 0.62, rng.random() < 0.5) for _ in range(1500)]
    plain = WinRateDifferenceTest(0.0, grid_points=0)
    strict = WinRateDifferenceTest(0.05, grid_points=0)
    for c, o in pairs:
        for test in (plain, strict):
            test.add_candidate_trade(c)
            test.add_control_trade(o)
    assert plain.log_e_value > strict.log_e_value


def test_ev_per_dollar_uses_returns_and_skips_size_zero() -> None:
    test = EvPerDollarDifferenceTest(loss_bound=1.0, gain_bound=2.0, grid_points=0)
    test.add_candidate_trade(10.0, 100.0)
    test.add_control_trade(5.0, 0.0)  # skipped
    test.add_control_trade(-20.0, 40.0)
    assert test.pairs == 1
    assert test.difference == pytest.approx(0.1 - (-0.5))
    assert (test.low, test.high) == (-1.0, 2.0)


def test_ev_per_dollar_refuses_returns_outside_the_bounds() -> None:
    test = EvPerDollarDifferenceTest(loss_bound=0.5, gain_bound=1.0)
    with pytest.raises(InvalidTradeError, match=r"pnl=-60.0 on size=100.0 .*outside"):
        test.add_candidate_trade(-60.0, 100.0)
    with pytest.raises(InvalidTradeError, match="gain_bound"):
        test.add_control_trade(150.0, 100.0)
    with pytest.raises(InvalidTradeError, match="size must be >= 0"):
        test.add_control_trade(1.0, -1.0)
    with pytest.raises(InvalidTradeError, match="pnl must be finite"):
        test.add_control_trade(math.nan, 1.0)
    assert (test.candidate_count, test.control_count) == (0, 0)


def test_opportunities_place_the_trades_at_random_positions_in_the_batch() -> None:
    test = PnlPerOpportunityDifferenceTest(loss_bound=10.0, gain_bound=10.0, grid_points=0)
    test.add_candidate_opportunities(5, [3.0, -2.0], random.Random(1))
    assert test.candidate_count == 5
    assert test.candidate_total == 1.0
    assert test.waiting == (5, 0)
    test.add_control_opportunities(5, [], random.Random(2))
    assert test.pairs == 5
    assert test.difference == pytest.approx(1.0 / 5)
    # The positions follow the rng only: the same seed gives the same wealth.
    twin = PnlPerOpportunityDifferenceTest(loss_bound=10.0, gain_bound=10.0, grid_points=0)
    twin.add_candidate_opportunities(5, [3.0, -2.0], random.Random(1))
    twin.add_control_opportunities(5, [], random.Random(2))
    assert twin.log_e_value == test.log_e_value


def test_more_trades_than_opportunities_is_an_error() -> None:
    test = PnlPerOpportunityDifferenceTest(loss_bound=10.0, gain_bound=10.0)
    with pytest.raises(InvalidTradeError, match=r"3 traded opportunities but only count=2"):
        test.add_candidate_opportunities(2, [1.0, 1.0, 1.0], random.Random(0))
    with pytest.raises(InvalidTradeError, match=r"pnls\[1\]=50.0 is outside"):
        test.add_candidate_opportunities(5, [1.0, 50.0], random.Random(0))
    with pytest.raises(ConfigError, match="count must be a whole number"):
        test.add_candidate_opportunities(2.5, [], random.Random(0))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"rng must be a random\.Random"):
        test.add_candidate_opportunities(2, [], 7)  # type: ignore[arg-type]
    assert test.candidate_count == 0


def test_confidence_sequence_is_two_sided_at_the_stated_level() -> None:
    rng = random.Random(9)
    candidate = [float(rng.random() < 0.7) for _ in range(400)]
    control = [float(rng.random() < 0.5) for _ in range(380)]
    sequence = difference_confidence_sequence(candidate, control, 0.0, 1.0, 0.9)
    assert len(sequence) == 380
    one_sided = DifferenceTest(0.0, 1.0, 0.0, 0.95)
    _alternate(one_sided, list(zip(candidate, control)))
    assert sequence[-1] == (one_sided.lower_bound, one_sided.upper_bound)
    assert all(low <= high for low, high in sequence)
    assert sequence[-1][0] > 0.0


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"low": 1.0, "high": 1.0}, "high must be above low=1.0"),
        ({"low": 0.0, "high": 1.0, "margin": 1.0}, "margin must lie strictly between"),
        ({"low": 0.0, "high": 1.0, "confidence": 1.0}, "confidence must be strictly between"),
        ({"low": 0.0, "high": 1.0, "max_bet": 0.0}, "max_bet must be strictly between"),
        ({"low": 0.0, "high": 1.0, "grid_points": -1}, "grid_points must be >= 0"),
        ({"low": 0.0, "high": 1.0, "max_unpaired": 0}, "max_unpaired must be >= 1"),
        ({"low": math.inf, "high": 1.0}, "low must be finite"),
        ({"low": "0", "high": 1.0}, "low must be a number"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=message):
        DifferenceTest(**kwargs)


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ConfigError, match="loss_bound must be > 0"):
        EvPerDollarDifferenceTest(loss_bound=0.0, gain_bound=1.0)
    with pytest.raises(ConfigError, match="gain_bound must be > 0"):
        PnlPerOpportunityDifferenceTest(loss_bound=1.0, gain_bound=-1.0)


def test_bad_observations_change_nothing() -> None:
    test = WinRateDifferenceTest()
    with pytest.raises(InvalidTradeError, match="win must be True or False, got 2"):
        test.add_candidate_trade(2)  # type: ignore[arg-type]
    with pytest.raises(InvalidTradeError, match=r"control observation=1.5 is outside \[0.0, 1.0\]"):
        test.add_control(1.5)
    with pytest.raises(InvalidTradeError, match="must be a number"):
        test.add_control(True)
    assert (test.candidate_count, test.control_count, test.pairs) == (0, 0, 0)


# ---------------------------------------------------------------------------------------
# Snapshots (what a state file keeps)
# ---------------------------------------------------------------------------------------


def test_a_restored_test_continues_exactly_where_the_snapshot_stood() -> None:
    rng = random.Random(12)
    steps = [(rng.random() < 0.5, rng.random() < 0.6) for _ in range(600)]
    whole = WinRateDifferenceTest(0.02, grid_points=20)
    first = WinRateDifferenceTest(0.02, grid_points=20)
    for i, (to_candidate, win) in enumerate(steps):
        for test in (whole, first) if i < 300 else (whole,):
            (test.add_candidate_trade if to_candidate else test.add_control_trade)(win)
    saved = json.loads(json.dumps(first.snapshot()))
    second = WinRateDifferenceTest(0.02, grid_points=20)
    second.restore(saved)
    for to_candidate, win in steps[300:]:
        (second.add_candidate_trade if to_candidate else second.add_control_trade)(win)
    assert second.snapshot() == whole.snapshot()
    assert (second.lower_bound, second.upper_bound) == (whole.lower_bound, whole.upper_bound)
    assert (second.better, second.worse, second.waiting) == (
        whole.better,
        whole.worse,
        whole.waiting,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(waiting=[[0.5], [0.5]]), r"comparison.waiting must be two queues"),
        (lambda d: d.update(waiting=[[2.0], []]), r"comparison.waiting must be two queues"),
        (lambda d: d.update(counts=[1, 2, 3]), r"comparison.counts must be 4 whole numbers"),
        (lambda d: d.update(totals=[1.0, None, 0.0, 0.0]), r"comparison.totals must be 4"),
        (lambda d: d.update(verdicts=[1, 0]), r"comparison.verdicts must be two true/false"),
        (lambda d: d["above"].update(log_wealth=[0.0]), r"comparison.above.log_wealth must be"),
        (lambda d: d["below"].update(crossed="01x"), r"comparison.below.crossed must be"),
        (lambda d: d.pop("above"), r"comparison.above must be an object"),
    ],
)
def test_a_corrupt_snapshot_is_refused_and_changes_nothing(change: Any, message: str) -> None:
    test = WinRateDifferenceTest(grid_points=4)
    for i in range(20):
        test.add_candidate_trade(i % 3 == 0)
        test.add_control_trade(i % 2 == 0)
    before = test.snapshot()
    data = json.loads(json.dumps(before))
    change(data)
    with pytest.raises(CorruptStateError, match=message):
        test.restore(data)
    assert test.snapshot() == before
    with pytest.raises(CorruptStateError, match="comparison must be an object"):
        test.restore([])  # type: ignore[arg-type]
