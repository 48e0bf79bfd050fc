"""The anytime-valid EV-per-dollar criterion of a confidence gate.

The test is the size-weighted betting test of :class:`~quant_rollout.stats.EVBettingTest`
(Waudby-Smith & Ramdas 2024). It assumes only that no trade loses more than
``max_loss_per_dollar`` of its size; the gains may have any tail. It needs every trade
in time order, so it keeps a :class:`GateTracker` fed by the stage's evidence, and
gives the planner :class:`BettingScan`, its replay over simulated runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import repeat
from operator import lt, mul
from typing import List, Optional, Sequence

from ..errors import ConfigError
from ..stats import EVBettingTest
from ..stats.dollar_ev import DollarEVBettingTest, dollar_ev_default_grid
from ..trades import TradeOutcome
from .criterion import (
    Criterion,
    EvidenceView,
    PlanContext,
    PlanModel,
    SequentialTest,
    Verdict,
)
from .results import CriterionProgress, GateProof
from .text import at_least, below, more_trades_text, percent

__all__ = ["BettingScan", "EvPerDollarShown", "GateTracker"]


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
    be declared unpassable), and the reason says which trade did it. A trade of size 0
    with a loss is such a trade (it lost without bound per dollar), unless the gate
    declares ``max_trade_size``: then it counts as the largest loss a trade can make
    (``max_loss_per_dollar * max_trade_size``), and breaks the test only beyond that.
    A gain beyond ``max_gain_per_dollar`` likewise switches off the "cannot pass" side
    only. Trades of size 0 without a loss carry no information and are skipped when
    there is no ``max_trade_size``. Adding never raises.

    With ``max_trade_size`` the test is :class:`~quant_rollout.stats.dollar_ev.DollarEVBettingTest`
    (bets linear in size, valid for "total pnl / total size <= bar" however sizes
    relate to outcomes), and a trade above it breaks the test as a loss beyond the
    bound does.

    Cost per trade: O(grid) with ``bounds=True`` (65 candidate bars per side, about
    30 µs), O(1) without (the verdicts are the same; only the bounds are coarser).
    """

    order_sensitive = True
    complete_evidence = True  # fed the complete prefix, append-only (see evidence.py)

    def __init__(self, gate: object, *, bounds: bool = True) -> None:
        """``gate``: a :class:`Gate` with confidence and an EV bar, or its EV criterion."""
        test = gate if isinstance(gate, EvPerDollarShown) else getattr(gate, "ev_test", None)
        if not isinstance(test, EvPerDollarShown):
            raise ConfigError(
                f"GateTracker needs a Gate with confidence and min_ev_per_dollar set, got {gate!r}"
            )
        self.bar = float(test.bar)
        self.loss_bound = float(test.loss_bound)
        self.gain_bound = None if test.gain_bound is None else float(test.gain_bound)
        self.confidence = float(test.confidence)
        self.max_size = None if test.max_size is None else float(test.max_size)
        self.dollars: Optional[DollarEVBettingTest] = None
        self.lower = EVBettingTest(
            self.bar,
            self.loss_bound,
            self.confidence,
            grid=_lower_grid(self.bar, self.loss_bound) if bounds else [self.bar],
        )
        self.upper: Optional[EVBettingTest] = None
        if self.max_size is not None:
            # Bets linear in size: valid for "total pnl / total size <= bar" whatever
            # the sizes' relation to the outcomes (stats.dollar_ev).
            self.dollars = DollarEVBettingTest(
                self.bar,
                self.loss_bound,
                self.max_size,
                self.confidence,
                gain_bound=self.gain_bound,
                grid=dollar_ev_default_grid(self.bar, self.loss_bound) if bounds else [self.bar],
            )
        elif self.gain_bound is not None:
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
        self.breach_advice = ""
        self.sized_breach = False  # the breach was a loss beyond the bound on size > 0
        self.gain_breach: Optional[str] = None
        # Sums of the trades' x (their excess over the bar in the test's units), for
        # the trades-to-pass estimate.
        self._sum_x = 0.0
        self._sum_x2 = 0.0

    def add(self, trade: TradeOutcome) -> None:
        """Count one trade (time order). O(grid); never raises."""
        pnl, size = float(trade.pnl), float(trade.size)
        if self.loss_breach is not None:
            return
        if self.dollars is not None:
            self._add_dollars(trade, pnl, size)
            return
        if size <= 0.0 and pnl >= 0.0:
            return  # nothing at risk and nothing lost: no evidence either way
        if pnl < -self.loss_bound * size:
            # Includes a loss on size 0, which loses without bound per dollar: not
            # nothing, but beyond what this test can weigh (max_trade_size can).
            self.loss_breach = f"pnl={trade.pnl!r} on size={trade.size!r}"
            self.breach_advice = (
                "report the capital at risk as the size, or set max_trade_size to count "
                "it as the largest loss a trade can make"
                if size <= 0.0
                else "raise max_loss_per_dollar to the real worst loss"
            )
            self.sized_breach = size > 0.0
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

    def _add_dollars(self, trade: TradeOutcome, pnl: float, size: float) -> None:
        dollars = self.dollars
        assert dollars is not None
        assert self.max_size is not None
        why = dollars.check(pnl, size)
        if why is not None:
            gain = self.gain_bound
            if size <= self.max_size and gain is not None and pnl > gain * max(size, 0.0):
                # Only the "cannot pass" side assumes the gain bound.
                self.gain_breach = f"pnl={trade.pnl!r} on size={trade.size!r}"
                dollars.stop_upper()
                why = dollars.check(pnl, size)
            if why is not None:
                self.loss_breach = why
                self.breach_advice = (
                    "raise max_trade_size to the real largest size"
                    if size > self.max_size
                    else "raise max_loss_per_dollar to the real worst loss"
                )
                return
        self.n += 1
        x = (pnl - self.bar * size) / (self.max_size * (self.loss_bound + self.bar))
        if size == 0.0 and pnl < 0.0:
            x = -1.0
        self._sum_x += x
        self._sum_x2 += x * x
        dollars.update(pnl, size)

    @property
    def _rejected(self) -> bool:
        return self.dollars.rejected if self.dollars is not None else self.lower.rejected

    @property
    def _log_e_value(self) -> float:
        return self.dollars.log_e_value if self.dollars is not None else self.lower.log_e_value

    @property
    def passes(self) -> bool:
        """The test rejected "EV per dollar <= bar" at some trade of the window."""
        return self.loss_breach is None and self._rejected

    @property
    def cannot_pass(self) -> bool:
        """The mirror test rejected "EV per dollar >= bar" (needs a gain bound)."""
        if self.loss_breach is not None or self.gain_breach is not None or self.passes:
            return False
        if self.dollars is not None:
            return self.dollars.gain_bound is not None and self.dollars.upper_rejected
        return self.upper is not None and self.upper.upper_rejected

    @property
    def lower_bound(self) -> Optional[float]:
        """The anytime lower confidence bound on EV per dollar (None if the test broke).

        Once the test at the bar has rejected, the bound is at least the bar: that
        rejection is itself the statement "EV per dollar > bar at this confidence".
        """
        if self.loss_breach is not None:
            return None
        bound = self.dollars.lower_bound if self.dollars is not None else self.lower.lower_bound
        return max(bound, self.bar) if self._rejected else bound

    @property
    def upper_bound(self) -> Optional[float]:
        """The anytime upper confidence bound, or None (no gain bound, or it broke)."""
        if self.loss_breach is not None or self.gain_breach is not None:
            return None
        if self.dollars is not None:
            if self.dollars.gain_bound is None:
                return None
            return self.bar if self.dollars.upper_rejected else self.dollars.gain_bound
        if self.upper is None:
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
        missing = -math.log1p(-self.confidence) - self._log_e_value
        return max(1, math.ceil(missing / growth))


class BettingScan:
    """A confidence gate's EV test, replayed on a run: where it holds, chunk by chunk.

    The arithmetic of :class:`~quant_rollout.stats.EVBettingTest` at its bar (the
    size-weighted aGRAPA bet of ``stats._BettingSide``), in the same order, so it rejects
    at the same trade to the bit; only the bar is followed (the confidence bounds do not
    change the verdict). As in :class:`~quant_rollout.gates.GateTracker` the test
    latches once it rejects, and a trade losing more than ``loss_bound`` per dollar
    voids it from that trade on, even after a rejection.
    """

    def __init__(self, bar: float, loss_bound: float, confidence: float, max_bet: float) -> None:
        self.bar = bar
        self.floor = -loss_bound
        self.scale = 1.0 / (loss_bound + bar)
        self.threshold = -math.log1p(-confidence)
        self.max_bet = max_bet
        self.count = 0
        self.log_wealth = 0.0
        self.sums = (0.0, 0.0, 0.0, 0.0, 0.0)  # pnl, size, pnl^2, pnl*size, size^2
        self.scanned = 0
        self.rejected_at: Optional[int] = None
        self.void_at: Optional[int] = None

    def holds(self, pnl: Sequence[float], size: Sequence[float], start: int, end: int) -> bytes:
        if self.void_at is None and self.scanned < end:
            losses = map(
                lt,
                pnl[self.scanned : end],
                map(mul, size[self.scanned : end], repeat(self.floor)),
            )
            i = bytes(losses).find(1)
            if i >= 0:
                self.void_at = self.scanned + i + 1
            self.scanned = end
        if self.rejected_at is None and self.count < end:
            last = end if self.void_at is None else min(end, self.void_at - 1)
            if self.count < last:
                self._follow(pnl, size, last)
        on = self.rejected_at
        if on is None or on > end:
            return bytes(end - start + 1)
        off = end + 1 if self.void_at is None else min(end + 1, self.void_at)
        on = max(on, start)
        off = max(off, on)
        return bytes(on - start) + b"\x01" * (off - on) + bytes(end + 1 - off)

    def _follow(self, pnls: Sequence[float], sizes: Sequence[float], last: int) -> None:
        """Bet on trades count+1..last (none of them void the test), until it rejects."""
        b, scale, max_bet, threshold = self.bar, self.scale, self.max_bet, self.threshold
        count, log_wealth = self.count, self.log_wealth
        sum_pnl, sum_size, sum_pnl2, sum_pnl_size, sum_size2 = self.sums
        log1p = math.log1p
        two_b, b_b = 2.0 * b, b * b
        for pnl, size in zip(pnls[count:last], sizes[count:last]):
            if count > 0:
                numerator = (sum_pnl - b * sum_size) * scale
                # The bet is size * numerator / (a positive number): it is only placed
                # (and worth the arithmetic) when the numerator is positive.
                if numerator > 0.0:
                    mean_size = sum_size / count
                    second = sum_pnl2 - two_b * sum_pnl_size + b_b * sum_size2
                    if second < 0.0:
                        second = 0.0
                    bet = size * numerator / (second * scale * scale + mean_size * mean_size)
                    if bet > max_bet:
                        bet = max_bet
                    log_wealth += log1p(bet * (pnl / size - b) * scale)
                    if log_wealth >= threshold:
                        self.rejected_at = count + 1
                        break
            count += 1
            sum_pnl += pnl
            sum_size += size
            sum_pnl2 += pnl * pnl
            sum_pnl_size += pnl * size
            sum_size2 += size * size
        self.count, self.log_wealth = count, log_wealth
        self.sums = (sum_pnl, sum_size, sum_pnl2, sum_pnl_size, sum_size2)


@dataclass(frozen=True)
class EvPerDollarShown(Criterion):
    """EV per dollar is shown to be above ``bar`` at ``confidence``, anytime-valid.

    ``loss_bound`` is the most a trade loses per dollar (the test's one assumption);
    ``gain_bound`` the most it wins, or None (then it can never be CANNOT_BE_MET).
    """

    bar: float
    loss_bound: float
    confidence: float
    gain_bound: Optional[float] = None
    max_size: Optional[float] = None
    """The gate's ``max_trade_size``: with it, the test bets linearly in size
    (:class:`~quant_rollout.stats.dollar_ev.DollarEVBettingTest`)."""

    @property
    def name(self) -> str:
        return "ev_per_dollar"

    def tracker(self, proof: Optional[GateProof], *, bounds: bool = True) -> GateTracker:
        """A fresh test for a window; ``bounds=False`` skips the confidence bounds."""
        return GateTracker(self, bounds=bounds)

    def tracker_of(self, view: EvidenceView) -> GateTracker:
        """The window's test: the view's tracker, or an empty one when there are no trades."""
        tracker = view.tracker
        if tracker is not None:
            if not isinstance(tracker, GateTracker):
                raise ConfigError(f"tracker must be a GateTracker, got {tracker!r}")
            return tracker
        if view.metrics.n == 0:
            return GateTracker(self)  # no trades: an empty tracker is the exact answer
        raise ConfigError(
            "a confidence gate judges EV per dollar on the trades themselves, in order: "
            "pass tracker=gate.tracker() fed every trade of the window, or use "
            "gate.judge_trades(trades)"
        )

    def verdict(self, view: EvidenceView) -> Verdict:
        tracker = self.tracker_of(view)
        if tracker.passes:
            return Verdict.MET
        return Verdict.CANNOT_BE_MET if tracker.cannot_pass else Verdict.NOT_MET

    def explain(self, view: EvidenceView, verdict: Verdict, *, estimate: bool = False) -> str:
        tracker, m, bar = self.tracker_of(view), view.metrics, self.bar
        if tracker.loss_breach is not None and tracker.dollars is None and tracker.sized_breach:
            return (
                f"ev_per_dollar cannot be judged: a trade lost more than max_loss_per_dollar="
                f"{self.loss_bound!r} of its size ({tracker.loss_breach}), which the "
                "EV test assumes never happens; raise max_loss_per_dollar to the real worst "
                "loss (the test is rebuilt from the stage's trades when the rollout is "
                "next loaded with the new setting)"
            )
        if tracker.loss_breach is not None:
            return (
                "ev_per_dollar cannot be judged: a trade broke the EV test's assumptions "
                f"(max_loss_per_dollar={self.loss_bound!r}, max_trade_size="
                f"{self.max_size!r}): {tracker.loss_breach}; {tracker.breach_advice} "
                "(the test is rebuilt from the stage's trades when the rollout is next "
                "loaded with the new setting)"
            )
        observed = (
            f"(observed {m.ev_per_dollar:.4f} over {m.n} trades, "
            f"{percent(self.confidence)} anytime)"
        )
        if verdict is Verdict.CANNOT_BE_MET:
            upper = tracker.upper_bound
            assert upper is not None
            return f"ev_per_dollar upper bound {below(upper, bar, 4)} {observed}"
        lower = tracker.lower_bound
        assert lower is not None
        if verdict is Verdict.MET:
            return f"ev_per_dollar lower bound {at_least(lower, bar, 4)} {observed}"
        reason = f"ev_per_dollar lower bound {below(lower, bar, 4)} {observed}"
        if estimate and tracker.n > 0:
            reason += more_trades_text(tracker.trades_to_pass())
        return reason

    def progress(self, view: EvidenceView) -> CriterionProgress:
        tracker = self.tracker_of(view)
        return CriterionProgress(
            self.name,
            view.metrics.ev_per_dollar,
            self.bar,
            tracker.passes,
            lower_bound=tracker.lower_bound,
            upper_bound=tracker.upper_bound,
            cannot_pass=tracker.cannot_pass,
        )

    def requirement(self) -> str:
        return f"ev_per_dollar>{self.bar:.6g}"

    def plan_model(self, context: PlanContext) -> PlanModel:
        # The bet cap is the one the tracker's own test uses, read from it.
        max_bet = GateTracker(self, bounds=False).lower.max_bet
        bar, loss_bound, confidence = float(self.bar), float(self.loss_bound), self.confidence

        def scan() -> BettingScan:
            return BettingScan(bar, loss_bound, float(confidence), max_bet)

        return SequentialTest(scan, ev_bar=bar, void_below=-loss_bound)
