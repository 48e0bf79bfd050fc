"""``quant-rollout plan-experiment`` and ``replay-experiment``: experiments from the shell."""

from __future__ import annotations

import argparse
import dataclasses

from ...errors import ConfigError
from .common import EXIT_OK, _CommandError, _out
from .describe import _dump
from .plan import _numbers
from .source import _read_trades

__all__: list[str] = []

# The function's argument names, as the command line spells them.
_PLAN_EXPERIMENT_FLAGS = (
    ("control_win_rate", "--control"),
    ("candidate_win_rates item", "--candidates"),
    ("candidate_weight", "--weight"),
    ("horizon", "--horizon"),
    ("runs", "--runs"),
    ("power", "--power"),
    ("margin", "--margin"),
    ("confidence", "--confidence"),
)


def _cmd_plan_experiment(args: argparse.Namespace) -> int:
    from ...planning.experiment import format_experiment_plan, plan_experiment

    try:
        report = plan_experiment(
            args.control,
            _numbers("--candidates", args.candidates),
            margin=args.margin,
            confidence=args.confidence,
            candidate_weight=args.weight,
            horizon=args.horizon,
            runs=args.runs,
            power=args.power,
            seed=args.seed,
        )
    except ConfigError as exc:
        # Speak the command line: name the flag, not the function's argument.
        message = str(exc)
        for name, flag in _PLAN_EXPERIMENT_FLAGS:
            if message.startswith(name + " "):
                message = flag + message[len(name) :]
                break
        raise _CommandError(message) from None
    if args.json:
        _dump(dataclasses.asdict(report))
    else:
        _out(format_experiment_plan(report))
    return EXIT_OK


_REPLAY_EXPERIMENT_FLAGS = (
    ("margin", "--margin"),
    ("metric", "--metric"),
    ("confidence", "--confidence"),
    ("loss_per_dollar", "--loss-per-dollar"),
    ("gain_per_dollar", "--gain-per-dollar"),
)


def _cmd_replay_experiment(args: argparse.Namespace) -> int:
    from ..replay_arms import (
        arms_in,
        experiment_from_names,
        format_experiment_replay,
        replay_experiment,
    )

    history = _read_trades(args.trades, args)
    names = arms_in(history.trades)
    if not names:
        column = args.arm or "arm"
        raise _CommandError(
            f"{args.trades}: no trade names an arm; give the column that does with --arm COL"
            f" (looked for {column!r})"
        )
    try:
        experiment = experiment_from_names(
            names,
            args.control,
            margin=args.margin,
            metric=args.metric,
            confidence=args.confidence,
            loss_per_dollar=args.loss_per_dollar,
            gain_per_dollar=args.gain_per_dollar,
        )
    except ConfigError as exc:
        message = str(exc)
        for name, flag in _REPLAY_EXPERIMENT_FLAGS:
            message = message.replace(f"Experiment.{name} ", f"{flag} ")
        raise _CommandError(message) from None
    result = replay_experiment(experiment, history.trades)
    if args.json:
        _dump(
            {
                "trades": result.trades,
                "arms": names,
                "control": args.control,
                "winner": result.winner,
                "winner_at": result.winner_at,
                "winner_time": result.winner_time,
                "worse_at": result.worse_at,
                "final": dataclasses.asdict(result.final),
            }
        )
    else:
        _out(format_experiment_replay(result))
    return EXIT_OK
