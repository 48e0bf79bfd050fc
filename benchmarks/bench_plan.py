"""How long ``quant_rollout.plan`` takes. Figures, not pass/fail.

    python benchmarks/bench_plan.py            # the full run (a few minutes)
    python benchmarks/bench_plan.py --quick    # fewer runs and trades (CI smoke, < 20 s)

Measures, with ``time.perf_counter``:

1. **Exact plans**: five true win rates over a 2,000-trade horizon for rules the
   planner computes exactly (dynamic programming): the 0.1 README's gates, a confidence
   win-rate gate, and a lone win-rate CUSUM kill criterion. The first call includes
   solving each rule's tables (the gate's rejection boundary, the CUSUM's threshold,
   which the library caches); the second is warm.
2. **Monte Carlo plans**: 10,000 runs of 1,000 trades for each of five win rates, for
   rules that need simulation: 0.1's sliding-window kill switch, a confidence gate with
   an EV betting test, and a sequential kill switch (win-rate CUSUM, EV CUSUM with a
   given sample and a drawdown limit). Reported per rule as seconds in all and
   microseconds per simulated run.
3. **Whole configurations**, as ``quant-rollout plan FILE`` runs them with its defaults
   (six win rates, 2,000 trades, 2,000 runs): ``examples/seed_0.1.toml`` and the
   recommended ``examples/rollout.toml``, in a fresh process so that nothing is cached.
4. **The ``init`` configuration in CPU time**: ``quant-rollout plan`` on the file
   ``quant-rollout init`` writes, with its defaults, in fresh processes; the CPU time
   (user + system, ``getrusage`` of the child and its forked rows) is steady on a
   loaded machine where the wall time is not; both are shown. ``--src A/src --src
   B/src`` compares source trees and ``--jobs 1 --jobs 2`` the rows in processes, their
   runs interleaved so that a change in the machine's load falls on each alike.

Prints markdown tables; benchmarks/README.md holds a run's figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Sequence, Tuple

from quant_rollout import (
    EvPerDollarCusum,
    Gate,
    KillSwitch,
    MaxDrawdown,
    Stage,
    WinRateCusum,
    plan,
)
from quant_rollout.engine import RolloutConfig

WIN_RATES = (0.50, 0.55, 0.60, 0.65, 0.70)
OFF = KillSwitch(wr_threshold=None, ev_threshold=None)


def _config(gates: Sequence[Gate], kill: KillSwitch = OFF) -> RolloutConfig:
    stages = [Stage(0, {}, name="baseline")]
    stages += [Stage(i + 1, {}, gate, name=f"stage{i + 1}") for i, gate in enumerate(gates)]
    return RolloutConfig(tuple(stages), kill)


SEED_GATES = _config(
    [
        Gate(min_n=50, min_win_rate=0.60, min_ev_per_dollar=0.03),
        Gate(min_n=150, min_days_after_prev=14, min_ev_per_dollar=0.025),
    ]
)
CONFIDENCE_GATE = _config(
    [Gate(min_n=50, min_win_rate=0.55, confidence=0.95, min_ev_per_dollar=None)]
)
LONE_CUSUM = _config(
    [],
    KillSwitch(
        wr_threshold=None,
        ev_threshold=None,
        criteria=(WinRateCusum(unacceptable=0.45, expected=0.60),),
    ),
)
SEED_KILL = _config(
    [], KillSwitch(wr_lookback=30, wr_threshold=0.55, ev_lookback=100, ev_threshold=-0.01)
)
EV_TEST_GATE = _config([Gate(min_n=50, min_win_rate=0.55, confidence=0.95)])
SEQUENTIAL_KILL = _config(
    [],
    KillSwitch(
        wr_threshold=None,
        ev_threshold=None,
        criteria=(
            WinRateCusum(unacceptable=0.45, expected=0.60, false_kill_prob=0.025),
            EvPerDollarCusum(
                unacceptable=0.0,
                expected=0.05,
                false_kill_prob=0.025,
                sample_returns=(1.0, -1.0, 1.0, -1.0, 0.5, -0.5),
            ),
            MaxDrawdown(loss=25.0),
        ),
    ),
)


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def exact_table(horizon: int) -> List[str]:
    rows = [
        "| rule | first call | warm | rows |",
        "|:--|---:|---:|---:|",
    ]
    cases: Sequence[Tuple[str, RolloutConfig]] = (
        ("0.1 README gates (two transitions, days at 5 trades/day)", SEED_GATES),
        ("confidence win-rate gate, n >= 50, bar 0.55", CONFIDENCE_GATE),
        ("lone win-rate CUSUM kill (0.60 -> 0.45, 5% in 2,000)", LONE_CUSUM),
    )
    for name, config in cases:

        def run(config: RolloutConfig = config, name: str = name) -> object:
            report = plan(config, win_rates=WIN_RATES, horizon=horizon, trades_per_day=5)
            rows_ = [r for t in report.transitions for r in t.rows]
            rows_ += [r for k in report.kills for r in k.rows]
            assert all(r.method == "exact" for r in rows_), name
            return report

        first = _timed(run)
        warm = _timed(run)
        count = len(WIN_RATES) * max(1, len(config.stages) - 1)
        rows.append(f"| {name} | {first:.2f} s | {warm:.2f} s | {count} |")
    return rows


def monte_carlo_table(paths: int, horizon: int) -> List[str]:
    rows = [
        "| rule | total | per run | rows | method |",
        "|:--|---:|---:|---:|:--|",
    ]
    cases: Sequence[Tuple[str, RolloutConfig]] = (
        ("0.1 kill switch: last-30 win rate, last-100 EV/$", SEED_KILL),
        ("confidence gate with an EV betting test (n >= 50, 0.55, EV/$ > 0)", EV_TEST_GATE),
        ("sequential kill: win-rate CUSUM + EV CUSUM + drawdown", SEQUENTIAL_KILL),
    )
    for name, config in cases:
        plan(config, win_rates=[0.6], horizon=10, paths=100)  # solve and cache thresholds
        start = time.perf_counter()
        report = plan(config, win_rates=WIN_RATES, horizon=horizon, paths=paths)
        elapsed = time.perf_counter() - start
        gated = [r for t in report.transitions for r in t.rows]
        methods = {r.method for r in gated or [r for k in report.kills for r in k.rows]}
        runs = paths * len(WIN_RATES)
        rows.append(
            f"| {name} | {elapsed:.1f} s | {elapsed / runs * 1e6:,.0f} µs | "
            f"{len(WIN_RATES)} | {', '.join(sorted(methods))} |"
        )
    return rows


def configurations_table(paths: int) -> List[str]:
    examples = Path(__file__).resolve().parents[1] / "examples"
    rows = ["| configuration | wall time | Monte Carlo runs per row |", "|:--|---:|---:|"]
    for name in ("seed_0.1.toml", "rollout.toml"):
        argv = [sys.executable, "-m", "quant_rollout", "plan", str(examples / name)]
        argv += ["--paths", str(paths)]
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        elapsed = time.perf_counter() - start
        rows.append(f"| examples/{name} | {elapsed:.1f} s | {paths:,} |")
    return rows


def _child_times(argv: Sequence[str], env: dict[str, str]) -> Tuple[float, float]:
    """(wall, CPU) seconds of one child process run to its end; CPU is user + system of
    the child and of the processes it forked (``--jobs``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _takes_jobs(tree: str) -> bool:
    """Whether the tree's ``plan`` has ``--jobs`` (trees from before it do not)."""
    if tree == "installed":
        return True
    parser = Path(tree) / "quant_rollout" / "tools" / "cli" / "parser.py"
    return '"--jobs"' in parser.read_text("utf-8")


def init_config_table(
    paths: int, runs: int, trees: Sequence[str], jobs: Sequence[int]
) -> List[str]:
    rows = [
        "| source tree | --jobs | wall, median | wall, range | CPU, median | CPU, range | runs |",
        "|:--|---:|---:|---:|---:|---:|---:|",
    ]
    cases = [(tree, j) for tree in trees for j in jobs if j == 0 or _takes_jobs(tree)]
    cases += [(tree, 0) for tree in trees if not any(t == tree for t, _ in cases)]
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "rollout.toml"
        subprocess.run(
            [sys.executable, "-m", "quant_rollout", "init", str(config)],
            check=True,
            capture_output=True,
        )
        argv = [sys.executable, "-m", "quant_rollout", "plan", str(config)]
        argv += ["--paths", str(paths)]
        wall: List[List[float]] = [[] for _ in cases]
        cpu: List[List[float]] = [[] for _ in cases]
        for _ in range(runs):
            for i, (tree, j) in enumerate(cases):
                env = dict(os.environ)
                if tree != "installed":
                    env["PYTHONPATH"] = str(Path(tree).resolve())
                # A tree from before --jobs takes no flag (and computes in process).
                flag = [] if j == 0 else ["--jobs", str(j)]
                w, c = _child_times([*argv, *flag], env)
                wall[i].append(w)
                cpu[i].append(c)
    for (tree, j), walls, times in zip(cases, wall, cpu):
        rows.append(
            f"| {tree} | {j or '-'} | {statistics.median(walls):.2f} s | "
            f"{min(walls):.2f}–{max(walls):.2f} s | {statistics.median(times):.2f} s | "
            f"{min(times):.2f}–{max(times):.2f} s | {len(times)} |"
        )
    return rows


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and trades (CI)")
    parser.add_argument(
        "--src",
        action="append",
        default=[],
        help="a source tree (its src folder) for the init-configuration table; repeat to "
        "compare (default: the installed package)",
    )
    parser.add_argument("--only-init", action="store_true", help="only the init table")
    parser.add_argument("--runs", type=int, default=3, help="runs per tree of the init table")
    parser.add_argument(
        "--jobs",
        type=int,
        action="append",
        default=[],
        help="plan --jobs for the init table; repeat to compare; 0 passes no flag (default: 1)",
    )
    args = parser.parse_args(list(argv))
    exact_horizon = 2000
    paths, horizon = (1_000, 300) if args.quick else (10_000, 1_000)
    print(f"# bench_plan ({'quick' if args.quick else 'full'})")
    print()
    print(
        f"- {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )
    print()
    init_paths = 200 if args.quick else 2_000
    print(
        f"## The `init` configuration: `quant-rollout plan`, CPU time ({init_paths:,} runs a row)"
    )
    print()
    print(
        "\n".join(
            init_config_table(init_paths, args.runs, args.src or ["installed"], args.jobs or [1])
        )
    )
    print()
    if args.only_init:
        return 0
    print(f"## Exact plans: {len(WIN_RATES)} win rates x {exact_horizon:,} trades")
    print()
    print("\n".join(exact_table(exact_horizon)))
    print()
    print(f"## Monte Carlo plans: {paths:,} runs x {horizon:,} trades x {len(WIN_RATES)} win rates")
    print()
    print("\n".join(monte_carlo_table(paths, horizon)))
    print()
    print("## Whole configurations: `quant-rollout plan FILE`, six win rates x 2,000 trades")
    print()
    print("\n".join(configurations_table(200 if args.quick else 2_000)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
