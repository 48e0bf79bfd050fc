"""Measure the false-winner rate of an experiment stage with equal arms through Rollout.tick.

Usage: python scripts/measure_arm_flows.py [--paths N] [--seed S] [--minutes M]
[--report open_trades|none]. The candidate takes profits after 5 minutes and holds
its losers 60, control holds every trade 30 (tests/_arm_flows.py); the arms are
equal, so every winner is false. Prints the rate, its Monte Carlo standard error, the
paths and the seconds taken. Run it with another checkout's ``src`` first on
PYTHONPATH to measure that version on the same flow.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import _arm_flows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=int, default=_arm_flows.ArmFlow.minutes)
    parser.add_argument("--report", choices=("open_trades", "none"), default="open_trades")
    args = parser.parse_args()
    report = None if args.report == "none" else args.report
    flow = dataclasses.replace(_arm_flows.ArmFlow(), minutes=args.minutes, report=report)
    started = time.perf_counter()
    rate = _arm_flows.false_winner_rate(flow, args.paths, args.seed)
    error = _arm_flows.monte_carlo_error(rate, args.paths)
    seconds = time.perf_counter() - started
    print(
        f"false winners: {rate:.2%} ± {error:.2%} over {args.paths} paths of {flow.minutes}"
        f" minutes at confidence {flow.confidence:g}, report={args.report} ({seconds:.0f} s)",
        flush=True,
    )


if __name__ == "__main__":
    main()
