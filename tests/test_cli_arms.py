"""The command line's experiment pieces: plan-experiment and reading an arm column."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Tuple

import pytest

from quant_rollout.tools.cli import main
from quant_rollout.tools.config import EXAMPLE_CONFIG


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_experiment_prints_power_and_the_false_winner_rate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys, "plan-experiment", "--candidates", "0.5,0.65", "--runs", "60", "--horizon", "800"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Experiment plan: win rate, candidate share 50%, margin 0")
    assert lines[2].endswith("<- false-winner rate")
    assert lines[3].split()[:2] == ["50.0%", "65.0%"]


def test_plan_experiment_json_parses_back(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "plan-experiment", "--candidates", "0.6", "--runs", "20", "--json", "--seed", "3"
    )
    assert code == 0
    data = json.loads(out)
    assert data["runs"] == 20
    assert data["rows"][0]["candidate_win_rate"] == 0.6


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--weight", "1.5"], "--weight must be a fraction strictly between 0 and 1, got 1.5"),
        (["--control", "2"], "--control must be a fraction between 0 and 1"),
        (["--candidates", "0.5,x"], "--candidates takes numbers separated by commas"),
        (["--horizon", "0"], "--horizon must be a whole number >= 1"),
        (["--margin", "1"], "--margin must lie strictly between"),
    ],
)
def test_plan_experiment_errors_name_the_flag(
    capsys: pytest.CaptureFixture[str],
    argv: list,
    message: str,  # type: ignore[type-arg]
) -> None:
    code, out, err = run(capsys, "plan-experiment", *argv)
    assert code == 2
    assert out == ""
    assert message in err


def test_plan_experiment_help_fits_80_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "plan-experiment", "--help")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    code, out, _ = run(capsys, "--help")
    assert "plan-experiment" in out


def test_trade_files_read_the_arm_column_with_arm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "rollout.toml"
    config.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    trades = tmp_path / "trades.csv"
    trades.write_text(
        "entry_time,pnl_usd,size_usd,variant\n"
        "2026-03-28T08:00:00Z,1.5,5,control\n"
        "2026-03-28T09:00:00Z,-5,5,\n"
    )
    code, _, err = run(capsys, "replay", str(trades), "--config", str(config), "--arm", "variant")
    assert code == 2
    assert "line 3, column 'variant': no arm" in err
    code, _, err = run(
        capsys, "replay", str(trades), "--config", str(config), "--arm", "variant", "--skip-bad"
    )
    assert code == 0, err
