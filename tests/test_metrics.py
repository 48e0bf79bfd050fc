"""Metrics of a set of trades, in one pass or incrementally, agree to the bit."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_rollout.metrics import ExactSum, Metrics, MetricsAccumulator, compute_metrics
from quant_rollout.trades import TradeOutcome

# Magnitudes a bot's pnl/size can have, awkward floats included; bounded so sums cannot
# overflow and EV per dollar stays finite (no subnormal sizes).
_MONEY = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
_SIZE = st.just(0.0) | st.floats(min_value=1e-6, max_value=1e12)
_TRADES = st.lists(
    st.builds(TradeOutcome, pnl=_MONEY, size=_SIZE, timestamp=st.integers(0, 2_000_000_000)),
    max_size=60,
)


def _independent(trades: list[TradeOutcome]) -> Metrics:
    """The metrics computed another way: exact rational sums, rounded once."""
    n = len(trades)
    if n == 0:
        return Metrics(0, 0, 0.0, 0.0, 0.0, 0.0)
    wins = sum(1 for t in trades if t.pnl > 0)
    pnl = float(sum((Fraction(t.pnl) for t in trades), Fraction(0)))
    size = float(sum((Fraction(t.size) for t in trades), Fraction(0)))
    return Metrics(n, wins, wins / n, pnl, size, pnl / size if size > 0 else 0.0)


def test_metrics_of_a_small_book() -> None:
    trades = [
        TradeOutcome(2.0, 10.0, 0),
        TradeOutcome(-1.0, 10.0, 1),
        TradeOutcome(0.0, 5.0, 2),
        TradeOutcome(3.0, 25.0, 3),
    ]
    m = compute_metrics(trades)
    assert m == Metrics(
        n=4, wins=2, win_rate=0.5, total_pnl=4.0, total_size=50.0, ev_per_dollar=0.08
    )


def test_no_trades_gives_all_zeros() -> None:
    assert compute_metrics([]) == Metrics.empty()
    assert Metrics.empty() == Metrics(0, 0, 0.0, 0.0, 0.0, 0.0)
    assert MetricsAccumulator().metrics() == Metrics.empty()


def test_ev_per_dollar_is_zero_when_nothing_was_at_risk() -> None:
    m = compute_metrics([TradeOutcome(1.0, 0.0, 0), TradeOutcome(2.0, 0.0, 1)])
    assert m.ev_per_dollar == 0.0
    assert m.total_pnl == 3.0
    assert m.win_rate == 1.0


def test_zero_pnl_is_not_a_win() -> None:
    m = compute_metrics([TradeOutcome(0.0, 1.0, 0), TradeOutcome(0.0, 1.0, 1)])
    assert m.wins == 0
    assert m.win_rate == 0.0


def test_win_rate_is_a_fraction_not_percent() -> None:
    m = compute_metrics([TradeOutcome(1.0, 1.0, i) for i in range(3)] + [TradeOutcome(-1, 1, 9)])
    assert m.win_rate == 0.75


def test_sums_are_exactly_rounded_where_naive_float_addition_is_not() -> None:
    pnls = [0.1] * 10
    assert sum(pnls) != 1.0  # plain addition drifts
    m = compute_metrics([TradeOutcome(p, 1.0, i) for i, p in enumerate(pnls)])
    assert m.total_pnl == 1.0
    cancelling = [1e16, 1.0, -1e16]
    m2 = compute_metrics([TradeOutcome(p, 1.0, i) for i, p in enumerate(cancelling)])
    assert m2.total_pnl == 1.0


def test_to_dict_has_every_field() -> None:
    m = compute_metrics([TradeOutcome(1.0, 4.0, 0)])
    assert m.to_dict() == {
        "n": 1,
        "wins": 1,
        "win_rate": 1.0,
        "total_pnl": 1.0,
        "total_size": 4.0,
        "ev_per_dollar": 0.25,
    }


@given(_TRADES)
def test_compute_metrics_matches_an_exact_rational_computation(trades: list[TradeOutcome]) -> None:
    assert compute_metrics(trades) == _independent(trades)


@given(_TRADES)
def test_ev_per_dollar_is_close_to_the_exact_ratio(trades: list[TradeOutcome]) -> None:
    m = compute_metrics(trades)
    size = sum((Fraction(t.size) for t in trades), Fraction(0))
    if size == 0:
        assert m.ev_per_dollar == 0.0
    else:
        exact = sum((Fraction(t.pnl) for t in trades), Fraction(0)) / size
        assert math.isclose(m.ev_per_dollar, float(exact), rel_tol=1e-12, abs_tol=1e-300)


@given(_TRADES, st.randoms(use_true_random=False))
def test_accumulator_equals_compute_metrics_in_any_order(
    trades: list[TradeOutcome], rnd: random.Random
) -> None:
    shuffled = list(trades)
    rnd.shuffle(shuffled)
    acc = MetricsAccumulator()
    for t in shuffled:
        acc.add(t)
    assert acc.metrics() == compute_metrics(trades)
    assert acc.n == len(trades)


@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300))
)
def test_exact_sum_equals_math_fsum(values: list[float]) -> None:
    try:
        expected = math.fsum(values)
    except OverflowError:
        return  # an intermediate overflow; not a sum of money
    s = ExactSum()
    for v in values:
        s.add(v)
    assert s.value == expected


@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15)),
    st.randoms(use_true_random=False),
)
def test_exact_sum_does_not_depend_on_order(values: list[float], rnd: random.Random) -> None:
    a, b = ExactSum(), ExactSum()
    for v in values:
        a.add(v)
    shuffled = list(values)
    rnd.shuffle(shuffled)
    for v in shuffled:
        b.add(v)
    assert a.value == b.value == float(sum((Fraction(v) for v in values), Fraction(0)))


def test_exact_sum_of_nothing_is_zero() -> None:
    assert ExactSum().value == 0.0


@pytest.mark.parametrize("n", [1, 10, 1000])
def test_accumulator_counts_incrementally(n: int) -> None:
    acc = MetricsAccumulator()
    for i in range(n):
        acc.add(TradeOutcome(1.0 if i % 2 == 0 else -0.5, 2.0, i))
        assert acc.metrics().n == i + 1
    m = acc.metrics()
    assert m.wins == (n + 1) // 2
    assert m.total_size == 2.0 * n
