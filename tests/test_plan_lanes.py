"""The planner's all-runs-at-once Monte Carlo (planning/lanes.py) against the run-by-run
one (planning/runs.py): the same runs, so the same times to the last run; the CUSUM
threshold's faster search against plain bisection; a win-rate table extended against
the table computed whole."""

from __future__ import annotations

import functools
import math
import random
from typing import Any, Callable, Dict, Hashable, List, Optional, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_rollout import (
    EvPerDollarCusum,
    Gate,
    KillSwitch,
    MaxDrawdown,
    Payoff,
    Stage,
    WinRateCusum,
    plan,
)
from quant_rollout.engine import RolloutConfig
from quant_rollout.gates import BettingScan
from quant_rollout.kill.models import Drawdown
from quant_rollout.planning import lanes as _lanes
from quant_rollout.planning import setting as _setting
from quant_rollout.planning.runs import Bernoulli as _Bernoulli
from quant_rollout.planning.runs import GateRule as _GateRule
from quant_rollout.planning.runs import KillScan as _KillScan
from quant_rollout.planning.runs import KillTables as _KillTables
from quant_rollout.planning.runs import simulate as _simulate
from quant_rollout.planning.scans import CusumScan as _CusumScan
from quant_rollout.planning.scans import DrawdownScan as _DrawdownScan
from quant_rollout.planning.scans import EvCusumScan as _EvCusumScan
from quant_rollout.planning.scans import LeastWins as _LeastWins
from quant_rollout.planning.scans import SequentialGateScan as _SequentialGateScan
from quant_rollout.planning.scans import StreakScan as _StreakScan
from quant_rollout.stats import (
    cusum_alarm_probability,
    ev_cusum_threshold,
    win_rate_rejection_boundary,
    win_rate_upper_rejection_boundary,
)
from quant_rollout.stats import ev_cusum as _ev_cusum
from quant_rollout.stats.cusum import (
    _alarm_probability_units,
    bernoulli_cusum_scores,
    cusum_threshold,
)
from quant_rollout.tools.config import EXAMPLE_CONFIG, load_config

_SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_PAYOFFS = st.sampled_from(
    [Payoff(), Payoff(win=1.5, loss=1.0, size=2.0), Payoff(win=0.5, loss=0.75, size=4.0)]
)


def _kill_tables(factories: Dict[Hashable, Callable[[], _KillScan]]) -> _KillTables:
    keys = list(factories)
    tables: List[List[Hashable]] = [[k] for k in keys] + [keys, keys[::-1][:2]]

    def make() -> Dict[Hashable, _KillScan]:
        return {k: f() for k, f in factories.items()}

    return _KillTables(tables, make)


def _both(
    source: _Bernoulli, rule: Any, horizon: int, paths: int, seed: int, fast: Callable[..., Any]
) -> Any:
    slow = _simulate(lambda: source, rule, horizon, paths, seed, "row")
    quick = fast(source, rule, horizon, paths, seed, "row")
    return slow, quick


@_SLOW
@given(
    p=st.floats(0.3, 0.8),
    payoff=_PAYOFFS,
    limit=st.floats(0.5, 12.0),
    chain=st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 40)),
    reference=st.floats(-0.3, 0.3),
    threshold=st.floats(0.1, 8.0),
    skip=st.integers(0, 30),
    streak=st.integers(1, 6),
    paths=st.integers(1, 70),
    seed=st.integers(0, 2**32),
)
def test_kill_lanes_give_the_run_by_run_times(
    p: float,
    payoff: Payoff,
    limit: float,
    chain: Any,
    reference: float,
    threshold: float,
    skip: int,
    streak: int,
    paths: int,
    seed: int,
) -> None:
    horizon = 120
    win_units, loss_units, states = chain
    source = _Bernoulli(p, payoff, sums=True, trades=False)
    rule = _kill_tables(
        {
            "cusum": functools.partial(_CusumScan, win_units, loss_units, states),
            "drawdown": functools.partial(_DrawdownScan, Drawdown(limit, None, 0.0)),
            "ev": functools.partial(_EvCusumScan, reference, threshold, skip, payoff),
            "streak": functools.partial(_StreakScan, streak),
        }
    )
    slow, quick = _both(source, rule, horizon, paths, seed, _lanes.simulate_kill_lanes)
    assert quick == slow


def test_the_ev_cusum_screen_replays_the_runs_it_cannot_settle() -> None:
    # A threshold reached after whole steps exactly in real arithmetic: many runs land
    # within the rounding margin, and each must be replayed, not guessed.
    payoff = Payoff()
    source = _Bernoulli(0.45, payoff, sums=True, trades=False)
    rule = _kill_tables({"ev": functools.partial(_EvCusumScan, 0.0, 3.0, 0, payoff)})
    slow, quick = _both(source, rule, 300, 500, 7, _lanes.simulate_kill_lanes)
    assert quick == slow
    assert sum(t is not None for t in slow[0]) > 400


def test_kill_lanes_leave_what_they_cannot_follow_to_the_runs() -> None:
    source = _Bernoulli(0.5, Payoff(win=0.1, loss=0.1), sums=True, trades=False)
    for shape in (Drawdown(None, 0.1, 100.0), Drawdown(2.0, None, 0.0)):
        rule = _kill_tables({"d": functools.partial(_DrawdownScan, shape)})
        # A fraction of the peak, or a payoff whose sums round: run by run.
        assert _lanes.simulate_kill_lanes(source, rule, 50, 20, 0, "row") is None


def _least(horizon: int, rate: float, floor: int) -> List[int]:
    return [math.ceil(rate * n) if n >= floor else n + 1 for n in range(horizon + 1)]


@_SLOW
@given(
    p=st.floats(0.35, 0.8),
    payoff=_PAYOFFS,
    rate=st.floats(0.0, 0.7),
    floor=st.integers(0, 60),
    bar=st.floats(-0.2, 0.3),
    confidence=st.sampled_from([0.5, 0.8, 0.95]),
    lazy=st.integers(0, 2),
    paths=st.integers(1, 70),
    seed=st.integers(0, 2**32),
)
def test_gate_lanes_give_the_run_by_run_times(
    p: float,
    payoff: Payoff,
    rate: float,
    floor: int,
    bar: float,
    confidence: float,
    lazy: int,
    paths: int,
    seed: int,
) -> None:
    horizon = 150
    loss_bound = max(1.0, payoff.loss) if lazy != 2 else payoff.loss / 2  # 2: voided
    least = _least(horizon, rate, floor)
    bars = [bar, bar / 2][:lazy] if lazy else []

    def scans() -> Sequence[Any]:
        return (_LeastWins(least),)

    def betting() -> Sequence[Any]:
        return tuple(_SequentialGateScan(BettingScan(b, loss_bound, confidence, 0.5)) for b in bars)

    source = _Bernoulli(p, payoff, sums=False, trades=True)
    rule = _GateRule(False, scans, betting)
    slow, quick = _both(source, rule, horizon, paths, seed, _lanes.simulate_gate_lanes)
    assert quick == slow


def test_gate_lanes_leave_a_payoff_whose_sums_round_to_the_runs() -> None:
    source = _Bernoulli(0.6, Payoff(win=0.1, loss=0.1), sums=False, trades=True)
    rule = _GateRule(
        False,
        lambda: (_LeastWins(_least(50, 0.5, 10)),),
        lambda: (_SequentialGateScan(BettingScan(0.0, 1.0, 0.95, 0.5)),),
    )
    assert _lanes.simulate_gate_lanes(source, rule, 50, 20, 0, "row") is None


def test_lane_masks_and_rows_are_inverse() -> None:
    rows = [bytes((i * 7 + t * 3) % 5 == 0 for t in range(13)) for i in range(21)]
    masks = _lanes.lane_masks(rows, 13)
    for t, mask in enumerate(masks):
        assert mask == sum(row[t] << i for i, row in enumerate(rows))
    assert _lanes.lane_rows(masks, 21) == rows


def test_a_whole_plan_is_the_run_by_run_plan(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    path = tmp_path / "rollout.toml"
    path.write_text(EXAMPLE_CONFIG, "utf-8")
    config = load_config(path)
    own = RolloutConfig(
        (
            Stage(0, {}),
            Stage(1, {}, Gate(min_n=30, min_win_rate=0.55, min_ev_per_dollar=0.02, confidence=0.9)),
        ),
        KillSwitch(
            wr_threshold=None,
            ev_threshold=None,
            criteria=(
                WinRateCusum(unacceptable=0.45, expected=0.6),
                EvPerDollarCusum(unacceptable=0.0, expected=0.04, calibration_trades=20),
                MaxDrawdown(loss=9.0),
            ),
        ),
    )
    kwargs: Any = {"horizon": 300, "paths": 150, "drop_to": 0.5}
    fast = [plan(config, **kwargs), plan(own, **kwargs)]
    calls: List[str] = []

    def refuse(*args: Any, **_: Any) -> Optional[Any]:
        calls.append(args[-1] if isinstance(args[-1], str) else "row")
        return None

    monkeypatch.setattr(_setting, "simulate_kill_lanes", refuse)
    monkeypatch.setattr(_setting, "simulate_gate_lanes", refuse)
    slow = [plan(config, **kwargs), plan(own, **kwargs)]
    assert calls  # the fast paths were on the way, and were asked
    assert fast == slow


@settings(max_examples=30, deadline=None)
@given(
    p0=st.floats(0.3, 0.8),
    gap=st.floats(0.03, 0.25),
    horizon=st.integers(20, 400),
    probability=st.floats(0.001, 0.3),
)
def test_the_cusum_threshold_search_finds_bisections_answer(
    p0: float, gap: float, horizon: int, probability: float
) -> None:
    p1 = p0 - gap
    scores = bernoulli_cusum_scores(p0, p1)
    loss, win = scores.loss_units, scores.win_units

    def meets(states: int) -> bool:
        return _alarm_probability_units(loss, win, states, p0, horizon) <= probability

    high = 1
    while not meets(high):
        high *= 2
    low = high // 2
    while high - low > 1:  # plain bisection, as the search was before
        middle = (low + high) // 2
        if meets(middle):
            high = middle
        else:
            low = middle
    h = cusum_threshold(p0, p1, horizon=horizon, false_alarm_prob=probability)
    assert round(h * scores.units_per_nat) == high
    assert cusum_alarm_probability(p0, p1, h, p0, horizon) <= probability
    if high > 1:
        below = (high - 1) / scores.units_per_nat
        assert cusum_alarm_probability(p0, p1, below, p0, horizon) > probability


def test_gate_lanes_on_runs_that_pass_and_bet_long() -> None:
    # Most runs pass, some only after long betting: every kind of run is compared.
    payoff = Payoff()
    for p in (0.53, 0.6):
        source = _Bernoulli(p, payoff, sums=False, trades=True)
        rule = _GateRule(
            False,
            lambda: (_LeastWins(_least(400, 0.5, 20)),),
            lambda: (_SequentialGateScan(BettingScan(0.02, 1.0, 0.95, 0.5)),),
        )
        slow, quick = _both(source, rule, 400, 300, 3, _lanes.simulate_gate_lanes)
        assert quick == slow
        passed = [t for t in slow[0] if t is not None]
        assert len(set(passed)) > 10


def test_runs_in_batches_give_the_same_times(monkeypatch: pytest.MonkeyPatch) -> None:
    # Many runs or long horizons are followed a batch of runs at a time (memory).
    monkeypatch.setattr(_lanes, "_BATCH_BYTES", 200 * 13)  # batches of 13 runs
    payoff = Payoff()
    kill = _kill_tables(
        {
            "cusum": functools.partial(_CusumScan, 3, 4, 30),
            "drawdown": functools.partial(_DrawdownScan, Drawdown(6.0, None, 0.0)),
            "ev": functools.partial(_EvCusumScan, 0.05, 4.0, 10, payoff),
        }
    )
    source = _Bernoulli(0.5, payoff, sums=True, trades=False)
    slow, quick = _both(source, kill, 200, 101, 11, _lanes.simulate_kill_lanes)
    assert quick == slow
    gate = _GateRule(
        False,
        lambda: (_LeastWins(_least(200, 0.5, 20)),),
        lambda: (_SequentialGateScan(BettingScan(0.0, 1.0, 0.9, 0.5)),),
    )
    source = _Bernoulli(0.6, payoff, sums=False, trades=True)
    slow, quick = _both(source, gate, 200, 101, 11, _lanes.simulate_gate_lanes)
    assert quick == slow
    assert len(_lanes._batches(200, 101)) == 8


@settings(max_examples=20, deadline=None)
@given(
    bar=st.floats(0.3, 0.7),
    confidence=st.sampled_from([0.8, 0.95, 0.99]),
    first=st.integers(0, 300),
    more=st.integers(0, 300),
)
def test_a_win_rate_table_extended_is_the_table_computed_whole(
    bar: float, confidence: float, first: int, more: int
) -> None:
    horizon = first + more
    for table in (win_rate_rejection_boundary, win_rate_upper_rejection_boundary):
        short = table(bar, first, confidence)
        assert table(bar, horizon, confidence, prefix=short) == table(bar, horizon, confidence)


def test_ev_cusum_designs_sharing_draws_are_the_designs_drawn_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sample = [1.0] * 26 + [-1.0] * 24 + [0.5, -0.25]

    def designs() -> List[Any]:
        out = []
        for expected in (0.03, 0.025, 0.03):
            rng = random.Random(7)
            design = ev_cusum_threshold(sample, expected, 0.0, 150, 0.05, rng, paths=300)
            out.append((design, rng.random()))  # and where the generator was left
        return out

    kept = designs()
    monkeypatch.setattr(_ev_cusum, "_PICKS_LIMIT", 0)  # draw every path afresh
    monkeypatch.setattr(_ev_cusum, "_picks", {})
    assert designs() == kept
    assert kept[0] == kept[2]
    assert kept[0] != kept[1]
