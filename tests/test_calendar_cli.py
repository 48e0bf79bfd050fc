"""The calendar from the shell: validate shows windows, blackouts and operator hours;
status shows where the next advance stands and the veto deadline in the operator's
zone; plan notes the wait the calendar adds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Tuple

import pytest

from quant_rollout import ManualClock, Rollout, RolloutAction, TradeOutcome
from quant_rollout.calendar import Schedule, format_wait
from quant_rollout.tools.cli import main
from quant_rollout.trades import parse_instant

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


def test_plan_reports_the_wait_the_calendar_adds(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANT_ROLLOUT_NOW", "2026-11-30T00:00:00Z")
    code, out, _ = run(capsys, "plan", str(cfg), "--win-rates", "0.6", "--horizon", "50")
    assert code == 0
    text = " ".join(out.split())
    schedule = Schedule.parse(
        ["mon-fri 09:00-17:00 America/New_York"],
        ["fri 15:00-17:00 America/New_York", "2026-12-24..2026-12-25 America/New_York"],
    )
    start = parse_instant("2026-11-30T00:00:00Z")
    year = 52 * 7 * 86_400_000_000
    waits = schedule.waits(start, start + year)
    assert waits.mean_wait_us is not None
    assert waits.max_wait_us is not None
    assert (
        f"advances land in {waits.open_fraction:.1%} of the 52 weeks from 2026-11-30; a gate "
        f"met at a random moment waits {format_wait(round(waits.mean_wait_us))} on average, "
        f"{format_wait(waits.max_wait_us)} at most (not in the days above)"
    ) in text
    hours = Schedule.parse(["mon-fri 09:00-17:00 America/New_York"])
    longest = hours.waits(start, start + year).max_wait_us
    assert longest == 65 * 3_600_000_000  # the weekend the clocks go back: 65 hours
    assert "veto window: 30m of operator hours, at most 2d17h real" in text


def test_plan_without_a_calendar_adds_no_note_and_reads_no_clock(
    cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from quant_rollout import plan
    from quant_rollout.tools.config import load_config

    plain = cfg.parent / "plain.toml"
    plain.write_text(
        "\n".join(
            line
            for line in CONFIG.splitlines()
            if not line.startswith(("operator_hours", "blackouts", "windows"))
        )
    )
    report = plan(load_config(plain), win_rates=[0.6], horizon=20, calendar_from="bad")
    assert not any("calendar" in n or "operator" in n for t in report.transitions for n in t.notes)
    timed = plan(load_config(cfg), win_rates=[0.6], horizon=20, calendar_from="2026-11-30T00:00Z")
    assert any(n.startswith("calendar (") for n in timed.transitions[0].notes)
