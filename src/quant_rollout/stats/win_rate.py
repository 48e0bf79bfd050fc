"""Win rate: an anytime-valid Beta-mixture test, its confidence bounds and exact rejection tables.

See :mod:`quant_rollout.stats` for the units and what "anytime-valid" means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

from .._search import bisect_real
from .._validate import fraction, number, open_fraction, positive, whole
from ..errors import ConfigError
from ._checks import _exp, _log_threshold, _wins_and_trades
from .beta import _log_beta, _log_ibeta

__all__ = [
    "DEFAULT_PRIOR_CONCENTRATION",
    "DEFAULT_PRIOR_EFFECT",
    "BetaPrior",
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
        positive("BetaPrior.alpha", self.alpha)
        positive("BetaPrior.beta", self.beta)

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
        mean_ = open_fraction("mean", mean)
        total = positive("concentration", concentration)
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
        bar_ = fraction("bar", bar)
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
        bar_ = fraction("bar", bar)
        if bar_ <= 0.0:
            raise ConfigError("bar must be above 0 for a prior below it, got 0.0")
        effect_ = _effect(effect)
        return cls.centred(bar_ - min(effect_, bar_ / 2.0), concentration)

    def mirrored(self) -> BetaPrior:
        """The prior of the loss rate: Beta(beta, alpha)."""
        return BetaPrior(self.beta, self.alpha)


def _effect(value: object) -> float:
    result = number("effect", value)
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
    bar_ = fraction("bar", bar)
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
    low, _ = bisect_real(rejected, 0.0, wins_ / n_, tolerance)
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

    _, high = bisect_real(lambda bar: not rejected(bar), wins_ / n_, 1.0, tolerance)
    return high


def _least_successes(
    log_e: Callable[[int, int], float],
    horizon: int,
    threshold: float,
    prefix: Sequence[int] = (),
) -> Tuple[int, ...]:
    """For n = 0..horizon, the least k with log_e(k, n - k) >= threshold (n + 1 if none).

    log_e must rise with k at fixed n and fall when a failure is added, so the answer
    moves up by 0 or 1 per trade and each n costs O(1) evaluations on average.
    ``prefix``: the answers for n = 0..len(prefix) - 1, already known (a shorter
    table being extended); the search goes on from its last entry.
    """
    least: List[int] = list(prefix[: horizon + 1])
    k = least[-1] if least else 0
    for n in range(len(least), horizon + 1):
        while k <= n and log_e(k, n - k) < threshold:
            k += 1
        least.append(k)
    return tuple(least)


def win_rate_rejection_boundary(
    bar: float,
    horizon: int,
    confidence: float = 0.95,
    prior: Optional[BetaPrior] = None,
    *,
    prefix: Sequence[int] = (),
) -> Tuple[int, ...]:
    """For n = 0..horizon, the fewest wins in n trades at which the win-rate test rejects.

    Entry ``n`` is the least ``k`` with ``win_rate_e_value(k, n, bar, prior)`` reaching
    ``1/(1 - confidence)``, or ``n + 1`` when no number of wins does. The e-value rises
    with wins and falls with losses, so one more trade moves the boundary up by 0 or 1
    and the whole table costs O(horizon) e-value evaluations. With it, "has the test
    rejected" is a lookup, and :func:`win_rate_rejection_cdf` computes the chance of
    advancing exactly. ``prefix``: this function's answer for a shorter horizon (same
    bar, confidence and prior), extended instead of computed again.

    Raises:
        ConfigError: bar outside [0, 1], horizon not a whole number >= 0, bad confidence.
    """
    bar_ = fraction("bar", bar)
    horizon_ = whole("horizon", horizon)
    threshold = _log_threshold(confidence)
    _, _, _, prior_ = _win_rate_args(0, 0, bar_, prior, above=True)
    if prior_ is None:
        return tuple(n + 1 for n in range(horizon_ + 1))
    rest = 1.0 - bar_
    chosen = prior_
    return _least_successes(
        lambda wins, losses: _log_e_above(wins, losses, bar_, rest, chosen),
        horizon_,
        threshold,
        prefix,
    )


def win_rate_upper_rejection_boundary(
    bar: float,
    horizon: int,
    confidence: float = 0.95,
    prior: Optional[BetaPrior] = None,
    *,
    prefix: Sequence[int] = (),
) -> Tuple[int, ...]:
    """For n = 0..horizon, the most wins in n trades at which the mirror test rejects.

    Entry ``n`` is the largest ``k`` with ``win_rate_upper_e_value(k, n, bar, prior)``
    reaching ``1/(1 - confidence)``, or -1 when none does. Non-decreasing, steps of 0 or 1.
    ``prefix``: this function's answer for a shorter horizon, extended.

    Raises:
        ConfigError: as :func:`win_rate_rejection_boundary`.
    """
    bar_ = fraction("bar", bar)
    horizon_ = whole("horizon", horizon)
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
        [n - m for n, m in enumerate(prefix)],
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
    p = fraction("win_rate", win_rate)
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
