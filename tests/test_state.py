"""The state file: strict to read, upgraded from 0.1, never silently reset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_rollout.engine.state import (
    SCHEMA_VERSION,
    RolloutState,
    state_from_dict,
    state_from_json,
)
from quant_rollout.errors import CorruptStateError, StateError, UnknownSchemaError
from quant_rollout.trades import format_instant

SHIP_1 = "2026-05-01T12:00:00+00:00"

# Exactly what quant-rollout 0.1 wrote (json.dumps(asdict(state), indent=2)).
V01_STAGE_1 = {
    "current_stage": 1,
    "ship_timestamps": {"1": SHIP_1},
    "kill_switch_tripped": False,
    "kill_reason": None,
    "kill_timestamp": None,
    "advance_pending_to": None,
    "advance_veto_deadline_unix": None,
    "last_tick_unix": 1777640400.5,
    "last_decision_action": "advance",
}


def _write(path: Path, data: object) -> bytes:
    raw = (json.dumps(data, indent=2) if not isinstance(data, str) else data).encode()
    path.write_bytes(raw)
    return raw


def _full_state() -> RolloutState:
    return RolloutState(
        current_stage=2,
        ship_timestamps={"1": SHIP_1, "2": "2026-05-15T08:30:00+00:00"},
        kill_switch_tripped=False,
        advance_pending_to=3,
        advance_veto_deadline_unix=1778835000.0,
        last_tick_unix=1778833200.0,
        last_decision_action="veto_open",
        evidence_since="2026-05-15T08:30:00+00:00",
        stage_entered_at="2026-05-15T08:30:00+00:00",
        started_at="2026-04-30T00:00:00+00:00",
        advance_pending_since="2026-05-15T08:20:00+00:00",
        paused=False,
        updated_at="2026-05-15T08:20:00+00:00",
        history_seq=7,
        history_hash="ab" * 32,
    )


# ----------------------------------------------------------------------------- round trips


def test_fresh_state_is_stage_0_with_nothing_latched() -> None:
    s = RolloutState()
    assert s.current_stage == 0
    assert not s.kill_switch_tripped
    assert s.advance_pending_to is None
    assert s.evidence_since is None
    assert s.schema_version == SCHEMA_VERSION == 4


def test_to_dict_from_dict_round_trip() -> None:
    s = _full_state()
    d = s.to_dict()
    assert d["schema_version"] == SCHEMA_VERSION
    assert RolloutState.from_dict(d) == s
    assert RolloutState.from_dict(json.loads(s.to_json())) == s


def test_to_json_is_indented_with_keys_in_field_order_and_a_trailing_newline() -> None:
    text = RolloutState().to_json()
    assert text.endswith("}\n")
    assert text.startswith('{\n  "current_stage": 0,\n  "ship_timestamps": {},')
    assert list(json.loads(text))[:9] == list(V01_STAGE_1)


_TIME = st.integers(0, 4_000_000_000_000_000).map(format_instant)
_TIMES = st.none() | _TIME


@given(
    st.builds(
        RolloutState,
        current_stage=st.integers(0, 20),
        ship_timestamps=st.dictionaries(st.integers(0, 20).map(str), _TIME),
        kill_switch_tripped=st.booleans(),
        kill_reason=st.none() | st.text(),
        kill_timestamp=_TIMES,
        last_tick_unix=st.none() | st.floats(0, 4e9),
        last_decision_action=st.none() | st.sampled_from(["advance", "kill", "veto_open"]),
        evidence_since=_TIMES,
        stage_entered_at=_TIMES,
        started_at=_TIMES,
        paused=st.booleans(),
        updated_at=_TIMES,
        history_seq=st.integers(0, 10**9),
        history_hash=st.none() | st.text("0123456789abcdef", min_size=64, max_size=64),
    )
)
def test_any_state_survives_json(s: RolloutState) -> None:
    assert RolloutState.from_dict(json.loads(s.to_json())) == s


def test_save_then_load(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.json"
    s = _full_state()
    s.save(path)
    assert RolloutState.load(path) == s
    assert path.read_text() == s.to_json()
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]


def test_load_of_a_missing_file_is_a_fresh_state(tmp_path: Path) -> None:
    assert RolloutState.load(tmp_path / "nope.json") == RolloutState()
    assert not (tmp_path / "nope.json").exists()


# ----------------------------------------------------------------------------- 0.1 files


def test_0_1_state_file_loads_and_upgrades(tmp_path: Path) -> None:
    path = tmp_path / "rollout_state.json"
    raw = _write(path, V01_STAGE_1)
    s = RolloutState.load(path)
    assert s.current_stage == 1
    assert s.ship_timestamps == {"1": SHIP_1}
    assert s.last_tick_unix == 1777640400.5
    assert s.last_decision_action == "advance"
    assert s.schema_version == SCHEMA_VERSION
    # The current stage's ship time both started the stage and filters its evidence.
    assert s.evidence_since == SHIP_1
    assert s.stage_entered_at == SHIP_1
    assert s.started_at is None
    assert s.history_seq == 0
    assert path.read_bytes() == raw  # reading never rewrites


def test_0_1_state_at_stage_0_counts_all_trades() -> None:
    data = dict(V01_STAGE_1, current_stage=0, last_decision_action="noop")
    s = state_from_dict(data)
    assert s.evidence_since is None
    assert s.stage_entered_at is None


def test_0_1_state_killed_back_to_stage_0_keeps_the_latched_kill() -> None:
    data = dict(
        V01_STAGE_1,
        current_stage=0,
        kill_switch_tripped=True,
        kill_reason="win_rate(30)=0.433 < 0.550",
        kill_timestamp="2026-05-03T09:00:00+00:00",
        last_decision_action="kill",
    )
    s = state_from_dict(data)
    assert s.kill_switch_tripped
    assert s.kill_reason == "win_rate(30)=0.433 < 0.550"
    assert s.evidence_since is None
    assert s.updated_at == "2026-05-03T09:00:00+00:00"


def test_0_1_state_with_an_open_veto_window_keeps_it() -> None:
    data = dict(
        V01_STAGE_1,
        current_stage=0,
        advance_pending_to=1,
        advance_veto_deadline_unix=1777640400.0,
        last_decision_action="veto_open",
    )
    s = state_from_dict(data)
    assert s.advance_pending_to == 1
    assert s.advance_veto_deadline_unix == 1777640400.0


def test_0_1_state_with_a_key_0_1_never_wrote_is_refused() -> None:
    with pytest.raises(CorruptStateError, match=r"unknown field\(s\) \['paused'\]"):
        state_from_dict(dict(V01_STAGE_1, paused=True))


# ----------------------------------------------------------------------------- corrupt files


@pytest.mark.parametrize(
    ("content", "pattern", "error"),
    [
        ('{"current_stage": 1, "ship_tim', "not valid JSON", CorruptStateError),
        ("", "not valid JSON", CorruptStateError),
        ("[1, 2]", "expected a JSON object, got list", CorruptStateError),
        ("null", "expected a JSON object", CorruptStateError),
        ({**V01_STAGE_1, "current_stage": "1"}, r"'current_stage'.*'1'", CorruptStateError),
        ({**V01_STAGE_1, "current_stage": -1}, r"'current_stage'.*-1", CorruptStateError),
        ({**V01_STAGE_1, "current_stage": True}, r"'current_stage'.*True", CorruptStateError),
        ({**V01_STAGE_1, "kill_switch_tripped": "no"}, "'kill_switch_tripped'", CorruptStateError),
        ({**V01_STAGE_1, "kill_reason": 3}, "'kill_reason'", CorruptStateError),
        ({**V01_STAGE_1, "ship_timestamps": []}, "'ship_timestamps'", CorruptStateError),
        (
            {**V01_STAGE_1, "ship_timestamps": {"one": SHIP_1}},
            r"'ship_timestamps'.*'one'",
            CorruptStateError,
        ),
        (
            {**V01_STAGE_1, "ship_timestamps": {"1": None}},
            r"ship_timestamps\['1'\].*None",
            CorruptStateError,
        ),
        (
            {**V01_STAGE_1, "ship_timestamps": {"1": "last tuesday"}},
            r"ship_timestamps\['1'\].*'last tuesday'",
            CorruptStateError,
        ),
        ({**V01_STAGE_1, "kill_timestamp": 12}, "'kill_timestamp'", CorruptStateError),
        ({**V01_STAGE_1, "last_tick_unix": "noon"}, "'last_tick_unix'", CorruptStateError),
        ('{"current_stage": 0, "last_tick_unix": NaN}', "'last_tick_unix'", CorruptStateError),
        (
            {**V01_STAGE_1, "advance_pending_to": 2},
            "'advance_veto_deadline_unix'",
            CorruptStateError,
        ),
        ({**V01_STAGE_1, "advance_pending_to": "2"}, "'advance_pending_to'", CorruptStateError),
        ({**V01_STAGE_1, "surprise": 1}, r"unknown field\(s\) \['surprise'\]", CorruptStateError),
        ({"schema_version": 2, "bogus": 1}, r"unknown field\(s\) \['bogus'\]", CorruptStateError),
        ({"schema_version": 2, "paused": 1}, "'paused'", CorruptStateError),
        ({"schema_version": 2, "history_seq": -1}, "'history_seq'", CorruptStateError),
        ({"schema_version": 2, "history_seq": 1.0}, "'history_seq'", CorruptStateError),
        ({"schema_version": 2, "evidence_since": "soon"}, "'evidence_since'", CorruptStateError),
        ({"schema_version": "2"}, "'schema_version'", CorruptStateError),
        ({"schema_version": 99}, "schema_version 99", UnknownSchemaError),
        ({"schema_version": 1}, "schema_version 1", UnknownSchemaError),
    ],
)
def test_a_bad_state_file_raises_naming_the_file_and_field_and_is_left_untouched(
    tmp_path: Path, content: Any, pattern: str, error: type
) -> None:
    path = tmp_path / "rollout_state.json"
    raw = _write(path, content)
    with pytest.raises(error, match=pattern) as info:
        RolloutState.load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, (StateError, ValueError))
    assert path.read_bytes() == raw
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rollout_state.json"]


def test_unknown_schema_is_a_corrupt_state_error_too() -> None:
    with pytest.raises(CorruptStateError, match="upgrade quant-rollout"):
        state_from_dict({"schema_version": SCHEMA_VERSION + 1})


def test_a_state_file_that_is_not_utf8_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b'{"current_stage": \xff}')
    with pytest.raises(CorruptStateError, match="not valid JSON"):
        RolloutState.load(path)


def test_corrupt_state_message_says_what_to_do() -> None:
    with pytest.raises(CorruptStateError, match="left untouched") as info:
        state_from_dict({**V01_STAGE_1, "current_stage": "x"}, source="/bot/state.json")
    assert str(info.value).startswith("/bot/state.json: field 'current_stage'")


def test_a_v2_file_with_missing_fields_takes_the_defaults() -> None:
    d: Dict[str, Any] = {"schema_version": 2, "current_stage": 1}
    assert state_from_dict(d) == RolloutState(current_stage=1)


def test_an_unreadable_state_file_is_corrupt_and_named(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.mkdir()  # exists, but reading it fails
    with pytest.raises(CorruptStateError, match=r"state\.json: cannot read the state file"):
        RolloutState.load(path)


def test_save_then_load_round_trips_through_the_atomic_leaf(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.json"
    state = RolloutState(current_stage=2, ship_timestamps={"2": SHIP_1}, paused=True)
    state.save(path)
    assert RolloutState.load(path) == state
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]  # no temp left


def test_a_deeply_nested_state_file_is_corrupt_not_a_recursion_error() -> None:
    with pytest.raises(CorruptStateError, match=r"nested too deeply.*restore"):
        state_from_json(b"[" * 100_000)
