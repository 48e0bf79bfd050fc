"""``quant-rollout plan-experiment``: an experiment's pre-flight from the shell."""

from __future__ import annotations

import argparse
import dataclasses

from ...errors import ConfigError
from .common import EXIT_OK, _CommandError, _out
from .describe import _dump
from .plan import _numbers

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
