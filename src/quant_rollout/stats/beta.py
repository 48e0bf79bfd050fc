"""The regularized incomplete beta function and the log beta function, stdlib only.

See :mod:`quant_rollout.stats` for the units and what "anytime-valid" means.
"""

from __future__ import annotations

import math
from typing import Tuple

from .._validate import fraction, positive

__all__ = [
    "betainc",
    "betaincc",
    "log_beta",
    "log_betainc",
    "log_betaincc",
]

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
    a_ = positive("a", a)
    b_ = positive("b", b)
    return a_, b_, fraction("x", x)


def log_beta(a: float, b: float) -> float:
    """ln B(a, b) = ln(Gamma(a) Gamma(b) / Gamma(a + b)), for a, b > 0.

    Accurate to about 1e-15 relative even when one argument is tiny and the other huge
    (where ``lgamma(a) + lgamma(b) - lgamma(a + b)`` loses digits): Stirling's series
    with the cancelling terms expanded (DiDonato & Morris 1992, BETALN).

    Raises:
        ConfigError: ``a`` or ``b`` not a finite number > 0.
    """
    return _log_beta(positive("a", a), positive("b", b))


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
