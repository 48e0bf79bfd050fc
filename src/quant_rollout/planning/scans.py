"""How each criterion's model is followed on a simulated run, chunk by chunk.

Gate scans say where a criterion holds (``holds``), kill scans where it first fires
(``first``). Each follows a model shape a criterion gave
(:mod:`quant_rollout.gates.criterion`, :mod:`quant_rollout.kill.models`), never a
criterion's class; :class:`CriterionGateScan` and :class:`CriterionKillScan` follow a
criterion with no model by asking the criterion itself, trade by trade.
"""

from __future__ import annotations

import math
from itertools import accumulate, repeat
from operator import ge, lt, sub, truediv
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from ..gates import Criterion, EvidenceView, GateProof, Measure, SequentialScan, Verdict
from ..kill.base import criterion_name, judge_tracker, tracker_of
from ..kill.models import Drawdown
from ..metrics import MetricsAccumulator
from ..trades import TradeOutcome
from .payoff import Payoff
from .runs import Run

__all__ = [
    "CriterionGateScan",
    "CriterionKillScan",
    "CusumScan",
    "DailyLossScan",
    "DrawdownScan",
    "EvCusumScan",
    "LeastWins",
    "MeasureScan",
    "SequentialGateScan",
    "StreakScan",
    "WindowEv",
    "WindowWins",
]

_DAY_US = 86_400_000_000
_MINUTE_US = 60_000_000


class LeastWins:
    """Holds after n trades when wins(n) >= least[n]."""

    def __init__(self, least: Sequence[int]) -> None:
        self.least = least

    def holds(self, run: Run, start: int, end: int) -> bytes:
        return bytes(map(ge, run.cum_wins[start : end + 1], self.least[start : end + 1]))


class MeasureScan:
    """A gate's count and sum criteria on a run's running sums (bootstrap runs).

    ``floor``: the least trade count; ``least_wins``: the least wins at each count
    (criteria that are functions of (trades, wins)), or None; ``at_least``: running
    measures compared with their bars as the criteria compare them.
    """

    def __init__(
        self,
        floor: int,
        least_wins: Optional[Sequence[int]],
        at_least: Sequence[Tuple[Measure, float]],
    ) -> None:
        self.floor = floor
        self.least_wins = least_wins
        self.at_least = at_least

    def holds(self, run: Run, start: int, end: int) -> bytes:
        first = max(start, self.floor, 1)
        if first > end:
            return bytes(end - start + 1)
        ok = int.from_bytes(b"\x01" * (end - first + 1), "little")
        wins = run.cum_wins[first : end + 1]
        if self.least_wins is not None:
            ok &= int.from_bytes(bytes(map(ge, wins, self.least_wins[first : end + 1])), "little")
        for measure, bar in self.at_least:
            values: Iterable[float]
            if measure is Measure.WIN_RATE:
                values = map(truediv, wins, range(first, end + 1))
            elif measure is Measure.EV_PER_DOLLAR:
                values = map(truediv, run.cum_pnl[first : end + 1], run.cum_size[first : end + 1])
            elif measure is Measure.TOTAL_PNL:
                values = run.cum_pnl[first : end + 1]
            else:
                values = range(first, end + 1)
            ok &= int.from_bytes(bytes(map(ge, values, repeat(bar))), "little")
        return bytes(first - start) + ok.to_bytes(end - first + 1, "little")


class WindowWins:
    """Fires after n >= lookback trades when the last ``lookback`` hold < ``least`` wins."""

    def __init__(self, lookback: int, least: int) -> None:
        self.lookback = lookback
        self.least = least

    def first(self, run: Run, start: int, end: int) -> Optional[int]:
        n0 = max(start, self.lookback)
        if n0 > end:
            return None
        cum, k = run.cum_wins, self.lookback
        counts = map(sub, cum[n0 : end + 1], cum[n0 - k : end + 1 - k])
        i = bytes(map(lt, counts, repeat(self.least))).find(1)
        return None if i < 0 else n0 + i


class WindowEv:
    """Fires after n >= lookback trades when the last ``lookback`` have EV/$ below a floor."""

    def __init__(self, lookback: int, floor: float) -> None:
        self.lookback = lookback
        self.floor = floor

    def first(self, run: Run, start: int, end: int) -> Optional[int]:
        n0 = max(start, self.lookback)
        if n0 > end:
            return None
        cum_pnl, cum_size, k = run.cum_pnl, run.cum_size, self.lookback
        pnl = map(sub, cum_pnl[n0 : end + 1], cum_pnl[n0 - k : end + 1 - k])
        size = map(sub, cum_size[n0 : end + 1], cum_size[n0 - k : end + 1 - k])
        i = bytes(map(lt, map(truediv, pnl, size), repeat(self.floor))).find(1)
        return None if i < 0 else n0 + i


_BLOCK = 64  # trades a walk is screened by at a time


def _reflected_first(walk: List[Any], low: Any, threshold: Any) -> Tuple[Optional[int], Any]:
    """(first i with walk[i] - min(low, walk[:i + 1]) >= threshold, or None; the new low).

    ``walk[i] - running min`` is a reflected walk (Lindley's recursion): a CUSUM, or a
    drawdown below a peak. It is screened a block at a time: a block can only reach the
    threshold if its highest point is that far above the lowest point so far, which a
    block's max and min show cheaply; only such blocks are followed term by term.
    Rounding is monotone, so the screen never hides a term that reaches the threshold.
    """
    running = low
    for a in range(0, len(walk), _BLOCK):
        block = walk[a : a + _BLOCK]
        bottom = min(block)
        if max(block) - min(running, bottom) >= threshold:
            lows = list(accumulate(block, min, initial=running))
            del lows[0]
            i = bytes(map(ge, map(sub, block, lows), repeat(threshold))).find(1)
            if i >= 0:
                return a + i, min(running, bottom)
        if bottom < running:
            running = bottom
    return None, running


class CusumScan:
    """Fires when the integer-score CUSUM on wins and losses reaches its threshold.

    ``S_n = max(0, S_{n-1} + step)`` equals ``X_n - min(0, X_1, ..., X_n)`` for the walk
    ``X`` of the steps (Lindley's recursion); the scores are integers
    (:class:`~quant_rollout.stats.BernoulliCusum`'s units), so the chart is followed
    exactly.
    """

    def __init__(self, win_units: int, loss_units: int, threshold: int) -> None:
        self.steps = (loss_units, -win_units)
        self.threshold = threshold
        self.walk = 0
        self.low = 0
        self.seen = 0

    def first(self, run: Run, start: int, end: int) -> Optional[int]:
        steps = map(self.steps.__getitem__, run.wins[self.seen : end])
        walk = list(accumulate(steps, initial=self.walk))
        del walk[0]
        found = None
        if walk:
            i, self.low = _reflected_first(walk, self.low, self.threshold)
            found = None if i is None else self.seen + 1 + i
            self.walk = walk[-1]
        self.seen = end
        return found


class StreakScan:
    """Fires after the first run of ``losses`` losses in a row."""

    def __init__(self, losses: int) -> None:
        self.losses = losses
        self.pattern = bytes(losses)

    def first(self, run: Run, start: int, end: int) -> Optional[int]:
        i = run.wins.find(self.pattern, max(0, start - self.losses), end)
        return None if i < 0 else i + self.losses


class DrawdownScan:
    """Fires when the stage's equity falls ``loss`` (money) or ``fraction`` below its peak.

    The equity is the running pnl from 0, as :class:`~quant_rollout.kill.MaxDrawdown`
    sums it; the peak includes the start.
    """

    def __init__(self, shape: Drawdown) -> None:
        self.loss = shape.loss
        self.fraction = shape.fraction
        self.capital = shape.capital
        self.peak = 0.0

    def first(self, run: Run, start: int, end: int) -> Optional[int]:
        equity = run.cum_pnl[start : end + 1]
        loss, fraction, capital = self.loss, self.fraction, self.capital
        peak = self.peak
        for a in range(0, len(equity), _BLOCK):
            block = equity[a : a + _BLOCK]
            top = max(peak, max(block))
            # No drawdown in the block exceeds top - min(block) (see _reflected_first).
            widest = top - min(block)
            if (loss is not None and widest >= loss) or (
                fraction is not None and widest / (capital + peak) >= fraction
            ):
                peaks = list(accumulate(block, max, initial=peak))
                del peaks[0]
                hits: List[int] = []
                if loss is not None:
                    drawdowns = map(sub, peaks, block)
                    i = bytes(map(ge, drawdowns, repeat(loss))).find(1)
                    if i >= 0:
                        hits.append(i)
                if fraction is not None:
                    tops = map(float.__add__, repeat(capital), peaks)
                    shares = map(truediv, map(sub, peaks, block), tops)
                    i = bytes(map(ge, shares, repeat(fraction))).find(1)
                    if i >= 0:
                        hits.append(i)
                if hits:
                    self.peak = top
                    return start + a + min(hits)
            peak = top
        self.peak = peak
        return None


class DailyLossScan:
    """Fires when one day's trades lose ``loss`` in total, trades evenly spread in time.

    Trade n opens ``(n - 1) / trades_per_day`` days after the stage began, which was at
    midnight UTC, so trade n falls on day ``floor((n - 1) / trades_per_day)``.
    """

    def __init__(self, loss: float, trades_per_day: float) -> None:
        self.loss = loss
        self.pace = trades_per_day
        self.day = -1
        self.day_pnl = 0.0

    def first(self, run: Run, start: int, end: int) -> Optional[int]:
        day, day_pnl, pace, loss = self.day, self.day_pnl, self.pace, self.loss
        found = None
        for n, pnl in zip(range(start, end + 1), run.pnl[start - 1 : end]):
            today = math.floor((n - 1) / pace)
            if today != day:
                day, day_pnl = today, 0.0
            day_pnl += pnl
            if -day_pnl >= loss:
                found = n
                break
        self.day, self.day_pnl = day, day_pnl
        return found


class EvCusumScan:
    """The CUSUM on returns per dollar, ``S = max(0, S + reference - r)``, from trade ``skip + 1``.

    Followed as ``X - min(0, X)`` like :class:`CusumScan`; in floating point this can
    differ from the recursion in the last bits, which can only matter at an exact tie
    with the threshold.
    """

    def __init__(
        self, reference: float, threshold: float, skip: int, payoff: Optional[Payoff] = None
    ) -> None:
        self.reference = reference
        self.threshold = threshold
        self.skip = skip
        self.walk = 0.0
        self.low = 0.0
        # Win-rate runs: each trade's step is one of two, computed as the chart would.
        self.by_outcome: Optional[Tuple[float, float]] = None
        if payoff is not None:
            size = float(payoff.size)
            loss, win = -payoff.loss * payoff.size, payoff.win * payoff.size
            self.by_outcome = (reference - loss / size, reference - win / size)

    def first(self, run: Run, start: int, end: int) -> Optional[int]:
        first = max(start, self.skip + 1)
        if first > end:
            return None
        steps: Iterable[float]
        if self.by_outcome is not None:
            steps = map(self.by_outcome.__getitem__, run.wins[first - 1 : end])
        else:
            returns = map(truediv, run.pnl[first - 1 : end], run.size[first - 1 : end])
            steps = map(float.__sub__, repeat(self.reference), returns)
        walk = list(accumulate(steps, initial=self.walk))
        del walk[0]
        self.walk = walk[-1]
        i, self.low = _reflected_first(walk, self.low, self.threshold)
        return None if i is None else first + i


class SequentialGateScan:
    """A criterion's own sequential replay (:class:`~quant_rollout.gates.SequentialTest`)
    on a run's trades."""

    def __init__(self, scan: SequentialScan) -> None:
        self.scan = scan

    def holds(self, run: Run, start: int, end: int) -> bytes:
        return self.scan.holds(run.pnl, run.size, start, end)


class _Replay:
    """A run's trades fed one by one to a criterion, as a rollout would feed them.

    Trade n opens ``(n - 1) / trades_per_day`` days after the stage began (at midnight
    UTC, 1970-01-01), or one minute after the previous one without a pace; the
    metrics and the days since the stage began follow.
    """

    def __init__(self, trades_per_day: Optional[float]) -> None:
        self.pace = trades_per_day
        self.acc = MetricsAccumulator()
        self.count = 0

    def trade(self, run: Run) -> TradeOutcome:
        """The next trade of ``run``, counted in the metrics."""
        n = self.count + 1
        step = _MINUTE_US if self.pace is None else _DAY_US / self.pace
        trade = TradeOutcome(run.pnl[n - 1], run.size[n - 1], round((n - 1) * step) / 1e6)
        self.acc.add(trade)
        self.count = n
        return trade

    def view(self, tracker: Any) -> EvidenceView:
        days = None if self.pace is None else self.count / self.pace
        return EvidenceView(self.acc.metrics(), tracker, days_since_prev=days)


class CriterionGateScan:
    """A gate criterion with no model, asked after every trade (Monte Carlo)."""

    def __init__(self, criterion: Criterion, trades_per_day: Optional[float]) -> None:
        self.criterion = criterion
        self.tracker = criterion.tracker(None)
        self.replay = _Replay(trades_per_day)

    def holds(self, run: Run, start: int, end: int) -> bytes:
        out = bytearray()
        if start == 0:
            out.append(self.criterion.verdict(self.replay.view(self.tracker)) is Verdict.MET)
        while self.replay.count < end:
            trade = self.replay.trade(run)
            if self.tracker is not None:
                self.tracker.add(trade)
            if self.replay.count >= start:
                view = self.replay.view(self.tracker)
                out.append(self.criterion.verdict(view) is Verdict.MET)
        return bytes(out)


class CriterionKillScan:
    """A kill criterion with no model, fed every trade and asked after each (Monte Carlo).

    ``criterion`` is a :class:`~quant_rollout.gates.Criterion` or a 0.2-style kill
    criterion (``evaluate`` or ``tracker``); ``proof`` is the least the stage proved.
    """

    def __init__(
        self, criterion: object, proof: Optional[GateProof], trades_per_day: Optional[float]
    ) -> None:
        self.criterion = criterion
        self.name = criterion_name(criterion)
        if isinstance(criterion, Criterion):
            self.tracker: Any = criterion.tracker(proof)
        else:
            self.tracker = tracker_of(criterion, proof)
        self.replay = _Replay(trades_per_day)

    def _met(self) -> bool:
        criterion = self.criterion
        if isinstance(criterion, Criterion):
            return criterion.verdict(self.replay.view(self.tracker)) is Verdict.MET
        return judge_tracker(self.name, self.tracker).met

    def first(self, run: Run, start: int, end: int) -> Optional[int]:
        while self.replay.count < end:
            trade = self.replay.trade(run)
            if self.tracker is not None:
                self.tracker.add(trade)
            if self.replay.count >= start and self._met():
                return self.replay.count
        return None
