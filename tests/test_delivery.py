"""Every decision reaches the bot: the README's own loop, driven through operator moves
made from the command line in another process and through a kill recorded while the
state file could not be written.

The loop is the README's code block itself, executed with stub ``apply_config`` and
``send_alert``; after every tick the bot must run the params of the stage the
rollout is at.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

import pytest

import quant_rollout.storage.store as store_module
from helpers import THREE_STAGE_CONFIG as CONFIG
from quant_rollout import (
    ManualClock,
    Rollout,
    RolloutAction,
    RolloutDecision,
    StateWriteError,
    TradeOutcome,
)
from quant_rollout.storage.history import read_history

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
README = ROOT / "README.md"
TIMEOUT = 60


PARAMS = {0: {"size": 1}, 1: {"size": 2}, 2: {"size": 5}}


def readme_loop() -> str:
    """The README's bot loop: its block from the tick to the end."""
    for m in re.finditer(r"^```python\n(.*?)^```", README.read_text("utf-8"), re.S | re.M):
        body = m.group(1)
        start = body.find("decision = rollout.tick(trades)")
        if start != -1:
            return body[start:]
    raise AssertionError("README.md has no bot loop calling rollout.tick(trades)")


LOOP = compile(readme_loop(), "README.md bot loop", "exec")


def losses(clock: ManualClock, n: int = 5) -> List[TradeOutcome]:
    """``n`` losing trades opened in the minute before ``clock``'s now."""
    now = clock().timestamp()
    return [TradeOutcome(-1.0, 2.0, now - 50 + 10 * i) for i in range(n)]


class Bot:
    """A bot running the README's loop: ``running`` is what it last applied."""

    def __init__(self, config: Path, clock: ManualClock) -> None:
        self.rollout = Rollout.from_config(config, clock=clock)
        self.clock = clock
        self.running: Mapping[str, Any] = PARAMS[0]
        self.alerts: List[str] = []

    def apply_config(self, params: Mapping[str, Any]) -> None:
        self.running = dict(params)

    def tick(self, trades: Optional[List[TradeOutcome]] = None) -> RolloutDecision:
        self.clock.advance(minutes=1)
        namespace: Dict[str, Any] = {
            "rollout": self.rollout,
            "trades": trades or [],
            "RolloutAction": RolloutAction,
            "apply_config": self.apply_config,
            "send_alert": self.alerts.append,
        }
        exec(LOOP, namespace)
        decision: RolloutDecision = namespace["decision"]
        return decision

    def stage(self) -> int:
        return self.rollout.status().stage.num

    def in_step(self) -> bool:
        return dict(self.running) == PARAMS[self.stage()]


def env_at(now: str) -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("QUANT_ROLLOUT_CONFIG", None)
    env["QUANT_ROLLOUT_NOW"] = now
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "80"
    return env


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def cli(config: Path, clock: ManualClock, *argv: str) -> None:
    """Run ``quant-rollout`` in a second process, a minute after the bot's last tick."""
    clock.advance(minutes=1)
    now = clock().isoformat()
    done = subprocess.run(
        [sys.executable, "-m", "quant_rollout", *argv, "--config", str(config)],
        env=env_at(now),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_readme_loop_applies_every_operator_move_and_a_kill_whose_write_failed(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock("2026-05-01T12:00:00Z")
    bot = Bot(config, clock)
    assert bot.tick().action is RolloutAction.NOOP
    assert bot.in_step()

    # promote from the shell: the bot's next tick is an ADVANCE it applies, once
    cli(config, clock, "promote", "--yes", "--actor", "ana")
    d = bot.tick()
    assert (d.action, d.changed, d.from_stage, d.to_stage) == (RolloutAction.ADVANCE, True, 0, 1)
    assert "operator promote by ana" in d.reason
    assert bot.in_step()
    assert bot.running == PARAMS[1]
    again = bot.tick()
    assert (again.action, again.changed) == (RolloutAction.NOOP, False)

    cli(config, clock, "promote", "--yes")
    bot.tick()
    assert bot.in_step()
    assert bot.running == PARAMS[2]

    # reset from the shell: back to stage 0's params
    cli(config, clock, "reset", "--yes")
    d = bot.tick()
    assert (d.action, d.from_stage, d.to_stage) == (RolloutAction.ADVANCE, 2, 0)
    assert bot.in_step()
    assert bot.running == PARAMS[0]

    # a kill tripped while the state file cannot be replaced
    cli(config, clock, "promote", "--yes")
    bot.tick()
    assert bot.running == PARAMS[1]

    def refused(*args: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(store_module, "write_atomic", refused)
    with pytest.raises(StateWriteError, match="permission denied") as caught:
        bot.tick(losses(clock))
    assert caught.value.recorded
    assert "the next tick tells the bot" in str(caught.value)
    monkeypatch.undo()
    history = config.parent / "state" / "rollout_state.history.jsonl"
    assert read_history(history)[-1].event == "kill"
    assert bot.running == PARAMS[1], "the failed tick returned nothing to the bot"

    d = bot.tick(losses(clock))  # the fault is fixed: the kill reaches the bot
    assert (d.action, d.changed, d.from_stage, d.to_stage) == (
        RolloutAction.KILL_TRIPPED,
        True,
        1,
        0,
    )
    assert bot.in_step()
    assert bot.running == PARAMS[0]
    assert bot.alerts[-1].startswith("KILL: kill switch tripped at")
    d = bot.tick(losses(clock))
    assert (d.action, d.changed) == (RolloutAction.NOOP, False)
    assert len([a for a in bot.alerts if a.startswith("KILL")]) == 1

    # clear-kill from the shell, then back to the canary through the gate
    cli(config, clock, "clear-kill")
    assert bot.tick(losses(clock)).action is RolloutAction.NOOP
    assert bot.in_step()
    assert [e.event for e in read_history(history)].count("announce") == 5


def test_a_kill_whose_write_failed_and_was_then_cleared_still_reaches_the_bot(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock("2026-05-01T12:00:00Z")
    bot = Bot(config, clock)
    bot.tick()
    cli(config, clock, "promote", "--yes")
    bot.tick()
    assert bot.running == PARAMS[1]
    monkeypatch.setattr(
        store_module, "write_atomic", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "x"))
    )
    with pytest.raises(StateWriteError, match="no space left"):
        bot.tick(losses(clock))
    monkeypatch.undo()
    cli(config, clock, "clear-kill")  # the operator clears it before the bot ticks again
    d = bot.tick(losses(clock))
    assert (d.action, d.changed, d.to_stage) == (RolloutAction.ADVANCE, True, 0)
    assert bot.in_step()
    assert bot.running == PARAMS[0]


def test_a_veto_window_whose_write_failed_is_announced_as_changed(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock("2026-05-01T12:00:00Z")
    bot = Bot(config, clock)
    wins = [TradeOutcome(1.0, 2.0, f"2026-04-30T00:{i:02d}:00Z") for i in range(6)]
    monkeypatch.setattr(store_module, "write_atomic", lambda *a: (_ for _ in ()).throw(OSError()))
    with pytest.raises(StateWriteError):
        bot.tick(wins)
    monkeypatch.undo()
    d = bot.tick(wins)
    assert (d.action, d.changed) == (RolloutAction.VETO_OPEN, True)
    assert bot.alerts == ["Stage advance pending. Run `quant-rollout veto` to abort."]
    assert bot.tick(wins).changed is False


def test_a_history_append_that_fails_records_nothing(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock("2026-05-01T12:00:00Z")
    bot = Bot(config, clock)
    bot.tick()
    history = config.parent / "state" / "rollout_state.history.jsonl"
    before = history.read_bytes()

    def full(self: object, lines: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.JsonFileStore, "_append", full)
    with pytest.raises(StateWriteError, match="Nothing was recorded") as caught:
        bot.tick(losses(clock))
    assert not caught.value.recorded
    assert isinstance(caught.value, OSError)
    monkeypatch.undo()
    assert history.read_bytes() == before
    assert bot.tick(losses(clock)).action is RolloutAction.KILL_TRIPPED


# ----------------------------------------------------------------------------- real processes

CHILD = """
import json, sys
from quant_rollout import ManualClock, Rollout, StateWriteError, TradeOutcome
config, now, action = sys.argv[1], sys.argv[2], sys.argv[3]
rollout = Rollout.from_config(config, clock=ManualClock(now))
start = rollout.clock().timestamp() - 300
trades = [TradeOutcome(-1.0, 2.0, start + 10 * i) for i in range(5)]
try:
    if action == "promote":
        rollout.promote(actor="ana")
        print(json.dumps({"ok": True}))
    else:
        d = rollout.tick(trades if action == "losses" else [])
        print(json.dumps({"action": d.action.value, "changed": d.changed,
                          "to": d.to_stage, "params": dict(d.params)}))
except StateWriteError as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc),
                      "recorded": exc.recorded}))
"""


def _python_for(user: Optional[int]) -> Optional[str]:
    """An interpreter ``user`` may run (the test venv may live under /root)."""
    for candidate in (sys.executable, shutil.which("python3"), "/usr/bin/python3"):
        if not candidate:
            continue
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; assert sys.version_info >= (3, 9)"],
                preexec_fn=_become(user),
                capture_output=True,
                timeout=TIMEOUT,
            )
        except OSError:  # not executable by that user
            continue
        if probe.returncode == 0:
            return candidate
    return None


def _become(user: Optional[int]) -> Optional[Callable[[], None]]:
    if user is None:
        return None

    def drop() -> None:
        os.setgid(user)
        os.setuid(user)

    return drop


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder outside pytest's private tmp, so an unprivileged user can reach it."""
    folder = Path(tempfile.mkdtemp(prefix="quant-rollout-delivery-"))
    os.chmod(folder, 0o755)
    try:
        yield folder
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_bot_process_that_cannot_write_its_folder_delivers_the_kill_once_it_can(
    shared_folder: Path,
) -> None:
    # As root, chmod stops nothing: run the bot as `nobody` (65534).
    user = 65534 if os.geteuid() == 0 else None
    python = _python_for(user)
    if python is None:
        pytest.skip("no Python interpreter the unprivileged user may run")
    state = shared_folder / "state"
    state.mkdir()
    if user is not None:
        os.chown(state, user, user)
    config = shared_folder / "bot.toml"
    config.write_text(CONFIG, encoding="utf-8")

    def child(now: str, action: str) -> Dict[str, Any]:
        done = subprocess.run(
            [python, "-c", CHILD, str(config), now, action],
            env=env_at(now),
            cwd=shared_folder,
            preexec_fn=_become(user),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == 0, done.stderr
        result: Dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    assert child("2026-05-01T12:00:00Z", "tick")["action"] == "noop"
    assert child("2026-05-01T12:01:00Z", "promote") == {"ok": True}
    told = child("2026-05-01T12:02:00Z", "tick")
    assert (told["action"], told["params"]) == ("advance", PARAMS[1])

    os.chmod(state, 0o555)  # the files stay writable; no new file can be made
    failed = child("2026-05-01T12:20:00Z", "losses")
    assert failed["error"] == "StateWriteError"
    assert "permission denied" in failed["message"]
    assert failed["recorded"]
    assert str(state / "rollout_state.json") in failed["message"]
    history = read_history(state / "rollout_state.history.jsonl")
    assert history[-1].event == "kill"

    os.chmod(state, 0o755)
    kill = child("2026-05-01T12:21:00Z", "losses")
    assert kill == {"action": "kill", "changed": True, "to": 0, "params": PARAMS[0]}
    quiet = child("2026-05-01T12:22:00Z", "losses")
    assert (quiet["action"], quiet["changed"]) == ("noop", False)
