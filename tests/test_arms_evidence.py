"""ExperimentEvidence: arms tallied, compared with control, SRM, winner and drops."""

from __future__ import annotations

import json
import random
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_rollout.arms import Arm, Experiment, Metric, Router
from quant_rollout.arms.evidence import (
    ARM_KEY,
    ExperimentEvidence,
    Verdict,
    arm_of,
    format_experiment,
)
from quant_rollout.errors import ConfigError, CorruptStateError, InvalidTradeError
from quant_rollout.kill import KillSwitch, MaxConsecutiveLosses
from quant_rollout.metrics import compute_metrics
from quant_rollout.trades import MIN_NONZERO_SIZE, TradeOutcome

T0 = 1_700_000_000


def _experiment(**kwargs: Any) -> Experiment:
    return Experiment(
        (
            Arm("control", {"max_price": 0.6}),
            Arm("cheap", {"max_price": 0.5}),
            Arm("dear", {"max_price": 0.7}),
        ),
        "control",
        **kwargs,
    )


def _trade(arm: Optional[str], pnl: float, i: int = 0, size: float = 10.0) -> TradeOutcome:
    metadata: Dict[str, Any] = {} if arm is None else {ARM_KEY: arm}
    return TradeOutcome(pnl=pnl, size=size, timestamp=T0 + i, metadata=metadata)


def _run(
    evidence: ExperimentEvidence,
    win_rates: Dict[str, float],
    signals: int,
    seed: int = 1,
    stop_at_winner: bool = True,
) -> int:
    router = Router(evidence.experiment, evidence.weights)
    rng = random.Random(seed)
    for i in range(signals):
        arm = router.route(f"signal-{seed}-{i}").name
        evidence.add_opportunities({arm: 1})
        win = rng.random() < win_rates[arm]
        evidence.add_trade(_trade(arm, 10.0 if win else -10.0, i), i)
        if stop_at_winner and evidence.report().winner:
            return i
    return signals


def test_a_better_candidate_wins_and_a_worse_one_is_proposed_for_dropping() -> None:
    evidence = ExperimentEvidence(_experiment())
    _run(evidence, {"control": 0.5, "cheap": 0.75, "dear": 0.25}, 3000, stop_at_winner=False)
    report = evidence.report()
    assert report.winner == "cheap"
    assert report.worse == ("dear",)
    assert not report.srm_alarm
    cheap = report.arm("cheap")
    comparison = cheap.comparison(Metric.WIN_RATE)
    assert comparison is not None
    assert comparison.verdict is Verdict.BETTER
    assert 0.0 <= comparison.lower < 0.25 < comparison.upper
    assert cheap.comparison(Metric.EV_PER_DOLLAR) is None  # no gain bound: not compared
    assert [r.name for r in report.arms] == ["control", "cheap", "dear"]
    assert sum(r.trades for r in report.arms) == 3000
    assert sum(r.opportunities for r in report.arms) == 3000
    assert "arm 'cheap' beats control 'control' on win_rate" in report.reason


def test_equal_arms_produce_no_winner() -> None:
    evidence = ExperimentEvidence(_experiment())
    _run(evidence, {"control": 0.55, "cheap": 0.55, "dear": 0.55}, 1500, seed=4)
    report = evidence.report()
    assert report.winner is None
    assert report.reason == "no candidate is better than control on win_rate yet"


def test_the_deciding_metric_can_be_pnl_per_opportunity() -> None:
    # cheap trades every opportunity at a 65% win rate (3.0 per opportunity); control a
    # quarter of them at 80% (1.5 per opportunity): control wins per trade, cheap per
    # opportunity.
    experiment = Experiment(
        (Arm("control", {"v": 1}), Arm("cheap", {"v": 2})),
        "control",
        metric="pnl_per_opportunity",
        loss_per_opportunity=10.0,
        gain_per_opportunity=10.0,
    )
    evidence = ExperimentEvidence(experiment)
    router = Router(experiment)
    rng = random.Random(7)
    index = 0
    for i in range(6000):
        arm = router.route(i).name
        evidence.add_opportunities({arm: 1})
        if arm == "cheap" or rng.random() < 1 / 4:
            p = 0.65 if arm == "cheap" else 0.8
            pnl = 10.0 if rng.random() < p else -10.0
            evidence.add_trade(_trade(arm, pnl, i), index)
            index += 1
    report = evidence.report()
    cheap = report.arm("cheap")
    assert cheap.win_rate is not None
    assert cheap.win_rate < report.arm("control").win_rate  # type: ignore[operator]
    assert report.winner == "cheap"
    per_opportunity = cheap.comparison(Metric.PNL_PER_OPPORTUNITY)
    assert per_opportunity is not None
    assert per_opportunity.verdict is Verdict.BETTER


def test_trades_reported_after_their_opportunities_wait_for_the_next_batch() -> None:
    experiment = Experiment(
        (Arm("control", {"v": 1}), Arm("cheap", {"v": 2})),
        "control",
        loss_per_opportunity=10.0,
        gain_per_opportunity=10.0,
    )
    evidence = ExperimentEvidence(experiment)
    evidence.add_trade(_trade("cheap", 5.0), 0)
    evidence.add_trade(_trade("cheap", 5.0), 1)
    evidence.add_opportunities({"cheap": 1, "control": 3})
    comparison = evidence.report().arm("cheap").comparison(Metric.PNL_PER_OPPORTUNITY)
    assert comparison is not None
    assert comparison.pairs == 1
    evidence.add_opportunities({"cheap": 2, "control": 0})
    report = evidence.report()
    assert report.arm("cheap").pnl_per_opportunity == pytest.approx(10.0 / 3)
    comparison = report.arm("cheap").comparison(Metric.PNL_PER_OPPORTUNITY)
    assert comparison is not None
    assert comparison.pairs == 3
    assert comparison.difference == pytest.approx(10.0 / 3)


def test_a_broken_split_raises_the_srm_alarm_and_stops_judging() -> None:
    evidence = ExperimentEvidence(_experiment())
    _run(evidence, {"control": 0.5, "cheap": 0.9, "dear": 0.5}, 600, stop_at_winner=False)
    assert evidence.report().winner == "cheap"
    evidence.add_opportunities({"control": 9000, "cheap": 500, "dear": 500})
    report = evidence.report()
    assert report.srm_alarm
    assert report.winner is None
    assert report.worse == ()
    assert "sample-ratio mismatch" in report.reason
    assert "SRM ALARM" in format_experiment(report)


def test_the_srm_confidence_comes_from_the_experiment() -> None:
    # These counts give an e-value of about 320: past 20 (0.95), short of 1e6 (1 - 1e-6).
    lax = ExperimentEvidence(_experiment(srm_confidence=0.95))
    strict = ExperimentEvidence(_experiment(srm_confidence=1 - 1e-6))
    for evidence in (lax, strict):
        evidence.add_opportunities({"control": 3534, "cheap": 3233, "dear": 3233})
    assert lax.report().srm_alarm
    assert not strict.report().srm_alarm


def test_dropping_a_candidate_gives_its_weight_to_control() -> None:
    evidence = ExperimentEvidence(_experiment())
    weights = evidence.drop("dear")
    assert weights["dear"] == 0.0
    assert weights["control"] == pytest.approx(2 / 3)
    assert evidence.report().arm("dear").dropped
    with pytest.raises(ConfigError, match="already dropped"):
        evidence.drop("dear")
    with pytest.raises(ConfigError, match="is the control arm"):
        evidence.drop("control")
    with pytest.raises(ConfigError, match="no arm named 'nope'"):
        evidence.drop("nope")
    with pytest.raises(ConfigError, match="was dropped; its weight must stay 0"):
        evidence.change_weights({"control": 0.5, "cheap": 0.25, "dear": 0.25})
    # Routing follows: dropped keys go to control, the other candidate keeps its keys.
    before = Router(evidence.experiment)
    after = Router(evidence.experiment, evidence.weights)
    for key in range(3000):
        old, new = before.route(key).name, after.route(key).name
        assert new != "dear"
        assert old == new or (old, new) == ("dear", "control")


def test_a_dropped_arm_is_never_the_winner() -> None:
    evidence = ExperimentEvidence(
        _experiment(), {"control": 2 / 3, "cheap": 1 / 3, "dear": 0.0}, dropped=["dear"]
    )
    for i in range(300):
        evidence.add_trade(_trade("dear", 10.0, i), 2 * i)
        evidence.add_trade(_trade("control", -10.0, i), 2 * i + 1)
    assert evidence.report().winner is None
    with pytest.raises(ConfigError, match="dropped arm 'cheap' must have weight 0"):
        ExperimentEvidence(_experiment(), dropped=["cheap"])


@pytest.mark.parametrize(
    ("trade", "message"),
    [
        (_trade(None, 1.0), r"trades\[7\] has no arm: .* metadata\['arm'\] naming one of"),
        (_trade("bogus", 1.0), r"trades\[7\] names arm 'bogus', which is not in this experiment"),
    ],
)
def test_trades_without_a_known_arm_are_errors_naming_the_trade(
    trade: TradeOutcome, message: str
) -> None:
    evidence = ExperimentEvidence(_experiment())
    with pytest.raises(InvalidTradeError, match=message):
        evidence.add_trade(trade, 7)
    assert sum(r.trades for r in evidence.report().arms) == 0


def test_a_trade_outside_the_bounds_changes_nothing() -> None:
    evidence = ExperimentEvidence(_experiment(gain_per_dollar=1.0))
    with pytest.raises(InvalidTradeError, match=r"trades\[3\] \(arm 'control'.* per dollar"):
        evidence.add_trade(_trade("control", 30.0, size=10.0), 3)
    report = evidence.report()
    assert report.arm("control").trades == 0
    comparison = report.arm("cheap").comparison(Metric.EV_PER_DOLLAR)
    assert comparison is not None
    assert comparison.pairs == 0


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"bogus": 1}, "unknown arm 'bogus'"),
        ({"cheap": -1}, r"opportunities\['cheap'\] must be a whole number >= 0"),
        ({"cheap": 1.5}, r"opportunities\['cheap'\] must be a whole number"),
        ([1, 2], "must map arm names to counts"),
    ],
)
def test_bad_opportunity_counts_are_refused(counts: Any, message: str) -> None:
    evidence = ExperimentEvidence(_experiment())
    with pytest.raises(ConfigError, match=message):
        evidence.add_opportunities(counts)
    assert evidence.report().arm("cheap").opportunities == 0


def test_arm_of_reads_the_metadata_key() -> None:
    assert arm_of(_trade("cheap", 1.0), 0, ["control", "cheap"]) == "cheap"


def test_the_table_shows_every_arm_and_comparison() -> None:
    evidence = ExperimentEvidence(_experiment(gain_per_dollar=1.0))
    _run(evidence, {"control": 0.5, "cheap": 0.8, "dear": 0.5}, 400)
    text = format_experiment(evidence.report())
    lines: List[str] = text.splitlines()
    assert lines[0].split()[:4] == ["arm", "weight", "trades", "opps"]
    assert lines[1].startswith("control")
    assert any(line.startswith("cheap - control, win rate (decides):") for line in lines)
    assert any(line.startswith("dear - control, EV/$:") for line in lines)
    assert lines[-1].startswith("winner: arm 'cheap'")


# ---------------------------------------------------------------------------------------
# Snapshots: what the state file keeps, and a restart
# ---------------------------------------------------------------------------------------


def _per_opportunity_experiment() -> Experiment:
    return Experiment(
        (Arm("control", {"v": 1}), Arm("cheap", {"v": 2}), Arm("dear", {"v": 3})),
        "control",
        metric="pnl_per_opportunity",
        loss_per_opportunity=10.0,
        gain_per_opportunity=10.0,
        gain_per_dollar=1.0,
    )


def _feed(evidence: ExperimentEvidence, steps: List[Any], start: int) -> None:
    for i, (arm, pnl) in enumerate(steps, start):
        evidence.add_opportunities({arm: 1})
        if pnl is not None:
            evidence.add_trade(_trade(arm, pnl, i), i)


def test_a_restart_from_a_snapshot_and_the_trades_gives_the_same_evidence() -> None:
    experiment = _per_opportunity_experiment()
    router = Router(experiment)
    rng = random.Random(5)
    steps: List[Any] = []
    for i in range(1200):
        arm = router.route(i).name
        traded = rng.random() < 0.5
        steps.append((arm, rng.choice((-10.0, 10.0)) if traded else None))
    whole = ExperimentEvidence(experiment)
    _feed(whole, steps, 0)
    first = ExperimentEvidence(experiment)
    _feed(first, steps[:700], 0)
    first.add_trade(_trade("cheap", 3.0, 700), 700)  # reported, not yet placed
    whole_extra = ExperimentEvidence(experiment)
    _feed(whole_extra, steps[:700], 0)
    whole_extra.add_trade(_trade("cheap", 3.0, 700), 700)
    _feed(whole_extra, steps[700:], 701)
    saved = json.loads(json.dumps(first.snapshot()))
    # A new process: restore, feed the same trades again, then carry on.
    again = ExperimentEvidence.restore(experiment, saved)
    trades = [(arm, pnl) for arm, pnl in steps[:700] if pnl is not None]
    for i, (arm, pnl) in enumerate(trades):
        again.add_trade(_trade(arm, pnl, i), i)
    again.add_trade(_trade("cheap", 3.0, 700), 700)
    _feed(again, steps[700:], 701)
    assert again.report() == whole_extra.report()
    assert again.snapshot() == whole_extra.snapshot()


def test_a_snapshot_keeps_weights_drops_and_the_srm_stretches() -> None:
    evidence = ExperimentEvidence(_per_opportunity_experiment())
    evidence.add_opportunities({"control": 30, "cheap": 35, "dear": 32})
    evidence.drop("dear")
    evidence.add_opportunities({"control": 10, "cheap": 5})
    again = ExperimentEvidence.restore(evidence.experiment, evidence.snapshot())
    assert again.weights == evidence.weights
    assert again.dropped == {"dear"}
    assert again.report().srm_e_value == pytest.approx(evidence.report().srm_e_value)
    assert again.report().arm("control").opportunities == 40


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(weights={"control": 1.0}), r"experiment.weights must have one entry"),
        (lambda d: d.update(dropped="dear"), "experiment.dropped must be a list"),
        (lambda d: d.update(dropped=["cheap"]), "experiment: dropped arm 'cheap' must have"),
        (
            lambda d: d["opportunities"].update(cheap=-1),
            r"experiment.opportunities\['cheap'\] must be a whole number",
        ),
        (lambda d: d["pending"].update(cheap=["x"]), r"experiment.pending\['cheap'\]"),
        (lambda d: d.update(batches=None), "experiment.batches must be a whole number"),
        (lambda d: d.update(srm=None), "experiment.srm must be an object"),
        (lambda d: d.update(per_opportunity={}), "experiment.per_opportunity must have one"),
        (
            lambda d: d["per_opportunity"]["cheap"].update(counts=[1]),
            r"experiment.per_opportunity\['cheap'\].counts must be",
        ),
    ],
)
def test_a_corrupt_snapshot_is_refused_naming_the_field(change: Any, message: str) -> None:
    evidence = ExperimentEvidence(_per_opportunity_experiment())
    _feed(evidence, [("cheap", 1.0), ("control", None), ("dear", -2.0)], 0)
    data = json.loads(json.dumps(evidence.snapshot()))
    change(data)
    with pytest.raises(CorruptStateError, match=message):
        ExperimentEvidence.restore(evidence.experiment, data)
    with pytest.raises(CorruptStateError, match="experiment must be an object"):
        ExperimentEvidence.restore(evidence.experiment, [])  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["control", "cheap", "dear"]),
            st.floats(-10.0, 10.0, allow_nan=False),
            # 0, or a size a trade accepts (at least MIN_NONZERO_SIZE)
            st.one_of(st.just(0.0), st.floats(MIN_NONZERO_SIZE, 20.0)),
        ),
        max_size=32,  # at most 32 waiting: every possible pair forms
    )
)
def test_each_arm_tally_is_the_metrics_of_its_own_trades(steps: List[Any]) -> None:
    evidence = ExperimentEvidence(_experiment(), grid_points=0)
    trades = []
    for i, (arm, pnl, size) in enumerate(steps):
        trade = _trade(arm, pnl, i, size=size)
        trades.append(trade)
        evidence.add_trade(trade, i)
    report = evidence.report()
    for name in ("control", "cheap", "dear"):
        expected = compute_metrics([t for t in trades if t.metadata[ARM_KEY] == name])
        row = report.arm(name)
        assert (row.trades, row.wins) == (expected.n, expected.wins)
        assert row.pnl == expected.total_pnl
        assert row.size == expected.total_size
    n_control = report.arm("control").trades
    for name in ("cheap", "dear"):
        comparison = report.arm(name).comparison(Metric.WIN_RATE)
        assert comparison is not None
        assert comparison.pairs == min(n_control, report.arm(name).trades)


# ---------------------------------------------------------------------------------------
# The kill switch on every arm's own trades
# ---------------------------------------------------------------------------------------


def _streak_switch(losses: int = 4) -> KillSwitch:
    return KillSwitch(
        wr_threshold=None, ev_threshold=None, criteria=(MaxConsecutiveLosses(losses),)
    )


def test_a_candidate_that_trips_the_kill_switch_is_reported_and_never_wins() -> None:
    evidence = ExperimentEvidence(_experiment(), kill_switch=_streak_switch())
    i = 0
    for _ in range(4):  # dear loses four in a row; the others alternate
        for arm, pnl in (("control", 1.0), ("cheap", 1.0), ("dear", -1.0)):
            evidence.add_trade(_trade(arm, pnl, i), i)
            i += 1
    report = evidence.report()
    assert [name for name, _ in report.killed] == ["dear"]
    assert "4" in report.killed[0][1]
    assert not report.control_killed
    assert "'dear' tripped the kill switch" in report.reason
    assert "KILLED dear:" in format_experiment(report)
    # Later wins do not unlatch it, and it is never the winner, though it now wins
    # every trade against a control winning half.
    for k in range(300):
        evidence.add_trade(_trade("dear", 1.0, i), i)
        evidence.add_trade(_trade("control", 1.0 if k % 2 else -1.0, i + 1), i + 1)
        i += 2
    report = evidence.report()
    assert [name for name, _ in report.killed] == ["dear"]
    comparison = report.arm("dear").comparison(Metric.WIN_RATE)
    assert comparison is not None
    assert comparison.verdict is Verdict.BETTER
    assert report.winner is None


def test_control_tripping_the_kill_switch_stops_the_experiment() -> None:
    evidence = ExperimentEvidence(_experiment(), kill_switch=_streak_switch(3))
    for i in range(3):
        evidence.add_trade(_trade("control", -1.0, i), i)
    report = evidence.report()
    assert report.control_killed
    assert report.winner is None
    assert report.reason.startswith("control arm 'control' tripped the kill switch")


def test_arms_are_judged_on_their_own_trades_only() -> None:
    # Interleaved, the three arms' losses make a streak of 6; each arm's own is 2.
    evidence = ExperimentEvidence(_experiment(), kill_switch=_streak_switch(3))
    for i, arm in enumerate(["control", "cheap", "dear"] * 2):
        evidence.add_trade(_trade(arm, -1.0, i), i)
    assert evidence.report().killed == ()


def test_a_dropped_arm_is_no_longer_judged_by_the_kill_switch() -> None:
    evidence = ExperimentEvidence(_experiment(), kill_switch=_streak_switch(2))
    evidence.drop("dear")
    for i in range(5):
        evidence.add_trade(_trade("dear", -1.0, i), i)
    assert evidence.report().killed == ()
    with pytest.raises(ConfigError, match="kill_switch must be a KillSwitch"):
        ExperimentEvidence(_experiment(), kill_switch="off")  # type: ignore[arg-type]
