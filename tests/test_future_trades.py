"""Trades stamped after the clock's now (issue 9): each trade counts in at most one
window of evidence, and the tick and ``status`` say when trades are ahead of the clock.

A bot whose clock runs a year ahead used to have a vetoed window re-opened, and a
cleared kill re-tripped, by the very trades that had been judged: a new window starts
at now, and a trade stamped after now fell in both.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import T0_NOON, T0_NOON_ISO
from quant_rollout import (
    Gate,
    KillSwitch,
    ManualClock,
    Rollout,
    RolloutAction,
    Stage,
    TradeOutcome,
)
from quant_rollout.engine.moves import window_start_us
from quant_rollout.trades import parse_instant

YEAR = 365 * 86_400
AHEAD = T0_NOON + YEAR  # 2027-05-01T12:00:00Z: the bot's clock runs a year ahead


def stages() -> List[Stage]:
    return [
        Stage(num=0, params={"size": 1}, name="baseline"),
        Stage(num=1, params={"size": 2}, gate=Gate(min_n=10, min_win_rate=0.6), name="canary"),
        Stage(num=2, params={"size": 5}, gate=Gate(min_n=10, min_win_rate=0.6), name="full"),
    ]


def kill() -> KillSwitch:
    return KillSwitch(wr_lookback=10, wr_threshold=0.40)


def wins(n: int, start: int = AHEAD) -> List[TradeOutcome]:
    return [TradeOutcome(2.0, 5.0, start + 60 * i) for i in range(n)]


def losses(n: int, start: int = AHEAD) -> List[TradeOutcome]:
    return [TradeOutcome(-3.0, 5.0, start + 60 * i) for i in range(n)]


def make(path: Path, clock: ManualClock, window: float = 300) -> Rollout:
    return Rollout(stages(), kill(), path, veto_window_seconds=window, clock=clock)


def test_a_veto_window_is_not_reopened_by_the_same_future_trades(tmp_path: Path) -> None:
    clock = ManualClock(T0_NOON_ISO)
    rollout = make(tmp_path / "s.json", clock)
    trades = wins(10)
    assert rollout.tick(trades).action == RolloutAction.VETO_OPEN
    rollout.veto_pending_advance(note="not now")

    clock.advance(minutes=10)
    again = rollout.tick(trades)
    assert again.action == RolloutAction.NOOP
    assert again.reason.startswith("gate not yet met: n=0 < 10")

    fresh = [*trades, *wins(10, start=AHEAD + 3_600)]  # newer trades count
    assert rollout.tick(fresh).action == RolloutAction.VETO_OPEN


def test_a_cleared_kill_is_not_retripped_by_the_same_future_trades(tmp_path: Path) -> None:
    clock = ManualClock(T0_NOON_ISO)
    rollout = make(tmp_path / "s.json", clock)
    losers = losses(15)
    assert rollout.tick(losers).action == RolloutAction.KILL_TRIPPED
    clock.advance(minutes=5)
    rollout.clear_kill_switch(note="exchange outage")

    clock.advance(minutes=1)
    after = rollout.tick(losers)
    assert after.action == RolloutAction.NOOP
    assert rollout.status().kill_switch_tripped is False

    later = [*losers, *losses(10, start=AHEAD + 3_600)]
    assert rollout.tick(later).action == RolloutAction.KILL_TRIPPED  # new losses do


@pytest.mark.parametrize("verb", ["reset", "promote"])
def test_a_verb_that_starts_a_window_does_not_count_the_old_window_again(
    tmp_path: Path, verb: str
) -> None:
    clock = ManualClock(T0_NOON_ISO)
    rollout = make(tmp_path / "s.json", clock, window=0)
    trades = wins(10)
    assert rollout.tick(trades).to_stage == 1  # stage 0's window counted them
    clock.advance(minutes=1)
    if verb == "reset":
        rollout.reset()
    else:
        rollout.promote()
    clock.advance(minutes=1)
    told = rollout.tick(trades)  # announces the move; counts nothing again
    assert told.metrics.n == 0
    assert rollout.tick(trades).metrics.n == 0


def test_an_advance_does_not_count_the_gate_s_trades_in_the_next_stage(tmp_path: Path) -> None:
    clock = ManualClock(T0_NOON_ISO)
    rollout = make(tmp_path / "s.json", clock, window=0)
    trades = wins(10)
    assert rollout.tick(trades).action == RolloutAction.ADVANCE
    clock.advance(minutes=1)
    d = rollout.tick(trades)
    # Before: stage 1's window (from now) held the same ten trades and advanced again.
    assert d.action == RolloutAction.NOOP
    assert d.metrics.n == 0


def test_the_reason_and_status_say_trades_are_ahead_of_the_clock(tmp_path: Path) -> None:
    clock = ManualClock(T0_NOON_ISO)
    rollout = make(tmp_path / "s.json", clock)
    d = rollout.tick(wins(3))
    warning = (
        "3 trades stamped after the clock's now (latest 2027-05-01T12:02:00+00:00): "
        "check the bot's timestamps or the clock"
    )
    assert d.reason.endswith(warning)
    assert rollout.status(wins(3)).trades_ahead == warning
    assert rollout.status().trades_ahead is None  # no trades given: nothing to say


def test_trades_within_the_tolerance_are_not_warned_about(tmp_path: Path) -> None:
    clock = ManualClock(T0_NOON_ISO)
    rollout = make(tmp_path / "s.json", clock)
    near = [TradeOutcome(1.0, 1.0, T0_NOON + 60)]  # a minute ahead: clocks differ a little
    assert "stamped after" not in rollout.tick(near).reason
    one = [*near, TradeOutcome(1.0, 1.0, T0_NOON + 3_600)]
    assert "1 trade stamped after the clock's now" in rollout.tick(one).reason


def test_an_old_clock_over_new_trades_still_walks_the_stages(tmp_path: Path) -> None:
    # quant-rollout 0.1's own usage: a clock in 1970 over trades of 2026.
    clock = ManualClock(1000)
    rollout = make(tmp_path / "s.json", clock)
    trades = wins(10, start=T0_NOON)
    assert rollout.tick(trades).action == RolloutAction.VETO_OPEN
    rollout.veto_pending_advance()
    assert rollout.tick(trades).action == RolloutAction.NOOP  # vetoed evidence
    more = [*trades, *wins(10, start=T0_NOON + 3_600)]
    assert rollout.tick(more).action == RolloutAction.VETO_OPEN
    clock.advance(seconds=400)
    assert rollout.tick(more).action == RolloutAction.VETO_EXPIRED
    last = [*more, *wins(10, start=T0_NOON + 7_200)]
    assert rollout.tick(last).action == RolloutAction.VETO_OPEN  # stage 1's own trades


# ----------------------------------------------------------------------------- the property

# Each step: ("tick", minutes the clock moves, opening offsets of the new trades from
# the clock in minutes: negative behind it, positive ahead, up to a year, and whether
# each wins) or ("clear",) to clear a tripped kill.
_offsets = st.one_of(st.integers(-600, -1), st.integers(0, 10), st.integers(60, 60 * 24 * 365))
_tick = st.tuples(
    st.just("tick"),
    st.integers(0, 30),
    st.lists(st.tuples(_offsets, st.booleans()), max_size=6),
)
_steps = st.lists(st.one_of(_tick, st.just(("clear",))), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None)
@given(steps=_steps)
def test_no_trade_counts_in_two_windows(tmp_path_factory: pytest.TempPathFactory, steps) -> None:  # type: ignore[no-untyped-def]
    """Every trade a judging tick counted belongs to one window of evidence only: the
    windows advances, kills and cleared kills start never count a trade again."""
    path = tmp_path_factory.mktemp("prop") / "s.json"
    clock = ManualClock(T0_NOON_ISO)
    stages_ = [
        Stage(num=0, params={"size": 1}),
        Stage(num=1, params={"size": 2}, gate=Gate(min_n=3, min_win_rate=0.6)),
        Stage(num=2, params={"size": 5}, gate=Gate(min_n=3, min_win_rate=0.6)),
    ]
    rollout = Rollout(stages_, KillSwitch(wr_lookback=3, wr_threshold=0.34), path, clock=clock)
    trades: List[TradeOutcome] = []
    windows: dict = {}  # window -> indices of the trades it counted
    for step in steps:
        if step[0] == "clear":
            rollout.clear_kill_switch()
            continue
        _, minutes, new = step
        clock.advance(minutes=minutes)
        base = rollout.status().now
        for offset, won in new:
            # Ticks fall on whole minutes and trades between them: a trade opened at
            # the very microsecond a window starts is the new window's (moves.py).
            at = parse_instant(base) // 1_000_000 + 60 * offset + 1 + len(trades) % 59
            trades.append(TradeOutcome(1.0 if won else -1.0, 1.0, at))
        before = rollout.status().state
        if not before.kill_switch_tripped:  # a latched window judges nothing
            start = window_start_us(before)
            key = (before.current_stage, before.evidence_since, before.evidence_after)
            counted = {i for i, t in enumerate(trades) if start is None or t.instant_us >= start}
            windows.setdefault(key, set()).update(counted)
        rollout.tick(trades)
    seen: dict = {}
    for key, counted in windows.items():
        for i in counted:
            assert i not in seen, f"trade {i} counted in {seen.get(i)} and {key}"
            seen[i] = key
