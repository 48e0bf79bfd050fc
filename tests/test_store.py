"""Stores: atomic state file, hash-chained history, crash recovery, the lock."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import sys
import threading
import warnings
from pathlib import Path
from typing import List, Union

import pytest

import quant_rollout.storage.store as store_module
from helpers import T0_NOON_US as T0_US
from quant_rollout.engine.model import Transition
from quant_rollout.engine.state import RolloutState
from quant_rollout.errors import (
    CorruptStateError,
    HistoryError,
    LockTimeoutError,
    OperatorRefusedError,
)
from quant_rollout.storage.history import GENESIS_HASH, parse_line, read_history
from quant_rollout.storage.store import (
    FileLock,
    JsonFileStore,
    MemoryStore,
    read_state_file,
    write_atomic,
)
from quant_rollout.trades import format_instant

AnyStore = Union[JsonFileStore, MemoryStore]


def _events(state: RolloutState, events: List[str], minute: int) -> List[Transition]:
    out = []
    for k, event in enumerate(events):
        at = format_instant(T0_US + (minute + k) * 60_000_000)
        stage = state.current_stage + (1 if event == "advance" else 0)
        new = dataclasses.replace(
            state,
            current_stage=stage,
            paused=event == "pause",
            started_at=state.started_at or at,
            updated_at=at,
        )
        out.append(Transition(event, at, state.current_stage, stage, f"{event} #{minute + k}", new))
        state = new
    return out


def _commit(store: AnyStore, *events: str, minute: int = 0) -> RolloutState:
    with store.transaction() as tx:
        return tx.commit(_events(tx.state, list(events), minute))


def _lines(path: Path) -> List[str]:
    return path.read_text().splitlines()


def _files(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def store(tmp_path: Path) -> JsonFileStore:
    return JsonFileStore(tmp_path / "rollout_state.json", lock_timeout=0.05)


# ----------------------------------------------------------------------------- write_atomic


def test_write_atomic_creates_and_replaces_leaving_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    write_atomic(path, "first\n")
    assert path.read_text() == "first\n"
    write_atomic(path, "second\n")
    assert path.read_text() == "second\n"
    assert _files(path.parent) == ["state.json"]


def test_write_atomic_that_fails_keeps_the_old_file_and_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_atomic(path, "old\n")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "bad \ud800 text")  # a lone surrogate cannot be written
    assert path.read_text() == "old\n"
    assert _files(tmp_path) == ["state.json"]


def test_read_state_file_of_a_missing_file_is_none(tmp_path: Path) -> None:
    assert read_state_file(tmp_path / "nope.json") is None


# ----------------------------------------------------------------------------- commits


def test_a_fresh_store_reads_a_fresh_state_and_writes_nothing(store: JsonFileStore) -> None:
    assert store.read() == (RolloutState(), None)
    with store.transaction() as tx:
        assert tx.state == RolloutState()
        assert tx.commit([]) == RolloutState()
    assert not store.path.exists()
    assert not store.history_path.exists()
    assert store.history() == []
    assert store.verify().ok


def test_commit_links_the_state_to_the_last_history_line(store: JsonFileStore) -> None:
    final = _commit(store, "start", "pause")
    lines = _lines(store.history_path)
    assert len(lines) == 2
    last = parse_line(lines[-1], "x")
    assert (final.history_seq, final.history_hash) == (2, last.line_hash)
    assert read_state_file(store.path) == final
    assert final.paused
    assert store.read() == (final, last)
    assert [r.event for r in store.history()] == ["start", "pause"]
    assert parse_line(lines[0], "x").prev_hash == GENESIS_HASH
    assert last.prev_hash == parse_line(lines[0], "x").line_hash


def test_successive_transactions_continue_one_chain(store: JsonFileStore) -> None:
    _commit(store, "start")
    _commit(store, "pause", minute=1)
    _commit(store, "resume", minute=2)
    result = store.verify()
    assert (result.ok, result.events) == (True, 3)
    assert read_state_file(store.path).history_seq == 3  # type: ignore[union-attr]


def test_commit_writes_the_history_before_the_state(
    store: JsonFileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _commit(store, "start")
    seen: List[int] = []
    real = store_module.write_atomic

    def spy(path: Path, text: str) -> None:
        seen.append(len(_lines(store.history_path)))
        real(path, text)

    monkeypatch.setattr(store_module, "write_atomic", spy)
    _commit(store, "pause", "resume", minute=1)
    assert seen == [3]  # both new lines were on disk when the state was replaced


def test_a_crash_while_writing_the_state_leaves_the_old_state_and_is_rolled_forward(
    store: JsonFileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _commit(store, "start")
    old_bytes = store.path.read_bytes()

    def crash(path: Path, text: str) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(store_module, "write_atomic", crash)
    with pytest.raises(OSError, match="power cut"), store.transaction() as tx:
        tx.commit(_events(tx.state, ["pause"], 1))
    monkeypatch.undo()
    assert store.path.read_bytes() == old_bytes
    state, tail = store.read()
    assert state.paused
    assert state.history_seq == before.history_seq + 1
    assert tail is not None
    assert state.history_hash == tail.line_hash


# ----------------------------------------------------------------------------- recovery


def test_a_state_file_behind_its_history_is_rolled_forward(store: JsonFileStore) -> None:
    _commit(store, "start")
    older = store.path.read_bytes()
    final = _commit(store, "pause", "resume", "pause", minute=1)
    store.path.write_bytes(older)  # as if the process died between history and state
    # read() rolls forward in memory only.
    state, tail = store.read()
    assert state == final
    assert tail is not None
    assert tail.seq == 4
    assert store.path.read_bytes() == older
    # A transaction rolls forward and writes it, even with nothing to commit.
    with store.transaction() as tx:
        assert tx.state == final
    assert read_state_file(store.path) == final
    # And the next event continues the chain.
    _commit(store, "resume", minute=9)
    assert store.verify().ok
    assert store.verify().events == 5


def test_lines_that_do_not_chain_onto_the_state_are_not_rolled_forward(
    store: JsonFileStore,
) -> None:
    # A forged (or foreign) line after the state's event, clearing a latched kill.
    with store.transaction() as tx:
        killed = dataclasses.replace(
            tx.state,
            kill_switch_tripped=True,
            kill_reason="win_rate(30)=0.433 < 0.550",
            kill_timestamp=format_instant(T0_US),
            updated_at=format_instant(T0_US),
        )
        tx.commit([Transition("kill", format_instant(T0_US), 1, 0, "kill", killed)])
    state_bytes = store.path.read_bytes()
    forged = json.loads(_lines(store.history_path)[-1])
    forged.update(seq=2, event="clear_kill", prev_hash="0" * 64)
    forged["state"].update(kill_switch_tripped=False, kill_reason=None, kill_timestamp=None)
    with store.history_path.open("a") as f:
        f.write(json.dumps(forged, separators=(",", ":")) + "\n")
    history_bytes = store.history_path.read_bytes()
    with pytest.raises(HistoryError, match="does not follow event 1") as info:
        store.read()
    assert str(store.history_path) in str(info.value)
    with pytest.raises(HistoryError, match="does not follow"), store.transaction():
        pass  # pragma: no cover - never reached
    assert store.path.read_bytes() == state_bytes
    assert store.history_path.read_bytes() == history_bytes


def test_a_state_file_from_another_rollout_is_not_rolled_forward(tmp_path: Path) -> None:
    a = JsonFileStore(tmp_path / "a" / "state.json")
    b = JsonFileStore(tmp_path / "b" / "state.json")
    _commit(a, "start", minute=0)
    _commit(b, "start", "pause", "resume", minute=30)
    b.path.write_bytes(a.path.read_bytes())  # seq 1 of another chain
    with pytest.raises(HistoryError, match="does not follow"):
        b.read()


def test_a_torn_tail_is_cut_off_by_a_transaction_but_not_by_read(store: JsonFileStore) -> None:
    final = _commit(store, "start", "pause")
    good = store.history_path.read_bytes()
    torn = good + b'{"seq":3,"at":"2026-05-0'
    store.history_path.write_bytes(torn)
    assert store.read()[0] == final
    assert store.history_path.read_bytes() == torn
    assert [r.seq for r in store.history()] == [1, 2]
    assert not store.verify().ok
    with store.transaction() as tx:
        assert tx.state == final
    assert store.history_path.read_bytes() == good
    assert store.verify().ok


def test_a_torn_only_line_is_cut_off(store: JsonFileStore) -> None:
    store.history_path.write_bytes(b'{"seq":1,"at')
    assert store.read() == (RolloutState(), None)
    _commit(store, "start")
    assert store.verify().ok
    assert store.verify().events == 1


def test_a_long_last_line_is_found(store: JsonFileStore) -> None:
    # The tail is read backwards in chunks; a line longer than a chunk must still parse.
    with store.transaction() as tx:
        t = _events(tx.state, ["start"], 0)[0]
        tx.commit([dataclasses.replace(t, reason="x" * 20_000)])
    _commit(store, "pause", minute=1)
    with store.transaction() as tx:
        t = _events(tx.state, ["resume"], 2)[0]
        tx.commit([dataclasses.replace(t, note="n" * 9_000)])
    tail = store.read()[1]
    assert tail is not None
    assert (tail.seq, tail.note) == (3, "n" * 9_000)
    assert store.verify().ok


def test_a_deleted_state_file_starts_afresh_continuing_the_chain(store: JsonFileStore) -> None:
    _commit(store, "start", "advance", "pause")
    last_hash = parse_line(_lines(store.history_path)[-1], "x").line_hash
    store.path.unlink()
    with store.transaction() as tx:
        assert tx.state == RolloutState(history_seq=3, history_hash=last_hash)
        tx.commit(_events(tx.state, ["start"], 10))
    records = store.history()
    assert [r.seq for r in records] == [1, 2, 3, 4]
    assert records[3].prev_hash == last_hash
    assert records[3].state["current_stage"] == 0
    assert store.verify().ok


def test_an_edited_last_history_line_is_refused_naming_the_file(store: JsonFileStore) -> None:
    _commit(store, "start", "pause")
    state_bytes = store.path.read_bytes()
    edited = store.history_path.read_text().replace('"reason":"pause #1"', '"reason":"fine"')
    store.history_path.write_text(edited)
    with pytest.raises(HistoryError, match="was edited or replaced") as info, store.transaction():
        pass  # pragma: no cover - never reached
    assert str(store.history_path) in str(info.value)
    with pytest.raises(HistoryError):
        store.read()
    assert store.path.read_bytes() == state_bytes
    assert store.history_path.read_text() == edited


def test_a_history_shorter_than_the_state_is_refused(store: JsonFileStore) -> None:
    _commit(store, "start", "pause")
    lines = _lines(store.history_path)
    store.history_path.write_text(lines[0] + "\n")
    with pytest.raises(HistoryError, match=r"seq 1.*seq 2"):
        store.read()


def test_an_emptied_history_is_refused(store: JsonFileStore) -> None:
    _commit(store, "start")
    store.history_path.write_bytes(b"")
    with pytest.raises(HistoryError, match="the log was truncated") as info:
        store.read()
    assert str(store.history_path) in str(info.value)


def test_a_missing_history_warns_and_starts_a_new_chain(store: JsonFileStore) -> None:
    _commit(store, "start", "pause")
    store.history_path.unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with store.transaction() as tx:
            assert tx.state.history_seq == 0
            assert tx.state.paused
            tx.commit(_events(tx.state, ["resume"], 5))
    assert [w.category for w in caught] == [RuntimeWarning]
    assert "missing (2 earlier events)" in str(caught[0].message)
    records = store.history()
    assert [(r.seq, r.event) for r in records] == [(1, "resume")]
    assert records[0].prev_hash == GENESIS_HASH
    assert store.verify().ok
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.read()  # the new chain is consistent: no more warnings


def test_a_corrupt_state_file_is_refused_and_nothing_is_written(store: JsonFileStore) -> None:
    _commit(store, "start")
    store.path.write_text('{"current_stage": ')
    history = store.history_path.read_bytes()
    with pytest.raises(CorruptStateError, match=str(store.path)), store.transaction():
        pass  # pragma: no cover - never reached
    assert store.path.read_text() == '{"current_stage": '
    assert store.history_path.read_bytes() == history


# ----------------------------------------------------------------------------- the lock


def test_a_second_file_lock_on_the_same_path_times_out(tmp_path: Path) -> None:
    path = tmp_path / "state.json.lock"
    held, second = FileLock(path, timeout=5), FileLock(path, timeout=0.05)
    with held, pytest.raises(LockTimeoutError, match=str(path)), second:
        pass  # pragma: no cover - never reached
    with FileLock(path, timeout=0.05):  # released on exit
        pass


def test_the_lock_excludes_another_thread(tmp_path: Path) -> None:
    path = tmp_path / "state.json.lock"
    errors: List[BaseException] = []

    def other() -> None:
        try:
            with FileLock(path, timeout=0.05):
                pass
        except BaseException as exc:  # handed to the main thread
            errors.append(exc)

    with FileLock(path):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert len(errors) == 1
    assert isinstance(errors[0], LockTimeoutError)


def test_a_transaction_holds_the_lock_against_other_stores(store: JsonFileStore) -> None:
    other = JsonFileStore(store.path, lock_timeout=0.05)
    with store.transaction():
        with pytest.raises(LockTimeoutError):
            other.read()
        with pytest.raises(LockTimeoutError), other.transaction():
            pass  # pragma: no cover - never reached
    assert other.read() == (RolloutState(), None)


def test_the_lock_is_a_sidecar_file(store: JsonFileStore) -> None:
    _commit(store, "start")
    assert store.lock_path == store.path.with_name("rollout_state.json.lock")
    assert _files(store.path.parent) == [
        "rollout_state.history.jsonl",
        "rollout_state.json",
        "rollout_state.json.lock",
    ]


# ----------------------------------------------------------------------------- memory store


def _script(s: AnyStore) -> None:
    _commit(s, "start")
    _commit(s, "advance", "pause", minute=1)
    with s.transaction() as tx:
        tx.commit([])
    _commit(s, "resume", minute=5)


def test_memory_store_writes_the_same_lines_as_the_file_store(store: JsonFileStore) -> None:
    memory = MemoryStore()
    _script(store)
    _script(memory)
    assert memory.lines == _lines(store.history_path)
    assert memory.read() == store.read()
    assert memory.history() == read_history(store.history_path)
    assert memory.verify() == store.verify()
    assert memory.state == read_state_file(store.path)
    assert memory.source == "<memory>"
    assert store.source == str(store.path)


def test_memory_store_starts_from_a_given_state() -> None:
    start = RolloutState(current_stage=2, paused=True)
    memory = MemoryStore(start)
    assert memory.read() == (start, None)
    final = _commit(memory, "resume")
    assert final.current_stage == 2
    assert (final.history_seq, memory.verify().ok) == (1, True)


def test_memory_store_verify_catches_an_edit() -> None:
    memory = MemoryStore()
    _script(memory)
    memory.lines[1] = memory.lines[1].replace("advance #1", "advance #one")
    assert memory.verify().bad_line == 3


def test_verify_catches_an_edit_of_the_last_line_by_the_state_files_hash(
    tmp_path: Path,
) -> None:
    from quant_rollout import Gate, KillSwitch, ManualClock, Rollout, Stage

    rollout = Rollout(
        [Stage(0, {}), Stage(1, {}, Gate(min_n=1))],
        KillSwitch(),
        tmp_path / "s.json",
        veto_window_seconds=0,
        clock=ManualClock("2026-05-01T00:00:00Z"),
    )
    rollout.pause(note="lunch")
    assert rollout.verify_history().ok
    history = tmp_path / "s.history.jsonl"
    history.write_text(history.read_text().replace("lunch", "LUNCH"))
    result = rollout.verify_history()
    assert not result.ok
    assert result.bad_line == 2
    assert "edited" in (result.problem or "")


# ----------------------------------------------------------------------------- verify = load


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("last line deleted", r"line seq 1\).*\(seq 2\)"),
        ("history emptied", "the log was truncated"),
        ("state ahead", r"line seq 2\).*\(seq 7\)"),
        ("state corrupt", "restore"),
    ],
)
def test_verify_refuses_what_a_tick_refuses(store: JsonFileStore, damage: str, says: str) -> None:
    _commit(store, "start", "pause")
    lines = _lines(store.history_path)
    if damage == "last line deleted":
        store.history_path.write_text(lines[0] + "\n")
    elif damage == "history emptied":
        store.history_path.write_bytes(b"")
    elif damage == "state ahead":
        data = json.loads(store.path.read_text())
        store.path.write_text(json.dumps({**data, "history_seq": 7}))
    else:
        store.path.write_text('{"current_stage": ')
    with pytest.raises((HistoryError, CorruptStateError)) as refused, store.transaction():
        pass  # pragma: no cover - never reached
    result = store.verify()
    assert not result.ok
    assert re.search(says, result.problem or ""), result.problem
    assert result.problem == str(refused.value)
    assert result.bad_line is None


def test_verify_and_read_need_no_write_access_and_create_nothing(
    store: JsonFileStore,
) -> None:
    _commit(store, "start")
    store.lock_path.unlink()
    before = _files(store.path.parent)
    assert store.verify().ok
    state, tail = store.read()
    assert tail is not None
    assert state.history_seq == 1
    assert _files(store.path.parent) == before  # no lock file was made


def test_read_repairs_nothing(store: JsonFileStore) -> None:
    _commit(store, "start")
    older = store.path.read_bytes()
    _commit(store, "pause", minute=1)
    store.path.write_bytes(older)
    with open(store.history_path, "ab") as f:
        f.write(b'{"seq": 3, "torn')
    history = store.history_path.read_bytes()
    state, _tail = store.read()
    assert state.paused
    assert (store.path.read_bytes(), store.history_path.read_bytes()) == (older, history)


# ----------------------------------------------------------------------------- restore


def _now() -> int:
    return T0_US + 3_600_000_000


@pytest.mark.parametrize("damage", ["corrupt", "not json", "newer field", "missing", "behind"])
def test_restore_rebuilds_the_state_from_the_history_and_records_it(
    store: JsonFileStore, damage: str
) -> None:
    _commit(store, "start")
    older = store.path.read_bytes()
    final = _commit(store, "advance", "pause", minute=1)
    if damage == "corrupt":
        store.path.write_text('{"current_stage": ')
    elif damage == "not json":
        store.path.write_bytes(b"\x00\xff")
    elif damage == "newer field":
        store.path.write_text(json.dumps({"schema_version": 3, "bogus": 1}))
    elif damage == "missing":
        store.path.unlink()
    else:
        store.path.write_bytes(older)
    restored, transition = store.restore(_now, note="disk scare", actor="ana")
    assert transition.event == "restore"
    assert (transition.note, transition.actor) == ("disk scare", "ana")
    assert "state rebuilt from history line 3 (pause at" in transition.reason
    assert (restored.current_stage, restored.paused) == (final.current_stage, True)
    assert restored.history_seq == 4
    assert read_state_file(store.path) == restored
    assert store.verify().ok, store.verify().problem
    with store.transaction() as tx:  # ticks and verbs work again
        assert tx.state == restored
    assert [r.event for r in store.history()][-1] == "restore"


def test_restore_of_a_healthy_state_is_refused_and_writes_nothing(store: JsonFileStore) -> None:
    _commit(store, "start")
    before = (store.path.read_bytes(), store.history_path.read_bytes())
    with pytest.raises(OperatorRefusedError, match="nothing to restore"):
        store.restore(_now)
    assert (store.path.read_bytes(), store.history_path.read_bytes()) == before


def test_restore_refuses_a_history_that_lost_events_the_state_still_holds(
    store: JsonFileStore,
) -> None:
    _commit(store, "start", "pause")
    store.history_path.write_text(_lines(store.history_path)[0] + "\n")
    with pytest.raises(OperatorRefusedError, match="move it aside"):
        store.restore(_now)


def test_restore_from_an_empty_history_says_how_to_start_afresh(store: JsonFileStore) -> None:
    store.path.write_text("{")
    with pytest.raises(HistoryError, match=r"holds no events.*Delete"):
        store.restore(_now)


def test_every_corrupt_state_message_points_at_restore(store: JsonFileStore) -> None:
    _commit(store, "start")
    for text in ('{"current_stage": ', '{"schema_version": 3, "paused": 1}', "[]"):
        store.path.write_text(text)
        with pytest.raises(CorruptStateError, match="quant-rollout restore"):
            store.read()


# ----------------------------------------------------------------------------- shared setups


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_a_replaced_state_file_keeps_its_mode_and_a_new_one_follows_the_umask(
    store: JsonFileStore,
) -> None:
    old = os.umask(0o002)
    try:
        _commit(store, "start")
        assert stat.S_IMODE(store.path.stat().st_mode) == 0o664
        os.chmod(store.path, 0o640)
        _commit(store, "pause", minute=1)
        assert stat.S_IMODE(store.path.stat().st_mode) == 0o640
    finally:
        os.umask(old)


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges there")
def test_a_symlinked_state_path_is_written_through(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    target = shared / "rollout_state.json"
    link = tmp_path / "bot" / "state.json"
    link.parent.mkdir()
    link.symlink_to(target)
    via_link = JsonFileStore(link)
    _commit(via_link, "start")
    _commit(via_link, "pause", minute=1)
    assert link.is_symlink()
    assert target.is_file()
    direct = JsonFileStore(target)  # the CLI, given the real path, sees one rollout
    state, tail = direct.read()
    assert state.paused
    assert tail is not None
    assert tail.seq == 2
    assert (shared / "rollout_state.history.jsonl").is_file()
