"""How much a tick costs as the trade history grows. Figures, not pass/fail.

    python benchmarks/bench_tick.py            # 10k, 100k and 1M trades (about a minute)
    python benchmarks/bench_tick.py --quick    # 1k, 10k and 100k trades (CI smoke, < 20 s)
    python benchmarks/bench_tick.py --late     # only the late-trade table (6 below)

Measures, with ``time.perf_counter``:

1. a steady-state tick that adds ONE trade to a list the rollout has already seen,
   with a MemoryStore and with a JsonFileStore in a temporary folder (median of many);
2. a tick that adds nothing (the NOOP path), and that it writes nothing: the state
   and history files keep their size and mtime, the memory store its lines;
3. ticking through 100,000 trades one by one, one growing list, with a config whose
   gates pass, so the walk includes veto windows and advances;
4. the same ticks done the way quant-rollout 0.1 cost them — filter the whole list to
   the stage's trades, compute the metrics over all of them and the kill windows, every
   tick — re-implemented inline here (compute only, no file I/O, so it flatters 0.1);
5. peak memory (tracemalloc) at the largest size;
6. a tick that adds one trade with the kill's sequential criteria configured (a
   win-rate CUSUM, a drawdown limit, a losing streak), the trade in order and the
   trade *late*: opened an hour before the latest trade counted, as a trade held
   longer than the ones after it arrives (every other tick; the ticks between add a
   trade in order, untimed).

Prints markdown tables; benchmarks/README.md holds a run's figures.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from quant_rollout import (
    Gate,
    KillSwitch,
    ManualClock,
    MaxConsecutiveLosses,
    MaxDrawdown,
    Rollout,
    Stage,
    TradeOutcome,
    WinRateCusum,
    compute_metrics,
)
from quant_rollout.storage.store import MemoryStore

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z, Unix seconds
MINUTE = 60.0

# Steady state: the canary's gate wants a 90% win rate and the trades win 80%, so every
# tick judges the gate and the kill switch and decides NOOP, writing nothing.
KILL = KillSwitch()  # win rate >= 0.60 over 30 trades, EV/$ >= 0.025 over 100
STEADY_STAGES = [
    Stage(0, {"risk": 0.5}, name="baseline"),
    Stage(1, {"risk": 1.0}, Gate(min_n=50, min_win_rate=0.90), name="canary"),
]
# The walk: gates that pass at 1k, 5k and 20k trades of a stage, through a 30-minute
# veto window (a trade a minute): start, then 3 x (veto_open, veto_expired = advance).
WALK_STAGES = [
    Stage(0, {"risk": 0.5}, name="baseline"),
    Stage(1, {"risk": 1.0}, Gate(min_n=1_000, min_win_rate=0.6), name="canary"),
    Stage(2, {"risk": 2.0}, Gate(min_n=5_000, min_win_rate=0.6), name="half"),
    Stage(3, {"risk": 4.0}, Gate(min_n=20_000, min_win_rate=0.6), name="full"),
]


def trade(i: int) -> TradeOutcome:
    """Trade number ``i``: one a minute, four wins of $1 then a loss of $1, $10 each."""
    return TradeOutcome(1.0 if i % 5 else -1.0, 10.0, START + i * MINUTE)


def make_trades(n: int) -> List[TradeOutcome]:
    return [trade(i) for i in range(n)]


def median_us(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1e6


def fmt_us(us: float) -> str:
    if us >= 100_000:
        return f"{us / 1e6:.2f} s"
    if us >= 1_000:
        return f"{us / 1e3:.1f} ms"
    return f"{us:.1f} µs"


def fmt_mb(n_bytes: float) -> str:
    if abs(n_bytes) < 1e6:
        return f"{n_bytes / 1e3:.1f} kB"
    return f"{n_bytes / 1e6:.1f} MB"


# ----------------------------------------------------------------------------- 0.1 style


def tick_v01_style(
    trades: Sequence[TradeOutcome], since_us: Optional[int], gate: Gate, kill: KillSwitch
) -> Tuple[bool, bool]:
    """What 0.1 paid per tick: the whole list filtered, the metrics and both kill
    windows recomputed from scratch. Returns (gate passes, kill tripped)."""
    stage = [t for t in trades if since_us is None or t.instant_us >= since_us]
    metrics = compute_metrics(stage)
    tripped = False
    if len(stage) >= kill.wr_lookback:
        tripped |= compute_metrics(stage[-kill.wr_lookback :]).win_rate < kill.wr_threshold
    if len(stage) >= kill.ev_lookback:
        tripped |= compute_metrics(stage[-kill.ev_lookback :]).ev_per_dollar < kill.ev_threshold
    passes, _reason = gate.evaluate(metrics)
    return passes, tripped


# ----------------------------------------------------------------------------- measures


def file_marks(folder: Path) -> Dict[str, Tuple[int, int]]:
    """(size, mtime_ns) of every file in ``folder``: unchanged means nothing was written."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


class Bench:
    """One rollout on a growing trade list, with its own clock (a minute per tick)."""

    def __init__(self, trades: List[TradeOutcome], folder: Optional[Path]) -> None:
        self.trades = trades
        self.folder = folder
        self.clock = ManualClock(START + len(trades) * MINUTE)
        self.memory = MemoryStore()
        if folder is None:
            self.rollout = Rollout(STEADY_STAGES, KILL, store=self.memory, clock=self.clock)
        else:
            path = folder / "rollout_state.json"
            self.rollout = Rollout(STEADY_STAGES, KILL, path, clock=self.clock)
        t0 = time.perf_counter()
        self.rollout.tick(trades)  # the first tick reads the whole list
        self.cold_us = (time.perf_counter() - t0) * 1e6

    def writes(self) -> object:
        return len(self.memory.lines) if self.folder is None else file_marks(self.folder)

    def ticks(self, reps: int, *, add: bool) -> Tuple[float, bool]:
        """Median µs of ``reps`` ticks, each adding one trade (or none), and whether
        they left the store exactly as it was."""
        before = self.writes()
        samples = []
        gc.collect()
        for _ in range(reps):
            if add:
                self.trades.append(trade(len(self.trades)))
            self.clock.advance(MINUTE)
            t0 = time.perf_counter()
            decision = self.rollout.tick(self.trades)
            samples.append(time.perf_counter() - t0)
            assert not decision.changed, decision
        return median_us(samples), self.writes() == before


def v01_ticks(trades: List[TradeOutcome], reps: int) -> float:
    """Median µs of a 0.1-style tick on ``len(trades) + 1`` trades (the list is restored)."""
    gate = STEADY_STAGES[1].gate
    assert gate is not None
    samples = []
    gc.collect()
    for _ in range(reps):
        trades.append(trade(len(trades)))
        t0 = time.perf_counter()
        tick_v01_style(trades, None, gate, KILL)
        samples.append(time.perf_counter() - t0)
        trades.pop()
    return median_us(samples)


@dataclass
class SizeRow:
    """The figures at one history size, in µs."""

    n: int
    reps: int
    cold: float
    add_memory: float
    noop_memory: float
    add_file: float
    noop_file: float
    writes_nothing: bool
    v01: float


def per_size(n: int) -> SizeRow:
    t0 = time.perf_counter()
    trades = make_trades(n)
    built = time.perf_counter() - t0
    # Enough ticks for a stable median; few enough that the list grows under 10%.
    reps = min(1_000, max(100, n // 10))
    v01 = v01_ticks(trades, max(5, min(reps, 2_000_000 // n)))
    mem = Bench(trades, None)
    add_memory, clean_add_memory = mem.ticks(reps, add=True)
    noop_memory, clean_noop_memory = mem.ticks(reps, add=False)
    del trades[n:]
    with tempfile.TemporaryDirectory() as tmp:
        disk = Bench(trades, Path(tmp))
        add_file, clean_add_file = disk.ticks(reps, add=True)
        noop_file, clean_noop_file = disk.ticks(reps, add=False)
    print(f"  {n:>9,} trades: built in {built:.1f}s, measured", file=sys.stderr)
    return SizeRow(
        n=n,
        reps=reps,
        cold=mem.cold_us,
        add_memory=add_memory,
        noop_memory=noop_memory,
        add_file=add_file,
        noop_file=noop_file,
        writes_nothing=all((clean_add_memory, clean_noop_memory, clean_add_file, clean_noop_file)),
        v01=v01,
    )


def walk(n: int, folder: Optional[Path]) -> Tuple[float, int, Dict[str, int]]:
    """Tick through ``n`` trades one by one; (seconds, history events, actions)."""
    clock = ManualClock(START)
    store = MemoryStore()
    if folder is None:
        r = Rollout(WALK_STAGES, KILL, store=store, clock=clock)
    else:
        r = Rollout(WALK_STAGES, KILL, folder / "rollout_state.json", clock=clock)
    arriving = make_trades(n)  # built beforehand: the bot's cost, not the tick's
    trades: List[TradeOutcome] = []
    actions: Dict[str, int] = {}
    gc.collect()
    t0 = time.perf_counter()
    for new in arriving:
        trades.append(new)
        clock.advance(MINUTE)
        action = r.tick(trades).action.value
        actions[action] = actions.get(action, 0) + 1
    seconds = time.perf_counter() - t0
    return seconds, len(r.history()), actions


def walk_v01(n: int) -> float:
    """The 0.1-style walk: every tick re-filters and re-computes the whole list."""
    gate = WALK_STAGES[1].gate
    assert gate is not None
    arriving = make_trades(n)
    trades: List[TradeOutcome] = []
    gc.collect()
    t0 = time.perf_counter()
    for new in arriving:
        trades.append(new)
        tick_v01_style(trades, None, gate, KILL)
    return time.perf_counter() - t0


# The kill's sequential criteria, none of which trips on the trades above (80% wins).
SEQUENTIAL_KILL = KillSwitch(
    criteria=(
        WinRateCusum(0.45, expected=0.60, false_kill_prob=0.025, horizon=2000),
        MaxDrawdown(loss=1e9),
        MaxConsecutiveLosses(50),
    )
)
LATE_MINUTES = 60


def late_ticks(n: int, reps: int, *, late: bool) -> float:
    """Median µs of ``reps`` ticks adding one trade each, with :data:`SEQUENTIAL_KILL`.

    Before each timed tick an untimed one adds the next trade in order, so the latest
    open time moves on; with ``late``, the timed tick's trade was opened
    :data:`LATE_MINUTES` before that latest trade."""
    trades = make_trades(n)
    clock = ManualClock(START + n * MINUTE)
    rollout = Rollout(STEADY_STAGES, SEQUENTIAL_KILL, store=MemoryStore(), clock=clock)
    rollout.tick(trades)
    samples = []
    gc.collect()
    for k in range(reps):
        trades.append(trade(n + 2 * k))
        clock.advance(MINUTE)
        rollout.tick(trades)
        new = trade(n + 2 * k + 1)
        if late:
            new = TradeOutcome(new.pnl, new.size, START + (n + 2 * k - LATE_MINUTES) * MINUTE)
        trades.append(new)
        clock.advance(MINUTE)
        t0 = time.perf_counter()
        decision = rollout.tick(trades)
        samples.append(time.perf_counter() - t0)
        assert not decision.changed, decision
    return median_us(samples)


def print_late(sizes: Sequence[int]) -> None:
    print("## One tick adding a late trade, with the kill's sequential criteria (median)\n")
    print("| trades | ticks timed | +1 trade in order | +1 late trade | late / in order |")
    print("|---:|---:|---:|---:|---:|")
    for n in sizes:
        reps = max(10, min(200, 1_000_000 // n))
        in_order = late_ticks(n, reps, late=False)
        late = late_ticks(n, reps, late=True)
        print(
            f"| {n:,} | {reps:,} | {fmt_us(in_order)} | {fmt_us(late)} | {late / in_order:,.1f}x |"
        )
        gc.collect()
    print()


def memory(n: int) -> Dict[str, float]:
    """tracemalloc figures at ``n`` trades (bytes)."""
    gc.collect()
    tracemalloc.start()
    trades = make_trades(n)
    listed, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    r = Rollout(STEADY_STAGES, KILL, store=MemoryStore(), clock=ManualClock(START + n * MINUTE))
    r.tick(trades)
    after_cold, cold_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    for _ in range(100):
        trades.append(trade(len(trades)))
        r.tick(trades)
    now, steady_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    gate = STEADY_STAGES[1].gate
    assert gate is not None
    tick_v01_style(trades, None, gate, KILL)
    _, v01_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "list": listed,
        "cold_extra": cold_peak - listed,
        "retained": after_cold - listed,
        "steady_extra": steady_peak - now,
        "v01_extra": v01_peak - now,
    }


# ----------------------------------------------------------------------------- report


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for CI smoke")
    parser.add_argument("--late", action="store_true", help="only the late-trade table")
    args = parser.parse_args(argv)
    if args.quick:
        sizes, walk_n, walk_v01_n = (1_000, 10_000, 100_000), 10_000, 1_000
    else:
        sizes, walk_n, walk_v01_n = (10_000, 100_000, 1_000_000), 100_000, 5_000
    started = time.perf_counter()

    print("# quant-rollout tick benchmark\n")
    print(
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
        f"{', --quick' if args.quick else ''}\n"
    )
    late_sizes = sizes[:2]
    if args.late:
        print_late(late_sizes)
        return

    rows = []
    for n in sizes:
        rows.append(per_size(n))
        gc.collect()
    print("## One tick, steady state (median)\n")
    print(
        "| trades | ticks timed | first tick (reads all) | +1 trade, memory | +1 trade, file "
        "| NOOP, memory | NOOP, file | writes | 0.1-style +1 trade | 0.1-style / ours |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|:--|---:|---:|")
    for row in rows:
        print(
            f"| {row.n:,} | {row.reps:,} | {fmt_us(row.cold)} | {fmt_us(row.add_memory)} "
            f"| {fmt_us(row.add_file)} | {fmt_us(row.noop_memory)} | {fmt_us(row.noop_file)} "
            f"| {'none' if row.writes_nothing else 'WROTE'} | {fmt_us(row.v01)} "
            f"| {row.v01 / row.add_memory:,.0f}x |"
        )
    first, last = rows[0], rows[-1]
    print(
        f"\n{last.n:,} vs {first.n:,} trades: ours x{last.add_memory / first.add_memory:.2f} "
        f"(memory), x{last.add_file / first.add_file:.2f} (file); "
        f"0.1-style x{last.v01 / first.v01:.0f}.\n"
    )

    print(f"## Ticking through {walk_n:,} trades one by one\n")
    print("| how | ticks | total | per tick | history events | actions |")
    print("|:--|---:|---:|---:|---:|:--|")
    mem_s, mem_events, mem_actions = walk(walk_n, None)
    print(
        f"| ours, memory store | {walk_n:,} | {mem_s:.2f} s | {fmt_us(mem_s / walk_n * 1e6)} "
        f"| {mem_events} | {mem_actions} |"
    )
    with tempfile.TemporaryDirectory() as tmp:
        file_s, file_events, file_actions = walk(walk_n, Path(tmp))
    print(
        f"| ours, file store | {walk_n:,} | {file_s:.2f} s | {fmt_us(file_s / walk_n * 1e6)} "
        f"| {file_events} | {file_actions} |"
    )
    v01_s = walk_v01(walk_v01_n)
    estimate = v01_s * (walk_n / walk_v01_n) ** 2  # O(n) per tick: O(n²) in all
    print(
        f"| 0.1-style (measured) | {walk_v01_n:,} | {v01_s:.2f} s "
        f"| {fmt_us(v01_s / walk_v01_n * 1e6)} | – | compute only |"
    )
    print(
        f"| 0.1-style (n² estimate) | {walk_n:,} | ~{estimate:,.0f} s "
        f"| ~{fmt_us(estimate / walk_n * 1e6)} | – | extrapolated |"
    )

    n_mem = sizes[-1]
    figures = memory(n_mem)
    print()
    print_late(late_sizes)
    print(f"## Memory at {n_mem:,} trades (tracemalloc)\n")
    print("| what | bytes |")
    print("|:--|---:|")
    print(f"| the trade list itself (the bot's) | {fmt_mb(figures['list'])} |")
    print(f"| first tick, peak above the list | {fmt_mb(figures['cold_extra'])} |")
    print(f"| kept by the rollout after it | {fmt_mb(figures['retained'])} |")
    print(f"| steady +1 trade tick, peak | {fmt_mb(figures['steady_extra'])} |")
    print(f"| 0.1-style tick, peak | {fmt_mb(figures['v01_extra'])} |")
    print(f"\n(total run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
