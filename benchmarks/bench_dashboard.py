"""How long the dashboard takes to draw a long history. Figures, not pass/fail.

    pip install -e '.[dashboard]'
    python benchmarks/bench_dashboard.py            # 10k, 100k and 1M trades
    python benchmarks/bench_dashboard.py --quick    # 10k and 100k trades (CI smoke)

For each size, a CSV of that many trades (a trade a minute) and a rollout ticked once
on all of them (a veto window open towards stage 2, the gate's progress to show).
Measures, with ``time.perf_counter`` (median of 5 runs, except the page, 3):

1. **read trades**: ``read_trades`` on the CSV (the dashboard caches it until the file
   changes, so this is paid once per change, not per refresh).
2. **curve**: the running pnl and its downsampling to at most 2,000 points
   (:func:`quant_rollout.dashboard.model.equity_curve`).
3. **figure**: the Vega-Lite chart with stage bands and event rules, serialized to the
   JSON the browser receives (and that JSON's size).
4. **status, fresh**: :func:`~quant_rollout.dashboard.model.read_snapshot` (config,
   state, history, chain check, ``Rollout.status`` on every trade) with a new
   ``Rollout``, which reads the whole evidence (the page keeps its rollout, so it pays
   this once; later reads cost the new trades only).
5. **gate bounds, fresh**: :func:`~quant_rollout.dashboard.model.gate_timeline` from
   scratch (the page keeps a ``GateTimeline`` and feeds it the new trades only).
6. **first page**: the whole rollout page through Streamlit's ``AppTest``, caches cold
   (the trade file read, the evidence built, the bounds computed).
7. **page redraw**: the same page again with the caches warm, as on an automatic
   refresh: everything the server does for one redraw.

Prints a markdown table; benchmarks/README.md holds a run's figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Tuple

from quant_rollout import ManualClock, Rollout, TradeOutcome
from quant_rollout.dashboard.model import (
    equity_curve,
    gate_timeline,
    read_snapshot,
    stage_spans,
)
from quant_rollout.dashboard.settings import SETTINGS_ENV, DashboardSettings, RolloutEntry
from quant_rollout.tools.importers import read_trades

CONFIG = """\
state_path = "state.json"
veto_window = "1d"

[kill_switch]
wr_threshold = "none"
ev_threshold = "none"

[[kill_switch.criteria]]
kind = "win_rate_cusum"
unacceptable = 0.45

[[kill_switch.criteria]]
kind = "max_drawdown"
loss = 1000000.0

[[stages]]
num = 0
name = "baseline"
params = {}

[[stages]]
num = 1
name = "canary"
params = {}
gate = { min_n = 100, min_win_rate = 0.55, confidence = 0.95 }

[[stages]]
num = 2
name = "full"
params = {}
gate = { min_n = 100, min_win_rate = 0.6, min_ev_per_dollar = 0.2, confidence = 0.95 }
"""


def _world(folder: Path, n: int) -> Tuple[Path, Path, datetime]:
    end = datetime(2026, 5, 1, tzinfo=timezone.utc)
    start = end - timedelta(minutes=n)
    # A deterministic 62% win rate: trade i wins when (i * 7919) mod 100 < 62.
    trades = [
        TradeOutcome(
            1.0 if (i * 7919) % 100 < 62 else -1.0, 1.0, (start + timedelta(minutes=i)).isoformat()
        )
        for i in range(n)
    ]
    csv_path = folder / "trades.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "pnl", "size"])
        for t in trades:
            w.writerow([t.timestamp, t.pnl, t.size])
    config = folder / "bot.toml"
    config.write_text(CONFIG, encoding="utf-8")
    # Stage 0 passes its gate on the first quarter; the window expires a day later;
    # the last tick judges stage 1's evidence (the last three quarters) against stage
    # 2's gate, so the page has bounds to draw over most of the history.
    quarter = start + timedelta(minutes=n // 4)
    clock = ManualClock(quarter)
    rollout = Rollout.from_config(config, clock=clock)
    rollout.tick(trades[: n // 4])
    clock.set(quarter + timedelta(days=1, minutes=1))
    rollout.tick(trades[: n // 4 + 1441])
    clock.set(end)
    rollout.tick(trades)
    return config, csv_path, end


def _median(fn: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _page_seconds(config: Path, trades: Path, now: datetime) -> Tuple[float, float]:
    from streamlit.testing.v1 import AppTest

    settings = DashboardSettings((RolloutEntry("bot", config, trades),), "bench", 0.0)
    os.environ[SETTINGS_ENV] = settings.to_json()
    os.environ["QUANT_ROLLOUT_NOW"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    app = Path(__file__).resolve().parent.parent / "src/quant_rollout/dashboard/app.py"
    at = AppTest.from_file(str(app), default_timeout=300)
    at.query_params["rollout"] = "bot"
    started = time.perf_counter()
    at.run()  # fills the caches (trades, the kept rollout, gate bounds): a first visit
    first = time.perf_counter() - started
    assert not at.exception, at.exception
    return first, _median(at.run, runs=3)


def _row(n: int) -> str:
    from quant_rollout.dashboard import charts

    with tempfile.TemporaryDirectory() as tmp:
        print(f"building {n:,} trades…", file=sys.stderr)
        config, csv_path, end = _world(Path(tmp), n)
        history = read_trades(csv_path).trades
        t_read = _median(lambda: read_trades(csv_path), runs=3 if n >= 1_000_000 else 5)
        t_curve = _median(lambda: equity_curve(history))
        curve = equity_curve(history)
        rollout = Rollout.from_config(config, clock=ManualClock(end))
        records = rollout.history()
        spans = stage_spans(rollout, records, curve[0].at_ms)
        now_ms = end.timestamp() * 1000
        t_fig = _median(
            lambda: json.dumps(charts.equity_chart(curve, spans, records, now_ms), allow_nan=False)
        )
        size = len(json.dumps(charts.equity_chart(curve, spans, records, now_ms)))
        entry = RolloutEntry("bot", config, csv_path)
        clock = ManualClock(end)
        t_status = _median(lambda: read_snapshot(entry, clock, lambda _p: history))
        snap = read_snapshot(entry, clock, lambda _p: history)
        points = len({r["n"] for r in gate_timeline(snap)})
        t_gate = _median(lambda: gate_timeline(snap), runs=3)
        t_first, t_page = _page_seconds(config, csv_path, end)
    return (
        f"| {n:,} | {t_read:.2f} s | {t_curve * 1000:.0f} ms ({len(curve):,} points) "
        f"| {t_fig * 1000:.0f} ms ({size // 1024} KiB) | {t_status:.2f} s "
        f"| {t_gate:.2f} s ({points} points) | {t_first:.2f} s | {t_page:.2f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10k and 100k trades only")
    args = parser.parse_args()
    sizes = (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000)
    print(f"# bench_dashboard ({'quick' if args.quick else 'full'})")
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.system()}\n")
    print(
        "| trades | read trades | curve | figure (JSON) | status, fresh | gate bounds, fresh "
        "| first page | page redraw |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        print(_row(n), flush=True)


if __name__ == "__main__":
    main()
