"""``quant-rollout plan``: the pre-flight plan of a configuration."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from typing import Any, Callable, List, Optional, TextIO

from ..config import load_config
from .common import (
    EXIT_OK,
    _clock,
    _CommandError,
    _out,
)
from .describe import (
    _dump,
)
from .source import (
    _import_factory,
    _read_trades,
    _source,
)

__all__ = ["ProgressLine"]


class ProgressLine:
    """``quant-rollout plan``'s progress on a terminal: one line on stderr, redrawn.

    Called as the planner's ``progress(row, runs_done, runs_in_row)``; it shows the
    Monte Carlo rows finished, the row under way with its runs, the time so far and
    the row's time left (from its pace so far). Redrawn at most every ``every``
    seconds; :meth:`close` wipes it, so the report that follows starts on a clean line.
    ``clock`` is injectable for tests (default ``time.monotonic``).
    """

    def __init__(
        self,
        stream: TextIO,
        clock: Callable[[], float] = time.monotonic,
        every: float = 0.2,
    ) -> None:
        self.stream = stream
        self.clock = clock
        self.every = every
        self.began = clock()
        self.row_began = self.began
        self.drawn_at: Optional[float] = None
        self.rows_done = 0
        self.width = 0

    def __call__(self, row: str, done: int, total: int) -> None:
        now = self.clock()
        if done == 0:
            self.row_began = now
        if done >= total:
            self.rows_done += 1
        elif self.drawn_at is not None and now - self.drawn_at < self.every:
            return
        left = ""
        if 0 < done < total:
            eta = (now - self.row_began) * (total - done) / done
            left = f", ~{eta:.0f} s left in the row"
        line = (
            f"plan: {self.rows_done} Monte Carlo rows done; {row}: {done:,}/{total:,} runs; "
            f"{now - self.began:.0f} s{left}"
        )
        self._draw(line)
        self.drawn_at = now

    def _draw(self, line: str) -> None:
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)

    def close(self) -> None:
        """Wipe the line (if one was drawn)."""
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def _progress_line() -> Optional[ProgressLine]:
    """A progress line when stderr is a terminal; None otherwise (pipes, files, tests)."""
    stream = sys.stderr
    isatty = getattr(stream, "isatty", None)
    return ProgressLine(stream) if isatty is not None and isatty() else None


#
# The planner lives in quant_rollout.planning; it is imported when the command runs.


def _numbers(option: str, text: str) -> List[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise _CommandError(
            f"{option} takes numbers separated by commas (e.g. 0.5,0.55,0.6), got {text!r}"
        ) from None
    if not values:
        raise _CommandError(f"{option} takes at least one number, got {text!r}")
    return values


def _usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, e.g. under ``taskset``)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return max(1, len(affinity(0)))
    return max(1, os.cpu_count() or 1)  # pragma: no cover - macOS and Windows


def _cmd_plan(args: argparse.Namespace) -> int:
    from ...planning import DEFAULT_WIN_RATES, Payoff, format_plan, plan

    config: Any
    if args.file is not None:
        config = load_config(args.file)
    else:
        source = _source(args)
        # A factory's Rollout goes as it is: the plan names it "rollout".
        config = (
            load_config(source.value) if source.kind == "config" else _import_factory(source.value)
        )
    history = None if args.trades is None else _read_trades(args.trades, args)
    if history is not None and history.trades:
        # Limits that can never fire on these trades: said before the plan, on stderr
        # so that --json stays one document.
        from ..scale import scale_warnings

        label = args.file or getattr(config, "source", None) or "the configuration"
        for warning in scale_warnings(config, history.trades):
            sys.stderr.write(f"warning: {warning.message(str(label))}\n")
    payoff = None
    if args.payoff is not None:
        win_loss = _numbers("--payoff", args.payoff)
        if len(win_loss) != 2:
            raise _CommandError(
                "--payoff takes WIN,LOSS per dollar of size (e.g. 1,1 or 0.8,1), got "
                f"{args.payoff!r}"
            )
        payoff = Payoff(win=win_loss[0], loss=win_loss[1], source="given")
    elif history is not None:
        payoff = Payoff.from_trades(history.trades, history.source)
    if args.stake is not None:
        payoff = dataclasses.replace(payoff or Payoff(source="given"), size=args.stake)
    rates = DEFAULT_WIN_RATES if args.win_rates is None else _numbers("--win-rates", args.win_rates)
    evs = None if args.ev_levels is None else _numbers("--ev-levels", args.ev_levels)
    jobs = _usable_cpus() if args.jobs is None else args.jobs
    if jobs < 1:
        raise _CommandError(f"--jobs takes a whole number >= 1, got {args.jobs!r}")
    progress = _progress_line()
    try:
        report = plan(
            config,
            win_rates=rates,
            horizon=args.horizon,
            trades_per_day=args.trades_per_day,
            trades=None if history is None else history.trades,
            ev_levels=evs,
            payoff=payoff,
            drop_to=args.drop_to,
            paths=args.paths,
            seed=args.seed,
            calendar_from=_clock()(),  # the calendar's year starts now (QUANT_ROLLOUT_NOW)
            progress=progress,
            jobs=jobs,
        )
    finally:
        if progress is not None:
            progress.close()
    if args.json:
        _dump(report.to_dict())
    else:
        _out(format_plan(report))
    return EXIT_OK
