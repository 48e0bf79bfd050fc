"""``quant-rollout watch`` and the trade-reading flags, through the real command.

Alerts go through Apprise to an HTTP endpoint on 127.0.0.1 that the test starts; the
restart test kills a real ``quant-rollout watch`` process and starts another.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from _endpoint import Endpoint
from quant_rollout import Rollout, TradeOutcome
from quant_rollout.clock import ManualClock
from quant_rollout.tools.cli import main
from quant_rollout.tools.watch import ALERTS_ENV, Cursor, read_cursor

pytest.importorskip("apprise")

SRC = Path(__file__).resolve().parents[1] / "src"
FREQTRADE = Path(__file__).resolve().parent / "data" / "freqtrade_2026"

CONFIG = """\
state_path = "state/rollout_state.json"
veto_window = "30m"

[kill_switch]
wr_lookback = 5
wr_threshold = 0.4

[[stages]]
num = 0
name = "baseline"
params = { size = 1 }

[[stages]]
num = 1
name = "canary"
params = { size = 2 }
gate = { min_n = 5, min_win_rate = 0.6 }
"""


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QUANT_ROLLOUT_CONFIG", raising=False)
    monkeypatch.delenv(ALERTS_ENV, raising=False)
    monkeypatch.setenv("USER", "owner")
    path = tmp_path / "bot.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def history_of(cfg: Path) -> Path:
    return cfg.parent / "state" / "rollout_state.history.jsonl"


def events(cfg: Path) -> None:
    """start, veto_open (a tick at 12:00), then pause and resume by the operator."""
    rollout = Rollout.from_config(cfg, clock=ManualClock("2026-05-01T12:00:00Z"))
    rollout.tick([TradeOutcome(1.0, 2.0, f"2026-04-30T00:{i:02d}:00Z") for i in range(6)])
    rollout.pause(note="CPI at 14:30", actor="ana")
    rollout.resume(actor="ana")


def environment(url: str) -> Dict[str, str]:
    return {**os.environ, ALERTS_ENV: url, "PYTHONPATH": str(SRC)}


def run(cwd: Path, url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quant_rollout", *argv],
        cwd=cwd,
        env=environment(url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --------------------------------------------------------------------------- watch


def test_watch_once_sends_each_event_then_nothing_new(cfg: Path, endpoint: Endpoint) -> None:
    events(cfg)

    first = run(cfg.parent, endpoint.url, "--config", "bot.toml", "watch", "--once")
    again = run(cfg.parent, endpoint.url, "--config", "bot.toml", "watch", "--once")

    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "sent #1 start: [bot] Rollout started at stage 0",
        "sent #2 veto_open: [bot] Advance to stage 1 pending until 2026-05-01 12:30:00Z",
        "sent #3 pause: [bot] Paused by ana: stage 0 -> 0",
        "sent #4 resume: [bot] Resumed by ana: stage 0 -> 0",
    ]
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("nothing new (last sent: event 4 of ")
    assert endpoint.seqs() == [1, 2, 3, 4]
    assert endpoint.bodies[1]["type"] == "warning"
    assert "Note: CPI at 14:30" in endpoint.bodies[2]["message"]


def test_watch_once_exits_1_on_a_failed_send_and_resumes_there(
    cfg: Path, endpoint: Endpoint
) -> None:
    events(cfg)
    endpoint.fail_next = 1

    failed = run(cfg.parent, endpoint.url, "--config", "bot.toml", "watch", "--once")
    retried = run(cfg.parent, endpoint.url, "--config", "bot.toml", "watch", "--once")

    assert failed.returncode == 1
    assert failed.stdout == ""
    assert failed.stderr.startswith("could not send event #1 (start); it is retried")
    assert retried.returncode == 0, retried.stderr
    assert endpoint.seqs() == [1, 2, 3, 4]


def test_watch_setup_errors_never_show_a_url(cfg: Path, endpoint: Endpoint) -> None:
    events(cfg)
    secret = "tgram://123456789:AAE-very-secret-token/-100200300"

    no_url = run(cfg.parent, "", "--config", "bot.toml", "watch", "--once")
    bad = run(cfg.parent, "nosuch://user:hunter2@example.org/", "--config", "bot.toml", "watch")
    missing = run(
        cfg.parent, secret, "--config", "bot.toml", "watch", "--alerts-config", "nowhere.yml"
    )

    assert no_url.returncode == 2
    assert f"no alert URL: set {ALERTS_ENV}" in no_url.stderr
    assert bad.returncode == 2
    assert "alert URL 1 (nosuch://...) is not one Apprise can use" in bad.stderr
    assert "hunter2" not in bad.stderr
    assert missing.returncode == 2
    assert "secret" not in missing.stderr
    assert endpoint.bodies == []


def wait_for(condition: Any, what: str, limit: float = 60.0) -> None:
    """Wait for a real process to get somewhere (bounded; not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def test_a_killed_watch_restarted_sends_every_event_exactly_once(
    cfg: Path, endpoint: Endpoint
) -> None:
    events(cfg)  # 1..4
    cursor = cfg.parent / "state" / "rollout_state.history.jsonl.watch-cursor.json"
    argv = [
        sys.executable,
        "-m",
        "quant_rollout",
        "--config",
        "bot.toml",
        "watch",
        "--every",
        "0.05",
    ]
    rollout = Rollout.from_config(cfg, clock=ManualClock("2026-05-01T12:05:00Z"))

    first = subprocess.Popen(
        argv, cwd=cfg.parent, env=environment(endpoint.url), stdout=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: (read_cursor(cursor) or Cursor()).seq == 4, "events 1..4")
        rollout.pause(note="one", actor="bo")  # 5, while it follows
        wait_for(lambda: (read_cursor(cursor) or Cursor()).seq == 5, "event 5")
    finally:
        first.send_signal(signal.SIGKILL)
        out, _ = first.communicate(timeout=30)
    assert out.splitlines()[0].startswith("watching ")
    printed = [line.split()[1] for line in out.splitlines()[1:]]
    # The line for #5 is printed just after its cursor is written: the kill may beat it.
    assert printed == ["#1", "#2", "#3", "#4", "#5"][: len(printed)]
    assert len(printed) >= 4
    rollout.resume(note="two", actor="bo")  # 6 and 7 while nothing watches
    rollout.pause(note="three", actor="bo")

    second = subprocess.Popen(
        argv, cwd=cfg.parent, env=environment(endpoint.url), stdout=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: (read_cursor(cursor) or Cursor()).seq == 7, "events 6 and 7")
    finally:
        second.send_signal(signal.SIGKILL)
        second.communicate(timeout=30)

    assert endpoint.seqs() == [1, 2, 3, 4, 5, 6, 7]


# --------------------------------------------------------------------------- trade flags


def test_replay_says_what_it_read_before_the_timeline(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["--config", str(cfg), "replay", str(FREQTRADE / "spot"), "--strategy", "PartialExits"]
    )
    out, err = capsys.readouterr()

    assert code == 0, err
    first = out.splitlines()[0]
    assert first.startswith(f"read {FREQTRADE / 'spot'} as freqtrade (the latest result: ")
    assert first.endswith(
        ".zip), strategy PartialExits: 76 trades; pnl profit_abs, size max_stake_amount "
        "* (1 +/- fee_open), time open_date"
    )
    assert out.splitlines()[1] == ""


def test_trade_errors_name_the_flags(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(cfg), "replay", str(FREQTRADE / "tradesv3.sqlite")])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.rstrip().endswith("pass --strategy to pick one")

    bad = cfg.parent / "trades.csv"
    bad.write_text("pnl,size,timestamp\nabc,1,2026-01-01T00:00:00Z\n", encoding="utf-8")
    code = main(["--config", str(cfg), "replay", str(bad)])
    _, err = capsys.readouterr()
    assert code == 2
    assert "pass --skip-bad to leave bad rows out" in err
    assert "skip_bad" not in err

    code = main(["--config", str(cfg), "replay", str(bad), "--size", "stake"])
    _, err = capsys.readouterr()
    assert "Pass --size one of them" in err


def test_a_json_file_read_as_csv_prints_two_lines_at_most(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = {"strategy": {f"S{i}": {"trades": [{"pair": "BTC/USDT"}] * 40} for i in range(200)}}
    path = cfg.parent / "result.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    code = main(["--config", str(cfg), "replay", str(path), "--format", "csv"])
    _, err = capsys.readouterr()

    assert code == 2
    assert len(err) < 700
    assert "pass the jsonl or freqtrade format" in err


def test_a_long_error_is_cut(capsys: pytest.CaptureFixture[str]) -> None:
    from quant_rollout.tools.cli import _error

    _error("x" * 5000, debug=False)
    err = capsys.readouterr().err
    assert len(err) < 700
    assert err.rstrip().endswith("(4,400 more characters; --debug shows all)")


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["stauts"], "did you mean 'status'?"),
        (["histroy"], "did you mean 'history'?"),
        (["clearkill"], "did you mean 'clear-kill'?"),
        (["replay", "t.csv", "--skipbad"], "did you mean --skip-bad (not --skipbad)?"),
    ],
)
def test_a_mistyped_command_or_flag_gets_a_suggestion(
    capsys: pytest.CaptureFixture[str], argv: List[str], hint: str
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.rstrip().endswith(hint)


def test_the_command_line_loads_apprise_only_when_watch_sends() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, quant_rollout.tools.cli, quant_rollout.tools.watch; "
            "print('apprise' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert done.stdout.strip() == "False"


def test_a_secrets_file_given_as_configuration_echoes_no_key(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = cfg.parent / "config.json"
    secrets.write_text(
        json.dumps({"exchange": {"key": "sk-live-7f3a9c0d", "secret": "hunter2hunter2"}}),
        encoding="utf-8",
    )
    env = cfg.parent / "secrets.toml"
    env.write_text('api_key = "sk-live-7f3a9c0d"\n', encoding="utf-8")

    for path in (secrets, env):
        assert main(["validate", str(path)]) == 2
        assert main(["--config", str(path), "status"]) == 2
        out, err = capsys.readouterr()
        assert "sk-live" not in out + err
        assert "hunter2" not in out + err
        assert "not shown" in out + err
