"""Evidence: however the trade list arrives, the evidence is that of the whole list."""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import T0_NOON as T0
from quant_rollout.errors import InvalidTradeError
from quant_rollout.evidence import EvidenceFeed, EvidenceTracker, StageEvidence
from quant_rollout.kill import KillSwitch
from quant_rollout.metrics import Metrics, compute_metrics
from quant_rollout.trades import TradeOutcome

EPOCH = (0, None)


def _t(i: int, pnl: float = 1.0, size: float = 2.0) -> TradeOutcome:
    return TradeOutcome(pnl, size, T0 + 60 * i)


def _expected(
    trades: Sequence[TradeOutcome], since_us: Optional[int], capacity: int
) -> Tuple[Metrics, Tuple[TradeOutcome, ...]]:
    """The evidence by definition: admitted trades, latest ``capacity`` in time order."""
    admitted = [
        (t.instant_us, i, t)
        for i, t in enumerate(trades)
        if since_us is None or t.instant_us >= since_us
    ]
    admitted.sort(key=lambda k: (k[0], k[1]))
    in_order = [t for _, _, t in admitted]
    return compute_metrics(in_order), tuple(in_order[-capacity:])


class _Recorder:
    """A tracker that remembers the order it was fed in."""

    def __init__(self, order_sensitive: bool, arrival_order: bool = False) -> None:
        self.order_sensitive = order_sensitive
        self.arrival_order = arrival_order
        self.seen: List[TradeOutcome] = []

    def add(self, trade: TradeOutcome) -> None:
        self.seen.append(trade)


def _recorders(order_sensitive: bool, arrival_order: bool = False) -> Any:
    def make(epoch: Tuple[Any, ...]) -> Mapping[str, EvidenceTracker]:
        return {"rec": _Recorder(order_sensitive, arrival_order)}

    return make


# ----------------------------------------------------------------------------- StageEvidence


def test_stage_evidence_counts_trades_at_or_after_its_start() -> None:
    ev = StageEvidence(since_us=_t(5).instant_us, recent_capacity=3)
    assert not ev.admits(_t(4))
    assert ev.admits(_t(5))
    assert ev.admits(_t(6))
    assert StageEvidence(None, 3).admits(_t(-(10**6)))


def test_stage_evidence_keeps_the_latest_trades_in_time_order() -> None:
    ev = StageEvidence(None, recent_capacity=3)
    for i in [5, 1, 9, 3, 7]:
        ev.add(_t(i, pnl=float(i)), (_t(i).instant_us, i))
    assert [t.pnl for t in ev.recent()] == [5.0, 7.0, 9.0]
    assert ev.n == 5
    assert ev.metrics().total_pnl == 25.0


def test_a_trade_older_than_a_full_recent_window_is_counted_but_not_kept() -> None:
    ev = StageEvidence(None, recent_capacity=2)
    for i in [8, 9, 1]:
        ev.add(_t(i, pnl=float(i)), (_t(i).instant_us, i))
    assert [t.pnl for t in ev.recent()] == [8.0, 9.0]
    assert ev.metrics().n == 3
    assert ev.last_key == (_t(9).instant_us, 9)


# ----------------------------------------------------------------------------- feed: basics


def test_feed_of_an_empty_list_is_empty_evidence() -> None:
    ev = EvidenceFeed(5).evidence([], None, EPOCH)
    assert ev.metrics() == Metrics.empty()
    assert ev.recent() == ()


def test_feed_reads_only_the_new_tail_when_the_list_grows() -> None:
    feed = EvidenceFeed(5)
    trades = [_t(i) for i in range(10)]
    first = feed.evidence(trades[:6], None, EPOCH)
    second = feed.evidence(trades, None, EPOCH)
    assert second is first  # updated in place, not rebuilt
    assert second.metrics() == compute_metrics(trades)
    assert second.recent() == tuple(trades[-5:])


def test_feed_applies_the_window_start() -> None:
    trades = [_t(i, pnl=float(i)) for i in range(10)]
    since = _t(4).instant_us
    ev = EvidenceFeed(3).evidence(trades, since, (1, since))
    assert ev.metrics() == compute_metrics(trades[4:])
    assert [t.pnl for t in ev.recent()] == [7.0, 8.0, 9.0]


def test_feed_accepts_dicts_and_objects() -> None:
    trades = [{"pnl": 1.0, "size": 2.0, "timestamp": "2026-05-01T12:00:00Z"}, _t(1)]
    ev = EvidenceFeed(5).evidence(trades, None, EPOCH)
    assert ev.metrics().n == 2
    assert ev.recent()[0] == TradeOutcome(1.0, 2.0, "2026-05-01T12:00:00Z")


def test_late_trade_in_the_new_tail_takes_its_place_in_time() -> None:
    feed = EvidenceFeed(3)
    trades = [_t(i, pnl=float(i)) for i in range(5)]
    feed.evidence(trades, None, EPOCH)
    late = _t(3, pnl=30.0)  # same time as trades[3], later in the list
    early = _t(-1, pnl=-1.0)  # older than everything
    ev = feed.evidence([*trades, late, early], None, EPOCH)
    assert [t.pnl for t in ev.recent()] == [3.0, 30.0, 4.0]
    assert ev.metrics() == compute_metrics([*trades, late, early])


# ----------------------------------------------------------------------------- feed: rebuilds


@pytest.mark.parametrize(
    "change",
    ["replace_first", "replace_last_seen", "shorter", "empty"],
)
def test_a_changed_prefix_rebuilds_and_gives_the_right_answer(change: str) -> None:
    feed = EvidenceFeed(4)
    trades = [_t(i, pnl=float(i + 1)) for i in range(8)]
    before = feed.evidence(trades, None, EPOCH)
    changed = list(trades)
    if change == "replace_first":
        changed[0] = _t(0, pnl=-100.0)
    elif change == "replace_last_seen":
        changed[-1] = _t(7, pnl=-100.0)
        changed.append(_t(8, pnl=5.0))
    elif change == "shorter":
        changed = changed[:5]
    else:
        changed = []
    after = feed.evidence(changed, None, EPOCH)
    assert after is not before
    assert (after.metrics(), tuple(after.recent())) == _expected(changed, None, 4)


def test_a_new_epoch_rebuilds_with_the_new_window() -> None:
    feed = EvidenceFeed(4)
    trades = [_t(i) for i in range(10)]
    stage0 = feed.evidence(trades, None, (0, None))
    since = _t(6).instant_us
    stage1 = feed.evidence(trades, since, (1, since))
    assert stage1 is not stage0
    assert stage1.metrics().n == 4
    assert stage1.since_us == since


def test_the_same_epoch_keeps_its_window_start() -> None:
    # The epoch names the window; a caller changes epoch when the window moves.
    feed = EvidenceFeed(4)
    trades = [_t(i) for i in range(10)]
    feed.evidence(trades, None, EPOCH)
    assert feed.evidence(trades, 0, EPOCH).since_us is None


# ----------------------------------------------------------------------------- feed: bad trades


def test_a_bad_trade_in_the_new_tail_names_its_index_and_keeps_the_previous_answer() -> None:
    feed = EvidenceFeed(4)
    trades: List[object] = [_t(i) for i in range(6)]
    previous = feed.evidence(trades, None, EPOCH).metrics()
    bad = [*trades, _t(6), {"pnl": float("nan"), "size": 1.0, "timestamp": T0}, _t(8)]
    with pytest.raises(InvalidTradeError, match=r"trades\[7\]: pnl must be finite, got nan"):
        feed.evidence(bad, None, EPOCH)
    assert feed.evidence(trades, None, EPOCH).metrics() == previous
    fixed = [*trades, _t(6), _t(7), _t(8)]
    assert feed.evidence(fixed, None, EPOCH).metrics() == compute_metrics(fixed)  # type: ignore[arg-type]


def test_a_bad_trade_found_on_a_rebuild_leaves_the_feed_as_it_was() -> None:
    feed = EvidenceFeed(4)
    trades: List[object] = [_t(i) for i in range(6)]
    kept = feed.evidence(trades, None, EPOCH)
    previous = kept.metrics()
    with pytest.raises(InvalidTradeError, match=r"trades\[2\]"):
        feed.evidence([_t(0), _t(1), {"pnl": 1.0, "size": -1.0, "timestamp": 0}], None, (9,))
    assert feed.evidence(trades, None, EPOCH) is kept
    assert kept.metrics() == previous


def test_a_bad_first_trade_forces_a_rebuild_that_names_it() -> None:
    feed = EvidenceFeed(4)
    trades: List[object] = [_t(i) for i in range(6)]
    feed.evidence(trades, None, EPOCH)
    with pytest.raises(InvalidTradeError, match=r"trades\[0\]"):
        feed.evidence([{"pnl": 1.0}, *trades[1:]], None, EPOCH)


# ----------------------------------------------------------------------------- properties

_TRADES = st.lists(
    st.builds(
        TradeOutcome,
        pnl=st.sampled_from([-1.5, -0.1, 0.0, 0.2, 0.7, 3.0]),
        size=st.sampled_from([0.0, 1.0, 2.5, 10.0]),
        timestamp=st.integers(T0, T0 + 500),  # many ties and late arrivals
    ),
    max_size=50,
)


@settings(max_examples=150, deadline=None)
@given(
    trades=_TRADES,
    cuts=st.lists(st.integers(0, 50), max_size=8),
    since_offset=st.none() | st.integers(0, 500),
    capacity=st.integers(1, 12),
    order=st.sampled_from(["any", "time", "arrival"]),
)
def test_incremental_feed_equals_a_fresh_build_from_the_whole_list(
    trades: List[TradeOutcome],
    cuts: List[int],
    since_offset: Optional[int],
    capacity: int,
    order: str,
) -> None:
    since = None if since_offset is None else (T0 + since_offset) * 1_000_000
    feed = EvidenceFeed(capacity, _recorders(order != "any", order == "arrival"))
    prefixes = [*sorted(min(c, len(trades)) for c in cuts), len(trades)]
    first: Optional[StageEvidence] = None
    for end in prefixes:
        prefix = trades[:end]
        ev = feed.evidence(prefix, since, (1, since))
        metrics, recent = _expected(prefix, since, capacity)
        assert ev.metrics() == metrics
        assert tuple(ev.recent()) == recent
        fed = ev.trackers["rec"].seen  # type: ignore[attr-defined]
        if order == "time":
            # Replayed in time order, each admitted trade once.
            assert tuple(fed) == _expected(prefix, since, len(prefix) + 1)[1]
        elif order == "arrival":
            # In list order, append-only: the feed never rebuilt for a late trade.
            admitted = [t for t in prefix if since is None or t.instant_us >= since]
            assert list(map(id, fed)) == list(map(id, admitted))
            first = first or ev
            assert ev is first
        else:
            assert sorted(map(id, fed)) == sorted(map(id, _expected(prefix, since, 10**6)[1]))


@settings(max_examples=100, deadline=None)
@given(
    trades=_TRADES,
    edits=st.lists(
        st.tuples(
            st.sampled_from(["grow", "drop_first", "shrink", "replace_first", "replace_last"]),
            st.integers(0, 49),
        ),
        max_size=6,
    ),
    capacity=st.integers(1, 8),
)
def test_feed_matches_the_definition_under_any_sequence_of_list_edits(
    trades: List[TradeOutcome], edits: List[Tuple[str, int]], capacity: int
) -> None:
    feed = EvidenceFeed(capacity)
    current: List[TradeOutcome] = []
    pool = list(trades)
    for kind, n in [*edits, ("grow", 50)]:
        if kind == "grow":
            current = current + pool[:n]
            pool = pool[n:]
        elif kind == "drop_first":
            current = current[1:]
        elif kind == "shrink":
            current = current[: n % (len(current) + 1)]
        elif current:
            # The feed checks the first and the last trade it has read (not the middle:
            # that would cost a scan of the whole list on every tick).
            current = list(current)
            current[0 if kind == "replace_first" else -1] = TradeOutcome(9.0, 1.0, T0 + n)
        ev = feed.evidence(current, None, EPOCH)
        assert (ev.metrics(), tuple(ev.recent())) == _expected(current, None, capacity)


@settings(max_examples=100, deadline=None)
@given(
    trades=_TRADES,
    cuts=st.lists(st.integers(0, 50), max_size=6),
    since_offset=st.none() | st.integers(0, 500),
    switch=st.builds(
        KillSwitch,
        wr_lookback=st.integers(1, 12),
        wr_threshold=st.floats(0, 1),
        ev_lookback=st.integers(1, 12),
        ev_threshold=st.floats(-0.5, 0.5),
    ),
)
def test_kill_verdict_on_incremental_evidence_equals_evaluating_the_window(
    trades: List[TradeOutcome],
    cuts: List[int],
    since_offset: Optional[int],
    switch: KillSwitch,
) -> None:
    since = None if since_offset is None else (T0 + since_offset) * 1_000_000
    feed = EvidenceFeed(switch.lookback)
    for end in [*sorted(min(c, len(trades)) for c in cuts), len(trades)]:
        prefix = trades[:end]
        ev = feed.evidence(prefix, since, (1, since))
        window = [t for t in prefix if since is None or t.instant_us >= since]
        assert switch.judge_recent(ev.recent(), ev.n) == switch.evaluate(window)
