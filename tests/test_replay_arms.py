"""Replaying an experiment's trade history (quant_rollout.tools.replay_arms and its command)."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import replace
from pathlib import Path
from typing import List, Tuple

import pytest

from quant_rollout.arms import Arm, Experiment, Router
from quant_rollout.errors import ConfigError, InvalidTradeError
from quant_rollout.tools.cli import main
from quant_rollout.tools.importers import read_trades
from quant_rollout.tools.replay_arms import (
    arms_in,
    experiment_from_names,
    format_experiment_replay,
    replay_experiment,
)
from quant_rollout.trades import TradeOutcome, format_instant

POLYMARKET = (
    Path(__file__).resolve().parent.parent / "examples" / "data" / "polymarket_crashes_v1.csv"
)


def _polymarket_split() -> List[TradeOutcome]:
    """The real Polymarket history, each market routed to arm a or b: an A/A test."""
    if not POLYMARKET.exists():
        pytest.skip("the shipped Polymarket history is not there")
    router = Router(Experiment((Arm("a", {"v": 1}), Arm("b", {"v": 1})), "a", salt="aa"))
    return [
        replace(t, metadata={**t.metadata, "arm": router.route(t.metadata["market_id"]).name})
        for t in read_trades(POLYMARKET).trades
    ]


def test_an_a_a_split_of_the_real_history_declares_no_winner() -> None:
    trades = _polymarket_split()
    assert sorted(arms_in(trades)) == ["a", "b"]
    experiment = experiment_from_names(arms_in(trades), "a", gain_per_dollar=11.0)
    result = replay_experiment(experiment, trades)
    assert result.trades == 308
    assert result.winner is None
    assert result.worse_at == {}
    final = result.final
    assert sum(r.trades for r in final.arms) == 308
    assert final.arm("a").pnl + final.arm("b").pnl == pytest.approx(sum(t.pnl for t in trades))
    text = format_experiment_replay(result)
    assert text.startswith("replayed 308 trades\nno winner declared\n")


def _history(seed: int = 3, n: int = 1200) -> List[TradeOutcome]:
    rng = random.Random(seed)
    trades = []
    for i in range(n):
        arm = "new" if rng.random() < 0.5 else "old"
        win = rng.random() < (0.7 if arm == "new" else 0.5)
        trades.append(TradeOutcome(1.0 if win else -1.0, 2.0, 1_700_000_000 + i, {"arm": arm}))
    rng.shuffle(trades)  # the replay orders them by opening time
    return trades


def test_a_better_arm_is_declared_the_winner_at_the_trade_it_first_shows() -> None:
    trades = _history()
    experiment = experiment_from_names(arms_in(trades), "old")
    result = replay_experiment(experiment, trades)
    assert result.winner == "new"
    assert result.winner_at is not None
    assert 20 < result.winner_at < 600
    assert result.winner_report is not None
    assert result.winner_report.winner == "new"
    # The same trades up to that one, fed directly, give the same verdict; one fewer not.
    ordered = sorted(trades, key=lambda t: t.instant_us)
    assert replay_experiment(experiment, ordered[: result.winner_at]).winner == "new"
    assert replay_experiment(experiment, ordered[: result.winner_at - 1]).winner is None
    assert result.winner_time == format_instant(ordered[result.winner_at - 1].instant_us)


def test_replays_refuse_what_a_trade_file_cannot_show() -> None:
    experiment = Experiment(
        (Arm("old", {"v": 1}), Arm("new", {"v": 2})),
        "old",
        metric="pnl_per_opportunity",
        loss_per_opportunity=1.0,
        gain_per_opportunity=1.0,
    )
    with pytest.raises(ConfigError, match="holds no opportunity counts"):
        replay_experiment(experiment, _history())
    with pytest.raises(ConfigError, match="control arm 'nope' has no trades"):
        experiment_from_names(["old", "new"], "nope")
    with pytest.raises(ConfigError, match="metric must be one of"):
        experiment_from_names(["old", "new"], "old", metric="sharpe")
    stray = [*_history(n=10), TradeOutcome(1.0, 1.0, 1_800_000_000, {"arm": "other"})]
    with pytest.raises(InvalidTradeError, match=r"trades\[10\] names arm 'other'"):
        replay_experiment(experiment_from_names(["old", "new"], "old"), stray)


def _write(path: Path, trades: List[TradeOutcome]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["entry_time", "pnl_usd", "size_usd", "variant"])
        for t in sorted(trades, key=lambda t: t.instant_us):
            writer.writerow([t.time.isoformat(), t.pnl, t.size, t.metadata["arm"]])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_replays_a_file_with_an_arm_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "experiment.csv"
    _write(file, _history())
    code, out, err = run(
        capsys, "replay-experiment", str(file), "--arm", "variant", "--control", "old"
    )
    assert code == 0, err
    assert out.startswith("replayed 1200 trades\nwinner 'new' declared after trade ")
    code, out, _ = run(
        capsys, "replay-experiment", str(file), "--arm", "variant", "--control", "old", "--json"
    )
    data = json.loads(out)
    assert data["winner"] == "new"
    assert sorted(data["arms"]) == ["new", "old"]
    assert data["final"]["arms"][0]["name"] == "old"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--control", "nope"], "control arm 'nope' has no trades"),
        (["--control", "old", "--margin", "2"], "--margin is in win-rate points"),
        (["--control", "old", "--metric", "ev_per_dollar"], "--gain-per-dollar is needed"),
    ],
)
def test_the_command_names_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: List[str], message: str
) -> None:
    file = tmp_path / "experiment.csv"
    _write(file, _history(n=50))
    code, _, err = run(capsys, "replay-experiment", str(file), "--arm", "variant", *argv)
    assert code == 2
    assert message in err


def test_the_command_says_how_to_name_the_arm_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "experiment.csv"
    _write(file, _history(n=20))
    code, _, err = run(capsys, "replay-experiment", str(file), "--control", "old")
    assert code == 2
    assert "no trade names an arm; give the column that does with --arm COL" in err
