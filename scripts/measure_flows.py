"""Measure the false-advance rate of each simulated bot of issue 8 through Rollout.tick.

Usage: python scripts/measure_flows.py [--paths N] [--report open_trades|closed_through]
[--seed S] [--minutes M] [--tick-every K] [NAME ...]  (names: see tests/_flows.py
FLOWS; default all). Prints one line per flow: rate, Monte Carlo standard error, paths,
seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import _flows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="flows to run (default: all)")
    parser.add_argument("--paths", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", choices=("open_trades", "closed_through"), default=None)
    parser.add_argument("--minutes", type=int, default=None, help="override the horizon")
    parser.add_argument("--tick-every", type=int, default=None, help="override the cadence")
    args = parser.parse_args()
    names = args.names or list(_flows.FLOWS)
    for name in names:
        flow = _flows.FLOWS[name]
        if args.minutes is not None:
            flow = dataclasses.replace(flow, minutes=args.minutes)
        if args.tick_every is not None:
            flow = dataclasses.replace(flow, tick_every=args.tick_every)
        started = time.perf_counter()
        rate, _ = _flows.false_advance_rate(flow, args.paths, args.seed, args.report)
        error = _flows.monte_carlo_error(rate, args.paths)
        seconds = time.perf_counter() - started
        print(
            f"{name}: {rate:.2%} ± {error:.2%} over {args.paths} paths of {flow.minutes} "
            f"trades, a tick every {flow.tick_every} ({seconds:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
