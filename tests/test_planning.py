"""quant_rollout.plan: exact figures against independent computations, Monte Carlo against
the real gates and kill criteria, the issue's figures, the text table and the command."""

from __future__ import annotations

import itertools
import json
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Optional, Sequence

import numpy as np
import pytest
from scipy.stats import binom

from quant_rollout import (
    Gate,
    KillSwitch,
    ManualClock,
    Payoff,
    PlanReport,
    Rollout,
    RolloutAction,
    Stage,
    TradeOutcome,
    compute_metrics,
    format_plan,
    plan,
)
from quant_rollout.engine import RolloutConfig
from quant_rollout.errors import ConfigError
from quant_rollout.gates import BettingScan, PlanContext
from quant_rollout.kill import KillModel, MaxConsecutiveLosses, MaxDrawdown, WinRateCusum
from quant_rollout.kill.models import Drawdown, LossChain
from quant_rollout.metrics import MetricsAccumulator
from quant_rollout.planning import plan as plan_config
from quant_rollout.planning.exact import chain_alarm_cdf as _chain_alarm_cdf
from quant_rollout.planning.runs import Bernoulli as _Bernoulli
from quant_rollout.planning.runs import Bootstrap as _Bootstrap
from quant_rollout.planning.runs import Run as _Run
from quant_rollout.planning.scans import CusumScan as _CusumScan
from quant_rollout.planning.scans import DrawdownScan as _DrawdownScan
from quant_rollout.planning.scans import StreakScan as _StreakScan
from quant_rollout.planning.scans import WindowEv as _WindowEv
from quant_rollout.planning.scans import WindowWins as _WindowWins
from quant_rollout.stats import (
    BernoulliCusum,
    EVBettingTest,
    cusum_alarm_probability,
    cusum_arl,
    win_rate_rejection_cdf,
)
from quant_rollout.stats.spending import window_confidence
from quant_rollout.storage.store import MemoryStore
from quant_rollout.tools.cli import main
from quant_rollout.tools.config import load_config

ROOT = Path(__file__).resolve().parents[1]

# The 0.1 README's example configuration.
CANARY = Gate(min_n=50, min_win_rate=0.60, min_ev_per_dollar=0.03)
FULL_SIZE = Gate(min_n=150, min_days_after_prev=14, min_ev_per_dollar=0.025)
SEED_KILL = KillSwitch(wr_lookback=30, wr_threshold=0.55, ev_lookback=100, ev_threshold=-0.01)
NO_KILL = KillSwitch(wr_threshold=None, ev_threshold=None)


def _config(*gates: Optional[Gate], kill: KillSwitch = NO_KILL) -> RolloutConfig:
    stages = [Stage(num=0, params={}, name="baseline")]
    stages += [Stage(num=i + 1, params={}, gate=g, name=f"s{i + 1}") for i, g in enumerate(gates)]
    return RolloutConfig(tuple(stages), kill)


def _seed_config() -> RolloutConfig:
    return RolloutConfig(
        (
            Stage(num=0, params={}, name="baseline"),
            Stage(num=1, params={}, gate=CANARY, name="canary"),
            Stage(num=2, params={}, gate=FULL_SIZE, name="full_size"),
        ),
        SEED_KILL,
    )


def _gate_row(report: PlanReport, level: float, transition: int = 0) -> Any:
    return next(r for r in report.transitions[transition].rows if r.level == level)


def _kill_row(report: PlanReport, level: float, plan_index: int = 0) -> Any:
    k = report.kills[plan_index]
    return next(r for r in k.rows + k.detection if r.level == level)


# ----------------------------------------------------------------------------- the issue's figures


def test_seed_canary_gate_checked_every_trade_advances_a_55_percent_strategy_47_percent() -> None:
    report = plan(_config(CANARY), win_rates=[0.55], horizon=300)
    row = _gate_row(report, 0.55)
    assert row.method == "exact"
    assert row.probability == pytest.approx(0.4651659468098557, abs=1e-12)
    assert round(row.probability, 2) == 0.47
    assert row.false_alarm
    assert row.error_bound < 1e-12


def test_a_single_look_at_n_50_advances_it_28_percent_as_the_binomial_tail_says() -> None:
    # With the horizon at min_n the gate is looked at once, after trade 50.
    report = plan(_config(CANARY), win_rates=[0.55], horizon=50)
    row = _gate_row(report, 0.55)
    assert row.probability == pytest.approx(binom.sf(29, 50, 0.55), abs=1e-13)
    assert round(row.probability, 2) == 0.29  # the issue rounds 0.286 down to 28%
    assert row.cdf[49] == 0.0


def test_seed_kill_switch_kills_a_65_percent_strategy_within_500_trades_997_per_mille() -> None:
    report = plan(_config(kill=SEED_KILL), win_rates=[0.65], horizon=500, paths=20_000)
    row = _kill_row(report, 0.65)
    assert row.method == "monte_carlo"
    assert row.paths == 20_000
    assert abs(row.probability - 0.997) < 4 * row.probability_se + 1e-3
    assert row.probability_se < 0.001
    assert row.mean_trades == pytest.approx(100, abs=6)  # "mean ~100 trades to a false kill"
    assert row.false_alarm  # 0.65 is above every threshold: any kill is false


# ----------------------------------------------------------------------------- exact gates


def _numpy_first_passage(p: float, least: Sequence[int], horizon: int) -> List[float]:
    """The same first passage by a dense numpy programme over (trades, wins)."""
    alive = np.zeros(horizon + 2)
    alive[0] = 1.0
    out, total = [], 0.0
    for n in range(horizon + 1):
        if n:
            alive[1 : n + 1] = alive[1 : n + 1] * (1 - p) + alive[0:n] * p
            alive[0] *= 1 - p
        k = least[n]
        if k <= n:
            total += alive[k : n + 1].sum()
            alive[k : n + 1] = 0.0
        out.append(total)
    return out


@pytest.mark.parametrize("p", [0.45, 0.55, 0.6, 0.7])
def test_exact_gate_matches_a_dense_numpy_programme(p: float) -> None:
    horizon = 400
    report = plan(_config(CANARY), win_rates=[p], horizon=horizon)
    row = _gate_row(report, p)
    # Least wins to pass, derived here from the rule itself (win rate >= 0.6 from n = 50;
    # the EV floor of even money, 2w/n - 1 >= 0.03, is looser).
    least = [
        next((w for w in range(n + 1) if n >= 50 and w / n >= 0.6 and 2 * w - n >= 0.03 * n), n + 1)
        for n in range(horizon + 1)
    ]
    reference = _numpy_first_passage(p, least, horizon)
    assert max(abs(a - b) for a, b in zip(row.cdf, reference)) < 1e-12


def test_exact_gate_matches_brute_force_enumeration_through_the_real_gate() -> None:
    """Every sequence of 12 trades, judged by Gate.judge on its metrics after each trade."""
    gate = Gate(min_n=3, min_win_rate=0.55, min_ev_per_dollar=0.05, min_total_pnl=1.0)
    payoff = Payoff(win=0.8, loss=1.0, size=2.5)
    horizon, p = 12, 0.6
    report = plan(_config(gate), win_rates=[p], horizon=horizon, payoff=payoff)
    row = _gate_row(report, p)
    expected = [0.0] * (horizon + 1)
    for outcomes in itertools.product((True, False), repeat=horizon):
        acc = MetricsAccumulator()
        wins = sum(outcomes)
        weight = p**wins * (1 - p) ** (horizon - wins)
        passed_at = None
        if gate.judge(acc.metrics()).passes:
            passed_at = 0
        for n, won in enumerate(outcomes, start=1):
            if passed_at is not None:
                break
            pnl = payoff.win * payoff.size if won else -payoff.loss * payoff.size
            acc.add(TradeOutcome(pnl, payoff.size, 0))
            if gate.judge(acc.metrics()).passes:
                passed_at = n
        if passed_at is not None:
            for n in range(passed_at, horizon + 1):
                expected[n] += weight
    assert max(abs(a - b) for a, b in zip(row.cdf, expected)) < 1e-12


def test_confidence_gate_is_exact_and_equals_the_stats_rejection_cdf() -> None:
    gate = Gate(min_win_rate=0.55, confidence=0.95, min_ev_per_dollar=None)
    report = plan(_config(gate), win_rates=[0.5, 0.55, 0.65], horizon=2000)
    for row in report.transitions[0].rows:
        assert row.method == "exact"
        # The plan follows a stage's first window, judged at its share of the level.
        reference = win_rate_rejection_cdf(0.55, row.level, 2000, window_confidence(0.95, 1))
        assert max(abs(a - b) for a, b in zip(row.cdf, reference)) < 1e-12
    assert _gate_row(report, 0.55).probability <= 0.05  # the guarantee at the bar
    # 123 for the test alone at 95% (stats.BetaPrior.above's figure); 135 at the 96% a
    # stage's first window is judged at.
    assert _gate_row(report, 0.65).median_trades == 135


def test_a_gate_that_passes_empty_evidence_passes_at_trade_zero() -> None:
    report = plan(_config(Gate()), win_rates=[0.3], horizon=10)
    row = _gate_row(report, 0.3)
    assert row.cdf[0] == 1.0
    assert row.median_trades == 0


def test_day_floor_counts_only_with_a_pace() -> None:
    gate = Gate(min_n=10, min_days_after_prev=14)
    without = plan(_config(gate), win_rates=[0.7], horizon=300)
    assert any("min_days_after_prev=14 left out" in n for n in without.transitions[0].notes)
    assert _gate_row(without, 0.7).median_trades == 10
    paced = plan(_config(gate), win_rates=[0.7], horizon=300, trades_per_day=5)
    row = _gate_row(paced, 0.7)
    assert row.median_trades == 70  # 14 days at 5 trades a day
    assert row.median_days == 14.0
    assert not paced.transitions[0].notes


def test_days_are_trades_over_the_pace_but_not_before_the_day_floor() -> None:
    report = plan(_config(CANARY), win_rates=[0.7], horizon=300, trades_per_day=10)
    row = _gate_row(report, 0.7)
    assert row.median_trades == 50
    assert row.median_days == 5.0


def test_gate_bar_is_the_tighter_of_the_win_rate_and_ev_floors() -> None:
    report = plan(_seed_config(), win_rates=[0.5, 0.6], horizon=200, paths=200)
    assert report.transitions[0].bar == 0.6
    assert report.transitions[1].bar == pytest.approx(0.5125)  # EV/$ 0.025 at even money
    assert [r.false_alarm for r in report.transitions[1].rows] == [True, False]


# ----------------------------------------------------------------------------- exact kill chains


@pytest.mark.parametrize("p", [0.45, 0.55, 0.65])
def test_cusum_chain_matches_stats(p: float) -> None:
    chart = BernoulliCusum(0.65, 0.45, 5.0)
    units = (chart.scores.win_units, chart.scores.loss_units, chart.threshold_units)
    cdf = _chain_alarm_cdf(p, *units, horizon=500)
    assert cdf[-1] == pytest.approx(cusum_alarm_probability(0.65, 0.45, 5.0, p, 500), abs=1e-12)
    assert cdf[100] == pytest.approx(cusum_alarm_probability(0.65, 0.45, 5.0, p, 100), abs=1e-12)
    arl = cusum_arl(0.65, 0.45, 5.0, p)
    long = _chain_alarm_cdf(p, *units, horizon=20_000)
    mean = math.fsum(1 - c for c in long[:-1])  # E[min(T, 20000)]
    # The run length's tail beyond the horizon is geometric: E[(T - H)+] ~ P(T > H) ARL.
    assert mean == pytest.approx(arl - (1 - long[-1]) * arl, rel=1e-3)
    if p < 0.6:
        assert mean == pytest.approx(arl, rel=1e-9)


def test_loss_streak_chain_matches_enumeration() -> None:
    k, horizon, p = 3, 10, 0.4
    cdf = _chain_alarm_cdf(p, k, 1, k, horizon)
    expected = 0.0
    for outcomes in itertools.product((True, False), repeat=horizon):
        text = "".join("W" if w else "L" for w in outcomes)
        if "L" * k in text:
            wins = sum(outcomes)
            expected += p**wins * (1 - p) ** (horizon - wins)
    assert cdf[-1] == pytest.approx(expected, abs=1e-14)


def test_a_lone_win_rate_cusum_is_planned_exactly_at_the_level_the_gate_proves() -> None:
    gate = Gate(min_n=50, min_win_rate=0.55, confidence=0.95, min_ev_per_dollar=None)
    kill = KillSwitch(
        wr_threshold=None, ev_threshold=None, criteria=(WinRateCusum(unacceptable=0.45),)
    )
    report = plan(_config(gate, kill=kill), win_rates=[0.55, 0.65], horizon=2000)
    assert [k.stages for k in report.kills] == [("0 (baseline)",), ("1 (s1)",)]
    stage0, stage1 = report.kills
    assert stage0.kill_switch is None
    assert any("win_rate_cusum left out: not run at a stage" in n for n in stage0.notes)
    row = _kill_row(report, 0.55, 1)
    assert row.method == "exact"
    h = WinRateCusum(unacceptable=0.45).threshold(0.55)
    assert row.probability == pytest.approx(
        cusum_alarm_probability(0.55, 0.45, h, 0.55, 2000), abs=1e-12
    )
    assert row.probability <= 0.05  # its design target
    assert [r.level for r in stage1.detection] == [0.45]  # the unacceptable level
    assert stage1.detection[0].median_trades is not None


# ----------------------------------------------------------------------------- Monte Carlo scans


def _runs(p: float, count: int, horizon: int, payoff: Payoff, seed: int = 1) -> List[_Run]:
    source = _Bernoulli(p, payoff, sums=True, trades=True)
    runs = []
    for i in range(count):
        run = _Run(random.Random(seed * 1000 + i), source)
        run.extend_to(horizon)
        runs.append(run)
    return runs


def _trades(run: _Run) -> List[TradeOutcome]:
    return [TradeOutcome(pnl, size, i) for i, (pnl, size) in enumerate(zip(run.pnl, run.size))]


def _first(scan: Any, run: _Run, horizon: int) -> Optional[int]:
    start = 1
    for size in (7, 30, 64, 1000):
        end = min(horizon, start + size - 1)
        found = scan.first(run, start, end)
        if found is not None:
            return int(found)
        start = end + 1
        if start > horizon:
            break
    return None


def _tracker_first(criterion: Any, trades: Sequence[TradeOutcome]) -> Optional[int]:
    tracker = criterion.tracker(None)
    for n, trade in enumerate(trades, start=1):
        tracker.add(trade)
        if tracker.verdict()[0]:
            return n
    return None


def test_bernoulli_draws_win_at_the_true_rate() -> None:
    runs = _runs(0.37, 200, 500, Payoff())
    rate = sum(r.cum_wins[-1] for r in runs) / (200 * 500)
    assert abs(rate - 0.37) < 4 * math.sqrt(0.37 * 0.63 / 100_000)


def test_window_scans_fire_where_the_real_kill_switch_trips() -> None:
    payoff = Payoff(win=0.7, loss=1.0, size=3.0)
    kill = KillSwitch(wr_lookback=20, wr_threshold=0.5, ev_lookback=40, ev_threshold=0.0)
    from quant_rollout.planning.exact import window_least_wins as _window_least_wins

    wr_least = _window_least_wins(20, lambda m: not m.win_rate < 0.5, payoff)
    ev_least = _window_least_wins(40, lambda m: not m.ev_per_dollar < 0.0, payoff)
    horizon = 300
    for run in _runs(0.6, 60, horizon, payoff):
        trades = _trades(run)
        expected = next(
            (n for n in range(1, horizon + 1) if kill.judge_recent(trades[:n][-40:], n)[0]), None
        )
        counts = [_first(_WindowWins(20, wr_least), run, horizon)]
        counts.append(_first(_WindowWins(40, ev_least), run, horizon))
        floats = [counts[0], _first(_WindowEv(40, 0.0), run, horizon)]
        assert min((t for t in counts if t is not None), default=None) == expected
        assert min((t for t in floats if t is not None), default=None) == expected


def test_cusum_streak_and_drawdown_scans_fire_where_the_real_trackers_do() -> None:
    payoff = Payoff(win=0.9, loss=1.0, size=2.0)
    cusum = WinRateCusum(unacceptable=0.45, expected=0.6, trades_between_false_kills=500)
    chart = BernoulliCusum(0.6, 0.45, cusum.threshold(0.6))
    units = (chart.scores.win_units, chart.scores.loss_units, chart.threshold_units)
    model = cusum.plan_model(PlanContext())
    assert isinstance(model, KillModel)
    assert model.shape == LossChain(*units)
    horizon = 400
    for run in _runs(0.5, 60, horizon, payoff):
        trades = _trades(run)
        assert _first(_CusumScan(*units), run, horizon) == _tracker_first(cusum, trades)
        streak = MaxConsecutiveLosses(5)
        assert _first(_StreakScan(5), run, horizon) == _tracker_first(streak, trades)
        for drawdown in (MaxDrawdown(loss=15.0), MaxDrawdown(fraction=0.3, capital=40.0)):
            model = drawdown.plan_model(PlanContext())
            assert isinstance(model, KillModel)
            assert isinstance(model.shape, Drawdown)
            found = _first(_DrawdownScan(model.shape), run, horizon)
            assert found == _tracker_first(drawdown, trades)


def test_betting_scan_rejects_at_the_same_trade_as_the_gates_ev_test() -> None:
    gate = Gate(min_ev_per_dollar=0.02, confidence=0.95, max_loss_per_dollar=1.0)
    rng = random.Random(3)
    sizes = [rng.uniform(0.5, 4.0) for _ in range(50)]
    returns = [rng.choice([-1.0, -0.4, 0.2, 0.5, 1.3]) for _ in range(50)]
    checked = 0
    for ev in (0.0, 0.1, 0.2):
        source = _Bootstrap(returns, sizes, ev)
        for i in range(30):
            run = _Run(random.Random(i), source)
            run.extend_to(600)
            tracker = gate.tracker(bounds=False)
            assert tracker is not None
            expected = None
            for n, (pnl, size) in enumerate(zip(run.pnl, run.size), start=1):
                tracker.add(TradeOutcome(pnl, size, n))
                if tracker.passes:
                    expected = n
                    break
            scan = BettingScan(0.02, 1.0, 0.95, 0.5)
            held = scan.holds(run.pnl, run.size, 1, 600)
            assert (None if held.find(1) < 0 else held.find(1) + 1) == expected
            checked += expected is not None
    assert checked > 10


def test_betting_scan_matches_ev_betting_test_on_long_paths() -> None:
    rng = random.Random(11)
    for _ in range(50):
        sizes = [rng.uniform(0.2, 3.0) for _ in range(1500)]
        pnls = [max(-s, s * rng.gauss(0.03, 0.5)) for s in sizes]
        test = EVBettingTest(0.0, 1.0, 0.9, grid=[0.0])
        expected = None
        for n, (pnl, size) in enumerate(zip(pnls, sizes), start=1):
            test.update(pnl, size)
            if test.rejected:
                expected = n
                break
        run = _Run(random.Random(0), _Bernoulli(0.5, Payoff(), sums=False, trades=False))
        run.pnl, run.size = pnls, sizes
        held = BettingScan(0.0, 1.0, 0.9, 0.5).holds(run.pnl, run.size, 1, 1500)
        assert (None if held.find(1) < 0 else held.find(1) + 1) == expected


# ----------------------------------------------------------------------------- vs the real thing


def _real_gate_times(gate: Gate, p: float, payoff: Payoff, horizon: int, runs: int) -> List[Any]:
    rng = random.Random(99)
    times: List[Optional[int]] = []
    for _ in range(runs):
        acc = MetricsAccumulator()
        tracker = gate.tracker(bounds=False)
        found = None
        for n in range(1, horizon + 1):
            won = rng.random() < p
            pnl = payoff.win * payoff.size if won else -payoff.loss * payoff.size
            trade = TradeOutcome(pnl, payoff.size, n)
            acc.add(trade)
            if tracker is not None:
                tracker.add(trade)
            if gate.verdict(acc.metrics(), tracker=tracker).value == "pass":
                found = n
                break
        times.append(found)
    return times


def test_exact_gate_agrees_with_simulating_the_real_gate() -> None:
    horizon, runs = 300, 3000
    report = plan(_config(CANARY), win_rates=[0.58], horizon=horizon)
    row = _gate_row(report, 0.58)
    times = _real_gate_times(CANARY, 0.58, Payoff(), horizon, runs)
    share = sum(t is not None for t in times) / runs
    se = math.sqrt(row.probability * (1 - row.probability) / runs)
    assert abs(share - row.probability) < 4 * se


def test_monte_carlo_confidence_gate_with_an_ev_test_agrees_with_the_real_gate() -> None:
    gate = Gate(min_n=20, min_win_rate=0.5, confidence=0.9, min_ev_per_dollar=0.0)
    horizon, p = 400, 0.62
    report = plan(_config(gate), win_rates=[p], horizon=horizon, paths=1500)
    row = _gate_row(report, p)
    assert row.method == "monte_carlo"
    times = _real_gate_times(gate, p, Payoff(), horizon, 600)
    share = sum(t is not None for t in times) / len(times)
    se = math.sqrt(row.probability * (1 - row.probability) * (1 / 1500 + 1 / len(times)))
    assert abs(share - row.probability) < 4 * se + 1e-9
    medians = sorted(t for t in times if t is not None)
    assert row.median_trades is not None
    assert abs(medians[len(times) // 2] - row.median_trades) < 0.15 * row.median_trades


def _rollout_times(config: RolloutConfig, p: float, horizon: int, runs: int) -> List[Any]:
    """When a whole Rollout, ticked trade by trade with a ManualClock, advances or kills."""
    rng = random.Random(5)
    times: List[Any] = []
    for _ in range(runs):
        clock = ManualClock(1_700_000_000)
        rollout = Rollout(
            list(config.stages),
            config.kill_switch,
            veto_window_seconds=0,
            store=MemoryStore(),
            clock=clock,
        )
        trades: List[TradeOutcome] = []
        found = None
        for n in range(1, horizon + 1):
            clock.advance(60)
            won = rng.random() < p
            trades.append(TradeOutcome(1.0 if won else -1.0, 1.0, clock.unix - 30))
            action = rollout.tick(trades).action
            if action in (RolloutAction.ADVANCE, RolloutAction.KILL_TRIPPED):
                found = (action, n)
                break
        times.append(found)
    return times


@pytest.mark.slow
def test_plan_agrees_with_rollouts_on_a_memory_store() -> None:
    """Each rule on its own, as the plan models it: the gate with no kill switch, the kill
    switch with a gate that cannot pass."""
    horizon, p, runs = 200, 0.58, 1500
    gate = Gate(min_n=30, min_win_rate=0.6)
    kill = KillSwitch(wr_lookback=20, wr_threshold=0.45, ev_threshold=None)
    cases = (
        (_config(gate), RolloutAction.ADVANCE, lambda r: _gate_row(r, p)),
        (
            _config(Gate(min_n=10**6), kill=kill),
            RolloutAction.KILL_TRIPPED,
            lambda r: _kill_row(r, p),
        ),
    )
    for config, action, pick in cases:
        row = pick(plan(config, win_rates=[p], horizon=horizon, paths=20_000))
        times = [t[1] for t in _rollout_times(config, p, horizon, runs) if t and t[0] is action]
        share = len(times) / runs
        se = math.sqrt(row.probability * (1 - row.probability) * (1 / runs + 1 / 20_000))
        assert abs(share - row.probability) < 4 * se, (action, share, row.probability)
        median = sorted(times)[runs // 2] if len(times) > runs // 2 else None
        if row.median_trades is not None and median is not None:
            assert abs(median - row.median_trades) <= max(3, 0.1 * row.median_trades)


# ----------------------------------------------------------------------------- seeds, EV rows


def test_same_seed_same_report_and_rules_do_not_share_randomness() -> None:
    config = _seed_config()
    one = plan(config, win_rates=[0.6], horizon=300, paths=500, seed=4)
    two = plan(config, win_rates=[0.6], horizon=300, paths=500, seed=4)
    other = plan(config, win_rates=[0.6], horizon=300, paths=500, seed=5)
    assert one.to_dict() == two.to_dict()
    assert one.kills[0].rows[0].cdf != other.kills[0].rows[0].cdf
    alone = plan(_config(kill=SEED_KILL), win_rates=[0.6], horizon=300, paths=500, seed=4)
    assert alone.kills[0].rows[0].cdf == one.kills[0].rows[0].cdf


def test_bootstrap_shifts_the_population_to_each_ev_level() -> None:
    returns, sizes = [-1.0, 0.5, 2.0, -0.2], [1.0, 3.0, 0.5, 2.0]
    for ev in (-0.05, 0.0, 0.1):
        source = _Bootstrap(returns, sizes, ev)
        assert math.fsum(source.pnl) / math.fsum(source.sizes) == pytest.approx(ev, abs=1e-15)


def test_ev_rows_from_a_trade_history() -> None:
    trades = [
        TradeOutcome(pnl, size, i)
        for i, (pnl, size) in enumerate([(1.0, 2.0), (-2.0, 2.0), (0.5, 1.0), (3.0, 4.0)] * 10)
    ]
    kwargs: Any = {"win_rates": [0.6], "horizon": 300, "ev_levels": [-0.1, 0.2], "paths": 400}
    report = plan(_seed_config(), trades=trades, **kwargs)
    assert report.ev_levels == (-0.1, 0.2)
    assert report.payoff.source == "the trades"
    assert report.payoff.win == pytest.approx(4.5 / 7)  # size-weighted
    assert report.payoff.loss == pytest.approx(1.0)
    canary = report.transitions[0]
    assert [r.level for r in canary.ev_rows] == [-0.1, 0.2]
    assert all(r.method == "monte_carlo" and r.measure == "ev_per_dollar" for r in canary.ev_rows)
    assert canary.ev_rows[0].false_alarm
    assert not canary.ev_rows[1].false_alarm
    assert canary.ev_rows[0].probability < canary.ev_rows[1].probability
    assert [r.level for r in report.kills[0].ev_rows] == [-0.1, 0.2]
    assert "40 trades" in (report.trades or "")


def test_payoff_from_trades_needs_both_wins_and_losses() -> None:
    with pytest.raises(ConfigError, match="winning and losing"):
        Payoff.from_trades([TradeOutcome(1.0, 1.0, 0)])
    with pytest.raises(ConfigError, match=r"Payoff\.win"):
        Payoff(win=0.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"win_rates": [1.5]}, "win_rates"),
        ({"win_rates": []}, "win_rates"),
        ({"horizon": 0}, "horizon"),
        ({"paths": 10}, "paths"),
        ({"trades_per_day": 0}, "trades_per_day"),
        ({"ev_levels": [0.1]}, "ev_levels needs trades"),
        ({"drop_to": 2}, "drop_to"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        plan(_seed_config(), **kwargs)


def test_plan_takes_a_path_and_the_planner_takes_configurations(tmp_path: Path) -> None:
    path = tmp_path / "rollout.toml"
    path.write_text((ROOT / "examples" / "seed_0.1.toml").read_text("utf-8"), "utf-8")
    loaded = load_config(path)
    rollout = Rollout(list(loaded.stages), loaded.kill_switch, store=MemoryStore())
    kwargs: Any = {"win_rates": [0.55], "horizon": 300, "paths": 200}
    reports = [plan(x, **kwargs) for x in (loaded, rollout, rollout.config)]
    assert reports[0].source == str(path)
    for report in reports:
        assert report.transitions[0].rows[0].probability == pytest.approx(0.46516594680, abs=1e-10)
    # quant_rollout.plan reads a file's path (in the tools layer), as 0.2 did ...
    for named in (path, str(path)):
        report = plan(named, **kwargs)
        assert report.source == str(path)
        assert report == reports[0]
    # ... while the planner below the tools does no I/O: it takes configurations only.
    for named in (path, str(path)):
        with pytest.raises(ConfigError, match=r"not a file name .*load_config"):
            plan_config(named, **kwargs)
    assert plan_config(loaded, **kwargs) == reports[0]
    with pytest.raises(ConfigError, match="plan"):
        plan(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"missing\.toml: no such file"):
        plan(tmp_path / "missing.toml", **kwargs)


def test_progress_is_told_every_row_and_changes_nothing() -> None:
    config = RolloutConfig(
        (Stage(0, {}), Stage(1, {}, Gate(min_n=50, min_win_rate=0.55, confidence=0.95))),
        KillSwitch(),
    )
    calls: List[Any] = []
    kwargs: Any = {"win_rates": [0.5, 0.6], "horizon": 200, "paths": 250}
    told = plan(config, progress=lambda *a: calls.append(a), **kwargs)
    assert told == plan(config, **kwargs)
    rows = list(dict.fromkeys(label for label, _, _ in calls))
    assert len(rows) >= 2
    for row in rows:
        assert [(d, t) for r, d, t in calls if r == row] == [
            (0, 250),
            (100, 250),
            (200, 250),
            (250, 250),
        ]


# ----------------------------------------------------------------------------- format_plan


def test_format_plan_names_the_method_and_shows_the_monte_carlo_error() -> None:
    text = format_plan(plan(_seed_config(), win_rates=[0.55, 0.65], horizon=500, paths=1000))
    lines = text.splitlines()
    assert all(len(line) <= 100 for line in lines)
    assert lines[0] == "plan: rollout configuration, each stage followed for 500 trades"
    canary = lines.index(
        "gate 0 (baseline) -> 1 (canary): n>=50, win_rate>=0.6, ev_per_dollar>=0.03"
    )
    assert lines[canary + 1].split() == [
        "win", "rate", "P(advance)", "by", "500", "median", "trades", "90%", "trades", "method"
    ]  # fmt: skip
    assert lines[canary + 2].split() == ["0.55", "*", "47.0%", ">500", ">500", "exact"]
    assert "* at or below the bar (win rate 0.600)" in text
    assert "note: min_days_after_prev=14 left out" in text
    kill = next(i for i, line in enumerate(lines) if line.startswith("kill switch at every stage"))
    assert lines[kill + 1].split()[:5] == ["win", "rate", "EV/$", "money", "P(kill)"]
    row = next(line for line in lines[kill:] if line.split()[:1] == ["0.65"]).split()
    assert row[:5] == ["0.65", "*", "+0.300", "profitable", "99.6%"] or row[:4] == [
        "0.65",
        "*",
        "+0.300",
        "profitable",
    ]
    assert row[5].startswith("±")
    assert "money: a losing stage (EV/$ <= 0, win rate <= 0.5) is killed with at least" in text
    assert row[-1] == "MC"
    assert "MC = Monte Carlo, 1,000 runs (seed 0), ± one standard error" in text


def test_format_plan_with_days_and_ev_rows() -> None:
    trades = [TradeOutcome(pnl, 1.0, i) for i, pnl in enumerate([0.5, -1.0, 0.4, 0.6, -0.8] * 8)]
    report = plan(
        _seed_config(), win_rates=[0.6], horizon=200, trades=trades, trades_per_day=5, paths=200
    )
    text = format_plan(report)
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "median days" in text
    assert "pace: 5 trades a day" in text
    assert "EV rows: bootstrap of 40 trades: win rate 0.600, EV/$ -0.0600" in text
    assert "  EV/$" in text


# ----------------------------------------------------------------------------- the command


def test_plan_command_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "seed.toml"
    config.write_text((ROOT / "examples" / "seed_0.1.toml").read_text("utf-8"), "utf-8")
    code = main(["plan", str(config), "--win-rates", "0.55", "--horizon", "300", "--paths", "500"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(f"plan: {config}, each stage followed for 300 trades\n")
    assert "46.5%" in out


def test_plan_command_json_and_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "seed.toml"
    config.write_text((ROOT / "examples" / "seed_0.1.toml").read_text("utf-8"), "utf-8")
    trades = tmp_path / "trades.csv"
    rows = [f"2026-01-01T00:{i:02d}:00Z,{1 if i % 2 else -2},2\n" for i in range(20)]
    trades.write_text("opened,profit,stake\n" + "".join(rows), "utf-8")
    argv = ["plan", str(config), "--json", "--win-rates", "0.5,0.6", "--horizon", "100"]
    argv += ["--paths", "200", "--seed", "3", "--trades-per-day", "4", "--drop-to", "0.3"]
    argv += ["--trades", str(trades), "--pnl", "profit", "--size", "stake", "--time", "opened"]
    argv += ["--ev-levels", "0,0.2", "--payoff", "1,0.5", "--stake", "10"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["horizon"] == 100
    assert data["seed"] == 3
    assert data["win_rates"] == [0.5, 0.6]
    assert data["ev_levels"] == [0.0, 0.2]
    assert data["payoff"] == {"win": 1.0, "loss": 0.5, "size": 10.0, "source": "given"}
    assert data["trades_per_day"] == 4
    assert [r["level"] for r in data["kills"][0]["detection"]] == [0.3]
    first = data["transitions"][0]["rows"][0]
    assert first["method"] == "exact"
    assert "cdf" not in first


def test_plan_command_refuses_bad_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "seed.toml"
    config.write_text((ROOT / "examples" / "seed_0.1.toml").read_text("utf-8"), "utf-8")
    assert main(["plan", str(config), "--win-rates", "0.5,x"]) == 2
    assert "--win-rates takes numbers separated by commas" in capsys.readouterr().err
    assert main(["plan", str(config), "--win-rates", "5"]) == 2
    assert "win_rates must hold numbers from 0.0 to 1.0" in capsys.readouterr().err
    assert main(["plan", str(config), "--payoff", "1"]) == 2
    assert "--payoff takes WIN,LOSS" in capsys.readouterr().err


# ----------------------------------------------------------------------------- cost


def test_exact_plan_of_five_win_rates_over_2000_trades_is_fast() -> None:
    import time

    gate = Gate(min_n=50, min_win_rate=0.55, confidence=0.95, min_ev_per_dollar=None)
    config = _config(gate, Gate(min_n=150, min_win_rate=0.6, min_ev_per_dollar=0.02))
    start = time.perf_counter()
    report = plan(config, win_rates=[0.5, 0.55, 0.6, 0.65, 0.7], horizon=2000)
    elapsed = time.perf_counter() - start
    assert all(r.method == "exact" for t in report.transitions for r in t.rows)
    assert elapsed < 5.0  # about a second on a shared 2-CPU machine; generous for CI


def test_metrics_of_the_payoff_model_are_the_rollouts_metrics() -> None:
    from quant_rollout.planning.exact import metrics_for as _metrics_for

    payoff = Payoff(win=0.3, loss=0.7, size=1.1)
    for n, wins in ((1, 0), (7, 3), (100, 61)):
        trades = [TradeOutcome(0.3 * 1.1, 1.1, i) for i in range(wins)]
        trades += [TradeOutcome(-0.7 * 1.1, 1.1, i) for i in range(n - wins)]
        assert _metrics_for(n, wins, payoff) == compute_metrics(trades)


# ----------------------------------------------------------------------------- the README


def test_readme_side_by_side_table_holds_the_figures_of_the_plans_above_it() -> None:
    """tests/test_readme.py checks the plans' output; this, the table built from it."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_plan_readme.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    text = (ROOT / "README.md").read_text("utf-8")
    assert "$ quant-rollout plan examples/seed_0.1.toml " in text
    assert "$ quant-rollout plan examples/rollout.toml " in text


# ----------------------------------------------------------------------------- more criteria


def test_daily_loss_scan_fires_where_the_real_tracker_does() -> None:
    from quant_rollout.kill import MaxDailyLoss
    from quant_rollout.planning.scans import DailyLossScan as _DailyLossScan

    midnight = 1_777_593_600  # 2026-05-01T00:00:00Z
    pace, horizon = 7.5, 400
    payoff = Payoff(win=1.0, loss=1.5, size=2.0)
    for run in _runs(0.45, 40, horizon, payoff):
        trades = [
            TradeOutcome(pnl, size, midnight + (n - 1) / pace * 86_400)
            for n, (pnl, size) in enumerate(zip(run.pnl, run.size), start=1)
        ]
        limit = MaxDailyLoss(loss=9.0)
        assert _first(_DailyLossScan(9.0, pace), run, horizon) == _tracker_first(limit, trades)


def test_a_stage_reached_only_by_promote_has_no_gate_rows() -> None:
    report = plan(_config(None, CANARY), win_rates=[0.6], horizon=100, paths=100)
    first, second = report.transitions
    assert first.gate is None
    assert first.rows == ()
    assert second.rows[0].method == "exact"
    assert "gate 0 (baseline) -> 1 (s1): none (reached only by promote)" in format_plan(report)


def test_drop_to_adds_a_detection_row_and_custom_criteria_are_simulated() -> None:
    class Custom:
        name = "my_check"

        def evaluate(self, trades: Sequence[TradeOutcome]) -> Any:
            return False, None

    kill = KillSwitch(wr_lookback=20, wr_threshold=0.5, criteria=(Custom(),))
    report = plan(_config(kill=kill), win_rates=[0.6], horizon=200, paths=300, drop_to=0.4)
    (k,) = report.kills
    assert [r.level for r in k.detection] == [0.4]
    assert k.detection[0].probability > k.rows[0].probability
    assert not k.detection[0].false_alarm
    # A custom criterion has no model: it is simulated (asked after every trade).
    assert "my_check has no exact model: simulated, asked after every trade" in k.notes
    assert k.kill_switch == "win_rate(20) < 0.5 or ev_per_dollar(100) < 0.025 or my_check"


def test_streak_and_lone_cusum_kill_switches_are_exact() -> None:
    streak = KillSwitch(wr_threshold=None, ev_threshold=None, criteria=(MaxConsecutiveLosses(6),))
    report = plan(_config(kill=streak), win_rates=[0.5], horizon=300)
    row = _kill_row(report, 0.5)
    assert row.method == "exact"
    assert row.cdf[-1] == pytest.approx(_chain_alarm_cdf(0.5, 6, 1, 6, 300)[-1], abs=0)
    assert report.kills[0].tolerated is None
    assert not row.false_alarm


def test_report_is_plain_json() -> None:
    report = plan(_seed_config(), win_rates=[0.45, 0.7], horizon=200, paths=100)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["payoff"] == {"win": 1.0, "loss": 1.0, "size": 1.0, "source": "default"}
    assert [t["to_stage"] for t in data["transitions"]] == ["1 (canary)", "2 (full_size)"]
    assert data["kills"][0]["stages"] == ["0 (baseline)", "1 (canary)", "2 (full_size)"]
    assert Payoff().describe() == (
        "a win makes +1 per dollar of size, a loss -1 (even money; the default); stake 1 a trade"
    )
