"""Kill criteria: sequential CUSUMs, risk limits, custom criteria, and their trackers."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import T0
from helpers import minute_trade as _t
from quant_rollout import (
    EvPerDollarCusum,
    Gate,
    KillSwitch,
    ManualClock,
    MaxConsecutiveLosses,
    MaxDailyLoss,
    MaxDrawdown,
    Rollout,
    RolloutAction,
    Stage,
    TradeOutcome,
    WinRateCusum,
)
from quant_rollout.engine import RolloutConfig
from quant_rollout.errors import ConfigError, ConfigFileError
from quant_rollout.evidence import EvidenceFeed, StageEvidence, kill_tracker_key
from quant_rollout.gates import GateProof
from quant_rollout.kill import KillCriterionStatus
from quant_rollout.kill import win_rate_cusum as kill_wr
from quant_rollout.stats import (
    BernoulliCusum,
    EvCusum,
    cusum_alarm_probability,
    cusum_threshold,
    ev_cusum_threshold,
)
from quant_rollout.storage.store import MemoryStore
from quant_rollout.tools.config import load_config
from quant_rollout.trades import format_instant

PROOF = GateProof(
    n=120, win_rate=0.72, ev_per_dollar=0.2, win_rate_lower=0.6, ev_per_dollar_lower=0.05
)


def _feed(
    criterion: Any, trades: Sequence[TradeOutcome], proof: Optional[GateProof] = PROOF
) -> Any:
    tracker = criterion.tracker(proof)
    for t in trades:
        tracker.add(t)
    return tracker


# ----------------------------------------------------------------------------- win-rate CUSUM


def test_win_rate_cusum_solves_its_threshold_exactly_and_caches_it() -> None:
    c = WinRateCusum(unacceptable=0.45, expected=0.65, false_kill_prob=0.01, horizon=300)
    h = cusum_threshold(0.65, 0.45, horizon=300, false_alarm_prob=0.01)
    assert c.threshold(0.65) == h
    assert cusum_alarm_probability(0.65, 0.45, h, 0.65, 300) <= 0.01
    info = kill_wr._win_rate_threshold.cache_info()
    c.threshold(0.65)
    assert kill_wr._win_rate_threshold.cache_info().hits == info.hits + 1


def test_win_rate_cusum_runs_the_stats_chart_trade_by_trade() -> None:
    c = WinRateCusum(unacceptable=0.45, expected=0.65, trades_between_false_kills=2000)
    chart = BernoulliCusum(0.65, 0.45, cusum_threshold(0.65, 0.45, arl0=2000))
    tracker = c.tracker(None)
    rng = random.Random(2)
    for i in range(400):
        pnl = 1.0 if rng.random() < 0.5 else -1.0
        tracker.add(_t(i, pnl))
        if not chart.alarmed:
            chart.update(pnl > 0)
        assert tracker.verdict()[0] == chart.alarmed
    assert chart.alarmed  # a 50% strategy is caught within 400 trades here


def test_win_rate_cusum_reason_names_statistic_threshold_n_and_the_run() -> None:
    c = WinRateCusum(unacceptable=0.45, expected=0.65)
    trades = [_t(i, 1.0) for i in range(20)] + [_t(20 + i, -1.0) for i in range(30)]
    tracker = _feed(c, trades)
    tripped, reason = tracker.verdict()
    assert tripped
    chart = tracker.chart
    assert reason == (
        f"win_rate_cusum: CUSUM {chart.statistic:.2f} >= {chart.h:.2f} after {chart.n} trades "
        f"(win rate 0.000 over the last {chart.n - 20} trades; expected 0.650, "
        "unacceptable 0.450)"
    )
    # Latched: later wins do not change the verdict or its figures.
    tracker.add(_t(99, 1.0))
    assert tracker.verdict() == (True, reason)


def test_win_rate_cusum_counts_a_zero_pnl_as_a_loss() -> None:
    c = WinRateCusum(unacceptable=0.45, expected=0.65)
    tracker = _feed(c, [_t(0, 0.0)])
    assert tracker.chart.state_units == tracker.chart.scores.loss_units


def test_win_rate_cusum_defaults_to_what_the_gate_proved() -> None:
    tracker = WinRateCusum(unacceptable=0.45).tracker(PROOF)
    assert tracker.expected == 0.6  # the lower bound, not the observed 0.72
    assert "expected 0.600" in tracker.describe()


def test_win_rate_cusum_without_a_known_level_does_not_run_and_says_why() -> None:
    c = WinRateCusum(unacceptable=0.45)
    idle = c.tracker(None)
    assert idle.verdict() == (False, None)
    assert idle.describe().startswith(
        "not running: no expected win rate: this stage was not entered through a gate"
    )
    low = dataclasses.replace(PROOF, win_rate_lower=0.44)
    assert c.tracker(low).describe() == (
        "not running: the stage's gate proved a win rate of at least 0.440, not above the "
        "unacceptable 0.450; set expected= to run it"
    )
    assert c.evaluate([_t(i, -1.0) for i in range(500)]) == (False, None)


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"unacceptable": 0.0}, "unacceptable", "strictly between 0 and 1"),
        ({"unacceptable": 45}, "unacceptable", "0.6 means 60%"),
        ({"unacceptable": 0.5, "expected": 0.5}, "expected", "above unacceptable=0.5"),
        ({"unacceptable": 0.5, "false_kill_prob": 0.0}, "false_kill_prob", "strictly"),
        ({"unacceptable": 0.5, "horizon": 0}, "horizon", ">= 1"),
        (
            {"unacceptable": 0.5, "trades_between_false_kills": 0.5},
            "trades_between_false_kills",
            "between 1",
        ),
    ],
)
def test_win_rate_cusum_settings_are_checked(
    kwargs: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ConfigError, match=f"^WinRateCusum.{field} ") as info:
        WinRateCusum(**kwargs)
    assert words in str(info.value)


def test_a_cusum_takes_one_kind_of_target() -> None:
    with pytest.raises(ConfigError, match="not both"):
        WinRateCusum(unacceptable=0.45, false_kill_prob=0.01, trades_between_false_kills=1000)
    c = WinRateCusum(unacceptable=0.45)
    assert c.target.horizon == 2000
    assert c.target.probability == 0.05
    assert (
        "2.5% within 1,000 trades" in WinRateCusum(0.45, 0.6, 0.025, 1000).tracker(None).describe()
    )


# ----------------------------------------------------------------------------- EV CUSUM

SAMPLE = (0.3, 0.3, 0.3, -0.4, 0.5, -0.6, 0.2)


def test_ev_cusum_design_is_the_seeded_bootstrap_of_its_sample() -> None:
    c = EvPerDollarCusum(unacceptable=0.0, expected=0.1, sample_returns=SAMPLE, paths=500, seed=3)
    design = ev_cusum_threshold(SAMPLE, 0.1, 0.0, 2000, 0.05, random.Random(3), paths=500)
    assert c.design(SAMPLE, 0.1) == (design.reference, design.threshold)
    tracker = c.tracker(None)
    chart = EvCusum(design.reference, design.threshold)
    rng = random.Random(4)
    for i in range(300):
        t = _t(i, rng.choice(SAMPLE) - 0.12, rng.choice([1.0, 4.0]))
        tracker.add(t)
        if not chart.alarmed:
            chart.update(t.pnl, t.size)
        assert tracker.verdict()[0] == chart.alarmed
    assert chart.alarmed
    assert tracker.verdict()[1].startswith(
        f"ev_per_dollar_cusum: CUSUM {chart.statistic:.4f} >= {chart.threshold:.4f} after "
        f"{chart.n} trades (return per dollar "
    )
    assert tracker.verdict()[1].endswith("; expected 0.1000, unacceptable 0.0000)")


def test_ev_cusum_calibrates_on_the_stages_first_trades() -> None:
    c = EvPerDollarCusum(unacceptable=0.0, calibration_trades=5, paths=200)
    tracker = c.tracker(PROOF)
    assert tracker.expected == 0.05
    for i, r in enumerate(SAMPLE[:4]):
        tracker.add(_t(i, r))
    tracker.add(_t(4, 0.0, 0.0))  # size 0: skipped
    assert tracker.describe() == "calibrating: 4 of 5 trades for the bootstrap sample"
    tracker.add(_t(5, SAMPLE[4]))
    assert tracker.chart is not None
    assert (tracker.chart.reference, tracker.chart.threshold) == c.design(SAMPLE[:5], 0.05)
    assert tracker.chart.n == 0  # the calibration trades are not watched


def test_ev_cusum_cannot_bootstrap_from_equal_returns() -> None:
    tracker = _feed(EvPerDollarCusum(0.0, calibration_trades=3), [_t(i, 0.1) for i in range(5)])
    assert tracker.describe().startswith("not running: the stage's first 3 returns are all equal")
    assert tracker.verdict() == (False, None)


def test_ev_cusum_needs_a_proven_or_given_level() -> None:
    c = EvPerDollarCusum(unacceptable=0.0)
    no_ev = dataclasses.replace(PROOF, ev_per_dollar_lower=None)
    assert c.tracker(no_ev).describe() == (
        "not running: the stage's gate proved no EV per dollar (only a confidence gate with "
        "an EV criterion does); set expected= to run it"
    )
    low = dataclasses.replace(PROOF, ev_per_dollar_lower=-0.01)
    assert "not above the unacceptable 0.0000" in c.tracker(low).describe()


def test_an_arl_target_is_met_as_a_chance_within_at_most_2000_trades() -> None:
    c = EvPerDollarCusum(0.0, 0.1, trades_between_false_kills=40_000, sample_returns=SAMPLE)
    design = ev_cusum_threshold(
        SAMPLE, 0.1, 0.0, 2000, -math.expm1(-2000 / 40_000), random.Random(0), paths=2000
    )
    assert c.design(SAMPLE, 0.1) == (design.reference, design.threshold)


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"unacceptable": math.nan}, "unacceptable", "finite"),
        ({"unacceptable": 0.1, "expected": 0.0}, "expected", "above unacceptable"),
        ({"unacceptable": 0.0, "sample_returns": (0.1,)}, "sample_returns", "at least 2"),
        ({"unacceptable": 0.0, "sample_returns": (0.1, 0.1)}, "sample_returns", "not all equal"),
        ({"unacceptable": 0.0, "sample_returns": (0.1, "x")}, "sample_returns[1]", "number"),
        ({"unacceptable": 0.0, "sample_returns": "0.1"}, "sample_returns", "list"),
        ({"unacceptable": 0.0, "calibration_trades": 1}, "calibration_trades", ">= 2"),
        ({"unacceptable": 0.0, "paths": 10}, "paths", ">= 100"),
    ],
)
def test_ev_cusum_settings_are_checked(kwargs: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ConfigError, match=rf"^EvPerDollarCusum.{re_escape(field)} ") as info:
        EvPerDollarCusum(**kwargs)
    assert words in str(info.value)


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


def test_sample_returns_become_a_tuple() -> None:
    c = EvPerDollarCusum(0.0, sample_returns=[0.1, -0.2])  # type: ignore[arg-type]
    assert c.sample_returns == (0.1, -0.2)
    hash(c)


# ----------------------------------------------------------------------------- risk limits


def test_max_drawdown_in_money_is_stake_weighted_from_the_high_water_mark() -> None:
    c = MaxDrawdown(loss=100.0)
    # +50 on $500, then -2% on $1,000 (-20) and -10% on $100 (-10): 30 down, not 12%.
    trades = [_t(0, 50.0, 500.0), _t(1, -20.0, 1000.0), _t(2, -10.0, 100.0)]
    tracker = _feed(c, trades)
    assert tracker.verdict() == (False, None)
    assert (
        tracker.describe()
        == "drawdown 30.00 (peak pnl +50.00, now +20.00) of 100.00 after 3 trades"
    )
    tracker.add(_t(3, -70.0, 700.0))
    assert tracker.verdict() == (
        True,
        "max_drawdown: equity 100.00 below its high-water mark >= 100.00 (peak pnl +50.00, "
        "now -50.00, after 4 trades)",
    )


def test_max_drawdown_counts_from_the_start_when_it_only_loses() -> None:
    assert MaxDrawdown(loss=5.0).evaluate([_t(i, -1.0) for i in range(5)])[0]
    assert not MaxDrawdown(loss=5.0).evaluate([_t(i, -1.0) for i in range(4)])[0]


def test_max_drawdown_as_a_fraction_of_peak_equity() -> None:
    c = MaxDrawdown(fraction=0.1, capital=1000.0)
    trades = [_t(0, 100.0, 500.0), _t(1, -109.0, 500.0)]
    assert not c.evaluate(trades)[0]  # 109 of 1,100 = 9.9%
    trades.append(_t(2, -1.0, 10.0))
    assert c.evaluate(trades) == (
        True,
        "max_drawdown: equity 10.0% below its high-water mark >= 10.0% (peak equity 1,100.00, "
        "now 990.00, after 3 trades)",
    )


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({}, "needs loss"),
        ({"loss": 0.0}, "MaxDrawdown.loss must be > 0"),
        ({"fraction": 0.1}, "MaxDrawdown.capital is needed"),
        ({"fraction": 1.0, "capital": 10.0}, "MaxDrawdown.fraction must be strictly"),
        ({"loss": 1.0, "capital": -5.0}, "MaxDrawdown.capital must be > 0"),
    ],
)
def test_max_drawdown_settings_are_checked(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        MaxDrawdown(**kwargs)


def test_max_consecutive_losses_trips_on_the_nth_non_win_in_a_row() -> None:
    c = MaxConsecutiveLosses(losses=3)
    assert c.evaluate([_t(0, -1.0), _t(1, -1.0), _t(2, 1.0), _t(3, -1.0), _t(4, 0.0)]) == (
        False,
        None,
    )
    assert c.evaluate([_t(0, -1.0), _t(1, 0.0), _t(2, -2.0)]) == (
        True,
        "max_consecutive_losses: 3 losses in a row >= 3 (after 3 trades)",
    )
    with pytest.raises(ConfigError, match=r"MaxConsecutiveLosses\.losses must be >= 1"):
        MaxConsecutiveLosses(losses=0)


def test_max_daily_loss_nets_the_trades_of_each_utc_day() -> None:
    c = MaxDailyLoss(loss=50.0)
    day1 = "2026-05-01T23:30:00Z"
    day2_but_local_day1 = "2026-05-02T01:30:00+02:00"  # 2026-05-01T23:30Z: still day 1
    day2 = "2026-05-02T00:10:00Z"
    trades = [
        TradeOutcome(-30.0, 100.0, day1),
        TradeOutcome(+5.0, 100.0, "2026-05-01T10:00:00Z"),
        TradeOutcome(-24.0, 100.0, day2_but_local_day1),
        TradeOutcome(-40.0, 100.0, day2),
    ]
    assert c.evaluate(trades) == (False, None)  # day 1 nets -49, day 2 -40
    trades.append(TradeOutcome(-1.0, 1.0, "2026-05-01T12:00:00Z"))
    assert c.evaluate(trades) == (
        True,
        "max_daily_loss: trades opened on 2026-05-01 (UTC) lost 50.00 >= 50.00 over 4 trades",
    )
    with pytest.raises(ConfigError, match=r"MaxDailyLoss\.loss must be > 0"):
        MaxDailyLoss(loss=-1.0)


# ----------------------------------------------------------------------------- the switch


def test_the_seed_checks_can_be_switched_off() -> None:
    ks = KillSwitch(wr_threshold=None, ev_threshold=None)
    assert ks.lookback == 0
    assert ks.evaluate([_t(i, -1.0) for i in range(200)]) == (False, None)
    only_ev = KillSwitch(wr_lookback=5, wr_threshold=None, ev_lookback=3, ev_threshold=0.0)
    assert only_ev.lookback == 3
    assert only_ev.evaluate([_t(i, -1.0) for i in range(3)]) == (
        True,
        "ev_per_dollar(3)=-1.0000 < 0.0000",
    )


def test_any_criterion_fires_the_kill_seed_checks_first_then_in_order() -> None:
    ks = KillSwitch(
        wr_lookback=4,
        wr_threshold=0.5,
        ev_threshold=None,
        criteria=(MaxConsecutiveLosses(3), MaxDrawdown(loss=2.0)),
    )
    assert ks.evaluate([_t(0, -1.0), _t(1, -1.0)]) == (
        True,
        "max_drawdown: equity 2.00 below its high-water mark >= 2.00 (peak pnl +0.00, now "
        "-2.00, after 2 trades)",
    )
    assert ks.evaluate([_t(i, -0.1) for i in range(4)])[1] == "win_rate(4)=0.000 < 0.500"
    assert ks.evaluate([_t(i, -0.1) for i in range(3)])[1] == (
        "max_consecutive_losses: 3 losses in a row >= 3 (after 3 trades)"
    )


class _Batch:
    """A custom batch criterion: too many trades of size above 100."""

    name = "big_trades"

    def __init__(self) -> None:
        self.calls: List[int] = []

    def evaluate(self, trades: Sequence[TradeOutcome]) -> Tuple[bool, Optional[str]]:
        self.calls.append(len(trades))
        big = sum(t.size > 100 for t in trades)
        return (big >= 2, f"big_trades: {big} trades above 100 >= 2" if big >= 2 else None)


class _CountingTracker:
    order_sensitive = False

    def __init__(self) -> None:
        self.adds = 0

    def add(self, trade: TradeOutcome) -> None:
        self.adds += 1

    def verdict(self) -> Tuple[bool, Optional[str]]:
        return self.adds >= 1000, None

    def describe(self) -> str:
        return f"{self.adds} trades"


class _Incremental:
    def __init__(self) -> None:
        self.trackers: List[_CountingTracker] = []

    def tracker(self, proof: Optional[GateProof]) -> _CountingTracker:
        self.trackers.append(_CountingTracker())
        return self.trackers[-1]


def test_custom_criteria_compose_with_the_built_ins() -> None:
    batch = _Batch()
    ks = KillSwitch(wr_threshold=None, ev_threshold=None, criteria=(MaxDrawdown(loss=1e9), batch))
    trades = [_t(0, 1.0, 500.0), _t(1, 1.0, 50.0), _t(2, 1.0, 200.0)]
    assert ks.evaluate(list(reversed(trades))) == (True, "big_trades: 2 trades above 100 >= 2")
    assert batch.calls == [3]


def test_a_criterion_that_is_not_one_is_refused_naming_its_index() -> None:
    with pytest.raises(ConfigError, match=r"^KillSwitch.criteria\[1\] must be a kill criterion"):
        KillSwitch(criteria=(MaxDrawdown(loss=1.0), "max_drawdown"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="must be a tuple of kill criteria"):
        KillSwitch(criteria=MaxDrawdown(loss=1.0))  # type: ignore[arg-type]
    assert KillSwitch(criteria=[MaxDrawdown(loss=1.0)]).criteria == (MaxDrawdown(loss=1.0),)  # type: ignore[arg-type]


def test_a_criterion_returning_something_else_is_a_clear_error() -> None:
    class Bad:
        def evaluate(self, trades: Sequence[TradeOutcome]) -> Any:
            return "tripped"

    with pytest.raises(ConfigError, match="must return \\(tripped: bool, reason: str or None\\)"):
        KillSwitch(criteria=(Bad(),)).evaluate([_t(0, 1.0)])


def test_a_tripped_criterion_without_a_reason_gets_one() -> None:
    class Silent:
        def evaluate(self, trades: Sequence[TradeOutcome]) -> Tuple[bool, Optional[str]]:
            return True, None

    assert KillSwitch(wr_threshold=None, criteria=(Silent(),)).evaluate([]) == (
        True,
        "Silent tripped",
    )


def test_evidence_without_trackers_is_refused() -> None:
    ks = KillSwitch(criteria=(MaxDrawdown(loss=1.0),))
    with pytest.raises(ConfigError, match=r"RolloutConfig\.make_trackers"):
        ks.judge_evidence(StageEvidence(None, 1))


# ----------------------------------------------------------------------------- in a rollout

STAGES = (
    Stage(0, {"p": 0}),
    Stage(1, {"p": 1}, gate=Gate(min_n=20, min_ev_per_dollar=None), name="canary"),
)


def test_each_new_trade_is_added_once_to_every_tracker() -> None:
    custom = _Incremental()
    ks = KillSwitch(
        wr_threshold=None,
        ev_threshold=None,
        criteria=(WinRateCusum(0.45, expected=0.65), MaxConsecutiveLosses(50), custom),
    )
    clock = ManualClock(T0)
    rollout = Rollout(STAGES[:1], ks, store=MemoryStore(), clock=clock)
    trades: List[TradeOutcome] = []
    for i in range(300):
        trades.append(_t(i, 1.0 if i % 3 else -1.0))
        clock.set(T0 + 60 * i + 1)
        rollout.tick(trades)
    assert len(custom.trackers) == 1  # one window, never rebuilt
    assert custom.trackers[0].adds == 300  # each trade added once: no rescans


def test_a_rollout_kills_on_a_criterion_and_status_shows_each_one() -> None:
    ks = KillSwitch(
        wr_threshold=None,
        ev_threshold=None,
        criteria=(
            WinRateCusum(0.45, false_kill_prob=0.05, horizon=100),
            MaxConsecutiveLosses(4),
            EvPerDollarCusum(0.0, expected=0.2, calibration_trades=10, paths=200),
        ),
    )
    clock = ManualClock(T0)
    rollout = Rollout(STAGES, ks, store=MemoryStore(), veto_window_seconds=0, clock=clock)
    trades = [_t(i, 1.0 if i % 4 else -1.0) for i in range(30)]
    clock.set(T0 + 3600)
    assert rollout.tick(trades).action is RolloutAction.ADVANCE
    state = rollout.status().state
    assert state.gate_n == 30
    assert state.proven_win_rate is not None
    assert state.proven_ev_per_dollar is None
    trades += [_t(100 + i, 1.0) for i in range(5)]
    status = rollout.status(trades)
    assert status.kill_criteria == (
        KillCriterionStatus(
            "win_rate_cusum",
            "running",
            status.kill_criteria[0].detail if status.kill_criteria else "",
        ),
        KillCriterionStatus(
            "max_consecutive_losses", "running", "0 losses in a row of 4 after 5 trades"
        ),
        KillCriterionStatus(
            "ev_per_dollar_cusum", "calibrating", "5 of 10 trades for the bootstrap sample"
        ),
    )
    assert status.kill_criteria[0].detail.startswith("CUSUM 0.00 of ")
    trades += [_t(200 + i, -1.0) for i in range(4)]
    clock.set(T0 + 7200 + 300 * 60)
    decision = rollout.tick(trades)
    assert decision.action is RolloutAction.KILL_TRIPPED
    assert decision.reason == "max_consecutive_losses: 4 losses in a row >= 4 (after 9 trades)"


# ----------------------------------------------------------------------------- rebuilds


def _describe(evidence: StageEvidence, cfg: RolloutConfig, *, gate: bool = True) -> List[Any]:
    """The evidence's metrics and trackers; without ``gate``, not the gate's tracker.

    A gate judges the complete prefix append-only, and the feed is given no
    ``complete_before`` here: a trade opened before one it already judged joins its
    test at the end (``late``), which a fresh build, knowing no earlier ticks, puts
    in time order. That is the gate's documented exception (its bot said a trade had
    closed, and it had not); the kill switch has none.
    """
    out: List[Any] = [evidence.metrics()]
    for key in sorted(evidence.trackers):
        tracker: Any = evidence.trackers[key]
        if hasattr(tracker, "verdict"):
            out.append((key, tracker.verdict(), tracker.describe()))
        elif gate:
            out.append((key, tracker.passes, tracker.cannot_pass, tracker.lower_bound, tracker.n))
    return out


_ALL = KillSwitch(
    wr_lookback=5,
    wr_threshold=0.1,
    ev_threshold=None,
    criteria=(
        WinRateCusum(0.3, trades_between_false_kills=200),
        EvPerDollarCusum(-0.5, calibration_trades=4, paths=100),
        MaxDrawdown(loss=6.0),
        MaxDrawdown(fraction=0.2, capital=20.0),
        MaxConsecutiveLosses(6),
        MaxDailyLoss(loss=5.0),
    ),
)
_CFG = RolloutConfig(
    (
        Stage(0, {}),
        Stage(1, {}, gate=Gate(min_win_rate=0.5, confidence=0.9, max_gain_per_dollar=2.0)),
    ),
    _ALL,
    0,
)

_TRADES = st.lists(
    st.builds(
        TradeOutcome,
        pnl=st.sampled_from([-1.0, -0.5, 0.0, 0.4, 1.0, 1.5]),
        size=st.sampled_from([0.0, 1.0, 2.0]),
        timestamp=st.integers(T0, T0 + 3 * 86_400),
    ),
    max_size=60,
)


def _fed_in_list_order(
    trades: Sequence[TradeOutcome], proof: Optional[GateProof]
) -> List[Tuple[Any, str]]:
    """The definition: each criterion's fresh tracker fed the trades in list order."""
    out: List[Tuple[Any, str]] = []
    for c in _ALL.criteria:
        tracker: Any = c.tracker(proof)  # type: ignore[union-attr]
        for trade in trades:
            tracker.add(trade)
        out.append((tracker.verdict(), tracker.describe()))
    return out


def _kill_states(evidence: StageEvidence) -> List[Tuple[Any, str]]:
    out: List[Tuple[Any, str]] = []
    for i in range(len(_ALL.criteria)):
        tracker: Any = evidence.trackers[kill_tracker_key(i)]
        out.append((tracker.verdict(), tracker.describe()))
    return out


@settings(max_examples=60, deadline=None)
@given(_TRADES, st.lists(st.integers(0, 60), max_size=6), st.sampled_from([None, PROOF]))
def test_incremental_evidence_with_trackers_equals_a_rebuild(
    trades: List[TradeOutcome], cuts: List[int], proof: Optional[GateProof]
) -> None:
    """Feeding a growing list tick by tick gives the trackers of one full rebuild, and
    the kill's trackers hold what the list fed in its own order gives: a late trade
    (opened before trades already counted) is added at the end, never replayed."""
    epoch = (0, None, proof)
    feed = EvidenceFeed(_CFG.recent_capacity, _CFG.make_trackers)
    for cut in [*sorted(cuts), len(trades)]:
        prefix = trades[:cut]
        incremental = feed.evidence(prefix, None, epoch)
        rebuilt = EvidenceFeed(_CFG.recent_capacity, _CFG.make_trackers).evidence(
            prefix, None, epoch
        )
        assert _describe(incremental, _CFG, gate=not incremental.late) == _describe(
            rebuilt, _CFG, gate=not incremental.late
        )
        assert _ALL.judge_evidence(incremental) == _ALL.judge_evidence(rebuilt)
        assert _kill_states(incremental) == _fed_in_list_order(prefix, proof)
        ordered = sorted(prefix, key=lambda t: t.instant_us)
        assert (
            _ALL.judge_evidence(rebuilt)[0]
            == any(
                c.evaluate(prefix, proof)[0]
                for c in _ALL.criteria  # type: ignore[union-attr]
            )
            or _ALL.judge_recent(ordered[-5:], len(ordered))[0]
        )
        assert _ALL.judge_evidence(rebuilt) == (
            _ALL.evaluate(prefix) if proof is None else _ALL.judge_evidence(rebuilt)
        )


@settings(max_examples=60, deadline=None)
@given(
    _TRADES,
    st.lists(
        st.tuples(
            st.sampled_from(["grow", "drop_first", "forget", "new_epoch"]), st.integers(0, 9)
        ),
        max_size=8,
    ),
    st.sampled_from([None, PROOF]),
)
def test_a_rebuild_gives_the_kill_trackers_the_state_of_the_incremental_path(
    trades: List[TradeOutcome], edits: List[Tuple[str, int]], proof: Optional[GateProof]
) -> None:
    """Whatever made the feed rebuild (the list lost its first trade, a restart, a new
    window), the kill's trackers hold exactly what a feed that only ever grew holds."""
    feed = EvidenceFeed(_CFG.recent_capacity, _CFG.make_trackers)
    current: List[TradeOutcome] = []
    pool = list(trades)
    window = 0
    for kind, n in [*edits, ("grow", 60)]:
        if kind == "grow":
            current, pool = current + pool[:n], pool[n:]
        elif kind == "drop_first":
            current = current[1:]
        elif kind == "forget":
            feed.forget()
        else:
            window = 1 - window  # the other stage: a new window
        epoch = (window, None, proof)
        evidence = feed.evidence(current, None, epoch)
        fresh = EvidenceFeed(_CFG.recent_capacity, _CFG.make_trackers).evidence(
            current, None, epoch
        )
        assert _describe(evidence, _CFG, gate=not evidence.late) == _describe(
            fresh, _CFG, gate=not evidence.late
        )
        assert _kill_states(evidence) == _fed_in_list_order(current, proof)


def test_a_late_trade_is_added_at_the_end_of_the_kill_charts() -> None:
    """A trade opened before trades already counted changes each chart only by being
    added last (0.2 replayed the window in time order, re-drawing the charts' paths)."""
    cusum = WinRateCusum(0.45, expected=0.65, false_kill_prob=0.025, horizon=2000)
    switch = KillSwitch(
        wr_threshold=None,
        ev_threshold=None,
        criteria=(cusum, MaxDrawdown(loss=50.0), MaxConsecutiveLosses(3)),
    )
    cfg = RolloutConfig((Stage(0, {}),), switch, 0)
    feed = EvidenceFeed(cfg.recent_capacity, cfg.make_trackers)
    epoch = (0, None, None)
    # Two losses, then a win: the chart stands above 0; then a loss opened first.
    trades = [_t(10, -1.0), _t(11, -1.0), _t(12, 1.0)]
    before = feed.evidence(trades, None, epoch)
    chart: Any = before.trackers[kill_tracker_key(0)]
    expected = BernoulliCusum(0.65, 0.45, cusum.threshold(0.65))
    for win in (False, False, True):
        expected.update(win)
    assert chart.chart.state_units == expected.state_units > 0
    after = feed.evidence([*trades, _t(1, -1.0)], None, epoch)
    expected.update(False)
    chart = after.trackers[kill_tracker_key(0)]
    assert (chart.chart.n, chart.chart.state_units) == (4, expected.state_units)
    assert after is before  # no rebuild: the same evidence, one trade longer
    # In time order the late loss would have come first: L L L W, three in a row.
    streak: Any = after.trackers[kill_tracker_key(2)]
    assert (streak.streak, streak.tripped) == (1, False)
    drawdown: Any = after.trackers[kill_tracker_key(1)]
    assert (drawdown.peak, drawdown.equity) == (0.0, -2.0)


# ----------------------------------------------------------------------------- config files

TOML = """\
[kill_switch]
wr_threshold = "none"
ev_threshold = "none"

[[kill_switch.criteria]]
kind = "win_rate_cusum"
unacceptable = 0.45
false_kill_prob = 0.025
horizon = 2000

[[kill_switch.criteria]]
kind = "ev_per_dollar_cusum"
unacceptable = 0.0
expected = "none"
sample_returns = [0.3, -0.4, 0.5]

[[kill_switch.criteria]]
kind = "max_drawdown"
fraction = 0.1
capital = 1000

[[kill_switch.criteria]]
kind = "max_consecutive_losses"
losses = 8

[[kill_switch.criteria]]
kind = "max_daily_loss"
loss = 50

[[stages]]
num = 0
params = {}
"""

EXPECTED = KillSwitch(
    wr_threshold=None,
    ev_threshold=None,
    criteria=(
        WinRateCusum(0.45, false_kill_prob=0.025, horizon=2000),
        EvPerDollarCusum(0.0, sample_returns=(0.3, -0.4, 0.5)),
        MaxDrawdown(fraction=0.1, capital=1000),
        MaxConsecutiveLosses(8),
        MaxDailyLoss(50),
    ),
)


def test_kill_criteria_load_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "rollout.toml"
    path.write_text(TOML, encoding="utf-8")
    assert load_config(path).kill_switch == EXPECTED


def test_kill_criteria_load_from_json(tmp_path: Path) -> None:
    doc = {
        "kill_switch": {
            "wr_threshold": None,
            "ev_threshold": None,
            "criteria": [
                {
                    "kind": "win_rate_cusum",
                    "unacceptable": 0.45,
                    "false_kill_prob": 0.025,
                    "horizon": 2000,
                },
                {
                    "kind": "ev_per_dollar_cusum",
                    "unacceptable": 0.0,
                    "sample_returns": [0.3, -0.4, 0.5],
                },
                {"kind": "max_drawdown", "fraction": 0.1, "capital": 1000},
                {"kind": "max_consecutive_losses", "losses": 8},
                {"kind": "max_daily_loss", "loss": 50},
            ],
        },
        "stages": [{"num": 0, "params": {}}],
    }
    path = tmp_path / "rollout.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert load_config(path).kill_switch == EXPECTED


@pytest.mark.parametrize(
    ("criteria", "key", "words"),
    [
        ('"win_rate_cusum"', "kill_switch.criteria", "must be a list of criterion tables"),
        (
            "[{ unacceptable = 0.4 }]",
            "kill_switch.criteria[0].kind",
            "missing: say which criterion",
        ),
        (
            '[{ kind = "win_rate_cusm", unacceptable = 0.4 }]',
            "kill_switch.criteria[0].kind",
            "unknown kind 'win_rate_cusm'; did you mean 'win_rate_cusum'?",
        ),
        (
            '[{ kind = "max_drawdown", loss = 1 }, { kind = "win_rate_cusum", unacceptable = 45 }]',
            "kill_switch.criteria[1].unacceptable",
            "got 45",
        ),
        (
            '[{ kind = "max_daily_loss", los = 5 }]',
            "kill_switch.criteria[0].los",
            "did you mean 'loss'?",
        ),
        ('[{ kind = "max_consecutive_losses" }]', "kill_switch.criteria[0].losses", "missing"),
        ("[5]", "kill_switch.criteria[0]", "must be a table"),
    ],
)
def test_bad_kill_criteria_name_file_key_and_value(
    tmp_path: Path, criteria: str, key: str, words: str
) -> None:
    path = tmp_path / "rollout.toml"
    path.write_text(
        f"[kill_switch]\ncriteria = {criteria}\n[[stages]]\nnum = 0\nparams = {{}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    assert info.value.key == key
    assert str(info.value).startswith(f"{path}: {key}: ")
    assert words in str(info.value)


def test_the_recommended_config_uses_confidence_gates_and_sequential_kills() -> None:
    from quant_rollout.tools.config import EXAMPLE_CONFIG

    path_text = EXAMPLE_CONFIG
    assert 'kind = "protect"\nagainst = "losing_money"\nexpected = 0.10' in path_text
    assert 'kind = "max_drawdown"\nloss = 50.0' in path_text
    assert "confidence = 0.95" in path_text


def test_the_daily_loss_reason_uses_the_utc_date() -> None:
    assert format_instant(T0 * 1_000_000)[:10] == "2026-05-01"


# ----------------------------------------------------------------------------- the command


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    from quant_rollout.tools.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def recommended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from quant_rollout.tools.config import EXAMPLE_CONFIG

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUANT_ROLLOUT_NOW", "2026-05-01T00:00:00Z")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("QUANT_ROLLOUT_CONFIG", raising=False)
    path = tmp_path / "rollout.toml"
    path.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    rng = random.Random(1)
    rows = ["timestamp,pnl,size"] + [
        f"2026-04-30T{i // 60:02d}:{i % 60:02d}:00Z,{5.0 if rng.random() < 0.7 else -5.0},5.0"
        for i in range(70)
    ]
    (tmp_path / "trades.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_validate_lists_each_kill_criterion(
    recommended: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, "validate", str(recommended))
    assert code == 0
    assert "kill      lookback checks off (wr_threshold, ev_threshold: none)\n" in out
    assert (
        "          protect against='losing_money' expected=0.1 false_kill_prob=0.025 horizon=2000\n"
        in out
    )
    assert "          max_drawdown loss=50.0\n" in out
    assert "n>=50, win_rate>0.6, ev_per_dollar>0.03 at 95% confidence" in out


def test_status_shows_the_bounds_and_where_each_kill_criterion_stands(
    recommended: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = ("--closed-through", "2026-05-01T00:00:00Z")
    code, out, _ = _cli(
        capsys, "--config", str(recommended), "status", "--trades", "trades.csv", *closed
    )
    assert code == 0
    assert "          protect: calibrating: against losing_money: 50 of 50 trades" not in out
    assert "          protect: running: against losing_money: CUSUM 0.0000 of" in out
    assert "          max_drawdown: running: drawdown 0.00 (peak pnl +140.00, now +140.00)" in out
    assert "  criterion             observed     95% bound    required  met\n" in out
    assert "  win_rate                   0.7       >=0.546         0.6  no\n" in out
    assert "  ev_per_dollar              0.4     >=-0.0022        0.03  no\n" in out
    code, out, _ = _cli(
        capsys, "--config", str(recommended), "status", "--trades", "trades.csv", "--json", *closed
    )
    data = json.loads(out)
    assert data["gate_proof"] is None
    assert [k["name"] for k in data["kill_criteria"]] == ["protect", "max_drawdown"]
    assert data["kill_criteria"][1]["state"] == "running"
    win_rate = data["gate_progress"]["criteria"][1]
    assert win_rate["name"] == "win_rate"
    assert 0.54 < win_rate["lower_bound"] < 0.6  # the first window's level: 96%


def test_status_shows_what_the_gate_proved_after_an_advance(
    recommended: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = ManualClock("2026-05-01T00:00:00Z")
    rollout = Rollout.from_config(recommended, clock=clock)
    rng = random.Random(2)
    trades = [
        TradeOutcome(5.0 if rng.random() < 0.8 else -5.0, 5.0, T0 - 86_400 + 60 * i)
        for i in range(200)
    ]
    assert rollout.tick(trades, open_trades=()).action is RolloutAction.VETO_OPEN
    clock.advance(minutes=31)
    assert rollout.tick(trades, open_trades=()).action is RolloutAction.VETO_EXPIRED
    state = rollout.status().state
    code, out, _ = _cli(capsys, "--config", str(recommended), "status")
    assert code == 0
    assert (
        f"proof     the gate passed on 200 trades: win rate {state.gate_win_rate:.3f} (proven >= "
        f"{state.proven_win_rate:.3f}), EV/$ {state.gate_ev_per_dollar:.4f} (proven >= "
        f"{state.proven_ev_per_dollar:.4f})"
    ) in " ".join(out.split()).replace("proof the", "proof     the")


# ----------------------------------------------------------------------------- the state


def test_the_proven_level_is_rounded_down_to_a_hundredth() -> None:
    proof = dataclasses.replace(PROOF, win_rate_lower=0.6389)
    tracker = WinRateCusum(0.45, false_kill_prob=0.05, horizon=100).tracker(proof)
    assert tracker.expected == 0.63  # type: ignore[attr-defined]


def test_the_state_keeps_the_gate_proof_and_checks_it() -> None:
    from quant_rollout.engine.state import RolloutState
    from quant_rollout.errors import CorruptStateError

    state = RolloutState(
        current_stage=1,
        gate_n=120,
        gate_win_rate=0.75,
        gate_ev_per_dollar=0.2,
        proven_win_rate=0.61,
        proven_ev_per_dollar=0.05,
    )
    assert RolloutState.from_dict(json.loads(state.to_json())) == state
    for key, bad in (
        ("gate_n", -1),
        ("gate_n", 1.5),
        ("gate_win_rate", 1.5),
        ("proven_win_rate", "0.6"),
        ("gate_ev_per_dollar", math.inf),
        ("proven_ev_per_dollar", True),
    ):
        data = state.to_dict()
        data[key] = bad
        with pytest.raises(CorruptStateError, match=f"field '{key}'"):
            RolloutState.from_dict(data)
    v01 = {"current_stage": 1, "ship_timestamps": {"1": "2026-05-01T00:00:00Z"}}
    upgraded = RolloutState.from_dict(v01)
    assert (upgraded.gate_n, upgraded.proven_win_rate, upgraded.proven_ev_per_dollar) == (
        None,
        None,
        None,
    )
