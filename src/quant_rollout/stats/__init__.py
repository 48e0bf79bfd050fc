"""The statistics behind the gates and the kill switch: pure functions and small classes.

Everything here is exact arithmetic on the trades it is given: no I/O, no clock, and
no randomness except through a ``random.Random`` the caller passes in. Each piece
cites the paper it implements.

* :func:`betainc`, :func:`log_beta`: the regularized incomplete beta function, stdlib
  only (DiDonato & Morris 1992).
* :func:`win_rate_e_value` and friends: an anytime-valid test that the win rate is
  above a bar (Robbins 1970; Howard, Ramdas, McAuliffe & Sekhon 2021).
* :class:`EVBettingTest`: an anytime-valid test that the expected pnl per dollar is
  above a bar, valid for any tails of the gains (Waudby-Smith & Ramdas 2024).
* :class:`BernoulliCusum`, :func:`cusum_arl`, :func:`cusum_alarm_probability`,
  :func:`cusum_threshold`: a CUSUM on wins and losses whose run-length numbers are exact
  (Page 1954; Brook & Evans 1972; Reynolds & Stoumbos 1999).
* :class:`EvCusum`, :func:`ev_cusum_threshold`: a CUSUM on returns per dollar with a
  bootstrapped threshold.

"Anytime-valid" means the guarantee holds however often the test is looked at and
whenever the rollout stops: the probability that a test *ever* rejects a true null,
over an unbounded number of trades, is at most ``1 - confidence`` (Ville's inequality
applied to a nonnegative supermartingale with initial value 1). A test may therefore be
checked after every trade. Each test latches: once it has rejected, it stays rejected.

Units: win rates and bars are fractions 0–1 (0.55 means 55%); returns are pnl divided by
size, "dollars per dollar" (0.04 means 4 cents per dollar risked); ``confidence`` is a
fraction (0.95), and the level is ``alpha = 1 - confidence``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

from ..errors import ConfigError, InvalidTradeError

__all__ = [
    "DEFAULT_PRIOR_CONCENTRATION",
    "DEFAULT_PRIOR_EFFECT",
    "BernoulliCusum",
    "BetaPrior",
    "CusumScores",
    "EVBettingTest",
    "EvCusum",
    "EvCusumThreshold",
    "WinRateTest",
    "bernoulli_cusum_scores",
    "betainc",
    "betaincc",
    "cusum_alarm_probability",
    "cusum_arl",
    "cusum_threshold",
    "ev_cusum_threshold",
    "log_beta",
    "log_betainc",
    "log_betaincc",
    "win_rate_e_value",
    "win_rate_log_e_value",
    "win_rate_lower_bound",
    "win_rate_rejection_boundary",
    "win_rate_rejection_cdf",
    "win_rate_upper_bound",
    "win_rate_upper_e_value",
    "win_rate_upper_log_e_value",
    "win_rate_upper_rejection_boundary",
]


# ---------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return result


def _positive(name: str, value: object) -> float:
    result = _real(name, value)
    if result <= 0.0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    return result


def _count(name: str, value: object, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def _fraction(name: str, value: object) -> float:
    result = _real(name, value)
    if not 0.0 <= result <= 1.0:
        raise ConfigError(
            f"{name} must be a fraction between 0 and 1 (0.55 means 55%), got {value!r}"
        )
    return result


def _open_fraction(name: str, value: object) -> float:
    result = _real(name, value)
    if not 0.0 < result < 1.0:
        raise ConfigError(
            f"{name} must be strictly between 0 and 1 (0.95 means 95%), got {value!r}"
        )
    return result


def _wins_and_trades(wins: object, n: object) -> Tuple[int, int]:
    n_ = _count("n", n)
    wins_ = _count("wins", wins)
    if wins_ > n_:
        raise ConfigError(f"wins must be at most n={n_!r}, got {wins!r}")
    return wins_, n_


def _log_threshold(confidence: object) -> float:
    """log(1/alpha): the level a log e-value must reach to reject."""
    return -math.log1p(-_open_fraction("confidence", confidence))


def _exp(log_value: float) -> float:
    # e-values can exceed the float range; report those as inf rather than raise.
    return math.exp(log_value) if log_value < 709.0 else math.inf


# ---------------------------------------------------------------------------------------
# 1. The beta function and the regularized incomplete beta function
# ---------------------------------------------------------------------------------------
#
# The method follows A. R. DiDonato & A. H. Morris Jr., "Algorithm 708: Significant digit
# computation of the incomplete beta function ratios", ACM Trans. Math. Softw. 18 (1992)
# 360-373: the factor x^a y^b / B(a, b) is formed without cancellation (their BRCOMP) and
# the ratio comes from their continued fraction BFRAC when a, b > 1, else from the
# continued fraction of DLMF 8.17.22 evaluated by the modified Lentz method (W. H. Press
# et al., Numerical Recipes, 3rd ed., 2007, sec. 6.4 and 5.2). Everything is in log space
# so tails far below the float range keep their digits.

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# Stirling's series with 8 terms is exact to double precision from here on.
_STIRLING_FROM = 10.0
_SPLIT = 134217729.0  # 2**27 + 1, Veltkamp's splitter for an exact product
_LENTZ_TINY = 1e-300
_CF_TOLERANCE = 1e-16
_CF_MAX_ITERATIONS = 1_000_000


def _stirling_correction(z: float) -> float:
    """lgamma(z) - ((z - 1/2) ln z - z + ln(2 pi)/2), for z >= 10 (DLMF 5.11.1)."""
    w = 1.0 / (z * z)
    series = -3617.0 / 122400.0
    for coefficient in (
        1.0 / 156.0,
        -691.0 / 360360.0,
        1.0 / 1188.0,
        -1.0 / 1680.0,
        1.0 / 1260.0,
        -1.0 / 360.0,
        1.0 / 12.0,
    ):
        series = coefficient + w * series
    return series / z


def _log_beta(a: float, b: float) -> float:
    if a > b:
        a, b = b, a
    c = a + b
    if a >= _STIRLING_FROM:
        # Both ln(a/c) and ln(b/c) are negative: the terms add without cancellation.
        correction = _stirling_correction(a) + _stirling_correction(b) - _stirling_correction(c)
        return (
            _HALF_LOG_2PI
            - 0.5 * math.log(c)
            + (a - 0.5) * math.log(a / c)
            - (b - 0.5) * math.log1p(a / b)
            + correction
        )
    if b >= _STIRLING_FROM:
        # lgamma(b) - lgamma(a + b) would cancel to nothing for large b; expand it instead.
        return (
            math.lgamma(a)
            - (b - 0.5) * math.log1p(a / b)
            - a * math.log(c)
            + a
            + _stirling_correction(b)
            - _stirling_correction(c)
        )
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(c)


def _u_minus_log1p(u: float) -> float:
    """u - ln(1 + u) for u > -1, to full relative precision (no cancellation)."""
    if -0.5 < u < 1.0:
        # ln(1+u) = 2 atanh(t), t = u/(2+u), and u - 2t = u*t exactly.
        t = u / (2.0 + u)
        t2 = t * t
        power = t * t2
        total = 0.0
        k = 3.0
        while True:
            term = power / k
            total += term
            if abs(term) <= 1e-17 * abs(total):
                return u * t - 2.0 * total
            power *= t2
            k += 2.0
    return u - math.log1p(u)


def _two_product(p: float, q: float) -> Tuple[float, float]:
    """p*q as an unevaluated sum hi + lo, exactly (Dekker 1971, via Veltkamp's split)."""
    product = p * q
    t = _SPLIT * p
    p_hi = t - (t - p)
    p_lo = p - p_hi
    t = _SPLIT * q
    q_hi = t - (t - q)
    q_lo = q - q_hi
    return product, ((p_hi * q_hi - product) + p_hi * q_lo + p_lo * q_hi) + p_lo * q_lo


def _excess(a: float, b: float, x: float, y: float) -> float:
    """(a + b) x - a, accurately. Of x and y = 1 - x, the smaller one is exact."""
    if x <= y:
        product, error = _two_product(x, a + b)
        return math.fsum((product, -a, error))
    product, error = _two_product(y, a + b)
    return math.fsum((b, -product, -error))


def _log_front(a: float, b: float, x: float, y: float) -> float:
    """ln(x^a y^b / B(a, b)), the factor in front of both continued fractions."""
    if a >= _STIRLING_FROM and b >= _STIRLING_FROM:
        # a ln(x/x0) + b ln(y/y0) with x0 = a/c: the linear parts cancel exactly, leaving
        # two negative terms -a*(u - ln(1+u)) - b*(v - ln(1+v)) (DiDonato & Morris BRCOMP).
        c = a + b
        x0 = a / c
        y0 = b / c
        shift = _excess(a, b, x, y) / c
        u = shift / x0
        v = -shift / y0
        log_power = 0.0
        for count, rel, point, centre in ((a, u, x, x0), (b, v, y, y0)):
            if rel > -0.5:
                log_power -= count * _u_minus_log1p(rel)
            else:
                log_power += count * (math.log(point / centre) - rel)
        correction = _stirling_correction(a) + _stirling_correction(b) - _stirling_correction(c)
        return log_power + 0.5 * math.log(a * b / c) - _HALF_LOG_2PI - correction
    log_x = math.log(x) if x <= y else math.log1p(-y)
    log_y = math.log(y) if y <= x else math.log1p(-x)
    return a * log_x + b * log_y - _log_beta(a, b)


def _bfrac(a: float, b: float, x: float, y: float, lam: float) -> float:
    """DiDonato & Morris's continued fraction: I_x(a, b) = front * result, a, b > 1, lam >= 0.

    ``lam = a - (a + b) x`` is passed in, computed without cancellation.
    """
    c = 1.0 + lam
    c0 = b / a
    c1 = 1.0 + 1.0 / a
    y_plus_1 = y + 1.0
    n = 0.0
    p = 1.0
    s = a + 1.0
    a_prev, b_prev = 0.0, 1.0
    a_cur, b_cur = 1.0, c / c1
    ratio = c1 / c
    for _ in range(_CF_MAX_ITERATIONS):
        n += 1.0
        t = n / a
        w = n * (b - n) * x
        e = a / s
        alpha = p * (p + c0) * e * e * (w * x)
        e = (1.0 + t) / (c1 + t + t)
        beta = n + w / s + e * (c + n * y_plus_1)
        p = 1.0 + t
        s += 2.0
        a_prev, a_cur = a_cur, alpha * a_prev + beta * a_cur
        b_prev, b_cur = b_cur, alpha * b_prev + beta * b_cur
        previous = ratio
        ratio = a_cur / b_cur
        if abs(ratio - previous) <= _CF_TOLERANCE * ratio:
            return ratio
        # Rescale so the recurrences cannot overflow.
        a_prev /= b_cur
        b_prev /= b_cur
        a_cur = ratio
        b_cur = 1.0
    raise ArithmeticError(
        f"incomplete beta continued fraction did not converge: {a!r}, {b!r}, {x!r}"
    )


def _lentz(a: float, b: float, x: float, y: float) -> float:
    """The continued fraction of DLMF 8.17.22: I_x(a, b) = front * result / a."""
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    # The first partial denominator is (a + 1 - (a + b) x)/(a + 1); form it from the exact
    # one of x, y so it keeps its digits when x is near the mean.
    d = ((a + 1.0) - qab * x if x <= y else qab * y + (1.0 - b)) / qap
    if abs(d) < _LENTZ_TINY:
        d = _LENTZ_TINY
    d = 1.0 / d
    c = 1.0
    h = d
    for m in range(1, _CF_MAX_ITERATIONS):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + numerator * d
            if abs(d) < _LENTZ_TINY:
                d = _LENTZ_TINY
            c = 1.0 + numerator / c
            if abs(c) < _LENTZ_TINY:
                c = _LENTZ_TINY
            d = 1.0 / d
            delta = d * c
            h *= delta
        if abs(delta - 1.0) < _CF_TOLERANCE:
            return h
    raise ArithmeticError(
        f"incomplete beta continued fraction did not converge: {a!r}, {b!r}, {x!r}"
    )


def _log1mexp(log_p: float) -> float:
    """ln(1 - e^log_p) for log_p <= 0 (Maechler 2012's two branches)."""
    if log_p >= 0.0:
        return -math.inf
    if log_p > -math.log(2.0):
        return math.log(-math.expm1(log_p))
    return math.log1p(-math.exp(log_p))


def _log_ibeta(a: float, b: float, x: float, y: float) -> Tuple[float, float, float]:
    """(ln front, ln I_x(a, b), ln(1 - I_x(a, b))) with y = 1 - x; the smaller is exact."""
    if x <= 0.0:
        return -math.inf, -math.inf, 0.0
    if y <= 0.0:
        return -math.inf, 0.0, -math.inf
    front = _log_front(a, b, x, y)
    if a > 1.0 and b > 1.0:
        lam = -_excess(a, b, x, y)
        if lam >= 0.0:
            lower = front + math.log(_bfrac(a, b, x, y, lam))
            return front, lower, _log1mexp(lower)
        upper = front + math.log(_bfrac(b, a, y, x, -lam))
        return front, _log1mexp(upper), upper
    if x * (a + b + 2.0) < a + 1.0:
        lower = front + math.log(_lentz(a, b, x, y) / a)
        return front, lower, _log1mexp(lower)
    upper = front + math.log(_lentz(b, a, y, x) / b)
    return front, _log1mexp(upper), upper


def _beta_arguments(a: object, b: object, x: object) -> Tuple[float, float, float]:
    a_ = _positive("a", a)
    b_ = _positive("b", b)
    return a_, b_, _fraction("x", x)


def log_beta(a: float, b: float) -> float:
    """ln B(a, b) = ln(Gamma(a) Gamma(b) / Gamma(a + b)), for a, b > 0.

    Accurate to about 1e-15 relative even when one argument is tiny and the other huge
    (where ``lgamma(a) + lgamma(b) - lgamma(a + b)`` loses digits): Stirling's series
    with the cancelling terms expanded (DiDonato & Morris 1992, BETALN).

    Raises:
        ConfigError: ``a`` or ``b`` not a finite number > 0.
    """
    return _log_beta(_positive("a", a), _positive("b", b))


def log_betainc(a: float, b: float, x: float) -> float:
    """ln I_x(a, b), the log of the regularized incomplete beta function.

    ``I_x(a, b) = P(X <= x)`` for ``X ~ Beta(a, b)``. Keeps full relative precision in
    the far lower tail, below the float range (-inf only at ``x == 0``).

    Raises:
        ConfigError: ``a`` or ``b`` not > 0, or ``x`` outside [0, 1].
    """
    a_, b_, x_ = _beta_arguments(a, b, x)
    return _log_ibeta(a_, b_, x_, 1.0 - x_)[1]


def log_betaincc(a: float, b: float, x: float) -> float:
    """ln(1 - I_x(a, b)), the log of the upper tail ``P(X > x)``, ``X ~ Beta(a, b)``.

    Raises:
        ConfigError: ``a`` or ``b`` not > 0, or ``x`` outside [0, 1].
    """
    a_, b_, x_ = _beta_arguments(a, b, x)
    return _log_ibeta(a_, b_, x_, 1.0 - x_)[2]


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function ``I_x(a, b) = P(Beta(a, b) <= x)``.

    Same convention as ``scipy.special.betainc``. Relative error below about 1e-12 when
    a, b > 1 (checked against 50-digit arithmetic for a, b up to 2e5); when one of a, b
    is below 1 and the other very large it degrades to about ``max(a, b) * 1e-16``.

    Raises:
        ConfigError: ``a`` or ``b`` not > 0, or ``x`` outside [0, 1].
    """
    return math.exp(log_betainc(a, b, x))


def betaincc(a: float, b: float, x: float) -> float:
    """The upper tail ``1 - I_x(a, b)``, computed directly (no cancellation near 1).

    Raises:
        ConfigError: ``a`` or ``b`` not > 0, or ``x`` outside [0, 1].
    """
    return math.exp(log_betaincc(a, b, x))


# ---------------------------------------------------------------------------------------
# 2. Win rate: an anytime-valid mixture test
# ---------------------------------------------------------------------------------------
#
# H0: the win rate p is at most the bar. For any q >= bar the likelihood ratio
# L(q)/L(bar) = (q/bar)^S ((1-q)/(1-bar))^F over S wins and F losses is a nonnegative
# supermartingale under every p <= bar (a trade multiplies it by p q/bar + (1-p)(1-q)/(1-bar)
# <= 1 on average), and so is any fixed mixture of them (H. Robbins, "Statistical methods
# related to the law of the iterated logarithm", Ann. Math. Statist. 41 (1970) 1397-1409;
# S. R. Howard, A. Ramdas, J. McAuliffe & J. Sekhon, "Time-uniform, nonparametric,
# nonasymptotic confidence sequences", Ann. Statist. 49 (2021) 1055-1080, sec. 3).
# Ville's inequality then bounds P(the mixture ever reaches 1/alpha) by alpha.
#
# The mixture is over q ~ Beta(alpha, beta) with the prior mass below the bar placed on
# the bar itself (where the ratio is 1) rather than renormalised away as in a truncated
# prior. With that choice the e-value falls strictly as the bar rises (its derivative is
# -l'(bar) times the mixture part, and l'(bar) > 0 below the observed win rate), so the
# bars it rejects form an interval [0, bound) and the confidence bounds below invert it
# exactly. Against the truncated prior it gives up a factor of at most 1/P(q >= bar):
# 2% with the default prior (P(q < bar) = 0.020), and the median trades to advance in the
# tuning case below are the same, 123, either way.

DEFAULT_PRIOR_EFFECT = 0.10
"""Default distance (win-rate points, 0–1) between the bar and the prior's mean."""

DEFAULT_PRIOR_CONCENTRATION = 100.0
"""Default ``alpha + beta`` of the prior: worth 100 pseudo-trades, sd about 0.05."""


@dataclass(frozen=True)
class BetaPrior:
    """A Beta(alpha, beta) prior over the win rate, the mixing law of the win-rate tests.

    Any fixed prior keeps the tests' guarantee; the prior only decides which true win
    rates are detected fastest, roughly those near its mean. Build the default one with
    :meth:`above` (for the test that the win rate beats a bar) or :meth:`below` (for the
    test that it falls short of a bar).

    Attributes:
        alpha: pseudo-wins, > 0.
        beta: pseudo-losses, > 0.

    Raises:
        ConfigError: alpha or beta not a finite number > 0.
    """

    alpha: float
    beta: float

    def __post_init__(self) -> None:
        _positive("BetaPrior.alpha", self.alpha)
        _positive("BetaPrior.beta", self.beta)

    @property
    def mean(self) -> float:
        """The prior mean win rate, 0–1."""
        return self.alpha / (self.alpha + self.beta)

    @classmethod
    def centred(cls, mean: float, concentration: float) -> BetaPrior:
        """The Beta prior with this mean (0–1, exclusive) and ``alpha + beta``.

        Raises:
            ConfigError: mean not strictly between 0 and 1, or concentration not > 0.
        """
        mean_ = _open_fraction("mean", mean)
        total = _positive("concentration", concentration)
        return cls(mean_ * total, (1.0 - mean_) * total)

    @classmethod
    def above(
        cls,
        bar: float,
        effect: float = DEFAULT_PRIOR_EFFECT,
        concentration: float = DEFAULT_PRIOR_CONCENTRATION,
    ) -> BetaPrior:
        """The default prior for testing "win rate > bar": centred ``effect`` above the bar.

        The mean is ``bar + min(effect, (1 - bar) / 2)``. With the defaults (0.10, 100)
        and bar 0.55 the prior is Beta(65, 35): the test is tuned for strategies that win
        about 65% of the time, and the median number of trades until it rejects is 123
        for a true 65% strategy (a uniform prior needs 206), 64 for 70% and 556 for 60%
        (exact, at confidence 0.95).

        Raises:
            ConfigError: bar not in [0, 1), effect not in (0, 1], concentration not > 0.
        """
        bar_ = _fraction("bar", bar)
        if bar_ >= 1.0:
            raise ConfigError("bar must be below 1 for a prior above it, got 1.0")
        effect_ = _effect(effect)
        return cls.centred(bar_ + min(effect_, (1.0 - bar_) / 2.0), concentration)

    @classmethod
    def below(
        cls,
        bar: float,
        effect: float = DEFAULT_PRIOR_EFFECT,
        concentration: float = DEFAULT_PRIOR_CONCENTRATION,
    ) -> BetaPrior:
        """The default prior for testing "win rate < bar": mean ``bar - min(effect, bar/2)``.

        Raises:
            ConfigError: bar not in (0, 1], effect not in (0, 1], concentration not > 0.
        """
        bar_ = _fraction("bar", bar)
        if bar_ <= 0.0:
            raise ConfigError("bar must be above 0 for a prior below it, got 0.0")
        effect_ = _effect(effect)
        return cls.centred(bar_ - min(effect_, bar_ / 2.0), concentration)

    def mirrored(self) -> BetaPrior:
        """The prior of the loss rate: Beta(beta, alpha)."""
        return BetaPrior(self.beta, self.alpha)


def _effect(value: object) -> float:
    result = _real("effect", value)
    if not 0.0 < result <= 1.0:
        raise ConfigError(f"effect must be in (0, 1] (0.1 means 10 points), got {value!r}")
    return result


_UNIFORM = BetaPrior(1.0, 1.0)


def _log_e_above(wins: int, losses: int, bar: float, rest: float, prior: BetaPrior) -> float:
    """ln e of H0 "p <= bar"; ``rest`` is 1 - bar, passed so the exact one is used."""
    if wins + losses == 0 or rest <= 0.0:
        return 0.0
    al, be = prior.alpha, prior.beta
    if bar <= 0.0:
        # L(0) is 0 after any win: the null "never wins" is refuted outright.
        if wins > 0:
            return math.inf
        return _log_beta(al, be + losses) - _log_beta(al, be)
    log_below = _log_ibeta(al, be, bar, rest)[1]
    front, _, log_upper = _log_ibeta(wins + al, losses + be, bar, rest)
    # Mixture part B(S+a, F+b) P(Beta(S+a, F+b) > bar) / (B(a, b) bar^S (1-bar)^F), with
    # B(S+a, F+b) / (bar^S (1-bar)^F) = bar^a (1-bar)^b / front: no large terms cancel.
    log_bar = math.log(bar) if bar <= rest else math.log1p(-rest)
    log_rest = math.log(rest) if rest <= bar else math.log1p(-bar)
    log_mixture = al * log_bar + be * log_rest - _log_beta(al, be) - front + log_upper
    high = max(log_below, log_mixture)
    if high == -math.inf:
        return -math.inf
    return high + math.log(math.exp(log_below - high) + math.exp(log_mixture - high))


def _win_rate_args(
    wins: object, n: object, bar: object, prior: Optional[BetaPrior], *, above: bool
) -> Tuple[int, int, float, Optional[BetaPrior]]:
    wins_, n_ = _wins_and_trades(wins, n)
    bar_ = _fraction("bar", bar)
    if prior is not None and not isinstance(prior, BetaPrior):
        raise ConfigError(f"prior must be a BetaPrior, got {prior!r}")
    if prior is None:
        trivial = bar_ >= 1.0 if above else bar_ <= 0.0
        prior = None if trivial else (BetaPrior.above(bar_) if above else BetaPrior.below(bar_))
    return wins_, n_, bar_, prior


def win_rate_log_e_value(wins: int, n: int, bar: float, prior: Optional[BetaPrior] = None) -> float:
    """ln of the e-value against "win rate <= bar" after ``wins`` wins in ``n`` trades.

    See :func:`win_rate_e_value`; the log never overflows (+inf only when ``bar == 0``
    and there was a win).
    """
    wins_, n_, bar_, prior_ = _win_rate_args(wins, n, bar, prior, above=True)
    if prior_ is None:  # bar == 1: "p <= 1" is always true, there is nothing to find.
        return 0.0
    return _log_e_above(wins_, n_ - wins_, bar_, 1.0 - bar_, prior_)


def win_rate_e_value(wins: int, n: int, bar: float, prior: Optional[BetaPrior] = None) -> float:
    """The evidence that the win rate is above ``bar``: an anytime-valid e-value.

    Under "win rate <= bar" (each trade a win with conditional probability at most
    ``bar``, whatever happened before) the probability that this number *ever* reaches
    ``1/alpha`` is at most ``alpha``, so "reject once it reaches 1/(1 - confidence)" may be
    checked after every trade. It is the Beta-mixture likelihood ratio described in the
    module source (Robbins 1970; Howard et al. 2021), in closed form through the
    incomplete beta function; it depends on ``(wins, n)`` only, so each new trade costs
    one evaluation whatever the history's length.

    Args:
        wins: trades won (pnl > 0), 0 <= wins <= n.
        n: trades so far.
        bar: the win rate to beat, 0–1.
        prior: the mixing prior over the win rate; None uses :meth:`BetaPrior.above`
            ``(bar)``, a Beta prior centred 0.10 above the bar with 100 pseudo-trades.

    Returns:
        The e-value, >= 0; 1 when ``n == 0`` or ``bar == 1``; inf when ``bar == 0`` and
        there was a win.

    Raises:
        ConfigError: wins or n not whole numbers with 0 <= wins <= n, bar outside [0, 1].
    """
    return _exp(win_rate_log_e_value(wins, n, bar, prior))


def win_rate_upper_log_e_value(
    wins: int, n: int, bar: float, prior: Optional[BetaPrior] = None
) -> float:
    """ln of :func:`win_rate_upper_e_value`."""
    wins_, n_, bar_, prior_ = _win_rate_args(wins, n, bar, prior, above=False)
    if prior_ is None:  # bar == 0: "p >= 0" is always true.
        return 0.0
    # "p >= bar" is "loss rate <= 1 - bar": the same test with wins and losses swapped.
    return _log_e_above(n_ - wins_, wins_, 1.0 - bar_, bar_, prior_.mirrored())


def win_rate_upper_e_value(
    wins: int, n: int, bar: float, prior: Optional[BetaPrior] = None
) -> float:
    """The evidence that the win rate is below ``bar``: the mirror of :func:`win_rate_e_value`.

    Tests "win rate >= bar" with the same guarantee; used for "this stage cannot pass".

    Args:
        prior: the mixing prior over the win rate, whose mass above the bar is placed on
            the bar; None uses :meth:`BetaPrior.below` ``(bar)``.

    Returns:
        The e-value, >= 0; 1 when ``n == 0`` or ``bar == 0``.

    Raises:
        ConfigError: as :func:`win_rate_e_value`.
    """
    return _exp(win_rate_upper_log_e_value(wins, n, bar, prior))


# Bisection stops at this relative width; bounds can be as small as 1e-300.
_BISECTION_RELATIVE_WIDTH = 4e-16


def win_rate_lower_bound(
    wins: int,
    n: int,
    confidence: float = 0.95,
    prior: Optional[BetaPrior] = None,
    *,
    tolerance: float = 0.0,
) -> float:
    """An anytime-valid lower confidence bound for the win rate, 0–1.

    The smallest bar that :func:`win_rate_e_value` with this ``prior`` does not reject:
    with probability at least ``confidence`` the bound stays at or below the true win
    rate after every trade at once. The rejected bars form an interval (the e-value falls
    as the bar rises), whose end is found by bisection to a relative 4e-16, rounded down.

    Args:
        tolerance: stop the bisection once the bracket is this narrow (absolute); the
            end returned is still on the safe side. 0 bisects to full precision.
        prior: one prior used for every candidate bar. None uses a uniform Beta(1, 1), a
            bound that is not tuned to any bar. Pass ``BetaPrior.above(bar)`` to get a
            bound that is ``>= bar`` exactly when ``win_rate_e_value(wins, n, bar)``
            reaches ``1/(1 - confidence)``, i.e. the gate's own decision.

    Returns:
        0.0 when ``n == 0`` or ``wins == 0``; otherwise a bound below ``wins / n``.

    Raises:
        ConfigError: wins or n invalid, or confidence not strictly between 0 and 1.
    """
    wins_, n_ = _wins_and_trades(wins, n)
    threshold = _log_threshold(confidence)
    prior_ = _UNIFORM if prior is None else prior
    if wins_ == 0:
        return 0.0
    losses = n_ - wins_

    def rejected(bar: float) -> bool:
        return _log_e_above(wins_, losses, bar, 1.0 - bar, prior_) >= threshold

    # e(0) = inf (a win refutes "never wins"); e <= 1 at and above the observed rate.
    low, _ = _bisect(rejected, 0.0, wins_ / n_, tolerance)
    return low


def win_rate_upper_bound(
    wins: int,
    n: int,
    confidence: float = 0.95,
    prior: Optional[BetaPrior] = None,
    *,
    tolerance: float = 0.0,
) -> float:
    """An anytime-valid upper confidence bound for the win rate, 0–1.

    The mirror of :func:`win_rate_lower_bound`: the largest bar that
    :func:`win_rate_upper_e_value` does not reject, rounded up. "Upper bound below the
    bar" is evidence the stage cannot pass.

    Args:
        tolerance: as for :func:`win_rate_lower_bound`.
        prior: one prior for every candidate bar, its mass above each bar placed on the
            bar. None uses a uniform Beta(1, 1); ``BetaPrior.below(bar)`` makes the bound
            ``< bar`` agree with :func:`win_rate_upper_e_value` at that bar.

    Returns:
        1.0 when ``n == 0`` or ``wins == n``; otherwise a bound above ``wins / n``.

    Raises:
        ConfigError: wins or n invalid, or confidence not strictly between 0 and 1.
    """
    wins_, n_ = _wins_and_trades(wins, n)
    threshold = _log_threshold(confidence)
    mirrored = (_UNIFORM if prior is None else prior).mirrored()
    losses = n_ - wins_
    if losses == 0:
        return 1.0

    def rejected(bar: float) -> bool:
        return _log_e_above(losses, wins_, 1.0 - bar, bar, mirrored) >= threshold

    _, high = _bisect(lambda bar: not rejected(bar), wins_ / n_, 1.0, tolerance)
    return high


def _bisect(
    holds: Callable[[float], bool], low: float, high: float, tolerance: float = 0.0
) -> Tuple[float, float]:
    """Shrink [low, high] around the point where ``holds`` turns False (True at low),
    to a relative 4e-16 or to an absolute ``tolerance``, whichever is wider."""
    while high - low > max(_BISECTION_RELATIVE_WIDTH * high, tolerance):
        middle = 0.5 * (low + high)
        if middle <= low or middle >= high:
            break
        if holds(middle):
            low = middle
        else:
            high = middle
    return low, high


def _least_successes(
    log_e: Callable[[int, int], float], horizon: int, threshold: float
) -> Tuple[int, ...]:
    """For n = 0..horizon, the least k with log_e(k, n - k) >= threshold (n + 1 if none).

    log_e must rise with k at fixed n and fall when a failure is added, so the answer
    moves up by 0 or 1 per trade and each n costs O(1) evaluations on average.
    """
    least: List[int] = []
    k = 0
    for n in range(horizon + 1):
        while k <= n and log_e(k, n - k) < threshold:
            k += 1
        least.append(k)
    return tuple(least)


def win_rate_rejection_boundary(
    bar: float, horizon: int, confidence: float = 0.95, prior: Optional[BetaPrior] = None
) -> Tuple[int, ...]:
    """For n = 0..horizon, the fewest wins in n trades at which the win-rate test rejects.

    Entry ``n`` is the least ``k`` with ``win_rate_e_value(k, n, bar, prior)`` reaching
    ``1/(1 - confidence)``, or ``n + 1`` when no number of wins does. The e-value rises
    with wins and falls with losses, so one more trade moves the boundary up by 0 or 1
    and the whole table costs O(horizon) e-value evaluations. With it, "has the test
    rejected" is a lookup, and :func:`win_rate_rejection_cdf` computes the chance of
    advancing exactly.

    Raises:
        ConfigError: bar outside [0, 1], horizon not a whole number >= 0, bad confidence.
    """
    bar_ = _fraction("bar", bar)
    horizon_ = _count("horizon", horizon)
    threshold = _log_threshold(confidence)
    _, _, _, prior_ = _win_rate_args(0, 0, bar_, prior, above=True)
    if prior_ is None:
        return tuple(n + 1 for n in range(horizon_ + 1))
    rest = 1.0 - bar_
    chosen = prior_
    return _least_successes(
        lambda wins, losses: _log_e_above(wins, losses, bar_, rest, chosen), horizon_, threshold
    )


def win_rate_upper_rejection_boundary(
    bar: float, horizon: int, confidence: float = 0.95, prior: Optional[BetaPrior] = None
) -> Tuple[int, ...]:
    """For n = 0..horizon, the most wins in n trades at which the mirror test rejects.

    Entry ``n`` is the largest ``k`` with ``win_rate_upper_e_value(k, n, bar, prior)``
    reaching ``1/(1 - confidence)``, or -1 when none does. Non-decreasing, steps of 0 or 1.

    Raises:
        ConfigError: as :func:`win_rate_rejection_boundary`.
    """
    bar_ = _fraction("bar", bar)
    horizon_ = _count("horizon", horizon)
    threshold = _log_threshold(confidence)
    _, _, _, prior_ = _win_rate_args(0, 0, bar_, prior, above=False)
    if prior_ is None:
        return tuple(-1 for _ in range(horizon_ + 1))
    mirrored = prior_.mirrored()
    rest = 1.0 - bar_
    least_losses = _least_successes(
        lambda losses, wins: _log_e_above(losses, wins, rest, bar_, mirrored),
        horizon_,
        threshold,
    )
    return tuple(n - m for n, m in enumerate(least_losses))


def win_rate_rejection_cdf(
    bar: float,
    win_rate: float,
    horizon: int,
    confidence: float = 0.95,
    prior: Optional[BetaPrior] = None,
) -> Tuple[float, ...]:
    """P(the win-rate test has rejected by trade n), n = 0..horizon, for i.i.d. trades.

    Exact: a dynamic programme over (trades, wins) that removes the paths crossing
    :func:`win_rate_rejection_boundary`; O(horizon**2) arithmetic. With ``win_rate <= bar``
    the last entry is the chance of a false advance within ``horizon`` trades (at most
    ``1 - confidence``); with a better strategy, the first n where it passes 0.5 is the
    median number of trades to advance.

    Args:
        bar: the gate's bar, 0–1.
        win_rate: the true win rate of the trades, 0–1.
        horizon: trades to follow.

    Raises:
        ConfigError: a fraction outside [0, 1], horizon invalid, bad confidence.
    """
    p = _fraction("win_rate", win_rate)
    boundary = win_rate_rejection_boundary(bar, horizon, confidence, prior)
    q = 1.0 - p
    alive = [1.0]  # alive[s]: P(s wins so far and no rejection yet)
    rejected = 0.0
    cdf = [0.0]
    for n in range(1, len(boundary)):
        alive = [q * lose + p * win for lose, win in zip([*alive, 0.0], [0.0, *alive])]
        k = boundary[n]
        if k < len(alive):
            rejected += math.fsum(alive[k:])
            del alive[k:]
        cdf.append(min(1.0, rejected))
    return tuple(cdf)


class WinRateTest:
    """The win-rate tests followed trade by trade, both directions latched.

    ``rejected`` turns True the first time :func:`win_rate_e_value` reaches
    ``1/(1 - confidence)`` (evidence the win rate is above ``bar``) and stays True;
    ``upper_rejected`` likewise for :func:`win_rate_upper_e_value` (evidence it is below).
    Each :meth:`update` costs two e-value evaluations, independent of the history.

    Args:
        bar: the win rate to beat, 0–1.
        confidence: 0.95 means each direction errs with probability at most 5%.
        prior: for the "above" test; None uses ``BetaPrior.above(bar)``.
        upper_prior: for the "below" test; None uses ``BetaPrior.below(bar)``.

    Raises:
        ConfigError: bar outside [0, 1], confidence not strictly between 0 and 1.
    """

    def __init__(
        self,
        bar: float,
        confidence: float = 0.95,
        prior: Optional[BetaPrior] = None,
        upper_prior: Optional[BetaPrior] = None,
    ) -> None:
        self.bar = _fraction("bar", bar)
        self.confidence = _open_fraction("confidence", confidence)
        self._threshold = _log_threshold(confidence)
        # Validate the priors now, not at the first trade.
        _win_rate_args(0, 0, self.bar, prior, above=True)
        _win_rate_args(0, 0, self.bar, upper_prior, above=False)
        self.prior = prior
        self.upper_prior = upper_prior
        self.wins = 0
        self.n = 0
        self.log_e_value = 0.0
        self.upper_log_e_value = 0.0
        self.rejected = False
        self.upper_rejected = False

    def update(self, win: bool) -> None:
        """Count one trade, won (pnl > 0) or not.

        Raises:
            InvalidTradeError: ``win`` is not a bool (or 0/1).
        """
        if win not in (True, False) or not isinstance(win, (bool, int)):
            raise InvalidTradeError(f"win must be True or False, got {win!r}")
        self.n += 1
        self.wins += int(win)
        self.log_e_value = win_rate_log_e_value(self.wins, self.n, self.bar, self.prior)
        self.upper_log_e_value = win_rate_upper_log_e_value(
            self.wins, self.n, self.bar, self.upper_prior
        )
        self.rejected = self.rejected or self.log_e_value >= self._threshold
        self.upper_rejected = self.upper_rejected or self.upper_log_e_value >= self._threshold

    @property
    def e_value(self) -> float:
        """The current e-value against "win rate <= bar" (not latched)."""
        return _exp(self.log_e_value)

    @property
    def upper_e_value(self) -> float:
        """The current e-value against "win rate >= bar" (not latched)."""
        return _exp(self.upper_log_e_value)


# ---------------------------------------------------------------------------------------
# 3. EV per dollar: testing by betting
# ---------------------------------------------------------------------------------------
#
# I. Waudby-Smith & A. Ramdas, "Estimating means of bounded random variables by betting",
# J. R. Stat. Soc. B 86 (2024) 1-27. A trade's return r = pnl/size is at least -L. With
# x = (r - bar)/(L + bar) >= -1 and a bet lam in [0, max_bet], max_bet < 1, each factor
# 1 + lam x is positive, and under H0 (conditional mean of r at most bar) its conditional
# mean is at most 1: the product is a nonnegative supermartingale whatever the upper tail
# of r, its skew, or how lam was chosen from the past. The bet is their aGRAPA rule
# (mean over second moment of past x, a Kelly approximation) with each trade weighted by
# its size: lam_t = size_t * sum(s x) / (sum(s^2 x^2) + mean(s)^2), clipped to
# [0, max_bet]. Weighting by size makes the test track the size-weighted mean, i.e. total
# pnl / total size; the pseudo-term mean(s)^2 (one past trade with |x| = 1) damps the
# first bets.


_DEFAULT_GRID_POINTS = 64


class _BettingSide:
    """Betting wealth for H0 "mean return <= b" at the test bar and at a grid of bars.

    Index 0 is the test bar, the rest the grid in increasing order. One pass over the
    bars per trade: O(len(bars)).
    """

    def __init__(
        self, bar: float, grid: Sequence[float], loss_bound: float, max_bet: float, threshold: float
    ) -> None:
        self.bars = [bar, *grid]
        self.scales = [1.0 / (loss_bound + b) for b in self.bars]
        self.loss_bound = loss_bound
        self.max_bet = max_bet
        self.threshold = threshold
        self.log_wealth = [0.0] * len(self.bars)
        self.crossed = [False] * len(self.bars)
        self.crossed_prefix = 0  # leading grid bars all crossed
        self.count = 0
        self.sum_pnl = 0.0
        self.sum_size = 0.0
        self.sum_pnl2 = 0.0
        self.sum_pnl_size = 0.0
        self.sum_size2 = 0.0

    def update(self, pnl: float, size: float) -> None:
        ret = pnl / size
        if self.count > 0:
            mean_size = self.sum_size / self.count
            prior_term = mean_size * mean_size
            for j, b in enumerate(self.bars):
                scale = self.scales[j]
                # sum(s x) and sum(s^2 x^2) for this bar, from the shared sums.
                numerator = (self.sum_pnl - b * self.sum_size) * scale
                second = self.sum_pnl2 - 2.0 * b * self.sum_pnl_size + b * b * self.sum_size2
                denominator = max(second, 0.0) * scale * scale + prior_term
                bet = size * numerator / denominator
                # Any predictable bet in [0, max_bet] keeps validity; nan/inf become 0.
                if not bet > 0.0:
                    continue
                if bet > self.max_bet:
                    bet = self.max_bet
                self.log_wealth[j] += math.log1p(bet * (ret - b) * scale)
                if self.log_wealth[j] >= self.threshold:
                    self.crossed[j] = True
        while self.crossed_prefix + 1 < len(self.bars) and self.crossed[self.crossed_prefix + 1]:
            self.crossed_prefix += 1
        self.count += 1
        self.sum_pnl += pnl
        self.sum_size += size
        self.sum_pnl2 += pnl * pnl
        self.sum_pnl_size += pnl * size
        self.sum_size2 += size * size

    def bound(self) -> Optional[float]:
        """The largest grid bar with all grid bars up to it rejected, or None."""
        return self.bars[self.crossed_prefix] if self.crossed_prefix > 0 else None


def _grid(name: str, values: Sequence[float], low: float, high: float) -> List[float]:
    points = sorted(_real(name, v) for v in values)
    if not points:
        raise ConfigError(f"{name} must hold at least one bar, got {values!r}")
    if points[0] <= low or points[-1] >= high:
        raise ConfigError(
            f"{name} bars must lie strictly between {low!r} and {high!r}, got {values!r}"
        )
    return points


class EVBettingTest:
    """An anytime-valid test that the expected pnl per dollar beats ``bar``, by betting.

    The only assumption is a loss bound: no trade loses more than ``loss_bound`` per
    dollar of size (``pnl >= -loss_bound * size``; 1.0 for an unlevered position). Gains
    may have any tail. Under H0, "every trade's expected pnl/size, given its size and
    everything before it, is at most ``bar``", the probability that :attr:`e_value` *ever*
    reaches ``1/(1 - confidence)`` is at most ``1 - confidence`` (Waudby-Smith & Ramdas
    2024; the bets are a size-weighted aGRAPA rule, see the module source). Bets grow with
    a trade's size relative to the average, so the test tracks total pnl / total size.

    Speed depends on how tight ``loss_bound`` is, because each bet is scaled to survive
    the worst loss: for trades winning 1.2% of size 60% of the time and losing 1% the
    rest (0.32 cents per dollar), the median trades to reject bar 0 are 71 with
    ``loss_bound=0.01`` (a 1% stop), 214 with 0.1 and 1949 with 1.0. Set it to the real
    worst loss per dollar. Sizes that vary a lot also cost speed, as the bets concentrate
    on the largest trades: 60% wins of 1.2x against 1x losses takes a median 76 trades at
    one size, 83 with sizes spread over 50–150, 179 with sizes from 10 to 400.

    :attr:`lower_bound` is an anytime-valid lower confidence bound on the same mean read
    off a fixed grid of candidate bars, each with its own wealth (O(grid) per trade). It
    is the largest grid bar with every grid bar up to it rejected, so it is conservative
    by less than one grid step. The default grid is the 64 bars
    ``-L + (L + bar) * j / 32``, j = 1..64: steps of ``(L + bar) / 32`` (3.1 cents per
    dollar for L = 1, bar = 0), up to ``bar + (L + bar)``; ``bar`` itself is on it.

    The mirror test ("mean >= bar", for "this stage cannot pass") needs gains bounded as
    well: with unbounded gains no bet against the mean can be both valid and useful (a
    law with mean >= bar can put almost all its mass at -L, balanced by a rare huge
    gain). Pass ``gain_bound`` (pnl <= gain_bound * size) to enable :attr:`upper_e_value`,
    :attr:`upper_rejected` and :attr:`upper_bound`; without it they stay at 1, False and
    inf.

    Args:
        bar: the expected pnl per dollar to beat, > -loss_bound (0.0 = break even).
        loss_bound: L > 0, the most a trade can lose per dollar of size.
        confidence: 0.95 means each direction errs with probability at most 5%.
        gain_bound: G > bar, the most a trade can win per dollar, or None (unbounded).
        max_bet: the largest fraction of wealth bet on one trade, in (0, 1).
        grid: candidate bars for :attr:`lower_bound`, each > -L; None = default grid.
        upper_grid: candidate bars for :attr:`upper_bound`, each < G; None mirrors the
            default: ``G - (G - bar) * j / 32``, j = 1..64.

    Raises:
        ConfigError: L <= 0, bar <= -L, confidence outside (0, 1), G <= bar, max_bet
            outside (0, 1), a grid bar out of range.
    """

    def __init__(
        self,
        bar: float = 0.0,
        loss_bound: float = 1.0,
        confidence: float = 0.95,
        *,
        gain_bound: Optional[float] = None,
        max_bet: float = 0.5,
        grid: Optional[Sequence[float]] = None,
        upper_grid: Optional[Sequence[float]] = None,
    ) -> None:
        self.loss_bound = _positive("loss_bound", loss_bound)
        self.bar = _real("bar", bar)
        if self.bar <= -self.loss_bound:
            raise ConfigError(
                f"bar must be above -loss_bound={-self.loss_bound!r} (no trade can return"
                f" less than that), got {bar!r}"
            )
        self.confidence = _open_fraction("confidence", confidence)
        self.max_bet = _open_fraction("max_bet", max_bet)
        threshold = _log_threshold(confidence)
        self.gain_bound: Optional[float] = None
        if gain_bound is not None:
            self.gain_bound = _real("gain_bound", gain_bound)
            if self.gain_bound <= self.bar:
                raise ConfigError(f"gain_bound must be above bar={self.bar!r}, got {gain_bound!r}")
        span = self.loss_bound + self.bar
        points = (
            [-self.loss_bound + span * j / 32.0 for j in range(1, _DEFAULT_GRID_POINTS + 1)]
            if grid is None
            else _grid("grid", grid, -self.loss_bound, math.inf)
        )
        self._lower = _BettingSide(self.bar, points, self.loss_bound, self.max_bet, threshold)
        self._upper: Optional[_BettingSide] = None
        if self.gain_bound is not None:
            g = self.gain_bound
            up = (
                [g - (g - self.bar) * j / 32.0 for j in range(1, _DEFAULT_GRID_POINTS + 1)]
                if upper_grid is None
                else _grid("upper_grid", upper_grid, -math.inf, g)
            )
            # "mean >= b" for r is "mean <= -b" for -r, whose loss bound is G.
            self._upper = _BettingSide(
                -self.bar, sorted(-b for b in up), g, self.max_bet, threshold
            )
        self.n = 0
        self.rejected = False
        self.upper_rejected = False

    def update(self, pnl: float, size: float) -> None:
        """Add one closed trade: ``pnl`` and ``size`` in account currency. O(grid).

        A trade with ``size == 0`` carries no information and is skipped.

        Raises:
            InvalidTradeError: pnl or size not finite, size < 0, a loss beyond
                ``loss_bound * size`` or a gain beyond ``gain_bound * size``. Nothing changes.
        """
        pnl_, size_ = _trade(pnl, size)
        if size_ == 0.0:
            return
        if pnl_ < -self.loss_bound * size_:
            raise InvalidTradeError(
                f"pnl={pnl!r} on size={size!r} loses more than loss_bound={self.loss_bound!r}"
                " per dollar, which the EV test assumes never happens; raise loss_bound"
                " (e.g. for leveraged trades) or fix the trade"
            )
        if self.gain_bound is not None and pnl_ > self.gain_bound * size_:
            raise InvalidTradeError(
                f"pnl={pnl!r} on size={size!r} gains more than gain_bound={self.gain_bound!r}"
                " per dollar, which the EV test assumes never happens; raise gain_bound"
                " or fix the trade"
            )
        self.n += 1
        self._lower.update(pnl_, size_)
        self.rejected = self.rejected or self._lower.crossed[0]
        if self._upper is not None:
            self._upper.update(-pnl_, size_)
            self.upper_rejected = self.upper_rejected or self._upper.crossed[0]

    @property
    def log_e_value(self) -> float:
        """ln of :attr:`e_value`."""
        return self._lower.log_wealth[0]

    @property
    def e_value(self) -> float:
        """The betting wealth against "EV per dollar <= bar", >= 0 (not latched)."""
        return _exp(self._lower.log_wealth[0])

    @property
    def lower_bound(self) -> float:
        """Anytime-valid lower confidence bound on EV per dollar; -loss_bound if none yet."""
        bound = self._lower.bound()
        return -self.loss_bound if bound is None else bound

    @property
    def upper_e_value(self) -> float:
        """The wealth against "EV per dollar >= bar"; 1 without a gain bound."""
        return 1.0 if self._upper is None else _exp(self._upper.log_wealth[0])

    @property
    def upper_bound(self) -> float:
        """Anytime-valid upper confidence bound; gain_bound (or inf) if none yet."""
        if self._upper is None or self.gain_bound is None:
            return math.inf
        bound = self._upper.bound()
        return self.gain_bound if bound is None else -bound


def _trade_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidTradeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidTradeError(f"{name} must be finite, got {value!r}")
    return float(value)


def _trade(pnl: object, size: object) -> Tuple[float, float]:
    pnl_ = _trade_number("pnl", pnl)
    size_ = _trade_number("size", size)
    if size_ < 0.0:
        raise InvalidTradeError(f"size must be >= 0, got {size!r}")
    return pnl_, size_


# ---------------------------------------------------------------------------------------
# 4. Bernoulli CUSUM with exact run lengths
# ---------------------------------------------------------------------------------------
#
# E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954) 100-115: S_t =
# max(0, S_{t-1} + score_t), alarm when S_t >= h, scores the log-likelihood ratio of the
# unacceptable win rate p1 against the expected p0. The scores are scaled to integers so
# the chart is a Markov chain on the states 0..H-1 with the alarm absorbing (D. Brook &
# D. A. Evans, "An approach to the probability distribution of cusum run length",
# Biometrika 59 (1972) 539-549; M. R. Reynolds Jr. & Z. G. Stoumbos, "A CUSUM chart for
# monitoring a proportion when inspecting continuously", J. Quality Technology 31 (1999)
# 87-108). The incremental chart runs on the same integers, so the run-length numbers
# are exact for the chart that runs, not an approximation of an ideal one.

_UNITS_RANGE = range(20, 51)  # units for the larger score: rounding error of a few 0.1%
# The in-control ARL grows exponentially with the threshold, so any sensible target is
# met far below this; it only stops a runaway search.
_MAX_CUSUM_STATES = 1 << 16
_MAX_ARL0 = 1e15  # more trades than any bot will make; larger targets only cost time


@dataclass(frozen=True)
class CusumScores:
    """The integer scores of a Bernoulli CUSUM.

    Attributes:
        loss_units: what a loss adds to the statistic, > 0.
        win_units: what a win subtracts, > 0.
        units_per_nat: integer units per unit of log-likelihood ratio (nats).
    """

    loss_units: int
    win_units: int
    units_per_nat: float


def bernoulli_cusum_scores(p0: float, p1: float) -> CusumScores:
    """The integer scores for detecting a fall of the win rate from ``p0`` to ``p1``.

    The exact scores are ln((1-p1)/(1-p0)) for a loss and ln(p1/p0) for a win. The
    larger is given between 20 and 50 units, choosing the scale whose rounding best keeps
    the ratio of the two (ties: fewer units), then both are divided by their gcd.

    Raises:
        ConfigError: p0 or p1 not strictly between 0 and 1, or p1 >= p0.
    """
    p0_ = _open_fraction("p0", p0)
    p1_ = _open_fraction("p1", p1)
    if p1_ >= p0_:
        raise ConfigError(f"p1 (the unacceptable win rate) must be below p0={p0_!r}, got {p1!r}")
    loss = math.log((1.0 - p1_) / (1.0 - p0_))
    win = math.log(p0_ / p1_)
    larger = max(loss, win)
    smaller = min(loss, win)
    best: Optional[Tuple[float, int, int]] = None
    for units in _UNITS_RANGE:
        scale = units / larger
        other = max(1, round(smaller * scale))
        error = abs(other / scale - smaller) / smaller
        if best is None or error < best[0]:
            best = (error, units, other)
    assert best is not None
    _, units, other = best
    scale = units / larger
    loss_units, win_units = (units, other) if loss >= win else (other, units)
    common = math.gcd(loss_units, win_units)
    return CusumScores(loss_units // common, win_units // common, scale / common)


def _threshold_units(scores: CusumScores, h: object) -> int:
    h_ = _positive("h", h)
    # h = H / units_per_nat must map back to H despite rounding in the division.
    return max(1, math.ceil(h_ * scores.units_per_nat - 1e-9))


class BernoulliCusum:
    """Page's CUSUM for a fall of the win rate from ``p0`` to ``p1``, one trade at a time.

    On integer scores (:func:`bernoulli_cusum_scores`): a loss adds ``loss_units``, a win
    subtracts ``win_units``, floored at 0; alarm when the state reaches the threshold
    ``H = ceil(h * units_per_nat)``. :func:`cusum_arl` and
    :func:`cusum_alarm_probability` describe exactly this chart. :attr:`alarmed` latches.

    Args:
        p0: the expected (in-control) win rate, 0–1.
        p1: the unacceptable win rate, below p0.
        h: the threshold in nats of log-likelihood ratio, > 0 (see :func:`cusum_threshold`).

    Raises:
        ConfigError: p0, p1 or h out of range.
    """

    def __init__(self, p0: float, p1: float, h: float) -> None:
        self.scores = bernoulli_cusum_scores(p0, p1)
        self.p0 = float(p0)
        self.p1 = float(p1)
        self.threshold_units = _threshold_units(self.scores, h)
        self.state_units = 0
        self.n = 0
        self.alarmed = False

    @property
    def h(self) -> float:
        """The threshold actually used, in nats (the given h rounded up to a unit)."""
        return self.threshold_units / self.scores.units_per_nat

    @property
    def statistic(self) -> float:
        """The CUSUM statistic in nats of log-likelihood ratio, >= 0."""
        return self.state_units / self.scores.units_per_nat

    def update(self, win: bool) -> None:
        """Count one trade, won (pnl > 0) or not. O(1).

        Raises:
            InvalidTradeError: ``win`` is not a bool (or 0/1).
        """
        if win not in (True, False) or not isinstance(win, (bool, int)):
            raise InvalidTradeError(f"win must be True or False, got {win!r}")
        self.n += 1
        if win:
            self.state_units = max(0, self.state_units - self.scores.win_units)
        else:
            self.state_units += self.scores.loss_units
        if self.state_units >= self.threshold_units:
            self.alarmed = True


def _arl_units(loss: int, win: int, states: int, p: float) -> float:
    """Expected trades to alarm from state 0: solve (I - P) L = 1 on states 0..H-1.

    I - P is banded (a win moves down by ``win`` or to 0, a loss up by ``loss``) and an
    M-matrix, so Gaussian elimination without pivoting is stable; O(H * win * loss).
    """
    q = 1.0 - p
    below, above = win, loss
    width = below + above + 1
    rows = [[0.0] * width for _ in range(states)]
    for i in range(states):
        row = rows[i]
        row[below] += 1.0
        row[max(0, i - win) - i + below] -= p
        if i + loss < states:
            row[above + below] -= q
    rhs = [1.0] * states
    for k in range(states):
        pivot_row = rows[k]
        pivot = pivot_row[below]
        last = min(states - 1, k + above)
        span = last - k + 1
        pivot_part = pivot_row[below : below + span]
        for i in range(k + 1, min(states, k + below + 1)):
            row = rows[i]
            start = k - i + below
            factor = row[start]
            if factor == 0.0:
                continue
            factor /= pivot
            row[start : start + span] = [
                value - factor * pv for value, pv in zip(row[start : start + span], pivot_part)
            ]
            rhs[i] -= factor * rhs[k]
    solution = [0.0] * states
    for k in range(states - 1, -1, -1):
        row = rows[k]
        total = rhs[k]
        for c in range(k + 1, min(states, k + above + 1)):
            total -= row[c - k + below] * solution[c]
        solution[k] = total / row[below]
    return solution[0]


def _alarm_probability_units(
    loss: int, win: int, states: int, p: float, horizon: int, give_up_above: float = math.inf
) -> float:
    """P(alarm within ``horizon`` trades from state 0): the chain stepped forward.

    Stops early, returning a value above ``give_up_above``, once the alarms already
    exceed it (the threshold search only needs to know that).
    """
    q = 1.0 - p
    mass = [0.0] * states
    mass[0] = 1.0
    alarmed: List[float] = []
    running = 0.0
    floor_zero = min(win, states)  # states a win sends to 0 besides 0 itself
    stay = max(0, states - loss)  # states a loss does not push into the alarm
    for _ in range(horizon):
        to_alarm = q * math.fsum(mass[stay:])
        alarmed.append(to_alarm)
        running += to_alarm
        if running > give_up_above:
            return running
        # new[j] = p * mass[j + win] + q * mass[j - loss], and the floor at 0 collects
        # the wins from states 0..win.
        after_win = mass[win:] + [0.0] * floor_zero
        after_loss = [0.0] * min(loss, states) + mass[:stay]
        at_zero = p * math.fsum(mass[:floor_zero])
        mass = [p * w + q * v for w, v in zip(after_win, after_loss)]
        mass[0] += at_zero
    # Summing the absorbed mass (not 1 - survivors) keeps tiny probabilities exact.
    return min(1.0, math.fsum(alarmed))


def _cusum_inputs(p0: float, p1: float, h: float, p_true: float) -> Tuple[CusumScores, int, float]:
    scores = bernoulli_cusum_scores(p0, p1)
    return scores, _threshold_units(scores, h), _fraction("p_true", p_true)


def cusum_arl(p0: float, p1: float, h: float, p_true: float) -> float:
    """Average run length: expected trades until :class:`BernoulliCusum` alarms, exactly.

    Starting from 0 with i.i.d. trades of win rate ``p_true``. With ``p_true = p0`` it is
    the in-control ARL (trades between false alarms); with ``p1`` the detection delay.
    Brook & Evans's Markov chain solved exactly; O(H * win_units * loss_units).

    Returns:
        Trades, >= 1; inf when the chart can never alarm (``p_true == 1``).

    Raises:
        ConfigError: an argument out of range.
    """
    scores, states, p = _cusum_inputs(p0, p1, h, p_true)
    if p >= 1.0:
        return math.inf
    return _arl_units(scores.loss_units, scores.win_units, states, p)


def cusum_alarm_probability(p0: float, p1: float, h: float, p_true: float, horizon: int) -> float:
    """P(:class:`BernoulliCusum` alarms within ``horizon`` trades), exactly.

    Starting from 0 with i.i.d. trades of win rate ``p_true``; with ``p0`` this is the
    chance of a false alarm. O(horizon * H).

    Raises:
        ConfigError: an argument out of range, horizon not a whole number >= 0.
    """
    scores, states, p = _cusum_inputs(p0, p1, h, p_true)
    horizon_ = _count("horizon", horizon)
    return _alarm_probability_units(scores.loss_units, scores.win_units, states, p, horizon_)


def cusum_threshold(
    p0: float,
    p1: float,
    *,
    arl0: Optional[float] = None,
    horizon: Optional[int] = None,
    false_alarm_prob: Optional[float] = None,
) -> float:
    """The smallest threshold h (nats) meeting one in-control target, exactly.

    Give either ``arl0`` (in-control average run length at least this many trades) or
    both ``horizon`` and ``false_alarm_prob`` (chance of any alarm within ``horizon``
    trades at win rate ``p0`` at most this). Both quantities are monotone in the
    threshold, so the least integer threshold is found by doubling then bisection. The
    result is ``H / units_per_nat``: ``BernoulliCusum(p0, p1, h)`` uses exactly H.

    Raises:
        ConfigError: p0, p1 out of range, not exactly one target given, or a target out
            of range (arl0 outside [1, 1e15], false_alarm_prob outside (0, 1),
            horizon < 1).
    """
    scores = bernoulli_cusum_scores(p0, p1)
    p = float(p0)
    loss, win = scores.loss_units, scores.win_units
    check: Callable[[int], bool]
    if arl0 is not None:
        if horizon is not None or false_alarm_prob is not None:
            raise ConfigError("give either arl0 or horizon with false_alarm_prob, not both")
        target_arl = _real("arl0", arl0)
        if not 1.0 <= target_arl <= _MAX_ARL0:
            raise ConfigError(f"arl0 must be between 1 and {_MAX_ARL0:g} trades, got {arl0!r}")

        def check(states: int) -> bool:
            return _arl_units(loss, win, states, p) >= target_arl

    elif horizon is not None and false_alarm_prob is not None:
        horizon_ = _count("horizon", horizon, minimum=1)
        target_prob = _open_fraction("false_alarm_prob", false_alarm_prob)

        def check(states: int) -> bool:
            probability = _alarm_probability_units(
                loss, win, states, p, horizon_, give_up_above=target_prob
            )
            return probability <= target_prob

    else:
        raise ConfigError(
            "give arl0, or horizon together with false_alarm_prob, to choose a CUSUM threshold"
        )
    high = 1
    while not check(high):
        if high >= _MAX_CUSUM_STATES:
            raise ConfigError(
                f"no CUSUM threshold below {_MAX_CUSUM_STATES} units meets the target;"
                " ask for a smaller arl0 or a larger false_alarm_prob"
            )
        high *= 2
    low = high // 2  # fails (or 0)
    while high - low > 1:
        middle = (low + high) // 2
        if check(middle):
            high = middle
        else:
            low = middle
    return high / scores.units_per_nat


# ---------------------------------------------------------------------------------------
# 5. EV CUSUM with a bootstrapped threshold
# ---------------------------------------------------------------------------------------


class EvCusum:
    """A one-sided CUSUM on returns per dollar, for a fall of the mean, trade by trade.

    ``S_t = max(0, S_{t-1} + (reference - r_t))`` with ``r_t = pnl / size``; alarm when
    ``S_t >= threshold`` (Page 1954). Trades count equally, whatever their size.
    :attr:`alarmed` latches. Choose both numbers with :func:`ev_cusum_threshold`.

    Args:
        reference: k, per dollar; usually halfway between the expected and the
            unacceptable mean.
        threshold: h > 0, per dollar.

    Raises:
        ConfigError: reference not finite, threshold not > 0.
    """

    def __init__(self, reference: float, threshold: float) -> None:
        self.reference = _real("reference", reference)
        self.threshold = _positive("threshold", threshold)
        self.statistic = 0.0
        self.n = 0
        self.alarmed = False

    def update(self, pnl: float, size: float) -> None:
        """Add one trade (account currency); ``size == 0`` trades are skipped. O(1).

        Raises:
            InvalidTradeError: pnl or size not finite, or size < 0. Nothing changes.
        """
        pnl_, size_ = _trade(pnl, size)
        if size_ == 0.0:
            return
        self.n += 1
        self.statistic = max(0.0, self.statistic + (self.reference - pnl_ / size_))
        if self.statistic >= self.threshold:
            self.alarmed = True


@dataclass(frozen=True)
class EvCusumThreshold:
    """A bootstrapped :class:`EvCusum` design.

    Attributes:
        reference: k = (expected + unacceptable) / 2, per dollar.
        threshold: h, per dollar.
        false_alarm_prob: the fraction of simulated in-control paths that alarm within
            the horizon at this threshold (at most the target, by construction).
        standard_error: its Monte Carlo standard error, sqrt(p (1 - p) / paths). The
            threshold was fitted to the same paths, so the true chance may sit a couple
            of standard errors above the estimate.
        paths: the number of simulated paths.
    """

    reference: float
    threshold: float
    false_alarm_prob: float
    standard_error: float
    paths: int

    def cusum(self) -> EvCusum:
        """A fresh chart with this design."""
        return EvCusum(self.reference, self.threshold)


def ev_cusum_threshold(
    sample_returns: Sequence[float],
    expected: float,
    unacceptable: float,
    horizon: int,
    false_alarm_prob: float,
    rng: random.Random,
    *,
    paths: int = 2000,
) -> EvCusumThreshold:
    """Choose the :class:`EvCusum` threshold by bootstrap, for a target false-alarm chance.

    Simulates ``paths`` in-control paths of ``horizon`` trades, each return drawn with
    replacement from ``sample_returns`` shifted so their mean is exactly ``expected``
    (B. Efron, "Bootstrap methods: another look at the jackknife", Ann. Statist. 7 (1979)
    1-26), records each path's largest CUSUM value, and returns the smallest threshold
    (midway between two recorded maxima) that at most ``floor(false_alarm_prob * paths)``
    paths reach. Assumes in-control returns are i.i.d. like the sample; O(paths * horizon).

    Args:
        sample_returns: past returns per dollar (pnl / size), at least 2.
        expected: the in-control mean return per dollar.
        unacceptable: the mean to detect, below ``expected``.
        horizon: trades the chart should run without a false alarm, >= 1.
        false_alarm_prob: the target chance of a false alarm within ``horizon``, (0, 1).
        rng: the only source of randomness; seed it for a reproducible threshold.
        paths: simulated paths, >= 1.

    Raises:
        ConfigError: fewer than 2 or non-finite returns, unacceptable >= expected, or
            another argument out of range.
    """
    if isinstance(sample_returns, (str, bytes)):
        raise ConfigError(f"sample_returns must be a sequence of numbers, got {sample_returns!r}")
    sample = [_real("sample_returns item", r) for r in sample_returns]
    if len(sample) < 2:
        raise ConfigError(f"sample_returns needs at least 2 returns, got {len(sample)}")
    expected_ = _real("expected", expected)
    unacceptable_ = _real("unacceptable", unacceptable)
    if unacceptable_ >= expected_:
        raise ConfigError(
            f"unacceptable must be below expected={expected_!r}, got {unacceptable!r}"
        )
    horizon_ = _count("horizon", horizon, minimum=1)
    target = _open_fraction("false_alarm_prob", false_alarm_prob)
    paths_ = _count("paths", paths, minimum=1)
    if not isinstance(rng, random.Random):
        raise ConfigError(f"rng must be a random.Random, got {rng!r}")
    shift = expected_ - math.fsum(sample) / len(sample)
    reference = 0.5 * (expected_ + unacceptable_)
    # The chart only ever sees reference - r; precompute it once per sample point.
    increments = [reference - (r + shift) for r in sample]
    maxima: List[float] = []
    for _ in range(paths_):
        statistic = 0.0
        highest = 0.0
        for step in rng.choices(increments, k=horizon_):
            statistic += step
            if statistic < 0.0:
                statistic = 0.0
            elif statistic > highest:
                highest = statistic
        maxima.append(highest)
    maxima.sort(reverse=True)
    allowed = math.floor(target * paths_)
    level = maxima[allowed]
    if allowed > 0 and maxima[allowed - 1] > level:
        threshold = 0.5 * (level + maxima[allowed - 1])
    else:
        threshold = math.nextafter(level, math.inf)
    alarms = sum(1 for m in maxima if m >= threshold)
    estimate = alarms / paths_
    return EvCusumThreshold(
        reference=reference,
        threshold=threshold,
        false_alarm_prob=estimate,
        standard_error=math.sqrt(estimate * (1.0 - estimate) / paths_),
        paths=paths_,
    )
