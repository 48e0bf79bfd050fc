"""The evidence of the current stage, kept up to date at the cost of the new trades only.

A bot passes its whole trade list on every tick. :class:`EvidenceFeed` remembers how
much of that list it has already read; when the list has only grown at the end (the
first and the last previously read trades are unchanged), only the new tail is
validated and added. A shorter list, a changed first or last-read trade, or a new
stage rebuilds the evidence from the whole list, and the result is the same as if
it had been built from scratch.

Complete evidence
    A bot hands over *closed* trades, each stamped with the time it was *opened*. At
    any moment the trades still open are missing, and which ones are missing depends
    on their outcome when a bot takes profits fast and holds its losers: the closed
    trades of the last hour are then mostly wins. So a gate judges only the
    *complete prefix*: the trades opened before an instant (``complete_before``)
    through which every opened trade has closed and is in the list. The window keeps
    the other trades waiting and judges them, in the order they were opened, as that
    instant moves on. Trackers that judge the gate (``complete_evidence = True``) see
    exactly this sequence, append-only: a trade can join it but never reorder it, so
    a late arrival cannot re-draw a sequential test's path. The kill switch sees every
    closed trade at once (a loss should stop a stage as soon as it is known).

Arrival order
    The kill switch's sequential trackers (CUSUM charts, drawdown, losing streaks;
    ``arrival_order = True``) take the window's trades in the order they appear in
    the caller's list, append-only. A bot appends each trade when it closes, so this
    is the order the results became known, the order the bot's realized equity moved
    in; a trade opened earlier that closes later is simply added at the end, and
    nothing already counted is re-read. The order is a function of the list alone,
    so a rebuild (a new window, a restart, a list that changed other than at its
    end) gives exactly the state the incremental path reached. Lookbacks ("the last
    30 trades") and sums keep taking the latest trades by time, in any order. A
    tracker that is ``order_sensitive`` without either attribute (0.2's contract) is
    still replayed in time order: a late trade rebuilds the window for it.

Trades stamped ahead of the clock
    A trade is stamped with the time it was opened, so it cannot be after the clock's
    now, unless the bot's clock and the rollout's disagree. The feed keeps every open
    time it has read, sorted, so :meth:`EvidenceFeed.ahead` can say at each tick how
    many trades are stamped after now by more than :data:`AHEAD_TOLERANCE_SECONDS`
    and the latest of them (:class:`TradesAhead`), at the cost of a bisection.

The one thing the fast path cannot see without reading the whole list is a trade
*in the middle* that was changed in place (say its pnl was corrected after fees
settled). Such a correction counts from the next rebuild; call
:meth:`EvidenceFeed.forget` (``Rollout.tick(trades, rescan=True)``) to make it count
at once.
"""

from __future__ import annotations

import bisect
import heapq
from array import array
from dataclasses import dataclass
from typing import (
    Callable,
    Dict,
    Generic,
    Hashable,
    List,
    Mapping,
    NewType,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    TypeVar,
)

from .metrics import Metrics, MetricsAccumulator
from .trades import TradeOutcome, as_trade, format_instant

__all__ = [
    "AHEAD_TOLERANCE_SECONDS",
    "EvidenceFeed",
    "EvidenceTracker",
    "StageEvidence",
    "TrackerFactory",
    "TrackerKey",
    "TradesAhead",
    "experiment_kill_tracker_key",
    "experiment_tracker_key",
    "feeds_in_time_order",
    "gate_tracker_key",
    "kill_tracker_key",
]

# (instant in microseconds, position in the caller's list): the order of evidence.
_Key = Tuple[int, int]


AHEAD_TOLERANCE_SECONDS = 300
"""How far after the clock's now a trade may be stamped before the tick warns: five
minutes, more than two machines' clocks differ by, less than the smallest time-zone
mistake (30 minutes)."""


@dataclass(frozen=True)
class TradesAhead:
    """Trades stamped after the clock's now by more than the tolerance.

    Attributes:
        count: how many trades of the list given.
        latest_us: the latest open time among them (microseconds since the epoch, UTC).
    """

    count: int
    latest_us: int

    def message(self) -> str:
        """The warning the tick's reason and ``status`` show."""
        trades = "trade" if self.count == 1 else "trades"
        return (
            f"{self.count} {trades} stamped after the clock's now (latest "
            f"{format_instant(self.latest_us)}): check the bot's timestamps or the clock"
        )


class EvidenceTracker(Protocol):
    """Per-trade state a criterion keeps over a stage's evidence (e.g. a CUSUM sum).

    ``add`` is called once per trade of the window and must cost O(1). A tracker
    that can refuse a trade (an experiment's, for a trade naming no arm) has a
    ``check(trade, index)`` method raising what ``add`` would: every new trade of a
    call is checked before any is added, so a refused trade changes nothing. A
    tracker whose result depends on the order of trades sets ``order_sensitive``,
    and says which order it takes:

    - ``complete_evidence = True`` (a gate's test): only the complete prefix, in the
      order the trades were opened, append-only;
    - ``arrival_order = True`` (the kill switch's built-in trackers): every trade of
      the window in the order of the caller's list, append-only;
    - neither (0.2's contract): time order; a late trade (older than one already
      counted) rebuilds the evidence so that the trades are replayed in time order.
    """

    order_sensitive: bool

    def add(self, trade: TradeOutcome) -> None: ...


def feeds_in_time_order(tracker: object) -> bool:
    """True when ``tracker`` must see its trades in time order (0.2's contract): it is
    ``order_sensitive`` and sets neither ``arrival_order`` nor ``complete_evidence``."""
    return (
        bool(getattr(tracker, "order_sensitive", True))
        and not getattr(tracker, "arrival_order", False)
        and not getattr(tracker, "complete_evidence", False)
    )


TrackerKey = NewType("TrackerKey", str)
"""Names a tracker on :class:`StageEvidence`; made only by the functions below."""


def gate_tracker_key(stage: int) -> TrackerKey:
    """The key of the tracker of the gate to ``stage`` (``gate[1]``)."""
    return TrackerKey(f"gate[{stage}]")


def experiment_tracker_key() -> TrackerKey:
    """The key of an experiment stage's tracker (its arms' evidence): ``experiment``."""
    return TrackerKey("experiment")


def experiment_kill_tracker_key() -> TrackerKey:
    """The key of the tracker that runs the kill switch on an experiment stage's arms
    (every trade as it arrives): ``experiment.kill``."""
    return TrackerKey("experiment.kill")


def kill_tracker_key(index: int) -> TrackerKey:
    """The key of the tracker of the kill switch's criterion ``index`` (``kill[0]``)."""
    return TrackerKey(f"kill[{index}]")


E = TypeVar("E", bound=Hashable)
"""What identifies an evidence window (the engine's ``Epoch``); compared for equality only."""

TrackerFactory = Callable[[E], Mapping[TrackerKey, EvidenceTracker]]
"""Builds fresh trackers for a new evidence window, given the window's epoch."""


class StageEvidence:
    """The trades at or after ``since_us`` (None: all trades), with running aggregates.

    Holds the metrics of every closed trade in the window and the latest
    ``recent_capacity`` trades in time order, for lookback criteria ("the last 30
    trades"), which the kill switch uses; and, for the gate, the metrics of the
    *judged* trades: the complete prefix (see the module documentation), fed to the
    trackers that set ``complete_evidence`` in the order the trades were opened. The
    other trackers see every trade of the window: in the order they were added (the
    caller's list) unless :func:`feeds_in_time_order`.
    """

    __slots__ = (
        "_acc",
        "_arrival",
        "_checks",
        "_judged",
        "_judged_acc",
        "_recent",
        "_recent_keys",
        "_timed",
        "_waiting",
        "complete_before",
        "judge_trackers",
        "last_judged_key",
        "last_key",
        "late",
        "order_sensitive",
        "recent_capacity",
        "since_us",
        "trackers",
    )

    def __init__(
        self,
        since_us: Optional[int],
        recent_capacity: int,
        trackers: Optional[Mapping[TrackerKey, EvidenceTracker]] = None,
        complete_before: Optional[int] = None,
    ) -> None:
        self.since_us = since_us
        self.recent_capacity = recent_capacity
        self.trackers: Dict[TrackerKey, EvidenceTracker] = dict(trackers or {})
        self.judge_trackers = [
            t for t in self.trackers.values() if getattr(t, "complete_evidence", False)
        ]
        self._timed = [t for t in self.trackers.values() if feeds_in_time_order(t)]
        self._arrival = [
            t
            for t in self.trackers.values()
            if not getattr(t, "complete_evidence", False) and not feeds_in_time_order(t)
        ]
        # True when a tracker must see time order: a late trade then rebuilds.
        self.order_sensitive = bool(self._timed)
        self._checks = [
            check for check in (getattr(t, "check", None) for t in self.trackers.values()) if check
        ]
        self.complete_before = complete_before
        self._acc = MetricsAccumulator()
        self._judged_acc = MetricsAccumulator()
        self._judged = 0
        self._waiting: List[Tuple[_Key, TradeOutcome]] = []  # a heap by key
        self._recent: List[TradeOutcome] = []
        self._recent_keys: List[_Key] = []
        self.last_key: Optional[_Key] = None
        self.last_judged_key: Optional[_Key] = None
        self.late = 0

    def admits(self, trade: TradeOutcome) -> bool:
        """True when ``trade`` belongs to this window (at or after its start)."""
        return self.since_us is None or trade.instant_us >= self.since_us

    def check(self, trade: TradeOutcome, index: int) -> None:
        """Raise what adding ``trade`` (``trades[index]``) would raise, changing nothing."""
        for check in self._checks:
            check(trade, index)

    def check_all(self, items: Sequence[Tuple[_Key, TradeOutcome]]) -> None:
        """:meth:`check` every item, oldest first (so an error names the oldest bad trade)."""
        if self._checks:
            for key, trade in sorted(items, key=_first):
                self.check(trade, key[1])

    def _complete(self, key: _Key) -> bool:
        return self.complete_before is None or key[0] < self.complete_before

    def add(self, trade: TradeOutcome, key: _Key) -> None:
        """Add one admitted trade; ``key`` orders it (time, then list position)."""
        self.extend(((key, trade),))

    def extend(self, items: Sequence[Tuple[_Key, TradeOutcome]]) -> None:
        """Add admitted trades in the order they arrived (the caller's list order).

        Arrival-order trackers take them in that order; time-order trackers, the
        lookbacks and the gate's complete prefix take them by ``key`` (time, then list
        position). Extending by ``a`` then ``b`` equals extending by ``a + b`` when
        no key of ``b`` is below one of ``a`` or no tracker feeds in time order.
        """
        arrival = self._arrival
        for _key, trade in items:
            self._acc.add(trade)
            for tracker in arrival:
                tracker.add(trade)
        ordered = sorted(items, key=_first) if len(items) > 1 else items
        timed = self._timed
        keys = self._recent_keys
        for key, trade in ordered:
            for tracker in timed:
                tracker.add(trade)
            if len(keys) >= self.recent_capacity and key < keys[0]:
                pass  # older than every trade a lookback can still see
            else:
                i = bisect.bisect_right(keys, key)
                keys.insert(i, key)
                self._recent.insert(i, trade)
                if len(keys) > self.recent_capacity:
                    del keys[0]
                    del self._recent[0]
            if self.last_key is None or key > self.last_key:
                self.last_key = key
            if self._complete(key):
                self._judge(trade, key)
            else:
                heapq.heappush(self._waiting, (key, trade))

    def complete_through(self, complete_before: Optional[int]) -> None:
        """Move the end of the complete prefix to ``complete_before`` (never back; None:
        everything is complete) and judge the trades it now covers, oldest first."""
        if complete_before is None:
            self.complete_before = None
        elif self.complete_before is not None and complete_before > self.complete_before:
            self.complete_before = complete_before
        waiting = self._waiting
        while waiting and self._complete(waiting[0][0]):
            key, trade = heapq.heappop(waiting)
            self._judge(trade, key)

    def _judge(self, trade: TradeOutcome, key: _Key) -> None:
        # Append-only: a trade older than one already judged (its bot said it had
        # closed, and it had not) joins at the end rather than re-ordering the test.
        if self.last_judged_key is not None and key < self.last_judged_key:
            self.late += 1
        else:
            self.last_judged_key = key
        self._judged_acc.add(trade)
        self._judged += 1
        for tracker in self.judge_trackers:
            tracker.add(trade)

    @property
    def n(self) -> int:
        """Closed trades in the window."""
        return self._acc.n

    @property
    def waiting(self) -> int:
        """Closed trades of the window that wait for older trades to close before the
        gate may count them."""
        return len(self._waiting)

    def metrics(self) -> Metrics:
        """Metrics of every closed trade in the window."""
        return self._acc.metrics()

    def judged_metrics(self) -> Metrics:
        """Metrics of the trades the gate judges: the complete prefix."""
        return self._judged_acc.metrics()

    def recent(self) -> Sequence[TradeOutcome]:
        """The latest trades of the window in time order (at most ``recent_capacity``)."""
        return tuple(self._recent)


def _first(item: Tuple[_Key, TradeOutcome]) -> _Key:
    return item[0]


def _fingerprint(trade: TradeOutcome) -> Tuple[int, float, float]:
    return (trade.instant_us, trade.pnl, trade.size)


class EvidenceFeed(Generic[E]):
    """Turns the caller's trade list into :class:`StageEvidence`, incrementally.

    One feed serves one rollout; it is a cache, so losing it (a restart) costs one
    full read of the list and changes no result. ``E`` is the type of the epochs
    that identify its windows (the engine's ``Epoch``).
    """

    def __init__(
        self, recent_capacity: int, make_trackers: Optional[TrackerFactory[E]] = None
    ) -> None:
        self._recent_capacity = max(1, recent_capacity)
        self._make_trackers = make_trackers
        self._epoch: Optional[E] = None
        self._evidence: Optional[StageEvidence] = None
        self._seen = 0
        self._first: Optional[Tuple[int, float, float]] = None
        self._last: Optional[Tuple[int, float, float]] = None
        self._stamps = array("q")  # every open time read, sorted

    def ahead(
        self, now_us: int, tolerance_us: int = AHEAD_TOLERANCE_SECONDS * 1_000_000
    ) -> Optional[TradesAhead]:
        """The trades of the list last read stamped after ``now_us + tolerance_us``;
        None when there are none."""
        stamps = self._stamps
        first = bisect.bisect_right(stamps, now_us + tolerance_us)
        if first == len(stamps):
            return None
        return TradesAhead(len(stamps) - first, stamps[-1])

    def evidence(
        self,
        trades: Sequence[object],
        since_us: Optional[int],
        epoch: E,
        complete_before: Optional[int] = None,
    ) -> StageEvidence:
        """The evidence of ``trades`` for a window starting at ``since_us``.

        ``epoch`` identifies the window (stage and evidence start); a new epoch
        rebuilds. ``complete_before`` ends the complete prefix the gate judges (None:
        every trade). Raises InvalidTradeError naming the index of a bad trade, and
        then leaves the feed as it was.
        """
        count = len(trades)
        evidence = self._evidence
        if (
            evidence is not None
            and epoch == self._epoch
            and count >= self._seen
            and self._prefix_unchanged(trades)
        ):
            new = [as_trade(trades[i], i) for i in range(self._seen, count)]
            admitted = [
                ((t.instant_us, self._seen + j), t) for j, t in enumerate(new) if evidence.admits(t)
            ]
            if (
                evidence.order_sensitive
                and admitted
                and evidence.last_key is not None
                and min(admitted, key=_first)[0] < evidence.last_key
            ):
                # A late trade older than evidence already counted: sums, lookbacks and
                # arrival-order trackers take it as it comes, but a tracker with 0.2's
                # contract must see time order.
                return self._rebuild(trades, since_us, epoch, complete_before)
            evidence.check_all(admitted)  # all checked first: a refused trade changes nothing
            evidence.extend(admitted)
            for trade in new:
                bisect.insort(self._stamps, trade.instant_us)
            evidence.complete_through(complete_before)
            self._remember(trades, new[-1] if new else None)
            return evidence
        return self._rebuild(trades, since_us, epoch, complete_before)

    def forget(self) -> None:
        """Drop what was read, so the next call re-reads the whole list."""
        self._evidence = None
        self._epoch = None
        self._seen = 0
        self._stamps = array("q")

    def _prefix_unchanged(self, trades: Sequence[object]) -> bool:
        if self._seen == 0:
            return True
        try:
            first = as_trade(trades[0], 0)
            last = as_trade(trades[self._seen - 1], self._seen - 1)
        except ValueError:
            return False
        return _fingerprint(first) == self._first and _fingerprint(last) == self._last

    def _rebuild(
        self,
        trades: Sequence[object],
        since_us: Optional[int],
        epoch: E,
        complete_before: Optional[int],
    ) -> StageEvidence:
        parsed = [as_trade(t, i) for i, t in enumerate(trades)]
        trackers = self._make_trackers(epoch) if self._make_trackers else None
        # The prefix never shrinks within a window: a rebuild keeps the end it had.
        old = self._evidence
        if (
            old is not None
            and epoch == self._epoch
            and complete_before is not None
            and old.complete_before is not None
        ):
            complete_before = max(complete_before, old.complete_before)
        evidence = StageEvidence(since_us, self._recent_capacity, trackers, complete_before)
        admitted = [((t.instant_us, i), t) for i, t in enumerate(parsed) if evidence.admits(t)]
        evidence.check_all(admitted)
        evidence.extend(admitted)
        self._epoch = epoch
        self._evidence = evidence
        self._stamps = array("q", sorted(t.instant_us for t in parsed))
        self._first = _fingerprint(parsed[0]) if parsed else None
        self._remember(trades, parsed[-1] if parsed else None)
        return evidence

    def _remember(self, trades: Sequence[object], last: Optional[TradeOutcome]) -> None:
        if last is not None:
            self._last = _fingerprint(last)
            if self._seen == 0:
                self._first = _fingerprint(as_trade(trades[0], 0))
        self._seen = len(trades)
