"""The pure state machine: every row of TRANSITIONS, every refusal, no disk, no clock.

Time is integer microseconds handed to ``decide``/``operate``; states are built by hand
in the phase a row starts from; evidence is built from trades exactly as the shell does.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import pytest

import quant_rollout.engine.transitions as transitions_module
from quant_rollout import Gate, KillSwitch, TradeOutcome
from quant_rollout.engine import (
    BOOKKEEPING_EVENTS,
    OPERATOR_VERBS,
    TICK_EVENTS,
    TRANSITIONS,
    Event,
    OperatorResult,
    Phase,
    RolloutAction,
    RolloutConfig,
    Stage,
    Step,
    Verb,
    decide,
    operate,
    phase_of,
)
from quant_rollout.engine.state import RolloutState
from quant_rollout.engine.transitions import settle
from quant_rollout.engine.verbs import HANDLERS
from quant_rollout.errors import ClockError, OperatorRefusedError
from quant_rollout.evidence import EvidenceFeed, StageEvidence
from quant_rollout.trades import format_instant, parse_instant

T0 = parse_instant("2026-05-01T00:00:00Z")
SECOND = 1_000_000
MINUTE = 60 * SECOND
DAY = 86_400 * SECOND
WINDOW = 300.0
OPENED = T0 + 5 * MINUTE  # when the hand-built veto windows opened
DEADLINE = OPENED + int(WINDOW) * SECOND
NOW = T0 + 20 * MINUTE  # after every trade and after DEADLINE

KILL_REASON = "win_rate(3)=0.000 < 0.500"

STAGES = (
    Stage(0, {"max_entry_price": 0.30}, name="baseline"),
    Stage(1, {"max_entry_price": 0.50}, Gate(min_n=3, min_win_rate=0.6), "canary"),
    Stage(2, {"max_entry_price": 0.50, "size": 10.0}, Gate(min_n=3, min_win_rate=0.6), "full"),
)
KILL = KillSwitch(wr_lookback=3, wr_threshold=0.5, ev_lookback=50, ev_threshold=-10.0)


def stamp(instant_us: int) -> str:
    return format_instant(instant_us)


def config(window: float = WINDOW, stages: Sequence[Stage] = STAGES) -> RolloutConfig:
    return RolloutConfig(tuple(stages), KILL, window)


def trade(minute: int, pnl: float) -> TradeOutcome:
    return TradeOutcome(pnl=pnl, size=1.0, timestamp=stamp(T0 + minute * MINUTE))


WINS = tuple(trade(m, 1.0) for m in (1, 2, 3))
LOSSES = tuple(trade(m, -1.0) for m in (1, 2, 3))
ONE_WIN = (trade(1, 1.0),)


def evidence_for(
    cfg: RolloutConfig, state: RolloutState, trades: Sequence[TradeOutcome]
) -> StageEvidence:
    """The evidence of ``state``'s window, built the way the shell builds it."""
    since = None if state.evidence_since is None else parse_instant(state.evidence_since)
    feed = EvidenceFeed(cfg.recent_capacity, cfg.make_trackers)
    return feed.evidence(list(trades), since, cfg.epoch(state))


def tick(cfg: RolloutConfig, state: RolloutState, trades: Sequence[TradeOutcome], now: int) -> Step:
    return decide(cfg, state, evidence_for(cfg, state, trades), now)


# -- states in each phase (already started, so no "start" event gets in the way)


def running(stage: int = 0) -> RolloutState:
    return RolloutState(
        current_stage=stage,
        ship_timestamps={} if stage == 0 else {str(stage): stamp(T0)},
        started_at=stamp(T0),
        stage_entered_at=stamp(T0),
        evidence_since=None if stage == 0 else stamp(T0),
        updated_at=stamp(T0),
        history_seq=3,
        history_hash="a" * 64,
    )


def pending(stage: int = 0) -> RolloutState:
    return dataclasses.replace(
        running(stage),
        advance_pending_to=stage + 1,
        advance_veto_deadline_unix=DEADLINE / SECOND,
        advance_pending_since=stamp(OPENED),
        updated_at=stamp(OPENED),
    )


def paused(stage: int = 0) -> RolloutState:
    return dataclasses.replace(running(stage), paused=True)


def killed(*, paused: bool = False) -> RolloutState:
    return dataclasses.replace(
        running(0),
        kill_switch_tripped=True,
        kill_reason=KILL_REASON,
        kill_timestamp=stamp(T0),
        evidence_since=stamp(T0),
        paused=paused,
    )


def ahead(state: RolloutState) -> RolloutState:
    """``state`` as recorded by a clock that had jumped a day past NOW."""
    later = stamp(NOW + DAY)
    if state.advance_pending_to is not None:
        state = dataclasses.replace(state, advance_pending_since=later)
    return dataclasses.replace(state, updated_at=later)


STATE_IN: Dict[Phase, RolloutState] = {
    Phase.RUNNING: running(0),
    Phase.VETO_PENDING: pending(0),
    Phase.PAUSED: paused(0),
    Phase.KILLED: killed(),
}


def test_hand_built_states_are_in_the_phase_they_claim() -> None:
    for phase, state in STATE_IN.items():
        assert phase_of(state) is phase
    assert phase_of(killed(paused=True)) is Phase.KILLED
    assert phase_of(dataclasses.replace(paused(0), advance_pending_to=1)) is Phase.PAUSED


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class TickRow:
    """A tick that fires ``event`` from ``state`` given ``trades`` at NOW."""

    phase: Phase
    event: str
    state: RolloutState
    trades: Tuple[TradeOutcome, ...]
    action: RolloutAction
    from_stage: int
    to_stage: int
    reason: str
    stage_after: int
    window: float = WINDOW
    deadline: Optional[float] = None


TICK_ROWS = [
    TickRow(Phase.RUNNING, "kill", running(1), LOSSES, RolloutAction.KILL_TRIPPED, 1, 0,
            KILL_REASON, 0),
    TickRow(Phase.RUNNING, "veto_open", running(0), WINS, RolloutAction.VETO_OPEN, 0, 1,
            "gate passed; veto window opened", 0, deadline=NOW / SECOND + WINDOW),
    TickRow(Phase.RUNNING, "advance", running(0), WINS, RolloutAction.ADVANCE, 0, 1,
            "gate passed: ok", 1, window=0),
    TickRow(Phase.VETO_PENDING, "kill", pending(0), LOSSES, RolloutAction.KILL_TRIPPED, 0, 0,
            KILL_REASON, 0),
    TickRow(Phase.VETO_PENDING, "veto_expired", pending(0), WINS, RolloutAction.VETO_EXPIRED,
            0, 1, "veto window expired without abort; gate still met", 1),
    TickRow(Phase.VETO_PENDING, "advance_dropped", pending(0), ONE_WIN, RolloutAction.NOOP, 0,
            0, "veto window expired but the gate is no longer met (n=1 < 3); advance to "
            "stage 1 dropped", 0),
    TickRow(Phase.PAUSED, "kill", paused(1), LOSSES, RolloutAction.KILL_TRIPPED, 1, 0,
            KILL_REASON, 0),
]  # fmt: skip


@dataclass(frozen=True)
class VerbRow:
    """An operator verb applied to ``state`` at NOW."""

    phase: Phase
    event: str
    state: RolloutState
    stage_after: int
    reason: str
    to_stage: Optional[int] = None


VERB_ROWS = [
    VerbRow(Phase.RUNNING, "promote", running(0), 1,
            "promoted by hand to stage 1 (canary), skipping gate and window"),
    VerbRow(Phase.RUNNING, "pause", running(1), 1, "paused: no automatic advance until resumed"),
    VerbRow(Phase.RUNNING, "reset", running(2), 0, "reset to stage 0; evidence starts afresh"),
    VerbRow(Phase.VETO_PENDING, "veto", pending(0), 0,
            "advance to stage 1 vetoed; its evidence will not count again"),
    VerbRow(Phase.VETO_PENDING, "promote", pending(0), 2,
            "promoted by hand to stage 2 (full), skipping gate and window", to_stage=2),
    VerbRow(Phase.VETO_PENDING, "pause", pending(1), 1,
            "paused: no automatic advance until resumed; pending advance to stage 2 cancelled"),
    VerbRow(Phase.VETO_PENDING, "reset", pending(1), 0, "reset to stage 0; evidence starts afresh"),
    VerbRow(Phase.PAUSED, "resume", paused(1), 1, "resumed: automatic advance is back on"),
    VerbRow(Phase.PAUSED, "promote", paused(0), 1,
            "promoted by hand to stage 1 (canary), skipping gate and window"),
    VerbRow(Phase.PAUSED, "reset", paused(2), 0, "reset to stage 0; evidence starts afresh"),
    VerbRow(Phase.KILLED, "clear_kill", killed(), 0,
            f"kill switch cleared (was: {KILL_REASON}); evidence starts afresh"),
    VerbRow(Phase.KILLED, "pause", killed(), 0, "paused: no automatic advance until resumed"),
    VerbRow(Phase.KILLED, "resume", killed(paused=True), 0,
            "resumed: automatic advance is back on"),
    VerbRow(Phase.KILLED, "reset", killed(paused=True), 0,
            "reset to stage 0; evidence starts afresh"),
    VerbRow(Phase.RUNNING, "accept_clock", ahead(running(1)), 1,
            f"clock accepted at {stamp(NOW)}: 1 recorded instant(s) after it pulled back to "
            "it; evidence counts from there"),
    VerbRow(Phase.VETO_PENDING, "accept_clock", ahead(pending(0)), 0,
            f"clock accepted at {stamp(NOW)}: 2 recorded instant(s) after it pulled back to "
            "it; evidence counts from there; pending advance to stage 1 cancelled (the gate "
            "re-opens it if it still holds)"),
    VerbRow(Phase.PAUSED, "accept_clock", ahead(paused(0)), 0,
            f"clock accepted at {stamp(NOW)}: 1 recorded instant(s) after it pulled back to "
            "it; evidence counts from there"),
    VerbRow(Phase.KILLED, "accept_clock", ahead(killed()), 0,
            f"clock accepted at {stamp(NOW)}: 1 recorded instant(s) after it pulled back to "
            "it; evidence counts from there"),
]  # fmt: skip


def test_the_rows_cover_every_move_of_the_table_exactly_once() -> None:
    # The moves of experiment stages have their own rows in test_engine_experiments.py.
    experiment_events = {"drop_arm", "change_weights", "promote_arm", "srm_alarm"}
    table = [
        (phase, event)
        for phase, moves in TRANSITIONS.items()
        for event in moves
        if event not in experiment_events
    ]
    rows = [(r.phase, r.event) for r in TICK_ROWS] + [(r.phase, r.event) for r in VERB_ROWS]
    assert sorted(rows) == sorted(table)
    assert len(set(rows)) == len(rows)
    for row in TICK_ROWS:
        assert row.event in TICK_EVENTS
    for row in VERB_ROWS:
        assert row.event in OPERATOR_VERBS


@pytest.mark.parametrize("row", TICK_ROWS, ids=lambda r: f"{r.phase.value}-{r.event}")
def test_tick_row(row: TickRow) -> None:
    cfg = config(row.window)
    before = copy.deepcopy(row.state)
    step = tick(cfg, row.state, row.trades, NOW)
    assert row.state == before, "decide must not mutate its input"
    d = step.decision

    assert phase_of(row.state) is row.phase
    assert phase_of(step.state) is TRANSITIONS[row.phase][row.event]
    assert d.action is row.action
    assert d.changed is True
    assert (d.from_stage, d.to_stage) == (row.from_stage, row.to_stage)
    assert d.reason == row.reason
    assert d.veto_deadline_unix == row.deadline
    assert step.state.current_stage == row.stage_after
    assert d.params == cfg.stage(row.stage_after).params

    assert len(step.transitions) == 1
    (t,) = step.transitions
    assert t.event == row.event
    assert t.reason == d.reason
    assert (t.from_stage, t.to_stage) == (row.from_stage, row.stage_after)
    assert t.at == stamp(NOW)
    assert t.state == step.state
    assert t.metrics == d.metrics
    assert (t.note, t.actor) == ("", None)
    assert step.state.updated_at == stamp(NOW)
    assert step.state.last_tick_unix == NOW / SECOND
    assert step.state.last_decision_action == row.action.value
    # the history link is the shell's business: the core carries it through untouched
    assert (step.state.history_seq, step.state.history_hash) == (3, "a" * 64)


def test_tick_rows_leave_the_state_the_event_implies() -> None:
    by_key = {(r.phase, r.event): r for r in TICK_ROWS}
    now = stamp(NOW)

    kill = tick(config(), running(1), LOSSES, NOW).state
    assert kill.kill_switch_tripped
    assert kill.kill_reason == KILL_REASON
    assert kill.kill_timestamp == now
    assert kill.evidence_since == now
    assert kill.stage_entered_at == now
    assert kill.ship_timestamps == {"1": stamp(T0)}

    opened = tick(config(), running(0), WINS, NOW).state
    assert opened.advance_pending_to == 1
    assert opened.advance_veto_deadline_unix == NOW / SECOND + WINDOW
    assert opened.advance_pending_since == now
    assert opened.evidence_since is None  # stage 0's evidence is untouched by opening

    row = by_key[(Phase.VETO_PENDING, "kill")]
    pending_killed = tick(config(), row.state, row.trades, NOW).state
    assert pending_killed.advance_pending_to is None
    assert pending_killed.advance_veto_deadline_unix is None
    assert pending_killed.advance_pending_since is None

    for event in ("veto_expired",):
        row = by_key[(Phase.VETO_PENDING, event)]
        moved = tick(config(), row.state, row.trades, NOW).state
        assert moved.ship_timestamps == {"1": now}
        assert moved.stage_entered_at == now
        assert moved.evidence_since == now
        assert moved.advance_pending_to is None

    advanced = tick(config(0), running(0), WINS, NOW).state
    assert advanced.ship_timestamps == {"1": now}
    assert advanced.stage_entered_at == now
    assert advanced.evidence_since == now

    row = by_key[(Phase.VETO_PENDING, "advance_dropped")]
    dropped = tick(config(), row.state, row.trades, NOW).state
    assert dropped.current_stage == 0
    assert dropped.advance_pending_to is None
    assert dropped.advance_veto_deadline_unix is None
    assert dropped.advance_pending_since is None
    assert dropped.evidence_since == row.state.evidence_since  # the evidence still counts

    paused_killed = tick(config(), paused(1), LOSSES, NOW).state
    assert paused_killed.paused, "a kill does not forget that the operator paused"


@pytest.mark.parametrize("row", VERB_ROWS, ids=lambda r: f"{r.phase.value}-{r.event}")
def test_operator_row(row: VerbRow) -> None:
    cfg = config()
    before = copy.deepcopy(row.state)
    result = operate(
        cfg, row.state, row.event, NOW, note="from my phone", actor="ana", to_stage=row.to_stage
    )
    assert row.state == before, "operate must not mutate its input"
    assert isinstance(result, OperatorResult)
    assert result.verb == row.event
    assert result.applied is True
    assert result.reason == row.reason
    assert phase_of(row.state) is row.phase
    assert phase_of(result.state) is TRANSITIONS[row.phase][row.event]
    assert result.state.current_stage == row.stage_after
    assert result.state.updated_at == stamp(NOW)

    assert len(result.transitions) == 1
    (t,) = result.transitions
    assert t.event == row.event
    assert t.reason == row.reason
    assert (t.from_stage, t.to_stage) == (row.state.current_stage, row.stage_after)
    assert (t.note, t.actor) == ("from my phone", "ana")
    assert t.at == stamp(NOW)
    assert t.state == result.state
    assert t.metrics is None
    assert (result.state.history_seq, result.state.history_hash) == (3, "a" * 64)


def test_operator_rows_leave_the_state_the_verb_implies() -> None:
    cfg = config()
    now = stamp(NOW)

    vetoed = operate(cfg, pending(0), "veto", NOW).state
    assert vetoed.advance_pending_to is None
    assert vetoed.advance_veto_deadline_unix is None
    assert vetoed.advance_pending_since is None
    assert vetoed.evidence_since == now, "vetoed evidence must not count again"

    cleared = operate(cfg, killed(), "clear_kill", NOW).state
    assert not cleared.kill_switch_tripped
    assert cleared.kill_reason is None
    assert cleared.kill_timestamp is None
    assert cleared.evidence_since == now, "the losses that tripped it must not count again"

    promoted = operate(cfg, pending(0), "promote", NOW, to_stage=2).state
    assert promoted.ship_timestamps == {"2": now}
    assert promoted.stage_entered_at == now
    assert promoted.evidence_since == now
    assert promoted.advance_pending_to is None

    still_paused = operate(cfg, paused(0), "promote", NOW).state
    assert still_paused.paused
    assert still_paused.current_stage == 1

    for state in (running(2), pending(1), paused(2), killed(paused=True)):
        fresh = operate(cfg, state, "reset", NOW).state
        assert fresh == RolloutState(
            started_at=now,
            stage_entered_at=now,
            evidence_since=now,
            updated_at=now,
            history_seq=3,
            history_hash="a" * 64,
            bot_stage=state.current_stage,  # the bot's next tick is told of stage 0
            # A reset restarts the evidence but spends the error budget: stage 0's
            # next window is its second (issue 8).
            gate_windows={"0": 2},
        )

    paused_pending = operate(cfg, pending(1), "pause", NOW).state
    assert paused_pending.paused
    assert paused_pending.advance_pending_to is None

    killed_paused = operate(cfg, killed(), "pause", NOW).state
    assert killed_paused.paused
    assert killed_paused.kill_switch_tripped


def test_clearing_a_kill_while_paused_returns_to_paused_not_running() -> None:
    result = operate(config(), killed(paused=True), "clear_kill", NOW)
    assert result.applied
    assert phase_of(result.state) is Phase.PAUSED


# ----------------------------------------------------------------------------- refusals


def _refusal_cases() -> list[Any]:
    cases = []
    for phase, state in STATE_IN.items():
        for verb in OPERATOR_VERBS:
            if verb in TRANSITIONS[phase]:
                continue
            cases.append(pytest.param(phase, verb, state, id=f"{phase.value}-{verb}"))
    # States with a pending advance that their phase hides: the table alone refuses.
    pending_but_paused = dataclasses.replace(pending(0), paused=True)
    pending_but_killed = dataclasses.replace(
        killed(), advance_pending_to=1, advance_veto_deadline_unix=DEADLINE / SECOND
    )
    cases.append(pytest.param(Phase.PAUSED, "veto", pending_but_paused, id="paused-veto-hidden"))
    cases.append(pytest.param(Phase.KILLED, "veto", pending_but_killed, id="killed-veto-hidden"))
    return cases


def _nothing_to_act_on(state: RolloutState, verb: str) -> bool:
    return (verb == "veto" and state.advance_pending_to is None) or (
        verb == "clear_kill" and not state.kill_switch_tripped
    )


@pytest.mark.parametrize(("phase", "verb", "state"), _refusal_cases())
def test_a_verb_missing_from_the_table_changes_nothing(
    phase: Phase, verb: str, state: RolloutState
) -> None:
    assert phase_of(state) is phase
    before = copy.deepcopy(state)
    if _nothing_to_act_on(state, verb):
        result = operate(config(), state, verb, NOW)
        assert result == OperatorResult(verb, False, result.reason, state, ())
        assert result.state is state
    else:
        with pytest.raises(OperatorRefusedError):
            operate(config(), state, verb, NOW)
    assert state == before


def test_veto_with_nothing_pending_is_not_applied() -> None:
    state = running(1)
    result = operate(config(), state, "veto", NOW, note="n", actor="a")
    assert result.applied is False
    assert result.reason == "there is no pending advance to veto"
    assert result.transitions == ()
    assert result.state == running(1)


def test_clear_kill_with_nothing_tripped_is_not_applied() -> None:
    state = pending(0)
    result = operate(config(), state, "clear_kill", NOW)
    assert result.applied is False
    assert result.reason == "the kill switch is not tripped"
    assert result.transitions == ()
    assert result.state == pending(0)


def test_resume_while_killed_but_not_paused_is_refused() -> None:
    state = killed()
    with pytest.raises(OperatorRefusedError, match="not paused"):
        operate(config(), state, "resume", NOW)
    assert state == killed()


def test_pause_while_killed_and_paused_is_refused() -> None:
    state = killed(paused=True)
    with pytest.raises(OperatorRefusedError, match="already paused"):
        operate(config(), state, "pause", NOW)
    assert state == killed(paused=True)


@pytest.mark.parametrize(
    ("state", "to_stage", "message"),
    [
        (killed(), None, "kill switch is latched"),
        (running(2), None, "already at the last stage"),
        (running(1), 1, "forward only"),
        (running(1), 0, "forward only"),
        (running(0), 7, "there is no stage 7"),
    ],
    ids=["latched", "last-stage", "same-stage", "backwards", "unknown"],
)
def test_promote_refusals_change_nothing(
    state: RolloutState, to_stage: Optional[int], message: str
) -> None:
    before = copy.deepcopy(state)
    with pytest.raises(OperatorRefusedError, match=message):
        operate(config(), state, "promote", NOW, to_stage=to_stage)
    assert state == before


def test_an_unknown_verb_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="'explode'"):
        operate(config(), running(0), "explode", NOW)


# ----------------------------------------------------------------------------- the clock


def test_a_tick_on_a_clock_gone_back_never_advances_and_names_the_way_out() -> None:
    state = running(0)
    step = tick(config(), state, WINS, T0 - 1)
    assert state == running(0)
    assert step.decision.action is RolloutAction.NOOP
    assert step.transitions == ()
    assert "went back, or had jumped ahead" in step.decision.reason
    assert "accept-clock" in step.decision.reason


def test_a_tick_on_a_clock_gone_back_still_trips_the_kill_switch() -> None:
    step = tick(config(), ahead(pending(1)), LOSSES, NOW)
    assert step.decision.action is RolloutAction.KILL_TRIPPED
    assert step.state.kill_switch_tripped
    assert step.state.advance_pending_to is None


def test_a_verb_on_a_clock_gone_back_raises_clock_error_but_veto_and_pause() -> None:
    for verb in OPERATOR_VERBS:
        if verb in ("veto", "pause", "accept_clock"):
            assert operate(config(), pending(0), verb, OPENED - SECOND).applied
            continue
        with pytest.raises(ClockError, match="accept-clock"):
            operate(config(), pending(0), verb, OPENED - SECOND)


def test_the_clock_may_stand_still() -> None:
    step = tick(config(), running(0), ONE_WIN, T0)
    assert step.decision.action is RolloutAction.NOOP


# ----------------------------------------------------------------------------- ticks


def test_an_open_window_stays_open_without_changing_anything() -> None:
    state = pending(0)
    for now in (OPENED, OPENED + SECOND, DEADLINE - 1):
        step = tick(config(), state, WINS, now)
        assert step.decision.action is RolloutAction.VETO_OPEN
        assert step.decision.changed is False
        assert step.decision.veto_deadline_unix == DEADLINE / SECOND
        assert (step.decision.from_stage, step.decision.to_stage) == (0, 1)
        assert step.decision.params == STAGES[0].params
        assert "veto window still open" in step.decision.reason
        assert step.transitions == ()
        assert step.state == state


def test_the_window_expires_exactly_at_its_deadline() -> None:
    step = tick(config(), pending(0), WINS, DEADLINE)
    assert step.decision.action is RolloutAction.VETO_EXPIRED
    assert step.state.current_stage == 1
    assert step.state.evidence_since == stamp(DEADLINE)
    assert step.decision.params == STAGES[1].params


def test_a_window_whose_gate_no_longer_holds_is_dropped() -> None:
    step = tick(config(), pending(0), ONE_WIN, DEADLINE + MINUTE)
    d = step.decision
    assert d.action is RolloutAction.NOOP
    assert d.changed is True
    assert "dropped" in d.reason
    assert "n=1 < 3" in d.reason
    assert step.state.advance_pending_to is None
    assert [t.event for t in step.transitions] == ["advance_dropped"]


def test_a_latched_kill_is_a_quiet_noop_even_on_more_losses() -> None:
    state = killed()
    step = tick(config(), state, (*LOSSES, trade(9, -5.0)), NOW)
    d = step.decision
    assert d.action is RolloutAction.NOOP
    assert d.changed is False
    assert d.reason == f"kill switch tripped: {KILL_REASON} (latched until cleared)"
    assert (d.from_stage, d.to_stage) == (0, 0)
    assert step.transitions == ()
    assert step.state == state


def test_a_paused_rollout_does_not_advance_on_a_passing_gate() -> None:
    step = tick(config(0), paused(0), WINS, NOW)
    assert step.decision.action is RolloutAction.NOOP
    assert step.decision.reason == "paused: no automatic advance until resumed"
    assert step.decision.changed is False
    assert step.transitions == ()


def test_gate_not_yet_met_says_which_criterion() -> None:
    step = tick(config(), running(0), ONE_WIN, NOW)
    assert step.decision.action is RolloutAction.NOOP
    assert step.decision.reason == "gate not yet met: n=1 < 3"
    assert step.decision.changed is False
    assert step.transitions == ()
    assert step.decision.metrics.n == 1


def test_no_further_stage() -> None:
    step = tick(config(), running(2), WINS, NOW)
    assert step.decision.action is RolloutAction.NOOP
    assert step.decision.reason == "no further stage"
    assert step.decision.params == STAGES[2].params


def test_a_next_stage_without_a_gate_waits_for_a_promote() -> None:
    stages = (STAGES[0], Stage(1, {"x": 1}, name="manual"))
    step = tick(config(0, stages), running(0), WINS, NOW)
    assert step.decision.action is RolloutAction.NOOP
    assert step.decision.reason == "next stage has no gate; promote it by hand"
    assert step.transitions == ()


def test_the_first_tick_records_the_start_and_stage_0_entry() -> None:
    step = tick(config(), RolloutState(), (), NOW)
    assert step.decision.action is RolloutAction.NOOP
    assert [t.event for t in step.transitions] == ["start"]
    assert step.transitions[0].reason == "rollout started at stage 0"
    assert step.state.started_at == step.state.stage_entered_at == stamp(NOW)
    assert step.state.evidence_since is None, "stage 0 counts the bot's whole history"


def test_the_first_tick_can_also_decide() -> None:
    step = tick(config(0), RolloutState(), WINS, NOW)
    assert [t.event for t in step.transitions] == ["start", "advance"]
    assert step.decision.action is RolloutAction.ADVANCE


# ----------------------------------------------------------------------------- days


def _days_config() -> RolloutConfig:
    stages = (
        STAGES[0],
        Stage(1, {"s": 1}, Gate(min_n=3, min_days_after_prev=14)),
        Stage(2, {"s": 2}, Gate(min_n=3, min_days_after_prev=14)),
    )
    return config(0, stages)


def test_min_days_on_stage_0_count_from_the_first_tick() -> None:
    cfg = _days_config()
    first = T0 + 10 * DAY  # trades are years old by now: only the rollout's start counts
    state = tick(cfg, RolloutState(), (), first).state
    almost = tick(cfg, state, WINS, first + 14 * DAY - SECOND)
    assert almost.decision.action is RolloutAction.NOOP
    assert almost.decision.reason.startswith("gate not yet met: days_since_prev=")
    done = tick(cfg, state, WINS, first + 14 * DAY)
    assert done.decision.action is RolloutAction.ADVANCE


def test_min_days_count_from_the_stage_entry_not_the_rollout_start() -> None:
    cfg = _days_config()
    entered = T0 + 30 * DAY
    state = dataclasses.replace(
        running(1), stage_entered_at=stamp(entered), ship_timestamps={"1": stamp(entered)}
    )
    late_wins = tuple(TradeOutcome(1.0, 1.0, stamp(entered + i * MINUTE)) for i in range(1, 4))
    early = tick(cfg, state, late_wins, entered + 13 * DAY)
    assert early.decision.action is RolloutAction.NOOP
    assert "days_since_prev=13.0 < 14.0" in early.decision.reason
    assert tick(cfg, state, late_wins, entered + 14 * DAY).decision.action is RolloutAction.ADVANCE


def test_a_veto_does_not_restart_the_days_count() -> None:
    cfg = _days_config()
    state = dataclasses.replace(running(1), evidence_since=stamp(T0 + 13 * DAY))
    wins = tuple(TradeOutcome(1.0, 1.0, stamp(T0 + 13 * DAY + i * MINUTE)) for i in range(3))
    assert tick(cfg, state, wins, T0 + 14 * DAY).decision.action is RolloutAction.ADVANCE


# ----------------------------------------------------------------------------- the table


def test_every_phase_is_reachable_from_running() -> None:
    seen = {Phase.RUNNING}
    frontier = [Phase.RUNNING]
    while frontier:
        for target in TRANSITIONS[frontier.pop()].values():
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(Phase)


def test_every_phase_has_moves_and_a_way_back_to_running() -> None:
    assert set(TRANSITIONS) == set(Phase)
    for phase, moves in TRANSITIONS.items():
        assert moves, phase
        assert moves.get("reset") is Phase.RUNNING
        assert set(moves) <= set(TICK_EVENTS) | set(OPERATOR_VERBS)
    # the kill switch runs in every phase where it is not already latched
    for phase in (Phase.RUNNING, Phase.VETO_PENDING, Phase.PAUSED):
        assert TRANSITIONS[phase]["kill"] is Phase.KILLED
    assert "kill" not in TRANSITIONS[Phase.KILLED]
    # nothing advances by itself while paused or killed
    for phase in (Phase.PAUSED, Phase.KILLED):
        assert not {"veto_open", "advance", "veto_expired"} & set(TRANSITIONS[phase])


def test_the_first_event_says_whether_the_rollout_is_new_or_taken_over() -> None:
    config = RolloutConfig((Stage(0, {}), Stage(1, {}, Gate(min_n=99)), Stage(2, {})), KillSwitch())
    empty = StageEvidence(None, config.recent_capacity)
    now = parse_instant("2026-05-01T00:00:00Z")
    fresh = decide(config, RolloutState(), empty, now)
    assert [(t.event, t.reason) for t in fresh.transitions] == [
        ("start", "rollout started at stage 0")
    ]
    assert fresh.decision.changed is False  # recorded, but nothing for the bot to act on
    saved_by_hand = decide(config, RolloutState(current_stage=2), empty, now)
    assert saved_by_hand.transitions[0].reason == ("took over an existing state file at stage 2")


# ----------------------------------------------------------------------------- the table drives


def test_the_words_are_their_text() -> None:
    assert set(OPERATOR_VERBS) == set(Verb)
    assert set(TICK_EVENTS) < set(Event)
    for word in (*Event, *Verb):
        assert word == word.value
        assert hash(word) == hash(word.value)
        assert (str(word), f"{word}", repr(word)) == (word.value, word.value, repr(word.value))
        assert json.dumps(word) == json.dumps(word.value)
    assert {v.event for v in Verb} == {Event(v.value) for v in Verb}
    moves = {event for moves in TRANSITIONS.values() for event in moves}
    assert moves == set(Event) - set(BOOKKEEPING_EVENTS), "every other event is a move"


def test_every_verb_has_one_handler() -> None:
    assert set(HANDLERS) == set(Verb)


@pytest.mark.parametrize("phase", list(Phase))
def test_settling_into_a_phase_puts_the_state_in_it(phase: Phase) -> None:
    for state in (running(1), pending(0), paused(1), killed()):
        if phase is Phase.VETO_PENDING:
            state = dataclasses.replace(state, **_PENDING_FIELDS)
        if phase is Phase.RUNNING:
            state = dataclasses.replace(state, paused=False)  # resume's edit, not the landing's
        assert phase_of(settle(state, phase)) is phase
    with pytest.raises(AssertionError, match="pending"):
        settle(running(0), Phase.VETO_PENDING)


def test_a_pause_under_a_latched_kill_outlives_the_kill() -> None:
    assert phase_of(settle(killed(paused=True), Phase.RUNNING)) is Phase.PAUSED


_PENDING_FIELDS: Dict[str, Any] = {
    "advance_pending_to": 1,
    "advance_veto_deadline_unix": DEADLINE / SECOND,
    "advance_pending_since": stamp(OPENED),
}


def test_the_phase_a_verb_lands_in_comes_from_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    redrawn = {phase: dict(moves) for phase, moves in TRANSITIONS.items()}
    redrawn[Phase.RUNNING][Event.PROMOTE] = Phase.PAUSED
    monkeypatch.setattr(transitions_module, "TRANSITIONS", redrawn)
    result = operate(config(), running(0), "promote", NOW)
    assert result.state.current_stage == 1
    assert phase_of(result.state) is Phase.PAUSED


def test_the_phase_a_tick_lands_in_comes_from_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    redrawn = {phase: dict(moves) for phase, moves in TRANSITIONS.items()}
    del redrawn[Phase.RUNNING][Event.ADVANCE]
    monkeypatch.setattr(transitions_module, "TRANSITIONS", redrawn)
    state = running(0)
    with pytest.raises(OperatorRefusedError, match="no 'advance' move from phase running"):
        tick(config(0), state, WINS, NOW)
    assert state == running(0)


@pytest.mark.parametrize(
    ("state", "verb", "message"),
    [
        (killed(), "promote", "no 'promote' move from phase killed"),
        (paused(0), "pause", "already paused \\(no 'pause' move from phase paused\\)"),
        (running(0), "resume", "not paused \\(no 'resume' move from phase running\\)"),
        (dataclasses.replace(pending(0), paused=True), "veto", "'veto' is not allowed while "
         "the rollout is paused \\(no 'veto' move from phase paused\\)"),
    ],
)  # fmt: skip
def test_a_refusal_names_the_phase_and_the_event(
    state: RolloutState, verb: str, message: str
) -> None:
    with pytest.raises(OperatorRefusedError, match=message):
        operate(config(), state, verb, NOW)


def test_operate_takes_a_verb_or_its_text() -> None:
    by_word = operate(config(), running(0), Verb.PAUSE, NOW)
    by_text = operate(config(), running(0), "pause", NOW)
    assert by_word == by_text
    assert by_word.verb is Verb.PAUSE
    assert by_word.transitions[0].event is Event.PAUSE
