"""A tick on an experiment stage stays flat in history size; Rollout.route costs microseconds.

    python benchmarks/bench_tick_arms.py           # 10k, 100k and 1M trades (a few minutes)
    python benchmarks/bench_tick_arms.py --quick   # 1k and 20k trades (CI smoke)
    python benchmarks/bench_tick_arms.py --late    # only the late-trade table (4 below)

Measures, with ``time.perf_counter``, a two-arm experiment stage (control and one
candidate, 50/50, win rate deciding, no winner yet: both arms win 50%) whose evidence is
the whole history:

1. **A tick that adds one trade** (tagged with its arm) to a list the rollout has
   already seen, median of 1,000 ticks, with a ``MemoryStore`` and a ``JsonFileStore``;
   and the same tick also reporting one routed opportunity (which writes the state
   file: the opportunity counts are state).
2. **The first tick** after a start, which reads the whole list.
3. **Rollout.route(key)** on the experiment stage, median of 7 runs of 100,000 calls.
4. **A tick that adds a late trade** (memory store): opened an hour before the latest
   trade counted, as a trade held longer than the ones after it arrives. Before each
   timed tick an untimed one adds a trade in order, so every timed trade is late;
   against the same ticks with the timed trade in order.

Prints markdown; benchmarks/README.md holds a run's figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import List

from quant_rollout import Gate, KillSwitch, ManualClock, Rollout, Stage, TradeOutcome
from quant_rollout.arms import Arm, Experiment
from quant_rollout.storage.store import MemoryStore

T0 = 1_700_000_000
BASE = {"max_price": 0.60}
EXPERIMENT = Experiment((Arm("control", BASE), Arm("wide", {"max_price": 0.70})), "control")
STAGES = (
    Stage(0, BASE),
    Stage(1, {}, Gate(min_n=1), experiment=EXPERIMENT),
    Stage(2, {"size": 2}),
)


def _trades(n: int) -> List[TradeOutcome]:
    arms = ("control", "wide")
    return [
        TradeOutcome(
            pnl=1.0 if (i // 2) % 2 else -1.0,
            size=1.0,
            timestamp=T0 + i,
            metadata={"arm": arms[i % 2]},
        )
        for i in range(n)
    ]


def _rollout(store: str, folder: Path, clock: ManualClock) -> Rollout:
    kill = KillSwitch(wr_lookback=30, wr_threshold=0.1, ev_lookback=100, ev_threshold=-0.9)
    # The bot's trades close as they open (max_holding_seconds=0): every trade is
    # complete evidence, so each tick does the comparisons' whole work.
    if store == "memory":
        rollout = Rollout(
            STAGES,
            kill,
            store=MemoryStore(),
            clock=clock,
            veto_window_seconds=0,
            max_holding_seconds=0,
        )
    else:
        rollout = Rollout(
            STAGES, kill, folder / "state.json", 0, clock=clock, max_holding_seconds=0
        )
    rollout.promote(1)  # the experiment stage; its evidence starts now
    return rollout


def _tick_figures(n: int, store: str, folder: Path, ticks: int) -> List[float]:
    clock = ManualClock(T0 - 10)
    rollout = _rollout(store, folder, clock)
    trades = _trades(n)
    clock.advance(n + 10)
    start = time.perf_counter()
    rollout.tick(trades)
    first = time.perf_counter() - start
    plain, counted = [], []
    arms = ("control", "wide")
    for k in range(ticks):
        i = n + k
        trades.append(
            TradeOutcome(pnl=1.0, size=1.0, timestamp=T0 + i, metadata={"arm": arms[i % 2]})
        )
        clock.advance(1)
        start = time.perf_counter()
        if k % 2:
            rollout.tick(trades, opportunities={arms[i % 2]: 1})
            counted.append(time.perf_counter() - start)
        else:
            rollout.tick(trades)
            plain.append(time.perf_counter() - start)
    return [first, statistics.median(plain), statistics.median(counted)]


LATE_SECONDS = 3600


def _late_ticks(n: int, reps: int, *, late: bool) -> float:
    """Median seconds of ``reps`` ticks adding one trade each (memory store); with
    ``late``, each was opened :data:`LATE_SECONDS` (at most n/2 s) before the latest
    one counted."""
    clock = ManualClock(T0 - 10)
    rollout = _rollout("memory", Path("."), clock)
    trades = _trades(n)
    clock.advance(n + 10)
    rollout.tick(trades)
    arms = ("control", "wide")
    timed = []
    for k in range(reps):
        i = n + 2 * k
        trades.append(TradeOutcome(1.0, 1.0, T0 + i, metadata={"arm": arms[i % 2]}))
        clock.advance(2)
        rollout.tick(trades)  # untimed: the latest open time moves on
        stamp = T0 + i + 1 - (min(LATE_SECONDS, n // 2) if late else 0)
        trades.append(TradeOutcome(-1.0, 1.0, stamp, metadata={"arm": arms[(i + 1) % 2]}))
        start = time.perf_counter()
        rollout.tick(trades)
        timed.append(time.perf_counter() - start)
    return statistics.median(timed)


def print_late(sizes: List[int]) -> None:
    print("### One tick adding a late trade on a two-arm experiment stage (median)\n")
    print("| trades | ticks timed | +1 trade in order | +1 late trade | late / in order |")
    print("|---:|---:|---:|---:|---:|")
    for n in sizes:
        reps = max(5, min(200, 200_000 // n))
        in_order = _late_ticks(n, reps, late=False)
        late = _late_ticks(n, reps, late=True)
        print(
            f"| {n:,} | {reps:,} | {_us(in_order)} | {_us(late)} | {late / in_order:,.1f}x |",
            flush=True,
        )
    print()


def _route_figure(folder: Path) -> float:
    rollout = _rollout("memory", folder, ManualClock(T0))
    keys = [f"signal-{i}" for i in range(100_000)]
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        for key in keys:
            rollout.route(key)
        runs.append((time.perf_counter() - start) / len(keys))
    return statistics.median(runs)


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.1f} ms"


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1e3:.0f} ms"


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (CI smoke)")
    parser.add_argument("--late", action="store_true", help="only the late-trade table")
    args = parser.parse_args(argv)
    sizes = (1_000, 20_000) if args.quick else (10_000, 100_000, 1_000_000)
    if args.late:
        print_late(list(sizes[:2]))
        return 0
    ticks = 200 if args.quick else 2_000
    print("### A tick on a two-arm experiment stage (median of", ticks // 2, "each)\n")
    print(
        "| trades | first tick (reads all) | +1 trade, memory | +1 trade, file"
        " | +1 trade +1 opportunity, memory | +1 trade +1 opportunity, file |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            print(f"  {n:,} trades...", file=sys.stderr)
            mem = _tick_figures(n, "memory", Path(tmp), ticks)
            folder = Path(tmp) / f"f{n}"
            folder.mkdir()
            file = _tick_figures(n, "file", folder, ticks)
            rows[n] = (mem, file)
            print(
                f"| {n:,} | {_s(mem[0])} | {_us(mem[1])} | {_us(file[1])} | {_us(mem[2])}"
                f" | {_us(file[2])} |"
            )
        small, large = rows[sizes[0]], rows[sizes[-1]]
        print(
            f"\n{sizes[-1]:,} vs {sizes[0]:,} trades, +1 trade: ×{large[0][1] / small[0][1]:.2f}"
            f" (memory), ×{large[1][1] / small[1][1]:.2f} (file)\n"
        )
        route = _route_figure(Path(tmp))
    print(f"Rollout.route(key) on the experiment stage: {_us(route)} per call (median of 7)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
