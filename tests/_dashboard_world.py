"""A small real world for the dashboard tests: a configuration, a trade file, a state.

``build_world`` writes a rollout configuration and a CSV of trades, then ticks a real
:class:`~quant_rollout.Rollout` through those trades hour by hour (the clock set to
each hour, so the history's stage moves fall among the trades), ending at ``end``
with an advance to the last stage pending in a veto window that stays open for a day.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import List, Optional

from quant_rollout import ManualClock, Rollout, TradeOutcome

__all__ = ["CONFIG_TEXT", "World", "build_killed", "build_world"]

CONFIG_TEXT = """\
state_path = "{state}"
veto_window = "{window}"

[kill_switch]
wr_threshold = "none"
ev_threshold = "none"

[[kill_switch.criteria]]
kind = "win_rate_cusum"
unacceptable = 0.45
false_kill_prob = 0.025
horizon = 2000

[[kill_switch.criteria]]
kind = "max_drawdown"
loss = 60.0

[[stages]]
num = 0
name = "baseline"
params = {{ max_entry_price = 0.30 }}

[[stages]]
num = 1
name = "canary"
params = {{ max_entry_price = 0.50 }}
gate = {{ min_n = 40, min_win_rate = 0.55, confidence = 0.9 }}

[[stages]]
num = 2
name = "full_size"
params = {{ max_entry_price = 0.50, position_size = 10.0 }}
gate = {{ min_n = 80, min_win_rate = 0.55, min_ev_per_dollar = 0.02, confidence = 0.9 }}
"""


@dataclass(frozen=True)
class World:
    config: Path
    trades: Path
    state: Path
    history: Path
    trade_list: List[TradeOutcome]


def build_world(
    folder: Path,
    *,
    name: str = "polybot",
    end: Optional[datetime] = None,
    days: int = 12,
    per_day: int = 36,
    win_rate: float = 0.68,
    seed: int = 7,
    window: str = "1d",
) -> World:
    """Write ``NAME.toml``, ``NAME.trades.csv`` and a ticked state in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    end = end or datetime.now(timezone.utc).replace(microsecond=0)
    start = end - timedelta(days=days)
    rng = random.Random(seed)
    trades: List[TradeOutcome] = []
    total = days * per_day
    for i in range(total):
        at = start + timedelta(seconds=(i + 0.5) * days * 86400 / total)
        size = rng.choice((1.0, 2.0, 5.0))
        win = rng.random() < win_rate
        pnl = size * (rng.uniform(0.6, 1.1) if win else -rng.uniform(0.8, 1.0))
        trades.append(TradeOutcome(round(pnl, 4), size, at.isoformat()))
    config = folder / f"{name}.toml"
    state = folder / f"{name}.state.json"
    config.write_text(CONFIG_TEXT.format(state=state.name, window="6h"), encoding="utf-8")
    trade_file = folder / f"{name}.trades.csv"
    with trade_file.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["timestamp", "pnl", "size"])
        for t in trades:
            writer.writerow([t.timestamp, t.pnl, t.size])
    # Tick hour by hour with a 6h window, so stage 1 is reached within the span;
    # the first window towards stage 2 is vetoed by an operator, who also pauses and
    # resumes once. A last tick at ``end``, with the configuration's long window,
    # reopens the advance: it stays pending long enough for a person (or a browser)
    # to veto it.
    clock = ManualClock(start)
    rollout = Rollout.from_config(config, clock=clock)
    now = start
    index = 0
    while now < end - timedelta(hours=1):
        now += timedelta(hours=1)
        while index < len(trades) and trades[index].instant_us <= int(now.timestamp() * 1e6):
            index += 1
        clock.set(now)
        decision = rollout.tick(trades[:index], open_trades=())  # each closes as it opens
        if decision.action.value == "veto_open" and decision.to_stage == 2:
            break
    clock.set(now + timedelta(minutes=20))
    rollout.veto_pending_advance("too early: wait for the weekend's volume", actor="alice@phone")
    clock.set(now + timedelta(hours=3))
    rollout.pause("exchange maintenance", actor="bob@laptop")
    clock.set(now + timedelta(hours=9))
    rollout.resume("maintenance over", actor="bob@laptop")
    config.write_text(CONFIG_TEXT.format(state=state.name, window=window), encoding="utf-8")
    clock.set(end)
    final = Rollout.from_config(config, clock=clock)
    decision = final.tick(trades, open_trades=())
    if decision.action.value != "veto_open":
        raise AssertionError(f"the world did not end with a pending advance: {decision!r}")
    return World(config, trade_file, state, folder / f"{name}.state.history.jsonl", trades)


def build_killed(folder: Path, *, name: str = "sniper", end: Optional[datetime] = None) -> World:
    """A rollout whose kill switch tripped at stage 0 (a drawdown past its limit)."""
    folder.mkdir(parents=True, exist_ok=True)
    end = end or datetime.now(timezone.utc).replace(microsecond=0)
    config = folder / f"{name}.toml"
    state = folder / f"{name}.state.json"
    text = CONFIG_TEXT.format(state=state.name, window="30m").replace("loss = 60.0", "loss = 5.0")
    config.write_text(text, encoding="utf-8")
    trades = [
        TradeOutcome(-1.0, 1.0, (end - timedelta(hours=10 - i)).isoformat()) for i in range(8)
    ]
    trade_file = folder / f"{name}.trades.csv"
    with trade_file.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["timestamp", "pnl", "size"])
        for t in trades:
            writer.writerow([t.timestamp, t.pnl, t.size])
    decision = Rollout.from_config(config, clock=ManualClock(end)).tick(trades)
    if decision.action.value != "kill":
        raise AssertionError(f"the kill switch did not trip: {decision!r}")
    return World(config, trade_file, state, folder / f"{name}.state.history.jsonl", trades)
