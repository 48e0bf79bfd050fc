"""``quant-rollout plan``: the pre-flight plan of a configuration."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, List

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

__all__: list[str] = []


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
    report = plan(
        config,
        win_rates=DEFAULT_WIN_RATES
        if args.win_rates is None
        else _numbers("--win-rates", args.win_rates),
        horizon=args.horizon,
        trades_per_day=args.trades_per_day,
        trades=None if history is None else history.trades,
        ev_levels=None if args.ev_levels is None else _numbers("--ev-levels", args.ev_levels),
        payoff=payoff,
        drop_to=args.drop_to,
        paths=args.paths,
        seed=args.seed,
        calendar_from=_clock()(),  # the calendar's year starts now (QUANT_ROLLOUT_NOW)
    )
    if args.json:
        _dump(report.to_dict())
    else:
        _out(format_plan(report))
    return EXIT_OK
