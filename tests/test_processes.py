"""Process-level behaviour with real processes, no mocks: a ticker SIGKILLed at random
moments, and operators acting from other processes while the bot ticks.

The child processes are ``tests/_child_ticker.py``. Nothing here asserts on timing:
on a loaded machine the kills land at other moments, the checks stay the same.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from quant_rollout import RolloutState
from quant_rollout.storage.history import history_path_for, read_history, verify_history
from quant_rollout.storage.store import JsonFileStore
from quant_rollout.trades import parse_instant

HERE = Path(__file__).resolve().parent
CHILD = HERE / "_child_ticker.py"
SRC = HERE.parent / "src"

sys.path.insert(0, str(HERE))
import _child_ticker as child  # noqa: E402

TIMEOUT = 60.0
"""Seconds any child may take before the test fails (never reached when healthy)."""


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def _wait_ready(proc: subprocess.Popen[str]) -> None:
    """Block until the child prints ``ready`` (or fail with its stderr)."""
    assert proc.stdout is not None
    if sys.platform != "win32":
        readable, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
        if not readable:
            proc.kill()
            pytest.fail(f"child {proc.args!r} not ready after {TIMEOUT}s")
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        _out, err = proc.communicate(timeout=TIMEOUT)
        pytest.fail(f"child {proc.args!r} failed to start: {line!r}\n{err}")


def _finish(proc: subprocess.Popen[str]) -> Dict[str, Any]:
    """Wait for a child to exit cleanly and return its JSON report."""
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"child {proc.args!r} still running after {TIMEOUT}s")
    assert proc.returncode == 0, f"child {proc.args!r} exited {proc.returncode}:\n{err}"
    lines = [line for line in out.splitlines() if line.strip() and line.strip() != "ready"]
    report: Dict[str, Any] = json.loads(lines[-1])
    return report


def _lines(history: Path) -> List[bytes]:
    return history.read_bytes().splitlines(keepends=True) if history.exists() else []


def _assert_consistent(state_path: Path) -> List[Any]:
    """The history verifies and the state file is linked to its last line."""
    history = history_path_for(state_path)
    result = verify_history(history)
    assert result.ok, result.problem
    records = read_history(history)
    state = RolloutState.load(state_path)
    assert state.history_seq == len(records) == result.events
    if records:
        assert state.history_hash == records[-1].line_hash
        snapshot = state.to_dict()
        del snapshot["history_seq"], snapshot["history_hash"]
        assert records[-1].state == snapshot
    return records


# ----------------------------------------------------------------------------- crash


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_at_random_moments_never_loses_or_tears_state(tmp_path: Path) -> None:
    state_path = tmp_path / "rollout_state.json"
    history = history_path_for(state_path)
    rng = random.Random(20260501)
    rounds = 40
    grew = state_behind = torn_tails = 0
    before = 0
    for round_no in range(rounds):
        proc = _spawn("crash-ticker", str(state_path))
        _wait_ready(proc)
        time.sleep(rng.uniform(0, 0.050))
        proc.send_signal(signal.SIGKILL)
        _out, err = proc.communicate(timeout=TIMEOUT)
        # Killed, not finished: the child was still ticking when the signal landed.
        assert proc.returncode == -signal.SIGKILL, f"round {round_no}: child died first:\n{err}"

        # What the kill left: a whole state file (or none yet) and a chain that is
        # intact except, at most, for a torn last line.
        on_disk = RolloutState.load(state_path)
        result = verify_history(history)
        torn = not result.ok
        if torn:
            assert result.bad_line == len(_lines(history)), result.problem
            assert "torn" in (result.problem or ""), result.problem
            torn_tails += 1
        complete = result.events
        assert on_disk.history_seq <= complete, f"round {round_no}: state ahead of history"
        state_behind += on_disk.history_seq < complete

        # A fresh rollout ticks on the same files: it cuts a torn tail and rolls the
        # state forward to the history; then everything is linked again.
        _tick_from_last_transition(state_path)
        # ...and a temporary file abandoned by a write killed before its rename is gone.
        assert not list(tmp_path.glob(f".{state_path.name}.*.tmp")), f"round {round_no}"
        records = _assert_consistent(state_path)
        assert len(records) >= before
        grew += len(records) > before
        before = len(records)

    # Work accumulated across restarts, so the kills landed in the middle of it.
    assert grew >= rounds // 2, f"history grew in only {grew}/{rounds} rounds"
    events = Counter(r.event for r in read_history(history))
    for event in ("advance", "kill", "clear_kill"):
        assert events[event], events
    print(
        f"\n{rounds} kills: history grew in {grew} rounds to {before} events; "
        f"state behind history {state_behind} times; torn tails {torn_tails}; {dict(events)}"
    )


def _tick_from_last_transition(state_path: Path) -> None:
    state, _tail = JsonFileStore(state_path).read()
    start = child.START_US if state.updated_at is None else parse_instant(state.updated_at)
    child.rollout(str(state_path), 0, child.CounterClock(start)).tick([])


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_write_killed_mid_line_is_reported_torn_and_cut_by_the_next_tick(
    tmp_path: Path,
) -> None:
    state_path = tmp_path / "rollout_state.json"
    history = history_path_for(state_path)
    proc = _spawn("crash-ticker", str(state_path))
    _wait_ready(proc)
    deadline = time.monotonic() + TIMEOUT
    while len(_lines(history)) < 20:  # some history to tear the tail of
        assert proc.poll() is None
        assert time.monotonic() < deadline, "the ticker wrote no history"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=TIMEOUT)
    _tick_from_last_transition(state_path)
    whole = _assert_consistent(state_path)

    torn = _spawn("torn-append", str(state_path))
    torn.communicate(timeout=TIMEOUT)
    assert torn.returncode == -signal.SIGKILL

    result = verify_history(history)
    assert not result.ok
    assert result.bad_line == len(whole) + 1
    assert result.events == len(whole)
    assert "torn" in (result.problem or ""), result.problem
    assert RolloutState.load(state_path).history_seq == len(whole)
    assert read_history(history) == whole  # readers skip the torn line

    _tick_from_last_transition(state_path)
    records = _assert_consistent(state_path)
    assert records[: len(whole)] == whole


# ----------------------------------------------------------------------------- operators


def test_operator_verbs_from_another_process_are_never_lost(tmp_path: Path) -> None:
    state_path = tmp_path / "rollout_state.json"
    stop = tmp_path / "stop"
    ticker = _spawn("ticker", str(state_path), str(stop))
    _wait_ready(ticker)
    operator = _spawn("operator", str(state_path), "40", "7")
    try:
        _wait_ready(operator)
        actions: List[Dict[str, Any]] = _finish(operator)["actions"]
    finally:
        stop.touch()
    ticked = _finish(ticker)

    records = _assert_consistent(state_path)
    by_note = Counter(r.note for r in records if r.actor == "B")
    for action in actions:
        expected = 1 if action["applied"] else 0
        assert by_note[action["note"]] == expected, action
    applied = [a for a in actions if a["applied"]]
    assert sum(by_note.values()) == len(applied)
    for record in records:
        if record.actor == "B":
            verb = record.note.split("-", 1)[1]
            assert record.event == verb, record

    # The final pause stuck although the ticker kept ticking after it.
    assert actions[-1]["verb"] == "pause"
    assert actions[-1]["applied"]
    final_pause = next(r.seq for r in records if r.note == actions[-1]["note"])
    later = [r.event for r in records if r.seq > final_pause]
    assert not {"veto_open", "advance", "veto_expired"} & set(later), later
    assert RolloutState.load(state_path).paused is True
    assert ticked["ticks"] > 5
    print(f"\nticker: {ticked}; operator applied {Counter(a['verb'] for a in applied)}")


def test_many_processes_appending_verbs_lose_none(tmp_path: Path) -> None:
    state_path = tmp_path / "rollout_state.json"
    go = tmp_path / "go"
    workers, n = 4, 40
    procs = []
    for w in range(workers):
        ready = tmp_path / f"ready{w}"
        procs.append(
            (ready, _spawn("verbs", str(state_path), str(n), f"w{w}", str(ready), str(go)))
        )
    deadline = time.monotonic() + TIMEOUT
    while not all(ready.exists() for ready, _ in procs):
        failed: Optional[int] = next((p.poll() for _, p in procs if p.poll()), None)
        assert failed is None, f"a worker exited {failed} before starting"
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.01)
    go.touch()
    reports = [_finish(p) for _, p in procs]

    applied = [note for report in reports for note in report["applied"]]
    assert len(applied) + sum(r["refused"] for r in reports) == workers * n
    records = _assert_consistent(state_path)
    events = [r.event for r in records]
    assert events[0] == "start"
    assert events.count("start") == 1
    assert len(records) == len(applied) + 1
    assert Counter(r.note for r in records[1:]) == Counter(applied)
    # pause is refused while paused and resume while not, so the log alternates.
    assert events[1:] == ["pause", "resume"] * (len(applied) // 2) + ["pause"] * (len(applied) % 2)
    assert RolloutState.load(state_path).paused is (len(applied) % 2 == 1)
