"""Fast checks of quant_rollout.stats against independent computations.

Every formula is compared with something computed another way: scipy's special
functions and quadrature, 50-digit decimal arithmetic, numpy linear algebra on the same
Markov chain, brute-force enumeration, or a seeded simulation. The long Monte Carlo
checks of the guarantees live in test_stats_slow.py.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal, getcontext
from fractions import Fraction
from itertools import product
from typing import List, Tuple

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import integrate, special
from scipy import stats as scipy_stats

from quant_rollout.errors import ConfigError, InvalidTradeError
from quant_rollout.stats import (
    BernoulliCusum,
    BetaPrior,
    CusumScores,
    EVBettingTest,
    EvCusum,
    EvCusumThreshold,
    bernoulli_cusum_scores,
    betainc,
    betaincc,
    cusum_alarm_probability,
    cusum_arl,
    cusum_threshold,
    ev_cusum_threshold,
    log_beta,
    log_betainc,
    log_betaincc,
    win_rate_e_value,
    win_rate_log_e_value,
    win_rate_lower_bound,
    win_rate_rejection_boundary,
    win_rate_rejection_cdf,
    win_rate_upper_bound,
    win_rate_upper_e_value,
    win_rate_upper_log_e_value,
    win_rate_upper_rejection_boundary,
)

# ---------------------------------------------------------------------------------------
# Beta functions
# ---------------------------------------------------------------------------------------


getcontext().prec = 50
_D_LOG_2PI = Decimal("1.8378770664093454835606594728112352797227949472755668")
_BERNOULLI = [
    Decimal(1) / 6,
    Decimal(-1) / 30,
    Decimal(1) / 42,
    Decimal(-1) / 30,
    Decimal(5) / 66,
    Decimal(-691) / 2730,
    Decimal(7) / 6,
    Decimal(-3617) / 510,
]


def _decimal_lgamma(z: Decimal) -> Decimal:
    shift = Decimal(0)
    while z < 60:
        shift -= z.ln()
        z += 1
    total = (z - Decimal("0.5")) * z.ln() - z + _D_LOG_2PI / 2
    power = z
    for k, b2k in enumerate(_BERNOULLI, start=1):
        total += b2k / (2 * k * (2 * k - 1) * power)
        power *= z * z
    return total + shift


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _beta_cases(seed: int, low: float, high: float, count: int) -> List[Tuple[float, float, float]]:
    """(a, b, x) with x mostly within a few sd of the mean, where the work is hardest."""
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        a = _log_uniform(rng, low, high)
        b = _log_uniform(rng, low, high)
        mean = a / (a + b)
        sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        if rng.random() < 0.8:
            x = min(max(rng.gauss(mean, 4 * sd), 1e-12), 1 - 1e-12)
        else:
            x = rng.random()
        cases.append((a, b, x))
    return cases


def test_log_beta_matches_fifty_digit_arithmetic_over_a_wide_range() -> None:
    # scipy.special.betaln loses ~1e-9 when one argument is tiny and the other huge (it
    # subtracts two huge gammaln values), so the reference here is 50-digit Stirling.
    rng = random.Random(1)
    for _ in range(200):
        a = _log_uniform(rng, 1e-3, 2e5)
        b = _log_uniform(rng, 1e-3, 2e5)
        da, db = Decimal(a), Decimal(b)
        reference = float(_decimal_lgamma(da) + _decimal_lgamma(db) - _decimal_lgamma(da + db))
        assert log_beta(a, b) == pytest.approx(reference, rel=2e-15, abs=2e-14), (a, b)


def test_log_beta_small_arguments_match_betaln() -> None:
    for a, b in [(0.5, 0.5), (1.0, 1.0), (2.5, 7.0), (9.99, 10.01), (0.01, 3.0)]:
        assert log_beta(a, b) == pytest.approx(float(special.betaln(a, b)), rel=1e-14, abs=1e-14)


@pytest.mark.parametrize(
    ("seed", "low", "high", "rtol"),
    [
        (2, 1.0, 2e5, 5e-12),
        (3, 10.0, 2e5, 5e-12),
        (4, 0.05, 1e3, 2e-12),
        (5, 0.5, 1e4, 2e-12),
    ],
)
def test_betainc_matches_scipy(seed: int, low: float, high: float, rtol: float) -> None:
    # scipy itself is off by up to ~2e-12 for a, b ~ 1e5 (checked against 50 digits), so
    # the tolerance there is scipy's error, not ours: see the decimal test below.
    for a, b, x in _beta_cases(seed, low, high, 1500):
        for ours, reference in (
            (betainc(a, b, x), float(special.betainc(a, b, x))),
            (betaincc(a, b, x), float(special.betaincc(a, b, x))),
        ):
            if reference > 1e-250:  # scipy loses digits near underflow; we work in logs
                assert ours == pytest.approx(reference, rel=rtol), (a, b, x)


def _decimal_betainc_lower(a_: float, b_: float, x_: Decimal) -> Decimal:
    """I_x(a, b) in 50 digits by the continued fraction (x below the mean)."""
    a, b, x = Decimal(a_), Decimal(b_), x_
    front = (
        a * x.ln()
        + b * (1 - x).ln()
        - (_decimal_lgamma(a) + _decimal_lgamma(b) - _decimal_lgamma(a + b))
    ).exp()
    c, d = Decimal(1), 1 - (a + b) * x / (a + 1)
    d = 1 / d
    h = d
    for m in range(1, 100000):
        for numerator in (
            m * (b - m) * x / ((a - 1 + 2 * m) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1 + 2 * m)),
        ):
            d = 1 / (1 + numerator * d)
            c = 1 + numerator / c
            delta = d * c
            h *= delta
        if abs(delta - 1) < Decimal("1e-40"):
            break
    return front * h / a


def test_betainc_matches_fifty_digit_arithmetic() -> None:
    for a, b, x in _beta_cases(11, 1.0, 3e4, 40):
        if x < (a + 1) / (a + b + 2):
            reference = _decimal_betainc_lower(a, b, Decimal(x))
            ours = log_betainc(a, b, x)
        else:
            reference = _decimal_betainc_lower(b, a, 1 - Decimal(x))
            ours = log_betaincc(a, b, x)
        log_reference = float(reference.ln())
        # Relative error of the probability. Below the float range its log is what we
        # return, and a log near -5000 is known to a few ulps (one ulp is 9e-13 there).
        tolerance = 3e-13 + 5e-16 * abs(log_reference)
        assert abs(math.expm1(ours - log_reference)) < tolerance, (a, b, x)


@given(
    a=st.floats(0.01, 1e4),
    b=st.floats(0.01, 1e4),
    x=st.floats(0.0, 1.0),
)
def test_betainc_symmetry_and_complement(a: float, b: float, x: float) -> None:
    lower = betainc(a, b, x)
    upper = betaincc(a, b, x)
    assert 0.0 <= lower <= 1.0
    assert lower + upper == pytest.approx(1.0, abs=1e-12)
    if 0.0 < x < 1.0 and x >= 0.5:  # 1 - x is exact here
        assert betainc(b, a, 1.0 - x) == pytest.approx(upper, rel=1e-10, abs=1e-300)


@given(a=st.floats(0.1, 1e3), b=st.floats(0.1, 1e3), x=st.floats(0.0, 1.0), y=st.floats(0.0, 1.0))
def test_betainc_is_monotone_in_x(a: float, b: float, x: float, y: float) -> None:
    low, high = min(x, y), max(x, y)
    assert betainc(a, b, low) <= betainc(a, b, high) * (1 + 1e-12)


def test_betainc_edges_and_errors() -> None:
    assert betainc(2.0, 3.0, 0.0) == 0.0
    assert betainc(2.0, 3.0, 1.0) == 1.0
    assert betaincc(2.0, 3.0, 1.0) == 0.0
    assert log_betainc(2.0, 3.0, 0.0) == -math.inf
    assert betainc(1.0, 1.0, 0.3) == pytest.approx(0.3, rel=1e-15)
    # Far below the float range the log keeps its digits: ln(x^a / (a B(a, b))) + ...
    assert log_betainc(50.0, 50.0, 1e-20) == pytest.approx(
        50 * math.log(1e-20) + math.log1p(-1e-20) * 50 - log_beta(50.0, 50.0) - math.log(50),
        rel=1e-12,
    )
    for bad in [(0.0, 1.0, 0.5), (-1.0, 1.0, 0.5), (1.0, math.nan, 0.5), (1.0, 1.0, 1.5)]:
        with pytest.raises(ConfigError):
            betainc(*bad)
    with pytest.raises(ConfigError, match="must be a number"):
        betainc(True, 1.0, 0.5)


# ---------------------------------------------------------------------------------------
# Win-rate e-value
# ---------------------------------------------------------------------------------------


def _quad_log_e_value(wins: int, n: int, bar: float, prior: BetaPrior) -> float:
    """ln of the mixture integral, numerically: P(q < bar) + int_bar^1 LR(q) Beta(q) dq."""
    losses = n - wins
    dist = scipy_stats.beta(prior.alpha, prior.beta)

    def log_integrand(q: float) -> float:
        log_ratio = wins * math.log(q / bar) + losses * math.log((1 - q) / (1 - bar))
        return log_ratio + float(dist.logpdf(q))

    mode = wins / n if n else bar
    points = [p for p in (mode, prior.mean) if bar < p < 1.0]
    # Scale by the integrand's peak so large e-values do not overflow the quadrature.
    peak = max(log_integrand(min(max(p, bar + 1e-12), 1 - 1e-12)) for p in [bar, *points])
    mixture, _ = integrate.quad(
        lambda q: math.exp(log_integrand(q) - peak) if 0.0 < q < 1.0 else 0.0,
        bar,
        1.0,
        points=points or None,
        epsabs=0.0,
        epsrel=1e-11,
        limit=500,
    )
    below = float(dist.cdf(bar))
    if mixture == 0.0:
        return math.log(below)
    return peak + math.log(mixture + below * math.exp(-peak))


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(0, 300),
    win_fraction=st.floats(0.0, 1.0),
    bar=st.floats(0.02, 0.98),
    default_prior=st.booleans(),
)
def test_win_rate_e_value_matches_quadrature(
    n: int, win_fraction: float, bar: float, default_prior: bool
) -> None:
    wins = round(win_fraction * n)
    prior = BetaPrior.above(bar) if default_prior else BetaPrior(1.5, 2.5)
    reference = _quad_log_e_value(wins, n, bar, prior)
    ours = win_rate_log_e_value(wins, n, bar, None if default_prior else prior)
    assert ours == pytest.approx(reference, abs=1e-8)  # e-values agree to 1e-8 relative


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 200), win_fraction=st.floats(0.0, 1.0), bar=st.floats(0.02, 0.98))
def test_upper_e_value_is_the_mirrored_test(n: int, win_fraction: float, bar: float) -> None:
    wins = round(win_fraction * n)
    prior = BetaPrior.below(bar)
    mirrored = _quad_log_e_value(n - wins, n, 1.0 - bar, prior.mirrored())
    assert win_rate_upper_log_e_value(wins, n, bar) == pytest.approx(mirrored, abs=1e-8)


@pytest.mark.parametrize("bar", [0.3, 0.55, 0.8])
@pytest.mark.parametrize(("wins", "n"), [(0, 0), (3, 5), (40, 60), (20, 100), (250, 400)])
def test_e_value_is_a_martingale_at_the_bar_and_super_below(wins: int, n: int, bar: float) -> None:
    # One more trade with win probability p: E[e'] = p e(S+1) + (1-p) e(S). At p = bar
    # every likelihood ratio is a martingale, so the mixture is too; below, it falls.
    now = win_rate_e_value(wins, n, bar)
    up = win_rate_e_value(wins + 1, n + 1, bar)
    down = win_rate_e_value(wins, n + 1, bar)
    assert bar * up + (1 - bar) * down == pytest.approx(now, rel=1e-11)
    for p in (0.0, bar / 2, bar * 0.99):
        assert p * up + (1 - p) * down < now


def test_win_rate_e_value_edge_cases() -> None:
    assert win_rate_e_value(0, 0, 0.55) == 1.0
    assert win_rate_upper_e_value(0, 0, 0.55) == 1.0
    # bar 1: "p <= 1" cannot be refuted; bar 0: one win refutes "p <= 0" outright.
    assert win_rate_e_value(10, 10, 1.0) == 1.0
    assert win_rate_e_value(1, 10, 0.0) == math.inf
    prior = BetaPrior(2.0, 3.0)
    assert win_rate_e_value(0, 10, 0.0, prior) == pytest.approx(
        math.exp(special.betaln(2.0, 13.0) - special.betaln(2.0, 3.0)), rel=1e-12
    )
    assert win_rate_upper_e_value(0, 10, 0.0) == 1.0
    assert win_rate_upper_e_value(9, 10, 1.0) == math.inf
    assert win_rate_log_e_value(10**6, 10**6, 0.5) == pytest.approx(
        _stirling_free_all_wins(10**6, 0.5, BetaPrior.above(0.5)), rel=1e-9
    )
    assert win_rate_e_value(10**6, 10**6, 0.5) == math.inf  # overflow reported as inf


def _stirling_free_all_wins(n: int, bar: float, prior: BetaPrior) -> float:
    # All wins: e = P(q < bar) + E[q^n; q >= bar] / bar^n; the second term dominates.
    upper = float(special.betaincc(prior.alpha + n, prior.beta, bar))
    return (
        float(special.betaln(prior.alpha + n, prior.beta) - special.betaln(prior.alpha, prior.beta))
        + math.log(upper)
        - n * math.log(bar)
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: win_rate_e_value(5, 4, 0.5), "wins must be at most"),
        (lambda: win_rate_e_value(-1, 4, 0.5), "wins must be >= 0"),
        (lambda: win_rate_e_value(1, 4, 55), "between 0 and 1"),
        (lambda: win_rate_e_value(1.0, 4, 0.5), "whole number"),  # type: ignore[arg-type]
        (lambda: win_rate_lower_bound(1, 4, 95), "strictly between 0 and 1"),
        (lambda: win_rate_e_value(1, 4, 0.5, (1, 2)), "BetaPrior"),  # type: ignore[arg-type]
        (lambda: BetaPrior(0.0, 1.0), "alpha must be > 0"),
        (lambda: BetaPrior.above(1.0), "below 1"),
        (lambda: BetaPrior.below(0.0), "above 0"),
        (lambda: BetaPrior.above(0.5, effect=0.0), "effect"),
        (lambda: win_rate_upper_bound(1, 4, confidence=1.0), "strictly between"),
    ],
)
def test_win_rate_bad_arguments_raise_config_error(call: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()  # type: ignore[operator]


def test_default_priors_are_centred_off_the_bar() -> None:
    prior = BetaPrior.above(0.55)
    assert (prior.alpha, prior.beta) == pytest.approx((65.0, 35.0))
    assert BetaPrior.below(0.55).mean == pytest.approx(0.45)
    assert BetaPrior.above(0.9).mean == pytest.approx(0.95)  # half the room above the bar
    assert BetaPrior.below(0.1).mean == pytest.approx(0.05)


# ---------------------------------------------------------------------------------------
# Win-rate confidence bounds
# ---------------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 2000),
    win_fraction=st.floats(0.0, 1.0),
    confidence=st.floats(0.5, 0.999),
)
def test_bounds_bracket_the_observed_rate(n: int, win_fraction: float, confidence: float) -> None:
    wins = round(win_fraction * n)
    low = win_rate_lower_bound(wins, n, confidence)
    high = win_rate_upper_bound(wins, n, confidence)
    assert 0.0 <= low <= wins / n <= high <= 1.0
    assert low < high


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 500),
    win_fraction=st.floats(0.0, 1.0),
    c1=st.floats(0.5, 0.999),
    c2=st.floats(0.5, 0.999),
)
def test_bounds_widen_with_confidence(n: int, win_fraction: float, c1: float, c2: float) -> None:
    wins = round(win_fraction * n)
    low_c, high_c = min(c1, c2), max(c1, c2)
    assert win_rate_lower_bound(wins, n, high_c) <= win_rate_lower_bound(wins, n, low_c)
    assert win_rate_upper_bound(wins, n, high_c) >= win_rate_upper_bound(wins, n, low_c)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 600), win_fraction=st.floats(0.0, 1.0), tuned=st.booleans())
def test_e_value_at_the_bound_is_one_over_alpha(n: int, win_fraction: float, tuned: bool) -> None:
    wins = round(win_fraction * n)
    assume(0 < wins < n)
    prior = BetaPrior.above(0.55) if tuned else None
    low = win_rate_lower_bound(wins, n, 0.95, prior)
    if low > 0.0:
        # The bound comes from bisection in the bar; where the e-value is steep in the
        # bar (few trades, lopsided) a last-bit step in the bar moves it by ~1e-8.
        value = win_rate_e_value(wins, n, low, prior or BetaPrior(1, 1))
        # At the bound the test still rejects (the bound is never anti-conservative)...
        assert value >= 20 * (1 - 1e-6)
        if not tuned and low < 1 - 1e-9:
            # ...and with the uniform prior the e-value is continuous in the bar, so the
            # bound sits exactly where it crosses 1/alpha. (A tuned prior far from the
            # data can make the e-value jump there: the bound is then conservative.)
            assert value == pytest.approx(20, rel=1e-6)
    upper_prior = BetaPrior.below(0.55) if tuned else None
    high = win_rate_upper_bound(wins, n, 0.95, upper_prior)
    if high < 1.0:
        value = win_rate_upper_e_value(wins, n, high, upper_prior or BetaPrior(1, 1))
        assert value >= 20 * (1 - 1e-6)
        if not tuned and high > 1e-9:
            assert value == pytest.approx(20, rel=1e-6)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 600), win_fraction=st.floats(0.0, 1.0), bar=st.floats(0.05, 0.95))
def test_bound_with_the_bars_prior_agrees_with_the_gate_test(
    n: int, win_fraction: float, bar: float
) -> None:
    wins = round(win_fraction * n)
    threshold = math.log(20.0)
    log_e = win_rate_log_e_value(wins, n, bar)
    assume(abs(log_e - threshold) > 1e-9)  # exact ties are decided by rounding
    low = win_rate_lower_bound(wins, n, 0.95, BetaPrior.above(bar))
    assert (low >= bar) == (log_e >= threshold)
    log_up = win_rate_upper_log_e_value(wins, n, bar)
    assume(abs(log_up - threshold) > 1e-9)
    high = win_rate_upper_bound(wins, n, 0.95, BetaPrior.below(bar))
    assert (high <= bar) == (log_up >= threshold)


def test_bound_edge_cases() -> None:
    assert win_rate_lower_bound(0, 0) == 0.0
    assert win_rate_upper_bound(0, 0) == 1.0
    assert win_rate_lower_bound(0, 50) == 0.0
    assert win_rate_upper_bound(50, 50) == 1.0
    # Uniform prior, 50 straight wins: e(b) = b + (1 - b^51) / (51 b^50) = 20 near b = 0.871.
    assert win_rate_lower_bound(50, 50) == pytest.approx(0.8713791587, abs=1e-9)
    assert win_rate_upper_bound(0, 50) == pytest.approx(1 - 0.8713791587, abs=1e-9)
    # Tighter with more data at the same rate.
    assert win_rate_lower_bound(650, 1000) > win_rate_lower_bound(65, 100)


def test_rejected_bars_form_an_interval() -> None:
    # The bound inverts by bisection, which needs e to fall as the bar rises up to the
    # observed rate, and to stay at or below 1 from there on.
    for wins, n in [(3, 4), (60, 100), (700, 1000), (1, 40)]:
        for prior in (BetaPrior.above(0.55), BetaPrior(1.0, 1.0), BetaPrior(0.5, 3.0)):
            bars = [i / 400 for i in range(1, 400)]
            below = [b for b in bars if b <= wins / n]
            values = [win_rate_log_e_value(wins, n, b, prior) for b in below]
            assert all(v1 > v2 for v1, v2 in zip(values, values[1:]))
            assert all(
                win_rate_log_e_value(wins, n, b, prior) <= 1e-12 for b in bars if b >= wins / n
            )


# ---------------------------------------------------------------------------------------
# Rejection boundary and the exact chance of advancing
# ---------------------------------------------------------------------------------------


def test_rejection_boundary_matches_brute_force() -> None:
    boundary = win_rate_rejection_boundary(0.55, 200)
    upper = win_rate_upper_rejection_boundary(0.55, 200)
    threshold = math.log(20.0)
    for n in range(121):
        least = next(
            (k for k in range(n + 1) if win_rate_log_e_value(k, n, 0.55) >= threshold), n + 1
        )
        most = max(
            (k for k in range(n + 1) if win_rate_upper_log_e_value(k, n, 0.55) >= threshold),
            default=-1,
        )
        assert boundary[n] == least
        assert upper[n] == most
    steps = {b - a for a, b in zip(boundary, boundary[1:])}
    assert steps <= {0, 1}


def test_rejection_boundary_edges() -> None:
    assert win_rate_rejection_boundary(1.0, 3) == (1, 2, 3, 4)
    assert win_rate_upper_rejection_boundary(0.0, 3) == (-1, -1, -1, -1)
    assert win_rate_rejection_boundary(0.0, 3) == (1, 1, 1, 1)


def test_rejection_cdf_matches_enumeration_of_every_path() -> None:
    horizon, bar, p = 14, 0.3, 0.6
    boundary = win_rate_rejection_boundary(bar, horizon, 0.9)
    cdf = win_rate_rejection_cdf(bar, p, horizon, 0.9)
    first_rejection = [0.0] * (horizon + 1)
    for path in product((0, 1), repeat=horizon):
        probability = math.prod(p if w else 1 - p for w in path)
        wins = 0
        for n, w in enumerate(path, start=1):
            wins += w
            if wins >= boundary[n]:
                first_rejection[n] += probability
                break
    expected = np.cumsum(first_rejection)
    assert cdf == pytest.approx(list(expected), abs=1e-14)
    assert cdf[-1] > 0.1  # the case is not vacuous


def test_median_trades_to_advance_a_65_percent_strategy_is_at_most_130() -> None:
    cdf = win_rate_rejection_cdf(0.55, 0.65, 400)
    median = next(n for n, c in enumerate(cdf) if c >= 0.5)
    assert median == 123
    # The uniform prior (an untuned mixture) needs far more trades.
    uniform = win_rate_rejection_cdf(0.55, 0.65, 400, prior=BetaPrior(1.0, 1.0))
    assert next(n for n, c in enumerate(uniform) if c >= 0.5) > 180


def test_exact_false_advance_within_2000_trades_is_below_alpha() -> None:
    at_bar = win_rate_rejection_cdf(0.55, 0.55, 2000)[-1]
    below = win_rate_rejection_cdf(0.55, 0.50, 2000)[-1]
    assert 0.03 < at_bar <= 0.05  # Ville's bound, nearly attained at the bar
    assert below < 0.005


# ---------------------------------------------------------------------------------------
# EV per dollar: betting test
# ---------------------------------------------------------------------------------------


def _naive_log_wealth(
    trades: List[Tuple[float, float]], bar: float, loss_bound: float, max_bet: float
) -> List[float]:
    """The betting rule written out directly, re-summing the whole past for every bet."""
    log_wealth = 0.0
    out = []
    past: List[Tuple[float, float]] = []
    for pnl, size in trades:
        if size == 0:
            out.append(log_wealth)
            continue
        x = (pnl / size - bar) / (loss_bound + bar)
        if past:
            xs = [(p / s - bar) / (loss_bound + bar) for p, s in past]
            sizes = [s for _, s in past]
            numerator = sum(s * xx for s, xx in zip(sizes, xs))
            denominator = (
                sum((s * xx) ** 2 for s, xx in zip(sizes, xs)) + (sum(sizes) / len(sizes)) ** 2
            )
            bet = min(max(size * numerator / denominator, 0.0), max_bet)
            log_wealth += math.log(1 + bet * x)
        past.append((pnl, size))
        out.append(log_wealth)
    return out


def _skewed_trades(rng: random.Random, count: int, win_rate: float) -> List[Tuple[float, float]]:
    trades = []
    for _ in range(count):
        size = rng.choice([0.0, 10.0, 25.0, 100.0, 400.0])
        ret = rng.paretovariate(1.8) * 0.4 if rng.random() < win_rate else -rng.random()
        trades.append((ret * size, size))
    return trades


def test_betting_wealth_matches_a_direct_computation() -> None:
    trades = _skewed_trades(random.Random(7), 300, 0.5)
    test = EVBettingTest(0.02, loss_bound=1.0)
    expected = _naive_log_wealth(trades, 0.02, 1.0, 0.5)
    for (pnl, size), log_wealth in zip(trades, expected):
        test.update(pnl, size)
        assert test.log_e_value == pytest.approx(log_wealth, rel=1e-9, abs=1e-9)
    assert abs(test.log_e_value) > 0.5  # the bets were not all zero


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    scale=st.floats(1e-3, 1e4),
    bar=st.floats(-0.5, 0.5),
)
def test_betting_test_is_currency_invariant(seed: int, scale: float, bar: float) -> None:
    # Dollars or cents, the same trades are the same evidence.
    trades = _skewed_trades(random.Random(seed), 60, 0.55)
    a = EVBettingTest(bar, gain_bound=50.0)
    b = EVBettingTest(bar, gain_bound=50.0)
    for pnl, size in trades:
        pnl = min(max(pnl, -size), 50.0 * size)  # within both bounds (the tail is heavy)
        a.update(pnl, size)
        b.update(pnl * scale, size * scale)
    assert b.log_e_value == pytest.approx(a.log_e_value, rel=1e-9, abs=1e-9)
    assert b.lower_bound == a.lower_bound
    assert b.upper_bound == a.upper_bound


@settings(max_examples=50, deadline=None)
@given(
    returns=st.lists(
        st.one_of(st.floats(-1.0, 0.0), st.floats(0.0, 1e12)), min_size=1, max_size=80
    ),
    bar=st.floats(-0.99, 10.0),
)
def test_betting_wealth_is_never_negative(returns: List[float], bar: float) -> None:
    test = EVBettingTest(bar)
    for r in returns:
        test.update(r * 3.0, 3.0)
        assert test.e_value >= 0.0
        assert not math.isnan(test.log_e_value)
        assert test.lower_bound >= -1.0


def test_betting_test_rejects_a_good_strategy_and_bounds_it() -> None:
    rng = random.Random(3)
    test = EVBettingTest(0.0, gain_bound=1.0)
    bounds = []
    for _ in range(1000):
        size = rng.uniform(50.0, 150.0)
        test.update(size if rng.random() < 0.65 else -size, size)  # EV 0.30 per dollar
        bounds.append(test.lower_bound)
    assert test.rejected
    assert test.e_value > 1e6
    assert 0.1 < test.lower_bound < 0.3 < test.upper_bound < 0.5
    assert bounds == sorted(bounds)  # latched: the bound never falls back
    assert not test.upper_rejected
    assert test.upper_e_value < 20


def test_betting_test_shows_a_losing_strategy_cannot_pass() -> None:
    rng = random.Random(4)
    test = EVBettingTest(0.0, gain_bound=1.0)
    for _ in range(800):
        test.update(1.0 if rng.random() < 0.35 else -1.0, 1.0)  # EV -0.30 per dollar
    assert test.upper_rejected
    assert not test.rejected
    assert test.upper_bound < 0.0


def test_betting_lower_bound_is_a_grid_bar_with_every_lower_bar_rejected() -> None:
    grid = [-0.5, -0.2, 0.0, 0.1, 0.2, 0.3, 0.4]
    test = EVBettingTest(0.0, grid=grid)
    rng = random.Random(9)
    for _ in range(1500):
        test.update(1.0 if rng.random() < 0.6 else -1.0, 1.0)  # EV 0.2 per dollar
    assert test.lower_bound in grid
    assert 0.0 < test.lower_bound < 0.2
    # The same bars tested one by one agree.
    rng = random.Random(9)
    single = {b: EVBettingTest(b, grid=[b]) for b in grid}
    for _ in range(1500):
        pnl = 1.0 if rng.random() < 0.6 else -1.0
        for t in single.values():
            t.update(pnl, 1.0)
    assert test.lower_bound == max(
        b for b in grid if all(single[c].rejected for c in grid if c <= b)
    )


def test_betting_test_without_gain_bound_has_no_upper_side() -> None:
    test = EVBettingTest(0.0)
    for _ in range(300):
        test.update(-1.0, 1.0)
    assert test.upper_bound == math.inf
    assert test.upper_e_value == 1.0
    assert not test.upper_rejected
    assert test.e_value == 1.0  # the past never favoured betting, so nothing was bet


def test_betting_first_trade_is_not_bet_on_and_zero_size_is_skipped() -> None:
    test = EVBettingTest(0.0)
    test.update(5.0, 10.0)
    assert test.e_value == 1.0
    test.update(123.0, 0.0)
    assert test.n == 1
    test.update(5.0, 10.0)
    assert test.e_value > 1.0


@pytest.mark.parametrize(
    ("pnl", "size", "message"),
    [
        (-10.5, 10.0, r"pnl=-10\.5 on size=10\.0 loses more than loss_bound=1\.0"),
        (1.0, -1.0, "size must be >= 0"),
        (math.nan, 1.0, "pnl must be finite"),
        (1.0, math.inf, "size must be finite"),
        ("1", 1.0, "pnl must be a number"),
        (60.0, 10.0, "gains more than gain_bound=5.0"),
    ],
)
def test_betting_test_rejects_trades_that_break_its_assumption(
    pnl: float, size: float, message: str
) -> None:
    test = EVBettingTest(0.0, gain_bound=5.0)
    test.update(1.0, 1.0)
    test.update(0.5, 1.0)
    before = (test.n, test.log_e_value, test.lower_bound)
    with pytest.raises(InvalidTradeError, match=message):
        test.update(pnl, size)
    assert (test.n, test.log_e_value, test.lower_bound) == before


def test_betting_loss_bound_is_configurable() -> None:
    test = EVBettingTest(0.0, loss_bound=3.0)
    test.update(-25.0, 10.0)  # a 3x levered trade losing 2.5 per dollar is fine
    assert test.n == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss_bound": 0.0}, "loss_bound must be > 0"),
        ({"bar": -1.0}, "bar must be above -loss_bound"),
        ({"bar": -2.0, "loss_bound": 1.5}, "bar must be above -loss_bound"),
        ({"confidence": 1.0}, "confidence"),
        ({"confidence": 0.0}, "confidence"),
        ({"gain_bound": 0.0}, "gain_bound must be above bar"),
        ({"max_bet": 1.0}, "max_bet"),
        ({"grid": [-1.0, 0.0]}, "grid bars must lie strictly between"),
        ({"grid": []}, "at least one bar"),
        ({"gain_bound": 1.0, "upper_grid": [0.5, 1.0]}, "upper_grid bars"),
    ],
)
def test_betting_test_bad_configuration(kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=message):
        EVBettingTest(**kwargs)


# ---------------------------------------------------------------------------------------
# Bernoulli CUSUM
# ---------------------------------------------------------------------------------------


def _numpy_chain(scores: CusumScores, states: int, p: float) -> np.ndarray:
    """Transition matrix among the non-alarm states 0..H-1 (rows lose the alarm mass)."""
    matrix = np.zeros((states, states))
    for i in range(states):
        matrix[i, max(0, i - scores.win_units)] += p
        if i + scores.loss_units < states:
            matrix[i, i + scores.loss_units] += 1 - p
    return matrix


def test_scores_round_the_log_likelihood_ratio_closely() -> None:
    scores = bernoulli_cusum_scores(0.65, 0.45)
    loss = math.log(0.55 / 0.35)
    win = math.log(0.65 / 0.45)
    assert scores.loss_units / scores.units_per_nat == pytest.approx(loss, rel=1e-12)
    assert scores.win_units / scores.units_per_nat == pytest.approx(win, rel=5e-3)
    assert 20 <= max(scores.loss_units, scores.win_units) <= 50
    assert math.gcd(scores.loss_units, scores.win_units) == 1


@pytest.mark.parametrize(
    ("p0", "p1", "h", "p_true"),
    [
        (0.65, 0.45, 0.5, 0.3),
        (0.65, 0.45, 4.0, 0.45),
        (0.65, 0.45, 4.0, 0.65),
        (0.5, 0.4, 2.0, 0.5),
        (0.5, 0.4, 2.0, 0.0),
        (0.9, 0.7, 4.0, 0.7),
        (0.9, 0.7, 2.0, 0.95),
        (0.3, 0.05, 4.0, 0.3),
    ],
)
def test_arl_matches_a_dense_linear_solve(p0: float, p1: float, h: float, p_true: float) -> None:
    chart = BernoulliCusum(p0, p1, h)
    states = chart.threshold_units
    matrix = _numpy_chain(chart.scores, states, p_true)
    arl = np.linalg.solve(np.eye(states) - matrix, np.ones(states))[0]
    assert arl < 1e7  # beyond that numpy's own solve drifts (see the exact test)
    assert cusum_arl(p0, p1, h, p_true) == pytest.approx(arl, rel=1e-9)


def _exact_arl(scores: CusumScores, states: int, p_true: float) -> Fraction:
    p = Fraction(p_true)
    rows = [[Fraction(0)] * states for _ in range(states)]
    for i in range(states):
        rows[i][i] += 1
        rows[i][max(0, i - scores.win_units)] -= p
        if i + scores.loss_units < states:
            rows[i][i + scores.loss_units] -= 1 - p
    rhs = [Fraction(1)] * states
    for k in range(states):
        for i in range(k + 1, states):
            if rows[i][k]:
                factor = rows[i][k] / rows[k][k]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[k])]
                rhs[i] -= factor * rhs[k]
    solution = [Fraction(0)] * states
    for k in range(states - 1, -1, -1):
        tail = sum((rows[k][j] * solution[j] for j in range(k + 1, states)), Fraction(0))
        solution[k] = (rhs[k] - tail) / rows[k][k]
    return solution[0]


@pytest.mark.parametrize(
    ("p0", "p1", "h", "p_true", "rel"),
    [
        (0.3, 0.05, 2.0, 0.95, 1e-12),  # ARL 1.3e9
        (0.3, 0.05, 3.0, 0.7, 1e-10),  # ARL 2.4e5
        (0.2, 0.02, 3.0, 0.95, 1e-5),  # ARL 3.4e19: numpy's solve is off by orders here
    ],
)
def test_arl_matches_exact_rational_arithmetic_even_when_huge(
    p0: float, p1: float, h: float, p_true: float, rel: float
) -> None:
    chart = BernoulliCusum(p0, p1, h)
    exact = _exact_arl(chart.scores, chart.threshold_units, p_true)
    assert cusum_arl(p0, p1, h, p_true) == pytest.approx(float(exact), rel=rel)


def test_arl_edge_cases() -> None:
    chart = BernoulliCusum(0.65, 0.45, 3.0)
    # All losses: the chart climbs loss_units per trade.
    expected = math.ceil(chart.threshold_units / chart.scores.loss_units)
    assert cusum_arl(0.65, 0.45, 3.0, 0.0) == pytest.approx(expected, rel=1e-12)
    assert cusum_arl(0.65, 0.45, 3.0, 1.0) == math.inf


@pytest.mark.parametrize(
    ("h", "p_true", "horizon"), [(1.0, 0.6, 30), (3.0, 0.45, 120), (5.0, 0.65, 400)]
)
def test_alarm_probability_matches_matrix_powers(h: float, p_true: float, horizon: int) -> None:
    chart = BernoulliCusum(0.65, 0.45, h)
    matrix = _numpy_chain(chart.scores, chart.threshold_units, p_true)
    start = np.zeros(chart.threshold_units)
    start[0] = 1.0
    survivors = start @ np.linalg.matrix_power(matrix, horizon)
    expected = 1.0 - survivors.sum()
    assert cusum_alarm_probability(0.65, 0.45, h, p_true, horizon) == pytest.approx(
        expected, rel=1e-10, abs=1e-15
    )


def test_alarm_probability_and_arl_match_simulation() -> None:
    rng = random.Random(11)
    h, p_true, horizon, paths = 2.5, 0.55, 60, 6000
    alarms = 0
    run_lengths = []
    for _ in range(paths):
        chart = BernoulliCusum(0.65, 0.45, h)
        while not chart.alarmed:
            chart.update(rng.random() < p_true)
        run_lengths.append(chart.n)
        alarms += chart.n <= horizon
    estimate = alarms / paths
    exact = cusum_alarm_probability(0.65, 0.45, h, p_true, horizon)
    assert abs(estimate - exact) < 4 * math.sqrt(exact * (1 - exact) / paths)
    mean = sum(run_lengths) / paths
    sd = float(np.std(run_lengths))
    assert abs(mean - cusum_arl(0.65, 0.45, h, p_true)) < 4 * sd / math.sqrt(paths)


def test_alarm_probability_edges() -> None:
    assert cusum_alarm_probability(0.65, 0.45, 3.0, 0.5, 0) == 0.0
    assert cusum_alarm_probability(0.65, 0.45, 3.0, 1.0, 500) == 0.0
    chart = BernoulliCusum(0.65, 0.45, 3.0)
    needed = math.ceil(chart.threshold_units / chart.scores.loss_units)
    assert cusum_alarm_probability(0.65, 0.45, 3.0, 0.0, needed) == 1.0
    assert cusum_alarm_probability(0.65, 0.45, 3.0, 0.0, needed - 1) == 0.0


def test_incremental_cusum_is_the_integer_chart() -> None:
    chart = BernoulliCusum(0.65, 0.45, 2.0)
    state = 0
    rng = random.Random(2)
    for _ in range(400):
        win = rng.random() < 0.6
        chart.update(win)
        state = max(0, state - chart.scores.win_units) if win else state + chart.scores.loss_units
        assert chart.state_units == state
        assert chart.statistic == pytest.approx(state / chart.scores.units_per_nat)
        if state >= chart.threshold_units:
            assert chart.alarmed
    assert chart.alarmed  # latched even if the state fell back below the threshold
    with pytest.raises(InvalidTradeError):
        chart.update(None)  # type: ignore[arg-type]


def test_threshold_for_a_false_alarm_target_is_the_smallest() -> None:
    h = cusum_threshold(0.65, 0.45, horizon=2000, false_alarm_prob=0.05)
    chart = BernoulliCusum(0.65, 0.45, h)
    assert chart.h == h  # the value round-trips to the same integer threshold
    step = 1.0 / chart.scores.units_per_nat
    assert cusum_alarm_probability(0.65, 0.45, h, 0.65, 2000) <= 0.05
    assert cusum_alarm_probability(0.65, 0.45, h - step, 0.65, 2000) > 0.05
    # The design the rollout is meant to use: detection well within 100 trades.
    assert cusum_arl(0.65, 0.45, h, 0.45) < 100
    assert cusum_arl(0.65, 0.45, h, 0.65) > 20000


def test_threshold_for_an_arl_target_is_the_smallest() -> None:
    h = cusum_threshold(0.6, 0.5, arl0=1000)
    step = 1.0 / bernoulli_cusum_scores(0.6, 0.5).units_per_nat
    assert cusum_arl(0.6, 0.5, h, 0.6) >= 1000
    assert cusum_arl(0.6, 0.5, h - step, 0.6) < 1000


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bernoulli_cusum_scores(0.45, 0.65), "must be below p0"),
        (lambda: bernoulli_cusum_scores(1.0, 0.5), "p0 must be strictly between"),
        (lambda: BernoulliCusum(0.65, 0.45, 0.0), "h must be > 0"),
        (lambda: cusum_threshold(0.65, 0.45), "give arl0"),
        (lambda: cusum_threshold(0.65, 0.45, horizon=100), "give arl0"),
        (
            lambda: cusum_threshold(0.65, 0.45, arl0=100, horizon=5, false_alarm_prob=0.1),
            "not both",
        ),
        (lambda: cusum_threshold(0.65, 0.45, arl0=0.5), "arl0 must be between 1 and"),
        (lambda: cusum_threshold(0.65, 0.45, horizon=0, false_alarm_prob=0.1), "horizon"),
        (lambda: cusum_threshold(0.65, 0.45, horizon=10, false_alarm_prob=1.0), "false_alarm_prob"),
        (lambda: cusum_alarm_probability(0.65, 0.45, 1.0, 1.5, 10), "p_true"),
        (lambda: cusum_threshold(0.65, 0.45, arl0=1e300), "arl0 must be between 1 and 1e"),
    ],
)
def test_cusum_bad_arguments(call: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()  # type: ignore[operator]


# ---------------------------------------------------------------------------------------
# EV CUSUM
# ---------------------------------------------------------------------------------------


def test_ev_cusum_follows_the_recursion_and_latches() -> None:
    chart = EvCusum(reference=0.01, threshold=0.5)
    rng = random.Random(8)
    statistic = 0.0
    for _ in range(300):
        size = rng.choice([0.0, 1.0, 50.0])
        pnl = size * rng.uniform(-0.2, 0.15)
        chart.update(pnl, size)
        if size:
            statistic = max(0.0, statistic + 0.01 - pnl / size)
        assert chart.statistic == pytest.approx(statistic, abs=1e-12)
    assert chart.alarmed
    with pytest.raises(InvalidTradeError):
        chart.update(1.0, -2.0)
    with pytest.raises(ConfigError):
        EvCusum(0.0, 0.0)


def _bootstrap_sample(seed: int) -> List[float]:
    rng = random.Random(seed)
    return [
        rng.paretovariate(2.5) * 0.3 if rng.random() < 0.55 else -rng.random() for _ in range(400)
    ]


def test_ev_cusum_threshold_meets_its_target_on_fresh_paths() -> None:
    sample = _bootstrap_sample(1)
    design = ev_cusum_threshold(sample, 0.05, -0.05, 150, 0.1, random.Random(2), paths=1500)
    assert isinstance(design, EvCusumThreshold)
    assert design.reference == pytest.approx(0.0)
    assert design.false_alarm_prob <= 0.1
    assert design.standard_error == pytest.approx(
        math.sqrt(design.false_alarm_prob * (1 - design.false_alarm_prob) / 1500)
    )
    # Independent paths from the same shifted sample alarm about as often as targeted.
    shift = 0.05 - sum(sample) / len(sample)
    rng = random.Random(99)
    paths, alarms = 1500, 0
    for _ in range(paths):
        chart = design.cusum()
        for _ in range(150):
            chart.update(rng.choice(sample) + shift, 1.0)
        alarms += chart.alarmed
    estimate = alarms / paths
    assert abs(estimate - 0.1) < 4 * math.sqrt(0.1 * 0.9 / paths)


def test_ev_cusum_threshold_is_reproducible_and_detects_the_drop() -> None:
    sample = _bootstrap_sample(3)
    first = ev_cusum_threshold(sample, 0.05, -0.05, 100, 0.05, random.Random(4), paths=500)
    second = ev_cusum_threshold(sample, 0.05, -0.05, 100, 0.05, random.Random(4), paths=500)
    assert first == second
    shift = -0.05 - sum(sample) / len(sample)  # now the mean is the unacceptable one
    rng = random.Random(5)
    delays = []
    for _ in range(300):
        chart = first.cusum()
        while not chart.alarmed and chart.n < 5000:
            chart.update(rng.choice(sample) + shift, 1.0)
        delays.append(chart.n)
    # A 10-cent fall per dollar is caught in about a hundred trades, while the in-control
    # chart runs 100 trades without alarm 95% of the time.
    assert 60 < sorted(delays)[150] < 160


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0.1], 0.05, -0.05, 10, 0.05), "at least 2"),
        (([0.1, math.nan], 0.05, -0.05, 10, 0.05), "finite"),
        (([0.1, 0.2], 0.05, 0.05, 10, 0.05), "unacceptable must be below"),
        (([0.1, 0.2], 0.05, -0.05, 0, 0.05), "horizon"),
        (([0.1, 0.2], 0.05, -0.05, 10, 0.0), "false_alarm_prob"),
        (("0.1", 0.05, -0.05, 10, 0.05), "sequence of numbers"),
    ],
)
def test_ev_cusum_threshold_bad_arguments(args: tuple, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=message):
        ev_cusum_threshold(*args, rng=random.Random(0))  # type: ignore[misc]
    with pytest.raises(ConfigError, match=r"random\.Random"):
        ev_cusum_threshold([0.1, 0.2], 0.05, -0.05, 10, 0.05, rng=0)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 800), win_fraction=st.floats(0.0, 1.0))
def test_a_coarse_bound_stays_on_the_safe_side_within_its_tolerance(
    n: int, win_fraction: float
) -> None:
    wins = round(win_fraction * n)
    prior = BetaPrior.above(0.55)
    exact = win_rate_lower_bound(wins, n, 0.95, prior)
    coarse = win_rate_lower_bound(wins, n, 0.95, prior, tolerance=1e-4)
    assert exact - 1e-4 <= coarse <= exact
    exact_up = win_rate_upper_bound(wins, n, 0.95, BetaPrior.below(0.55))
    coarse_up = win_rate_upper_bound(wins, n, 0.95, BetaPrior.below(0.55), tolerance=1e-4)
    assert exact_up <= coarse_up <= exact_up + 1e-4
