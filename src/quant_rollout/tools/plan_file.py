"""``quant_rollout.plan``: the planner, also given a configuration file's path.

The planner (:func:`quant_rollout.planning.plan`) sits below the tools and does no
I/O, so it takes configurations only. The package's public ``plan`` is this function:
a path (``str`` or ``os.PathLike``) is read here, in the tools layer, with
:func:`~quant_rollout.tools.config.load_config` (TOML or JSON, as ``quant-rollout
plan FILE`` reads it), and everything else goes to the planner unchanged.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, Optional, Sequence

from ..planning import (
    DEFAULT_HORIZON,
    DEFAULT_PATHS,
    DEFAULT_WIN_RATES,
    Payoff,
    PlanReport,
)
from ..planning import plan as plan_config
from ..planning.planner import ConfigLike
from ..trades import TimestampLike
from .config import load_config

__all__ = ["plan"]


def plan(
    rollout_or_config: ConfigLike,
    *,
    win_rates: Sequence[float] = DEFAULT_WIN_RATES,
    horizon: int = DEFAULT_HORIZON,
    trades_per_day: Optional[float] = None,
    trades: Optional[Iterable[object]] = None,
    ev_levels: Optional[Sequence[float]] = None,
    payoff: Optional[Payoff] = None,
    drop_to: Optional[float] = None,
    paths: int = DEFAULT_PATHS,
    seed: int = 0,
    calendar_from: Optional[TimestampLike] = None,
    progress: Optional[Callable[[str, int, int], None]] = None,
    jobs: int = 1,
) -> PlanReport:
    """What a rollout configuration will do: :func:`quant_rollout.planning.plan`, and
    a configuration file's path is read first.

    ``rollout_or_config`` is a path to a TOML or JSON configuration file (the report
    names the file), a :class:`~quant_rollout.Rollout`, a ``RolloutConfig`` or a
    ``LoadedConfig``; the other arguments are the planner's.

    Raises:
        ConfigError: the file cannot be read or is invalid, or an argument is out of
            range (see :func:`quant_rollout.planning.plan`).
    """
    config = rollout_or_config
    if isinstance(config, (str, os.PathLike)):
        config = load_config(config)
    return plan_config(
        config,
        win_rates=win_rates,
        horizon=horizon,
        trades_per_day=trades_per_day,
        trades=trades,
        ev_levels=ev_levels,
        payoff=payoff,
        drop_to=drop_to,
        paths=paths,
        seed=seed,
        calendar_from=calendar_from,
        progress=progress,
        jobs=jobs,
    )
