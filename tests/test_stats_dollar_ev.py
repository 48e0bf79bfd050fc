"""The size-weighted EV test with bets linear in size, and alpha spending over windows.

Independent checks: the wealth recomputed by a plain loop written from the formula;
the supermartingale property E[W_n] <= 1 by exact enumeration of every outcome
sequence of a null law in which sizes and outcomes are correlated (where a bet capped
per trade fails it); the spending sequence against scipy's zeta function.
"""

from __future__ import annotations

import itertools
import math
from typing import List, Sequence, Tuple

import pytest
from scipy.special import zeta

from quant_rollout.errors import ConfigError, InvalidTradeError
from quant_rollout.stats import EVBettingTest
from quant_rollout.stats.dollar_ev import DollarEVBettingTest, dollar_ev_default_grid
from quant_rollout.stats.spending import spent_alpha, window_alpha, window_confidence

# A null law with total pnl / total size exactly 0 in expectation, in which the big
# trade loses and the small ones win: (pnl, size, probability).
NULL_LAW: Tuple[Tuple[float, float, float], ...] = (
    (1.0, 1.0, 0.5),  # small win
    (-1.0, 1.0, 0.3),  # small loss
    (10.0, 10.0, 0.09),  # big win
    (-10.0, 10.0, 0.11),  # big loss
)


def test_the_null_law_is_at_the_bar() -> None:
    excess = sum(p * pnl for pnl, _, p in NULL_LAW)
    assert excess == pytest.approx(0.0, abs=1e-12)
    assert sum(p for *_, p in NULL_LAW) == pytest.approx(1.0)


def _reference_log_wealth(
    trades: Sequence[Tuple[float, float]], bar: float, loss: float, size: float
) -> float:
    """The module's formula, written out again: aGRAPA on y with one pseudo-observation."""
    unit = size * (loss + bar)
    ys: List[float] = []
    log_wealth = 0.0
    for pnl, s in trades:
        y = -1.0 if (s == 0 and pnl < 0) else (pnl - bar * s) / unit
        if ys:
            bet = sum(ys) / (sum(v * v for v in ys) + 1.0)
            bet = min(max(bet, 0.0), 0.5)
        else:
            bet = 0.0
        log_wealth += math.log1p(bet * y)
        ys.append((pnl - bar * s) / unit)
    return log_wealth


def test_wealth_matches_a_plain_recomputation() -> None:
    trades = [(1.0, 1.0), (2.0, 3.0), (-1.0, 2.0), (4.0, 5.0), (0.5, 0.5), (-2.0, 4.0), (3.0, 3.0)]
    test = DollarEVBettingTest(0.05, 1.0, 5.0, grid=[0.05])
    for pnl, size in trades:
        test.update(pnl, size)
    assert test.log_e_value == pytest.approx(
        _reference_log_wealth(trades, 0.05, 1.0, 5.0), rel=1e-12
    )


def _expected_wealth(make, horizon: int) -> float:  # type: ignore[no-untyped-def]
    """E[W_horizon] under NULL_LAW, by enumerating all 4**horizon sequences."""
    total = 0.0
    for seq in itertools.product(NULL_LAW, repeat=horizon):
        test = make()
        prob = 1.0
        for pnl, size, p in seq:
            test.update(pnl, size)
            prob *= p
        total += prob * math.exp(test.log_e_value)
    return total


def test_wealth_is_a_supermartingale_when_sizes_and_outcomes_are_correlated() -> None:
    # Exact over all 4**5 sequences: E[W_5] <= 1 for the linear bet (at the bar it is
    # a martingale, E[W_5] = 1)...
    linear = _expected_wealth(lambda: DollarEVBettingTest(0.0, 1.0, 10.0, grid=[0.0]), 5)
    assert linear <= 1.0 + 1e-12
    # ...while the bet proportional to size but capped per trade grows: it is not.
    capped = _expected_wealth(lambda: EVBettingTest(0.0, 1.0, grid=[0.0]), 5)
    assert capped > 1.0


def test_a_profitable_flow_is_detected() -> None:
    test = DollarEVBettingTest(0.0, 1.0, 10.0)
    for i in range(400):
        size = 10.0 if i % 10 == 0 else 1.0
        test.update(size if i % 5 < 3 else -size, size)  # the big ones win: EV 11/19
    assert test.rejected
    assert 0.0 <= test.lower_bound < 11 / 19


def test_a_size_0_loss_counts_as_the_largest_loss() -> None:
    plain = DollarEVBettingTest(0.0, 1.0, 10.0, grid=[0.0])
    with_zero = DollarEVBettingTest(0.0, 1.0, 10.0, grid=[0.0])
    for _i in range(50):
        plain.update(1.0, 1.0)
        with_zero.update(1.0, 1.0)
    big_loss = DollarEVBettingTest(0.0, 1.0, 10.0, grid=[0.0])
    for _ in range(50):
        big_loss.update(1.0, 1.0)
    with_zero.update(-5.0, 0.0)
    big_loss.update(-10.0, 10.0)
    assert with_zero.log_e_value == pytest.approx(big_loss.log_e_value)
    assert with_zero.log_e_value < plain.log_e_value


@pytest.mark.parametrize(
    ("pnl", "size", "words"),
    [(1.0, 11.0, "above max_size"), (-3.0, 2.0, "per dollar"), (-11.0, 0.0, "size 0")],
)
def test_a_trade_breaking_an_assumption_raises_and_changes_nothing(
    pnl: float, size: float, words: str
) -> None:
    test = DollarEVBettingTest(0.0, 1.0, 10.0)
    test.update(1.0, 1.0)
    before = test.state()
    with pytest.raises(InvalidTradeError, match=words):
        test.update(pnl, size)
    assert test.state() == before


@pytest.mark.parametrize(
    "kwargs",
    [{"max_size": 0.0}, {"loss_bound": 0.0}, {"bar": -1.0}, {"confidence": 1.0}, {"max_bet": 1.0}],
)
def test_bad_settings_are_refused(kwargs: dict) -> None:  # type: ignore[type-arg]
    args = {"bar": 0.0, "loss_bound": 1.0, "max_size": 10.0}
    args.update(kwargs)
    with pytest.raises(ConfigError):
        DollarEVBettingTest(**args)


def test_the_default_grid_holds_the_bar() -> None:
    grid = dollar_ev_default_grid(0.03, 1.0)
    assert len(grid) == 64
    assert 0.03 in grid
    assert grid[0] > -1.0


# ----------------------------------------------------------------------------- spending


def test_window_levels_sum_to_alpha() -> None:
    # 0.8 alpha, then 0.2 alpha spread as 1/j^2 / zeta(2): the partial sums are exact
    # up to the tail sum_{j >= m} 1/j^2 = zeta(2, m) (scipy's Hurwitz zeta).
    for windows in (1, 2, 10, 1000):
        tail = zeta(2, windows) / zeta(2)
        assert spent_alpha(0.05, windows) == pytest.approx(0.05 * (1 - 0.2 * tail), rel=1e-9)
    assert spent_alpha(0.05, 10**5) < 0.05
    assert window_alpha(0.05, 1) == pytest.approx(0.04)
    assert window_alpha(0.05, 3) == pytest.approx(0.01 / (4 * zeta(2)))
    assert window_confidence(0.95, 2) == pytest.approx(1 - 0.01 / zeta(2))
    assert spent_alpha(0.05, 0) == 0.0


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_a_window_number_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ConfigError):
        window_alpha(0.05, bad)  # type: ignore[arg-type]
