"""Tests of quant_rollout.tools.scale and ``validate``/``plan --trades``: the limits of a
configuration that can never fire on a bot's trades, checked on real trade files.

The Polymarket history (examples/data, MIT) stakes $1-$5; the same trades in
thousandths are a bot staking 0.001-0.005 (a BTC bot); freqtrade's own test fixture
(in /work/shared/data when present: GPL, so not copied into this repository) stakes
0.001 BTC on every trade.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import List, Tuple

import pytest

from quant_rollout import Gate, KillSwitch, Stage, TradeOutcome
from quant_rollout.engine import RolloutConfig
from quant_rollout.kill import MaxConsecutiveLosses, MaxDailyLoss, MaxDrawdown
from quant_rollout.tools.cli import main
from quant_rollout.tools.config import EXAMPLE_CONFIG
from quant_rollout.tools.importers import read_trades
from quant_rollout.tools.scale import ScaleWarning, TradeScale, scale_warnings

REPO = Path(__file__).resolve().parent.parent
POLYMARKET = REPO / "examples" / "data" / "polymarket_crashes_v1.csv"
FREQTRADE_TINY = Path("/work/shared/data/freqtrade/backtest-result_new.json")


def tiny_polymarket(folder: Path) -> Path:
    """The Polymarket trades with every pnl and size in thousandths."""
    path = folder / "tiny.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["timestamp", "pnl", "size"])
        for t in read_trades(POLYMARKET).trades:
            out.writerow([t.timestamp, t.pnl / 1000, t.size / 1000])
    return path


def example(folder: Path) -> Path:
    path = folder / "rollout.toml"
    path.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    return path


def by_key(warnings: List[ScaleWarning]) -> dict:  # type: ignore[type-arg]
    return {w.key: w for w in warnings}


def worst_case(trades: List[TradeOutcome]) -> Tuple[float, float]:
    """Independently: the worst loss per dollar, and every trade losing at it."""
    worst = max(-t.pnl / t.size for t in trades if t.pnl < 0)
    return worst, math.fsum(t.size for t in trades) * worst


def test_the_example_fits_the_polymarket_bot(tmp_path: Path) -> None:
    assert scale_warnings(example(tmp_path), read_trades(POLYMARKET).trades) == []


def test_a_drawdown_limit_in_dollars_never_fires_on_a_tiny_stake(tmp_path: Path) -> None:
    trades = read_trades(tiny_polymarket(tmp_path)).trades
    warnings = by_key(scale_warnings(example(tmp_path), trades))
    assert set(warnings) == {"kill_switch.criteria[1].loss"}
    w = warnings["kill_switch.criteria[1].loss"]
    worst, at_most = worst_case(trades)
    assert w.value == 50.0
    assert f"at most {at_most:.3g}" in w.figure
    assert f"lose at worst {worst:.1%} of a stake" in w.figure
    assert w.figure.startswith("can never fire: the 308 trades stake 0.9 in all")
    median = sorted(t.size for t in trades)[len(trades) // 2]
    assert median == 0.002
    assert w.suggestion == "loss = 0.1 (50 typical stakes of 0.002)"
    assert w.message("rollout.toml").startswith("rollout.toml: kill_switch.criteria[1].loss = 50: ")


@pytest.mark.skipif(not FREQTRADE_TINY.exists(), reason="the shared freqtrade fixture is absent")
def test_freqtrade_s_own_0_001_btc_fixture(tmp_path: Path) -> None:
    trades = read_trades(FREQTRADE_TINY).trades
    warnings = by_key(scale_warnings(example(tmp_path), trades))
    w = warnings["kill_switch.criteria[1].loss"]
    assert "the 179 trades stake 0.179 in all" in w.figure
    assert w.suggestion.startswith("loss = 0.05 ")
    # The fixture was edited by hand: some trades lose three times their stake.
    assert warnings["stages[1].gate.max_loss_per_dollar"].suggestion == "max_loss_per_dollar = 3.1"


def every_limit() -> RolloutConfig:
    return RolloutConfig(
        (
            Stage(0, {}),
            Stage(1, {}, Gate(min_n=5_000, min_total_pnl=10_000.0)),
            Stage(2, {}, Gate(min_n=10, confidence=0.95, max_trade_size=3.0)),
        ),
        KillSwitch(
            wr_lookback=500,
            wr_threshold=0.4,
            ev_threshold=None,
            criteria=(
                MaxDrawdown(fraction=0.5, capital=10_000.0),
                MaxDailyLoss(loss=1_000.0),
                MaxConsecutiveLosses(losses=400),
                MaxDrawdown(loss=50.0),
            ),
        ),
    )


def test_every_check_names_its_key_figure_and_a_value(tmp_path: Path) -> None:
    trades = read_trades(POLYMARKET).trades
    s = TradeScale.of(trades)
    assert s.n == 308
    assert s.total_size == 900.0
    assert s.largest_size == 5.0
    assert math.isclose(s.total_gain, math.fsum(t.pnl for t in trades if t.pnl > 0))
    warnings = by_key(scale_warnings(every_limit(), trades))
    assert set(warnings) == {
        "kill_switch.wr_lookback",
        "kill_switch.criteria[0].fraction",
        "kill_switch.criteria[1].loss",
        "kill_switch.criteria[2].losses",
        "stages[1].gate.min_n",
        "stages[1].gate.min_total_pnl",
        "stages[2].gate.max_trade_size",
    }  # criteria[3]: 50 can be lost (900 staked); stage 2's min_n of 10 comes in a day
    lookback = warnings["kill_switch.wr_lookback"]
    assert "longer than the whole history (308 trades)" in lookback.figure
    per_day = 308 / s.days
    years = 5_000 / per_day / 365
    assert f"takes {years:.1f} years" in warnings["stages[1].gate.min_n"].figure
    assert warnings["stages[1].gate.min_n"].suggestion.startswith(f"min_n = {round(per_day * 90)} ")
    assert warnings["stages[2].gate.max_trade_size"].suggestion == "max_trade_size = 5"
    busiest = max(
        math.fsum(t.size for t in trades if t.timestamp[:10] == day)
        for day in {t.timestamp[:10] for t in trades}
    )
    worst, _ = worst_case(trades)
    assert f"lose at most {busiest * worst:.3g}" in warnings["kill_switch.criteria[1].loss"].figure
    streak = warnings["kill_switch.criteria[2].losses"]
    assert streak.suggestion == f"losses = {s.longest_losing_streak + 2}"


def test_no_trades_is_an_error() -> None:
    with pytest.raises(ValueError, match="no trades"):
        scale_warnings(every_limit(), [])


# ----------------------------------------------------------------------------- the CLI


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_with_trades_warns_and_strict_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    cfg, tiny = example(tmp_path), tiny_polymarket(tmp_path)
    code, out, err = run(capsys, "validate", str(cfg), "--trades", str(tiny))
    assert code == 0, err
    assert f"against 308 trades of {tiny}: 1 warning" in out
    flat = " ".join(out.split())
    assert f"warning: {cfg}: kill_switch.criteria[1].loss = 50: can never fire" in flat
    assert "try loss = 0.1 (50 typical stakes of 0.002)" in flat
    assert max(len(line) for line in out.splitlines() if str(tmp_path) not in line) <= 80
    code, _, _ = run(capsys, "validate", str(cfg), "--trades", str(tiny), "--strict")
    assert code == 1
    code, out, _ = run(capsys, "validate", str(cfg), "--trades", str(POLYMARKET), "--strict")
    assert code == 0
    assert "against 308 trades" in out
    assert "OK: every limit can fire" in out


def test_validate_reads_trades_with_the_importer_s_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,pnl,size\n2026-04-30T00:00:00Z,abc,1\n", encoding="utf-8")
    code, _, err = run(capsys, "validate", str(example(tmp_path)), "--trades", str(bad))
    assert code == 2
    assert "--skip-bad" in err
    code, _, err = run(
        capsys, "validate", str(example(tmp_path)), "--trades", str(bad), "--skip-bad"
    )
    assert code == 2
    assert "no trades to hold the limits against" in err


def test_plan_with_trades_warns_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "small.toml"
    cfg.write_text(
        """
[kill_switch]
wr_threshold = "none"
ev_threshold = "none"

[[kill_switch.criteria]]
kind = "max_drawdown"
loss = 25.0

[[stages]]
num = 0
params = { size = 1 }

[[stages]]
num = 1
params = { size = 2 }
gate = { min_n = 20 }
""",
        encoding="utf-8",
    )
    tiny = tiny_polymarket(tmp_path)
    argv = ["plan", str(cfg), "--trades", str(tiny), "--paths", "100", "--horizon", "100"]
    code, out, err = run(capsys, *argv, "--win-rates", "0.6", "--ev-levels", "0", "--json")
    assert code == 0, err
    assert f"warning: {cfg}: kill_switch.criteria[0].loss = 25: can never fire" in err
    assert out.lstrip().startswith("{")  # the JSON document stays whole
