"""Issue 8: complete evidence, the size-weighted EV test in a gate, windows that spend
the error budget, and proven levels never below the bar.

The slow Monte Carlo counterparts are in ``test_flows_slow.py``.
"""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any, List, Mapping, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_rollout import Gate, KillSwitch, ManualClock, Rollout, RolloutAction, Stage, TradeOutcome
from quant_rollout.engine import (
    RolloutConfig,
    gate_window,
    operate,
    windowed_gate,
)
from quant_rollout.engine.state import RolloutState
from quant_rollout.errors import ConfigError, CorruptStateError, InvalidTradeError
from quant_rollout.evidence import EvidenceFeed, EvidenceTracker, StageEvidence
from quant_rollout.gates import GateVerdict
from quant_rollout.metrics import compute_metrics
from quant_rollout.rollout import DEFAULT_MAX_HOLDING_SECONDS
from quant_rollout.stats.spending import window_confidence
from quant_rollout.storage.store import MemoryStore

T0 = 1_777_593_600  # 2026-05-01T00:00:00Z
US = 1_000_000
NO_KILL = KillSwitch(wr_threshold=None, ev_threshold=None)
WR_GATE = Gate(min_win_rate=0.5, min_ev_per_dollar=None, confidence=0.95)


class _Judged:
    """A gate-side tracker recording the order it is fed."""

    order_sensitive = True
    complete_evidence = True

    def __init__(self) -> None:
        self.seen: List[TradeOutcome] = []

    def add(self, trade: TradeOutcome) -> None:
        self.seen.append(trade)


def _judged_factory(epoch: Tuple[Any, ...]) -> Mapping[str, EvidenceTracker]:
    return {"gate": _Judged()}


# ----------------------------------------------------------------------------- the prefix


def test_trades_after_the_oldest_open_one_wait_and_join_in_opening_order() -> None:
    evidence = StageEvidence(None, 10, _judged_factory(()), complete_before=(T0 + 60) * US)
    late_win = TradeOutcome(1.0, 1.0, T0 + 120)
    early = TradeOutcome(1.0, 1.0, T0)
    evidence.add(late_win, (late_win.instant_us, 0))
    evidence.add(early, (early.instant_us, 1))
    assert evidence.n == 2
    assert evidence.judged_metrics().n == 1
    assert evidence.waiting == 1
    loss = TradeOutcome(-1.0, 1.0, T0 + 60)  # the trade that was open
    evidence.add(loss, (loss.instant_us, 2))
    evidence.complete_through((T0 + 180) * US)
    tracker = evidence.trackers["gate"]
    assert isinstance(tracker, _Judged)
    assert tracker.seen == [early, loss, late_win]
    assert evidence.waiting == 0
    assert evidence.judged_metrics() == compute_metrics([early, loss, late_win])
    evidence.complete_through((T0 + 60) * US)  # never moves back
    assert evidence.complete_before == (T0 + 180) * US


def test_a_trade_reported_after_its_prefix_was_judged_is_appended_not_reordered() -> None:
    evidence = StageEvidence(None, 10, _judged_factory(()), complete_before=(T0 + 600) * US)
    first, second = TradeOutcome(1.0, 1.0, T0 + 60), TradeOutcome(1.0, 1.0, T0 + 120)
    evidence.add(first, (first.instant_us, 0))
    evidence.add(second, (second.instant_us, 1))
    liar = TradeOutcome(-1.0, 1.0, T0)  # said to be closed before, reported only now
    evidence.add(liar, (liar.instant_us, 2))
    tracker = evidence.trackers["gate"]
    assert isinstance(tracker, _Judged)
    assert tracker.seen == [first, second, liar]
    assert evidence.late == 1


@settings(max_examples=60, deadline=None)
@given(
    holdings=st.lists(st.integers(0, 30), min_size=1, max_size=60),
    outcomes=st.lists(st.booleans(), min_size=60, max_size=60),
)
def test_the_gate_sees_exactly_the_opening_order_prefix_whatever_the_closing_order(
    holdings: List[int], outcomes: List[bool]
) -> None:
    # One trade opens a minute; it closes `holding` minutes later; the bot appends
    # closed trades and reports the oldest open one. At every tick the gate-side
    # tracker must have seen exactly the first k trades by opening time.
    trades = [
        TradeOutcome(1.0 if win else -1.0, 1.0, T0 + 60 * i)
        for i, win in zip(range(len(holdings)), outcomes)
    ]
    closes = [i + h for i, h in enumerate(holdings)]
    feed = EvidenceFeed(5, _judged_factory)
    closed: List[TradeOutcome] = []
    for minute in range(len(trades) + 31):
        closed += [t for i, t in enumerate(trades) if closes[i] == minute and i <= minute]
        opened = list(range(min(minute + 1, len(trades))))
        still_open = [i for i in opened if closes[i] > minute]
        cutoff = (T0 + 60 * min(still_open)) * US if still_open else (T0 + 60 * minute + 1) * US
        evidence = feed.evidence(list(closed), None, (0,), cutoff)
        tracker = evidence.trackers["gate"]
        assert isinstance(tracker, _Judged)
        k = len(tracker.seen)
        assert tracker.seen == trades[:k]
        assert k == (min(still_open) if still_open else len(opened))
        assert evidence.late == 0


# ----------------------------------------------------------------------------- the shell


def _bot(report: bool, minutes: int) -> Tuple[Rollout, List[RolloutAction]]:
    """Wins close after 5 minutes, losses after 60, half and half: a stage at its bar."""
    clock = ManualClock(T0)
    stages = (Stage(0, {}), Stage(1, {}, gate=WR_GATE))
    rollout = Rollout(stages, NO_KILL, store=MemoryStore(), veto_window_seconds=0, clock=clock)
    rng = random.Random(4)
    opened: List[Tuple[int, TradeOutcome]] = []
    closed: List[TradeOutcome] = []
    actions = []
    for minute in range(minutes):
        win = rng.random() < 0.5
        opened.append(
            (minute + (5 if win else 60), TradeOutcome(1.0 if win else -1.0, 1.0, T0 + 60 * minute))
        )
        closed += [t for close, t in opened if close == minute]
        clock.set(T0 + 60 * minute + 30)
        still = [t.timestamp for close, t in opened if close > minute]
        decision = rollout.tick(closed, open_trades=still) if report else rollout.tick(closed)
        actions.append(decision.action)
    return rollout, actions


def test_a_bot_that_takes_profits_fast_no_longer_passes_a_gate_at_its_bar() -> None:
    rollout, actions = _bot(report=True, minutes=90)
    assert RolloutAction.ADVANCE not in actions  # 0.2 advanced by minute ~30
    status = rollout.status([], open_trades=[])
    assert status.evidence_waiting == 0


def test_a_bot_that_says_nothing_gets_a_day_of_holding_time() -> None:
    rollout, actions = _bot(report=False, minutes=90)
    assert RolloutAction.ADVANCE not in actions
    trades = [TradeOutcome(1.0, 1.0, T0 + 60 * i) for i in range(80)]
    status = rollout.status(trades)
    assert status.complete_before is not None
    assert status.judged_metrics is not None
    assert status.judged_metrics.n == 0
    assert status.evidence_waiting == 80
    assert DEFAULT_MAX_HOLDING_SECONDS == 86_400


def test_a_rollout_without_confidence_gates_judges_every_closed_trade_as_0_1_did() -> None:
    clock = ManualClock(T0 + 3600)
    stages = (Stage(0, {}), Stage(1, {}, gate=Gate(min_n=5)))
    rollout = Rollout(stages, NO_KILL, store=MemoryStore(), veto_window_seconds=0, clock=clock)
    trades = [TradeOutcome(1.0, 1.0, T0 + 60 * i) for i in range(5)]
    assert rollout.tick(trades).action is RolloutAction.ADVANCE


def test_max_holding_seconds_says_what_has_surely_closed() -> None:
    clock = ManualClock(T0 + 3600)
    stages = (Stage(0, {}), Stage(1, {}, gate=WR_GATE))
    rollout = Rollout(stages, NO_KILL, store=MemoryStore(), clock=clock, max_holding_seconds=1800)
    trades = [TradeOutcome(1.0, 1.0, T0 + 60 * i) for i in range(60)]
    status = rollout.status(trades)
    assert status.judged_metrics is not None
    assert status.judged_metrics.n == 31  # opened at or before now - 30 minutes
    assert status.evidence_waiting == 29
    with pytest.raises(ConfigError, match="max_holding_seconds"):
        Rollout(stages, NO_KILL, store=MemoryStore(), max_holding_seconds=-1)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"open_trades": ["yesterday"]}, "open_trades\\[0\\]"),
        ({"open_trades": "2026-05-01"}, "a list of opening times"),
        ({"closed_through": "soon"}, "closed_through"),
    ],
)
def test_bad_reports_name_the_argument(kwargs: Mapping[str, Any], words: str) -> None:
    rollout = Rollout((Stage(0, {}),), NO_KILL, store=MemoryStore(), clock=ManualClock(T0))
    with pytest.raises(InvalidTradeError, match=words):
        rollout.tick([], **kwargs)


# ----------------------------------------------------------------------------- size


def test_a_size_0_loss_does_not_vanish_from_the_ev_test() -> None:
    trades = [TradeOutcome(1.0, 1.0, T0 + 60 * i) for i in range(30)]
    trades.append(TradeOutcome(-50.0, 0.0, T0 + 60 * 30))
    assert compute_metrics(trades).ev_per_dollar < -0.6
    plain = Gate(min_ev_per_dollar=0.0, confidence=0.95).judge_trades(trades)
    assert plain.verdict is GateVerdict.NOT_YET
    assert "pnl=-50.0 on size=0.0" in plain.reason
    assert "report the capital at risk as the size" in plain.reason
    sized = Gate(min_ev_per_dollar=0.0, confidence=0.95, max_trade_size=50.0)
    assert sized.judge_trades(trades).verdict is GateVerdict.NOT_YET
    too_big = Gate(min_ev_per_dollar=0.0, confidence=0.95, max_trade_size=10.0)
    reason = too_big.judge_trades(trades).reason
    assert "loses more than loss_bound * max_size" in reason


def test_a_trade_above_max_trade_size_voids_the_ev_criterion() -> None:
    gate = Gate(min_ev_per_dollar=0.0, confidence=0.95, max_trade_size=10.0)
    trades = [TradeOutcome(5.0, 5.0, T0 + 60 * i) for i in range(200)]
    assert gate.judge_trades(trades).passes
    trades.insert(3, TradeOutcome(11.0, 11.0, T0 + 100))
    result = gate.judge_trades(trades)
    assert result.verdict is GateVerdict.NOT_YET
    assert "size=11.0 is above max_size=10.0" in result.reason
    assert "raise max_trade_size" in result.reason


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"max_trade_size": 0.0, "confidence": 0.95}, "must be > 0"),
        ({"max_trade_size": 10.0}, "only applies to a confidence gate"),
    ],
)
def test_max_trade_size_is_checked(kwargs: Mapping[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        Gate(**kwargs)


# ----------------------------------------------------------------------------- windows


def _config() -> RolloutConfig:
    return RolloutConfig((Stage(0, {}), Stage(1, {}, gate=WR_GATE)), NO_KILL, 0)


def test_every_restart_of_a_stage_starts_a_window_at_a_smaller_level() -> None:
    now = (T0 + 3600) * US
    state = RolloutState(started_at="2026-05-01T00:00:00Z")
    assert gate_window(state) == 1
    reset = operate(_config(), state, "reset", now).state
    assert gate_window(reset) == 2
    again = operate(_config(), reset, "reset", now + US).state
    assert gate_window(again) == 3
    killed = dataclasses.replace(again, kill_switch_tripped=True, kill_reason="x")
    cleared = operate(_config(), killed, "clear_kill", now + 2 * US).state
    assert gate_window(cleared) == 3  # the kill's own window was never judged
    assert windowed_gate(WR_GATE, 1).confidence == pytest.approx(0.96)
    assert windowed_gate(WR_GATE, 3).confidence == pytest.approx(window_confidence(0.95, 3))
    assert windowed_gate(Gate(min_n=3), 5) == Gate(min_n=3)


def test_gate_windows_round_trip_and_old_files_read_as_one_window() -> None:
    state = RolloutState(gate_windows={"0": 3})
    assert RolloutState.from_dict(json.loads(state.to_json())).gate_windows == {"0": 3}
    data = json.loads(RolloutState().to_json())
    del data["gate_windows"]
    assert RolloutState.from_dict(data).gate_windows == {}
    for bad in ({"x": 1}, {"0": 0}, [1]):
        with pytest.raises(CorruptStateError, match="gate_windows"):
            RolloutState.from_dict({**data, "gate_windows": bad})


# ----------------------------------------------------------------------------- rounding


def test_a_passed_gates_proven_level_is_never_below_its_bar() -> None:
    gate = Gate(min_win_rate=0.55, min_ev_per_dollar=None, confidence=0.95)
    for n in range(20, 400):
        for wins in range(int(0.55 * n), n + 1):
            metrics = compute_metrics(
                [TradeOutcome(1.0 if i < wins else -1.0, 1.0, T0 + i) for i in range(n)]
            )
            if gate.verdict(metrics) is GateVerdict.PASS:
                proof = gate.proof(metrics)
                assert proof.win_rate_lower is not None
                assert proof.win_rate_lower >= 0.55, (wins, n)
                break


# ----------------------------------------------------------------------------- the command


def test_status_says_what_waits_and_which_window_the_gate_judges(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from quant_rollout.tools.cli import main
    from quant_rollout.tools.config import EXAMPLE_CONFIG

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUANT_ROLLOUT_NOW", "2026-05-01T12:00:00Z")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("QUANT_ROLLOUT_CONFIG", raising=False)
    (tmp_path / "rollout.toml").write_text(EXAMPLE_CONFIG, encoding="utf-8")
    rows = ["timestamp,pnl,size"] + [
        f"2026-05-01T{i // 60:02d}:{i % 60:02d}:00Z,{5.0 if i % 3 else -5.0},5.0" for i in range(90)
    ]
    (tmp_path / "trades.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    args = ["--config", "rollout.toml", "status", "--trades", "trades.csv"]
    assert main(args) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "waiting 90 closed trades opened from 2026-04-30T12:00:00.000001+00:00 wait" in out
    assert main([*args, "--closed-through", "2026-05-01T12:00:00Z"]) == 0
    assert "waiting" not in capsys.readouterr().out
    assert main(["--config", "rollout.toml", "reset", "--yes"]) == 0
    capsys.readouterr()
    assert main(["--config", "rollout.toml", "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["gate_window"] == 2
    assert main(["--config", "rollout.toml", "status"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "window 2 of stage 0 (baseline)" in out
    assert "its gate tests at 99.39%, so that all its windows together stay within 5%" in out


def test_every_tracker_of_a_gate_takes_the_complete_prefix() -> None:
    from quant_rollout.gates import GateTracker, GateTrackers

    assert GateTracker.complete_evidence
    assert GateTrackers.complete_evidence
