"""Protect: kill criteria named by what they protect, their levels, and how plans word them."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import List, Optional, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import minute_trade
from quant_rollout import (
    ConfigError,
    EvPerDollarCusum,
    Gate,
    KillSwitch,
    MaxDrawdown,
    Protect,
    Stage,
    TradeOutcome,
)
from quant_rollout.engine import RolloutConfig
from quant_rollout.errors import ConfigFileError
from quant_rollout.gates import GateProof, Verdict
from quant_rollout.kill import PURPOSES
from quant_rollout.planning import Payoff, format_plan, plan
from quant_rollout.tools.config import load_config

SAMPLE = tuple([1.0] * 11 + [-1.0] * 9)  # even-money returns, a fixed bootstrap sample


# ----------------------------------------------------------------------------- levels


@pytest.mark.parametrize(
    ("protect", "unacceptable"),
    [
        (Protect("losing_money", expected=0.1), 0.0),
        (Protect("below_baseline", baseline=0.04, expected=0.1), 0.04),
        (Protect("below_proven", unacceptable=0.02, expected=0.1), 0.02),
    ],
)
def test_each_purpose_sets_the_level_its_chart_must_catch(
    protect: Protect, unacceptable: float
) -> None:
    chart = protect.cusum
    assert isinstance(chart, EvPerDollarCusum)
    assert chart.unacceptable == unacceptable == protect.level
    assert chart.expected == 0.1
    assert protect.name == "protect"
    assert protect.against in PURPOSES


def test_without_an_expected_level_it_runs_at_what_the_stage_proved() -> None:
    protect = Protect("losing_money", sample_returns=SAMPLE)
    proof = GateProof(n=200, win_rate=0.6, ev_per_dollar=0.2, ev_per_dollar_lower=0.08)
    running = protect.tracker(proof)
    assert running.judge().verdict is Verdict.NOT_MET
    assert "expected 0.0800, unacceptable 0.0000" in running.judge().reason
    idle = protect.tracker(None)
    assert idle.judge().verdict is Verdict.OFF
    assert "no expected EV per dollar" in idle.judge().reason


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"against": "losing"}, "Protect.against must be one of losing_money, below_baseline"),
        ({"against": 3}, "got 3"),
        ({"against": "below_baseline"}, "Protect.baseline is required with"),
        ({"against": "below_proven"}, "Protect.unacceptable is required with"),
        ({"against": "losing_money", "baseline": 0.1}, "Protect.baseline is only for"),
        ({"against": "losing_money", "unacceptable": 0.1}, "Protect.unacceptable is only for"),
        ({"against": "losing_money", "expected": -0.1}, "Protect.expected must be above"),
        ({"against": "losing_money", "horizon": 0}, "Protect.horizon"),
        ({"against": "below_baseline", "baseline": "x"}, "Protect.baseline"),
    ],
)
def test_bad_settings_name_the_field_and_value(kwargs: dict, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        Protect(**kwargs)
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        (
            '{ kind = "protect", against = "loosing_money" }',
            "kill_switch.criteria[0].against",
            "'loosing_money'",
        ),
        (
            '{ kind = "protect", against = "below_baseline" }',
            "kill_switch.criteria[0]",
            "Protect.baseline is required with against='below_baseline'",
        ),
        (
            '{ kind = "protect", agains = "losing_money" }',
            "kill_switch.criteria[0].agains",
            "did you mean 'against'?",
        ),
    ],
)
def test_bad_config_names_file_key_and_value(
    tmp_path: Path, table: str, key: str, words: str
) -> None:
    path = tmp_path / "rollout.toml"
    path.write_text(
        f"[kill_switch]\ncriteria = [{table}]\n[[stages]]\nnum = 0\nparams = {{}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    assert info.value.key == key
    assert str(info.value).startswith(f"{path}: {key}: ")
    assert words in str(info.value)


def test_a_config_file_names_the_purpose(tmp_path: Path) -> None:
    path = tmp_path / "rollout.toml"
    path.write_text(
        "[kill_switch]\n"
        "[[kill_switch.criteria]]\n"
        'kind = "protect"\nagainst = "below_baseline"\nbaseline = 0.02\nexpected = 0.1\n'
        "[[stages]]\nnum = 0\nparams = {}\n",
        encoding="utf-8",
    )
    (criterion,) = load_config(path).kill_switch.criteria
    assert criterion == Protect("below_baseline", baseline=0.02, expected=0.1)


# ----------------------------------------------------------------------------- at run time


def _trades(win_rate: float, n: int, seed: int) -> List[TradeOutcome]:
    rng = random.Random(seed)
    return [minute_trade(i, 1.0 if rng.random() < win_rate else -1.0) for i in range(n)]


def _alarm(tracker: object, trades: Sequence[TradeOutcome]) -> Optional[int]:
    for i, t in enumerate(trades):
        tracker.add(t)  # type: ignore[attr-defined]
        if tracker.state() is Verdict.MET:  # type: ignore[attr-defined]
            return i + 1
    return None


@pytest.mark.parametrize("seed", range(5))
def test_it_fires_exactly_where_its_chart_does_and_says_why_in_its_words(seed: int) -> None:
    """The purpose is a name for two levels, not another statistic: the same trades
    trip it and the plain EV CUSUM with those levels at the same trade."""
    trades = _trades(0.45, 1500, seed)
    protect = Protect("losing_money", expected=0.1)
    plain = EvPerDollarCusum(0.0, expected=0.1)
    mine, theirs = protect.tracker(None), plain.tracker(None)
    at = _alarm(mine, trades)
    assert at is not None
    assert at == _alarm(theirs, trades)
    reason = mine.judge().reason
    assert reason.startswith("protect against losing_money: CUSUM ")
    assert (
        reason[len("protect against losing_money: ") :]
        == theirs.judge().reason[len("ev_per_dollar_cusum: ") :]
    )


def test_a_kill_switch_trips_with_the_purpose_in_its_reason() -> None:
    kill = KillSwitch(
        wr_threshold=None,
        ev_threshold=None,
        criteria=(Protect("losing_money", expected=0.1, sample_returns=SAMPLE),),
    )
    tripped, reason = kill.evaluate(_trades(0.3, 600, 1))
    assert tripped
    assert reason is not None
    assert reason.startswith("protect against losing_money: ")


# ----------------------------------------------------------------------------- monotone in returns


def _first_alarm(criterion: object, pnls: Sequence[float]) -> Optional[int]:
    tracker = criterion.tracker(None)  # type: ignore[attr-defined]
    return _alarm(tracker, [minute_trade(i, p) for i, p in enumerate(pnls)])


@settings(max_examples=60, deadline=None)
@given(
    pnls=st.lists(st.sampled_from([1.0, -1.0]), min_size=1, max_size=400),
    raise_at=st.integers(min_value=0, max_value=399),
)
def test_a_better_trade_never_brings_a_kill_sooner(pnls: List[float], raise_at: int) -> None:
    """Why the plan may say "at least" for every losing level from the break-even row:
    turn a loss into a win and neither the chart nor the drawdown fires earlier (a
    coupling of two stages, one doing better trade by trade)."""
    better = list(pnls)
    better[raise_at % len(pnls)] = 1.0
    for criterion in (
        Protect("losing_money", expected=0.2, sample_returns=SAMPLE, horizon=200),
        MaxDrawdown(loss=6.0),
    ):
        worse_at = _first_alarm(criterion, pnls)
        better_at = _first_alarm(criterion, better)
        assert better_at is None or (worse_at is not None and worse_at <= better_at)


# ----------------------------------------------------------------------------- in a plan


def _config(*criteria: object, gate: Optional[Gate] = None) -> RolloutConfig:
    return RolloutConfig(
        stages=(
            Stage(0, {}, name="baseline"),
            Stage(1, {}, name="canary", gate=gate or Gate(min_n=10**9)),
        ),
        kill_switch=KillSwitch(wr_threshold=None, ev_threshold=None, criteria=tuple(criteria)),
    )


def test_the_plan_says_what_the_kill_switch_does_for_the_money() -> None:
    config = _config(Protect("losing_money", expected=0.2, sample_returns=SAMPLE, horizon=300))
    report = plan(config, win_rates=[0.45, 0.65], horizon=300, paths=300)
    (kill,) = report.kills
    assert kill.purposes == ("losing money (EV per dollar at or below 0)",)
    assert kill.break_even == 0.5
    levels = [r.level for r in kill.money_rows()]
    # break-even, halfway (+0.10/$: where the chart's steps have mean 0) and the
    # level where false kills are stated (+0.20/$), besides the rows asked for
    assert levels == [0.45, 0.5, 0.55, 0.6, 0.65]
    assert [r.ev_per_dollar for r in kill.money_rows()] == pytest.approx([-0.1, 0.0, 0.1, 0.2, 0.3])
    assert [r.losing for r in kill.money_rows()] == [True, True, False, False, False]
    zero = kill.money_rows()[1]
    said = kill.protection(300)
    assert said is not None
    assert said.startswith("protects against losing money (EV per dollar at or below 0): ")
    assert f"is killed with at least {100 * zero.probability:.1f}% within 300 trades" in said
    text = format_plan(report)
    assert "money: protects against losing money" in text
    assert "break-even" in text
    assert report.to_dict()["kills"][0]["protection"] == said


def test_the_break_even_row_is_exact_when_the_kill_is_a_lone_win_rate_chart() -> None:
    """The money rows take the criteria's own methods: a lone win-rate CUSUM stays
    exact, and its break-even row is its chain's (checked against the chain itself)."""
    from quant_rollout import WinRateCusum
    from quant_rollout.stats import cusum_alarm_probability

    criterion = WinRateCusum(unacceptable=0.45, expected=0.65)
    report = plan(
        _config(criterion), win_rates=[0.6], horizon=500, payoff=Payoff(win=1.5, loss=1.0)
    )
    (kill,) = report.kills
    assert kill.break_even == pytest.approx(0.4)
    row = next(r for r in kill.money_rows() if math.isclose(r.level, 0.4))
    assert row.method == "exact"
    assert row.ev_per_dollar == pytest.approx(0.0)
    h = criterion.threshold(0.65)
    assert row.probability == pytest.approx(
        cusum_alarm_probability(0.65, 0.45, h, 0.4, 500), abs=1e-12
    )
    # halfway between expected and unacceptable, in win rate
    assert any(math.isclose(r.level, 0.55) for r in kill.money)


def test_a_switch_with_no_criterion_running_has_no_protection_sentence() -> None:
    report = plan(_config(EvPerDollarCusum(0.0)), win_rates=[0.5], horizon=50, paths=100)
    assert all(k.protection(50) is None for k in report.kills)


def test_a_losing_stage_dies_after_about_threshold_over_drift_trades() -> None:
    """The delay the module quotes, ``h / (k - b)``, against Wald's identity: a chart
    with steps of mean ``k - r`` > 0 first reaching ``h`` from 0 takes E[T] trades with
    ``(k - r) E[T] = h + E[overshoot]`` when it never touches 0 again, and the
    overshoot is below one step (at most ``k + 1`` here). Simulated through the
    criterion's own tracker, 400 stages at EV per dollar -0.2 (40% at even money)."""
    protect = Protect("losing_money", expected=0.2, sample_returns=SAMPLE, horizon=300)
    reference, threshold = protect.cusum.design(SAMPLE, 0.2)
    assert reference == pytest.approx(0.1)  # halfway between 0.2 and 0
    drift = reference - (-0.2)
    rng = random.Random(5)
    times = []
    for _ in range(400):
        tracker = protect.tracker(None)
        n = 0
        while tracker.state() is not Verdict.MET:
            n += 1
            tracker.add(minute_trade(n, 1.0 if rng.random() < 0.4 else -1.0))
        times.append(n)
    mean = sum(times) / len(times)
    se = math.sqrt(sum((t - mean) ** 2 for t in times) / (len(times) - 1) / len(times))
    low, high = threshold / drift, (threshold + reference + 1.0) / drift
    # Returns to 0 can only add time; at this drift they add little.
    assert low - 3 * se <= mean <= 1.1 * high + 3 * se, (low, mean, high)
