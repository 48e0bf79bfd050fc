"""What the calendar costs a tick, and its own arithmetic. Figures, not pass/fail.

    python benchmarks/bench_calendar.py            # about 20 s
    python benchmarks/bench_calendar.py --quick    # CI smoke, a few seconds

Measures, with ``time.perf_counter`` (median of repeated runs):

1. ``Schedule.is_open``, ``next_open`` (from Saturday night to Monday's window),
   ``deadline`` (30 operator minutes across a weekend) and ``waits`` over a year,
   for New York business hours minus two holidays and a cron blackout;
2. a NOOP tick on a ``MemoryStore`` with 1,000 trades of evidence: no calendar; a
   gate with a window whose criteria are not met (the calendar is not asked); and a
   met gate whose window is shut (the tick then finds the next opening for its
   reason);
3. the clock-free "can it ever open" check when the blackouts cover every window
   (the worst case: four years of schedule are scanned).

Prints a markdown table; benchmarks/README.md holds a run's figures.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from typing import Callable, List, Tuple

from quant_rollout import Gate, KillSwitch, ManualClock, Rollout, Stage, TradeOutcome
from quant_rollout.calendar import Schedule
from quant_rollout.errors import CalendarError
from quant_rollout.storage.store import MemoryStore
from quant_rollout.trades import parse_instant

HOURS = "mon-fri 09:00-17:00 America/New_York"
BLACKOUTS = ["2026-12-24..2026-12-25 America/New_York", "cron 30 8 * * 1-5 for 45m Europe/London"]
SATURDAY = parse_instant("2026-12-05T03:00:00-05:00")
TUESDAY = parse_instant("2026-12-08T10:00:00-05:00")
MINUTE_US = 60_000_000


def median_us(fn: Callable[[], object], repeat: int, number: int) -> float:
    """Median over ``repeat`` runs of the mean time of ``number`` calls, microseconds."""
    runs: List[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(runs)


def rollout(windows: List[str], when: int, min_n: int) -> Tuple[Rollout, List[TradeOutcome]]:
    """A rollout whose every tick is a NOOP: its gate is not met (``min_n`` above the
    1,000 trades), or it is met and the window is shut."""
    clock = ManualClock(when / 1e6)
    stages = [Stage(0, {}), Stage(1, {}, Gate(min_n=min_n, windows=windows))]
    built = Rollout(
        stages,
        KillSwitch(wr_lookback=30, wr_threshold=0.1, ev_lookback=100, ev_threshold=-1.0),
        store=MemoryStore(),
        clock=clock,
        blackouts=BLACKOUTS if windows else (),
    )
    trades = [TradeOutcome(1.0, 1.0, (when - (i + 1) * MINUTE_US) / 1e6) for i in range(1000)]
    built.tick(trades)  # the first tick builds the evidence; the timed ones reuse it
    return built, trades


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (CI smoke)")
    args = parser.parse_args()
    repeat, number = (3, 50) if args.quick else (7, 300)
    schedule = Schedule.parse([HOURS], BLACKOUTS)
    year = 52 * 7 * 86_400_000_000
    rows = [
        ("Schedule.is_open", median_us(lambda: schedule.is_open(TUESDAY), repeat, number)),
        (
            "Schedule.next_open, Saturday night to Monday 09:00",
            median_us(lambda: schedule.next_open(SATURDAY), repeat, number),
        ),
        (
            "Schedule.deadline, 30 operator minutes from Saturday",
            median_us(lambda: schedule.deadline(SATURDAY, 30 * MINUTE_US), repeat, number),
        ),
        (
            "Schedule.waits over 52 weeks",
            median_us(
                lambda: schedule.waits(TUESDAY, TUESDAY + year), repeat, max(1, number // 100)
            ),
        ),
    ]
    for label, windows, when, min_n in (
        ("NOOP tick, no calendar, gate not met", [], TUESDAY, 5000),
        ("NOOP tick, gate window, gate not met (calendar not asked)", [HOURS], TUESDAY, 5000),
        ("NOOP tick, gate met, window shut (reason names the opening)", [HOURS], SATURDAY, 5),
    ):
        built, trades = rollout(windows, when, min_n)
        rows.append((label, median_us(lambda b=built, t=trades: b.tick(t), repeat, number)))

    def never() -> None:
        try:
            Schedule.parse([HOURS], ["mon-fri 08:00-18:00 America/New_York"]).check_can_open()
        except CalendarError:
            return
        raise AssertionError("expected a schedule that never opens")

    rows.append(("check_can_open, blackouts cover every window", median_us(never, 3, 1)))

    print(f"CPython {platform.python_version()} on {platform.machine()}, {sys.platform}")
    print()
    print("| what | median time |")
    print("|---|---:|")
    for label, us in rows:
        shown = f"{us / 1000:.1f} ms" if us >= 1000 else f"{us:.1f} µs"
        print(f"| {label} | {shown} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
