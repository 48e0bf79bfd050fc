"""Child processes for tests/test_processes.py: real processes that tick or operate a
rollout on a shared state file. Not a test module (pytest does not collect it).

    python _child_ticker.py crash-ticker STATE            tick forever, transitions galore
    python _child_ticker.py ticker STATE STOP_FILE         tick until STOP_FILE exists
    python _child_ticker.py operator STATE N SEED          N random operator verbs, then pause
    python _child_ticker.py verbs STATE N NAME READY GO    N pause/resume verbs after GO
    python _child_ticker.py torn-append STATE              half a history line, then SIGKILL

Each prints one line ``ready`` when it is about to start work and, unless it is killed,
one JSON line with what it did when it finishes. The crash ticker's clock is a counter
(one second per call) started after the last recorded transition, so a restart on the
same files never goes back in time; the others share the system clock, the only clock
two processes can agree on.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

from quant_rollout import (
    Gate,
    KillSwitch,
    OperatorRefusedError,
    Rollout,
    RolloutAction,
    Stage,
    TradeOutcome,
)
from quant_rollout.storage.store import JsonFileStore
from quant_rollout.trades import parse_instant

# Four stages, two winning trades per advance; four trades with a win rate under one
# half trip the kill switch (the EV floor never trips: |pnl| < size).
STAGES = [
    Stage(0, {"size": 0}),
    Stage(1, {"size": 1}, Gate(min_n=2, min_win_rate=0.5)),
    Stage(2, {"size": 2}, Gate(min_n=2, min_win_rate=0.5)),
    Stage(3, {"size": 3}, Gate(min_n=2, min_win_rate=0.5)),
]
KILL = KillSwitch(wr_lookback=4, wr_threshold=0.5, ev_lookback=4, ev_threshold=-10.0)

# A winning streak long enough to climb every stage, then a losing one that trips the kill.
WINS, LOSSES = 9, 4

START_US = parse_instant("2026-01-01T00:00:00Z")


def rollout(path: str, veto_window_seconds: float, clock: Callable[[], Any]) -> Rollout:
    """The rollout every process of a test builds on the shared state file."""
    return Rollout(STAGES, KILL, path, veto_window_seconds=veto_window_seconds, clock=clock)


def last_transition_us(path: str) -> int:
    """The time of the last recorded transition (state or history, whichever is ahead)."""
    state, _tail = JsonFileStore(Path(path)).read()
    return START_US if state.updated_at is None else parse_instant(state.updated_at)


class CounterClock:
    """Now = a start instant plus one second per call: never the wall clock."""

    def __init__(self, start_us: int) -> None:
        self.now_us = start_us

    def __call__(self) -> float:
        self.now_us += 1_000_000
        return self.now_us / 1e6


def say(obj: object) -> None:
    sys.stdout.write((obj if isinstance(obj, str) else json.dumps(obj)) + "\n")
    sys.stdout.flush()


def latched(action: RolloutAction, reason: str) -> bool:
    return action is RolloutAction.KILL_TRIPPED or (
        action is RolloutAction.NOOP and reason.startswith("kill switch tripped")
    )


def crash_ticker(path: str) -> None:
    """Tick in a tight loop until killed: climb the stages, trip the kill, clear it,
    and now and then reset, so that almost every few ticks write a transition."""
    clock = CounterClock(last_transition_us(path))
    r = rollout(path, 0, clock)
    trades: List[TradeOutcome] = []
    say("ready")
    for i in range(1_000_000):  # bounded in case the parent dies without killing us
        won = i % (WINS + LOSSES) < WINS
        trades.append(TradeOutcome(1.0 if won else -1.0, 10.0, clock.now_us / 1e6))
        decision = r.tick(trades)
        if latched(decision.action, decision.reason):
            r.clear_kill_switch(note=f"clear {i}", actor="crash-ticker")
        elif clock.now_us // 1_000_000 % 97 == 0:
            r.reset(note=f"reset {i}", actor="crash-ticker")
    say({"ticks": len(trades)})


def ticker(path: str, stop_file: str) -> None:
    """Tick with the system clock and a veto window that outlasts the test, until the
    stop file appears; then tick a few more times so the last operator verb is seen."""
    r = rollout(path, 3600, clock=lambda: time.time())
    trades: List[TradeOutcome] = []
    counts: Dict[str, int] = {}
    say("ready")
    i = 0
    stop = Path(stop_file)
    after_stop = 0
    while after_stop < 5:
        if stop.exists():
            after_stop += 1
        won = i % 120 < 114  # long winning runs keep a veto window open for a while
        trades.append(TradeOutcome(1.0 if won else -1.0, 10.0, time.time()))
        decision = r.tick(trades)
        counts[decision.action.value] = counts.get(decision.action.value, 0) + 1
        i += 1
        # A breath between ticks, as a bot has: the lock is polled, not queued, so
        # a loop that never lets go would make the operator wait for a lucky poll.
        time.sleep(0.0002)
    say({"ticks": i, "actions": counts})


def operator(path: str, n: int, seed: int) -> None:
    """``n`` random verbs while another process ticks, then a final pause that must
    stick. Reports every verb with its note and whether it was applied."""
    rng = random.Random(seed)
    r = rollout(path, 3600, clock=lambda: time.time())
    done: List[Dict[str, Any]] = []

    def act(verb: str) -> bool:
        note = f"B{len(done)}-{verb}"
        try:
            applied = r.operate(verb, note=note, actor="B").applied
        except OperatorRefusedError:
            applied = False
        done.append({"verb": verb, "note": note, "applied": applied})
        return applied

    say("ready")
    for _ in range(n):
        act(rng.choice(["veto", "veto", "pause", "resume", "clear_kill"]))
        time.sleep(rng.uniform(0, 0.01))  # pacing only, so the ticker gets turns
    if not act("pause"):
        act("resume")
        act("pause")
    say({"actions": done})


def verbs(path: str, n: int, name: str, ready_file: str, go_file: str) -> None:
    """``n`` verbs alternating pause/resume, refused ones counted, started together."""
    r = rollout(path, 3600, clock=lambda: time.time())
    Path(ready_file).touch()
    go = Path(go_file)
    deadline = time.monotonic() + 30
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    applied: List[str] = []
    refused = 0
    for i in range(n):
        verb = "pause" if i % 2 == 0 else "resume"
        note = f"{name}-{i}-{verb}"
        try:
            if r.operate(verb, note=note, actor=name).applied:
                applied.append(note)
        except OperatorRefusedError:
            refused += 1
    say({"applied": applied, "refused": refused})


def torn_append(path: str) -> None:
    """Die by SIGKILL halfway through appending a history line, as a crash inside the
    write would (the kernel does not interrupt a small write, so we stop it ourselves)."""
    history = JsonFileStore(Path(path)).history_path
    last = history.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    with open(history, "ab") as f:
        f.write(last[: len(last) // 2])
        f.flush()
        os.fsync(f.fileno())
        os.kill(os.getpid(), signal.SIGKILL)


def main(argv: List[str]) -> None:
    command, path, *rest = argv
    if command == "crash-ticker":
        crash_ticker(path)
    elif command == "ticker":
        ticker(path, rest[0])
    elif command == "operator":
        operator(path, int(rest[0]), int(rest[1]))
    elif command == "verbs":
        verbs(path, int(rest[0]), rest[1], rest[2], rest[3])
    elif command == "torn-append":
        torn_append(path)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
