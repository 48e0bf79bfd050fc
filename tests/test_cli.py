"""The quant-rollout command: through main(argv) for every verb and exit code, and as real
processes against a real state file while another process ticks.

Every command runs with a fixed clock (``QUANT_ROLLOUT_NOW``); nothing sleeps for
correctness. The subprocess tests poll their child with a timeout.
"""

from __future__ import annotations

import io
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from helpers import T0_NOON_ISO
from helpers import THREE_STAGE_CONFIG as CONFIG
from quant_rollout import ManualClock, Rollout, RolloutAction, TradeOutcome
from quant_rollout.storage.history import read_history
from quant_rollout.tools.cli import main
from quant_rollout.tools.config import EXAMPLE_CONFIG, load_config

SRC = Path(__file__).resolve().parent.parent / "src"

T0 = T0_NOON_ISO
"""When the bot's first tick opens the veto window."""
T4 = "2026-05-01T12:04:00Z"
"""When the operator runs the commands: 4 minutes into a 30-minute window."""


STATUS_KEYS = {
    "now",
    "source",
    "state_path",
    "phase",
    "stage",
    "next_stage",
    "kill_switch",
    "pending_advance",
    "advance_window",
    "bot_stage",  # 0.3: the stage the bot was last told, and what its next tick announces
    "bot_told",
    "paused",
    "started_at",
    "stage_entered_at",
    "evidence_since",
    "gate_window",  # 0.3: the window the gate judges, its evidence waiting on open trades
    "judged_metrics",
    "evidence_waiting",
    "complete_before",
    "trades_ahead",  # 0.3: trades stamped after the clock's now
    "last_decision_action",
    "last_event",
    "metrics",
    "gate_progress",
    "gate_proof",
    "kill_criteria",
    "trades",
    "experiment",  # 0.3: the arms side by side on an experiment stage, else null
}


def wins(n: int = 6, day: str = "2026-04-30") -> List[TradeOutcome]:
    return [TradeOutcome(1.0, 2.0, f"{day}T00:{i:02d}:00Z") for i in range(n)]


def losses(n: int = 5, day: str = "2026-04-30") -> List[TradeOutcome]:
    return [TradeOutcome(-1.0, 2.0, f"{day}T01:{i:02d}:00Z") for i in range(n)]


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config in tmp_path (the cwd), the clock fixed at T4, no stray environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QUANT_ROLLOUT_CONFIG", raising=False)
    monkeypatch.setenv("QUANT_ROLLOUT_NOW", T4)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("USER", "owner")
    path = tmp_path / "bot.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def bot(cfg: Path, at: str = T0) -> Rollout:
    return Rollout.from_config(cfg, clock=ManualClock(at))


def open_window(cfg: Path) -> None:
    """The bot's tick at T0 opens a veto window: stage 0 -> 1 at 12:30."""
    assert bot(cfg).tick(wins()).action is RolloutAction.VETO_OPEN


def trip_kill(cfg: Path) -> None:
    assert bot(cfg).tick(losses()).action is RolloutAction.KILL_TRIPPED


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def events(cfg: Path) -> List[Any]:
    return read_history(cfg.parent / "state" / "rollout_state.history.jsonl")


def status_json(capsys: pytest.CaptureFixture[str], cfg: Path) -> Dict[str, Any]:
    code, out, err = run(capsys, "status", "--config", str(cfg), "--json")
    assert code == 0, err
    data: Dict[str, Any] = json.loads(out)
    return data


class FakeTty(io.StringIO):
    """stdin as a terminal where the user types ``answer``."""

    def isatty(self) -> bool:
        return True


# ----------------------------------------------------------------------------- usage


# Every command, in the order --help lists them; the two tests below use this one list.
COMMANDS = (
    "status",
    "veto",
    "promote",
    "pause",
    "resume",
    "clear-kill",
    "reset",
    "accept-clock",
    "promote-arm",
    "drop-arm",
    "weights",
    "restore",
    "history",
    "replay",
    "plan",
    "plan-experiment",
    "replay-experiment",
    "validate",
    "init",
    "watch",
    "dashboard",
)


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    section = out.split("commands:", 1)[1].split("\n\n", 1)[0]
    listed = re.findall(r"^    (\S+)", section, flags=re.M)
    assert tuple(listed) == COMMANDS  # a new command must be added to COMMANDS too


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_that_fits_80_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert f"usage: quant-rollout {command}" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from quant_rollout import __version__

    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert __version__ in out


@pytest.mark.parametrize(
    "argv", [[], ["frobnicate"], ["status", "--bogus"], ["promote", "--to", "two"]]
)
def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str], argv: List[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "usage:" in err


def test_no_rollout_given_says_how_to_give_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QUANT_ROLLOUT_CONFIG", raising=False)
    code, out, err = run(capsys, "status")
    assert code == 2
    assert out == ""
    assert "--config FILE" in err
    assert "QUANT_ROLLOUT_CONFIG" in err
    assert len(err.strip().splitlines()) == 1


def test_the_rollout_is_found_by_flag_env_or_cwd(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    open_window(cfg)
    # --config before the command as well as after it
    assert status_json(capsys, cfg)["phase"] == "veto_pending"
    code, out, _ = run(capsys, "--config", str(cfg), "status", "--json")
    assert code == 0
    assert json.loads(out)["source"] == str(cfg)
    monkeypatch.setenv("QUANT_ROLLOUT_CONFIG", str(cfg))
    code, out, _ = run(capsys, "status", "--json")
    assert code == 0
    assert json.loads(out)["phase"] == "veto_pending"
    monkeypatch.delenv("QUANT_ROLLOUT_CONFIG")
    (cfg.parent / "rollout.toml").write_text(CONFIG, encoding="utf-8")
    code, out, _ = run(capsys, "status", "--json")
    assert code == 0
    assert json.loads(out)["source"] == "rollout.toml"


def test_config_and_rollout_together_is_bad_usage(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "status", "--config", str(cfg), "--rollout", "x:y")
    assert code == 2
    assert "not both" in err


# ----------------------------------------------------------------------------- status


def test_status_before_the_first_tick(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "status", "--config", str(cfg))
    assert code == 0, err
    assert "0 (baseline)" in out
    assert "not yet" in out
    assert "next      stage 1 (canary): n>=5, win_rate>=0.6, ev_per_dollar>=0" in out


def test_status_in_an_open_veto_window(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_window(cfg)
    code, out, _ = run(capsys, "status", "--config", str(cfg))
    assert code == 0
    assert "VETO WINDOW OPEN" in out
    assert "stage 1 (canary) in 26m00s, at 2026-05-01T12:30:00Z" in out
    assert "quant-rollout veto" in out
    assert "started   2026-05-01T12:00:00Z (4m00s ago)" in out
    assert "#2 veto_open" in out
    assert max(len(line) for line in out.splitlines() if str(cfg.parent) not in line) <= 80


def test_status_json_has_stable_keys_and_parses_back(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    open_window(cfg)
    data = status_json(capsys, cfg)
    assert set(data) == STATUS_KEYS
    assert data["phase"] == "veto_pending"
    assert data["stage"] == {"num": 0, "name": "baseline", "params": {"size": 1}, "gate": None}
    assert data["next_stage"]["gate"]["min_n"] == 5
    pending = data["pending_advance"]
    assert pending["to_stage"] == 1
    assert pending["name"] == "canary"
    assert pending["seconds_left"] == 26 * 60
    assert pending["deadline"] == "2026-05-01T12:30:00+00:00"
    assert data["kill_switch"] == {"tripped": False, "reason": None, "at": None}
    assert data["last_event"]["event"] == "veto_open"
    assert data["state_path"] == str(cfg.parent / "state" / "rollout_state.json")
    assert data["gate_progress"] is None
    assert data["metrics"] is None


def test_status_with_trades_shows_gate_progress_per_criterion(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trades = cfg.parent / "trades.csv"
    rows = ["opened,profit,stake"] + [
        f"2026-04-30T00:{i:02d}:00Z,{1.0 if i % 3 else -1.0},2.0" for i in range(4)
    ]
    trades.write_text("\n".join(rows) + "\n", encoding="utf-8")
    argv = ["status", "--config", str(cfg), "--trades", str(trades)]
    argv += ["--pnl", "profit", "--size", "stake", "--time", "opened"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert "to stage 1 (canary): not_yet (n=4 < 5)" in out
    assert "4 read from" in out
    code, out, _ = run(capsys, *argv, "--json")
    data = json.loads(out)
    gate = data["gate_progress"]
    assert gate["to_stage"] == 1
    assert gate["verdict"] == "not_yet"
    assert [(c["name"], c["observed"], c["required"], c["met"]) for c in gate["criteria"]] == [
        ("n", 4, 5, False),
        ("win_rate", 0.5, 0.6, False),
        ("ev_per_dollar", 0.0, 0.0, True),
    ]
    assert data["metrics"]["n"] == 4
    assert data["trades"]["count"] == 4
    assert data["trades"]["skipped"] == 0


def test_status_with_a_bad_trades_file_exits_2(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = cfg.parent / "bad.csv"
    bad.write_text("timestamp,pnl,size\n2026-04-30T00:00:00Z,abc,1\n", encoding="utf-8")
    code, out, err = run(capsys, "status", "--config", str(cfg), "--trades", str(bad))
    assert code == 2
    assert out == ""
    assert "'abc'" in err
    assert "line 2" in err
    code, out, _ = run(capsys, "status", "--config", str(cfg), "--trades", str(bad), "--skip-bad")
    assert code == 0
    assert "1 bad rows skipped" in out


def test_status_shows_a_stage_the_bot_has_not_been_told(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bot(cfg).tick([])
    bot(cfg, T4).promote(note="by hand")
    code, out, _ = run(capsys, "status", "--config", str(cfg))
    assert code == 0
    told = "the bot was last told stage 0; its next tick announces stage 1 (canary)"
    assert f"bot {told}" in " ".join(out.split())  # wrapped at 80 columns
    data = status_json(capsys, cfg)
    assert (data["bot_stage"], data["bot_told"]) == (0, told)
    assert bot(cfg, T4).tick([]).action is RolloutAction.ADVANCE  # the announcement
    data = status_json(capsys, cfg)
    assert (data["bot_stage"], data["bot_told"]) == (1, None)
    assert "bot   " not in run(capsys, "status", "--config", str(cfg))[1]


def test_status_warns_about_trades_stamped_after_the_clock(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trades = cfg.parent / "trades.csv"
    rows = ["timestamp,pnl,size"] + [f"2027-05-01T00:0{i}:00Z,1.0,2.0" for i in range(3)]
    trades.write_text("\n".join(rows) + "\n", encoding="utf-8")
    argv = ["status", "--config", str(cfg), "--trades", str(trades)]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    warning = (
        "3 trades stamped after the clock's now (latest 2027-05-01T00:02:00+00:00): "
        "check the bot's timestamps or the clock"
    )
    assert f"clock WARNING: {warning}" in " ".join(out.split())
    code, out, _ = run(capsys, *argv, "--json")
    assert json.loads(out)["trades_ahead"] == warning


def test_status_when_the_kill_switch_is_latched(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trip_kill(cfg)
    code, out, _ = run(capsys, "status", "--config", str(cfg))
    assert code == 0
    assert "KILLED" in out
    assert "TRIPPED 2026-05-01T12:00:00Z (4m00s ago): win_rate(5)=0.000 < 0.400" in out
    assert "quant-rollout clear-kill" in out
    data = status_json(capsys, cfg)
    assert data["phase"] == "killed"
    assert data["kill_switch"]["tripped"] is True
    assert data["kill_switch"]["reason"] == "win_rate(5)=0.000 < 0.400"


# ----------------------------------------------------------------------------- verbs


def test_veto_with_nothing_pending_says_so_and_exits_1(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "veto", "--config", str(cfg))
    assert code == 1
    assert out == ""
    assert "nothing to do: there is no pending advance to veto" in err
    assert events(cfg) == []


def test_veto_is_recorded_with_note_and_actor(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    open_window(cfg)
    code, out, err = run(capsys, "veto", "--config", str(cfg), "--note", "too early")
    assert code == 0, err
    assert out.startswith("advance to stage 1 vetoed; its evidence will not count again\n")
    actor = f"owner@{socket.gethostname()}"
    assert f"by {actor}" in out
    last = events(cfg)[-1]
    assert (last.event, last.note, last.actor, last.at) == (
        "veto",
        "too early",
        actor,
        "2026-05-01T12:04:00+00:00",
    )
    assert status_json(capsys, cfg)["phase"] == "running"


def test_actor_can_be_overridden(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_window(cfg)
    assert run(capsys, "veto", "--config", str(cfg), "--actor", "alice@phone")[0] == 0
    assert events(cfg)[-1].actor == "alice@phone"


def test_pause_and_resume_and_their_refusals(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_window(cfg)
    code, out, _ = run(capsys, "pause", "--config", str(cfg), "--note", "at the gym")
    assert code == 0
    assert "paused: no automatic advance until resumed; pending advance to stage 1" in out
    assert status_json(capsys, cfg)["paused"] is True
    code, out, err = run(capsys, "pause", "--config", str(cfg))
    assert code == 1
    assert "refused: the rollout is already paused" in err
    assert run(capsys, "resume", "--config", str(cfg))[0] == 0
    code, _, err = run(capsys, "resume", "--config", str(cfg))
    assert code == 1
    assert "not paused" in err
    assert [e.event for e in events(cfg)] == ["start", "veto_open", "pause", "resume"]
    assert events(cfg)[2].note == "at the gym"


def test_clear_kill(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "clear-kill", "--config", str(cfg))
    assert code == 1
    assert "nothing to do: the kill switch is not tripped" in err
    trip_kill(cfg)
    code, out, _ = run(capsys, "clear-kill", "--config", str(cfg), "--note", "fixed the feed")
    assert code == 0
    assert "kill switch cleared" in out
    assert events(cfg)[-1].event == "clear_kill"
    assert status_json(capsys, cfg)["kill_switch"]["tripped"] is False


def test_promote_refuses_without_a_terminal_unless_yes(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # piped, not a terminal
    code, _, err = run(capsys, "promote", "--config", str(cfg))
    assert code == 1
    assert "stdin is not a terminal; pass --yes" in err
    assert events(cfg) == []
    code, out, _ = run(capsys, "promote", "--config", str(cfg), "--yes", "--to", "2")
    assert code == 0
    assert "promoted by hand to stage 2 (full)" in out
    assert status_json(capsys, cfg)["stage"]["num"] == 2


def test_the_confirmation_preview_writes_nothing_and_matches_the_verb(cfg: Path) -> None:
    """What promote/reset ask about comes from Rollout.preview: no lock, no write."""
    open_window(cfg)
    rollout = bot(cfg, T4)
    state_file = cfg.parent / "state" / "rollout_state.json"
    before = (state_file.read_bytes(), len(events(cfg)))
    preview = rollout.preview("promote")
    assert (state_file.read_bytes(), len(events(cfg))) == before
    assert (preview.transitions[-1].from_stage, preview.transitions[-1].to_stage) == (0, 1)
    done = rollout.operate("promote")
    assert done.transitions[-1].to_stage == preview.transitions[-1].to_stage
    assert len(events(cfg)) == before[1] + 1


@pytest.mark.parametrize(("answer", "code"), [("y\n", 0), ("yes\n", 0), ("n\n", 1), ("\n", 1)])
def test_promote_asks_for_confirmation_on_a_terminal(
    cfg: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    code: int,
) -> None:
    monkeypatch.setattr(sys, "stdin", FakeTty(answer))
    got, _, err = run(capsys, "promote", "--config", str(cfg), "--note", "confident")
    assert got == code
    assert "promote stage 0 (baseline) → 1 (canary) now, skipping its gate" in err
    assert "[y/N]" in err
    promoted = [e for e in events(cfg) if e.event == "promote"]
    assert len(promoted) == (1 if code == 0 else 0)
    if code:
        assert "cancelled; nothing changed" in err


def test_promote_lands_on_the_stage_the_operator_agreed_to(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class SlowReader(FakeTty):
        def readline(self, size: Optional[int] = -1) -> str:
            # While the operator reads "0 -> 1?", someone else promotes to 1.
            bot(cfg, T4).promote(note="the other operator")
            return "y\n"

    monkeypatch.setattr(sys, "stdin", SlowReader())
    code, _, err = run(capsys, "promote", "--config", str(cfg))
    assert code == 1
    assert "stage 0 (baseline) → 1 (canary)" in err
    assert "promote moves forward only" in err
    assert status_json(capsys, cfg)["stage"]["num"] == 1  # not 2: nobody agreed to 2


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--to", "9"], "there is no stage 9"),
        (["--to", "0"], "promote moves forward only"),
    ],
)
def test_promote_refusals_come_before_the_question(
    cfg: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: List[str],
    words: str,
) -> None:
    monkeypatch.setattr(sys, "stdin", FakeTty("y\n"))
    code, _, err = run(capsys, "promote", "--config", str(cfg), *argv)
    assert code == 1
    assert words in err
    assert "[y/N]" not in err


def test_promote_at_the_last_stage_and_while_killed_is_refused(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trip_kill(cfg)
    code, _, err = run(capsys, "promote", "--config", str(cfg), "--yes")
    assert code == 1
    assert "refused: the kill switch is latched" in err
    assert run(capsys, "reset", "--config", str(cfg), "--yes")[0] == 0
    assert run(capsys, "promote", "--config", str(cfg), "--yes", "--to", "2")[0] == 0
    code, _, err = run(capsys, "promote", "--config", str(cfg), "--yes")
    assert code == 1
    assert "already at the last stage" in err


def test_reset_confirms_and_clears_everything(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    trip_kill(cfg)
    monkeypatch.setattr(sys, "stdin", FakeTty("n\n"))
    code, _, err = run(capsys, "reset", "--config", str(cfg))
    assert code == 1
    assert "reset stage 0 (baseline) → 0 (baseline)?" in err
    assert status_json(capsys, cfg)["kill_switch"]["tripped"] is True
    monkeypatch.setattr(sys, "stdin", FakeTty("y\n"))
    code, out, _ = run(capsys, "reset", "--config", str(cfg), "--note", "start over")
    assert code == 0
    assert out.startswith("reset to stage 0; evidence starts afresh\n")
    data = status_json(capsys, cfg)
    assert data["kill_switch"]["tripped"] is False
    assert data["phase"] == "running"
    assert events(cfg)[-1].note == "start over"


# ----------------------------------------------------------------------------- history


def test_history_table_and_json(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_window(cfg)
    assert run(capsys, "veto", "--config", str(cfg), "--note", "wait for the weekend")[0] == 0
    code, out, _ = run(capsys, "history", "--config", str(cfg))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["#", "time", "(UTC)", "event", "stage", "reason"]
    assert "1  2026-05-01T12:00:00Z  start" in out
    assert "veto_open  0→1    gate passed; veto window opened" in out  # as replay shows it
    assert "4m00s ago" in out
    assert "note: wait for the weekend" in out
    assert f"by owner@{socket.gethostname()}" in out
    assert max(len(line) for line in lines) <= 80
    code, out, _ = run(capsys, "history", "--config", str(cfg), "--json")
    data = json.loads(out)
    assert [e["event"] for e in data["events"]] == ["start", "veto_open", "veto"]
    assert set(data["events"][0]) == {
        "seq",
        "at",
        "event",
        "from_stage",
        "to_stage",
        "reason",
        "note",
        "actor",
        "metrics",
        "state",
        "prev_hash",
        "line_hash",
    }
    assert data["events"][2]["note"] == "wait for the weekend"


def test_history_on_a_narrow_terminal(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    open_window(cfg)
    monkeypatch.setenv("COLUMNS", "50")
    code, out, _ = run(capsys, "history", "--config", str(cfg))
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 50
    assert "gate passed; veto window opened" in out


def test_history_since(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_window(cfg)
    assert run(capsys, "pause", "--config", str(cfg))[0] == 0
    for since in ("2m", "2026-05-01T12:03:00Z"):
        code, out, _ = run(capsys, "history", "--config", str(cfg), "--since", since, "--json")
        assert code == 0
        assert [e["event"] for e in json.loads(out)["events"]] == ["pause"]
    code, out, _ = run(capsys, "history", "--config", str(cfg), "--since", "2027-01-01")
    assert code == 0
    assert "no events in that period" in out
    code, _, err = run(capsys, "history", "--config", str(cfg), "--since", "last tuesday")
    assert code == 2
    assert "--since takes" in err


def test_history_verify_names_the_first_bad_line(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    open_window(cfg)
    assert run(capsys, "pause", "--config", str(cfg))[0] == 0
    code, out, _ = run(capsys, "history", "--config", str(cfg), "--verify")
    assert code == 0
    assert "history OK: 3 events" in out
    code, out, _ = run(capsys, "history", "--config", str(cfg), "--verify", "--json")
    assert json.loads(out)["verification"]["ok"] is True
    log = cfg.parent / "state" / "rollout_state.history.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace("gate passed", "gate PASSED")
    log.write_text("".join(lines), encoding="utf-8")
    code, out, _ = run(capsys, "history", "--config", str(cfg), "--verify")
    assert code == 1
    assert "history BROKEN at line 3" in out
    assert "prev_hash does not match" in out
    code, out, _ = run(capsys, "history", "--config", str(cfg), "--verify", "--json")
    assert code == 1
    verification = json.loads(out)["verification"]
    assert verification["ok"] is False
    assert verification["bad_line"] == 3


def test_history_with_an_unreadable_line_points_to_verify(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    open_window(cfg)
    log = cfg.parent / "state" / "rollout_state.history.jsonl"
    log.write_text("not json\n" + log.read_text(encoding="utf-8"), encoding="utf-8")
    code, out, err = run(capsys, "history", "--config", str(cfg))
    assert code == 2
    assert out == ""
    assert "history --verify" in err
    assert "Traceback" not in err


def test_history_when_nothing_happened_yet(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "history", "--config", str(cfg))
    assert code == 0
    assert "no events recorded yet" in out


# ----------------------------------------------------------------------------- validate, init


def test_validate_prints_the_stage_table(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", str(cfg))
    assert code == 0
    assert f"{cfg}: OK, 3 stages" in out
    assert "veto      30m" in out
    assert "kill      wr_lookback=5 wr_threshold=0.4 ev_lookback=10 ev_threshold=-0.5" in out
    assert "1  canary    n>=5, win_rate>=0.6, ev_per_dollar>=0" in out
    assert "params: size=5" in out
    assert max(len(line) for line in out.splitlines() if str(cfg.parent) not in line) <= 80


def test_validate_prints_every_problem_and_exits_2(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = cfg.parent / "bad.toml"
    text = CONFIG.replace("min_win_rate = 0.6 }", "min_win_rate = 60 }", 1)
    bad.write_text(text.replace("wr_lookback", "wr_lookbak"), encoding="utf-8")
    code, out, err = run(capsys, "validate", str(bad))
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"{bad}: kill_switch.wr_lookbak: unknown key")
    assert lines[1].startswith(f"{bad}: stages[1].gate.min_win_rate: must be a fraction")
    assert lines[2] == f"{bad}: 2 problems; nothing loaded"


def test_validate_a_syntax_error_names_the_line(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = cfg.parent / "bad.toml"
    bad.write_text("veto_window = \n", encoding="utf-8")
    code, _, err = run(capsys, "validate", str(bad))
    assert code == 2
    assert f"{bad}, line 1, column" in err


def test_init_writes_the_example_and_refuses_to_overwrite(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "init")
    assert code == 0
    written = cfg.parent / "rollout.toml"
    assert written.read_text(encoding="utf-8") == EXAMPLE_CONFIG
    assert "quant-rollout validate rollout.toml" in out
    written.write_text("# mine\n", encoding="utf-8")
    code, _, err = run(capsys, "init")
    assert code == 1
    assert "exists; pass --force" in err
    assert written.read_text(encoding="utf-8") == "# mine\n"
    assert run(capsys, "init", "--force")[0] == 0
    assert written.read_text(encoding="utf-8") == EXAMPLE_CONFIG
    assert run(capsys, "validate")[0] == 0  # ./rollout.toml is found by default
    code, _, _ = run(capsys, "init", str(cfg.parent / "sub" / "r.toml"))
    assert code == 0
    assert (cfg.parent / "sub" / "r.toml").exists()
    code, _, err = run(capsys, "init", "r.json")
    assert code == 2
    assert ".toml" in err


# ----------------------------------------------------------------------------- --rollout


FACTORY = """\
from quant_rollout import Gate, KillSwitch, ManualClock, Rollout, Stage

STAGES = [Stage(0, {"size": 1}, name="base"), Stage(1, {"size": 2}, Gate(min_n=3), "next")]


def build():
    return Rollout(STAGES, KillSwitch(), state_path="factory_state.json")


ROLLOUT = build()


def not_a_rollout():
    return 42


def broken():
    raise RuntimeError("database is down")
"""


@pytest.fixture
def factory(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"mybot_{os.getpid()}_{id(cfg)}"
    (cfg.parent / f"{name}.py").write_text(FACTORY, encoding="utf-8")
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield name
    sys.modules.pop(name, None)


def test_rollout_factory(factory: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "status", "--rollout", f"{factory}:build", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["stage"]["name"] == "base"
    assert data["source"] == f"--rollout {factory}:build"
    assert run(capsys, "pause", "--rollout", f"{factory}:ROLLOUT")[0] == 0
    code, out, _ = run(capsys, "history", "--rollout", f"{factory}:build", "--json")
    history = json.loads(out)["events"]
    assert [e["event"] for e in history] == ["start", "pause"]
    assert history[0]["at"] == "2026-05-01T12:04:00+00:00"  # QUANT_ROLLOUT_NOW replaced its clock
    code, out, _ = run(capsys, "validate", "--rollout", f"{factory}:build")
    assert code == 0
    assert "OK, 2 stages" in out


@pytest.mark.parametrize(
    ("attr", "words"),
    [
        ("not_a_rollout", "returned int, not a Rollout"),
        ("broken", "the factory raised RuntimeError: database is down"),
        ("missing", "has no 'missing'"),
        ("STAGES", "neither a Rollout nor a function"),
    ],
)
def test_bad_factories_exit_2(
    factory: str, capsys: pytest.CaptureFixture[str], attr: str, words: str
) -> None:
    code, _, err = run(capsys, "status", "--rollout", f"{factory}:{attr}")
    assert code == 2
    assert words in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("spec", "words"),
    [("no_colon", "module.path:factory"), ("no_such_module_xyz:build", "cannot import")],
)
def test_bad_factory_specs_exit_2(
    cfg: Path, capsys: pytest.CaptureFixture[str], spec: str, words: str
) -> None:
    code, _, err = run(capsys, "status", "--rollout", spec)
    assert code == 2
    assert words in err


# ----------------------------------------------------------------------------- errors


def test_a_bad_config_is_one_line_without_traceback_unless_debug(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg.write_text(CONFIG.replace("wr_lookback = 5", "wr_lookback = 0"), encoding="utf-8")
    code, out, err = run(capsys, "status", "--config", str(cfg))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "kill_switch.wr_lookback: must be >= 1, got 0" in err
    assert "Traceback" not in err
    code, _, err = run(capsys, "status", "--config", str(cfg), "--debug")
    assert code == 2
    assert "Traceback" in err
    assert "kill_switch.wr_lookback" in err.splitlines()[-1]


def test_a_corrupt_state_file_exits_2(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_window(cfg)
    (cfg.parent / "state" / "rollout_state.json").write_text("{trunc", encoding="utf-8")
    for argv in (["status"], ["veto"], ["pause"]):
        code, _, err = run(capsys, *argv, "--config", str(cfg))
        assert code == 2
        assert "not valid JSON" in err


def test_a_clock_before_the_last_event_exits_2(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    open_window(cfg)
    monkeypatch.setenv("QUANT_ROLLOUT_NOW", "2026-05-01T11:00:00Z")
    code, _, err = run(capsys, "resume", "--config", str(cfg))
    assert code == 2
    assert "accept-clock" in err
    assert [e.event for e in events(cfg)] == ["start", "veto_open"]


def test_a_bad_now_override_exits_2(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANT_ROLLOUT_NOW", "teatime")
    code, _, err = run(capsys, "status", "--config", str(cfg))
    assert code == 2
    assert "QUANT_ROLLOUT_NOW='teatime'" in err


def test_an_unexpected_error_is_reported_as_internal(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(self: Rollout, trades: Any = None) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(Rollout, "status", boom)
    code, _, err = run(capsys, "status", "--config", str(cfg))
    assert code == 2
    assert "internal error (RuntimeError: bug); rerun with --debug" in err
    assert "Traceback" not in err


# ----------------------------------------------------------------------------- replay

POLYMARKET = Path(__file__).resolve().parent.parent / "examples" / "data"


def _polymarket() -> Path:
    path = POLYMARKET / "polymarket_crashes_v1.csv"
    if not path.exists():
        pytest.skip("the shipped Polymarket history is not there")
    return path


def test_replay_prints_timeline_and_summary(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("quant_rollout.tools.replay")
    example = cfg.parent / "example.toml"
    example.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    code, out, err = run(capsys, "replay", str(_polymarket()), "--config", str(example))
    assert code == 0, err
    assert "veto_open" in out
    assert "final: stage" in out
    assert not (cfg.parent / "rollout_state.json").exists()  # never touches the live state
    code, out, _ = run(
        capsys,
        "replay",
        str(_polymarket()),
        "--config",
        str(example),
        "--json",
        "--tick-every",
        "5m",
    )
    assert code == 0
    data = json.loads(out)
    assert data["trades"] == 308
    assert data["tick_every"] == 300.0
    assert data["timeline"][0]["event"] == "veto_open"


def test_replay_plot(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("quant_rollout.tools.replay")
    pytest.importorskip("matplotlib")
    png = cfg.parent / "replay.png"
    code, out, err = run(
        capsys, "replay", str(_polymarket()), "--config", str(cfg), "--plot", str(png)
    )
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot written to {png}" in out


def test_without_matplotlib_only_the_plot_is_missing(cfg: Path) -> None:
    pytest.importorskip("quant_rollout.tools.replay")
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["matplotlib"] = None  # as if the plot extra were not installed
        from quant_rollout.tools.cli import main
        assert main(["validate", {str(cfg)!r}]) == 0
        assert main(["replay", {str(_polymarket())!r}, "--config", {str(cfg)!r}]) == 0
        sys.exit(main(["replay", {str(_polymarket())!r}, "--config", {str(cfg)!r},
                       "--plot", "out.png"]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cfg.parent,
        env=_env(T4),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 2, result.stderr
    assert "pip install 'quant-rollout[plot]'" in result.stderr
    assert "the replay above is complete" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (cfg.parent / "out.png").exists()
    # the timeline and the summary were printed all the same (twice: without --plot too)
    assert result.stdout.count("final: stage") == 2


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--tick-every", "soon"], "--tick-every"),
        (["--tick-every", "0"], "more than 0"),
        (["--format", "xls"], "xls"),
    ],
)
def test_replay_bad_options_exit_2(
    cfg: Path, capsys: pytest.CaptureFixture[str], argv: List[str], words: str
) -> None:
    pytest.importorskip("quant_rollout.tools.replay")
    code, _, err = run(capsys, "replay", str(_polymarket()), "--config", str(cfg), *argv)
    assert code == 2
    assert words in err


# ----------------------------------------------------------------------------- real processes

TICKER = """\
import json, sys, time
from pathlib import Path
from quant_rollout import ManualClock, Rollout, TradeOutcome

config, stop, start = sys.argv[1:4]
clock = ManualClock(start)
rollout = Rollout.from_config(config, clock=clock)
trades = [TradeOutcome(1.0, 2.0, f"2026-04-30T00:{i:02d}:00Z") for i in range(6)]
ticks, actions = 0, []
while not Path(stop).exists():
    decision = rollout.tick(trades)
    ticks += 1
    if decision.changed:
        actions.append(decision.action.value)
    if ticks % 20 == 1:
        print("ticks", ticks, flush=True)
    clock.advance(0.001)  # a millisecond of bot time per tick: the window stays open
    time.sleep(0.001)  # pacing only, so the CLI is not starved of the lock
print(json.dumps({"ticks": ticks, "actions": actions}), flush=True)
"""

TIMEOUT = 60.0


def _env(now: str) -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("QUANT_ROLLOUT_CONFIG", None)
    env["QUANT_ROLLOUT_NOW"] = now
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "80"
    return env


def cli(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quant_rollout", *argv],
        cwd=cwd,
        env=_env(T0),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


class Lines:
    """A child's stdout, read line by line on a thread so waits can time out."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[Optional[str]] = queue.Queue()
        self.last: List[str] = []

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.queue.put(line.rstrip("\n"))
            self.queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def next(self) -> Optional[str]:
        line = self.queue.get(timeout=TIMEOUT)
        if line is not None:
            self.last.append(line)
        return line

    def ticks_at_least(self, n: int) -> int:
        while True:
            line = self.next()
            assert line is not None, f"the ticker stopped: {self.last[-3:]}"
            if line.startswith("ticks ") and int(line.split()[1]) >= n:
                return int(line.split()[1])


def test_the_cli_as_a_process(tmp_path: Path) -> None:
    result = cli(tmp_path, "--version")
    assert result.returncode == 0
    result = cli(tmp_path, "status", "--config", "missing.toml")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "missing.toml: no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_operating_from_the_shell_while_the_bot_ticks(tmp_path: Path) -> None:
    config = tmp_path / "rollout.toml"
    config.write_text(CONFIG.replace('"30m"', '"1d"'), encoding="utf-8")
    stop = tmp_path / "stop"
    script = tmp_path / "ticker.py"
    script.write_text(TICKER, encoding="utf-8")
    ticker = subprocess.Popen(
        [sys.executable, str(script), str(config), str(stop), T0],
        cwd=tmp_path,
        env=_env(T0),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = Lines(ticker)
        lines.ticks_at_least(1)  # the first tick opened the veto window

        result = cli(tmp_path, "status", "--json")
        assert result.returncode == 0, result.stderr
        status = json.loads(result.stdout)
        assert status["phase"] == "veto_pending"
        assert status["pending_advance"]["to_stage"] == 1
        assert status["pending_advance"]["seconds_left"] == 86400

        result = cli(tmp_path, "veto", "--note", "from the gym", "--actor", "owner@phone")
        assert result.returncode == 0, result.stderr
        assert "vetoed" in result.stdout.splitlines()[0]

        result = cli(tmp_path, "veto", "--actor", "owner@phone")
        assert result.returncode == 1
        assert "nothing to do" in result.stderr

        result = cli(tmp_path, "pause", "--actor", "owner@phone")
        assert result.returncode == 0, result.stderr

        result = cli(tmp_path, "status")
        assert result.returncode == 0, result.stderr
        assert "paused    yes" in result.stdout

        # The bot keeps ticking on the same files after the operator's changes.
        seen = lines.ticks_at_least(0)
        lines.ticks_at_least(seen + 40)
        assert ticker.poll() is None

        result = cli(tmp_path, "history", "--verify")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "history OK: 4 events" in result.stdout

        result = cli(tmp_path, "history", "--json")
        assert result.returncode == 0, result.stderr
        history = json.loads(result.stdout)["events"]
        assert [(e["event"], e["actor"], e["note"]) for e in history] == [
            ("start", None, ""),
            ("veto_open", None, ""),
            ("veto", "owner@phone", "from the gym"),
            ("pause", "owner@phone", ""),
        ]
        result = cli(tmp_path, "history")
        assert result.returncode == 0
        assert "from the gym" in result.stdout
    finally:
        stop.touch()
        # The pump thread owns stdout: read it to its end there. communicate() would
        # race the thread for the last lines (the report) and sometimes win.
        _rest(lines)
        assert ticker.stdout is not None
        ticker.stdout.close()
        try:
            ticker.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:  # pragma: no cover - only when broken
            ticker.kill()
            raise
        assert ticker.stderr is not None
        err = ticker.stderr.read()
        ticker.stderr.close()
    assert ticker.returncode == 0, err
    report = json.loads([line for line in lines.last if line.startswith("{")][-1])
    assert report["actions"] == ["veto_open"]  # nothing else changed on the bot's side
    assert report["ticks"] > 40


def _rest(lines: Lines) -> List[str]:
    out: List[str] = []
    while True:
        line = lines.next()
        if line is None:
            return out
        out.append(line)


def test_readme_style_session_is_reproducible(tmp_path: Path) -> None:
    """With QUANT_ROLLOUT_NOW the same commands print the same text every time."""
    config = tmp_path / "rollout.toml"
    config.write_text(CONFIG, encoding="utf-8")
    Rollout.from_config(config, clock=ManualClock(T0)).tick(wins())
    first = cli(tmp_path, "status").stdout
    assert first == cli(tmp_path, "status").stdout
    assert "stage 1 (canary) in 30m00s, at 2026-05-01T12:30:00Z" in first


# ----------------------------------------------------------------------------- ways out


def test_a_corrupt_state_is_restored_from_the_history(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    open_window(cfg)
    state = cfg.parent / "state" / "rollout_state.json"
    state.write_text('{"current_stage": ', encoding="utf-8")
    code, _, err = run(capsys, "status", "--config", str(cfg))
    assert code == 2
    assert "quant-rollout restore" in err
    code, out, _ = run(capsys, "history", "--verify", "--config", str(cfg))
    assert code == 1
    assert "a tick would refuse" in out
    assert "restore" in out
    code, out, err = run(capsys, "restore", "--config", str(cfg), "--note", "disk scare")
    assert code == 0, err
    assert "state rebuilt from history line 2 (veto_open at" in out
    assert "phase veto_pending" in out
    code, out, _ = run(capsys, "history", "--verify", "--config", str(cfg))
    assert (code, out.strip()) == (0, "history OK: 3 events, hash chain intact")
    assert [e.event for e in events(cfg)] == ["start", "veto_open", "restore"]
    code, _, err = run(capsys, "restore", "--config", str(cfg))
    assert code == 1
    assert "nothing to restore" in err


@pytest.mark.parametrize("damage", ["last line deleted", "history emptied"])
def test_history_verify_fails_where_a_tick_would(
    cfg: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    open_window(cfg)
    history = cfg.parent / "state" / "rollout_state.history.jsonl"
    lines = history.read_text(encoding="utf-8").splitlines(keepends=True)
    history.write_text("".join(lines[:-1]) if damage == "last line deleted" else "")
    code, out, _ = run(capsys, "history", "--verify", "--config", str(cfg))
    assert code == 1
    assert "a tick would refuse" in out


def test_accept_clock_from_the_shell_after_a_glitch(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert bot(cfg, "2031-01-01T00:00:00Z").tick(wins()).action is RolloutAction.VETO_OPEN
    code, _, err = run(capsys, "promote", "--yes", "--config", str(cfg))
    assert code == 2
    assert "accept-clock" in err
    code, out, err = run(capsys, "accept-clock", "--config", str(cfg))
    assert code == 0, err
    assert "cancelled" in out
    assert [e.event for e in events(cfg)] == ["start", "veto_open", "accept_clock"]
    code, _, err = run(capsys, "accept-clock", "--config", str(cfg))
    assert code == 1
    assert "nothing to accept" in err


@pytest.mark.skipif(
    sys.platform == "win32" or not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="runs a second user's process; needs root to become nobody",
)
def test_status_and_verify_work_for_a_user_who_cannot_write(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="quant-rollout-readonly-"))
    try:
        os.chmod(folder, 0o755)
        (folder / "bot.toml").write_text(CONFIG, encoding="utf-8")
        assert bot(folder / "bot.toml").tick(wins()).action is RolloutAction.VETO_OPEN
        (folder / "state" / "rollout_state.json.lock").unlink()
        python = "/usr/bin/python3"
        if not os.access(python, os.X_OK):
            pytest.skip("no system Python for the unprivileged user")

        def as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
            def drop() -> None:
                os.setgid(65534)
                os.setuid(65534)

            return subprocess.run(
                [python, "-m", "quant_rollout", *argv, "--config", str(folder / "bot.toml")],
                cwd=folder,
                env=_env(T4),
                preexec_fn=drop,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )

        status = as_nobody("status")
        assert status.returncode == 0, status.stderr
        assert "veto" in status.stdout
        verify = as_nobody("history", "--verify")
        assert verify.returncode == 0, verify.stderr
        assert "history OK: 2 events" in verify.stdout
        veto = as_nobody("veto")  # a write is refused in the user's terms
        assert veto.returncode == 2
        assert "permission denied" in veto.stderr
        assert sorted(p.name for p in (folder / "state").iterdir()) == [
            "rollout_state.history.jsonl",
            "rollout_state.json",
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_init_scales_the_drawdown_limit_to_the_stakes_of_given_trades(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    trades = tmp_path / "btc.csv"
    rows = [f"2026-05-01T00:{i:02d}:00Z,{-0.0004 if i % 2 else 0.0005},0.001" for i in range(40)]
    trades.write_text("timestamp,pnl,size\n" + "\n".join(rows) + "\n")
    code, out, err = run(capsys, "init", "bot.toml", "--trades", str(trades))
    assert code == 0, err
    assert "drawdown limit 0.05: 50 times the median size (0.001) of the 40 trades" in out
    text = (tmp_path / "bot.toml").read_text(encoding="utf-8")
    assert 'kind = "max_drawdown"\nloss = 0.05  # 50 typical stakes of btc.csv\n' in text
    assert run(capsys, "validate", "bot.toml")[0] == 0
    loaded = load_config(tmp_path / "bot.toml")
    drawdown = next(c for c in loaded.kill_switch.criteria if c.kind == "max_drawdown")
    assert drawdown.loss == 0.05
