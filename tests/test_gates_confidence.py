"""Confidence gates: anytime-valid win-rate and EV tests, three-way verdicts, reasons."""

from __future__ import annotations

import dataclasses
import math
import random
import re
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import T0
from quant_rollout import ManualClock, Rollout, RolloutAction, Stage, TradeOutcome
from quant_rollout.engine import RolloutConfig, decide
from quant_rollout.engine.state import RolloutState
from quant_rollout.errors import ConfigError, ConfigFileError
from quant_rollout.evidence import EvidenceFeed, gate_tracker_key
from quant_rollout.gates import CriterionProgress, Gate, GateProof, GateTracker, GateVerdict
from quant_rollout.gates import text as gates_text
from quant_rollout.gates import win_rate as gates_win_rate
from quant_rollout.kill import KillSwitch
from quant_rollout.metrics import Metrics, compute_metrics
from quant_rollout.stats import (
    BetaPrior,
    EVBettingTest,
    win_rate_e_value,
    win_rate_log_e_value,
    win_rate_lower_bound,
    win_rate_upper_bound,
    win_rate_upper_e_value,
)
from quant_rollout.storage.store import MemoryStore
from quant_rollout.tools.config import load_config
from quant_rollout.trades import format_instant, parse_instant

WR = Gate(min_win_rate=0.55, min_ev_per_dollar=None, confidence=0.95)
NO_KILL = KillSwitch(wr_threshold=None, ev_threshold=None)


def _m(wins: int, n: int) -> Metrics:
    return Metrics(n, wins, wins / n if n else 0.0, 0.0, 0.0, 0.0)


def _trades(returns: Sequence[float], size: float = 1.0, start: int = T0) -> List[TradeOutcome]:
    return [TradeOutcome(r * size, size, start + 60 * i) for i, r in enumerate(returns)]


# ----------------------------------------------------------------------------- fields


def test_confidence_defaults_to_none_and_keeps_0_1s_gate() -> None:
    gate = Gate(min_n=10, min_win_rate=0.6)
    assert gate.confidence is None
    assert gate.max_loss_per_dollar == 1.0
    assert gate.max_gain_per_dollar is None
    assert gate.revert_if_cannot_pass is False
    assert gate.tracker() is None
    assert gate.judge(_m(5, 10)).reason == "win_rate=0.500 < 0.600"


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"confidence": 0.0}, "confidence", "strictly between 0 and 1"),
        ({"confidence": 1.0}, "confidence", "strictly between 0 and 1"),
        ({"confidence": 95}, "confidence", "0.95 means 95%"),
        ({"confidence": math.nan}, "confidence", "finite"),
        ({"confidence": "0.95"}, "confidence", "number"),
        ({"max_loss_per_dollar": 0.0}, "max_loss_per_dollar", "> 0"),
        ({"max_loss_per_dollar": -1}, "max_loss_per_dollar", "> 0"),
        ({"max_loss_per_dollar": math.inf}, "max_loss_per_dollar", "finite"),
        ({"max_gain_per_dollar": 2.0}, "max_gain_per_dollar", "confidence gate"),
        ({"revert_if_cannot_pass": True}, "revert_if_cannot_pass", "confidence gate"),
        ({"confidence": 0.95, "revert_if_cannot_pass": 1}, "revert_if_cannot_pass", "true or"),
        ({"confidence": 0.95, "min_win_rate": 1.0}, "min_win_rate", "below 1"),
        ({"confidence": 0.95, "min_ev_per_dollar": -1.0}, "min_ev_per_dollar", "above -max"),
        (
            {"confidence": 0.95, "min_ev_per_dollar": 0.1, "max_gain_per_dollar": 0.1},
            "max_gain_per_dollar",
            "above min_ev_per_dollar",
        ),
    ],
)
def test_bad_confidence_settings_raise_config_error_naming_the_field(
    kwargs: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(ConfigError, match=f"^Gate.{field} ") as info:
        Gate(**kwargs)  # type: ignore[arg-type]
    assert words in str(info.value)
    assert repr(kwargs[field]) in str(info.value)


def test_a_looser_loss_bound_allows_a_lower_ev_bar() -> None:
    Gate(confidence=0.9, min_ev_per_dollar=-1.5, max_loss_per_dollar=2.0)


# ----------------------------------------------------------------------------- win rate


@pytest.mark.parametrize("bar", [0.3, 0.55, 0.8])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_win_rate_verdict_is_the_e_value_test(bar: float, confidence: float) -> None:
    gate = Gate(min_win_rate=bar, min_ev_per_dollar=None, confidence=confidence)
    level = 1 / (1 - confidence)
    # Past the first table (512 trades) too, so growing the table is covered.
    cases = [(w, n) for n in range(80) for w in range(n + 1)]
    cases += [(w, n) for n in (511, 512, 513, 600) for w in range(0, n + 1, 3)]
    for wins, n in cases:
        verdict = gate.verdict(_m(wins, n))
        passes = win_rate_e_value(wins, n, bar) >= level
        cannot = win_rate_upper_e_value(wins, n, bar) >= level
        assert verdict is (
            GateVerdict.PASS
            if passes
            else GateVerdict.CANNOT_PASS
            if cannot
            else GateVerdict.NOT_YET
        ), (wins, n)


def test_beyond_the_tables_the_e_values_are_evaluated_directly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gates_win_rate, "_TABLE_LIMIT", 50)
    monkeypatch.setattr(gates_win_rate, "_TABLES", {})
    level = math.log(20)
    for n in (49, 50, 80):
        for wins in range(n + 1):
            verdict = WR.verdict(_m(wins, n))
            assert (verdict is GateVerdict.PASS) == (win_rate_log_e_value(wins, n, 0.55) >= level)


def test_not_yet_reason_names_bound_bar_observed_n_and_trades_to_go() -> None:
    result = WR.judge(_m(54, 87))
    lower = win_rate_lower_bound(54, 87, 0.95, BetaPrior.above(0.55))
    assert result.verdict is GateVerdict.NOT_YET
    assert result.reason.startswith(
        f"win_rate lower bound {lower:.3f} < 0.550 (observed 0.621 over 87 trades, 95% anytime); "
        "about "
    )
    assert result.reason.endswith(" more trades at the observed rate")


def _rejects_along_the_observed_rate(wins: int, n: int, more: int) -> bool:
    total = n + more
    return win_rate_e_value(min(total, round(wins / n * total)), total, 0.55) >= 20


@pytest.mark.parametrize(("wins", "n"), [(8, 10), (30, 45), (54, 87), (70, 110)])
def test_trades_to_go_is_the_first_count_at_which_the_observed_rate_would_pass(
    wins: int, n: int
) -> None:
    more = gates_win_rate._win_rate_trades_to_pass(wins, n, 0.55, 0.95)
    assert more is not None
    assert _rejects_along_the_observed_rate(wins, n, more)
    assert not any(_rejects_along_the_observed_rate(wins, n, m) for m in range(more))


def test_trades_to_go_is_rounded_past_a_hundred() -> None:
    assert gates_text.about(87) == "87"
    assert gates_text.about(1234) == "1,200"
    assert gates_text.about(299) == "300"


def test_an_observed_rate_at_or_below_the_bar_would_never_pass() -> None:
    reason = WR.judge(_m(11, 20)).reason
    assert reason.endswith("; at the observed rate it would never pass")


def test_no_trades_says_so_without_an_estimate() -> None:
    assert WR.judge(Metrics.empty()).reason == (
        "win_rate lower bound 0.000 < 0.550 (observed 0.000 over 0 trades, 95% anytime)"
    )


def test_pass_reason_shows_the_bound_at_or_above_the_bar() -> None:
    result = WR.judge(_m(82, 123))
    assert result.verdict is GateVerdict.PASS
    lower = win_rate_lower_bound(82, 123, 0.95, BetaPrior.above(0.55))
    assert lower >= 0.55
    assert result.reason == (
        f"win_rate lower bound {lower:.3f} >= 0.550 (observed 0.667 over 123 trades, 95% anytime)"
    )


def test_cannot_pass_reason_shows_the_upper_bound_below_the_bar() -> None:
    result = WR.judge(_m(66, 150))
    assert result.verdict is GateVerdict.CANNOT_PASS
    upper = win_rate_upper_bound(66, 150, 0.95, BetaPrior.below(0.55))
    assert upper < 0.55
    assert result.reason == (
        f"win_rate upper bound {upper:.3f} < 0.550 (observed 0.440 over 150 trades, 95% anytime)"
    )


def test_bounds_that_print_equal_to_the_bar_get_more_digits() -> None:
    assert gates_text.below(0.54996, 0.55, 3) == "0.54996 < 0.55000"


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_progress_bounds_agree_with_the_verdict(wins_n: Tuple[int, int]) -> None:
    wins, n = wins_n
    m = _m(wins, n)
    (_, item) = WR.progress(m)
    verdict = WR.verdict(m)
    assert item.name == "win_rate"
    assert item.met == (verdict is GateVerdict.PASS)
    assert item.cannot_pass == (verdict is GateVerdict.CANNOT_PASS)
    assert item.lower_bound is not None
    assert item.upper_bound is not None
    assert (item.lower_bound >= 0.55) == item.met
    assert (item.upper_bound < 0.55) == item.cannot_pass
    assert item.lower_bound <= m.win_rate <= item.upper_bound


def test_a_cannot_pass_criterion_wins_over_an_earlier_unmet_one() -> None:
    gate = dataclasses.replace(WR, min_n=500)
    result = gate.judge(_m(66, 150))
    assert result.verdict is GateVerdict.CANNOT_PASS
    assert result.reason.startswith("win_rate upper bound")


def test_point_criteria_keep_their_0_1_reasons_in_a_confidence_gate() -> None:
    gate = dataclasses.replace(WR, min_n=200)
    assert gate.judge(_m(82, 123)).reason == "n=123 < 200"


# ----------------------------------------------------------------------------- EV per dollar


EV = Gate(min_ev_per_dollar=0.0, confidence=0.95)
EV_BOUNDED = Gate(min_ev_per_dollar=0.0, confidence=0.95, max_gain_per_dollar=1.0)


def _skewed(rng: random.Random, n: int, mean: float) -> List[float]:
    """Returns in [-1, inf): three losses in four, heavy-tailed gains, this mean."""
    out = []
    for _ in range(n):
        if rng.random() < 0.75:
            out.append(-rng.uniform(0.1, 1.0))
        else:
            out.append(0.55 * rng.paretovariate(1.5) + 4 * (mean))
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([-0.1, 0.0, 0.2, 0.5]))
def test_the_gate_tracker_is_the_stats_betting_test(seed: int, mean: float) -> None:
    rng = random.Random(seed)
    trades = [
        TradeOutcome(r * s, s, T0 + i)
        for i, (r, s) in enumerate(
            (r, rng.choice([1.0, 5.0, 20.0])) for r in _skewed(rng, 150, mean)
        )
    ]
    tracker = EV.tracker()
    cheap = EV.tracker(bounds=False)
    reference = EVBettingTest(0.0, 1.0, 0.95)
    assert tracker is not None
    assert cheap is not None
    for t in trades:
        tracker.add(t)
        cheap.add(t)
        reference.update(t.pnl, t.size)
        assert tracker.passes == cheap.passes == reference.rejected
        assert tracker.lower.log_e_value == reference.log_e_value
    bound = tracker.lower_bound
    assert bound is not None
    assert (bound >= 0.0) == tracker.passes or tracker.passes


def test_ev_reason_names_bound_bar_observed_n_and_trades_to_go() -> None:
    trades = _trades([0.3, 0.3, -0.4] * 10)
    result = EV.judge_trades(trades)
    assert result.verdict is GateVerdict.NOT_YET
    tracker = EV.tracker()
    assert tracker is not None
    for t in trades:
        tracker.add(t)
    lower = tracker.lower_bound
    assert lower is not None
    assert result.reason.startswith(
        f"ev_per_dollar lower bound {lower:.4f} < 0.0000 (observed 0.0667 over 30 trades, "
        "95% anytime); about "
    )


def test_ev_passes_after_enough_good_trades_and_says_why() -> None:
    result = EV.judge_trades(_trades([0.3, 0.3, 0.3, 0.3, -0.4] * 12))
    assert result.verdict is GateVerdict.PASS
    assert re.fullmatch(
        r"ev_per_dollar lower bound 0\.\d{4} >= 0\.0000 \(observed 0\.1600 over 60 trades, "
        r"95% anytime\)",
        result.reason,
    )


def test_ev_cannot_pass_needs_a_gain_bound() -> None:
    losing = _trades([0.3, -0.4, -0.4] * 70)
    assert EV.judge_trades(losing).verdict is GateVerdict.NOT_YET
    result = EV_BOUNDED.judge_trades(losing)
    assert result.verdict is GateVerdict.CANNOT_PASS
    assert result.reason.startswith("ev_per_dollar upper bound -0.")
    assert "< 0.0000 (observed -0.1667 over 210 trades, 95% anytime)" in result.reason


def test_a_loss_beyond_the_bound_voids_the_ev_criterion_for_the_window() -> None:
    trades = _trades([0.5] * 100)
    trades.insert(10, TradeOutcome(-1.5, 1.0, T0 + 30))
    result = EV.judge_trades(trades)
    assert result.verdict is GateVerdict.NOT_YET
    assert result.reason.startswith(
        "ev_per_dollar cannot be judged: a trade lost more than max_loss_per_dollar=1.0 of its "
        "size (pnl=-1.5 on size=1.0)"
    )
    assert (
        Gate(min_ev_per_dollar=0.0, confidence=0.95, max_loss_per_dollar=2.0)
        .judge_trades(trades)
        .passes
    )


def test_a_gain_beyond_the_bound_switches_off_cannot_pass_only() -> None:
    losing = _trades([0.3, -0.4, -0.4] * 70)
    losing.insert(0, TradeOutcome(5.0, 1.0, T0 - 60))
    tracker = EV_BOUNDED.tracker()
    assert tracker is not None
    for t in losing:
        tracker.add(t)
    assert tracker.gain_breach == "pnl=5.0 on size=1.0"
    assert not tracker.cannot_pass
    assert tracker.upper_bound is None
    assert EV_BOUNDED.judge_trades(losing).verdict is GateVerdict.NOT_YET


def test_size_zero_trades_are_skipped_by_the_ev_test() -> None:
    tracker = EV.tracker()
    assert tracker is not None
    tracker.add(TradeOutcome(0.0, 0.0, T0))
    assert tracker.n == 0


def test_trades_to_pass_is_none_when_the_mean_is_not_above_the_bar() -> None:
    tracker = EV.tracker()
    assert tracker is not None
    for t in _trades([0.3, -0.4] * 10):
        tracker.add(t)
    assert tracker.trades_to_pass() is None
    assert EV.judge_trades(_trades([0.3, -0.4] * 10)).reason.endswith(
        "; at the observed rate it would never pass"
    )


def test_a_confidence_ev_gate_needs_its_tracker_once_there_are_trades() -> None:
    with pytest.raises(ConfigError, match=r"pass tracker=gate\.tracker"):
        EV.judge(compute_metrics(_trades([0.1])))
    # With no trades the answer is exact without one.
    assert EV.judge(Metrics.empty()).verdict is GateVerdict.NOT_YET
    with pytest.raises(ConfigError, match="must be a GateTracker"):
        EV.judge(Metrics.empty(), tracker=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="needs a Gate with confidence"):
        GateTracker(Gate())


def test_judge_trades_sorts_by_time() -> None:
    trades = _trades([0.3, 0.3, 0.3, 0.3, -0.4] * 12)
    assert EV.judge_trades(list(reversed(trades))) == EV.judge_trades(trades)


def test_progress_of_a_confidence_gate_carries_the_bounds() -> None:
    gate = Gate(min_n=10, min_win_rate=0.55, min_ev_per_dollar=0.0, confidence=0.95)
    trades = _trades([0.3, 0.3, 0.3, 0.3, -0.4] * 12)
    tracker = gate.tracker()
    assert tracker is not None
    for t in trades:
        tracker.add(t)
    m = compute_metrics(trades)
    n, wr, ev = gate.progress(m, tracker=tracker)
    assert n == CriterionProgress("n", 60, 10, True)
    # Shown bounds are bisected to 1e-6, always on the safe side of the exact ones.
    exact_low = win_rate_lower_bound(48, 60, 0.95, BetaPrior.above(0.55))
    exact_high = win_rate_upper_bound(48, 60, 0.95, BetaPrior.below(0.55))
    assert wr.lower_bound is not None
    assert wr.upper_bound is not None
    assert exact_low - 1e-6 <= wr.lower_bound <= exact_low
    assert exact_high <= wr.upper_bound <= exact_high + 1e-6
    assert ev.met
    assert ev.lower_bound == tracker.lower_bound
    assert ev.upper_bound is None  # no gain bound


# ----------------------------------------------------------------------------- proof


def test_proof_of_a_confidence_gate_is_its_own_bounds() -> None:
    gate = Gate(min_win_rate=0.55, min_ev_per_dollar=0.0, confidence=0.95)
    trades = _trades([0.3, 0.3, 0.3, 0.3, -0.4] * 30)
    tracker = gate.tracker()
    assert tracker is not None
    for t in trades:
        tracker.add(t)
    m = compute_metrics(trades)
    proof = gate.proof(m, tracker=tracker)
    assert proof == GateProof(
        n=150,
        win_rate=0.8,
        ev_per_dollar=m.ev_per_dollar,
        win_rate_lower=proof.win_rate_lower,
        ev_per_dollar_lower=tracker.lower_bound,
    )
    exact = win_rate_lower_bound(120, 150, 0.95, BetaPrior.above(0.55))
    assert proof.win_rate_lower is not None
    assert exact - 1e-6 <= proof.win_rate_lower <= exact  # bisected to 1e-6, safe side


def test_proof_of_a_point_gate_bounds_the_win_rate_only() -> None:
    m = _m(40, 50)
    proof = Gate(min_n=50).proof(m)
    assert proof.win_rate_lower == win_rate_lower_bound(40, 50, 0.95)
    assert proof.ev_per_dollar_lower is None


# ----------------------------------------------------------------------------- the machine

STAGES = (
    Stage(0, {"p": 0}, name="baseline"),
    Stage(1, {"p": 1}, gate=WR, name="canary"),
    Stage(2, {"p": 2}, gate=Gate(min_ev_per_dollar=0.0, confidence=0.95), name="full"),
)


def _stamp(seconds: int) -> str:
    return format_instant(seconds * 1_000_000)


def _state(stage: int = 0) -> RolloutState:
    return RolloutState(
        current_stage=stage,
        ship_timestamps={} if stage == 0 else {str(stage): _stamp(T0)},
        started_at=_stamp(T0),
        stage_entered_at=_stamp(T0),
        evidence_since=None if stage == 0 else _stamp(T0),
        updated_at=_stamp(T0),
    )


def _tick(
    cfg: RolloutConfig, state: RolloutState, trades: Sequence[TradeOutcome], now: int
) -> Tuple[RolloutAction, str, RolloutState]:
    since = None if state.evidence_since is None else parse_instant(state.evidence_since)
    feed = EvidenceFeed(cfg.recent_capacity, cfg.make_trackers)
    evidence = feed.evidence(list(trades), since, cfg.epoch(state))
    step = decide(cfg, state, evidence, now * 1_000_000)
    return step.decision.action, step.decision.reason, step.state


def _wl(wins: int, losses: int, start: int = T0 + 60) -> List[TradeOutcome]:
    outcomes = [1.0] * wins + [-1.0] * losses
    random.Random(wins * 1000 + losses).shuffle(outcomes)
    return [TradeOutcome(p, 1.0, start + 60 * i) for i, p in enumerate(outcomes)]


def test_the_machine_waits_with_the_bound_in_its_reason() -> None:
    cfg = RolloutConfig(STAGES, NO_KILL, 0)
    action, reason, _ = _tick(cfg, _state(), _wl(54, 33), T0 + 10**5)
    assert action is RolloutAction.NOOP
    assert reason.startswith("gate not yet met: win_rate lower bound 0.")
    # The first window of a stage tests at 96% of a 95% gate's level: restarts spend
    # the rest (quant_rollout.stats.spending).
    assert "(observed 0.621 over 87 trades, 96% anytime); about " in reason


def test_an_advance_records_what_the_gate_evidence_proved() -> None:
    cfg = RolloutConfig(STAGES, NO_KILL, 0)
    trades = _wl(90, 30)
    action, reason, state = _tick(cfg, _state(), trades, T0 + 10**5)
    assert action is RolloutAction.ADVANCE
    assert reason.startswith("gate passed: win_rate lower bound 0.")
    assert state.current_stage == 1
    assert (state.gate_n, state.gate_win_rate, state.gate_ev_per_dollar) == (120, 0.75, 0.5)
    exact = win_rate_lower_bound(90, 120, 0.96, BetaPrior.above(0.55))  # window 1: 96%
    assert state.proven_win_rate is not None
    assert exact - 1e-6 <= state.proven_win_rate <= exact  # bisected to 1e-6, safe side
    assert state.proven_ev_per_dollar is None  # the canary gate has no EV criterion


def test_a_veto_window_names_the_proof_and_its_expiry_records_it() -> None:
    cfg = RolloutConfig(STAGES, NO_KILL, 600)
    trades = _wl(90, 30)
    action, reason, state = _tick(cfg, _state(), trades, T0 + 10**5)
    assert action is RolloutAction.VETO_OPEN
    assert reason.startswith("gate passed: win_rate lower bound 0.")
    assert reason.endswith("; veto window opened")
    action, _, state = _tick(cfg, state, trades, T0 + 10**5 + 601)
    assert action is RolloutAction.VETO_EXPIRED
    assert state.gate_n == 120
    assert state.proven_win_rate is not None


def test_cannot_pass_without_the_opt_in_is_a_noop_that_says_so() -> None:
    cfg = RolloutConfig(STAGES, NO_KILL, 0)
    action, reason, state = _tick(cfg, _state(), _wl(60, 90), T0 + 10**5)
    assert action is RolloutAction.NOOP
    assert reason.startswith("gate to stage 1 (canary) cannot pass: win_rate upper bound 0.")
    assert reason.endswith("(the rollout stays; revert_if_cannot_pass would revert it)")
    assert state == _state()


def test_cannot_pass_with_the_opt_in_reverts_like_a_kill_and_latches() -> None:
    reverting = dataclasses.replace(WR, revert_if_cannot_pass=True)
    stages = (STAGES[0], STAGES[1], dataclasses.replace(STAGES[2], gate=reverting))
    cfg = RolloutConfig(stages, NO_KILL, 0)
    state = dataclasses.replace(_state(1), gate_n=120, gate_win_rate=0.75, gate_ev_per_dollar=0.5)
    action, reason, after = _tick(cfg, state, _wl(60, 90), T0 + 10**5)
    assert action is RolloutAction.KILL_TRIPPED
    assert reason.startswith("gate to stage 2 (full) cannot pass: win_rate upper bound 0.")
    assert after.current_stage == 0
    assert after.kill_switch_tripped
    assert after.kill_reason == reason
    assert after.gate_n is None  # stage 0 was not entered through a gate
    action, reason, _ = _tick(cfg, after, _wl(200, 0, T0 + 10**6), T0 + 2 * 10**6)
    assert action is RolloutAction.NOOP
    assert reason.startswith("kill switch tripped: gate to stage 2 (full) cannot pass")


def test_cannot_pass_reverts_while_paused_too() -> None:
    reverting = dataclasses.replace(WR, revert_if_cannot_pass=True)
    cfg = RolloutConfig((STAGES[0], dataclasses.replace(STAGES[1], gate=reverting)), NO_KILL, 0)
    paused = dataclasses.replace(_state(), paused=True)
    action, _, _ = _tick(cfg, paused, _wl(60, 90), T0 + 10**5)
    assert action is RolloutAction.KILL_TRIPPED


def test_make_trackers_builds_the_next_gates_ev_test() -> None:
    cfg = RolloutConfig(STAGES, NO_KILL, 0)
    assert cfg.make_trackers((0, None)) == {}  # the canary gate tests win rate only
    trackers = cfg.make_trackers(cfg.epoch(_state(1)))
    assert list(trackers) == [gate_tracker_key(2)]
    assert isinstance(trackers["gate[2]"], GateTracker)
    assert cfg.make_trackers((2, None)) == {}  # the last stage has no next gate


# ----------------------------------------------------------------------------- the shell


def test_a_rollout_with_confidence_gates_advances_and_shows_its_bounds() -> None:
    clock = ManualClock(T0)
    rollout = Rollout(STAGES, NO_KILL, store=MemoryStore(), veto_window_seconds=0, clock=clock)
    rng = random.Random(1)
    trades: List[TradeOutcome] = []
    advanced_at: Optional[int] = None
    for i in range(400):
        trades.append(TradeOutcome(1.0 if rng.random() < 0.7 else -1.0, 1.0, T0 + 60 * i))
        clock.set(T0 + 60 * i + 30)
        decision = rollout.tick(trades, open_trades=())  # each trade closes at once
        if decision.action is RolloutAction.ADVANCE:
            advanced_at = i
            break
    assert advanced_at is not None
    status = rollout.status(trades, open_trades=())
    assert status.stage.num == 1
    assert status.state.proven_win_rate is not None
    assert status.gate_result is not None
    assert status.gate_result.reason.startswith("ev_per_dollar lower bound")
    assert status.gate_progress is not None
    assert status.gate_progress[-1].lower_bound is not None


# ----------------------------------------------------------------------------- config files


def test_confidence_gate_fields_load_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "rollout.toml"
    path.write_text(
        "[kill_switch]\n[[stages]]\nnum = 0\nparams = {}\n[[stages]]\nnum = 1\nparams = {}\n"
        "gate = { min_win_rate = 0.55, confidence = 0.95, max_loss_per_dollar = 0.05, "
        "max_gain_per_dollar = 0.1, revert_if_cannot_pass = true }\n",
        encoding="utf-8",
    )
    gate = load_config(path).stages[1].gate
    assert gate == Gate(
        min_win_rate=0.55,
        confidence=0.95,
        max_loss_per_dollar=0.05,
        max_gain_per_dollar=0.1,
        revert_if_cannot_pass=True,
    )


def test_a_bad_confidence_in_a_file_names_file_key_and_value(tmp_path: Path) -> None:
    path = tmp_path / "rollout.toml"
    path.write_text(
        "[kill_switch]\n[[stages]]\nnum = 0\nparams = {}\n[[stages]]\nnum = 1\nparams = {}\n"
        "gate = { confidence = 95 }\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    assert info.value.key == "stages[1].gate.confidence"
    assert str(info.value).startswith(f"{path}: stages[1].gate.confidence: must be strictly")
    assert "got 95" in str(info.value)
