"""The calendar from the shell: validate shows windows, blackouts and operator hours;
status shows where the next advance stands and the veto deadline in the operator's
zone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Tuple

import pytest

from quant_rollout import ManualClock, Rollout, RolloutAction, TradeOutcome
from quant_rollout.tools.cli import main

CONFIG = """\
state_path = "state.json"
veto_window = "30m"
operator_hours = ["mon-fri 09:00-17:00 America/New_York"]
blackouts = ["2026-12-24..2026-12-25 America/New_York"]

[kill_switch]

[[stages]]
num = 0
name = "baseline"
params = { size = 1 }

[[stages]]
num = 1
name = "canary"
params = { size = 2 }

[stages.gate]
min_n = 5
windows = ["mon-fri 09:00-17:00 America/New_York"]
blackouts = ["fri 15:00-17:00 America/New_York"]
"""


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QUANT_ROLLOUT_CONFIG", raising=False)
    monkeypatch.setenv("COLUMNS", "100")
    path = tmp_path / "bot.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def wins() -> list:  # type: ignore[type-arg]
    return [TradeOutcome(1.0, 1.0, "2026-11-30T00:00:00Z") for _ in range(5)]


def test_validate_shows_the_calendar(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", str(cfg))
    assert code == 0
    assert "veto      30m of operator hours (mon-fri 09:00-17:00 America/New_York)" in out
    assert "blackouts 2026-12-24..2026-12-25 America/New_York" in out
    assert (
        "n>=5, ev_per_dollar>=0; only mon-fri 09:00-17:00 America/New_York; not fri 15:00-17:00 "
        "America/New_York" in " ".join(out.split())
    )


def test_validate_reports_a_bad_window_with_file_key_and_value(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg.write_text(
        CONFIG.replace(
            'mon-fri 09:00-17:00 America/New_York"]\nblackouts',
            'mon-fri 09:00-17:00 America/NewYork"]\nblackouts',
        )
    )
    code, _, err = run(capsys, "validate", str(cfg))
    assert code == 2
    assert f"{cfg}: operator_hours[0]: unknown time zone 'America/NewYork'" in err
    assert "did you mean 'America/New_York'" in err


def test_status_shows_the_window_and_the_local_deadline(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Saturday night: the gate is met, the window opens Monday.
    rollout = Rollout.from_config(cfg, clock=ManualClock("2026-12-05T22:00:00-05:00"))
    decision = rollout.tick(wins())
    assert decision.action is RolloutAction.NOOP
    monkeypatch.setenv("QUANT_ROLLOUT_NOW", "2026-12-05T22:00:00-05:00")
    code, out, _ = run(capsys, "--config", str(cfg), "status")
    assert code == 0
    assert "window    waiting for the window that opens Mon 09:00 EST, in 1d11h" in out
    code, out, _ = run(capsys, "--config", str(cfg), "status", "--json")
    data = json.loads(out)
    assert data["advance_window"]["opens_at"] == "2026-12-07T14:00:00+00:00"
    gate = data["next_stage"]["gate"]
    assert gate["windows"] == ["mon-fri 09:00-17:00 America/New_York"]
    assert gate["blackouts"] == ["fri 15:00-17:00 America/New_York"]
    # Monday 16:50: the veto window opens and runs out Tuesday 09:20 (operator hours).
    rollout = Rollout.from_config(cfg, clock=ManualClock("2026-12-07T16:50:00-05:00"))
    assert rollout.tick(wins()).action is RolloutAction.VETO_OPEN
    monkeypatch.setenv("QUANT_ROLLOUT_NOW", "2026-12-07T16:55:00-05:00")
    code, out, _ = run(capsys, "--config", str(cfg), "status")
    assert "at 2026-12-08T14:20:00Z (Tue 2026-12-08 09:20 EST)" in out
    code, out, _ = run(capsys, "--config", str(cfg), "status", "--json")
    assert json.loads(out)["pending_advance"]["deadline_local"] == "Tue 2026-12-08 09:20 EST"
