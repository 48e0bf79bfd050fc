"""plan_experiment: the experiment pre-flight (Monte Carlo with the real comparison)."""

from __future__ import annotations

import math

import pytest

from quant_rollout.errors import ConfigError
from quant_rollout.planning.experiment import (
    _quantile_time,
    format_experiment_plan,
    plan_experiment,
)


def test_rows_show_the_false_winner_rate_and_the_power() -> None:
    plan = plan_experiment(0.5, (0.5, 0.65), horizon=1500, runs=300, seed=3)
    equal, better = plan.rows
    assert equal.false_winner
    assert not better.false_winner
    assert equal.p_winner <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 300)
    assert equal.median_trades is None
    assert better.p_winner > 0.95
    assert better.median_trades is not None
    assert better.trades_for_power is not None
    assert 150 < better.median_trades < better.trades_for_power < 1500
    assert better.p_winner_se == pytest.approx(
        math.sqrt(better.p_winner * (1 - better.p_winner) / 300)
    )


def test_a_margin_turns_a_small_gain_into_a_false_winner_row() -> None:
    plan = plan_experiment(0.5, (0.52,), margin=0.05, horizon=500, runs=200)
    assert plan.rows[0].false_winner
    assert plan.rows[0].p_winner <= 0.05


def test_figures_are_reproducible_from_the_seed() -> None:
    first = plan_experiment(0.5, (0.6,), horizon=400, runs=50, seed=9)
    again = plan_experiment(0.5, (0.6,), horizon=400, runs=50, seed=9)
    other = plan_experiment(0.5, (0.6,), horizon=400, runs=50, seed=10)
    assert first == again
    assert first != other


def test_uneven_weights_slow_the_comparison_down() -> None:
    even = plan_experiment(0.5, (0.65,), horizon=3000, runs=200, candidate_weight=0.5)
    uneven = plan_experiment(0.5, (0.65,), horizon=3000, runs=200, candidate_weight=0.1)
    assert even.rows[0].median_trades is not None
    assert uneven.rows[0].median_trades is not None
    assert uneven.rows[0].median_trades > 2 * even.rows[0].median_trades


def test_quantile_counts_runs_that_never_declared() -> None:
    assert _quantile_time([5, 3, 9], 4, 0.5) == 5
    assert _quantile_time([5, 3], 5, 0.5) is None
    assert _quantile_time([5, 3, 9], 4, 0.75) == 9


def test_the_table_marks_the_false_winner_rows() -> None:
    text = format_experiment_plan(plan_experiment(0.5, (0.5, 0.7), horizon=300, runs=40))
    lines = text.splitlines()
    assert lines[0].startswith("Experiment plan: win rate, candidate share 50%")
    assert lines[2].endswith("<- false-winner rate")
    assert not lines[3].endswith("<- false-winner rate")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"control_win_rate": 1.5}, "control_win_rate must be a fraction between 0 and 1"),
        ({"candidate_win_rates": ()}, "candidate_win_rates must list at least one"),
        ({"candidate_weight": 1.0}, "candidate_weight must be a fraction strictly between"),
        ({"horizon": 0}, "horizon must be a whole number >= 1"),
        ({"runs": 2.5}, "runs must be a whole number >= 1"),
        ({"margin": 1.0}, "margin must lie strictly between"),
        ({"confidence": 0.0}, "confidence must be strictly between"),
        ({"power": 1.0}, "power must be a fraction strictly between"),
        ({"seed": "x"}, "seed must be a whole number"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=message):
        plan_experiment(**kwargs)
