"""Replays honour windows, blackouts and operator hours with the replay's clock, and
skipping idle cadence points still gives exactly what ticking at every one gives."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, List, Sequence, Tuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_rollout import Gate, KillSwitch, ManualClock, Rollout, Stage, TradeOutcome
from quant_rollout.calendar import Schedule
from quant_rollout.engine import RolloutConfig
from quant_rollout.storage.store import MemoryStore
from quant_rollout.tools.config import load_config
from quant_rollout.tools.importers import read_trades
from quant_rollout.tools.replay import replay
from quant_rollout.trades import format_instant, parse_instant

ROOT = Path(__file__).resolve().parents[1]
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
FRIDAY = parse_instant("2026-12-04T12:00:00Z")


def tick_every_cadence_point(
    trades: Sequence[TradeOutcome], config: RolloutConfig, tick_every: float, until_us: int
) -> Tuple[List[Any], List[Tuple[Any, ...]]]:
    """A bot that ticks at EVERY cadence point, seeing each trade from its open time."""
    tick_us = round(tick_every * 1e6)
    ordered = sorted(trades, key=lambda t: t.instant_us)
    store = MemoryStore()
    clock = ManualClock(0)
    rollout = Rollout(
        config.stages,
        config.kill_switch,
        veto_window_seconds=config.veto_window_seconds,
        store=store,
        clock=clock,
        blackouts=config.blackouts,
        operator_hours=config.operator_hours,
        operator_zone=config.operator_zone,
    )
    now = ordered[0].instant_us // tick_us * tick_us
    visible = 0
    timeline = []
    while now <= until_us:
        clock.set(EPOCH + timedelta(microseconds=now))
        while visible < len(ordered) and ordered[visible].instant_us <= now:
            visible += 1
        decision = rollout.tick(ordered[:visible])
        if decision.changed:
            timeline.append(
                (format_instant(now), decision.action, decision.to_stage, decision.reason)
            )
        now += tick_us
    return store.history(), timeline


WINDOWS = [
    [],
    ["mon-fri 09:00-17:00 America/New_York"],
    ["mon-fri 13:00-14:00 Europe/London", "sat 22:00-02:00 UTC"],
]
BLACKOUTS = [
    [],
    ["2026-12-07 America/New_York"],
    ["cron 0 */3 * * * for 90m UTC"],
    ["2026-12-05T00:00Z..2026-12-05T06:00Z", "fri 16:00-16:30 America/New_York"],
]
HOURS = [[], [], ["mon-fri 09:00-17:00 America/New_York"], ["daily 08:00-09:00 UTC"]]


@st.composite
def scenarios(draw: Any) -> Tuple[List[TradeOutcome], RolloutConfig, float]:
    tick_every = draw(st.sampled_from([600.0, 900.0, 1800.0]))
    count = draw(st.integers(1, 25))
    offsets = draw(st.lists(st.integers(0, 3 * 86_400), min_size=count, max_size=count))
    pnls = draw(st.lists(st.sampled_from([1.0, 1.0, 0.5, -1.0]), min_size=count, max_size=count))
    trades = [
        TradeOutcome(p, 1.0, format_instant(FRIDAY + o * 1_000_000)) for o, p in zip(offsets, pnls)
    ]
    gate = Gate(
        min_n=draw(st.integers(0, 5)),
        min_win_rate=draw(st.sampled_from([0.0, 0.6])),
        windows=draw(st.sampled_from(WINDOWS)),
        blackouts=draw(st.sampled_from(BLACKOUTS[:2])),
    )
    stages = (Stage(0, {}), Stage(1, {}, gate), Stage(2, {}, Gate(min_n=draw(st.integers(0, 8)))))
    kill = KillSwitch(
        wr_lookback=4, wr_threshold=draw(st.sampled_from([0.0, 0.26])), ev_threshold=None
    )
    config = RolloutConfig(
        stages,
        kill,
        draw(st.sampled_from([0.0, 1800.0, 7200.0])),
        blackouts=tuple(draw(st.sampled_from(BLACKOUTS))),
        operator_hours=tuple(draw(st.sampled_from(HOURS))),
    )
    return trades, config, tick_every


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_replay_with_a_calendar_equals_ticking_at_every_cadence_point(
    scenario: Tuple[List[TradeOutcome], RolloutConfig, float],
) -> None:
    trades, config, tick_every = scenario
    result = replay(trades, config, tick_every=tick_every)
    # Tick by hand well past the last trade and the replay's last event (a veto
    # window of operator hours can take days to run out).
    last = max(t.instant_us for t in trades)
    if result.history:
        last = max(last, parse_instant(result.history[-1].at))
    history, timeline = tick_every_cadence_point(
        trades, config, tick_every, last + 5 * 86_400_000_000
    )
    assert list(result.history) == history
    assert [(e.at, e.action, e.to_stage, e.reason) for e in result.timeline] == timeline


def test_the_business_hours_example_advances_only_inside_its_window_and_kills_at_night() -> None:
    config = load_config(ROOT / "examples" / "business_hours.toml")
    trades = read_trades(ROOT / "examples" / "data" / "polymarket_crashes_v1.csv").trades
    result = replay(trades, config)
    landed = [e for e in result.timeline if e.event in ("veto_open", "veto_expired", "advance")]
    assert landed
    gate_window = Schedule(config.stages[1].gate.windows if config.stages[1].gate else ())
    operator = Schedule(config.operator_hours, config.blackouts)
    for e in landed:
        assert gate_window.is_open(parse_instant(e.at)), e
        assert operator.is_open(parse_instant(e.at)), e
    kills = [e for e in result.timeline if e.event == "kill"]
    assert [k.at for k in kills] == ["2026-04-04T03:13:00+00:00"]  # 23:13 on Good Friday, NY
    assert not gate_window.is_open(parse_instant(kills[0].at))
    assert not operator.is_open(parse_instant(kills[0].at))  # in the blackout, at night
