"""Gates: the evidence a stage must show before the rollout may advance past it.

The gate of stage k+1 is judged on the trades of stage k (its evidence window).
Every criterion is optional. ``Gate()`` passes any evidence that is not losing money:
like quant-rollout 0.1, the EV-per-dollar floor defaults to 0.0 and is always checked
(a stage with negative EV does not advance). ``Gate(min_ev_per_dollar=None)`` drops
that floor and passes everything.

Confidence gates
    ``Gate(..., confidence=0.95)`` judges the win-rate and EV-per-dollar criteria on
    anytime-valid tests instead of point estimates: the criterion is met only when the
    evidence rejects "the true value is at or below the bar" at that confidence. The
    chance that a stage whose true win rate (or EV per dollar) is at or below the bar
    *ever* passes, however often ``tick`` runs and however long the stage lasts, is then
    at most ``1 - confidence`` for each window of evidence (a veto or a cleared kill
    starts a new window, and a new test). The other criteria (``min_n``,
    ``min_total_pnl``, ``min_days_after_prev``) stay as they are.

    * Win rate: the Beta-mixture likelihood-ratio test of
      :func:`~quant_rollout.stats.win_rate_e_value` (Robbins 1970; Howard, Ramdas,
      McAuliffe & Sekhon 2021), a function of the window's (trades, wins) only.
    * EV per dollar: the size-weighted betting test of
      :class:`~quant_rollout.stats.EVBettingTest` (Waudby-Smith & Ramdas 2024). It
      assumes only that no trade loses more than ``max_loss_per_dollar`` of its size;
      the gains may have any tail. It needs every trade in time order, so it lives in a
      :class:`GateTracker` fed by the stage's evidence.

    A confidence gate's verdict is three-way: PASS, NOT_YET, or CANNOT_PASS when the
    mirror test shows the true value is *below* the bar (the anytime upper bound is
    under it), with the same error bound. For EV per dollar that side needs
    ``max_gain_per_dollar`` (with unbounded gains no test can show a mean is low).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from enum import Enum
from typing import Dict, List, Optional, Sequence, Tuple

from .._validate import check_fraction, check_int, check_non_negative, check_number
from ..errors import ConfigError
from ..metrics import Metrics, compute_metrics
from ..stats import (
    BetaPrior,
    EVBettingTest,
    win_rate_log_e_value,
    win_rate_lower_bound,
    win_rate_rejection_boundary,
    win_rate_upper_bound,
    win_rate_upper_log_e_value,
    win_rate_upper_rejection_boundary,
)
from ..trades import TradeOutcome

__all__ = [
    "CriterionProgress",
    "Gate",
    "GateProof",
    "GateResult",
    "GateTracker",
    "GateVerdict",
]


class GateVerdict(str, Enum):
    """The three answers a gate can give."""

    PASS = "pass"
    """The evidence meets every criterion."""
    NOT_YET = "not_yet"
    """Some criterion is not met yet; more trades or more time may meet it."""
    CANNOT_PASS = "cannot_pass"
    """The evidence shows the stage cannot meet the bar (confidence gates only)."""


@dataclass(frozen=True)
class GateResult:
    """A gate's verdict with the reason: ``"ok"`` or the first criterion that failed.

    A confidence gate that passes gives, instead of ``"ok"``, what each of its tested
    criteria showed (``win_rate lower bound 0.561 >= 0.550 (...)``).
    """

    verdict: GateVerdict
    reason: str

    @property
    def passes(self) -> bool:
        """True when the verdict is PASS."""
        return self.verdict is GateVerdict.PASS


@dataclass(frozen=True)
class CriterionProgress:
    """One gate criterion, observed against required, for ``status`` displays.

    ``observed`` and ``required`` are in the criterion's own unit: a count of trades,
    a 0–1 fraction, dollars per dollar, account currency, or days.

    For the tested criteria of a confidence gate (``win_rate``, ``ev_per_dollar``),
    ``met`` is the test's verdict rather than ``observed >= required``, and
    ``lower_bound``/``upper_bound`` are the anytime-valid confidence bounds on the true
    value (None for point criteria; ``upper_bound`` None for EV per dollar without a
    gain bound). ``cannot_pass`` is True when the upper bound is below the bar.
    """

    name: str
    observed: float
    required: float
    met: bool
    lower_bound: Optional[float] = None
    upper_bound: Optional[float] = None
    cannot_pass: bool = False


@dataclass(frozen=True)
class GateProof:
    """What the evidence that passed a stage's gate showed.

    Recorded in the rollout's state when it advances; the kill criteria take their
    expected levels from it by default (:mod:`quant_rollout.kill`).

    Attributes:
        n: trades in that evidence.
        win_rate: their win rate, 0–1, as observed.
        ev_per_dollar: their total pnl / total size, as observed.
        win_rate_lower: an anytime-valid lower confidence bound on the true win rate at
            that moment, at the gate's confidence (0.95 for a gate without one): what
            the evidence *proved*. The observed rate of a stage that has just passed a
            gate is biased upward (it passed because it looked good), so this, not the
            observed rate, is the level a stage can be expected to hold.
        ev_per_dollar_lower: the same for EV per dollar; None unless the gate is a
            confidence gate with an EV criterion (only its betting test bounds EV).
    """

    n: int
    win_rate: float
    ev_per_dollar: float
    win_rate_lower: Optional[float] = None
    ev_per_dollar_lower: Optional[float] = None


# ----------------------------------------------------------------------------- win rate

# The rejection boundaries are computed once per (bar, confidence) and grown by
# doubling, so judging the win rate costs one lookup; past this many trades the
# e-values are evaluated directly instead of growing the table further.
_TABLE_FIRST = 512
_TABLE_LIMIT = 1 << 17


class _WinRateTables:
    """Both win-rate tests of one (bar, confidence) as lookups on (wins, n).

    ``least[n]``: the fewest wins in n trades at which "win rate <= bar" is rejected;
    ``most[n]``: the most wins at which "win rate >= bar" is rejected. The e-values are
    monotone in the wins, so the lookups decide exactly as the e-values do.
    """

    def __init__(self, bar: float, confidence: float) -> None:
        self.bar = bar
        self.confidence = confidence
        self.threshold = -math.log1p(-confidence)
        self.least: Tuple[int, ...] = ()
        self.most: Tuple[int, ...] = ()

    @staticmethod
    def _horizon(have: int, n: int) -> int:
        return min(_TABLE_LIMIT, max(_TABLE_FIRST, 2 * have, n))

    def passes(self, wins: int, n: int) -> bool:
        if n >= _TABLE_LIMIT:
            return win_rate_log_e_value(wins, n, self.bar) >= self.threshold
        if n >= len(self.least):
            horizon = self._horizon(len(self.least), n)
            self.least = win_rate_rejection_boundary(self.bar, horizon, self.confidence)
        return wins >= self.least[n]

    def cannot_pass(self, wins: int, n: int) -> bool:
        if n >= _TABLE_LIMIT:
            return win_rate_upper_log_e_value(wins, n, self.bar) >= self.threshold
        if n >= len(self.most):
            horizon = self._horizon(len(self.most), n)
            self.most = win_rate_upper_rejection_boundary(self.bar, horizon, self.confidence)
        return wins <= self.most[n]


_TABLES: Dict[Tuple[float, float], _WinRateTables] = {}


def _win_rate_tables(bar: float, confidence: float) -> _WinRateTables:
    key = (bar, confidence)
    tables = _TABLES.get(key)
    if tables is None:
        tables = _TABLES[key] = _WinRateTables(bar, confidence)
    return tables


_EXACT_ESTIMATE_UP_TO = 4096  # trades; beyond, the estimate is found by bisection


def _win_rate_trades_to_pass(wins: int, n: int, bar: float, confidence: float) -> Optional[int]:
    """How many more trades the win-rate test needs if the observed rate held.

    The smallest m such that ``round(rate * (n + m))`` wins in ``n + m`` trades reject
    "win rate <= bar", with ``rate = wins / n``. Found by doubling m until it rejects;
    when that is within 4,096 trades, the first such m is read off the rejection
    table, otherwise it is narrowed by bisection (the rounding of the wins can make
    the rejecting counts not quite contiguous, so then it is "about"). None when the
    observed rate is not above the bar or no m below ten million is enough.
    """
    if n == 0 or wins <= bar * n:
        return None
    rate = wins / n
    threshold = -math.log1p(-confidence)

    def wins_at(m: int) -> int:
        return min(n + m, round(rate * (n + m)))

    def rejects(m: int) -> bool:
        return win_rate_log_e_value(wins_at(m), n + m, bar) >= threshold

    high = 1
    while not rejects(high):
        if high >= 10_000_000:
            return None
        high *= 2
    if n + high <= _EXACT_ESTIMATE_UP_TO:
        tables = _win_rate_tables(bar, confidence)
        return next(m for m in range(1, high + 1) if tables.passes(wins_at(m), n + m))
    low = high // 2  # fails (0: the current evidence, which did not pass)
    while high - low > 1:
        middle = (low + high) // 2
        if rejects(middle):
            high = middle
        else:
            low = middle
    return high


# ----------------------------------------------------------------------------- EV per dollar

_GRID_STEPS = 32  # grid steps between -L and the bar, as in stats.EVBettingTest


def _lower_grid(bar: float, loss_bound: float) -> List[float]:
    # EVBettingTest's default grid, with the bar itself exactly on it: the bound then
    # reaches the bar exactly when the test at the bar rejects.
    span = loss_bound + bar
    grid = [-loss_bound + span * j / _GRID_STEPS for j in range(1, 2 * _GRID_STEPS + 1)]
    grid[_GRID_STEPS - 1] = bar
    return grid


def _upper_grid(bar: float, gain_bound: float) -> List[float]:
    span = gain_bound - bar
    grid = [gain_bound - span * j / _GRID_STEPS for j in range(1, 2 * _GRID_STEPS + 1)]
    grid[_GRID_STEPS - 1] = bar
    return grid


class GateTracker:
    """A confidence gate's EV-per-dollar tests, fed the stage's trades in time order.

    An :class:`~quant_rollout.evidence.EvidenceTracker` (see :meth:`Gate.tracker`): the
    betting test of :class:`~quant_rollout.stats.EVBettingTest` against "EV per dollar
    <= bar" and, with ``max_gain_per_dollar``, its mirror for "cannot pass". Both latch:
    once a test has rejected during the window it stays rejected.

    A trade losing more than ``max_loss_per_dollar`` of its size breaks the test's one
    assumption: from then on, for this window, the EV criterion is not met (and cannot
    be declared unpassable), and the reason says which trade did it. A gain beyond
    ``max_gain_per_dollar`` likewise switches off the "cannot pass" side only. Trades of
    size 0 carry no information and are skipped. Adding never raises.

    Cost per trade: O(grid) with ``bounds=True`` (65 candidate bars per side, about
    30 µs), O(1) without (the verdicts are the same; only the bounds are coarser).
    """

    order_sensitive = True

    def __init__(self, gate: Gate, *, bounds: bool = True) -> None:
        if gate.confidence is None or gate.min_ev_per_dollar is None:
            raise ConfigError(
                f"GateTracker needs a Gate with confidence and min_ev_per_dollar set, got {gate!r}"
            )
        self.bar = float(gate.min_ev_per_dollar)
        self.loss_bound = float(gate.max_loss_per_dollar)
        self.gain_bound = (
            None if gate.max_gain_per_dollar is None else float(gate.max_gain_per_dollar)
        )
        self.confidence = float(gate.confidence)
        self.lower = EVBettingTest(
            self.bar,
            self.loss_bound,
            self.confidence,
            grid=_lower_grid(self.bar, self.loss_bound) if bounds else [self.bar],
        )
        self.upper: Optional[EVBettingTest] = None
        if self.gain_bound is not None:
            self.upper = EVBettingTest(
                self.bar,
                self.loss_bound,
                self.confidence,
                gain_bound=self.gain_bound,
                grid=[self.bar],
                upper_grid=_upper_grid(self.bar, self.gain_bound) if bounds else [self.bar],
            )
        self.n = 0
        self.loss_breach: Optional[str] = None
        self.gain_breach: Optional[str] = None
        # Sums of x = (r - bar) / (L + bar), for the trades-to-pass estimate.
        self._sum_x = 0.0
        self._sum_x2 = 0.0

    def add(self, trade: TradeOutcome) -> None:
        """Count one trade (time order). O(grid); never raises."""
        pnl, size = float(trade.pnl), float(trade.size)
        if size <= 0.0 or self.loss_breach is not None:
            return
        if pnl < -self.loss_bound * size:
            self.loss_breach = f"pnl={trade.pnl!r} on size={trade.size!r}"
            return
        self.n += 1
        x = (pnl / size - self.bar) / (self.loss_bound + self.bar)
        self._sum_x += x
        self._sum_x2 += x * x
        self.lower.update(pnl, size)
        gain_bound = self.gain_bound
        if self.upper is not None and gain_bound is not None and self.gain_breach is None:
            if pnl > gain_bound * size:
                self.gain_breach = f"pnl={trade.pnl!r} on size={trade.size!r}"
            else:
                self.upper.update(pnl, size)

    @property
    def passes(self) -> bool:
        """The test rejected "EV per dollar <= bar" at some trade of the window."""
        return self.loss_breach is None and self.lower.rejected

    @property
    def cannot_pass(self) -> bool:
        """The mirror test rejected "EV per dollar >= bar" (needs a gain bound)."""
        return (
            self.upper is not None
            and self.loss_breach is None
            and self.gain_breach is None
            and self.upper.upper_rejected
            and not self.passes
        )

    @property
    def lower_bound(self) -> Optional[float]:
        """The anytime lower confidence bound on EV per dollar (None if the test broke).

        Once the test at the bar has rejected, the bound is at least the bar: that
        rejection is itself the statement "EV per dollar > bar at this confidence".
        """
        if self.loss_breach is not None:
            return None
        bound = self.lower.lower_bound
        return max(bound, self.bar) if self.lower.rejected else bound

    @property
    def upper_bound(self) -> Optional[float]:
        """The anytime upper confidence bound, or None (no gain bound, or it broke)."""
        if self.upper is None or self.loss_breach is not None or self.gain_breach is not None:
            return None
        bound = self.upper.upper_bound
        return min(bound, self.bar) if self.upper.upper_rejected else bound

    def trades_to_pass(self) -> Optional[int]:
        """Roughly how many more trades the test needs if the trades went on like these.

        A Kelly-growth estimate: a bettor who knew the mean m and second moment s of
        ``x = (pnl/size - bar) / (L + bar)`` grows log-wealth by about ``m**2 / (2 s)``
        a trade, so the wealth still missing, ``ln(1/(1 - confidence)) - ln(wealth)``,
        takes about that many trades. None when the mean so far is not above the bar.
        """
        if self.n == 0 or self._sum_x <= 0.0 or self.loss_breach is not None:
            return None
        mean = self._sum_x / self.n
        growth = mean * mean / (2.0 * (self._sum_x2 / self.n))
        missing = -math.log1p(-self.confidence) - self.lower.log_e_value
        return max(1, math.ceil(missing / growth))


# ----------------------------------------------------------------------------- the gate


@dataclass(frozen=True)
class Gate:
    """Pass/fail criteria for advancing to a stage.

    Attributes:
        min_n: at least this many trades in the previous stage's evidence.
        min_win_rate: win rate (0–1) at least this (with ``confidence``: shown to be
            above this).
        min_ev_per_dollar: total pnl / total size at least this (0.03 = 3 cents a dollar);
            ``None`` = no floor at all. With ``confidence``: shown to be above this.
        min_total_pnl: total pnl at least this, in account currency; ``None`` = no floor.
        min_days_after_prev: at least this many days since the previous stage began,
            measured with the rollout's clock (stage 0: since the rollout's first tick).
        confidence: None (0.1's point estimates) or a fraction in (0, 1) such as 0.95:
            the win-rate and EV criteria pass only when an anytime-valid test shows the
            true value is above the bar, so a stage at or below the bar passes with
            probability at most ``1 - confidence`` however often it is checked.
        max_loss_per_dollar: the most any trade can lose per dollar of size (1.0: an
            unlevered position can lose at most its stake; 0.02 with a 2% stop-loss).
            The EV test's only assumption; the tighter it is, the faster the test. A
            trade beyond it voids the EV criterion for the window (the reason says so).
        max_gain_per_dollar: the most any trade can win per dollar, or None (no limit).
            Only needed for the EV criterion's CANNOT_PASS verdict.
        revert_if_cannot_pass: when the verdict is CANNOT_PASS (the evidence shows the
            current stage is below this gate's bar), revert to stage 0 as a kill would,
            latched until cleared. Needs ``confidence``.

    Raises:
        ConfigError: a field out of range (e.g. ``min_win_rate=60`` instead of 0.6).
    """

    min_n: int = 0
    min_win_rate: float = 0.0
    min_ev_per_dollar: Optional[float] = 0.0
    min_total_pnl: Optional[float] = None
    min_days_after_prev: float = 0.0
    confidence: Optional[float] = None
    max_loss_per_dollar: float = 1.0
    max_gain_per_dollar: Optional[float] = None
    revert_if_cannot_pass: bool = False

    def __post_init__(self) -> None:
        check_int("Gate", "min_n", self.min_n, minimum=0)
        check_fraction("Gate", "min_win_rate", self.min_win_rate)
        check_number("Gate", "min_ev_per_dollar", self.min_ev_per_dollar, allow_none=True)
        check_number("Gate", "min_total_pnl", self.min_total_pnl, allow_none=True)
        check_non_negative("Gate", "min_days_after_prev", self.min_days_after_prev)
        check_number("Gate", "confidence", self.confidence, allow_none=True)
        if self.confidence is not None and not 0.0 < self.confidence < 1.0:
            raise ConfigError(
                "Gate.confidence must be strictly between 0 and 1 (0.95 means 95%), "
                f"got {self.confidence!r}"
            )
        check_number("Gate", "max_loss_per_dollar", self.max_loss_per_dollar)
        if self.max_loss_per_dollar <= 0:
            raise ConfigError(
                "Gate.max_loss_per_dollar must be > 0 (1.0: a trade can lose at most its "
                f"size), got {self.max_loss_per_dollar!r}"
            )
        check_number("Gate", "max_gain_per_dollar", self.max_gain_per_dollar, allow_none=True)
        if not isinstance(self.revert_if_cannot_pass, bool):
            raise ConfigError(
                "Gate.revert_if_cannot_pass must be true or false, got "
                f"{self.revert_if_cannot_pass!r}"
            )
        if self.confidence is None:
            for name, value, default in (
                ("max_gain_per_dollar", self.max_gain_per_dollar, None),
                ("revert_if_cannot_pass", self.revert_if_cannot_pass, False),
            ):
                if value != default:
                    raise ConfigError(
                        f"Gate.{name} only applies to a confidence gate; set confidence "
                        f"(e.g. 0.95) or drop it, got {value!r}"
                    )
            return
        if self.min_win_rate >= 1.0:
            raise ConfigError(
                "Gate.min_win_rate must be below 1 for a confidence gate (no evidence can "
                f"show a win rate above 100%), got {self.min_win_rate!r}"
            )
        bar = self.min_ev_per_dollar
        if bar is not None and bar <= -self.max_loss_per_dollar:
            raise ConfigError(
                f"Gate.min_ev_per_dollar must be above -max_loss_per_dollar="
                f"{-self.max_loss_per_dollar!r} (no trade returns less), got {bar!r}"
            )
        gain = self.max_gain_per_dollar
        if gain is not None and bar is not None and gain <= bar:
            raise ConfigError(
                f"Gate.max_gain_per_dollar must be above min_ev_per_dollar={bar!r}, got {gain!r}"
            )

    # -- trackers

    def tracker(self, *, bounds: bool = True) -> Optional[GateTracker]:
        """A fresh :class:`GateTracker` for a window of evidence, or None if none is needed.

        Only a confidence gate with an EV criterion needs one. Feed it every trade of
        the window in time order and pass it to :meth:`judge`. ``bounds=False`` skips
        the confidence bounds (same verdicts, about ten times cheaper: for simulations).
        """
        if self.confidence is None or self.min_ev_per_dollar is None:
            return None
        return GateTracker(self, bounds=bounds)

    def _tracker_for(
        self, metrics: Metrics, tracker: Optional[GateTracker]
    ) -> Optional[GateTracker]:
        if self.confidence is None or self.min_ev_per_dollar is None:
            return None
        if tracker is not None:
            if not isinstance(tracker, GateTracker):
                raise ConfigError(f"tracker must be a GateTracker, got {tracker!r}")
            return tracker
        if metrics.n == 0:
            return GateTracker(self)  # no trades: an empty tracker is the exact answer
        raise ConfigError(
            "a confidence gate judges EV per dollar on the trades themselves, in order: "
            "pass tracker=gate.tracker() fed every trade of the window, or use "
            "gate.judge_trades(trades)"
        )

    # -- verdicts

    def evaluate(
        self,
        metrics: Metrics,
        *,
        days_since_prev: Optional[float] = None,
        tracker: Optional[GateTracker] = None,
    ) -> Tuple[bool, str]:
        """Return ``(passes, reason)``; reason is ``"ok"`` or the first failing criterion.

        Reasons read like ``n=5 < 10`` or ``win_rate=0.500 < 0.600``, as in 0.1.
        ``days_since_prev=None`` counts as 0 days. A confidence gate with an EV
        criterion needs ``tracker`` (see :meth:`tracker`) unless there are no trades.
        """
        result = self.judge(metrics, days_since_prev=days_since_prev, tracker=tracker)
        return result.passes, result.reason

    def verdict(
        self,
        metrics: Metrics,
        *,
        days_since_prev: Optional[float] = None,
        tracker: Optional[GateTracker] = None,
    ) -> GateVerdict:
        """The verdict alone, without a reason or bounds: O(1), for simulations."""
        return self._verdict(self._checks(metrics, days_since_prev, tracker))

    def judge(
        self,
        metrics: Metrics,
        *,
        days_since_prev: Optional[float] = None,
        tracker: Optional[GateTracker] = None,
    ) -> GateResult:
        """Like :meth:`evaluate`, with the three-way :class:`GateVerdict`.

        CANNOT_PASS names the first criterion shown to be below its bar; NOT_YET the
        first criterion not met, and for a tested criterion roughly how many more
        trades it needs at the observed rate.
        """
        tracker_ = self._tracker_for(metrics, tracker)
        checks = self._checks(metrics, days_since_prev, tracker_)
        verdict = self._verdict(checks)
        if verdict is GateVerdict.CANNOT_PASS:
            name = next(name for name, _, cannot in checks if cannot)
            return GateResult(verdict, self._reason(name, metrics, days_since_prev, tracker_))
        if verdict is GateVerdict.NOT_YET:
            name = next(name for name, met, _ in checks if not met)
            reason = self._reason(name, metrics, days_since_prev, tracker_, estimate=True)
            return GateResult(verdict, reason)
        tested = [name for name, _, _ in checks if self._tested(name)]
        if not tested:
            return GateResult(verdict, "ok")
        return GateResult(
            verdict, "; ".join(self._reason(n, metrics, days_since_prev, tracker_) for n in tested)
        )

    def judge_trades(
        self, trades: Sequence[TradeOutcome], *, days_since_prev: Optional[float] = None
    ) -> GateResult:
        """Judge a window of trades directly (any order; sorted by time here).

        Builds the metrics and, for a confidence gate, its tracker: O(len(trades)).
        """
        ordered = sorted(trades, key=lambda t: t.instant_us)
        tracker = self.tracker()
        if tracker is not None:
            for trade in ordered:
                tracker.add(trade)
        return self.judge(
            compute_metrics(ordered), days_since_prev=days_since_prev, tracker=tracker
        )

    def progress(
        self,
        metrics: Metrics,
        *,
        days_since_prev: Optional[float] = None,
        tracker: Optional[GateTracker] = None,
    ) -> Tuple[CriterionProgress, ...]:
        """Each criterion this gate sets, observed vs required, in the order they are checked.

        For a confidence gate's tested criteria the items carry the confidence bounds.
        """
        tracker_ = self._tracker_for(metrics, tracker)
        items = [CriterionProgress("n", metrics.n, self.min_n, metrics.n >= self.min_n)]
        if self.min_win_rate > 0:
            if self.confidence is None:
                items.append(
                    CriterionProgress(
                        "win_rate",
                        metrics.win_rate,
                        self.min_win_rate,
                        metrics.win_rate >= self.min_win_rate,
                    )
                )
            else:
                met, cannot = self._win_rate_check(metrics)
                items.append(
                    CriterionProgress(
                        "win_rate",
                        metrics.win_rate,
                        self.min_win_rate,
                        met,
                        lower_bound=self._win_rate_lower(metrics),
                        upper_bound=self._win_rate_upper(metrics),
                        cannot_pass=cannot,
                    )
                )
        # 0.1 checked EV/$ even at its 0.0 default, so a losing stage never passed.
        if self.min_ev_per_dollar is not None:
            if tracker_ is None:
                items.append(
                    CriterionProgress(
                        "ev_per_dollar",
                        metrics.ev_per_dollar,
                        self.min_ev_per_dollar,
                        metrics.ev_per_dollar >= self.min_ev_per_dollar,
                    )
                )
            else:
                items.append(
                    CriterionProgress(
                        "ev_per_dollar",
                        metrics.ev_per_dollar,
                        self.min_ev_per_dollar,
                        tracker_.passes,
                        lower_bound=tracker_.lower_bound,
                        upper_bound=tracker_.upper_bound,
                        cannot_pass=tracker_.cannot_pass,
                    )
                )
        if self.min_total_pnl is not None:
            items.append(
                CriterionProgress(
                    "total_pnl",
                    metrics.total_pnl,
                    self.min_total_pnl,
                    metrics.total_pnl >= self.min_total_pnl,
                )
            )
        if self.min_days_after_prev > 0:
            days = days_since_prev or 0.0
            items.append(
                CriterionProgress(
                    "days_since_prev",
                    days,
                    self.min_days_after_prev,
                    days >= self.min_days_after_prev,
                )
            )
        return tuple(items)

    def proof(self, metrics: Metrics, *, tracker: Optional[GateTracker] = None) -> GateProof:
        """What ``metrics`` (and ``tracker``) show, to record when this gate is passed.

        The win-rate bound is at this gate's confidence with its own test's prior when
        it has a tested win-rate criterion, else at 0.95 with a uniform prior.
        """
        if self.confidence is not None and self.min_win_rate > 0:
            win_rate_lower = self._win_rate_lower(metrics)
        else:
            confidence = 0.95 if self.confidence is None else self.confidence
            win_rate_lower = win_rate_lower_bound(metrics.wins, metrics.n, confidence)
        ev_lower = None
        tracker_ = self._tracker_for(metrics, tracker)
        if tracker_ is not None:
            ev_lower = tracker_.lower_bound
        return GateProof(
            n=metrics.n,
            win_rate=metrics.win_rate,
            ev_per_dollar=metrics.ev_per_dollar,
            win_rate_lower=win_rate_lower,
            ev_per_dollar_lower=ev_lower,
        )

    # -- the checks

    def _tested(self, name: str) -> bool:
        return self.confidence is not None and name in ("win_rate", "ev_per_dollar")

    def _win_rate_check(self, metrics: Metrics) -> Tuple[bool, bool]:
        assert self.confidence is not None
        tables = _win_rate_tables(float(self.min_win_rate), float(self.confidence))
        if tables.passes(metrics.wins, metrics.n):
            return True, False
        return False, tables.cannot_pass(metrics.wins, metrics.n)

    def _win_rate_lower(self, metrics: Metrics) -> float:
        assert self.confidence is not None
        return _cached_win_rate_bound(
            metrics.wins, metrics.n, float(self.min_win_rate), float(self.confidence), False
        )

    def _win_rate_upper(self, metrics: Metrics) -> float:
        assert self.confidence is not None
        return _cached_win_rate_bound(
            metrics.wins, metrics.n, float(self.min_win_rate), float(self.confidence), True
        )

    def _checks(
        self, metrics: Metrics, days_since_prev: Optional[float], tracker: Optional[GateTracker]
    ) -> List[Tuple[str, bool, bool]]:
        """(criterion, met, cannot pass) for each criterion, in check order; cheap."""
        checks = [("n", metrics.n >= self.min_n, False)]
        if self.min_win_rate > 0:
            if self.confidence is None:
                checks.append(("win_rate", metrics.win_rate >= self.min_win_rate, False))
            else:
                met, cannot = self._win_rate_check(metrics)
                checks.append(("win_rate", met, cannot))
        if self.min_ev_per_dollar is not None:
            tracker_ = self._tracker_for(metrics, tracker)
            if tracker_ is None:
                met = metrics.ev_per_dollar >= self.min_ev_per_dollar
                checks.append(("ev_per_dollar", met, False))
            else:
                checks.append(("ev_per_dollar", tracker_.passes, tracker_.cannot_pass))
        if self.min_total_pnl is not None:
            checks.append(("total_pnl", metrics.total_pnl >= self.min_total_pnl, False))
        if self.min_days_after_prev > 0:
            days = days_since_prev or 0.0
            checks.append(("days_since_prev", days >= self.min_days_after_prev, False))
        return checks

    @staticmethod
    def _verdict(checks: Sequence[Tuple[str, bool, bool]]) -> GateVerdict:
        if any(cannot for _, _, cannot in checks):
            return GateVerdict.CANNOT_PASS
        if all(met for _, met, _ in checks):
            return GateVerdict.PASS
        return GateVerdict.NOT_YET

    # -- reasons

    def _reason(
        self,
        name: str,
        metrics: Metrics,
        days_since_prev: Optional[float],
        tracker: Optional[GateTracker],
        *,
        estimate: bool = False,
    ) -> str:
        if name == "n":
            return f"n={metrics.n} < {self.min_n}"
        if name == "win_rate":
            if self.confidence is None:
                return f"win_rate={metrics.win_rate:.3f} < {self.min_win_rate:.3f}"
            return self._win_rate_reason(metrics, estimate)
        if name == "ev_per_dollar":
            assert self.min_ev_per_dollar is not None
            if tracker is None:
                return f"ev_per_dollar={metrics.ev_per_dollar:.4f} < {self.min_ev_per_dollar:.4f}"
            return self._ev_reason(metrics, tracker, estimate)
        if name == "total_pnl":
            assert self.min_total_pnl is not None
            return f"total_pnl=${metrics.total_pnl:.2f} < ${self.min_total_pnl:.2f}"
        days = days_since_prev or 0.0
        return f"days_since_prev={_distinct(days, self.min_days_after_prev)}"

    def _win_rate_reason(self, metrics: Metrics, estimate: bool) -> str:
        assert self.confidence is not None
        bar = self.min_win_rate
        met, cannot = self._win_rate_check(metrics)
        observed = (
            f"(observed {metrics.win_rate:.3f} over {metrics.n} trades, "
            f"{_percent(self.confidence)} anytime)"
        )
        if cannot:
            upper = self._win_rate_upper(metrics)
            return f"win_rate upper bound {_below(upper, bar, 3)} {observed}"
        lower = self._win_rate_lower(metrics)
        if met:
            return f"win_rate lower bound {_at_least(lower, bar, 3)} {observed}"
        reason = f"win_rate lower bound {_below(lower, bar, 3)} {observed}"
        if estimate and metrics.n > 0:
            more = _win_rate_trades_to_pass(metrics.wins, metrics.n, bar, self.confidence)
            reason += _more_trades_text(more)
        return reason

    def _ev_reason(self, metrics: Metrics, tracker: GateTracker, estimate: bool) -> str:
        assert self.confidence is not None
        assert self.min_ev_per_dollar is not None
        bar = self.min_ev_per_dollar
        if tracker.loss_breach is not None:
            return (
                f"ev_per_dollar cannot be judged: a trade lost more than max_loss_per_dollar="
                f"{self.max_loss_per_dollar!r} of its size ({tracker.loss_breach}), which the "
                "EV test assumes never happens; raise max_loss_per_dollar to the real worst "
                "loss (the test is rebuilt from the stage's trades when the rollout is "
                "next loaded with the new setting)"
            )
        observed = (
            f"(observed {metrics.ev_per_dollar:.4f} over {metrics.n} trades, "
            f"{_percent(self.confidence)} anytime)"
        )
        if tracker.cannot_pass:
            upper = tracker.upper_bound
            assert upper is not None
            return f"ev_per_dollar upper bound {_below(upper, bar, 4)} {observed}"
        lower = tracker.lower_bound
        assert lower is not None
        if tracker.passes:
            return f"ev_per_dollar lower bound {_at_least(lower, bar, 4)} {observed}"
        reason = f"ev_per_dollar lower bound {_below(lower, bar, 4)} {observed}"
        if estimate and tracker.n > 0:
            reason += _more_trades_text(tracker.trades_to_pass())
        return reason


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def _more_trades_text(more: Optional[int]) -> str:
    if more is None:
        return "; at the observed rate it would never pass"
    return f"; about {_about(more)} more trades at the observed rate"


def _about(count: int) -> str:
    """A count rounded to two significant figures past 100 (it is an estimate)."""
    if count < 100:
        return str(count)
    digits = len(str(count)) - 2
    rounded = round(count, -digits)
    return f"{rounded:,}"


def _below(value: float, bar: float, digits: int) -> str:
    """``value < bar`` with enough digits that the two sides do not print equal."""
    for d in range(digits, digits + 6):
        left, right = f"{value:.{d}f}", f"{bar:.{d}f}"
        if left != right:
            return f"{left} < {right}"
    return f"{value!r} < {bar!r}"


def _at_least(value: float, bar: float, digits: int) -> str:
    return f"{value:.{digits}f} >= {bar:.{digits}f}"


def _distinct(observed: float, required: float) -> str:
    """``observed < required`` with 0.1's one decimal, or as many more as it takes for the
    two sides not to print equal (a day gate one second short reads ``13.99999 < 14``)."""
    for digits in range(1, 7):
        left, right = f"{observed:.{digits}f}", f"{required:.{digits}f}"
        if left != right:
            return f"{left} < {right}"
    return f"{observed!r} < {required!r}"


@functools.lru_cache(maxsize=4096)
def _cached_win_rate_bound(wins: int, n: int, bar: float, confidence: float, upper: bool) -> float:
    """The bound a reason reports, by bisection: cached, since most ticks bring no new
    trade and would otherwise repeat the same ~50 incomplete-beta evaluations."""
    # Reasons print three decimals; 1e-6 keeps the bisection short and the bound safe.
    if upper:
        return win_rate_upper_bound(wins, n, confidence, BetaPrior.below(bar), tolerance=1e-6)
    return win_rate_lower_bound(wins, n, confidence, BetaPrior.above(bar), tolerance=1e-6)
