"""A Hypothesis state machine driving a real Rollout on a state file with a ManualClock.

Rules add trades, move the clock, tick, run every operator verb and restart the
process (a new Rollout on the same file); the model only remembers what an operator
would: whether the kill switch is latched and whether the rollout is paused.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import List

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from quant_rollout import (
    Gate,
    KillSwitch,
    ManualClock,
    OperatorRefusedError,
    Rollout,
    RolloutAction,
    RolloutState,
    Stage,
    TradeOutcome,
)

STAGES = [
    Stage(0, {"size": 0.0}, name="baseline"),
    Stage(1, {"size": 1.0}, Gate(min_n=3, min_win_rate=0.6), "canary"),
    Stage(2, {"size": 2.0}, Gate(min_n=3, min_win_rate=0.6, min_days_after_prev=0.01), "half"),
    Stage(3, {"size": 3.0}, name="manual"),  # no gate: reached by promote only
]
NUMS = [s.num for s in STAGES]
KILL = KillSwitch(wr_lookback=3, wr_threshold=0.34, ev_lookback=6, ev_threshold=-0.3)
WINDOW = 120.0

EVENT_OF = {
    RolloutAction.KILL_TRIPPED: "kill",
    RolloutAction.ADVANCE: "advance",
    RolloutAction.VETO_OPEN: "veto_open",
    RolloutAction.VETO_EXPIRED: "veto_expired",
    RolloutAction.NOOP: "advance_dropped",
}
# trades the bot closed since the last look: mostly winners, so gates pass and kills trip
WINS = st.lists(st.sampled_from([True, True, True, False]), min_size=1, max_size=4)
ADVANCING = (RolloutAction.ADVANCE, RolloutAction.VETO_EXPIRED, RolloutAction.VETO_OPEN)


class RolloutMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="quant-rollout-stateful-"))
        self.path = self.folder / "rollout_state.json"
        self.history_path = self.folder / "rollout_state.history.jsonl"
        self.clock = ManualClock("2026-05-01T00:00:00Z")
        self.trades: List[TradeOutcome] = []
        self.rollout = self.build()
        self.latched = False
        self.paused = False
        # What a bot following the README's loop runs: it switches when told to.
        self.bot_params = STAGES[0].params

    def build(self) -> Rollout:
        return Rollout(
            STAGES, KILL, state_path=self.path, veto_window_seconds=WINDOW, clock=self.clock
        )

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def events(self) -> List[str]:
        if not self.history_path.exists():
            return []
        return [json.loads(line)["event"] for line in self.history_path.read_text().splitlines()]

    def state(self) -> RolloutState:
        return RolloutState.load(self.path)

    def verb(self, verb: str) -> List[str]:
        """Run an operator verb; return the events it recorded (start aside)."""
        before = len(self.events())
        result = self.rollout.operate(verb, note=f"{verb} by hand", actor="stateful")
        new = self.events()[before:]
        assert [e for e in new if e != "start"] == ([verb] if result.applied else [])
        assert result.state == self.state()
        return new

    # -- the bot's side

    def add_trades(self, wins: List[bool]) -> None:
        for won in wins:
            self.trades.append(TradeOutcome(1.0 if won else -1.0, 1.0, self.clock().isoformat()))
            self.clock.advance(seconds=20)

    @rule(wins=WINS)
    def trade(self, wins: List[bool]) -> None:
        self.add_trades(wins)

    @rule(seconds=st.sampled_from([1, 30, 119, 120, 600, 3600, 86_400]))
    def wait(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @rule(wins=st.one_of(st.just([]), WINS))
    def tick(self, wins: List[bool]) -> None:
        """The bot's minute: maybe some trades closed, then a tick with the whole list."""
        self.add_trades(wins)
        before = self.events()
        before_state = self.state()
        decision = self.rollout.tick(self.trades)
        new = self.events()[len(before) :]
        recorded = [e for e in new if e != "start"]
        after = self.state()

        # changed iff the history grew by a decision (the rollout's first "start" aside)
        assert decision.changed == bool(recorded)
        if decision.apply:
            self.bot_params = decision.params
        # Every stage change, by a gate or by an operator, reaches the bot's loop.
        assert self.bot_params == STAGES[after.current_stage].params
        if recorded == ["announce"]:
            # An operator's move told to the bot: nothing else happens on that tick.
            assert decision.action in (RolloutAction.ADVANCE, RolloutAction.KILL_TRIPPED)
            assert decision.from_stage == before_state.delivered_stage
            assert decision.to_stage == after.current_stage == before_state.current_stage
            return
        if decision.changed:
            assert recorded == [EVENT_OF[decision.action]]
        else:
            assert after == before_state or new == ["start"]

        if self.latched:
            assert decision.action is RolloutAction.NOOP
            assert not decision.changed
            assert "kill switch tripped" in decision.reason
            assert decision.from_stage == decision.to_stage == 0
        if self.latched or self.paused:
            assert decision.action not in ADVANCING
        if decision.action in (RolloutAction.ADVANCE, RolloutAction.VETO_EXPIRED):
            assert decision.to_stage == NUMS[NUMS.index(decision.from_stage) + 1]
        if decision.action is RolloutAction.KILL_TRIPPED:
            assert decision.to_stage == 0
            self.latched = True
        assert decision.params == STAGES[after.current_stage].params
        assert after.current_stage == (
            decision.from_stage if decision.action is RolloutAction.VETO_OPEN else decision.to_stage
        )

    # -- the operator's side

    @rule()
    def veto(self) -> None:
        pending = self.state().advance_pending_to is not None
        new = self.verb("veto")
        assert ("veto" in new) == pending
        assert self.state().advance_pending_to is None

    @rule()
    def pause(self) -> None:
        if self.paused:
            before = self.events()
            try:
                self.rollout.pause()
            except OperatorRefusedError:
                assert self.events() == before
                return
            raise AssertionError("pause while paused was not refused")
        self.verb("pause")
        self.paused = True
        assert self.state().advance_pending_to is None

    @rule()
    def resume(self) -> None:
        if not self.paused:
            before = self.events()
            try:
                self.rollout.resume()
            except OperatorRefusedError:
                assert self.events() == before
                return
            raise AssertionError("resume while not paused was not refused")
        self.verb("resume")
        self.paused = False

    @rule()
    def clear_kill(self) -> None:
        new = self.verb("clear_kill")
        assert ("clear_kill" in new) == self.latched
        self.latched = False

    @rule(skip=st.sampled_from([False, False, False, True]))
    def promote(self, skip: bool) -> None:
        stage = self.state().current_stage
        target = NUMS[-1] if skip else None
        before = self.events()
        try:
            state = self.rollout.promote(to_stage=target, note="by hand", actor="stateful")
        except OperatorRefusedError:
            assert self.latched or stage == NUMS[-1]
            assert self.events() == before
            return
        assert not self.latched
        assert state.current_stage == (target if skip else NUMS[NUMS.index(stage) + 1])
        assert self.events()[-1] == "promote"

    @rule()
    def reset(self) -> None:
        self.verb("reset")
        self.latched = self.paused = False
        state = self.state()
        assert state.current_stage == 0
        assert state.ship_timestamps == {}

    @precondition(lambda self: self.path.exists())
    @rule()
    def restart(self) -> None:
        self.rollout = self.build()

    # -- always

    @invariant()
    def state_loads_and_history_verifies(self) -> None:
        state = self.state()
        assert state.current_stage in NUMS
        assert state.current_stage <= NUMS[-1]
        assert state.kill_switch_tripped == self.latched
        assert state.paused == self.paused
        if self.latched:
            assert state.current_stage == 0
        if state.advance_pending_to is not None:
            assert not self.paused
            assert not self.latched
            assert state.advance_pending_to == NUMS[NUMS.index(state.current_stage) + 1]
        verification = self.rollout.verify_history()
        assert verification.ok, verification.problem
        events = self.events()
        assert state.history_seq == verification.events == len(events)
        assert events.count("start") <= 1
        assert events[:1] in ([], ["start"])


TestRolloutStateMachine = RolloutMachine.TestCase
TestRolloutStateMachine.settings = settings(
    max_examples=120,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
