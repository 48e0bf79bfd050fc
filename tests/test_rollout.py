"""The shell: Rollout with real state and history files in tmp_path and a ManualClock."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from quant_rollout import (
    ConfigError,
    CorruptStateError,
    Gate,
    InvalidTradeError,
    KillSwitch,
    ManualClock,
    OperatorRefusedError,
    Rollout,
    RolloutAction,
    RolloutDecision,
    RolloutState,
    Stage,
    TradeOutcome,
)
from quant_rollout.engine import Phase
from quant_rollout.errors import ClockError
from quant_rollout.storage.store import MemoryStore

START = "2026-05-01T00:00:00+00:00"
WINDOW = 600.0

STAGES = [
    Stage(0, {"max_entry_price": 0.30}, name="baseline"),
    Stage(1, {"max_entry_price": 0.50}, Gate(min_n=5, min_win_rate=0.6), "canary"),
    Stage(2, {"max_entry_price": 0.50, "size": 10.0}, Gate(min_n=5, min_win_rate=0.6), "full"),
]
KILL = KillSwitch(wr_lookback=5, wr_threshold=0.4, ev_lookback=20, ev_threshold=-0.5)


class Bot:
    """A bot's side of the rollout: a clock, its trade list, and a rollout on disk."""

    def __init__(self, path: Path, window: float = WINDOW, **kwargs: Any) -> None:
        self.path = path
        self.history_path = path.with_name("rollout_state.history.jsonl")
        self.clock = ManualClock(START)
        self.trades: List[TradeOutcome] = []
        self.window = window
        self.kwargs = kwargs
        self.rollout = self.build()

    def build(self) -> Rollout:
        return Rollout(
            STAGES,
            KILL,
            state_path=self.path,
            veto_window_seconds=self.window,
            clock=self.clock,
            **self.kwargs,
        )

    def trade(self, pnl: float, n: int = 1) -> None:
        """``n`` trades opened one minute apart, each stamped at the clock, then a minute."""
        for _ in range(n):
            self.trades.append(TradeOutcome(pnl, 5.0, self.clock().isoformat()))
            self.clock.advance(minutes=1)

    def tick(self) -> RolloutDecision:
        return self.rollout.tick(self.trades)

    def lines(self) -> List[Dict[str, Any]]:
        if not self.history_path.exists():
            return []
        return [json.loads(x) for x in self.history_path.read_text().splitlines()]

    def snapshot(self) -> Tuple[int, int, bytes, int]:
        st = os.stat(self.path)
        return (
            st.st_mtime_ns,
            st.st_ino,
            self.path.read_bytes(),
            os.path.getsize(self.history_path),
        )

    def state(self) -> RolloutState:
        return RolloutState.load(self.path)


@pytest.fixture
def bot(tmp_path: Path) -> Bot:
    return Bot(tmp_path / "rollout_state.json")


def assert_consistent(bot: Bot) -> None:
    verification = bot.rollout.verify_history()
    assert verification.ok, verification.problem
    assert verification.events == len(bot.lines()) == bot.state().history_seq


# ----------------------------------------------------------------------------- writes


def test_noop_ticks_write_nothing(bot: Bot) -> None:
    assert bot.tick().action is RolloutAction.NOOP  # the first tick records the start
    assert [x["event"] for x in bot.lines()] == ["start"]
    before = bot.snapshot()
    for _ in range(4):
        bot.trade(+1.0)
        bot.clock.advance(minutes=5)
        d = bot.tick()
        assert d.action is RolloutAction.NOOP
        assert d.changed is False
        assert "gate not yet met" in d.reason
        assert bot.snapshot() == before


def test_ticks_while_the_veto_window_stays_open_write_nothing(bot: Bot) -> None:
    bot.trade(+1.0, 5)
    opened = bot.tick()
    assert opened.action is RolloutAction.VETO_OPEN
    assert opened.changed is True
    before = bot.snapshot()
    for _ in range(3):
        bot.clock.advance(seconds=WINDOW / 4)
        d = bot.tick()
        assert d.action is RolloutAction.VETO_OPEN
        assert d.changed is False
        assert d.veto_deadline_unix == opened.veto_deadline_unix
        assert bot.snapshot() == before
    bot.clock.advance(seconds=WINDOW / 4)
    assert bot.tick().action is RolloutAction.VETO_EXPIRED
    assert bot.snapshot() != before


def test_every_transition_writes_one_history_line_and_the_chain_verifies(bot: Bot) -> None:
    bot.tick()
    assert_consistent(bot)

    def expect(event: str, act: Callable[[], object]) -> None:
        n = len(bot.lines())
        act()
        lines = bot.lines()
        assert len(lines) == n + 1, [x["event"] for x in lines[n:]]
        assert lines[-1]["event"] == event
        assert lines[-1]["state"]["current_stage"] == bot.state().current_stage
        assert_consistent(bot)

    bot.trade(+1.0, 5)
    expect("veto_open", bot.tick)
    bot.clock.advance(seconds=WINDOW)
    expect("veto_expired", bot.tick)
    bot.trade(-1.0, 5)
    expect("kill", bot.tick)
    expect("clear_kill", bot.rollout.clear_kill_switch)
    expect("promote", bot.rollout.promote)
    expect("pause", bot.rollout.pause)
    expect("resume", bot.rollout.resume)
    expect("announce", bot.tick)  # the promote, told to the bot on its next tick
    bot.trade(+1.0, 5)
    expect("veto_open", bot.tick)
    expect("veto", bot.rollout.veto_pending_advance)
    bot.trade(+1.0, 5)
    expect("veto_open", bot.tick)
    for _ in range(3):  # win rate 8/14 < 0.6, but the last 5 hold 2 wins: no kill
        bot.trade(-1.0, 2)
        bot.trade(+1.0)
    bot.clock.advance(seconds=WINDOW)
    expect("advance_dropped", bot.tick)
    expect("reset", bot.rollout.reset)
    events = [x["event"] for x in bot.lines()]
    assert events[0] == "start"
    assert len(events) == 14
    assert [x["seq"] for x in bot.lines()] == list(range(1, 15))


def test_the_history_records_the_decision_metrics_and_state(bot: Bot) -> None:
    bot.trade(+1.0, 5)
    d = bot.tick()
    last = bot.lines()[-1]
    assert last["reason"] == d.reason
    assert last["metrics"]["n"] == 5
    assert last["metrics"]["wins"] == 5
    assert last["state"]["advance_pending_to"] == 1
    assert last["at"] == bot.clock().isoformat()
    assert last["from_stage"] == 0
    assert last["to_stage"] == 0


def test_decision_params_are_the_params_of_the_stage_to_run(tmp_path: Path) -> None:
    bot = Bot(tmp_path / "rollout_state.json", window=0)
    assert bot.tick().params == STAGES[0].params
    bot.trade(+1.0, 5)
    d = bot.tick()
    assert d.action is RolloutAction.ADVANCE
    assert d.params == STAGES[1].params
    assert bot.rollout.params() == STAGES[1].params
    bot.trade(+1.0, 2)
    assert bot.tick().params == STAGES[1].params
    bot.trade(-1.0, 5)
    d = bot.tick()
    assert d.action is RolloutAction.KILL_TRIPPED
    assert d.params == STAGES[0].params


# ----------------------------------------------------------------------------- status


def test_status_without_trades(bot: Bot) -> None:
    status = bot.rollout.status()
    assert status.phase is Phase.RUNNING
    assert status.stage.num == 0
    assert status.next_stage is not None
    assert status.next_stage.num == 1
    assert status.metrics is None
    assert status.gate_progress is None
    assert status.gate_result is None
    assert status.last_event is None
    assert status.started_at is None
    assert not bot.path.exists(), "status writes nothing"
    bot.tick()
    status = bot.rollout.status()
    assert status.last_event is not None
    assert status.last_event.event == "start"
    assert status.started_at == START
    assert status.now == START


def test_status_with_trades_shows_progress_toward_the_gate(bot: Bot) -> None:
    bot.tick()
    bot.trade(+1.0, 2)
    bot.trade(-1.0)
    before = bot.snapshot()
    status = bot.rollout.status(bot.trades)
    assert bot.snapshot() == before
    assert status.metrics is not None
    assert status.metrics.n == 3
    assert status.gate_progress is not None
    progress = {p.name: p for p in status.gate_progress}
    assert (progress["n"].observed, progress["n"].required, progress["n"].met) == (3, 5, False)
    assert progress["win_rate"].observed == pytest.approx(2 / 3)
    assert progress["win_rate"].required == 0.6
    assert progress["win_rate"].met
    assert status.gate_result is not None
    assert not status.gate_result.passes
    assert status.gate_result.reason == "n=3 < 5"


def test_status_during_a_veto_window(bot: Bot) -> None:
    bot.trade(+1.0, 5)
    bot.tick()
    bot.clock.advance(seconds=100)
    status = bot.rollout.status(bot.trades)
    assert status.phase is Phase.VETO_PENDING
    assert status.advance_pending_to == 1
    assert status.veto_seconds_left == pytest.approx(WINDOW - 100)
    assert status.gate_result is not None
    assert status.gate_result.passes


def test_status_at_the_last_stage_has_no_gate_progress(bot: Bot) -> None:
    bot.rollout.promote(to_stage=2)
    status = bot.rollout.status(bot.trades)
    assert status.next_stage is None
    assert status.gate_progress is None
    assert status.metrics is not None
    assert status.metrics.n == 0


# ----------------------------------------------------------------------------- verbs


def test_operator_verbs_record_note_and_actor(bot: Bot) -> None:
    bot.trade(+1.0, 5)
    bot.tick()
    bot.rollout.veto_pending_advance("too soon", actor="ana")
    bot.rollout.promote(note="looks fine", actor="bo")
    bot.rollout.pause("weekend", actor="ana")
    bot.rollout.resume("monday", actor="bo")
    bot.trade(-1.0, 5)
    assert bot.tick().action is RolloutAction.KILL_TRIPPED
    bot.rollout.clear_kill_switch("was the exchange", actor="cy")
    bot.rollout.reset("start over", actor="dee")
    verbs = [(x["event"], x["note"], x["actor"]) for x in bot.lines() if x["actor"]]
    assert verbs == [
        ("veto", "too soon", "ana"),
        ("promote", "looks fine", "bo"),
        ("pause", "weekend", "ana"),
        ("resume", "monday", "bo"),
        ("clear_kill", "was the exchange", "cy"),
        ("reset", "start over", "dee"),
    ]
    automatic = [x for x in bot.lines() if x["event"] in ("start", "veto_open", "kill")]
    assert all(x["actor"] is None and x["note"] == "" for x in automatic)
    assert_consistent(bot)


def test_verbs_return_the_new_state(bot: Bot) -> None:
    assert bot.rollout.promote().current_stage == 1
    assert bot.rollout.pause().paused is True
    assert bot.rollout.resume().paused is False
    state = bot.rollout.reset()
    assert state.current_stage == 0
    assert state.ship_timestamps == {}
    assert state == bot.state()


def test_veto_and_clear_with_nothing_to_act_on_write_nothing(bot: Bot) -> None:
    bot.tick()
    before = bot.snapshot()
    result = bot.rollout.operate("veto")
    assert result.applied is False
    assert "no pending advance" in result.reason
    assert bot.rollout.clear_kill_switch().kill_switch_tripped is False
    assert bot.snapshot() == before


def test_pause_cancels_a_pending_advance(bot: Bot) -> None:
    bot.trade(+1.0, 5)
    assert bot.tick().action is RolloutAction.VETO_OPEN
    state = bot.rollout.pause()
    assert state.paused
    assert state.advance_pending_to is None
    assert "cancelled" in bot.lines()[-1]["reason"]
    bot.clock.advance(seconds=2 * WINDOW)
    d = bot.tick()
    assert d.action is RolloutAction.NOOP
    assert "paused" in d.reason
    assert bot.state().current_stage == 0


def test_the_kill_switch_runs_while_paused(bot: Bot) -> None:
    bot.rollout.promote()
    bot.rollout.pause()
    bot.trade(-1.0, 5)
    d = bot.tick()
    assert d.action is RolloutAction.KILL_TRIPPED
    assert (d.from_stage, d.to_stage) == (1, 0)
    state = bot.state()
    assert state.kill_switch_tripped
    assert state.paused
    assert state.current_stage == 0
    assert bot.rollout.status().phase is Phase.KILLED


def test_promote_is_refused_while_latched_and_at_the_last_stage(bot: Bot) -> None:
    bot.trade(-1.0, 5)
    assert bot.tick().action is RolloutAction.KILL_TRIPPED
    before = bot.snapshot()
    with pytest.raises(OperatorRefusedError, match="latched"):
        bot.rollout.promote()
    assert bot.snapshot() == before
    bot.rollout.clear_kill_switch()
    bot.rollout.promote(to_stage=2)
    before = bot.snapshot()
    with pytest.raises(OperatorRefusedError, match="last stage"):
        bot.rollout.promote()
    with pytest.raises(OperatorRefusedError, match="forward only"):
        bot.rollout.promote(to_stage=1)
    assert bot.snapshot() == before


def test_pause_twice_and_resume_unpaused_are_refused(bot: Bot) -> None:
    with pytest.raises(OperatorRefusedError, match="not paused"):
        bot.rollout.resume()
    bot.rollout.pause()
    before = bot.snapshot()
    with pytest.raises(OperatorRefusedError, match="already paused"):
        bot.rollout.pause()
    assert bot.snapshot() == before


# ----------------------------------------------------------------------------- fail closed


def test_a_corrupt_state_file_raises_and_is_left_untouched(bot: Bot) -> None:
    bot.trade(-1.0, 5)
    bot.tick()  # a tripped kill switch that must not be forgotten
    bot.path.write_bytes(bot.path.read_bytes()[:40])  # a torn write
    corrupt = bot.path.read_bytes()
    for _ in range(2):  # and again: no silent reset on the second try either
        with pytest.raises(CorruptStateError, match=r"rollout_state\.json"):
            bot.tick()
        assert bot.path.read_bytes() == corrupt
    with pytest.raises(CorruptStateError):
        bot.rollout.status()
    with pytest.raises(CorruptStateError):
        bot.rollout.reset()
    with pytest.raises(CorruptStateError):
        bot.build().tick(bot.trades)
    assert bot.path.read_bytes() == corrupt


def test_a_state_with_a_wrong_field_type_is_corrupt(bot: Bot) -> None:
    bot.tick()
    data = json.loads(bot.path.read_text())
    data["kill_switch_tripped"] = "yes"
    bot.path.write_text(json.dumps(data))
    with pytest.raises(CorruptStateError, match="kill_switch_tripped"):
        bot.tick()


def test_a_state_at_a_stage_the_config_lacks_is_corrupt(bot: Bot) -> None:
    RolloutState(current_stage=5).save(bot.path)
    saved = bot.path.read_bytes()
    with pytest.raises(CorruptStateError, match="current_stage 5"):
        bot.tick()
    with pytest.raises(CorruptStateError, match="current_stage 5"):
        bot.rollout.promote()
    assert bot.path.read_bytes() == saved
    assert not bot.history_path.exists()


def test_a_bad_trade_names_its_index_and_changes_nothing(bot: Bot) -> None:
    bot.trade(+1.0, 5)
    trades: List[object] = list(bot.trades[:3])
    trades.append({"pnl": float("nan"), "size": 5.0, "timestamp": START})
    trades.extend(bot.trades[3:])
    bot.tick()  # opens a window on the good trades
    bot.clock.advance(seconds=WINDOW)
    before = bot.snapshot()
    with pytest.raises(InvalidTradeError, match=r"trades\[3\].*nan"):
        bot.rollout.tick(trades)
    assert bot.snapshot() == before
    assert bot.tick().action is RolloutAction.VETO_EXPIRED  # the good list still works


def test_a_bad_trade_on_the_incremental_path_changes_nothing(bot: Bot) -> None:
    bot.trade(+1.0, 3)
    bot.tick()
    before = bot.snapshot()
    grown: List[object] = [*bot.trades, {"pnl": 1.0, "size": -2.0, "timestamp": START}]
    with pytest.raises(InvalidTradeError, match=r"trades\[3\].*size"):
        bot.rollout.tick(grown)
    assert bot.snapshot() == before
    bot.trade(+1.0, 2)
    assert bot.tick().action is RolloutAction.VETO_OPEN


def test_a_clock_gone_back_changes_nothing_and_names_the_way_out(bot: Bot) -> None:
    bot.clock.advance(days=1)
    bot.tick()
    before = bot.snapshot()
    bot.clock.set(START)
    d = bot.tick()
    assert d.action is RolloutAction.NOOP
    assert not d.changed
    assert "accept-clock" in d.reason
    with pytest.raises(ClockError, match="accept-clock"):
        bot.rollout.promote()
    assert bot.snapshot() == before


# ----------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"stages": [Stage(1, {})]}, "stage 0"),
        ({"stages": []}, "at least one Stage"),
        ({"stages": [Stage(0, {}), Stage(1, {}), Stage(1, {})]}, r"unique; repeated: \[1\]"),
        ({"stages": [Stage(0, {}), {"num": 1}]}, r"stages\[1\]"),
        ({"veto_window_seconds": -1}, "veto_window_seconds"),
        ({"veto_window_seconds": float("nan")}, "veto_window_seconds"),
        ({"kill_switch": {"wr_lookback": 30}}, "kill_switch"),
        ({"state_path": None}, "state_path.*store"),
        ({"store": MemoryStore()}, "state_path.*store"),
    ],
    ids=[
        "no-stage-0",
        "no-stages",
        "duplicate",
        "not-a-stage",
        "negative-window",
        "nan-window",
        "kill-switch-type",
        "neither-path-nor-store",
        "both-path-and-store",
    ],
)
def test_the_constructor_rejects_bad_configuration(
    tmp_path: Path, kwargs: Dict[str, Any], field: str
) -> None:
    args: Dict[str, Any] = {
        "stages": STAGES,
        "kill_switch": KILL,
        "state_path": tmp_path / "s.json",
        "clock": ManualClock(START),
    }
    args.update(kwargs)
    with pytest.raises(ConfigError, match=field) as info:
        Rollout(**args)
    assert isinstance(info.value, ValueError)
    assert not (tmp_path / "s.json").exists()


def test_stages_are_kept_sorted(tmp_path: Path) -> None:
    rollout = Rollout(list(reversed(STAGES)), KILL, tmp_path / "s.json", clock=ManualClock(0))
    assert [s.num for s in rollout.stages] == [0, 1, 2]
    assert rollout.kill_switch is KILL
    assert rollout.veto_window_seconds == 1800


# ----------------------------------------------------------------------------- equivalences

Script = List[Tuple[str, Any]]

SCRIPT: Script = [
    ("tick", None),
    ("trades", (+1.0, 3)),
    ("tick", None),
    ("trades", (+1.0, 3)),
    ("tick", None),
    ("wait", 300),
    ("tick", None),
    ("wait", 400),
    ("tick", None),
    ("trades", (-1.0, 2)),
    ("tick", None),
    ("trades", (+1.0, 6)),
    ("tick", None),
    ("verb", "veto"),
    ("trades", (+1.0, 5)),
    ("tick", None),
    ("verb", "pause"),
    ("trades", (-1.0, 5)),
    ("tick", None),
    ("verb", "clear_kill"),
    ("tick", None),
    ("verb", "resume"),
    ("verb", "promote"),
    ("trades", (+1.0, 3)),
    ("tick", None),
    ("verb", "reset"),
    ("trades", (+1.0, 5)),
    ("wait", 1000),
    ("tick", None),
]


def run_script(
    make: Callable[[ManualClock], Rollout],
    order: Optional[random.Random] = None,
    fresh_each_tick: bool = False,
) -> List[Any]:
    """Run SCRIPT, returning every decision and verb result."""
    clock = ManualClock(START)
    rollout = make(clock)
    trades: List[TradeOutcome] = []
    out: List[Any] = []
    for op, arg in SCRIPT:
        if op == "trades":
            pnl, n = arg
            for _ in range(n):
                trades.append(TradeOutcome(pnl, 5.0, clock().isoformat()))
                clock.advance(minutes=1)
        elif op == "wait":
            clock.advance(seconds=arg)
        elif op == "verb":
            out.append(rollout.operate(arg).reason)
        else:
            given = list(trades)
            if order is not None:
                order.shuffle(given)
            if fresh_each_tick:
                rollout = make(clock)
                out.append(rollout.tick(given))
            else:
                out.append(rollout.tick(trades if order is None else given))
        clock.advance(seconds=1)
    return out


def _file_maker(path: Path) -> Callable[[ManualClock], Rollout]:
    def make(clock: ManualClock) -> Rollout:
        return Rollout(STAGES, KILL, state_path=path, veto_window_seconds=WINDOW, clock=clock)

    return make


def _memory_maker(store: MemoryStore) -> Callable[[ManualClock], Rollout]:
    def make(clock: ManualClock) -> Rollout:
        return Rollout(STAGES, KILL, store=store, veto_window_seconds=WINDOW, clock=clock)

    return make


def test_the_script_visits_every_action(tmp_path: Path) -> None:
    decisions = run_script(_file_maker(tmp_path / "rollout_state.json"))
    actions = {d.action for d in decisions if isinstance(d, RolloutDecision)}
    # ADVANCE: the ticks after the script's promote and reset announce them
    assert actions == set(RolloutAction)


def test_a_memory_store_decides_and_records_exactly_as_a_file(tmp_path: Path) -> None:
    path = tmp_path / "rollout_state.json"
    store = MemoryStore()
    on_disk = run_script(_file_maker(path))
    in_memory = run_script(_memory_maker(store))
    assert in_memory == on_disk
    history = path.with_name("rollout_state.history.jsonl").read_text().splitlines()
    assert store.lines == history
    assert store.state == RolloutState.load(path)
    assert store.verify().ok


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_trades_in_any_order_give_the_same_decisions(seed: int) -> None:
    in_order = run_script(_memory_maker(MemoryStore()))
    shuffled = run_script(_memory_maker(MemoryStore()), order=random.Random(seed))
    assert shuffled == in_order


def test_a_growing_list_decides_as_fresh_ticks_on_the_same_list() -> None:
    incremental = run_script(_memory_maker(MemoryStore()))
    store = MemoryStore()
    fresh = run_script(_memory_maker(store), fresh_each_tick=True)
    assert fresh == incremental


def test_late_and_out_of_window_trades_on_the_incremental_path(tmp_path: Path) -> None:
    """Appending trades older than ones already counted changes nothing about the result."""
    clock = ManualClock(START)
    store_a, store_b = MemoryStore(), MemoryStore()
    a = Rollout(STAGES, KILL, store=store_a, veto_window_seconds=0, clock=clock)
    trades: List[TradeOutcome] = []
    decisions_a, decisions_b = [], []
    stamps = [40, 10, 50, 20, 30, 5, 60, 70, 1, 80, 90, 15]
    pnls = [1.0, -1.0, 1.0, 1.0, -1.0, 1.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0]
    clock.advance(minutes=100)
    for minute, pnl in zip(stamps, pnls):
        trades.append(
            TradeOutcome(pnl, 5.0, f"2026-05-01T00:{minute // 60:02d}:{minute % 60:02d}Z")
        )
        clock.advance(seconds=1)
        decisions_a.append(a.tick(trades))
        b = Rollout(STAGES, KILL, store=store_b, veto_window_seconds=0, clock=clock)
        decisions_b.append(b.tick(list(trades)))
    assert decisions_a == decisions_b
    assert store_a.lines == store_b.lines


def test_a_restart_picks_up_where_the_last_process_left(bot: Bot) -> None:
    bot.trade(+1.0, 5)
    opened = bot.tick()
    bot.rollout = bot.build()
    bot.clock.advance(seconds=10)
    d = bot.tick()
    assert d.action is RolloutAction.VETO_OPEN
    assert d.changed is False
    assert d.veto_deadline_unix == opened.veto_deadline_unix


def _decide_both(lists: List[List[TradeOutcome]]) -> Tuple[List[str], List[str]]:
    """Reasons of one rollout fed ``lists`` in turn, and of a fresh rollout per list."""
    stages = [Stage(0, {}), Stage(1, {}, Gate(min_n=3, min_win_rate=0.6))]
    kill = KillSwitch(wr_lookback=50, wr_threshold=0.1, ev_lookback=50, ev_threshold=-5.0)
    clock = ManualClock("2026-05-02T00:00:00Z")
    one = Rollout(stages, kill, store=MemoryStore(), veto_window_seconds=0, clock=clock)
    kept = [one.tick(trades).reason for trades in lists]
    fresh = [
        Rollout(stages, kill, store=MemoryStore(), veto_window_seconds=0, clock=clock)
        .tick(trades)
        .reason
        for trades in lists
    ]
    return kept, fresh


def _t(minute: int, pnl: float) -> TradeOutcome:
    return TradeOutcome(pnl, 1.0, f"2026-05-01T00:{minute:02d}:00Z")


@pytest.mark.parametrize(
    "second",
    [
        [_t(0, 1.0), _t(1, -1.0), _t(2, -1.0), _t(3, 1.0), _t(4, 1.0)],  # first trade changed
        [_t(1, -1.0), _t(2, 1.0), _t(3, 1.0)],  # shorter: the oldest trade dropped
        [_t(0, -1.0), _t(1, -1.0), _t(2, 1.0), _t(3, 1.0), _t(4, 1.0), _t(5, 1.0)],  # last
        [_t(0, -1.0), _t(9, 1.0), _t(1, -1.0), _t(2, 1.0), _t(3, -1.0), _t(4, 1.0)],  # insert
    ],
    ids=["first-changed", "shorter", "last-changed", "inserted"],
)
def test_a_list_that_did_not_just_grow_is_read_afresh(second: List[TradeOutcome]) -> None:
    first = [_t(0, -1.0), _t(1, -1.0), _t(2, -1.0), _t(3, -1.0)]
    kept, fresh = _decide_both([first, second])
    assert kept == fresh


def test_a_trade_corrected_in_the_middle_counts_once_the_list_is_rescanned() -> None:
    """The documented limit of the fast path, and its remedy: ``tick(rescan=True)``."""
    first = [_t(0, -1.0), _t(1, -1.0), _t(2, -1.0), _t(3, -1.0)]
    second = [_t(0, -1.0), _t(1, 1.0), _t(2, 1.0), _t(3, -1.0), _t(4, 1.0)]  # fees settled
    stages = [Stage(0, {}), Stage(1, {}, Gate(min_n=3, min_win_rate=0.6))]
    kill = KillSwitch(wr_lookback=50, wr_threshold=0.1, ev_lookback=50, ev_threshold=-5.0)
    clock = ManualClock("2026-05-02T00:00:00Z")
    one = Rollout(stages, kill, store=MemoryStore(), veto_window_seconds=0, clock=clock)
    one.tick(first)
    # Only the first and the last-read trade are checked: the corrections go unseen...
    assert one.tick(second).reason == "gate not yet met: win_rate=0.200 < 0.600"
    # ...until the list is re-read, which then agrees with a fresh rollout.
    rescanned = one.tick(second, rescan=True)
    assert rescanned.action is RolloutAction.ADVANCE
    assert [rescanned.reason] == _decide_both([second])[1]


def test_changing_the_params_of_a_decision_leaves_the_stage_untouched(tmp_path: Path) -> None:
    stages = [Stage(0, {"size": 1.0}), Stage(1, {"size": 2.0}, Gate(min_n=99))]
    rollout = Rollout(stages, KillSwitch(), tmp_path / "s.json", clock=ManualClock(0))
    decision = rollout.tick([])
    decision.params["size"] = 100.0  # type: ignore[index]  # a careless bot
    assert rollout.tick([]).params == {"size": 1.0}
    assert rollout.stages[0].params == {"size": 1.0}


# ----------------------------------------------------------------------------- a clock glitch


def _glitch(bot: Bot) -> None:
    """The clock jumps to 2031 for one tick, which opens a veto window, then is fixed."""
    bot.trade(+1.0, 5)
    now = bot.clock()
    bot.clock.set("2031-01-01T00:00:00Z")
    assert bot.tick().action is RolloutAction.VETO_OPEN
    bot.clock.set(now)
    bot.clock.advance(minutes=1)


def test_after_a_forward_clock_glitch_ticks_never_advance_but_the_kill_check_runs(
    bot: Bot,
) -> None:
    _glitch(bot)
    for _ in range(3):  # well past the (real) veto window: nothing advances
        bot.clock.advance(seconds=WINDOW)
        d = bot.tick()
        assert (d.action, d.changed) == (RolloutAction.NOOP, False)
        assert "= 2031-01-01T00:00:00+00:00 recorded in the state" in d.reason
        assert "accept-clock" in d.reason
    with pytest.raises(ClockError, match="accept-clock"):
        bot.rollout.reset()
    bot.trade(-1.0, 5)
    d = bot.tick()
    assert d.action is RolloutAction.KILL_TRIPPED  # fail closed: the kill still trips
    assert bot.state().advance_pending_to is None
    assert_consistent(bot)


def test_accept_clock_is_the_recorded_way_out_of_a_clock_glitch(bot: Bot) -> None:
    _glitch(bot)
    state = bot.rollout.accept_clock(note="NTP fixed", actor="ana")
    now = bot.clock().isoformat()
    assert state.advance_pending_to is None
    assert state.updated_at == now
    assert all(v <= now for v in (state.started_at, state.stage_entered_at) if v)
    last = bot.lines()[-1]
    assert (last["event"], last["actor"], last["note"]) == ("accept_clock", "ana", "NTP fixed")
    assert_consistent(bot)
    d = bot.tick()  # the gate still holds: a fresh window with a real deadline
    assert (d.action, d.changed) == (RolloutAction.VETO_OPEN, True)
    assert d.veto_deadline_unix == bot.clock().timestamp() + WINDOW
    assert bot.rollout.operate("accept_clock").applied is False  # nothing left ahead


def test_veto_and_pause_work_on_a_suspect_clock(bot: Bot) -> None:
    _glitch(bot)
    bot.rollout.veto_pending_advance(note="that was 2031")
    assert bot.state().advance_pending_to is None
    assert_consistent(bot)


def test_status_says_when_the_bot_has_not_been_told_the_stage(tmp_path: Path) -> None:
    rollout = Rollout(STAGES, KILL, tmp_path / "s.json", clock=ManualClock(START))
    rollout.tick([])
    assert rollout.status().bot_told is None
    rollout.promote(to_stage=2)
    told = "the bot was last told stage 0; its next tick announces stage 2 (full)"
    assert rollout.status().bot_told == told
    rollout.reset()  # back to the stage the bot runs: nothing to announce
    assert rollout.status().bot_told is None
    rollout.promote()
    assert rollout.tick([]).action is RolloutAction.ADVANCE
    assert rollout.status().bot_told is None


def test_a_veto_window_still_open_says_the_time_left_as_a_duration(tmp_path: Path) -> None:
    clock = ManualClock(START)
    rollout = Rollout(STAGES, KILL, tmp_path / "s.json", veto_window_seconds=300, clock=clock)
    trades = [TradeOutcome(1.0, 1.0, f"2026-04-30T00:0{i}:00Z") for i in range(5)]
    assert rollout.tick(trades).action is RolloutAction.VETO_OPEN
    clock.advance(seconds=100)
    d = rollout.tick(trades)
    assert d.reason == "veto window still open: advance to stage 1 (canary) in 3m20s unless vetoed"
