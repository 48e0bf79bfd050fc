"""An experiment stage's evidence on a growing trade list: the comparisons judge the
complete prefix append-only in opening order (as a gate), the arms' kill switch takes
every trade in list order (as the kill switch), and a late trade rebuilds nothing."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st

from quant_rollout import KillSwitch, TradeOutcome
from quant_rollout.arms import Arm, Experiment
from quant_rollout.arms.evidence import ExperimentEvidence
from quant_rollout.engine import RolloutConfig, Stage
from quant_rollout.engine.experiments import arms_evidence
from quant_rollout.evidence import EvidenceFeed, experiment_kill_tracker_key

T0 = 1_777_593_600_000_000
MINUTE = 60_000_000
EXPERIMENT = Experiment(
    (Arm("control", {"p": 0}), Arm("wide", {"p": 1}), Arm("narrow", {"p": 2})),
    "control",
    gain_per_dollar=1.0,
    loss_per_opportunity=1.0,
    gain_per_opportunity=1.0,
)
KILL = KillSwitch(wr_lookback=4, wr_threshold=0.3, ev_lookback=50, ev_threshold=-10.0)
CONFIG = RolloutConfig(
    (Stage(0, {"p": 0}), Stage(1, {}, experiment=EXPERIMENT), Stage(2, {"p": 3})), KILL, 300.0
)
EPOCH = (1, None)


def _trade(minute: int, arm: str, win: bool) -> TradeOutcome:
    return TradeOutcome(
        1.0 if win else -1.0, 1.0, (T0 + minute * MINUTE) / 1e6, metadata={"arm": arm}
    )


def _feed() -> EvidenceFeed[Any]:
    return EvidenceFeed(CONFIG.recent_capacity, CONFIG.make_trackers)


def test_the_arms_have_a_comparison_tracker_and_a_kill_tracker() -> None:
    evidence = _feed().evidence([], None, EPOCH)
    arms = arms_evidence(evidence)
    assert arms is not None
    assert arms.complete_evidence
    kill: Any = evidence.trackers[experiment_kill_tracker_key()]
    assert kill.arrival_order
    assert kill.evidence is arms
    assert not evidence.order_sensitive  # nothing asks for a rebuild on a late trade


def test_a_late_trade_is_appended_to_the_arms_evidence_not_rebuilt() -> None:
    """On 0.2's contract (quant-rollout before this change) the late trade rebuilt the
    window: a new ExperimentEvidence whose comparisons re-drew their path in time order."""
    feed = _feed()
    trades = [_trade(10, "control", True), _trade(20, "wide", False)]
    first = feed.evidence(trades, None, EPOCH, complete_before=None)
    arms = arms_evidence(first)
    assert arms is not None
    late = _trade(5, "wide", True)  # opened before trades already counted
    second = feed.evidence([*trades, late], None, EPOCH, complete_before=None)
    assert second is first
    assert arms_evidence(second) is arms
    # The comparisons took it at the end of the path, as the gate does (``late``).
    assert first.late == 1
    fresh = ExperimentEvidence(EXPERIMENT, kill_switch=KILL)
    for trade in [*trades, late]:
        fresh.add_trade(trade, 0)
    assert arms.report() == fresh.report()


def test_the_comparisons_wait_for_the_complete_prefix_and_the_kill_does_not() -> None:
    feed = _feed()
    # "wide" wins fast and loses slowly: its loss opened at minute 1 is still open.
    trades = [_trade(0, "control", False), _trade(2, "wide", True), _trade(3, "wide", False)]
    evidence = feed.evidence(trades, None, EPOCH, complete_before=T0 + 1 * MINUTE)
    arms = arms_evidence(evidence)
    assert arms is not None
    report = arms.report()
    assert [row.trades for row in report.arms] == [1, 0, 0]  # control, wide, narrow
    kill: Any = evidence.trackers[experiment_kill_tracker_key()]
    assert kill.evidence._kill_evidence["wide"].n == 2  # the kill saw both at once
    # The slow loss closes: the prefix moves on and the comparisons take all, in
    # opening order, without a rebuild.
    more = [*trades, _trade(1, "wide", False)]
    again = feed.evidence(more, None, EPOCH, complete_before=T0 + 4 * MINUTE)
    assert again is evidence
    assert [row.trades for row in arms.report().arms] == [1, 3, 0]
    assert again.late == 0


# ----------------------------------------------------------------------------- property

_ARMS = st.sampled_from(["control", "wide", "narrow"])
# (minutes open, arm, win) of trades opened a minute apart, and the order they close in.
_FLOW = st.lists(st.tuples(st.integers(0, 40), _ARMS, st.booleans()), max_size=40)


def _definition(
    listed: Sequence[TradeOutcome], complete_before: Optional[int]
) -> ExperimentEvidence:
    """Fresh evidence fed by hand: the kill every listed trade in list order, the
    comparisons the complete prefix in opening order."""
    arms = ExperimentEvidence(EXPERIMENT, kill_switch=KILL)
    for trade in listed:
        arms.check(trade, 0)
        arms.watch(trade)
    indexed = sorted((t.instant_us, i, t) for i, t in enumerate(listed))
    for instant, _i, trade in indexed:
        if complete_before is None or instant < complete_before:
            arms.add(trade)
    return arms


@settings(max_examples=80, deadline=None)
@given(_FLOW, st.lists(st.integers(0, 40), max_size=6))
def test_incremental_arms_evidence_equals_a_rebuild_and_the_definition(
    flow: List[Tuple[int, str, bool]], cuts: List[int]
) -> None:
    """A bot that tells the truth about open trades (``complete_before`` is the
    opening of the oldest trade not yet listed): tick by tick, the arms' evidence
    equals a fresh build from the whole list and the definition."""
    opened = [_trade(i, arm, win) for i, (_hold, arm, win) in enumerate(flow)]
    closing = sorted(range(len(flow)), key=lambda i: (i + flow[i][0], i))
    listed = [opened[i] for i in closing]
    feed = _feed()
    for cut in [*sorted(min(c, len(listed)) for c in cuts), len(listed)]:
        prefix = listed[:cut]
        still_open = [opened[i].instant_us for i in closing[cut:]]
        complete_before = min(still_open) if still_open else None
        evidence = feed.evidence(prefix, None, EPOCH, complete_before)
        rebuilt = _feed().evidence(prefix, None, EPOCH, complete_before)
        arms, fresh = arms_evidence(evidence), arms_evidence(rebuilt)
        assert arms is not None
        assert fresh is not None
        assert arms.report() == fresh.report() == _definition(prefix, complete_before).report()
        assert evidence.late == 0
