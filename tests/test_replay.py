"""Tests of quant_rollout.tools.replay: replay equals live, deadlines, summaries, real data."""

from __future__ import annotations

import builtins
import csv
import dataclasses
import io
import json
import math
import os
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import trade
from quant_rollout import (
    ConfigError,
    Gate,
    InvalidTradeError,
    KillSwitch,
    ManualClock,
    Rollout,
    RolloutAction,
    Stage,
    TradeOutcome,
)
from quant_rollout.engine import Phase, RolloutConfig
from quant_rollout.storage.history import HistoryRecord
from quant_rollout.storage.store import MemoryStore
from quant_rollout.tools.replay import (
    ReplayResult,
    format_summary,
    format_timeline,
    replay,
)

REPO = Path(__file__).resolve().parents[1]
POLYMARKET_PATHS = (
    REPO / "examples" / "data" / "polymarket_crashes_v1.csv",
    REPO.parent / "shared" / "data" / "cross-signal-data" / "crashes_v1.csv",
)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MINUTE = 60_000_000


def us(text: str) -> int:
    """Microseconds since the epoch of ISO text, computed apart from the library."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - EPOCH) // timedelta(microseconds=1)


def iso(instant_us: int) -> str:
    dt = EPOCH + timedelta(microseconds=instant_us)
    return dt.isoformat(timespec="microseconds" if dt.microsecond else "seconds")


def lenient_kill() -> KillSwitch:
    return KillSwitch(wr_lookback=1000, wr_threshold=0.0, ev_lookback=1000, ev_threshold=-1e9)


def events(result: ReplayResult) -> List[Tuple[str, str, int, int]]:
    return [(r.event, r.at, r.from_stage, r.to_stage) for r in result.history]


# ----------------------------------------------------------------------------- live reference


def close_us(t: TradeOutcome) -> int:
    return us(t.metadata["close_time"] if "close_time" in t.metadata else t.metadata["exit_time"])


def tick_by_hand(
    trades: Sequence[TradeOutcome],
    config: RolloutConfig,
    tick_every: float,
    until_us: int,
    visible_at: str = "open",
) -> Tuple[List[HistoryRecord], List[Tuple[Any, ...]], int]:
    """Tick a Rollout at EVERY cadence point from the first trade's minute to ``until_us``,
    as a live bot would, each time with every trade visible by then (no skipping)."""
    if not trades:
        return [], [], 0
    tick_us = round(tick_every * 1e6)
    seen_at = (lambda t: t.instant_us) if visible_at == "open" else close_us
    ordered = sorted(trades, key=seen_at)  # stable, like the bot's own list
    store = MemoryStore()
    clock = ManualClock(0)
    rollout = Rollout(
        config.stages,
        config.kill_switch,
        veto_window_seconds=config.veto_window_seconds,
        store=store,
        clock=clock,
    )
    now = seen_at(ordered[0]) // tick_us * tick_us
    timeline = []
    ticks = visible = 0
    while now <= until_us:
        clock.set(EPOCH + timedelta(microseconds=now))
        while visible < len(ordered) and seen_at(ordered[visible]) <= now:
            visible += 1
        # A fresh list every tick, and what is still open, as a live bot says it.
        still_open = [t for t in ordered[visible:] if t.instant_us <= now]
        decision = rollout.tick(ordered[:visible], open_trades=still_open)
        ticks += 1
        if decision.changed:
            timeline.append(
                (
                    iso(now),
                    decision.action,
                    decision.from_stage,
                    decision.to_stage,
                    decision.reason,
                    decision.metrics,
                )
            )
        now += tick_us
    assert store.verify().ok
    return store.history(), timeline, ticks


def assert_replay_equals_live(
    trades: Sequence[TradeOutcome],
    config: RolloutConfig,
    tick_every: float = 60.0,
    visible_at: str = "open",
    after_last_trade: Optional[float] = None,
) -> ReplayResult:
    """Replay, then tick by hand at every cadence point until ``after_last_trade``
    seconds after the last trade (default: long enough for every stage to wait out its
    days and its veto window); both must agree."""
    result = replay(trades, config, tick_every=tick_every, visible_at=visible_at)
    days = max((s.gate.min_days_after_prev for s in config.stages if s.gate), default=0.0)
    wait = config.veto_window_seconds + days * 86_400 + 3 * tick_every
    last = max(t.instant_us if visible_at == "open" else close_us(t) for t in trades)
    if after_last_trade is None:
        after_last_trade = len(config.stages) * wait
    until = last + round(after_last_trade * 1e6)
    history, timeline, ticks = tick_by_hand(trades, config, tick_every, until, visible_at)

    assert list(result.history) == history  # the same lines: events, times, stages, states
    assert [
        (e.at, e.action, e.from_stage, e.to_stage, e.reason, e.metrics) for e in result.timeline
    ] == timeline
    assert result.ticks <= ticks
    assert result.final_stage == history[-1].state["current_stage"]
    return result


BASE_US = us("2026-03-28T08:36:08.250000+00:00")

a_gate = st.builds(
    Gate,
    min_n=st.integers(0, 6),
    min_win_rate=st.sampled_from([0.0, 0.5, 0.7]),
    min_ev_per_dollar=st.sampled_from([None, 0.0, 0.1]),
    min_total_pnl=st.sampled_from([None, None, 1.0]),
    min_days_after_prev=st.sampled_from([0.0, 0.0, 0.004, 0.01, 0.05, 0.125]),
)


@st.composite
def scenarios(draw: Any) -> Tuple[List[TradeOutcome], RolloutConfig, float]:
    tick_every = draw(st.sampled_from([60.0, 60.0, 300.0, 900.0, 45.5]))
    offset = st.one_of(
        st.integers(0, 8 * 3600 * 1_000_000),
        st.sampled_from([0, 1, 59_750_000, 60_000_000, 3_600_000_000]),  # ties, edges
    )
    # Two regimes (e.g. a change that works, then stops working) so that histories
    # advance and then trip the kill switch.
    good, mixed, bad = (
        (1.0, 1.5, 0.25, 0.5),
        (-2.0, -0.5, 0.0, 0.25, 1.0, 1.5),
        (-2.0, -1.0, 0.0, 0.5),
    )
    early = draw(st.sampled_from([good, good, mixed]))
    late = draw(st.sampled_from([good, mixed, bad, bad]))
    split = draw(st.integers(0, 8 * 3600 * 1_000_000))
    trades = []
    count = draw(st.integers(1, 60))
    for off in draw(st.lists(offset, min_size=count, max_size=count)):
        pnl = draw(st.sampled_from(early if off < split else late))
        size = draw(st.sampled_from([0.0, 1.0, 2.0, 5.0]))
        trades.append(TradeOutcome(pnl, size, iso(BASE_US + off)))
    numbers = draw(st.sampled_from([(1,), (1, 2), (1, 2, 3), (2, 5), (3, 4, 9)]))
    stages = [Stage(0, {"stage": 0}, name="baseline")] + [
        # mostly gated; sometimes a stage reached only by hand
        Stage(n, {"stage": n}, draw(a_gate) if draw(st.integers(0, 4)) < 4 else None)
        for n in numbers
    ]
    kill = KillSwitch(
        wr_lookback=draw(st.integers(2, 10)),
        wr_threshold=draw(st.sampled_from([0.0, 0.3, 0.5, 0.6])),
        ev_lookback=draw(st.integers(2, 15)),
        ev_threshold=draw(st.sampled_from([-10.0, -10.0, -1.0, -0.3, 0.0])),
    )
    veto = draw(st.sampled_from([0.0, 0.0, 59.0, 60.0, 600.0, 1800.0, 3599.5]))
    return trades, RolloutConfig(tuple(stages), kill, veto), tick_every


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_replay_equals_ticking_by_hand_at_every_cadence_point(
    scenario: Tuple[List[TradeOutcome], RolloutConfig, float],
) -> None:
    trades, config, tick_every = scenario
    result = assert_replay_equals_live(trades, config, tick_every)
    assert sum(s.n for s in result.stages) == len(trades)
    for e in result.timeline:
        event(f"timeline has {e.event}")
    if len({e.to_stage for e in result.timeline if e.event in ("advance", "veto_expired")}) > 1:
        event("advanced more than one stage")
    if any(e.event == "kill" and e.from_stage > 0 for e in result.timeline):
        event("killed after advancing")


def test_the_list_given_to_tick_only_grows_at_its_end() -> None:
    seen: List[List[TradeOutcome]] = []
    original = Rollout.tick

    def spy(self: Rollout, trades: Any) -> Any:
        seen.append(list(trades))
        return original(self, trades)

    trades = [trade(f"2026-05-01T10:{m:02d}:30Z", 1.0) for m in (7, 0, 3, 3, 9)]
    config = RolloutConfig((Stage(0, {}), Stage(1, {}, Gate(min_n=10))), lenient_kill(), 0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Rollout, "tick", spy)
        replay(trades, config)
    for before, after in zip(seen, seen[1:]):
        assert after[: len(before)] == before
    assert [t.timestamp for t in seen[-1]] == sorted(t.timestamp for t in trades)


# Two wins open the window; two losses before it closes drop the advance.
DROPPED = (
    [
        trade("2026-05-01T10:00:10Z", 1.0),
        trade("2026-05-01T10:00:20Z", 1.0),
        trade("2026-05-01T10:05:00Z", -1.0),
        trade("2026-05-01T10:06:00Z", -1.0),
    ],
    RolloutConfig(
        (
            Stage(0, {}),
            Stage(1, {}, Gate(min_n=2, min_win_rate=0.6), "a stage with a very long name indeed"),
        ),
        lenient_kill(),
        veto_window_seconds=1800,
    ),
)


@pytest.mark.parametrize("tick_every", [30.0, 60.0, 120.0])
def test_replay_equals_live_when_an_advance_is_dropped(tick_every: float) -> None:
    result = assert_replay_equals_live(*DROPPED, tick_every=tick_every)
    assert [e.event for e in result.timeline] == ["veto_open", "advance_dropped"]


@pytest.mark.parametrize("visible_at", ["open", "close"])
def test_replay_equals_live_on_the_polymarket_history(visible_at: str) -> None:
    trades = polymarket_trades()
    if visible_at == "close" and not all("exit_time" in t.metadata for t in trades):
        pytest.skip("these trades carry no closing time")
    # A day on is enough: at the end the rollout is killed (open) or at its last stage.
    result = assert_replay_equals_live(
        trades, POLYMARKET_CONFIG, visible_at=visible_at, after_last_trade=86_400
    )
    assert result.final_phase is Phase.KILLED or result.final_stage == 2
    assert result.ticks < 400  # of about 46,000 cadence points


# ----------------------------------------------------------------------------- deadlines


def test_a_veto_window_that_closes_after_the_last_trade_still_lands() -> None:
    trades = [
        trade("2026-05-01T10:00:10Z", 1.0),
        trade("2026-05-01T10:05:00Z", 1.0),  # exactly on a cadence point: seen at 10:05
        trade("2026-05-01T10:20:30Z", 1.0),
    ]
    config = RolloutConfig(
        (Stage(0, {}, name="baseline"), Stage(1, {}, Gate(min_n=3), name="canary")),
        lenient_kill(),
        veto_window_seconds=1800,
    )
    result = replay(trades, config)
    assert events(result) == [
        ("start", "2026-05-01T10:00:00+00:00", 0, 0),
        ("veto_open", "2026-05-01T10:21:00+00:00", 0, 0),
        ("veto_expired", "2026-05-01T10:51:00+00:00", 0, 1),
    ]
    assert [(e.action, e.to_stage) for e in result.timeline] == [
        (RolloutAction.VETO_OPEN, 1),
        (RolloutAction.VETO_EXPIRED, 1),
    ]
    assert result.final_stage == 1
    assert result.final_phase is Phase.RUNNING
    assert result.ended_at == "2026-05-01T10:51:00+00:00"
    # 10:00 start, 10:01 10:05 10:21 trades, 10:22 after the window opened, 10:51 expiry,
    # 10:52 after the advance: 7 of the 53 cadence points.
    assert result.ticks == 7


def test_a_veto_deadline_off_the_cadence_lands_on_the_next_cadence_point() -> None:
    trades = [trade("2026-05-01T10:00:10Z", 1.0)]
    config = RolloutConfig((Stage(0, {}), Stage(1, {}, Gate(min_n=1))), lenient_kill(), 90.5)
    result = replay(trades, config)
    # opened at 10:01, deadline 10:02:30.5, so the 10:03 tick is the first one at/after it
    assert [(e.event, e.at) for e in result.timeline] == [
        ("veto_open", "2026-05-01T10:01:00+00:00"),
        ("veto_expired", "2026-05-01T10:03:00+00:00"),
    ]


def test_min_days_gate_passes_on_the_first_tick_the_days_are_met_without_new_trades() -> None:
    trades = [trade("2026-05-01T10:00:30Z", 1.0), trade("2026-05-01T18:00:00Z", 1.0)]
    config = RolloutConfig(
        (Stage(0, {}), Stage(1, {}, Gate(min_n=1, min_days_after_prev=2))), lenient_kill(), 0
    )
    result = replay(trades, config)
    # stage 0's days count from the rollout's first tick, 10:00; no trade at 2 days later
    assert [(e.action, e.at, e.reason) for e in result.timeline] == [
        (RolloutAction.ADVANCE, "2026-05-03T10:00:00+00:00", "gate passed: ok")
    ]
    assert result.ticks < 10


def test_min_days_off_the_cadence_and_counted_from_the_stage_entry() -> None:
    trades = [trade("2026-05-01T10:00:30Z", 1.0)]
    config = RolloutConfig(
        (
            Stage(0, {}),
            Stage(1, {}, Gate(min_n=1)),
            Stage(2, {}, Gate(min_n=0, min_days_after_prev=0.0101)),  # 872.64 s
        ),
        lenient_kill(),
        0,
    )
    result = replay(trades, config)
    # stage 1 entered at 10:01; 10:01 + 14m32.64s = 10:15:32.64 -> the 10:16 tick
    assert [(e.to_stage, e.at) for e in result.timeline] == [
        (1, "2026-05-01T10:01:00+00:00"),
        (2, "2026-05-01T10:16:00+00:00"),
    ]


def test_a_kill_latches_for_the_rest_of_the_replay() -> None:
    trades = [trade(f"2026-05-01T10:{m:02d}:00Z", -1.0) for m in range(10)]
    config = RolloutConfig(
        (Stage(0, {}), Stage(1, {}, Gate(min_n=1, min_ev_per_dollar=None))),
        KillSwitch(wr_lookback=3, wr_threshold=0.5, ev_lookback=100, ev_threshold=0.0),
        0,
    )
    result = replay(trades, config)
    assert [e.event for e in result.timeline] == ["advance", "kill"]
    assert result.final_phase is Phase.KILLED
    assert result.final_stage == 0
    assert result.stage(1).kills == 1


# ----------------------------------------------------------------------------- summaries

HAND_TRADES = [
    trade("2026-05-01T09:00:30Z", 1.0),
    trade("2026-05-01T09:01:30Z", 1.0),
    trade("2026-05-01T09:02:30Z", 1.0),  # the 09:03 tick sees 3 trades: advance
    trade("2026-05-01T09:03:00Z", -1.0),  # opened at the advance's instant: stage 1
    trade("2026-05-01T09:05:10Z", -1.0),  # stage 1's last 2 lose: kill at 09:06
    trade("2026-05-01T09:10:00Z", 2.0, size=4.0),
    trade("2026-05-01T09:20:00Z", 0.0),  # a zero pnl is not a win
]
HAND_CONFIG = RolloutConfig(
    (
        Stage(0, {"size": 1}, name="baseline"),
        Stage(1, {"size": 2}, Gate(min_n=3, min_win_rate=0.7), name="canary"),
        Stage(2, {"size": 5}, Gate(min_n=100), name="full"),
    ),
    KillSwitch(wr_lookback=2, wr_threshold=0.5, ev_lookback=100, ev_threshold=-10.0),
    veto_window_seconds=0,
)


def test_stage_summary_figures_worked_out_by_hand() -> None:
    shuffled = list(HAND_TRADES)
    random.Random(4).shuffle(shuffled)  # unsorted input is fine
    result = replay(shuffled, HAND_CONFIG)
    assert [(e.event, e.at) for e in result.timeline] == [
        ("advance", "2026-05-01T09:03:00+00:00"),
        ("kill", "2026-05-01T09:06:00+00:00"),
    ]
    s0, s1, s2 = result.stages
    assert (s0.n, s0.wins, s0.total_pnl, s0.total_size) == (5, 4, 5.0, 8.0)
    assert s0.win_rate == 0.8
    assert s0.ev_per_dollar == 0.625
    assert (s0.seconds, s0.times_entered, s0.kills) == (180 + 840, 2, 0)
    assert (s1.n, s1.wins, s1.total_pnl, s1.total_size) == (2, 0, -2.0, 2.0)
    assert (s1.win_rate, s1.ev_per_dollar) == (0.0, -1.0)
    assert (s1.seconds, s1.times_entered, s1.kills) == (180, 1, 1)
    assert (s2.n, s2.seconds, s2.times_entered, s2.kills) == (0, 0, 0, 0)
    assert result.started_at == "2026-05-01T09:00:00+00:00"
    assert result.ended_at == "2026-05-01T09:20:00+00:00"
    assert [
        (p.stage, p.entered_at[11:16], p.left_at and p.left_at[11:16]) for p in result.periods
    ] == [
        (0, "09:00", "09:03"),
        (1, "09:03", "09:06"),
        (0, "09:06", None),
    ]
    assert [(p.at[11:19], p.cumulative_pnl, p.stage) for p in result.equity] == [
        ("09:00:00", 0.0, 0),
        ("09:00:30", 1.0, 0),
        ("09:01:30", 2.0, 0),
        ("09:02:30", 3.0, 0),
        ("09:03:00", 2.0, 1),
        ("09:05:10", 1.0, 1),
        ("09:10:00", 3.0, 0),
        ("09:20:00", 3.0, 0),
    ]


def independent_summary(
    trades: Sequence[TradeOutcome], result: ReplayResult
) -> Dict[int, Dict[str, float]]:
    """Per-stage figures recomputed from the recorded history alone."""
    changes = [(us(r.at), r.to_stage) for r in result.history if r.from_stage != r.to_stage]
    start = us(result.history[0].at)
    end = us(result.ended_at or result.history[0].at)
    out: Dict[int, Dict[str, float]] = {
        s.stage: {"n": 0, "wins": 0, "pnl": 0.0, "size": 0.0, "seconds": 0.0, "kills": 0}
        for s in result.stages
    }
    pnls: Dict[int, List[float]] = {k: [] for k in out}
    sizes: Dict[int, List[float]] = {k: [] for k in out}
    for t in trades:
        stage = 0
        for at, to in changes:
            if at <= t.instant_us:
                stage = to
        out[stage]["n"] += 1
        out[stage]["wins"] += t.pnl > 0
        pnls[stage].append(t.pnl)
        sizes[stage].append(t.size)
    for k in out:
        out[k]["pnl"] = math.fsum(pnls[k])
        out[k]["size"] = math.fsum(sizes[k])
    stays = [(start, 0), *changes]
    ends = [at for at, _ in changes] + [end]
    for (at, stage), until in zip(stays, ends):
        out[stage]["seconds"] += (until - at) / 1e6
    for r in result.history:
        if r.event == "kill":
            out[r.from_stage]["kills"] += 1
    return out


def check_against_independent(trades: Sequence[TradeOutcome], result: ReplayResult) -> None:
    expected = independent_summary(trades, result)
    for s in result.stages:
        e = expected[s.stage]
        assert (s.n, s.wins, s.kills) == (e["n"], e["wins"], e["kills"])
        assert s.total_pnl == e["pnl"]
        assert s.total_size == e["size"]
        assert s.seconds == pytest.approx(e["seconds"], abs=1e-6)
        assert s.win_rate == (e["wins"] / e["n"] if e["n"] else 0.0)
        assert s.ev_per_dollar == (e["pnl"] / e["size"] if e["size"] > 0 else 0.0)


def test_stage_summary_matches_an_independent_computation() -> None:
    check_against_independent(HAND_TRADES, replay(HAND_TRADES, HAND_CONFIG))


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_stage_summary_matches_an_independent_computation_on_generated_histories(
    scenario: Tuple[List[TradeOutcome], RolloutConfig, float],
) -> None:
    trades, config, tick_every = scenario
    result = replay(trades, config, tick_every=tick_every)
    check_against_independent(trades, result)
    assert result.equity[-1].cumulative_pnl == math.fsum(t.pnl for t in trades)


# ----------------------------------------------------------------------------- the real history


def polymarket_trades() -> List[TradeOutcome]:
    path = next((p for p in POLYMARKET_PATHS if p.exists()), None)
    if path is None:
        pytest.skip("the Polymarket history is not available")
    try:
        from quant_rollout.tools.importers import read_trades
    except ImportError:  # the importers are optional here: read the CSV ourselves
        with open(path, newline="", encoding="utf-8") as f:
            return [
                TradeOutcome(
                    float(row["pnl_usd"]),
                    float(row["size_usd"]),
                    row["entry_time"],
                    {"exit_time": row["exit_time"]},
                )
                for row in csv.DictReader(f)
            ]
    return list(read_trades(path).trades)


POLYMARKET_CONFIG = RolloutConfig(
    (
        Stage(0, {"size_usd": 1}, name="baseline"),
        Stage(
            1, {"size_usd": 2}, Gate(min_n=30, min_win_rate=0.7, min_ev_per_dollar=0.02), "canary"
        ),
        Stage(
            2,
            {"size_usd": 5},
            Gate(min_n=50, min_win_rate=0.75, min_ev_per_dollar=0.05, min_days_after_prev=3),
            "full",
        ),
    ),
    KillSwitch(wr_lookback=20, wr_threshold=0.6, ev_lookback=50, ev_threshold=0.0),
    veto_window_seconds=1800,
)


def test_polymarket_history_gives_a_known_deterministic_timeline() -> None:
    trades = polymarket_trades()
    assert len(trades) == 308
    result = replay(trades, POLYMARKET_CONFIG)
    # Worked out from the CSV by hand (sorted by entry_time):
    # - the 30th trade opened 2026-03-31 05:01:32 (90% won): window opens at 05:02;
    # - 30 minutes later the advance lands; stage 1's evidence starts at 05:32;
    # - its 50th and 51st trades both opened 2026-04-05 11:13:54 (3 days long met),
    #   so stage 2's window opens at 11:14 with n=51;
    # - stage 2's 56th trade (2026-04-11 04:24:44) leaves 11 wins in its last 20.
    assert [(e.event, e.at, e.from_stage, e.to_stage, e.metrics.n) for e in result.timeline] == [
        ("veto_open", "2026-03-31T05:02:00+00:00", 0, 1, 30),
        ("veto_expired", "2026-03-31T05:32:00+00:00", 0, 1, 30),
        ("veto_open", "2026-04-05T11:14:00+00:00", 1, 2, 51),
        ("veto_expired", "2026-04-05T11:44:00+00:00", 1, 2, 51),
        ("kill", "2026-04-11T04:25:00+00:00", 2, 0, 56),
    ]
    assert result.timeline[-1].reason == "win_rate(20)=0.550 < 0.600"
    assert result.final_phase is Phase.KILLED
    assert result.final_stage == 0
    assert [(s.n, s.times_entered, s.kills) for s in result.stages] == [
        (201, 2, 0),
        (51, 1, 0),
        (56, 1, 1),
    ]
    assert round(math.fsum(s.total_pnl for s in result.stages), 2) == 231.12
    assert result.started_at == "2026-03-28T08:36:00+00:00"
    check_against_independent(trades, result)
    # Deterministic: the same result again, and from the trades in another order.
    shuffled = list(trades)
    random.Random(7).shuffle(shuffled)
    again = replay(trades, POLYMARKET_CONFIG)
    assert again == result
    assert [(r.event, r.at) for r in replay(shuffled, POLYMARKET_CONFIG).history] == [
        (r.event, r.at) for r in result.history
    ]


def test_polymarket_history_seen_at_close_is_later_than_at_open() -> None:
    trades = polymarket_trades()
    if not all("exit_time" in t.metadata for t in trades):
        pytest.skip("these trades carry no closing time")
    at_open = replay(trades, POLYMARKET_CONFIG)
    at_close = replay(trades, POLYMARKET_CONFIG, visible_at="close")
    assert at_close.visible_at == "close"
    assert at_close.timeline[0].at > at_open.timeline[0].at
    assert sum(s.n for s in at_close.stages) == 308


def test_replay_never_touches_the_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trades = polymarket_trades()
    monkeypatch.chdir(tmp_path)

    def no_disk(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"replay opened a file: {args!r}")

    for module, name in ((builtins, "open"), (io, "open"), (os, "open")):
        monkeypatch.setattr(module, name, no_disk)
    result = replay(trades, POLYMARKET_CONFIG)
    format_timeline(result)
    format_summary(result)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []
    assert result.ticks > 0


# ----------------------------------------------------------------------------- visibility


def test_visible_at_close_ticks_when_the_trade_closed() -> None:
    trades = [
        trade("2026-05-01T10:00:10Z", 1.0, close_time="2026-05-01T12:30:05"),  # naive = UTC
        trade("2026-05-01T10:10:00Z", 1.0, exit_time="2026-05-01T11:00:00+00:00"),
    ]
    config = RolloutConfig((Stage(0, {}), Stage(1, {}, Gate(min_n=2))), lenient_kill(), 0)
    at_open = replay(trades, config)
    at_close = replay(trades, config, visible_at="close")
    assert at_open.timeline[0].at == "2026-05-01T10:10:00+00:00"
    assert at_close.started_at == "2026-05-01T11:00:00+00:00"
    assert at_close.timeline[0].at == "2026-05-01T12:31:00+00:00"
    # pnl shows up when it is realized; the trades were opened in stage 0
    assert [p.at for p in at_close.equity[1:]] == [
        "2026-05-01T11:00:00+00:00",
        "2026-05-01T12:30:05+00:00",
    ]
    assert at_close.stage(0).n == 2


def test_visible_at_close_needs_a_readable_closing_time() -> None:
    config = RolloutConfig((Stage(0, {}),), lenient_kill(), 0)
    with pytest.raises(InvalidTradeError, match=r"trades\[1\] has no closing time"):
        replay(
            [
                trade("2026-05-01T10:00:00Z", 1.0, close_time="2026-05-01T11:00"),
                trade("2026-05-01T10:00:00Z", 1.0),
            ],
            config,
            visible_at="close",
        )
    with pytest.raises(InvalidTradeError, match=r"trades\[0\]: metadata\['exit_time'\]"):
        replay([trade("2026-05-01T10:00:00Z", 1.0, exit_time="soon")], config, visible_at="close")
    with pytest.raises(InvalidTradeError, match="before it was opened"):
        replay(
            [trade("2026-05-01T10:00:00Z", 1.0, close_date="2026-05-01T09:00:00Z")],
            config,
            visible_at="close",
        )


# ----------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("tick_every", [0, -60, float("nan"), float("inf"), 1e-9, "60"])
def test_a_bad_cadence_is_refused(tick_every: Any) -> None:
    with pytest.raises(ConfigError, match="tick_every"):
        replay([], HAND_CONFIG, tick_every=tick_every)


def test_bad_visible_at_config_and_trades_are_refused() -> None:
    with pytest.raises(ConfigError, match="visible_at"):
        replay([], HAND_CONFIG, visible_at="exit")
    with pytest.raises(ConfigError, match="has no 'kill_switch'"):
        replay([], SimpleNamespace(stages=HAND_CONFIG.stages, veto_window_seconds=0))
    with pytest.raises(ConfigError, match="stage 0"):
        replay(
            [],
            SimpleNamespace(stages=[Stage(1, {})], kill_switch=KillSwitch(), veto_window_seconds=0),
        )
    with pytest.raises(InvalidTradeError, match=r"trades\[1\]"):
        replay([HAND_TRADES[0], {"pnl": 1.0, "size": -1.0, "timestamp": 0}], HAND_CONFIG)


def test_any_object_with_stages_kill_switch_and_veto_window_is_a_config(tmp_path: Path) -> None:
    loaded = SimpleNamespace(
        stages=list(HAND_CONFIG.stages),
        kill_switch=HAND_CONFIG.kill_switch,
        veto_window_seconds=0,
        state_path="ignored.json",
    )
    live = Rollout(
        HAND_CONFIG.stages, HAND_CONFIG.kill_switch, tmp_path / "live.json", veto_window_seconds=0
    )
    expected = replay(HAND_TRADES, HAND_CONFIG)
    assert replay(HAND_TRADES, loaded) == expected
    assert replay(HAND_TRADES, live) == expected
    assert os.listdir(tmp_path) == []  # the live rollout's state file was never touched


def test_trades_may_be_mappings_and_any_iterable() -> None:
    as_dicts = ({"pnl": t.pnl, "size": t.size, "timestamp": t.timestamp} for t in HAND_TRADES)
    assert replay(as_dicts, HAND_CONFIG).history == replay(HAND_TRADES, HAND_CONFIG).history


def test_no_trades_replays_to_nothing() -> None:
    result = replay([], HAND_CONFIG)
    assert (result.ticks, result.trades, result.timeline, result.history) == (0, 0, (), ())
    assert (result.started_at, result.ended_at, result.equity, result.periods) == (
        None,
        None,
        (),
        (),
    )
    assert [s.n for s in result.stages] == [0, 0, 0]
    assert result.final_stage == 0
    assert result.final_phase is Phase.RUNNING
    assert "no transitions" in format_timeline(result)
    assert "final: stage 0 (baseline), running" in format_summary(result)


def test_progress_reports_trades_fed_first_to_last() -> None:
    calls: List[Tuple[int, int]] = []
    trades = [trade(iso(BASE_US + i * 7 * MINUTE), 1.0) for i in range(1000)]
    replay(trades, HAND_CONFIG, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 1000)
    assert calls[-1] == (1000, 1000)
    assert all(total == 1000 for _, total in calls)
    assert [d for d, _ in calls] == sorted({d for d, _ in calls})
    assert len(calls) <= 202


def test_the_result_is_frozen_and_serializes_to_json() -> None:
    result = replay(HAND_TRADES, HAND_CONFIG)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ticks = 0  # type: ignore[misc]
    data = json.loads(json.dumps(result.to_dict()))
    assert data["final_phase"] == "killed"
    assert [e["action"] for e in data["timeline"]] == ["advance", "kill"]
    assert data["stages"][1]["kills"] == 1
    assert data["history"][0]["event"] == "start"


# ----------------------------------------------------------------------------- text


def test_format_timeline_and_summary_worked_example() -> None:
    result = replay(HAND_TRADES, HAND_CONFIG)
    assert format_timeline(result) == "\n".join(
        [
            "time (UTC)        event            stage       n   win%     EV/$  reason",
            "-" * 100,
            "2026-05-01 09:03  advance          0->1        4   75.0   0.5000  gate passed: ok",
            "2026-05-01 09:06  kill             1->0        2    0.0  -1.0000  "
            "win_rate(2)=0.000 < 0.500",
        ]
    )
    assert format_summary(result) == "\n".join(
        [
            "stage         trades   win%     EV/$           pnl  time spent  visits  kills",
            "-" * 77,
            "0 (baseline)       5   80.0   0.6250         +5.00      17m00s       2      0",
            "1 (canary)         2    0.0  -1.0000         -2.00       3m00s       1      1",
            "2 (full)           0    0.0   0.0000         +0.00          0s       0      0",
            "-" * 77,
            "total              7   57.1   0.3000         +3.00      20m00s              1",
            "replayed 2026-05-01 09:00 to 2026-05-01 09:20 UTC, 7 trades seen at their open time",
            "9 ticks on a 60s cadence (idle cadence points skipped: they could change nothing)",
            "final: stage 0 (baseline), killed",
        ]
    )


def test_text_tables_fit_in_100_columns_even_with_long_reasons() -> None:
    trades, config = DROPPED
    result = replay(trades, config, tick_every=30)
    assert [e.event for e in result.timeline] == ["veto_open", "advance_dropped"]
    timeline, summary = format_timeline(result), format_summary(result)
    assert "advance to stage 1 dropped" in " ".join(timeline.split())
    for line in (timeline + "\n" + summary).splitlines():
        assert len(line) <= 100, line
    assert "10:00:30" in timeline  # a 30 s cadence shows seconds


# ----------------------------------------------------------------------------- time changes


def test_the_engine_says_when_time_alone_changes_a_decision() -> None:
    """What replay skips ahead to comes from the engine, not from a copy of decide()."""
    from quant_rollout.engine import next_time_change
    from quant_rollout.engine.state import RolloutState

    config = RolloutConfig(
        (
            Stage(0, {}),
            Stage(
                1,
                {},
                Gate(min_n=0, min_win_rate=0.0, min_ev_per_dollar=None, min_days_after_prev=1.5),
            ),
        ),
        lenient_kill(),
        veto_window_seconds=600,
    )
    start = "2026-05-01T00:00:00.000001Z"
    state = RolloutState(started_at=start)
    now = us(start)
    at = next_time_change(config, state, now)
    assert at is not None
    # The least microsecond at which the gate's days are met, by the gate's own rule.
    assert at == us(start) + int(1.5 * 86_400 * 1_000_000)
    assert (at - us(start)) / 86_400e6 >= 1.5 > (at - 1 - us(start)) / 86_400e6
    assert next_time_change(config, state, at) is None  # met: nothing left for time to do
    pending = dataclasses.replace(
        state,
        advance_pending_to=1,
        advance_pending_since=start,
        advance_veto_deadline_unix=now / 1e6 + 600.0000004,
    )
    assert next_time_change(config, pending, now) == round((now / 1e6 + 600.0000004) * 1e6)
    assert next_time_change(config, dataclasses.replace(state, paused=True), now) is None


def test_trades_on_the_last_day_of_the_calendar_replay_to_its_end() -> None:
    # A veto window opened at 9999-12-31 23:58 closes after the calendar ends: the
    # replay stops at its last instant instead of crashing (issue 9).
    config = RolloutConfig(
        (Stage(0, {}), Stage(1, {}, Gate(min_n=1))), lenient_kill(), veto_window_seconds=1800
    )
    result = replay(
        [trade("9999-12-31T23:58:00Z", 1.0), trade("9999-12-31T23:59:59Z", -1.0)], config
    )
    assert [e.event for e in result.timeline] == ["veto_open"]
    assert result.state.advance_pending_to == 1
    assert "final: stage 0" in format_summary(result)
