"""How long routing and the arm comparisons take, and what the simulations measure.

    python benchmarks/bench_arms.py            # the full run (a few minutes)
    python benchmarks/bench_arms.py --quick    # timings only, fewer repeats (CI smoke, < 10 s)

Measures, with ``time.perf_counter``:

1. **route(key)**: ``Router.route`` for text, int and bytes keys, with two arms and with
   five (one control, four candidates); median of 7 runs of 100,000 calls, reported per
   call. Also building a ``Router`` (done once per weight change).
2. **Comparisons**: one observation added to a ``WinRateDifferenceTest`` (per arm, so a
   pair every two), with the default 100-bar confidence grid and with none; one update
   of the ``SampleRatioTest``. Costs do not depend on the history (sums, not lists).
3. **Flat in history** (not with ``--quick``): ``ExperimentEvidence.add_trade`` and
   ``report()`` for one more trade after 10,000 and 100,000 trades (two arms, win rate and
   EV/$ compared, default grids), median of 1,000.
4. **Simulations** (not with ``--quick``): trades routed 50/50 at random, the test
   checked after every trade. The false-winner rate at equal arms (win rate 0.5 both) at
   300, 2,000 and 10,000 trades; the median trades to detect a 60% candidate against a
   50% control; the median opportunities until the SRM alarm (confidence 0.999) trips on
   a 52/48 split of a 50/50 experiment.

Prints markdown; benchmarks/README.md holds a run's figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from typing import Callable, List, Optional, Sequence

from quant_rollout import TradeOutcome
from quant_rollout.arms import Arm, Experiment, Router
from quant_rollout.arms.evidence import ExperimentEvidence
from quant_rollout.stats.srm import SampleRatioTest
from quant_rollout.stats.two_sample import WinRateDifferenceTest


def _per_call(action: Callable[[], object], calls: int, repeats: int) -> float:
    """Median seconds per call over ``repeats`` timed loops of ``calls`` calls."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            action()
        runs.append((time.perf_counter() - start) / calls)
    return statistics.median(runs)


def _experiment(candidates: int) -> Experiment:
    arms = [Arm("control", {"max_price": 0.60})]
    arms += [Arm(f"cand{i}", {"max_price": 0.50 + 0.01 * i}) for i in range(candidates)]
    return Experiment(tuple(arms), "control", salt="bench")


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} µs"


def bench_routing(calls: int, repeats: int) -> None:
    print("### route(key), per call\n")
    print("| arms | str key | int key | bytes key | build a Router |")
    print("|---:|---:|---:|---:|---:|")
    for candidates in (1, 4):
        experiment = _experiment(candidates)
        router = Router(experiment)
        text = _per_call(lambda r=router: r.route("signal-1234567"), calls, repeats)
        number = _per_call(lambda r=router: r.route(1234567), calls, repeats)
        raw = _per_call(lambda r=router: r.route(b"signal-1234567"), calls, repeats)
        build = _per_call(lambda e=experiment: Router(e), max(1, calls // 100), repeats)
        print(f"| {candidates + 1} | {_us(text)} | {_us(number)} | {_us(raw)} | {_us(build)} |")
    print()


def bench_comparisons(calls: int, repeats: int) -> None:
    print("### One observation, per call\n")
    print("| what | cost |")
    print("|:--|---:|")
    rng = random.Random(1)
    for grid in (100, 0):
        test = WinRateDifferenceTest(grid_points=grid)
        turn = [True]

        def add(test: WinRateDifferenceTest = test, turn: List[bool] = turn) -> None:
            turn[0] = not turn[0]
            if turn[0]:
                test.add_candidate_trade(rng.random() < 0.55)
            else:
                test.add_control_trade(rng.random() < 0.5)

        cost = _per_call(add, max(1, calls // 10), repeats)
        label = f"{grid}-bar grid" if grid else "no grid"
        print(f"| WinRateDifferenceTest, one trade ({label}) | {_us(cost)} |")
    srm = SampleRatioTest([0.5, 0.5])
    counts = [0, 0]

    def route_one() -> None:
        counts[0 if rng.random() < 0.5 else 1] += 1
        srm.update(counts)

    print(f"| SampleRatioTest.update | {_us(_per_call(route_one, calls // 10, repeats))} |")
    print()


def bench_flat(sizes: Sequence[int], repeats: int) -> None:
    """One more trade and its report, after ``n`` trades of history: flat in ``n``."""
    print("### One more trade and its report, by history size (median of 1,000)\n")
    print("| trades already seen | add_trade + report |")
    print("|---:|---:|")
    experiment = Experiment(
        (Arm("control", {"v": 1}), Arm("cheap", {"v": 2})), "control", gain_per_dollar=1.0
    )
    for n in sizes:
        evidence = ExperimentEvidence(experiment)
        rng = random.Random(n)
        names = ("control", "cheap")
        for i in range(n):
            win = rng.random() < 0.55
            arm = names[i % 2]
            evidence.add_trade(
                TradeOutcome(1.0 if win else -1.0, 2.0, 1_700_000_000 + i, {"arm": arm}), i
            )
        times = []
        for j in range(1000):
            trade = TradeOutcome(1.0, 2.0, 1_800_000_000 + j, {"arm": names[j % 2]})
            start = time.perf_counter()
            evidence.add_trade(trade, n + j)
            evidence.report()
            times.append(time.perf_counter() - start)
        print(f"| {n:,} | {_us(statistics.median(times))} |")
    print()


def _first(
    test_factory: Callable[[], WinRateDifferenceTest],
    p_candidate: float,
    p_control: float,
    horizon: int,
    rng: random.Random,
) -> Optional[int]:
    test = test_factory()
    for n in range(1, horizon + 1):
        if rng.random() < 0.5:
            test.add_candidate_trade(rng.random() < p_candidate)
        else:
            test.add_control_trade(rng.random() < p_control)
        if test.better:
            return n
    return None


def simulate() -> None:
    rng = random.Random(2026)
    plain = lambda: WinRateDifferenceTest(grid_points=0)  # noqa: E731
    print("### Simulated guarantees (confidence 0.95, checked after every trade)\n")
    print("| horizon (trades) | paths | false winners at equal arms (0.5 vs 0.5) |")
    print("|---:|---:|---:|")
    for horizon, paths in ((300, 4000), (2000, 2000), (10_000, 500)):
        wins = sum(_first(plain, 0.5, 0.5, horizon, rng) is not None for _ in range(paths))
        se = (wins / paths * (1 - wins / paths) / paths) ** 0.5
        print(f"| {horizon:,} | {paths:,} | {wins / paths:.4f} ± {se:.4f} |")
    times: List[int] = []
    for _ in range(1000):
        t = _first(plain, 0.6, 0.5, 50_000, rng)
        times.append(t if t is not None else 10**9)
    quartiles = statistics.quantiles(times, n=4)
    print()
    print(
        f"Trades to declare a 60% candidate better than a 50% control (1,000 paths): median"
        f" {statistics.median(times):,.0f}, quartiles {quartiles[0]:,.0f}–{quartiles[2]:,.0f}.\n"
    )
    detections = []
    for _ in range(300):
        srm = SampleRatioTest([0.5, 0.5])
        counts = [0, 0]
        for n in range(1, 200_001):
            counts[0 if rng.random() < 0.52 else 1] += 1
            srm.update(counts)
            if srm.alarmed:
                detections.append(n)
                break
    quartiles = statistics.quantiles(detections, n=4)
    middle = statistics.median(detections)
    print(
        f"Opportunities until the SRM alarm (0.999) trips on a 52/48 split of a 50/50"
        f" experiment ({len(detections)} of 300 paths detected within 200,000): median"
        f" {middle:,.0f}, quartiles {quartiles[0]:,.0f}–{quartiles[2]:,.0f}.\n"
    )


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="timings only, fewer repeats")
    args = parser.parse_args(argv)
    calls, repeats = (20_000, 3) if args.quick else (100_000, 7)
    print(
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()},"
        f" {os.cpu_count()} CPUs{', --quick' if args.quick else ''}\n"
    )
    bench_routing(calls, repeats)
    bench_comparisons(calls, repeats)
    if not args.quick:
        bench_flat((10_000, 100_000), repeats)
        simulate()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
