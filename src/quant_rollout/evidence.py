"""The evidence of the current stage, kept up to date at the cost of the new trades only.

A bot passes its whole trade list on every tick. :class:`EvidenceFeed` remembers how
much of that list it has already read; when the list has only grown at the end (the
first and the last previously read trades are unchanged), only the new tail is
validated and added. A shorter list, a changed first or last-read trade, or a new
stage rebuilds the evidence from the whole list, and the result is the same as if
it had been built from scratch.

The one thing the fast path cannot see without reading the whole list is a trade
*in the middle* that was changed in place (say its pnl was corrected after fees
settled). Such a correction counts from the next rebuild; call
:meth:`EvidenceFeed.forget` (``Rollout.tick(trades, rescan=True)``) to make it count
at once.
"""

from __future__ import annotations

import bisect
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
from .trades import TradeOutcome, as_trade

__all__ = [
    "EvidenceFeed",
    "EvidenceTracker",
    "StageEvidence",
    "TrackerFactory",
    "TrackerKey",
    "gate_tracker_key",
    "kill_tracker_key",
]

# (instant in microseconds, position in the caller's list): the order of evidence.
_Key = Tuple[int, int]


class EvidenceTracker(Protocol):
    """Per-trade state a criterion keeps over a stage's evidence (e.g. a CUSUM sum).

    ``add`` is called once per trade of the window, in time order, and must cost O(1).
    A tracker whose result depends on the order of trades sets ``order_sensitive``;
    then a late trade (older than one already counted) rebuilds the evidence so the
    trades are replayed in time order.
    """

    order_sensitive: bool

    def add(self, trade: TradeOutcome) -> None: ...


TrackerKey = NewType("TrackerKey", str)
"""Names a tracker on :class:`StageEvidence`; made only by the two functions below."""


def gate_tracker_key(stage: int) -> TrackerKey:
    """The key of the tracker of the gate to ``stage`` (``gate[1]``)."""
    return TrackerKey(f"gate[{stage}]")


def kill_tracker_key(index: int) -> TrackerKey:
    """The key of the tracker of the kill switch's criterion ``index`` (``kill[0]``)."""
    return TrackerKey(f"kill[{index}]")


E = TypeVar("E", bound=Hashable)
"""What identifies an evidence window (the engine's ``Epoch``); compared for equality only."""

TrackerFactory = Callable[[E], Mapping[TrackerKey, EvidenceTracker]]
"""Builds fresh trackers for a new evidence window, given the window's epoch."""


class StageEvidence:
    """The trades at or after ``since_us`` (None: all trades), with running aggregates.

    Holds the metrics of every trade in the window and the latest ``recent_capacity``
    trades in time order, for lookback criteria ("the last 30 trades").
    """

    __slots__ = (
        "_acc",
        "_recent",
        "_recent_keys",
        "last_key",
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
    ) -> None:
        self.since_us = since_us
        self.recent_capacity = recent_capacity
        self.trackers: Dict[TrackerKey, EvidenceTracker] = dict(trackers or {})
        self.order_sensitive = any(t.order_sensitive for t in self.trackers.values())
        self._acc = MetricsAccumulator()
        self._recent: List[TradeOutcome] = []
        self._recent_keys: List[_Key] = []
        self.last_key: Optional[_Key] = None

    def admits(self, trade: TradeOutcome) -> bool:
        """True when ``trade`` belongs to this window (at or after its start)."""
        return self.since_us is None or trade.instant_us >= self.since_us

    def add(self, trade: TradeOutcome, key: _Key) -> None:
        """Add one admitted trade; ``key`` orders it (time, then list position)."""
        self._acc.add(trade)
        for tracker in self.trackers.values():
            tracker.add(trade)
        keys = self._recent_keys
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

    @property
    def n(self) -> int:
        """Trades in the window."""
        return self._acc.n

    def metrics(self) -> Metrics:
        """Metrics of every trade in the window."""
        return self._acc.metrics()

    def recent(self) -> Sequence[TradeOutcome]:
        """The latest trades of the window in time order (at most ``recent_capacity``)."""
        return tuple(self._recent)


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

    def evidence(
        self, trades: Sequence[object], since_us: Optional[int], epoch: E
    ) -> StageEvidence:
        """The evidence of ``trades`` for a window starting at ``since_us``.

        ``epoch`` identifies the window (stage and evidence start); a new epoch
        rebuilds. Raises InvalidTradeError naming the index of a bad trade, and then
        leaves the feed as it was.
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
            admitted = sorted(
                ((t.instant_us, self._seen + j), t) for j, t in enumerate(new) if evidence.admits(t)
            )
            if (
                evidence.order_sensitive
                and admitted
                and evidence.last_key is not None
                and admitted[0][0] < evidence.last_key
            ):
                # A late trade older than evidence already counted: sums and lookbacks
                # take it in place, but an order-sensitive tracker must see time order.
                return self._rebuild(trades, since_us, epoch)
            for key, trade in admitted:
                evidence.add(trade, key)
            self._remember(trades, new[-1] if new else None)
            return evidence
        return self._rebuild(trades, since_us, epoch)

    def forget(self) -> None:
        """Drop what was read, so the next call re-reads the whole list."""
        self._evidence = None
        self._epoch = None
        self._seen = 0

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
        self, trades: Sequence[object], since_us: Optional[int], epoch: E
    ) -> StageEvidence:
        parsed = [as_trade(t, i) for i, t in enumerate(trades)]
        trackers = self._make_trackers(epoch) if self._make_trackers else None
        evidence = StageEvidence(since_us, self._recent_capacity, trackers)
        for key, trade in sorted(
            ((t.instant_us, i), t) for i, t in enumerate(parsed) if evidence.admits(t)
        ):
            evidence.add(trade, key)
        self._epoch = epoch
        self._evidence = evidence
        self._first = _fingerprint(parsed[0]) if parsed else None
        self._remember(trades, parsed[-1] if parsed else None)
        return evidence

    def _remember(self, trades: Sequence[object], last: Optional[TradeOutcome]) -> None:
        if last is not None:
            self._last = _fingerprint(last)
            if self._seen == 0:
                self._first = _fingerprint(as_trade(trades[0], 0))
        self._seen = len(trades)
