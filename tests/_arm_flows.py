"""Simulated experiment stages of a live bot, driven through ``Rollout.tick``.

Shared by ``tests/test_arm_flows_slow.py`` (CI path counts) and
``scripts/measure_arm_flows.py`` (more paths, for the figures in the README). Each
simulation is one bot on an experiment stage with two arms that are, in truth, equal
(every trade wins its stake or loses it with probability 1/2, in both arms). Every
minute the bot routes one opportunity with ``Rollout.route``, opens the trade on the
arm it was given and reports the opportunity (``opportunities=``); each trade closes
some minutes later and the bot appends it to its list when it does (the list is in
closing order, each trade stamped with its *opening* time, as the README asks), then
calls ``tick``. Any winner is a false winner.

The adversarial pair: the candidate takes profits after ``win_minutes`` and holds
its losers ``loss_minutes``; control holds every trade ``control_minutes``. At any
moment the candidate's closed trades are mostly its quick wins and control's are
unbiased, so a comparison of the closed trades sees a candidate better than it is.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from quant_rollout import (
    Arm,
    Experiment,
    Gate,
    KillSwitch,
    ManualClock,
    Rollout,
    RolloutAction,
    Stage,
    TradeOutcome,
)
from quant_rollout.storage.store import MemoryStore

__all__ = ["ArmFlow", "false_winner_rate", "monte_carlo_error", "run_arm_flow"]

T0 = 1_777_593_600  # 2026-05-01T00:00:00Z
NO_KILL = KillSwitch(wr_threshold=None, ev_threshold=None)


@dataclass(frozen=True)
class ArmFlow:
    """One bot on an experiment stage: equal arms, outcome-dependent holding times."""

    minutes: int = 600
    confidence: float = 0.9
    win_minutes: int = 5
    loss_minutes: int = 60
    control_minutes: int = 30
    report: Optional[str] = "open_trades"  # or None: says nothing (judged a day behind)


def _rollout(flow: ArmFlow, seed: int, clock: ManualClock) -> Rollout:
    experiment = Experiment(
        (Arm("control", {"p": 0}), Arm("quick", {"p": 1})),
        "control",
        confidence=flow.confidence,
        salt=f"flow-{seed}",
    )
    stages = (
        Stage(0, {"p": 0}),
        Stage(1, {}, Gate(min_n=1), experiment=experiment),
        Stage(2, {"p": 2}),
    )
    rollout = Rollout(stages, NO_KILL, store=MemoryStore(), veto_window_seconds=0, clock=clock)
    first = TradeOutcome(1.0, 1.0, T0 - 120)  # nothing else is open yet
    assert rollout.tick([first], open_trades=[]).action is RolloutAction.ADVANCE
    return rollout


def run_arm_flow(flow: ArmFlow, seed: int) -> Optional[int]:
    """One path: the minute the rollout promoted the candidate (None: never)."""
    rng = random.Random(seed)
    clock = ManualClock(T0)
    rollout = _rollout(flow, seed, clock)
    closed: List[TradeOutcome] = []  # stage 1's window starts empty
    still_open: List[Tuple[int, int, TradeOutcome]] = []  # (close minute, open minute, trade)
    for minute in range(flow.minutes):
        arm = rollout.route(f"signal-{seed}-{minute}").arm
        win = rng.random() < 0.5
        trade = TradeOutcome(1.0 if win else -1.0, 1.0, T0 + 60 * minute, metadata={"arm": arm})
        if arm == "control":
            hold = flow.control_minutes
        else:
            hold = flow.win_minutes if win else flow.loss_minutes
        heapq.heappush(still_open, (minute + hold, minute, trade))
        while still_open and still_open[0][0] <= minute:
            closed.append(heapq.heappop(still_open)[2])
        clock.set(T0 + 60 * minute + 30)  # ticks fall between openings
        keywords: Dict[str, Any] = {"opportunities": {arm: 1}}
        if flow.report == "open_trades":
            keywords["open_trades"] = [T0 + 60 * m for _, m, _ in still_open]
        elif flow.report is not None:
            raise ValueError(f"unknown report {flow.report!r}")
        decision = rollout.tick(closed, **keywords)
        if decision.action is RolloutAction.ADVANCE:
            assert "quick" in decision.reason, decision.reason
            return minute
    return None


def false_winner_rate(flow: ArmFlow, paths: int, seed: int = 0) -> float:
    """The share of ``paths`` paths that promoted the (equal) candidate."""
    wins = sum(run_arm_flow(flow, seed * 100_003 + i) is not None for i in range(paths))
    return wins / paths


def monte_carlo_error(rate: float, paths: int) -> float:
    """One standard error of a rate estimated from ``paths`` independent paths."""
    return math.sqrt(max(rate * (1.0 - rate), 1e-4) / paths)
