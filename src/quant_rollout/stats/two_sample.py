"""Anytime-valid comparisons of two arms: is the candidate better than control?

An experiment routes opportunities at random between a control arm and a candidate arm
running at the same time. The question "is the candidate better than control by more
than ``margin``?" is a test about the *difference* of two means, and it must stay valid
however often the rollout looks (after every trade).

The method is testing by betting on paired differences (S. Shekhar & A. Ramdas,
"Nonparametric two-sample testing by betting", IEEE Trans. Inf. Theory 70 (2024)
1178-1203, preprint 2023; the bets from I. Waudby-Smith & A. Ramdas, "Estimating means
of bounded random variables by betting", J. R. Stat. Soc. B 86 (2024) 1-27). The k-th
observation of the candidate is paired with an observation of control (below), and the
pair's difference ``D = candidate - control`` lies in ``[low - high, high - low]``. Under
the null "the candidate's mean is at most control's plus ``margin``" each pair has
conditional mean ``E[D | past] <= margin``, so the wealth

    W_n = prod_k (1 + lam_k (D_k - margin) / (width + margin)),  lam_k in [0, max_bet],

with ``lam_k`` chosen from the pairs before ``k`` only, is a nonnegative supermartingale
starting at 1 and, by Ville's inequality, reaches ``1/alpha`` with probability at most
``alpha`` over an unbounded number of pairs. The bet is the aGRAPA rule of Waudby-Smith &
Ramdas (the running mean of the scaled differences over their running second moment,
one pseudo-observation of size 1 in the denominator), clipped to ``[0, max_bet]``.

The mixture likelihood-ratio test of R. Johari, P. Koomen, L. Pekelis & D. Walsh,
"Always valid inference: continuous monitoring of A/B tests", Operations Research 70
(2022) 1806-1821 (the mSPRT) was the alternative; it rests on a normal approximation of
the difference, whose error at a few hundred trades is exactly where a rollout decides.
Betting needs only the bounds and is valid at every sample size.

**Pairing.** Each arm's unpaired observations wait in a first-in-first-out queue; when
both arms have one, the oldest of each form a pair. At most ``max_unpaired`` observations
wait (the oldest is dropped beyond that): the arms then never pair observations made far
apart in time, so a change of market regime that hits both arms at once cancels in the
difference, and memory stays bounded when one arm trades much more than the other. Which
observations pair depends only on the order of arrival, never on their values, so the
pairs of an i.i.d. null are i.i.d. and the guarantee holds. An arm that trades less
limits the pairs: with uneven weights (10/90) most of the larger arm's trades wait in
vain and the test runs at the pace of the smaller arm.

**Confidence sequences.** The same wealth computed for a grid of bars instead of the
margin gives, for each bar, a test of "difference <= bar"; the largest grid bar with it
and every bar below rejected is an anytime-valid lower confidence bound on the
difference (and the mirror test an upper bound), conservative by less than one grid
step. The tests and bounds are one-sided, each at ``confidence``; the interval
``[lower_bound, upper_bound]`` covers the difference at all times with probability at
least ``1 - 2 (1 - confidence)``. :func:`difference_confidence_sequence` builds a
two-sided interval at a stated confidence.

Units: win rates are fractions 0–1; EV per dollar is pnl / size ("dollars per dollar");
PnL per opportunity is in account currency.
"""

from __future__ import annotations

import math
import random
from collections import deque
from typing import Any, Deque, Dict, List, Mapping, Optional, Sequence, Tuple

from .._validate import number, open_fraction, whole
from ..errors import ConfigError, CorruptStateError, InvalidTradeError

__all__ = [
    "DEFAULT_DIFFERENCE_GRID_POINTS",
    "DEFAULT_MAX_UNPAIRED",
    "DifferenceTest",
    "EvPerDollarDifferenceTest",
    "PnlPerOpportunityDifferenceTest",
    "WinRateDifferenceTest",
    "difference_confidence_sequence",
]

DEFAULT_MAX_UNPAIRED = 32
"""Default longest queue of one arm's observations waiting for a partner."""

DEFAULT_DIFFERENCE_GRID_POINTS = 100
"""Default number of bars on each side's confidence-sequence grid (steps of 2% of the
range of differences: 0.02 win-rate points)."""


def _observation(name: str, value: object) -> float:
    return number(name, value, error=InvalidTradeError)


def _exp(log_value: float) -> float:
    return math.exp(log_value) if log_value < 709.0 else math.inf


class _Side:
    """Betting wealth against "E[D] <= b" for the margin (index 0) and a grid of bars.

    ``sign`` is +1 for the test that the difference is above the bars and -1 for the
    mirror (the difference negated, the bars negated), so one loop serves both.
    """

    def __init__(
        self, bars: Sequence[float], width: float, sign: float, max_bet: float, threshold: float
    ) -> None:
        self.bars = [sign * b for b in bars]
        # D - b >= -width - b: scaling by 1/(width + b) puts the worst loss of a bet at -1.
        self.scales = [1.0 / (width + b) for b in self.bars]
        self.sign = sign
        self.max_bet = max_bet
        self.threshold = threshold
        self.log_wealth = [0.0] * len(self.bars)
        self.crossed = [False] * len(self.bars)
        self.crossed_prefix = 0  # leading grid bars (after the margin) all crossed

    def update(self, count: int, total: float, total2: float, difference: float) -> None:
        """Bet on one pair; ``count``, ``total``, ``total2`` describe the pairs before it."""
        d = self.sign * difference
        s1 = self.sign * total
        for j, b in enumerate(self.bars):
            scale = self.scales[j]
            # Sum of x and of x^2 over past pairs, x = (d - b) * scale, from shared sums.
            mean_part = (s1 - count * b) * scale
            second = (total2 - 2.0 * b * s1 + count * b * b) * scale * scale
            bet = mean_part / (max(second, 0.0) + 1.0)
            if not bet > 0.0:
                continue
            if bet > self.max_bet:
                bet = self.max_bet
            self.log_wealth[j] += math.log1p(bet * (d - b) * scale)
            if self.log_wealth[j] >= self.threshold:
                self.crossed[j] = True
        while self.crossed_prefix + 1 < len(self.bars) and self.crossed[self.crossed_prefix + 1]:
            self.crossed_prefix += 1

    def snapshot(self) -> Dict[str, Any]:
        return {
            "log_wealth": list(self.log_wealth),
            "crossed": "".join("1" if c else "0" for c in self.crossed),
        }

    def restore(self, data: Mapping[str, Any], where: str) -> None:
        log_wealth = data.get("log_wealth")
        crossed = data.get("crossed")
        if (
            not isinstance(log_wealth, list)
            or len(log_wealth) != len(self.bars)
            or not all(_finite(v) for v in log_wealth)
        ):
            raise CorruptStateError(
                f"{where}.log_wealth must be {len(self.bars)} finite numbers (the test's"
                f" settings changed?), got {_excerpt(log_wealth)}"
            )
        if (
            not isinstance(crossed, str)
            or len(crossed) != len(self.bars)
            or set(crossed) - {"0", "1"}
        ):
            raise CorruptStateError(
                f"{where}.crossed must be {len(self.bars)} characters 0/1, got {_excerpt(crossed)}"
            )
        self.log_wealth = [float(v) for v in log_wealth]
        self.crossed = [c == "1" for c in crossed]
        self.crossed_prefix = 0
        while self.crossed_prefix + 1 < len(self.bars) and self.crossed[self.crossed_prefix + 1]:
            self.crossed_prefix += 1

    def bound(self) -> Optional[float]:
        """The last grid bar of the crossed run, in the difference's own sign, or None."""
        if self.crossed_prefix == 0:
            return None
        return self.sign * self.bars[self.crossed_prefix]


def _finite(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _excerpt(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DifferenceTest:
    """Anytime-valid test and confidence sequence for ``mean(candidate) - mean(control)``.

    Observations of each arm lie in ``[low, high]``; they are paired in order of arrival
    (see the module notes) and the paired differences bet on, as in Shekhar & Ramdas
    (2023) with the aGRAPA bets of Waudby-Smith & Ramdas (2024). Two one-sided tests run
    side by side, each latched once it rejects:

    * :attr:`better`: evidence that the difference is above ``margin`` (the candidate
      wins). Under "difference <= margin" the chance it *ever* turns True is at most
      ``1 - confidence``, however often it is checked.
    * :attr:`worse`: evidence that the difference is below ``margin`` (the candidate
      cannot win), with the same guarantee under "difference >= margin".

    Each pair costs O(grid points), independent of the history.

    Args:
        low: the smallest possible observation.
        high: the largest possible observation, > low.
        margin: the difference to beat, strictly between ``low - high`` and
            ``high - low`` (0: the candidate must be better at all).
        confidence: 0.95 means each direction errs with probability at most 5%.
        max_bet: the largest fraction of wealth bet on one pair, in (0, 1).
        grid_points: about how many bars each side's confidence-sequence grid has,
            evenly spaced over the possible differences with the margin among them (0:
            no confidence bounds, only the two tests).
        max_unpaired: the longest queue of one arm's observations waiting for a
            partner, >= 1.

    Raises:
        ConfigError: an argument out of range.
    """

    def __init__(
        self,
        low: float,
        high: float,
        margin: float = 0.0,
        confidence: float = 0.95,
        *,
        max_bet: float = 0.5,
        grid_points: int = DEFAULT_DIFFERENCE_GRID_POINTS,
        max_unpaired: int = DEFAULT_MAX_UNPAIRED,
    ) -> None:
        self.low = number("low", low)
        self.high = number("high", high)
        if self.high <= self.low:
            raise ConfigError(f"high must be above low={self.low!r}, got {high!r}")
        self.width = self.high - self.low
        self.margin = number("margin", margin)
        if not -self.width < self.margin < self.width:
            raise ConfigError(
                f"margin must lie strictly between {-self.width!r} and {self.width!r}"
                f" (the possible differences), got {margin!r}"
            )
        self.confidence = open_fraction("confidence", confidence)
        self.max_bet = open_fraction("max_bet", max_bet)
        points = whole("grid_points", grid_points)
        self.max_unpaired = whole("max_unpaired", max_unpaired, minimum=1)
        threshold = -math.log1p(-self.confidence)
        grid: List[float] = []
        if points:
            # Evenly spaced bars through the margin, so that a bound read off the grid
            # reaches the margin exactly when the tests there do.
            step = 2.0 * self.width / (points + 1)
            first = math.floor((-self.width - self.margin) / step) + 1
            last = math.ceil((self.width - self.margin) / step) - 1
            grid = [self.margin + k * step for k in range(first, last + 1)]
            grid = [b for b in grid if -self.width < b < self.width]
        self._above = _Side([self.margin, *grid], self.width, 1.0, self.max_bet, threshold)
        self._below = _Side(
            [self.margin, *reversed(grid)], self.width, -1.0, self.max_bet, threshold
        )
        self._waiting: Tuple[Deque[float], Deque[float]] = (deque(), deque())
        self.candidate_count = 0
        self.control_count = 0
        self.candidate_total = 0.0
        self.control_total = 0.0
        self.pairs = 0
        self.dropped = 0
        self._sum = 0.0
        self._sum2 = 0.0
        self.better = False
        self.worse = False

    def _check(self, name: str, value: object) -> float:
        x = _observation(name, value)
        if not self.low <= x <= self.high:
            raise InvalidTradeError(
                f"{name}={value!r} is outside [{self.low!r}, {self.high!r}], the range the"
                " comparison assumes every observation lies in"
            )
        return x

    def add_candidate(self, value: float) -> None:
        """Add one observation of the candidate arm. O(grid) when it completes a pair.

        Raises:
            InvalidTradeError: not a finite number in ``[low, high]``. Nothing changes.
        """
        x = self._check("candidate observation", value)
        self.candidate_count += 1
        self.candidate_total += x
        self._arrive(0, x)

    def add_control(self, value: float) -> None:
        """Add one observation of the control arm. O(grid) when it completes a pair.

        Raises:
            InvalidTradeError: not a finite number in ``[low, high]``. Nothing changes.
        """
        x = self._check("control observation", value)
        self.control_count += 1
        self.control_total += x
        self._arrive(1, x)

    def _arrive(self, arm: int, x: float) -> None:
        other = self._waiting[1 - arm]
        if other:
            partner = other.popleft()
            difference = x - partner if arm == 0 else partner - x
            self._pair(difference)
            return
        mine = self._waiting[arm]
        mine.append(x)
        if len(mine) > self.max_unpaired:
            mine.popleft()
            self.dropped += 1

    def _pair(self, difference: float) -> None:
        self._above.update(self.pairs, self._sum, self._sum2, difference)
        self._below.update(self.pairs, self._sum, self._sum2, difference)
        self.pairs += 1
        self._sum += difference
        self._sum2 += difference * difference
        self.better = self.better or self._above.crossed[0]
        self.worse = self.worse or self._below.crossed[0]

    def snapshot(self) -> Dict[str, Any]:
        """Everything the test has learnt, as JSON-ready values (floats round-trip exactly).

        The settings (bounds, margin, confidence, grid) are not included: they come from
        the configuration. :meth:`restore` on a test built with the same settings
        continues exactly where this one stands.
        """
        return {
            "waiting": [list(self._waiting[0]), list(self._waiting[1])],
            "counts": [self.candidate_count, self.control_count, self.pairs, self.dropped],
            "totals": [self.candidate_total, self.control_total, self._sum, self._sum2],
            "verdicts": [self.better, self.worse],
            "above": self._above.snapshot(),
            "below": self._below.snapshot(),
        }

    def restore(self, data: Mapping[str, Any], where: str = "comparison") -> None:
        """Continue from a :meth:`snapshot` of a test with the same settings.

        Raises:
            CorruptStateError: the snapshot is malformed or does not fit these settings;
                names ``where`` and the field. Nothing changes.
        """
        if not isinstance(data, Mapping):
            raise CorruptStateError(f"{where} must be an object, got {_excerpt(data)}")
        waiting = data.get("waiting")
        counts = data.get("counts")
        totals = data.get("totals")
        verdicts = data.get("verdicts")
        if (
            not isinstance(waiting, list)
            or len(waiting) != 2
            or not all(isinstance(q, list) and len(q) <= self.max_unpaired for q in waiting)
            or not all(_finite(v) and self.low <= v <= self.high for q in waiting for v in q)
            or (waiting[0] and waiting[1])
        ):
            raise CorruptStateError(
                f"{where}.waiting must be two queues of observations in [{self.low!r},"
                f" {self.high!r}], at most {self.max_unpaired} each, one empty; got"
                f" {_excerpt(waiting)}"
            )
        if (
            not isinstance(counts, list)
            or len(counts) != 4
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)
        ):
            raise CorruptStateError(
                f"{where}.counts must be 4 whole numbers >= 0, got {_excerpt(counts)}"
            )
        if not isinstance(totals, list) or len(totals) != 4 or not all(_finite(v) for v in totals):
            raise CorruptStateError(
                f"{where}.totals must be 4 finite numbers, got {_excerpt(totals)}"
            )
        if (
            not isinstance(verdicts, list)
            or len(verdicts) != 2
            or not all(isinstance(v, bool) for v in verdicts)
        ):
            raise CorruptStateError(
                f"{where}.verdicts must be two true/false values, got {_excerpt(verdicts)}"
            )
        above = _Side(self._above.bars, self.width, 1.0, self.max_bet, self._above.threshold)
        below = _Side(
            [-b for b in self._below.bars], self.width, -1.0, self.max_bet, self._below.threshold
        )
        for side, key in ((above, "above"), (below, "below")):
            part = data.get(key)
            if not isinstance(part, Mapping):
                raise CorruptStateError(f"{where}.{key} must be an object, got {_excerpt(part)}")
            side.restore(part, f"{where}.{key}")
        self._above, self._below = above, below
        self._waiting = (deque(float(v) for v in waiting[0]), deque(float(v) for v in waiting[1]))
        self.candidate_count, self.control_count, self.pairs, self.dropped = counts
        self.candidate_total, self.control_total, self._sum, self._sum2 = (float(v) for v in totals)
        self.better, self.worse = verdicts

    @property
    def waiting(self) -> Tuple[int, int]:
        """(candidate, control) observations waiting for a partner; one is always 0."""
        return len(self._waiting[0]), len(self._waiting[1])

    @property
    def difference(self) -> Optional[float]:
        """The mean of the paired differences, or None before the first pair."""
        return self._sum / self.pairs if self.pairs else None

    @property
    def log_e_value(self) -> float:
        """ln of :attr:`e_value`."""
        return self._above.log_wealth[0]

    @property
    def e_value(self) -> float:
        """The wealth against "difference <= margin", >= 0 (not latched)."""
        return _exp(self._above.log_wealth[0])

    @property
    def worse_log_e_value(self) -> float:
        """ln of :attr:`worse_e_value`."""
        return self._below.log_wealth[0]

    @property
    def worse_e_value(self) -> float:
        """The wealth against "difference >= margin", >= 0 (not latched)."""
        return _exp(self._below.log_wealth[0])

    @property
    def lower_bound(self) -> float:
        """Anytime-valid lower confidence bound on the difference; ``low - high`` if none."""
        bound = self._above.bound()
        return -self.width if bound is None else bound

    @property
    def upper_bound(self) -> float:
        """Anytime-valid upper confidence bound on the difference; ``high - low`` if none."""
        bound = self._below.bound()
        return self.width if bound is None else bound


class WinRateDifferenceTest(DifferenceTest):
    """Is the candidate's win rate above control's plus ``margin``? Anytime-valid.

    A :class:`DifferenceTest` on wins (1) and losses (0), so differences lie in [-1, 1]:
    under "candidate win rate <= control win rate + margin" the chance that
    :attr:`better` ever turns True is at most ``1 - confidence`` (Shekhar & Ramdas
    2023; Waudby-Smith & Ramdas 2024). ``margin`` is in win-rate points, 0–1 (0.02
    means the candidate must win 2 points more often).

    Raises:
        ConfigError: margin not strictly between -1 and 1, or another argument out of
            range.
    """

    def __init__(
        self,
        margin: float = 0.0,
        confidence: float = 0.95,
        *,
        max_bet: float = 0.5,
        grid_points: int = DEFAULT_DIFFERENCE_GRID_POINTS,
        max_unpaired: int = DEFAULT_MAX_UNPAIRED,
    ) -> None:
        super().__init__(
            0.0,
            1.0,
            margin,
            confidence,
            max_bet=max_bet,
            grid_points=grid_points,
            max_unpaired=max_unpaired,
        )

    def add_candidate_trade(self, win: bool) -> None:
        """Count one candidate trade, won (pnl > 0) or not.

        Raises:
            InvalidTradeError: ``win`` is not a bool (or 0/1).
        """
        self.add_candidate(_win("win", win))

    def add_control_trade(self, win: bool) -> None:
        """Count one control trade, won (pnl > 0) or not.

        Raises:
            InvalidTradeError: ``win`` is not a bool (or 0/1).
        """
        self.add_control(_win("win", win))


def _win(name: str, value: object) -> float:
    if value not in (True, False) or not isinstance(value, (bool, int)):
        raise InvalidTradeError(f"{name} must be True or False, got {value!r}")
    return 1.0 if value else 0.0


def _bounds(loss_bound: object, gain_bound: object, unit: str) -> Tuple[float, float]:
    loss = number("loss_bound", loss_bound)
    if loss <= 0.0:
        raise ConfigError(f"loss_bound must be > 0 (the most a {unit} can lose), got {loss!r}")
    gain = number("gain_bound", gain_bound)
    if gain <= 0.0:
        raise ConfigError(f"gain_bound must be > 0 (the most a {unit} can win), got {gain!r}")
    return loss, gain


class EvPerDollarDifferenceTest(DifferenceTest):
    """Is the candidate's EV per dollar above control's plus ``margin``? Anytime-valid.

    A :class:`DifferenceTest` on each trade's return ``pnl / size``, which must lie in
    ``[-loss_bound, gain_bound]`` (per dollar of size). Unlike the one-arm EV test, a
    comparison needs the gains bounded as well: a control trade's gain is the
    candidate's loss in the difference, and no bet on an unbounded loss is both valid and
    useful. Trades count equally whatever their size (the mean of the returns, not total
    pnl / total size), and trades of size 0 carry no information and are skipped.

    Args:
        loss_bound: L > 0, the most a trade can lose per dollar (1.0 unlevered).
        gain_bound: G > 0, the most a trade can win per dollar (for a binary contract
            bought at price q, (1 - q) / q).
        margin: per dollar, strictly between -(L + G) and L + G.

    Raises:
        ConfigError: a bound not > 0, or another argument out of range.
    """

    def __init__(
        self,
        loss_bound: float = 1.0,
        gain_bound: float = 1.0,
        margin: float = 0.0,
        confidence: float = 0.95,
        *,
        max_bet: float = 0.5,
        grid_points: int = DEFAULT_DIFFERENCE_GRID_POINTS,
        max_unpaired: int = DEFAULT_MAX_UNPAIRED,
    ) -> None:
        self.loss_bound, self.gain_bound = _bounds(loss_bound, gain_bound, "trade per dollar")
        super().__init__(
            -self.loss_bound,
            self.gain_bound,
            margin,
            confidence,
            max_bet=max_bet,
            grid_points=grid_points,
            max_unpaired=max_unpaired,
        )

    def _return(self, pnl: object, size: object) -> Optional[float]:
        pnl_ = _observation("pnl", pnl)
        size_ = _observation("size", size)
        if size_ < 0.0:
            raise InvalidTradeError(f"size must be >= 0, got {size!r}")
        if size_ == 0.0:
            return None
        ret = pnl_ / size_
        if ret < -self.loss_bound or ret > self.gain_bound:
            raise InvalidTradeError(
                f"pnl={pnl!r} on size={size!r} is {ret:.4g} per dollar, outside"
                f" [-loss_bound, gain_bound] = [{-self.loss_bound!r}, {self.gain_bound!r}]"
                " which the comparison assumes; widen the bounds or fix the trade"
            )
        return ret

    def add_candidate_trade(self, pnl: float, size: float) -> None:
        """Add one candidate trade (account currency); size 0 is skipped.

        Raises:
            InvalidTradeError: not finite, size < 0, or a return outside the bounds.
        """
        ret = self._return(pnl, size)
        if ret is not None:
            self.add_candidate(ret)

    def add_control_trade(self, pnl: float, size: float) -> None:
        """Add one control trade (account currency); size 0 is skipped.

        Raises:
            InvalidTradeError: as :meth:`add_candidate_trade`.
        """
        ret = self._return(pnl, size)
        if ret is not None:
            self.add_control(ret)


class PnlPerOpportunityDifferenceTest(DifferenceTest):
    """Is the candidate's PnL per routed opportunity above control's plus ``margin``?

    An opportunity is one signal the router sent to an arm; its outcome is the pnl of
    the trade it led to, or 0 when the arm let it pass. Comparing per opportunity rather
    than per trade credits an arm for trading more often as well as for trading well. A
    :class:`DifferenceTest` on the outcomes, each in ``[-loss_bound, gain_bound]``
    (account currency), anytime-valid (Shekhar & Ramdas 2023; Waudby-Smith & Ramdas 2024).

    The rollout learns opportunities as counts, not one by one, so
    :meth:`add_candidate_opportunities` takes a batch: how many were routed and the pnl
    of those that traded. The order within a batch is unknown, so the traded ones are
    placed at positions drawn from ``rng``; the order then does not depend on the
    outcomes and the batch is, under the null, as exchangeable as a recorded order.

    Args:
        loss_bound: the most one opportunity can lose, account currency, > 0.
        gain_bound: the most one opportunity can win, account currency, > 0.
        margin: account currency per opportunity.

    Raises:
        ConfigError: a bound not > 0, or another argument out of range.
    """

    def __init__(
        self,
        loss_bound: float,
        gain_bound: float,
        margin: float = 0.0,
        confidence: float = 0.95,
        *,
        max_bet: float = 0.5,
        grid_points: int = DEFAULT_DIFFERENCE_GRID_POINTS,
        max_unpaired: int = DEFAULT_MAX_UNPAIRED,
    ) -> None:
        self.loss_bound, self.gain_bound = _bounds(loss_bound, gain_bound, "opportunity")
        super().__init__(
            -self.loss_bound,
            self.gain_bound,
            margin,
            confidence,
            max_bet=max_bet,
            grid_points=grid_points,
            max_unpaired=max_unpaired,
        )

    def _batch(self, count: object, pnls: Sequence[float], rng: random.Random) -> List[float]:
        count_ = whole("count", count)
        if isinstance(pnls, (str, bytes)):
            raise InvalidTradeError(f"pnls must be a sequence of numbers, got {pnls!r}")
        outcomes = [self._check(f"pnls[{i}]", p) for i, p in enumerate(pnls)]
        if len(outcomes) > count_:
            raise InvalidTradeError(
                f"{len(outcomes)} traded opportunities but only count={count_!r} routed;"
                " every trade must come from a routed opportunity"
            )
        if not isinstance(rng, random.Random):
            raise ConfigError(f"rng must be a random.Random, got {rng!r}")
        batch = [0.0] * count_
        for position, pnl in zip(rng.sample(range(count_), len(outcomes)), outcomes):
            batch[position] = pnl
        return batch

    def add_candidate_opportunities(
        self, count: int, pnls: Sequence[float], rng: random.Random
    ) -> None:
        """Add ``count`` candidate opportunities, of which those in ``pnls`` traded.

        Raises:
            InvalidTradeError: a pnl not finite or outside the bounds, or more pnls than
                ``count``. Nothing changes.
            ConfigError: count not a whole number >= 0, rng not a ``random.Random``.
        """
        for outcome in self._batch(count, pnls, rng):
            self.add_candidate(outcome)

    def add_control_opportunities(
        self, count: int, pnls: Sequence[float], rng: random.Random
    ) -> None:
        """Add ``count`` control opportunities, of which those in ``pnls`` traded.

        Raises:
            As :meth:`add_candidate_opportunities`.
        """
        for outcome in self._batch(count, pnls, rng):
            self.add_control(outcome)


def difference_confidence_sequence(
    candidate: Sequence[float],
    control: Sequence[float],
    low: float,
    high: float,
    confidence: float = 0.95,
    *,
    grid_points: int = DEFAULT_DIFFERENCE_GRID_POINTS,
    max_unpaired: int = DEFAULT_MAX_UNPAIRED,
) -> List[Tuple[float, float]]:
    """A two-sided confidence sequence for ``mean(candidate) - mean(control)``.

    Feeds the observations to a :class:`DifferenceTest` in the order
    ``candidate[0], control[0], candidate[1], control[1], ...`` (the rest of the longer
    list last) and records ``(lower, upper)`` after each pair. Each side runs at
    ``(1 + confidence) / 2``, so with probability at least ``confidence`` every interval
    of the sequence holds the true difference at once (Shekhar & Ramdas 2023;
    Waudby-Smith & Ramdas 2024). For display.

    Returns:
        One (lower, upper) per pair formed, in order.

    Raises:
        ConfigError: bounds or confidence out of range.
        InvalidTradeError: an observation outside ``[low, high]``.
    """
    level = open_fraction("confidence", confidence)
    test = DifferenceTest(
        low,
        high,
        0.0,
        (1.0 + level) / 2.0,
        grid_points=grid_points,
        max_unpaired=max_unpaired,
    )
    sequence: List[Tuple[float, float]] = []
    for i in range(max(len(candidate), len(control))):
        before = test.pairs
        if i < len(candidate):
            test.add_candidate(candidate[i])
        if i < len(control):
            test.add_control(control[i])
        if test.pairs > before:
            sequence.append((test.lower_bound, test.upper_bound))
    return sequence
