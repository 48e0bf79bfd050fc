"""Code written against quant-rollout 0.1 keeps working, and each deliberate difference.

The first half replays the scenarios of 0.1's own test-suite (in our words) through the
0.1 constructor: ``Rollout(stages=..., kill_switch=..., state_path=...,
veto_window_seconds=..., clock_now_unix=..., clock_now_iso=...)`` and
``quant_rollout.core.RolloutState``. The second half has one test per behaviour that
changed on purpose, each named for it.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import List, Optional

import pytest

from quant_rollout import (
    CorruptStateError,
    Gate,
    KillSwitch,
    ManualClock,
    Rollout,
    RolloutAction,
    Stage,
    TradeOutcome,
)
from quant_rollout.core import RolloutState

# 0.1's own tests passed both clocks; the warning that causes is asserted once, below.
pytestmark = pytest.mark.filterwarnings(
    "ignore:quant-rollout now reads time from one clock:DeprecationWarning"
)

ISO_CLOCK = "2026-05-01T12:00:00+00:00"


def stages_01() -> List[Stage]:
    return [
        Stage(num=0, params={"max_entry": 0.30}, name="baseline"),
        Stage(
            num=1,
            params={"max_entry": 0.50},
            gate=Gate(min_n=10, min_win_rate=0.60, min_ev_per_dollar=0.04),
            name="stage_1",
        ),
        Stage(
            num=2,
            params={"max_entry": 0.70, "position_size": 10.0},
            gate=Gate(min_n=20, min_win_rate=0.70, min_ev_per_dollar=0.05),
            name="stage_2",
        ),
    ]


def kill_01() -> KillSwitch:
    return KillSwitch(wr_lookback=10, wr_threshold=0.40, ev_lookback=20, ev_threshold=-0.05)


def build_01(
    path: Path, *, veto_window_seconds: float = 0, clock: Optional[List[float]] = None
) -> Rollout:
    """A rollout built exactly the way 0.1's tests built theirs."""
    value = [1000.0] if clock is None else clock
    return Rollout(
        stages=stages_01(),
        kill_switch=kill_01(),
        state_path=path,
        veto_window_seconds=veto_window_seconds,
        clock_now_unix=lambda: value[0],
        clock_now_iso=lambda: ISO_CLOCK,
    )


def win(i: int, day: str = "2026-05-01") -> TradeOutcome:
    return TradeOutcome(pnl=2.0, size=5.0, timestamp=f"{day}T00:{i // 60:02d}:{i % 60:02d}+00:00")


def loss(i: int, day: str = "2026-05-01") -> TradeOutcome:
    return TradeOutcome(pnl=-3.0, size=5.0, timestamp=f"{day}T00:{i // 60:02d}:{i % 60:02d}+00:00")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "rollout_state.json"


# ----------------------------------------------------------------------------- 0.1 scenarios


def test_a_fresh_rollout_ticks_noop_at_stage_0(path: Path) -> None:
    d = build_01(path).tick([])
    assert d.action == RolloutAction.NOOP
    assert (d.from_stage, d.to_stage) == (0, 0)


def test_a_met_gate_advances_at_once_without_a_veto_window(path: Path) -> None:
    d = build_01(path).tick([win(i) for i in range(10)])  # WR 100%, EV 0.4 a dollar
    assert d.action == RolloutAction.ADVANCE
    assert (d.from_stage, d.to_stage) == (0, 1)


def test_an_unmet_gate_says_how_far_off_it_is(path: Path) -> None:
    d = build_01(path).tick([win(i) for i in range(5)])
    assert d.action == RolloutAction.NOOP
    assert "n=5" in d.reason


def test_a_veto_window_opens_stays_open_and_expires(path: Path) -> None:
    clock = [1000.0]
    rollout = build_01(path, veto_window_seconds=300, clock=clock)
    trades = [win(i) for i in range(10)]

    opened = rollout.tick(trades)
    assert opened.action == RolloutAction.VETO_OPEN
    assert opened.veto_deadline_unix == 1300.0
    assert RolloutState.load(path).advance_pending_to == 1

    clock[0] = 1100.0
    assert rollout.tick(trades).action == RolloutAction.VETO_OPEN

    clock[0] = 1400.0
    expired = rollout.tick(trades)
    assert expired.action == RolloutAction.VETO_EXPIRED
    assert (expired.from_stage, expired.to_stage) == (0, 1)


def test_a_veto_clears_the_pending_advance(path: Path) -> None:
    rollout = build_01(path, veto_window_seconds=300)
    rollout.tick([win(i) for i in range(10)])
    assert RolloutState.load(path).advance_pending_to == 1
    state = rollout.veto_pending_advance(note="not now")
    assert state.advance_pending_to is None
    assert state.advance_veto_deadline_unix is None
    assert RolloutState.load(path).advance_pending_to is None


def test_the_kill_switch_trips_reverts_and_stays_latched(path: Path) -> None:
    rollout = build_01(path)
    winners = [win(i) for i in range(10)]
    rollout.tick(winners)
    assert RolloutState.load(path).current_stage == 1

    losers = winners + [loss(i, day="2026-06-01") for i in range(10)]
    d = rollout.tick(losers)
    assert d.action == RolloutAction.KILL_TRIPPED
    assert (d.from_stage, d.to_stage) == (1, 0)

    state = RolloutState.load(path)
    assert state.kill_switch_tripped is True
    assert state.current_stage == 0

    after = rollout.tick(losers)
    assert after.action == RolloutAction.NOOP
    assert "kill switch tripped" in after.reason


def test_clearing_the_kill_switch_lets_the_rollout_run_again(path: Path) -> None:
    rollout = build_01(path)
    rollout.tick([loss(i) for i in range(15)])
    assert RolloutState.load(path).kill_switch_tripped is True

    state = rollout.clear_kill_switch()
    assert state.kill_switch_tripped is False
    assert RolloutState.load(path).kill_switch_tripped is False

    d = rollout.tick([win(i) for i in range(5)])
    assert d.action == RolloutAction.NOOP
    assert "kill switch" not in d.reason


def test_the_state_survives_a_new_rollout_object(path: Path) -> None:
    build_01(path).tick([win(i) for i in range(10)])
    restarted = build_01(path)
    assert RolloutState.load(path).current_stage == 1
    d = restarted.tick([win(i) for i in range(10)])
    assert d.from_stage == 1


def test_the_happy_path_walks_every_stage(path: Path) -> None:
    rollout = build_01(path)
    first = rollout.tick([win(i) for i in range(10)])
    assert first.action == RolloutAction.ADVANCE
    assert first.to_stage == 1
    second = rollout.tick([win(i, day="2026-06-01") for i in range(20)])
    assert second.action == RolloutAction.ADVANCE
    assert (second.from_stage, second.to_stage) == (1, 2)
    assert second.params == {"max_entry": 0.70, "position_size": 10.0}


def test_a_state_saved_at_the_last_stage_has_no_further_stage(path: Path) -> None:
    rollout = build_01(path)
    RolloutState(current_stage=2).save(path)
    d = rollout.tick([])
    assert d.action == RolloutAction.NOOP
    assert "no further stage" in d.reason


def test_reset_wipes_the_rollout_back_to_the_baseline(path: Path) -> None:
    rollout = build_01(path)
    rollout.tick([win(i) for i in range(10)])
    assert RolloutState.load(path).current_stage == 1
    rollout.reset()
    state = RolloutState.load(path)
    assert state.current_stage == 0
    assert state.kill_switch_tripped is False
    assert state.ship_timestamps == {}


def test_a_state_file_written_by_0_1_is_read_and_keeps_its_kill_latch(path: Path) -> None:
    written_by_01 = {
        "current_stage": 0,
        "ship_timestamps": {"1": "2026-05-01T12:00:00+00:00"},
        "kill_switch_tripped": True,
        "kill_reason": "win_rate(10)=0.000 < 0.400",
        "kill_timestamp": "2026-05-02T00:00:00+00:00",
        "advance_pending_to": None,
        "advance_veto_deadline_unix": None,
        "last_tick_unix": 1777680000.0,
        "last_decision_action": "kill",
    }
    path.write_text(json.dumps(written_by_01, indent=2))
    rollout = build_01(path, clock=[1777700000.0])
    d = rollout.tick([win(i) for i in range(10)])
    assert d.action == RolloutAction.NOOP
    assert "kill switch tripped" in d.reason
    state = RolloutState.load(path)
    assert state.kill_switch_tripped is True
    assert state.schema_version == 4  # upgraded to this release's schema
    assert state.ship_timestamps == written_by_01["ship_timestamps"]


def test_both_0_1_clocks_warn_and_the_unix_clock_is_used(path: Path) -> None:
    clock = [1000.0]
    line = sys._getframe().f_lineno + 2
    with pytest.warns(DeprecationWarning, match="clock_now_unix is used") as caught:
        rollout = Rollout(stages_01(), kill_01(), path, 0, lambda: clock[0], lambda: ISO_CLOCK)
    # attributed to the line that built the Rollout, so Python's default filters show it
    assert (caught[0].filename, caught[0].lineno) == (__file__, line)
    d = rollout.tick([win(i) for i in range(10)])
    assert d.action == RolloutAction.ADVANCE
    # 1000.0 Unix seconds, not the 2026 time clock_now_iso returns
    assert RolloutState.load(path).ship_timestamps == {"1": "1970-01-01T00:16:40+00:00"}


def test_a_single_0_1_clock_does_not_warn(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        by_unix = Rollout(stages_01(), kill_01(), path, 0, clock_now_unix=lambda: 1000.0)
        by_iso = Rollout(
            stages_01(), kill_01(), path.with_name("b.json"), 0, clock_now_iso=lambda: ISO_CLOCK
        )
    by_unix.tick([])
    by_iso.tick([win(i) for i in range(10)])
    assert RolloutState.load(path.with_name("b.json")).ship_timestamps == {"1": ISO_CLOCK}


def test_the_readme_example_of_0_1_constructs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    # (the README's imports are this module's: Stage, Gate, KillSwitch, Rollout, ...)
    # Define your stages.
    stages = [
        Stage(num=0, params={"max_entry_price": 0.30}, name="baseline"),
        Stage(
            num=1,
            params={"max_entry_price": 0.50},
            gate=Gate(min_n=50, min_win_rate=0.60, min_ev_per_dollar=0.03),
            name="canary",
        ),
        Stage(
            num=2,
            params={"max_entry_price": 0.50, "position_size": 10.0},
            gate=Gate(min_n=150, min_days_after_prev=14, min_ev_per_dollar=0.025),
            name="full_size",
        ),
    ]
    # Kill switch — trips on a losing streak, reverts to stage 0.
    kill_switch = KillSwitch(
        wr_lookback=30,
        wr_threshold=0.55,
        ev_lookback=100,
        ev_threshold=-0.01,
    )
    rollout = Rollout(
        stages=stages,
        kill_switch=kill_switch,
        state_path=Path("~/.bot/rollout_state.json").expanduser(),
        veto_window_seconds=1800,  # 30 min
    )
    assert rollout.state_path == tmp_path / ".bot" / "rollout_state.json"
    assert [s.name for s in rollout.stages] == ["baseline", "canary", "full_size"]
    assert rollout.veto_window_seconds == 1800
    assert not (tmp_path / ".bot").exists(), "constructing touches no file"


def test_the_0_1_core_module_still_exports_its_names() -> None:
    import quant_rollout
    import quant_rollout.core as core

    names = "Gate KillSwitch Rollout RolloutAction RolloutDecision RolloutState Stage TradeOutcome"
    for name in [*names.split(), "Metrics", "compute_metrics"]:
        assert getattr(core, name) is getattr(quant_rollout, name)


# ----------------------------------------------------------------------------- differences


def _clocked(
    path: Path,
    clock: ManualClock,
    *,
    window: float = 0,
    stages: Optional[List[Stage]] = None,
) -> Rollout:
    return Rollout(
        stages=stages_01() if stages is None else stages,
        kill_switch=kill_01(),
        state_path=path,
        veto_window_seconds=window,
        clock=clock,
    )


def test_difference_a_veto_cancels_the_advance_and_its_evidence(path: Path) -> None:
    clock = ManualClock("2026-05-01T12:00:00Z")
    rollout = _clocked(path, clock, window=300)
    trades = [win(i) for i in range(10)]  # opened before noon
    assert rollout.tick(trades).action == RolloutAction.VETO_OPEN
    rollout.veto_pending_advance(note="not now")

    clock.advance(seconds=600)
    d = rollout.tick(trades)
    # 0.1 re-opened the window here on the very evidence that was just vetoed
    assert d.action == RolloutAction.NOOP
    assert d.reason == "gate not yet met: n=0 < 10"

    fresh = [*trades, *(win(i, day="2026-05-02") for i in range(10))]
    assert rollout.tick(fresh).action == RolloutAction.VETO_OPEN  # new evidence counts


def test_difference_b_clearing_a_kill_does_not_retrip_on_the_old_losses(path: Path) -> None:
    clock = ManualClock("2026-05-01T12:00:00Z")
    rollout = _clocked(path, clock)
    losers = [loss(i) for i in range(15)]
    assert rollout.tick(losers).action == RolloutAction.KILL_TRIPPED
    clock.advance(minutes=5)
    rollout.clear_kill_switch(note="exchange outage, not the params")

    clock.advance(minutes=1)
    d = rollout.tick(losers)
    # 0.1 judged stage 0 on every trade again and tripped on the same losses
    assert d.action == RolloutAction.NOOP
    assert RolloutState.load(path).kill_switch_tripped is False

    later = [*losers, *(loss(i, day="2026-05-02") for i in range(10))]
    assert rollout.tick(later).action == RolloutAction.KILL_TRIPPED  # new losses do


def test_difference_c_trade_times_compare_as_instants_not_strings(path: Path) -> None:
    clock = ManualClock("2026-05-01T12:00:00Z")
    stages = [
        Stage(0, {"p": 0}),
        Stage(1, {"p": 1}, Gate(min_n=1)),
        Stage(2, {"p": 2}, Gate(min_n=100)),
    ]
    rollout = _clocked(path, clock, stages=stages)
    assert rollout.tick([TradeOutcome(1.0, 1.0, "2026-05-01T10:00:00Z")]).to_stage == 1
    shipped = RolloutState.load(path).ship_timestamps["1"]
    assert shipped == "2026-05-01T12:00:00+00:00"

    before = TradeOutcome(1.0, 1.0, "2026-05-01T13:30:00+02:00")  # 11:30 UTC: stage 0's
    after = TradeOutcome(10.0, 1.0, "2026-05-01T11:30:00-02:00")  # 13:30 UTC: stage 1's
    also_after = TradeOutcome(100.0, 1.0, "2026-05-01T12:30:00Z")
    trades = [before, after, also_after]
    clock.set("2026-05-01T14:00:00Z")
    d = rollout.tick(trades)
    assert d.metrics.n == 2
    assert d.metrics.total_pnl == 110.0

    # 0.1's string comparison would have swapped which of the first two counts
    by_string = [t for t in trades if str(t.timestamp) >= shipped]
    assert sum(t.pnl for t in by_string) == 101.0


def test_difference_d_a_corrupt_state_file_is_an_error_never_a_silent_reset(path: Path) -> None:
    rollout = build_01(path)
    rollout.tick([loss(i) for i in range(15)])
    assert RolloutState.load(path).kill_switch_tripped is True
    torn = path.read_bytes()[: len(path.read_bytes()) // 2]
    path.write_bytes(torn)

    # 0.1 answered RolloutState() here: stage 0, kill switch forgotten, free to advance
    with pytest.raises(CorruptStateError):
        RolloutState.load(path)
    for _ in range(2):
        with pytest.raises(CorruptStateError):
            rollout.tick([win(i) for i in range(10)])
    assert path.read_bytes() == torn


def test_difference_e_min_days_after_prev_uses_the_injected_clock(path: Path) -> None:
    clock = ManualClock("2026-05-01T00:00:00Z")
    stages = [
        Stage(0, {"p": 0}),
        Stage(1, {"p": 1}, Gate(min_n=1)),
        Stage(2, {"p": 2}, Gate(min_n=1, min_days_after_prev=14)),
    ]
    rollout = _clocked(path, clock, stages=stages)
    trades = [TradeOutcome(1.0, 1.0, "2026-04-30T00:00:00Z")]
    assert rollout.tick(trades).action == RolloutAction.ADVANCE
    trades.append(TradeOutcome(1.0, 1.0, "2026-05-01T00:00:00Z"))

    clock.advance(days=13, minutes=59 * 24)
    held = rollout.tick(trades)
    assert held.action == RolloutAction.NOOP
    assert "days_since_prev" in held.reason

    clock.set("2026-05-15T00:00:00Z")  # exactly 14 days; no wall-clock time has passed
    moved = rollout.tick(trades)
    assert moved.action == RolloutAction.ADVANCE
    assert moved.to_stage == 2


def test_difference_e_min_days_after_prev_with_manual_clock_advance(path: Path) -> None:
    clock = ManualClock("2026-05-01T00:00:00Z")
    stages = [Stage(0, {"p": 0}), Stage(1, {"p": 1}, Gate(min_n=1, min_days_after_prev=14))]
    rollout = _clocked(path, clock, stages=stages)
    trades = [TradeOutcome(1.0, 1.0, "2026-05-01T00:00:00Z")]
    assert rollout.tick(trades).action == RolloutAction.NOOP  # day 0 of stage 0
    clock.advance(days=14)
    assert rollout.tick(trades).action == RolloutAction.ADVANCE


@pytest.mark.parametrize(
    ("losers_stamped_later", "expected"),
    [(True, RolloutAction.KILL_TRIPPED), (False, RolloutAction.NOOP)],
    ids=["losses-latest-by-time-but-first-in-list", "losses-last-in-list-but-older"],
)
def test_difference_f_the_kill_lookback_is_by_trade_time_not_list_order(
    path: Path, losers_stamped_later: bool, expected: RolloutAction
) -> None:
    early, late = "2026-05-01", "2026-05-02"
    losers = [loss(i, day=late if losers_stamped_later else early) for i in range(10)]
    winners = [win(i, day=early if losers_stamped_later else late) for i in range(12)]
    listed: List[TradeOutcome] = losers + winners if losers_stamped_later else winners + losers
    stages = [Stage(0, {"p": 0}), Stage(1, {"p": 1}, Gate(min_n=1000))]
    clock = ManualClock("2026-05-03T00:00:00Z")
    d = _clocked(path, clock, stages=stages).tick(listed)
    assert d.action == expected
    # 0.1 took the last wr_lookback trades of the list, which says the opposite
    last_in_list = listed[-10:]
    assert all(t.pnl > 0 for t in last_in_list) == losers_stamped_later
    tripped, _ = kill_01().evaluate(listed)
    assert tripped == (expected == RolloutAction.KILL_TRIPPED)


def test_difference_g_on_an_old_clock_a_trade_counts_in_one_stage_only(path: Path) -> None:
    rollout = build_01(path)  # 0.1's own clock: 1970, over trades of 2026
    trades = [win(i) for i in range(20)]
    first = rollout.tick(trades)
    assert (first.action, first.to_stage) == (RolloutAction.ADVANCE, 1)
    d = rollout.tick(trades)
    # 0.1 counted the same 20 trades again for stage 1 (its window began in 1970)
    # and advanced to stage 2 on the trades that had just passed stage 1's gate.
    assert d.action == RolloutAction.NOOP
    assert d.reason.startswith("gate not yet met: n=0 < 20")
    assert "20 trades stamped after the clock's now" in d.reason
    later = [*trades, *(win(i, day="2026-06-01") for i in range(20))]
    assert rollout.tick(later).to_stage == 2  # stage 1's own trades advance it
