"""A CUSUM on returns per dollar with a bootstrapped threshold.

See :mod:`quant_rollout.stats` for the units and what "anytime-valid" means.
"""

from __future__ import annotations

import math
import random
import threading
from array import array
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Sequence, Tuple

from .._validate import number, open_fraction, positive, whole
from ..errors import ConfigError
from ._checks import _trade

__all__ = [
    "EvCusum",
    "EvCusumThreshold",
    "ev_cusum_threshold",
]


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
        self.reference = number("reference", reference)
        self.threshold = positive("threshold", threshold)
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


_PICKS_KEPT = 2  # bootstrap draws kept for the next design from the same generator
_PICKS_LIMIT = 8_000_000  # paths x horizon beyond which the draws are not kept
_picks: Dict[Tuple[Any, int, int, int], Tuple[Sequence[int], Any]] = {}
_picks_lock = threading.Lock()


def _bootstrap_paths(
    rng: random.Random, size: int, horizon: int, paths: int
) -> Iterator[Sequence[int]]:
    """The sample indices of each of ``paths`` bootstrap paths, as ``rng.choices``
    draws them, leaving ``rng`` where those draws leave it once all are read.

    The indices depend only on the generator's state and the three sizes, not on the
    sample: two designs from the same seed (the EV CUSUM of two stages, planned at two
    expected levels) draw the same indices, so the last draws are kept (up to 8
    million indices) and reused.
    """
    population = range(size)
    if paths * horizon > _PICKS_LIMIT:
        for _ in range(paths):
            yield rng.choices(population, k=horizon)
        return
    key = (rng.getstate(), size, horizon, paths)
    with _picks_lock:
        kept = _picks.get(key)
    if kept is None:
        drawn: List[int] = []
        for _ in range(paths):
            drawn.extend(rng.choices(population, k=horizon))
        picks: Sequence[int] = bytes(drawn) if size <= 256 else array("I", drawn)
        with _picks_lock:
            while len(_picks) >= _PICKS_KEPT:
                del _picks[next(iter(_picks))]
            _picks[key] = (picks, rng.getstate())
    else:
        picks, state = kept
        rng.setstate(state)
    for start in range(0, paths * horizon, horizon):
        yield picks[start : start + horizon]


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
    sample = [number("sample_returns item", r) for r in sample_returns]
    if len(sample) < 2:
        raise ConfigError(f"sample_returns needs at least 2 returns, got {len(sample)}")
    expected_ = number("expected", expected)
    unacceptable_ = number("unacceptable", unacceptable)
    if unacceptable_ >= expected_:
        raise ConfigError(
            f"unacceptable must be below expected={expected_!r}, got {unacceptable!r}"
        )
    horizon_ = whole("horizon", horizon, minimum=1)
    target = open_fraction("false_alarm_prob", false_alarm_prob)
    paths_ = whole("paths", paths, minimum=1)
    if not isinstance(rng, random.Random):
        raise ConfigError(f"rng must be a random.Random, got {rng!r}")
    shift = expected_ - math.fsum(sample) / len(sample)
    reference = 0.5 * (expected_ + unacceptable_)
    # The chart only ever sees reference - r; precompute it once per sample point.
    increments = [reference - (r + shift) for r in sample]
    pick = increments.__getitem__
    maxima: List[float] = []
    for path in _bootstrap_paths(rng, len(increments), horizon_, paths_):
        statistic = 0.0
        highest = 0.0
        for step in map(pick, path):
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
