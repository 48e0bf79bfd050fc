"""Experiment stages in the pure engine: every move of the table an experiment adds, the
winner through the veto window, drops, the SRM stop, the kill switch per arm, the arm
verbs and their refusals, and the state's record. No disk, no clock."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pytest

from quant_rollout import Gate, KillSwitch, TradeOutcome
from quant_rollout.arms import Arm, Experiment
from quant_rollout.arms.evidence import ExperimentEvidence
from quant_rollout.engine import (
    TRANSITIONS,
    Event,
    Phase,
    RolloutAction,
    RolloutConfig,
    Stage,
    Step,
    decide,
    operate,
    phase_of,
)
from quant_rollout.engine.experiments import arms_evidence
from quant_rollout.engine.model import record
from quant_rollout.engine.state import RolloutState
from quant_rollout.errors import (
    ConfigError,
    CorruptStateError,
    InvalidTradeError,
    OperatorRefusedError,
)
from quant_rollout.evidence import EvidenceFeed, StageEvidence
from quant_rollout.trades import format_instant, parse_instant

T0 = parse_instant("2026-05-01T00:00:00Z")
SECOND = 1_000_000
MINUTE = 60 * SECOND
WINDOW = 300.0
NOW = T0 + 20_000 * MINUTE

BASE = {"max_entry_price": 0.30}
EXPERIMENT = Experiment(
    (
        Arm("control", BASE),
        Arm("wide", {"max_entry_price": 0.50}),
        Arm("narrow", {"max_entry_price": 0.20}),
    ),
    "control",
)
STAGES = (
    Stage(0, BASE, name="baseline"),
    Stage(1, {}, Gate(min_n=3, min_win_rate=0.6), "arms", experiment=EXPERIMENT),
    Stage(2, {"size": 10.0}, name="full"),
)
KILL = KillSwitch(wr_lookback=3, wr_threshold=0.5, ev_lookback=50, ev_threshold=-10.0)
EXPERIMENT_WEIGHTS = {"control": 0.5, "wide": 0.25, "narrow": 0.25}
EXPERIMENT_EVENTS = (Event.DROP_ARM, Event.CHANGE_WEIGHTS, Event.PROMOTE_ARM, Event.SRM_ALARM)


def config(
    window: float = WINDOW, stages: Sequence[Stage] = STAGES, kill: KillSwitch = KILL
) -> RolloutConfig:
    return RolloutConfig(tuple(stages), kill, window)


LENIENT = config(kill=KillSwitch(wr_lookback=3, wr_threshold=0.0, ev_lookback=3, ev_threshold=-10))
"""For the verdicts: a kill switch that never trips on these trades."""


def arm_trade(i: int, arm: Optional[str], pnl: float) -> TradeOutcome:
    metadata: Dict[str, Any] = {} if arm is None else {"arm": arm}
    return TradeOutcome(
        pnl=pnl, size=1.0, timestamp=format_instant(T0 + i * MINUTE), metadata=metadata
    )


def running(**changes: Any) -> RolloutState:
    state = RolloutState(
        current_stage=1,
        ship_timestamps={"1": format_instant(T0)},
        started_at=format_instant(T0),
        stage_entered_at=format_instant(T0),
        evidence_since=format_instant(T0),
        updated_at=format_instant(T0),
        history_seq=3,
        history_hash="a" * 64,
    )
    return dataclasses.replace(state, **changes)


def pending(**changes: Any) -> RolloutState:
    return running(
        advance_pending_to=2,
        advance_veto_deadline_unix=(T0 + 10 * MINUTE) / SECOND,
        advance_pending_since=format_instant(T0 + 5 * MINUTE),
        experiment_pending="wide",
        **changes,
    )


def paused(**changes: Any) -> RolloutState:
    return running(paused=True, **changes)


IN_PHASE: Dict[Phase, Callable[..., RolloutState]] = {
    Phase.RUNNING: running,
    Phase.VETO_PENDING: pending,
    Phase.PAUSED: paused,
}


def evidence_for(
    cfg: RolloutConfig, state: RolloutState, trades: Sequence[TradeOutcome]
) -> StageEvidence:
    since = None if state.evidence_since is None else parse_instant(state.evidence_since)
    feed: EvidenceFeed[Any] = EvidenceFeed(
        cfg.recent_capacity, lambda epoch: cfg.make_trackers(epoch, state.experiment)
    )
    return feed.evidence(list(trades), since, cfg.epoch(state))


def tick(
    state: RolloutState,
    trades: Sequence[TradeOutcome],
    opportunities: Optional[Dict[str, int]] = None,
    cfg: Optional[RolloutConfig] = None,
    now: int = NOW,
) -> Step:
    cfg = cfg or config()
    evidence = evidence_for(cfg, state, trades)
    arms = arms_evidence(evidence)
    if opportunities:
        assert arms is not None
        arms.add_opportunities(opportunities)
    return decide(cfg, state, evidence, now)


def alternating(n: int, rates: Dict[str, float]) -> List[TradeOutcome]:
    """``n`` trades per arm, interleaved; each arm wins the first ``rate`` share of
    every ten of its trades (deterministic, so verdicts are exact)."""
    trades: List[TradeOutcome] = []
    for k in range(n):
        for arm, rate in rates.items():
            win = (k % 10) < round(rate * 10)
            trades.append(arm_trade(len(trades) + 1, arm, 1.0 if win else -1.0))
    return trades


CANDIDATE_KILLED = [arm_trade(i + 1, "narrow", -1.0) for i in range(3)] + [
    arm_trade(10 + i, "control", 1.0) for i in range(3)
]
WIDE_WINS = alternating(150, {"control": 0.3, "wide": 0.9})
SKEWED = {"control": 3000}


# ----------------------------------------------------------------------------- the table


def test_every_experiment_move_of_the_table_is_covered_here() -> None:
    table = {
        (phase, event)
        for phase, moves in TRANSITIONS.items()
        for event in moves
        if event in EXPERIMENT_EVENTS
    }
    covered = {(p, Event(e)) for p, e in TICK_MOVES} | {(p, Event(e)) for p, e, _ in VERB_MOVES}
    assert covered == table
    assert all(Event.PROMOTE_ARM not in TRANSITIONS[Phase.KILLED] for _ in (0,))


TICK_MOVES: List[Tuple[Phase, str]] = [
    (phase, event)
    for phase in (Phase.RUNNING, Phase.VETO_PENDING, Phase.PAUSED)
    for event in ("drop_arm", "srm_alarm")
]


@pytest.mark.parametrize(("phase", "event"), TICK_MOVES, ids=lambda v: str(v))
def test_a_tick_fires_the_experiment_event_and_lands_where_the_table_says(
    phase: Phase, event: str
) -> None:
    state = IN_PHASE[phase]()
    before = copy.deepcopy(state)
    step = tick(state, CANDIDATE_KILLED) if event == "drop_arm" else tick(state, [], SKEWED)
    assert state == before, "decide must not mutate its input"
    assert [t.event for t in step.transitions] == [event]
    assert phase_of(step.state) is TRANSITIONS[phase][Event(event)]
    assert step.decision.action is RolloutAction.NOOP
    assert step.decision.changed is True
    assert step.state.current_stage == 1
    assert step.state.advance_pending_to is None  # a pending advance is cancelled
    assert step.state.experiment is not None
    if event == "drop_arm":
        assert step.state.experiment["dropped"] == ["narrow"]
        assert step.state.experiment["weights"]["narrow"] == 0.0
        assert "arm 'narrow' dropped: its own trades tripped the kill switch" in (
            step.decision.reason
        )
    else:
        assert step.state.experiment["srm"]["alarmed"] is True
        assert "sample-ratio mismatch" in step.decision.reason


VERB_MOVES: List[Tuple[Phase, str, Dict[str, Any]]] = [
    (phase, verb, kwargs)
    for phase in (Phase.RUNNING, Phase.VETO_PENDING, Phase.PAUSED)
    for verb, kwargs in (
        ("promote_arm", {"arm": "wide"}),
        ("drop_arm", {"arm": "narrow"}),
        ("change_weights", {"weights": {"control": 0.5, "wide": 0.3, "narrow": 0.2}}),
    )
]


@pytest.mark.parametrize(("phase", "verb", "kwargs"), VERB_MOVES, ids=lambda v: str(v))
def test_an_arm_verb_lands_where_the_table_says(
    phase: Phase, verb: str, kwargs: Dict[str, Any]
) -> None:
    state = IN_PHASE[phase]()
    before = copy.deepcopy(state)
    result = operate(config(), state, verb, NOW, actor="ana", note="why", **kwargs)
    assert state == before
    assert result.applied
    assert phase_of(result.state) is TRANSITIONS[phase][Event(verb)]
    (t,) = result.transitions
    assert (t.event, t.actor, t.note) == (verb, "ana", "why")
    if verb == "promote_arm":
        assert result.state.current_stage == 2
        assert result.state.experiment_winner == "wide"
        assert config().params_for(result.state, 2) == {"size": 10.0, "max_entry_price": 0.5}
    elif verb == "drop_arm":
        assert result.state.current_stage == 1
        assert result.state.experiment is not None
        assert result.state.experiment["dropped"] == ["narrow"]
        assert result.state.experiment["weights"] == {
            "control": 2 / 3,
            "wide": 1 / 3,
            "narrow": 0.0,
        }
    else:
        assert result.state.experiment is not None
        assert result.state.experiment["weights"] == kwargs["weights"]
        if phase is Phase.VETO_PENDING:
            assert result.state.advance_pending_to == 2  # new weights keep the window


# ----------------------------------------------------------------------------- decisions


def test_a_winner_opens_the_veto_window_and_its_params_land_on_expiry() -> None:
    step = tick(running(), WIDE_WINS, cfg=LENIENT)
    d = step.decision
    assert d.action is RolloutAction.VETO_OPEN
    assert (d.from_stage, d.to_stage) == (1, 2)
    assert "arm 'wide' beats control 'control' on win_rate" in d.reason
    assert step.state.experiment_pending == "wide"
    assert d.params == BASE  # the bot keeps routing until the window runs out
    deadline = round(step.state.advance_veto_deadline_unix * SECOND)  # type: ignore[operator]

    still = tick(step.state, WIDE_WINS, now=deadline - 1, cfg=LENIENT)
    assert still.decision.action is RolloutAction.VETO_OPEN
    assert still.transitions == ()

    landed = tick(step.state, WIDE_WINS, now=deadline, cfg=LENIENT)
    assert landed.decision.action is RolloutAction.VETO_EXPIRED
    assert landed.state.current_stage == 2
    assert landed.state.experiment_winner == "wide"
    assert landed.state.experiment is None
    assert landed.state.experiment_pending is None
    assert landed.decision.params == {"size": 10.0, "max_entry_price": 0.5}
    assert "arm 'wide' still wins" in landed.decision.reason


def test_without_a_veto_window_the_winner_advances_at_once() -> None:
    step = tick(running(), WIDE_WINS, cfg=config(0, kill=LENIENT.kill_switch))
    assert step.decision.action is RolloutAction.ADVANCE
    assert step.state.current_stage == 2
    assert step.decision.params == {"size": 10.0, "max_entry_price": 0.5}


def test_a_veto_restarts_the_experiment_and_keeps_its_routing() -> None:
    opened = tick(running(), WIDE_WINS, cfg=LENIENT).state
    dropped = operate(LENIENT, opened, "drop_arm", NOW, arm="narrow").state
    assert dropped.advance_pending_to is None  # a drop cancels the window
    reopened = tick(dropped, WIDE_WINS, cfg=LENIENT).state
    assert reopened.experiment_pending == "wide"
    vetoed = operate(config(), reopened, "veto", NOW).state
    assert vetoed.evidence_since == format_instant(NOW)
    assert vetoed.experiment is not None
    assert vetoed.experiment["dropped"] == ["narrow"]
    assert vetoed.experiment["opportunities"] == {"control": 0, "wide": 0, "narrow": 0}


def test_an_expiry_when_the_winner_no_longer_wins_drops_the_advance() -> None:
    state = pending()
    step = tick(state, alternating(5, {"control": 0.5, "wide": 0.5}), cfg=LENIENT)
    assert [t.event for t in step.transitions] == ["advance_dropped"]
    assert "arm 'wide' no longer wins" in step.decision.reason
    assert step.state.current_stage == 1
    assert step.state.experiment_pending is None


def test_a_candidate_worse_with_confidence_is_dropped_with_its_evidence() -> None:
    trades = alternating(150, {"control": 0.9, "wide": 0.9, "narrow": 0.1})
    # the kill switch must not be what drops it: a lenient one
    step = tick(running(), trades, cfg=LENIENT)
    (t,) = step.transitions
    assert t.event == "drop_arm"
    assert "worse than control 'control' on win_rate with confidence 0.95" in t.reason
    assert "difference" in t.reason
    assert "trades" in t.reason
    assert step.state.experiment is not None
    assert step.state.experiment["dropped"] == ["narrow"]


def test_control_tripping_the_kill_switch_reverts_to_stage_0() -> None:
    trades = [arm_trade(i + 1, "control", -1.0) for i in range(3)]
    step = tick(running(), trades)
    assert step.decision.action is RolloutAction.KILL_TRIPPED
    assert step.state.current_stage == 0
    assert step.state.kill_switch_tripped
    assert step.state.experiment is None
    assert "control arm 'control' tripped the kill switch" in step.decision.reason
    assert step.decision.params == BASE


def test_the_pooled_kill_switch_does_not_judge_an_experiment_stage() -> None:
    # Three losses in a row across two candidates trip no arm's own kill switch.
    trades = [
        arm_trade(1, "wide", -1.0),
        arm_trade(2, "narrow", -1.0),
        arm_trade(3, "wide", -1.0),
        arm_trade(4, "control", 1.0),
    ]
    assert tick(running(), trades).transitions == ()


def test_after_an_srm_alarm_nothing_is_judged_and_nothing_advances() -> None:
    alarmed = tick(running(), [], SKEWED).state
    step = tick(alarmed, WIDE_WINS, cfg=LENIENT)
    assert step.transitions == ()
    assert step.decision.action is RolloutAction.NOOP
    assert "SRM alarm" in step.decision.reason
    # Only an operator ends it: promote an arm by hand.
    promoted = operate(config(), alarmed, "promote_arm", NOW, arm="control").state
    assert config().params_for(promoted, 2) == {"size": 10.0, **BASE}


def test_a_tick_with_opportunities_and_no_move_returns_the_updated_record() -> None:
    state = running()
    step = tick(state, [arm_trade(1, "wide", 1.0)], {"control": 5, "wide": 4, "narrow": 6})
    assert step.transitions == ()
    assert step.state.experiment is not None
    assert step.state.experiment["opportunities"] == {"control": 5, "wide": 4, "narrow": 6}
    again = tick(step.state, [arm_trade(1, "wide", 1.0)])
    assert again.state.experiment is not None
    assert again.state.experiment["opportunities"]["narrow"] == 6


def test_every_candidate_dropped_sends_everything_to_control() -> None:
    two = Experiment((Arm("control", BASE), Arm("wide", {"max_entry_price": 0.5})), "control")
    stages = (STAGES[0], dataclasses.replace(STAGES[1], experiment=two), STAGES[2])
    cfg = config(stages=stages)
    state = operate(cfg, running(), "drop_arm", NOW, arm="wide").state
    assert state.experiment is not None
    assert state.experiment["weights"] == {"control": 1.0, "wide": 0.0}
    step = tick(state, [arm_trade(1, "control", 1.0)], cfg=cfg)
    assert "every candidate was dropped" in step.decision.reason


# ----------------------------------------------------------------------------- refusals


def test_a_trade_with_no_arm_or_an_unknown_arm_names_the_trade() -> None:
    cfg = config()
    state = running()
    with pytest.raises(InvalidTradeError, match=r"trades\[1\] has no arm"):
        evidence_for(cfg, state, [arm_trade(1, "wide", 1.0), arm_trade(2, None, 1.0)])
    with pytest.raises(InvalidTradeError, match=r"trades\[0\] names arm 'bogus'"):
        evidence_for(cfg, state, [arm_trade(1, "bogus", 1.0)])
    # trades from before the experiment began need no arm
    early = TradeOutcome(pnl=1.0, size=1.0, timestamp=format_instant(T0 - MINUTE))
    evidence_for(cfg, state, [early, arm_trade(1, "wide", 1.0)])


def test_a_refused_trade_leaves_the_feed_as_it_was() -> None:
    cfg = config()
    state = running()
    since = parse_instant(state.evidence_since or "")
    feed: EvidenceFeed[Any] = EvidenceFeed(
        cfg.recent_capacity, lambda epoch: cfg.make_trackers(epoch, None)
    )
    trades = [arm_trade(1, "wide", 1.0), arm_trade(2, "control", -1.0)]
    evidence = feed.evidence(trades, since, cfg.epoch(state))
    arms = arms_evidence(evidence)
    assert arms is not None
    before = (evidence.metrics(), arms.report())
    bad = [*trades, arm_trade(3, "narrow", 1.0), arm_trade(4, "ghost", 1.0)]
    with pytest.raises(InvalidTradeError, match=r"trades\[3\]"):
        feed.evidence(bad, since, cfg.epoch(state))
    assert (evidence.metrics(), arms.report()) == before
    again = feed.evidence([*trades, arm_trade(3, "narrow", 1.0)], since, cfg.epoch(state))
    assert again is evidence
    assert again.n == 3


@pytest.mark.parametrize(
    ("verb", "kwargs", "state", "message"),
    [
        ("drop_arm", {"arm": "control"}, running(), "is the control arm"),
        ("drop_arm", {"arm": "ghost"}, running(), "no arm named 'ghost'"),
        ("promote_arm", {"arm": None}, running(), "no arm named None"),
        ("change_weights", {"weights": {"control": 0.5, "wide": 0.3, "narrow": 0.3}}, running(),
         "must sum to 1"),
        ("change_weights", {"weights": {"control": 0.5, "ghost": 0.5}}, running(),
         "unknown arms"),
        ("change_weights", {"weights": None}, running(), "needs weights"),
        ("drop_arm", {"arm": "wide"}, running(current_stage=0, ship_timestamps={}),
         "runs no experiment"),
        ("promote_arm", {"arm": "wide"}, running(current_stage=2), "runs no experiment"),
        ("promote", {}, running(), "name the arm with promote_arm"),
    ],
)  # fmt: skip
def test_arm_verbs_that_make_no_sense_are_refused_and_change_nothing(
    verb: str, kwargs: Dict[str, Any], state: RolloutState, message: str
) -> None:
    before = copy.deepcopy(state)
    with pytest.raises(OperatorRefusedError, match=message):
        operate(config(), state, verb, NOW, **kwargs)
    assert state == before


def test_dropping_an_arm_twice_and_giving_it_weight_are_refused() -> None:
    dropped = operate(config(), running(), "drop_arm", NOW, arm="narrow").state
    with pytest.raises(OperatorRefusedError, match="already dropped"):
        operate(config(), dropped, "drop_arm", NOW, arm="narrow")
    with pytest.raises(OperatorRefusedError, match="arm 'narrow' was already dropped"):
        operate(config(), dropped, "promote_arm", NOW, arm="narrow")
    with pytest.raises(OperatorRefusedError, match="weight must stay 0"):
        operate(
            config(),
            dropped,
            "change_weights",
            NOW,
            weights={"control": 0.4, "wide": 0.3, "narrow": 0.3},
        )


def test_a_plain_promote_may_skip_past_the_stage_after_an_experiment() -> None:
    stages = (*STAGES, Stage(3, {"size": 20.0}))
    result = operate(config(stages=stages), running(), "promote", NOW, to_stage=3)
    assert result.state.current_stage == 3


# ----------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ((Stage(0, BASE, experiment=EXPERIMENT), Stage(1, {})), "stage 0 is the baseline"),
        ((STAGES[0], STAGES[1]), "needs a stage after it"),
        ((Stage(0, {"max_entry_price": 0.9}), STAGES[1], STAGES[2]), "must run the params"),
        ((*STAGES[:2], Stage(2, {}, Gate(min_n=1))), "remove its gate"),
        ((*STAGES[:2], Stage(2, {}, experiment=Experiment(
            (Arm("control", BASE), Arm("x", BASE)), "control"))), "cannot be an experiment"),
    ],
)  # fmt: skip
def test_a_misplaced_experiment_is_a_config_error(stages: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(stages=stages)


def test_an_experiment_stage_runs_control_and_refuses_unknown_params() -> None:
    assert STAGES[1].params == BASE
    with pytest.raises(ConfigError, match="runs its control arm's params"):
        Stage(1, {"max_entry_price": 0.9}, experiment=EXPERIMENT)
    typo = Experiment((Arm("control", BASE), Arm("x", {"max_entyr_price": 0.5})), "control")
    with pytest.raises(ConfigError, match=r"arm 'x' sets params \['max_entyr_price'\]"):
        Stage(1, {}, experiment=typo)
    with pytest.raises(ConfigError, match=r"experiment must be an arms\.Experiment"):
        Stage(1, {}, experiment="arms")  # type: ignore[arg-type]


def test_a_state_whose_experiment_arms_changed_is_refused() -> None:
    evidence = ExperimentEvidence(EXPERIMENT)
    state = running(experiment=record(EXPERIMENT, evidence))
    config().check_state(state, "s.json")
    changed = Experiment(
        (Arm("control", BASE), Arm("wide", {"max_entry_price": 0.55}), EXPERIMENT.arms[2]),
        "control",
    )
    stages = (STAGES[0], dataclasses.replace(STAGES[1], experiment=changed), STAGES[2])
    with pytest.raises(CorruptStateError, match=r"other arms.*\['wide'\]"):
        config(stages=stages).check_state(state, "s.json")
    with pytest.raises(CorruptStateError, match="has none"):
        config().check_state(dataclasses.replace(state, current_stage=2), "s.json")
    with pytest.raises(CorruptStateError, match="experiment_winner 'ghost'"):
        config().check_state(running(experiment_winner="ghost"), "s.json")


def test_infinite_srm_evidence_survives_the_history_and_the_state_file() -> None:
    from quant_rollout.storage.history import encode_transition

    weights = {"control": 0.5, "wide": 0.5, "narrow": 0.0}
    state = operate(config(), running(), "change_weights", NOW, weights=weights).state
    alarmed = tick(state, [], {"narrow": 1})  # routed to an arm of weight 0: proof
    assert [t.event for t in alarmed.transitions] == ["srm_alarm"]
    again = operate(config(), alarmed.state, "change_weights", NOW, weights=EXPERIMENT_WEIGHTS)
    for t in (*alarmed.transitions, *again.transitions):
        encode_transition(t, 1, "0" * 64)  # JSON without infinities
    restored = config().experiment_evidence(1, again.state.experiment)
    assert restored.report().srm_alarm


def test_an_arm_drop_waits_for_the_bot_to_hear_of_its_stage() -> None:
    # An operator promoted the rollout to the experiment stage: the bot still runs stage 0.
    state = running(bot_stage=0)
    step = tick(state, CANDIDATE_KILLED)
    assert [t.event for t in step.transitions] == ["announce"]
    assert step.decision.action is RolloutAction.ADVANCE
    assert step.decision.params == BASE
    dropped = tick(step.state, CANDIDATE_KILLED)
    assert [t.event for t in dropped.transitions] == ["drop_arm"]


def test_trades_from_the_stage_before_tagged_main_are_left_out_of_the_experiment() -> None:
    trades = [arm_trade(1, "main", -1.0), arm_trade(2, "wide", 1.0), arm_trade(3, "main", -1.0)]
    evidence = evidence_for(config(), running(), trades)
    arms = arms_evidence(evidence)
    assert arms is not None
    report = arms.report()
    assert sum(row.trades for row in report.arms) == 1
    assert report.arm("control").trades == 0
    assert evidence.n == 3  # the stage's own metrics still see them
    with pytest.raises(ConfigError, match="no arm may be named 'main'"):
        Stage(1, {}, experiment=Experiment((Arm("main", BASE), Arm("x", BASE)), "main"))
