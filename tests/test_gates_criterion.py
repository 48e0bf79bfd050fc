"""One criterion abstraction: a new gate or kill criterion is one class, and that is all.

Each criterion below is written here, in the test, and nowhere else: it judges,
explains, reports progress and is planned (by Monte Carlo, since it names no model)
without any registry or planner change. Its plan is checked against an independent
computation: an equivalent built-in planned exactly, or a first passage worked out
here by a dynamic programme.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional

import pytest

from quant_rollout import Gate, KillSwitch, Stage, TradeOutcome, plan
from quant_rollout.engine import RolloutConfig
from quant_rollout.errors import ConfigError
from quant_rollout.evidence import StageEvidence
from quant_rollout.gates import (
    AtLeast,
    Criterion,
    CriterionProgress,
    EvidenceView,
    GateResult,
    GateVerdict,
    Judgement,
    Measure,
    MinTrades,
    PlanContext,
    Verdict,
    WinRateShown,
)
from quant_rollout.kill import KillCriterionStatus, MaxConsecutiveLosses, WinRateCusum
from quant_rollout.metrics import Metrics, compute_metrics

T0 = 1_777_593_600  # 2026-05-01T00:00:00Z


def _t(i: int, pnl: float, size: float = 1.0) -> TradeOutcome:
    return TradeOutcome(pnl, size, T0 + 60 * i)


# ----------------------------------------------------------------------------- the two classes


@dataclass(frozen=True)
class MinPnlPerTrade(Criterion):
    """A gate criterion: the average pnl per trade is at least ``dollars``."""

    dollars: float

    @property
    def name(self) -> str:
        return "pnl_per_trade"

    @staticmethod
    def _observed(m: Metrics) -> float:
        return m.total_pnl / m.n if m.n else 0.0

    def verdict(self, view: EvidenceView) -> Verdict:
        met = view.metrics.n > 0 and self._observed(view.metrics) >= self.dollars
        return Verdict.MET if met else Verdict.NOT_MET

    def explain(self, view: EvidenceView, verdict: Verdict, *, estimate: bool = False) -> str:
        if verdict is Verdict.MET:
            return ""
        return f"pnl_per_trade={self._observed(view.metrics):.2f} < {self.dollars:.2f}"

    def progress(self, view: EvidenceView) -> CriterionProgress:
        observed = self._observed(view.metrics)
        return CriterionProgress(self.name, observed, self.dollars, observed >= self.dollars)


@dataclass(frozen=True)
class MaxTotalLoss(Criterion):
    """A kill criterion: the stage has lost ``loss`` or more in all (met means "kill")."""

    loss: float

    @property
    def name(self) -> str:
        return "max_total_loss"

    def verdict(self, view: EvidenceView) -> Verdict:
        return Verdict.MET if -view.metrics.total_pnl >= self.loss else Verdict.NOT_MET

    def explain(self, view: EvidenceView, verdict: Verdict, *, estimate: bool = False) -> str:
        lost = -view.metrics.total_pnl
        relation = ">=" if verdict is Verdict.MET else "<"
        return f"max_total_loss: lost {lost:.2f} {relation} {self.loss:.2f}"

    def progress(self, view: EvidenceView) -> CriterionProgress:
        lost = -view.metrics.total_pnl
        return CriterionProgress(self.name, lost, self.loss, lost >= self.loss)


def _config(gate: Optional[Gate], kill: KillSwitch) -> RolloutConfig:
    return RolloutConfig(
        (Stage(num=0, params={}, name="base"), Stage(num=1, params={}, gate=gate, name="next")),
        kill,
    )


OFF = KillSwitch(wr_threshold=None, ev_threshold=None)


# ----------------------------------------------------------------------------- a gate criterion


def test_a_custom_gate_criterion_judges_explains_and_reports_progress() -> None:
    gate = Gate(min_n=4, min_ev_per_dollar=None, criteria=(MinPnlPerTrade(0.5),))
    losing = [_t(i, 1.0 if i % 2 else -1.0) for i in range(6)]
    assert gate.judge_trades(losing) == GateResult(GateVerdict.NOT_YET, "pnl_per_trade=0.00 < 0.50")
    assert gate.judge_trades(losing[:2]) == GateResult(GateVerdict.NOT_YET, "n=2 < 4")
    winning = [_t(i, 1.0) for i in range(5)]
    assert gate.judge_trades(winning) == GateResult(GateVerdict.PASS, "ok")
    assert gate.progress(compute_metrics(losing)) == (
        CriterionProgress("n", 6, 4, True),
        CriterionProgress("pnl_per_trade", 0.0, 0.5, False),
    )
    assert gate.checks == (MinTrades(4), MinPnlPerTrade(0.5))


def test_a_custom_gate_criterion_is_planned_by_monte_carlo_like_its_exact_twin() -> None:
    # Even money on a $1 stake: pnl per trade is EV per dollar, so the custom gate is
    # the built-in min_ev_per_dollar gate, which the planner computes exactly.
    custom = Gate(min_n=20, min_ev_per_dollar=None, criteria=(MinPnlPerTrade(0.2),))
    twin = Gate(min_n=20, min_ev_per_dollar=0.2)
    rates = [0.5, 0.6, 0.7]
    simulated = plan(_config(custom, OFF), win_rates=rates, horizon=300, paths=600)
    exact = plan(_config(twin, OFF), win_rates=rates, horizon=300)
    (t,) = simulated.transitions
    assert "pnl_per_trade has no exact model: simulated, asked after every trade" in t.notes
    for mc, ex in zip(t.rows, exact.transitions[0].rows):
        assert mc.method == "monte_carlo"
        assert ex.method == "exact"
        se = math.sqrt(max(ex.probability * (1 - ex.probability), 1e-4) / 600)
        assert abs(mc.probability - ex.probability) <= 4 * se, (mc.level, mc, ex)


def test_gate_criteria_tell_the_planner_their_models() -> None:
    gate = Gate(min_n=50, min_win_rate=0.55, min_ev_per_dollar=None, confidence=0.95)
    assert [c.plan_model(PlanContext()) for c in gate.checks] == [
        AtLeast(Measure.TRADES, 50.0),
        WinRateShown(0.55, 0.95).plan_model(PlanContext()),
    ]


def test_gate_criteria_must_be_criterion_objects() -> None:
    with pytest.raises(ConfigError, match=r"Gate\.criteria\[0\] must be a Criterion"):
        Gate(criteria=("min_n>5",))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- a kill criterion


def _evidence(kill: KillSwitch, trades: List[TradeOutcome]) -> StageEvidence:
    evidence = StageEvidence(None, max(kill.lookback, 1), kill.trackers(None))
    for i, trade in enumerate(trades):
        evidence.add(trade, (trade.instant_us, i))
    return evidence


def test_a_custom_kill_criterion_judges_explains_and_reports_status() -> None:
    kill = KillSwitch(wr_threshold=None, ev_threshold=None, criteria=(MaxTotalLoss(3.0),))
    trades = [_t(0, -1.0), _t(1, -1.0), _t(2, 1.0)]
    assert kill.evaluate(trades) == (False, None)
    assert kill.criteria_status(_evidence(kill, trades)) == (
        KillCriterionStatus("max_total_loss", "running", "max_total_loss: lost 1.00 < 3.00"),
    )
    trades += [_t(3, -1.0), _t(4, -1.5)]
    assert kill.evaluate(trades) == (True, "max_total_loss: lost 3.50 >= 3.00")
    evidence = _evidence(kill, trades)
    assert kill.judge_evidence(evidence) == (True, "max_total_loss: lost 3.50 >= 3.00")
    (status,) = kill.criteria_status(evidence)
    assert status.state == "tripped"
    view = EvidenceView(evidence.metrics())
    assert MaxTotalLoss(3.0).judge(view) == Judgement(
        Verdict.MET, "max_total_loss: lost 3.50 >= 3.00"
    )
    assert MaxTotalLoss(3.0).progress(view) == CriterionProgress("max_total_loss", 3.5, 3.0, True)


def _ruin_by(p: float, loss: int, horizon: int) -> float:
    """P(a +1/-1 walk winning with probability p is ever ``loss`` below 0 by ``horizon``)."""
    alive = {0: 1.0}
    ruined = 0.0
    for _ in range(horizon):
        step: dict[int, float] = {}
        for x, mass in alive.items():
            step[x + 1] = step.get(x + 1, 0.0) + p * mass
            step[x - 1] = step.get(x - 1, 0.0) + (1 - p) * mass
        ruined += step.pop(-loss, 0.0)
        alive = step
    return ruined


def test_a_custom_kill_criterion_is_planned_by_monte_carlo_against_a_first_passage() -> None:
    kill = KillSwitch(wr_threshold=None, ev_threshold=None, criteria=(MaxTotalLoss(6.0),))
    report = plan(_config(None, kill), win_rates=[0.45, 0.55], horizon=150, paths=800)
    (k,) = report.kills
    assert k.kill_switch == "max_total_loss"
    assert "max_total_loss has no exact model: simulated, asked after every trade" in k.notes
    for row in k.rows:
        assert row.method == "monte_carlo"
        expected = _ruin_by(row.level, 6, 150)
        se = math.sqrt(expected * (1 - expected) / 800)
        assert abs(row.probability - expected) <= 4 * se, (row.level, row.probability, expected)


def test_kill_criteria_with_chains_stay_exact_and_mixing_in_a_custom_one_simulates() -> None:
    streak = KillSwitch(wr_threshold=None, ev_threshold=None, criteria=(MaxConsecutiveLosses(5),))
    (alone,) = plan(_config(None, streak), win_rates=[0.5], horizon=100).kills
    assert alone.rows[0].method == "exact"
    mixed = KillSwitch(
        wr_threshold=None,
        ev_threshold=None,
        criteria=(MaxConsecutiveLosses(5), MaxTotalLoss(1000.0)),
    )
    (both,) = plan(_config(None, mixed), win_rates=[0.5], horizon=100, paths=2000).kills
    assert both.rows[0].method == "monte_carlo"
    # The total loss never reaches 1000 in 100 trades: the streak alone decides.
    se = math.sqrt(alone.rows[0].probability * (1 - alone.rows[0].probability) / 2000)
    assert abs(both.rows[0].probability - alone.rows[0].probability) <= 4 * se


def test_a_built_in_kill_criterion_left_out_at_a_stage_says_why() -> None:
    kill = KillSwitch(wr_threshold=None, ev_threshold=None, criteria=(WinRateCusum(0.45),))
    gate = Gate(min_n=20, min_win_rate=0.55, confidence=0.95)
    stage0, stage1 = plan(_config(gate, kill), win_rates=[0.6], horizon=100).kills
    assert any("win_rate_cusum left out: not run at a stage" in n for n in stage0.notes)
    assert stage1.kill_switch is not None
    assert stage1.kill_switch.startswith("win_rate_cusum(expected 0.550")


# ----------------------------------------------------------------------------- time, passed in


@dataclass(frozen=True)
class NotBefore(Criterion):
    """A gate criterion that is met but waits: the stage may advance only from ``hour``
    o'clock UTC (a calendar window, in its simplest form). It reads the time it is
    given, never a clock."""

    hour: int

    @property
    def name(self) -> str:
        return "not_before"

    def verdict(self, view: EvidenceView) -> Verdict:
        if view.now_us is None:
            return Verdict.WAITING
        hour = view.now_us // 3_600_000_000 % 24
        return Verdict.MET if hour >= self.hour else Verdict.WAITING

    def explain(self, view: EvidenceView, verdict: Verdict, *, estimate: bool = False) -> str:
        return "" if verdict is Verdict.MET else f"waiting for {self.hour:02d}:00 UTC"


def test_a_waiting_criterion_holds_a_rollout_until_the_time_it_is_given() -> None:
    from quant_rollout import ManualClock, Rollout, RolloutAction
    from quant_rollout.storage.store import MemoryStore

    gate = Gate(min_n=2, min_ev_per_dollar=None, criteria=(NotBefore(9),))
    stages = (Stage(0, {"p": 0}), Stage(1, {"p": 1}, gate=gate, name="canary"))
    clock = ManualClock(T0 + 3600)  # 01:00 UTC
    rollout = Rollout(stages, OFF, store=MemoryStore(), veto_window_seconds=0, clock=clock)
    trades = [_t(i, 1.0) for i in range(3)]
    decision = rollout.tick(trades)
    assert decision.action is RolloutAction.NOOP
    assert decision.reason == "gate not yet met: waiting for 09:00 UTC"
    clock.set(T0 + 9 * 3600)
    assert rollout.tick(trades).action is RolloutAction.ADVANCE
