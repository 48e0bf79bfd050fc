"""Gates: when the evidence of a stage lets the rollout advance, and why not."""

from __future__ import annotations

import math
from typing import Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_rollout.errors import ConfigError, RolloutError
from quant_rollout.gates import CriterionProgress, Gate, GateResult, GateVerdict
from quant_rollout.metrics import Metrics


def _m(
    n: int = 100,
    wins: Optional[int] = None,
    win_rate: float = 1.0,
    total_pnl: float = 10.0,
    total_size: float = 100.0,
    ev: Optional[float] = None,
) -> Metrics:
    return Metrics(
        n=n,
        wins=round(win_rate * n) if wins is None else wins,
        win_rate=win_rate,
        total_pnl=total_pnl,
        total_size=total_size,
        ev_per_dollar=total_pnl / total_size if ev is None else ev,
    )


GOOD = _m()


# ----------------------------------------------------------------------------- 0.1 reasons


@pytest.mark.parametrize(
    ("gate", "metrics", "days", "reason"),
    [
        (Gate(min_n=10), _m(n=5), None, "n=5 < 10"),
        (Gate(min_win_rate=0.6), _m(win_rate=0.5), None, "win_rate=0.500 < 0.600"),
        (Gate(min_ev_per_dollar=0.03), _m(ev=0.01), None, "ev_per_dollar=0.0100 < 0.0300"),
        (Gate(min_total_pnl=2.0), _m(total_pnl=1.0), None, "total_pnl=$1.00 < $2.00"),
        (Gate(min_days_after_prev=14), GOOD, 1.0, "days_since_prev=1.0 < 14.0"),
    ],
)
def test_failure_reasons_read_exactly_as_in_0_1(
    gate: Gate, metrics: Metrics, days: Optional[float], reason: str
) -> None:
    assert gate.evaluate(metrics, days_since_prev=days) == (False, reason)
    assert gate.judge(metrics, days_since_prev=days) == GateResult(GateVerdict.NOT_YET, reason)


def test_passing_gate_says_ok() -> None:
    gate = Gate(min_n=10, min_win_rate=0.6, min_ev_per_dollar=0.03, min_total_pnl=2.0)
    assert gate.evaluate(GOOD) == (True, "ok")
    result = gate.judge(GOOD)
    assert result.passes
    assert result == GateResult(GateVerdict.PASS, "ok")


def test_thresholds_are_inclusive() -> None:
    m = _m(n=10, win_rate=0.6, total_pnl=3.0, total_size=100.0)
    gate = Gate(min_n=10, min_win_rate=0.6, min_ev_per_dollar=0.03, min_total_pnl=3.0)
    assert gate.evaluate(m, days_since_prev=14.0) == (True, "ok")
    assert Gate(min_days_after_prev=14).evaluate(m, days_since_prev=14.0) == (True, "ok")


def test_the_first_failing_criterion_is_reported_in_0_1_order() -> None:
    gate = Gate(
        min_n=10,
        min_win_rate=0.6,
        min_ev_per_dollar=0.03,
        min_total_pnl=2.0,
        min_days_after_prev=14,
    )
    everything_bad = _m(n=5, win_rate=0.2, total_pnl=-1.0, total_size=10.0)
    assert gate.evaluate(everything_bad, days_since_prev=1)[1] == "n=5 < 10"
    assert gate.evaluate(_m(win_rate=0.2, total_pnl=-1.0), days_since_prev=1)[1] == (
        "win_rate=0.200 < 0.600"
    )
    assert gate.evaluate(_m(total_pnl=1.0), days_since_prev=1)[1] == (
        "ev_per_dollar=0.0100 < 0.0300"
    )
    assert gate.evaluate(_m(total_pnl=1.0, total_size=10.0), days_since_prev=1)[1] == (
        "total_pnl=$1.00 < $2.00"
    )
    assert gate.evaluate(GOOD, days_since_prev=1)[1] == "days_since_prev=1.0 < 14.0"
    assert gate.evaluate(GOOD, days_since_prev=14)[0]


# ----------------------------------------------------------------------------- defaults


def test_default_gate_refuses_a_losing_stage_like_0_1() -> None:
    losing = _m(win_rate=0.9, total_pnl=-5.0, total_size=100.0)
    assert Gate().evaluate(losing) == (False, "ev_per_dollar=-0.0500 < 0.0000")


def test_default_gate_passes_break_even_and_empty_evidence() -> None:
    assert Gate().evaluate(_m(total_pnl=0.0)) == (True, "ok")
    assert Gate().evaluate(Metrics.empty()) == (True, "ok")


@given(
    st.builds(
        _m,
        n=st.integers(0, 10_000),
        win_rate=st.floats(0, 1),
        total_pnl=st.floats(-1e9, 1e9),
        total_size=st.floats(1e-3, 1e9),
    ),
    st.none() | st.floats(0, 1e4),
)
def test_gate_without_an_ev_floor_passes_everything(m: Metrics, days: Optional[float]) -> None:
    assert Gate(min_ev_per_dollar=None).evaluate(m, days_since_prev=days) == (True, "ok")


def test_days_since_prev_none_counts_as_zero_days() -> None:
    gate = Gate(min_days_after_prev=0.5)
    assert gate.evaluate(GOOD, days_since_prev=None) == (False, "days_since_prev=0.0 < 0.5")
    assert gate.evaluate(GOOD) == gate.evaluate(GOOD, days_since_prev=0.0)


def test_no_days_criterion_ignores_days() -> None:
    assert Gate().evaluate(GOOD, days_since_prev=None) == (True, "ok")


# ----------------------------------------------------------------------------- progress


def test_progress_lists_each_set_criterion_observed_against_required_in_check_order() -> None:
    gate = Gate(
        min_n=10,
        min_win_rate=0.6,
        min_ev_per_dollar=0.03,
        min_total_pnl=2.0,
        min_days_after_prev=14,
    )
    m = _m(n=12, win_rate=0.5, total_pnl=5.0, total_size=100.0)
    assert gate.progress(m, days_since_prev=3.0) == (
        CriterionProgress("n", 12, 10, True),
        CriterionProgress("win_rate", 0.5, 0.6, False),
        CriterionProgress("ev_per_dollar", 0.05, 0.03, True),
        CriterionProgress("total_pnl", 5.0, 2.0, True),
        CriterionProgress("days_since_prev", 3.0, 14, False),
    )


def test_progress_of_the_default_gate_is_n_and_ev() -> None:
    names = [p.name for p in Gate().progress(GOOD)]
    assert names == ["n", "ev_per_dollar"]
    assert [p.name for p in Gate(min_ev_per_dollar=None).progress(GOOD)] == ["n"]


@given(
    st.builds(
        _m,
        n=st.integers(0, 1000),
        win_rate=st.floats(0, 1),
        total_pnl=st.floats(-1e6, 1e6),
        total_size=st.floats(1e-3, 1e6),
    ),
    st.floats(0, 100),
    st.builds(
        Gate,
        min_n=st.integers(0, 1000),
        min_win_rate=st.floats(0, 1),
        min_ev_per_dollar=st.none() | st.floats(-1, 1),
        min_total_pnl=st.none() | st.floats(-1e6, 1e6),
        min_days_after_prev=st.floats(0, 100),
    ),
)
def test_gate_passes_exactly_when_every_criterion_is_met(
    m: Metrics, days: float, gate: Gate
) -> None:
    progress = gate.progress(m, days_since_prev=days)
    passes, reason = gate.evaluate(m, days_since_prev=days)
    assert passes == all(p.met for p in progress)
    assert (reason == "ok") == passes
    for p in progress:
        assert p.met == (p.observed >= p.required)


# ----------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"min_win_rate": 60}, "min_win_rate"),
        ({"min_win_rate": -0.1}, "min_win_rate"),
        ({"min_win_rate": math.nan}, "min_win_rate"),
        ({"min_win_rate": "0.6"}, "min_win_rate"),
        ({"min_n": -1}, "min_n"),
        ({"min_n": 1.5}, "min_n"),
        ({"min_n": True}, "min_n"),
        ({"min_ev_per_dollar": math.nan}, "min_ev_per_dollar"),
        ({"min_ev_per_dollar": math.inf}, "min_ev_per_dollar"),
        ({"min_total_pnl": math.nan}, "min_total_pnl"),
        ({"min_total_pnl": "2"}, "min_total_pnl"),
        ({"min_days_after_prev": -1}, "min_days_after_prev"),
        ({"min_days_after_prev": math.nan}, "min_days_after_prev"),
        ({"min_days_after_prev": None}, "min_days_after_prev"),
    ],
)
def test_bad_gate_settings_raise_config_error_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError, match=f"Gate.{field} ") as info:
        Gate(**kwargs)  # type: ignore[arg-type]
    assert repr(next(iter(kwargs.values()))) in str(info.value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, RolloutError)


def test_percent_instead_of_fraction_says_what_was_meant() -> None:
    with pytest.raises(ConfigError, match=r"0\.6 means 60%"):
        Gate(min_win_rate=60)


def test_negative_ev_floor_is_allowed() -> None:
    gate = Gate(min_ev_per_dollar=-0.01)
    assert gate.evaluate(_m(total_pnl=-0.5, total_size=100.0)) == (True, "ok")
