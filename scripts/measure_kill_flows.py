"""Measure the false-kill rate of the CUSUM kill on simulated bots through Rollout.tick.

Usage: python scripts/measure_kill_flows.py [--paths N] [--seed S] [NAME ...]
(names: see tests/_flows.py KILL_FLOWS; default all). Each bot's stage is exactly at
its kill's expected level, so every kill is false. Prints one line per flow: rate,
Monte Carlo standard error, paths, seconds.
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args()
    for name in args.names or list(_flows.KILL_FLOWS):
        flow = _flows.KILL_FLOWS[name]
        started = time.perf_counter()
        rate = _flows.false_kill_rate(flow, args.paths, args.seed)
        error = _flows.monte_carlo_error(rate, args.paths)
        seconds = time.perf_counter() - started
        print(
            f"{name}: {rate:.2%} ± {error:.2%} over {args.paths} paths of {flow.trades} "
            f"trades, a tick a minute ({seconds:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
