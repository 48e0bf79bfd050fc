"""The history log: one hash-chained JSON line per transition, and its verification."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import List, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import T0_NOON_US as T0_US
from quant_rollout.engine.model import Transition
from quant_rollout.engine.state import RolloutState, state_from_dict
from quant_rollout.engine.transitions import Event
from quant_rollout.errors import HistoryError
from quant_rollout.metrics import Metrics
from quant_rollout.storage.history import (
    GENESIS_HASH,
    encode_transition,
    history_path_for,
    parse_line,
    read_history,
    verify_history,
    verify_lines,
)
from quant_rollout.trades import format_instant


def _transition(i: int, *, note: str = "", actor: Optional[str] = None) -> Transition:
    at = format_instant(T0_US + i * 60_000_000)
    state = RolloutState(
        current_stage=i % 3,
        started_at=format_instant(T0_US),
        updated_at=at,
        history_seq=99,  # never written into a line: the line's own seq says it
        history_hash="f" * 64,
    )
    return Transition(
        event="advance",
        at=at,
        from_stage=(i - 1) % 3,
        to_stage=i % 3,
        reason=f"step {i}",
        state=state,
        note=note,
        actor=actor,
        metrics=Metrics(
            n=i, wins=i, win_rate=1.0, total_pnl=float(i), total_size=2.0 * i, ev_per_dollar=0.5
        ),
    )


def _chain(n: int) -> List[str]:
    lines, prev = [], GENESIS_HASH
    for i in range(1, n + 1):
        line, prev = encode_transition(_transition(i), i, prev)
        lines.append(line)
    return lines


def _sha(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()


# ----------------------------------------------------------------------------- encode/parse


def test_encode_then_parse_round_trip() -> None:
    t = _transition(4, note="looks good", actor="alice")
    line, line_hash = encode_transition(t, 7, "a" * 64)
    rec = parse_line(line, "here")
    assert (rec.seq, rec.at, rec.event, rec.from_stage, rec.to_stage) == (
        7,
        t.at,
        "advance",
        0,
        1,
    )
    assert (rec.reason, rec.note, rec.actor) == ("step 4", "looks good", "alice")
    assert rec.metrics == t.metrics.to_dict()  # type: ignore[union-attr]
    assert rec.prev_hash == "a" * 64
    assert rec.line_hash == line_hash == _sha(line)


def test_a_line_snapshots_the_state_without_its_history_link() -> None:
    t = _transition(2)
    rec = parse_line(encode_transition(t, 1, GENESIS_HASH)[0], "here")
    assert "history_seq" not in rec.state
    assert "history_hash" not in rec.state
    restored = state_from_dict(rec.state)
    assert restored == RolloutState(**{**t.state.to_dict(), "history_seq": 0, "history_hash": None})


def test_a_line_is_one_line_of_ascii_json() -> None:
    t = _transition(1, note="ok 👍\nnext line", actor="José")
    line, _ = encode_transition(t, 1, GENESIS_HASH)
    assert "\n" not in line
    assert line.isascii()
    assert json.loads(line)["note"] == "ok 👍\nnext line"
    assert parse_line(line, "x").actor == "José"


def test_operator_events_have_no_metrics() -> None:
    t = Transition("pause", "2026-05-01T12:00:00+00:00", 1, 1, "paused", RolloutState())
    assert parse_line(encode_transition(t, 1, GENESIS_HASH)[0], "x").metrics is None


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected the fields"),
        ('{"seq": 1}', "expected the fields"),
    ],
)
def test_parse_line_names_where_it_failed(line: str, pattern: str) -> None:
    with pytest.raises(HistoryError, match=f"^log, line 3: {pattern}"):
        parse_line(line, "log, line 3")


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("seq", "1", "seq must be a whole number"),
        ("seq", True, "seq must be a whole number"),
        ("from_stage", 1.0, "from_stage must be a whole number"),
        ("at", 5, "at must be text"),
        ("prev_hash", None, "prev_hash must be text"),
        ("state", [], "state must be an object"),
    ],
)
def test_parse_line_checks_field_types(field: str, value: object, pattern: str) -> None:
    obj = json.loads(_chain(1)[0])
    obj[field] = value
    with pytest.raises(HistoryError, match=pattern):
        parse_line(json.dumps(obj), "x")


@given(st.text(), st.text(), st.none() | st.text(), st.integers(1, 10**12))
def test_any_note_reason_and_actor_survive_a_line(
    note: str, reason: str, actor: Optional[str], seq: int
) -> None:
    t = Transition("veto", "2026-05-01T12:00:00+00:00", 1, 1, reason, RolloutState(), note, actor)
    line, h = encode_transition(t, seq, GENESIS_HASH)
    rec = parse_line(line, "x")
    assert (rec.note, rec.reason, rec.actor, rec.seq, rec.line_hash) == (
        note,
        reason,
        actor,
        seq,
        h,
    )


# ----------------------------------------------------------------------------- verify_lines


def test_a_good_chain_verifies() -> None:
    lines = _chain(5)
    result = verify_lines(lines)
    assert result.ok
    assert result.events == 5
    assert result.bad_line is None
    assert result.problem is None
    assert result.last_hash == _sha(lines[-1])


def test_an_empty_history_verifies() -> None:
    result = verify_lines([])
    assert result.ok
    assert result.events == 0
    assert result.last_hash is None


def test_the_first_line_must_follow_genesis() -> None:
    line, _ = encode_transition(_transition(1), 1, "b" * 64)
    result = verify_lines([line])
    assert (result.ok, result.bad_line) == (False, 1)


def test_an_edited_line_is_caught_at_the_next_line() -> None:
    lines = _chain(5)
    lines[2] = lines[2].replace('"reason":"step 3"', '"reason":"step three"')
    result = verify_lines(lines, "h.jsonl")
    assert not result.ok
    assert result.bad_line == 4
    assert result.events == 3
    assert result.problem is not None
    assert result.problem.startswith("h.jsonl, line 4: prev_hash does not match")


def test_a_deleted_middle_line_is_caught_where_it_was() -> None:
    lines = _chain(5)
    del lines[2]
    result = verify_lines(lines, "h.jsonl")
    assert (result.ok, result.bad_line, result.events) == (False, 3, 2)
    assert result.problem == (
        "h.jsonl, line 3: seq 4 where 3 was expected (a line is missing or out of order)"
    )


def test_a_deleted_line_with_renumbered_seqs_is_still_caught() -> None:
    lines = _chain(5)
    del lines[2]
    for i in range(2, 4):
        obj = json.loads(lines[i])
        obj["seq"] = i + 1
        lines[i] = json.dumps(obj, separators=(",", ":"))
    result = verify_lines(lines)
    assert (result.ok, result.bad_line) == (False, 3)
    assert "prev_hash" in (result.problem or "")


def test_two_swapped_lines_are_caught_at_the_first() -> None:
    lines = _chain(5)
    lines[1], lines[2] = lines[2], lines[1]
    result = verify_lines(lines)
    assert (result.ok, result.bad_line) == (False, 2)
    assert "seq 3 where 2 was expected" in (result.problem or "")


def test_a_garbage_line_is_caught_on_that_line() -> None:
    lines = _chain(4)
    lines.insert(2, "this is not an event")
    result = verify_lines(lines, "h.jsonl")
    assert (result.ok, result.bad_line, result.events) == (False, 3, 2)
    assert (result.problem or "").startswith("h.jsonl, line 3: not JSON")


def test_a_duplicated_line_is_caught() -> None:
    lines = _chain(3)
    lines.append(lines[-1])
    assert verify_lines(lines).bad_line == 4


@given(st.integers(2, 8), st.data())
def test_any_single_line_change_breaks_the_chain_at_or_after_it(
    n: int, data: st.DataObject
) -> None:
    lines = _chain(n)
    k = data.draw(st.integers(0, n - 2))  # not the last line: nothing follows it to object
    obj = json.loads(lines[k])
    obj["reason"] = obj["reason"] + data.draw(st.text(min_size=1))
    lines[k] = json.dumps(obj, separators=(",", ":"))
    result = verify_lines(lines)
    assert not result.ok
    assert result.bad_line == k + 2


# ----------------------------------------------------------------------------- files


def _write_chain(path: Path, n: int) -> List[str]:
    lines = _chain(n)
    path.write_text("".join(line + "\n" for line in lines))
    return lines


def test_history_path_sits_beside_the_state_file() -> None:
    assert history_path_for(Path("/bot/rollout_state.json")) == Path(
        "/bot/rollout_state.history.jsonl"
    )
    assert history_path_for(Path("/bot/state")) == Path("/bot/state.history.jsonl")


def test_verify_history_of_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    lines = _write_chain(path, 3)
    result = verify_history(path)
    assert result.ok
    assert result.events == 3
    assert result.last_hash == _sha(lines[-1])


def test_verify_history_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    result = verify_history(tmp_path / "none.jsonl")
    assert (result.ok, result.events) == (True, 0)
    assert read_history(tmp_path / "none.jsonl") == []


@pytest.mark.parametrize("cut", ["half_a_line", "whole_line_without_newline"])
def test_verify_history_reports_a_torn_last_line(tmp_path: Path, cut: str) -> None:
    path = tmp_path / "h.jsonl"
    lines = _chain(3)
    last = lines[2][:40] if cut == "half_a_line" else lines[2]
    path.write_text(lines[0] + "\n" + lines[1] + "\n" + last)
    result = verify_history(path)
    assert not result.ok
    assert result.bad_line == 3
    assert result.events == 2
    assert f"{path}, line 3: torn" in (result.problem or "")


def test_verify_history_reports_a_broken_chain_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    lines = _chain(4)
    del lines[1]
    path.write_text("".join(line + "\n" for line in lines))
    result = verify_history(path)
    assert (result.ok, result.bad_line) == (False, 2)
    assert str(path) in (result.problem or "")


def test_read_history_returns_every_record_in_order(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    lines = _write_chain(path, 4)
    records = read_history(path)
    assert [r.seq for r in records] == [1, 2, 3, 4]
    assert [r.line_hash for r in records] == [_sha(line) for line in lines]
    assert records[1].prev_hash == records[0].line_hash


def test_read_history_leaves_out_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    lines = _chain(3)
    path.write_text(lines[0] + "\n" + lines[1] + "\n" + lines[2][:25])
    assert [r.seq for r in read_history(path)] == [1, 2]


def test_read_history_names_the_file_and_line_of_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    lines = _chain(3)
    path.write_text(lines[0] + "\n" + "garbage\n" + lines[2] + "\n")
    with pytest.raises(HistoryError, match=f"{path}, line 2: not JSON"):
        read_history(path)


def test_a_history_that_is_not_utf8_is_a_history_error(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_bytes(b"\xff\xfe\n")
    with pytest.raises(HistoryError, match="not UTF-8"):
        verify_history(path)
    with pytest.raises(HistoryError, match="not UTF-8"):
        read_history(path)


def test_a_parsed_event_is_an_event_and_a_line_keeps_its_text() -> None:
    t = dataclasses.replace(_transition(1), event=Event.VETO_EXPIRED)
    line, _ = encode_transition(t, 1, GENESIS_HASH)
    assert '"event":"veto_expired"' in line
    record = parse_line(line, "here")
    assert record.event is Event.VETO_EXPIRED


def test_an_unknown_event_is_a_history_error_naming_the_line() -> None:
    line, _ = encode_transition(_transition(1), 1, GENESIS_HASH)
    bad = line.replace('"event":"advance"', '"event":"teleport"')
    with pytest.raises(HistoryError, match=r"^log, line 3: unknown event 'teleport'"):
        parse_line(bad, "log, line 3")
