"""A Hypothesis state machine driving a real Rollout with an experiment stage on a state
file: the bot routes signals and ticks with their opportunities, operators drop arms,
change weights, promote arms, veto and reset, the process restarts, and bad trades are
refused without changing the file."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from quant_rollout import (
    Gate,
    InvalidTradeError,
    KillSwitch,
    ManualClock,
    OperatorRefusedError,
    Rollout,
    Stage,
    TradeOutcome,
)
from quant_rollout.arms import Arm, Experiment

BASE = {"max_entry_price": 0.30}
ARMS = ("control", "wide", "narrow")
EXPERIMENT = Experiment(
    (
        Arm("control", BASE),
        Arm("wide", {"max_entry_price": 0.50}),
        Arm("narrow", {"max_entry_price": 0.20}),
    ),
    "control",
)
STAGES = [
    Stage(0, BASE, name="baseline"),
    Stage(1, {}, Gate(min_n=2), "arms", experiment=EXPERIMENT),
    Stage(2, {"size": 2.0}, name="full"),
]
KILL = KillSwitch(wr_lookback=4, wr_threshold=0.2, ev_lookback=8, ev_threshold=-0.6)
WEIGHTS = st.sampled_from(
    [
        {"control": 0.5, "wide": 0.25, "narrow": 0.25},
        {"control": 0.8, "wide": 0.1, "narrow": 0.1},
        {"control": 0.5, "wide": 0.5, "narrow": 0.0},
        {"control": 0.6, "wide": 0.6, "narrow": 0.0},  # does not sum to 1
    ]
)


class ExperimentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="quant-rollout-arms-"))
        self.path = self.folder / "rollout_state.json"
        self.clock = ManualClock("2026-05-01T00:00:00Z")
        self.trades: List[TradeOutcome] = []
        self.rollout = self.build()
        self.signal = 0
        self.counts: Dict[str, int] = {}

    def build(self) -> Rollout:
        return Rollout(
            STAGES, KILL, state_path=self.path, veto_window_seconds=120, clock=self.clock
        )

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def record(self) -> Optional[Dict[str, object]]:
        if not self.path.exists():
            return None
        return json.loads(self.path.read_text())

    @rule(wins=st.lists(st.booleans(), min_size=1, max_size=4))
    def signals(self, wins: List[bool]) -> None:
        for win in wins:
            routed = self.rollout.route(f"s{self.signal}")
            self.signal += 1
            self.counts[routed.arm] = self.counts.get(routed.arm, 0) + 1
            self.trades.append(
                TradeOutcome(
                    pnl=1.0 if win else -1.0,
                    size=1.0,
                    timestamp=self.clock(),
                    metadata={"arm": routed.arm},
                )
            )
        self.clock.advance(seconds=30)

    @rule(seconds=st.sampled_from([1, 60, 121, 3600]))
    def wait(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @rule(report=st.booleans())
    def tick(self, report: bool) -> None:
        counts = {k: v for k, v in self.counts.items() if k in ARMS} if report else None
        decision = self.rollout.tick(self.trades, opportunities=counts)
        if report:
            self.counts = {}
        assert decision.params == self.rollout.params()

    @rule()
    def untagged_trade_is_refused(self) -> None:
        if self.rollout.status().experiment is None:
            return
        before = self.path.read_bytes() if self.path.exists() else None
        bad = TradeOutcome(pnl=1.0, size=1.0, timestamp=self.clock())
        with pytest.raises(InvalidTradeError, match=rf"trades\[{len(self.trades)}\]"):
            self.rollout.tick([*self.trades, bad])
        assert (self.path.read_bytes() if self.path.exists() else None) == before

    @rule(arm=st.sampled_from(ARMS))
    def drop(self, arm: str) -> None:
        self.operate("drop_arm", arm=arm)

    @rule(weights=WEIGHTS)
    def weights(self, weights: Dict[str, float]) -> None:
        self.operate("change_weights", weights=weights)

    @rule(arm=st.sampled_from(ARMS))
    def promote_arm(self, arm: str) -> None:
        self.operate("promote_arm", arm=arm)

    @rule(verb=st.sampled_from(["veto", "reset", "promote", "clear_kill", "pause", "resume"]))
    def plain_verb(self, verb: str) -> None:
        self.operate(verb)

    def operate(self, verb: str, **kwargs: object) -> None:
        before = self.path.read_bytes() if self.path.exists() else None
        try:
            self.rollout.operate(verb, actor="ops", **kwargs)  # type: ignore[arg-type]
        except OperatorRefusedError:
            assert (self.path.read_bytes() if self.path.exists() else None) == before

    @rule()
    def restart(self) -> None:
        self.rollout = self.build()

    @invariant()
    def the_files_agree_and_routing_follows_the_state(self) -> None:
        assert self.rollout.verify_history().ok
        for record in self.rollout.history()[-1:]:
            event(f"last event: {record.event}")
        status = self.rollout.status()
        report = status.experiment
        if report is None:
            assert self.rollout.route("probe").arm == "main"
            return
        weights = {row.name: row.weight for row in report.arms}
        assert math.isclose(sum(weights.values()), 1.0)
        dropped = {row.name for row in report.arms if row.dropped}
        assert all(weights[name] == 0.0 for name in dropped)
        probe = self.build()  # a second process routes the same keys the same way
        for i in range(20):
            arm = probe.route(f"probe-{i}").arm
            assert arm in ARMS
            assert arm not in dropped
            # status() above refreshed this Rollout's routing from the file
            assert arm == self.rollout.route(f"probe-{i}").arm


ExperimentMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestExperimentMachine = ExperimentMachine.TestCase
