"""The :func:`plan` entry point: check the arguments, then plan every gate and the kill switch."""

from __future__ import annotations

import dataclasses
import math
import os
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Hashable,
    Iterable,
    List,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

from ..clock import system_clock
from ..engine import RolloutConfig
from ..errors import ConfigError
from ..trades import TimestampLike, as_trade, parse_instant
from .calendar_notes import calendar_notes, has_calendar_notes
from .gate_plan import plan_gate
from .kill_plan import plan_kills
from .parallel import RowPool, can_fork
from .payoff import Payoff
from .report import GatePlan, KillPlan, PlanReport
from .runs import Progress
from .setting import PlanSetting

if TYPE_CHECKING:  # imported lazily at run time: the shell sits above us
    from ..rollout import Rollout

__all__ = [
    "DEFAULT_EV_LEVELS",
    "DEFAULT_HORIZON",
    "DEFAULT_PATHS",
    "DEFAULT_WIN_RATES",
    "ConfigLike",
    "plan",
]

DEFAULT_WIN_RATES: Tuple[float, ...] = (0.45, 0.50, 0.55, 0.60, 0.65, 0.70)
"""The true win rates planned when none are given (fractions 0–1)."""

DEFAULT_HORIZON = 2000
"""Trades of a stage followed when no horizon is given."""

DEFAULT_PATHS = 2_000
"""Monte Carlo runs per row when none are given."""

DEFAULT_EV_LEVELS: Tuple[float, ...] = (-0.05, 0.0, 0.025, 0.05, 0.10)
"""The true EV levels (per dollar) planned from a trade history when none are given."""

_T = TypeVar("_T")

ConfigLike = Union["Rollout", RolloutConfig, Any]


def _resolve(obj: object) -> Tuple[RolloutConfig, str]:
    """The configuration to plan and how the report names it.

    A configuration file is read by the caller (the CLI, or
    ``quant_rollout.tools.config.as_rollout_config``): the planner sits below the tools
    and does no I/O. A ``LoadedConfig`` is recognised by its ``rollout_config``.
    """
    from ..rollout import Rollout

    if isinstance(obj, Rollout):
        return obj.config, "rollout"
    if isinstance(obj, RolloutConfig):
        return obj, "rollout configuration"
    loaded = getattr(obj, "rollout_config", None)
    if isinstance(loaded, RolloutConfig):
        source = getattr(obj, "source", None)
        return loaded, str(source) if source else "configuration"
    if isinstance(obj, (str, os.PathLike)):
        raise ConfigError(
            f"plan() takes a configuration, not a file name ({os.fspath(obj)!r}); read it "
            "first: plan(quant_rollout.tools.config.load_config(path))"
        )
    raise ConfigError(
        f"plan() takes a Rollout, a RolloutConfig or a LoadedConfig, got {_excerpt(obj)}"
    )


def _excerpt(obj: object) -> str:
    text = repr(obj)
    return text if len(text) <= 60 else text[:57] + "..."


def _levels(name: str, values: Sequence[float], low: float, high: float) -> Tuple[float, ...]:
    if isinstance(values, (str, bytes)):
        raise ConfigError(f"{name} must be a sequence of numbers, got {values!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= v <= high:
            raise ConfigError(f"{name} must hold numbers from {low} to {high}, got {v!r}")
        out.append(float(v))
    if not out:
        raise ConfigError(f"{name} must hold at least one level, got {values!r}")
    return tuple(out)


def _whole(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


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
    progress: Optional[Progress] = None,
    jobs: int = 1,
) -> PlanReport:
    """What a rollout configuration will do: every gate and the kill switch, level by level.

    See the module documentation for the model and the methods.

    Args:
        rollout_or_config: a :class:`~quant_rollout.Rollout`, a ``RolloutConfig`` or a
            ``LoadedConfig`` (read a file with
            ``quant_rollout.tools.config.load_config`` first).
        win_rates: the true win rates to plan for, fractions 0–1.
        horizon: trades of each stage to follow, >= 1.
        trades_per_day: the trading pace, > 0, to show days and count
            ``min_days_after_prev``; None leaves both out.
        trades: a trade history (``TradeOutcome`` or mappings): the payoff is taken
            from it, and EV rows are planned by bootstrap.
        ev_levels: the true EV levels (per dollar) for the EV rows; default
            ``DEFAULT_EV_LEVELS``. Needs ``trades``.
        payoff: the payoff model of the win-rate rows (default: from ``trades``, else
            even money, +1/-1 per dollar of a $1 stake).
        drop_to: a win rate to plan the kill switch's detection delay for, besides the
            rows (and the unacceptable level of a sequential criterion).
        paths: Monte Carlo runs per row, >= 100.
        seed: the Monte Carlo seed; the same seed gives the same report.
        calendar_from: where the year over which gates' windows and blackouts (and
            operator hours) are measured starts: each transition then notes the wait
            they add (:mod:`.calendar_notes`). Default: now, from the system clock;
            only read when the configuration has a calendar.
        progress: called as ``progress(row, runs_done, runs_in_row)`` while Monte Carlo
            rows are simulated (``quant-rollout plan`` draws a progress line with it);
            it does not change the report.
        jobs: Monte Carlo rows computed at once, each in a process forked from this
            one (:mod:`.parallel`); 1 (the default) computes them here, one by one. The
            report is the same for any ``jobs``: each run is seeded on its own. Where
            forking is unsafe (Windows, macOS, a process running other threads) rows
            are computed here whatever ``jobs`` says.

    Returns:
        A :class:`PlanReport`; print it with :func:`format_plan`.

    Raises:
        ConfigError: an argument out of range, or an invalid configuration (or a file
            name given instead of one).
        InvalidTradeError: a trade cannot be read.
    """
    config, source = _resolve(rollout_or_config)
    rates = _levels("win_rates", win_rates, 0.0, 1.0)
    horizon_ = _whole("horizon", horizon, 1)
    paths_ = _whole("paths", paths, 100)
    seed_ = _whole("seed", seed, 0)
    jobs_ = _whole("jobs", jobs, 1)
    tpd: Optional[float] = None
    if trades_per_day is not None:
        if isinstance(trades_per_day, bool) or not isinstance(trades_per_day, (int, float)):
            raise ConfigError(f"trades_per_day must be a number, got {trades_per_day!r}")
        if not (math.isfinite(trades_per_day) and trades_per_day > 0):
            raise ConfigError(f"trades_per_day must be > 0, got {trades_per_day!r}")
        tpd = float(trades_per_day)
    drop: Optional[float] = None
    if drop_to is not None:
        drop = _levels("drop_to", [drop_to], 0.0, 1.0)[0]
    history = None if trades is None else [as_trade(t, i) for i, t in enumerate(trades)]
    if ev_levels is not None and history is None:
        raise ConfigError("ev_levels needs trades: the EV rows resample a trade history")
    sample: Optional[Tuple[List[float], List[float]]] = None
    described: Optional[str] = None
    evs: Tuple[float, ...] = ()
    if history is not None:
        usable = [t for t in history if t.size > 0]
        if len(usable) < 2:
            raise ConfigError(
                f"trades: need at least 2 trades of size > 0 to resample, got {len(usable)}"
            )
        sample = ([t.pnl / t.size for t in usable], [float(t.size) for t in usable])
        evs = _levels("ev_levels", DEFAULT_EV_LEVELS if ev_levels is None else ev_levels, -1e9, 1e9)
        wins = sum(1 for t in usable if t.pnl > 0)
        ev = math.fsum(t.pnl for t in usable) / math.fsum(t.size for t in usable)
        described = f"{len(usable)} trades: win rate {wins / len(usable):.3f}, EV/$ {ev:.4f}" + (
            f" ({len(history) - len(usable)} of size 0 left out)"
            if len(usable) < len(history)
            else ""
        )
    if payoff is None:
        payoff = Payoff() if history is None else Payoff.from_trades(history, "the trades")
    elif not isinstance(payoff, Payoff):
        raise ConfigError(f"payoff must be a Payoff, got {payoff!r}")

    at = (config, payoff, horizon_, tpd, paths_, seed_, sample)

    def gates(setting: PlanSetting) -> Tuple[GatePlan, ...]:
        return tuple(
            plan_gate(setting, a, b, rates, evs) for a, b in zip(config.stages, config.stages[1:])
        )

    def kills_(setting: PlanSetting) -> Tuple[KillPlan, ...]:
        return plan_kills(setting, rates, evs, drop)

    def forked(part: Callable[[PlanSetting], _T], told: Optional[Progress], jobs: int) -> _T:
        """The part made twice, its Monte Carlo rows in children (:mod:`.parallel`)."""
        memo: Dict[Hashable, Any] = {}  # tables both passes would compute alike
        with RowPool(jobs, told) as rows:
            part(PlanSetting(*at, told, pool=rows, recording=True, memo=memo))
            rows.collect()
            return part(PlanSetting(*at, told, pool=rows, memo=memo))

    if jobs_ > 1 and can_fork():
        # The kill switch's thresholds take as long as the gates' longest row: the
        # switch is planned in a child of its own (which forks its rows in turn).
        with RowPool(1, progress) as parts:
            kill_part = parts.submit(lambda told: forked(kills_, told, jobs_))
            # The kill switch's child has a CPU to itself while it solves thresholds.
            transitions = forked(gates, progress, max(1, jobs_ - 1))
            kills: Optional[Tuple[KillPlan, ...]] = parts.take(kill_part)
        if kills is None:  # the child failed: planned here, so that its error is raised
            kills = forked(kills_, progress, jobs_)
    else:
        transitions, kills = gates(PlanSetting(*at, progress)), kills_(PlanSetting(*at, progress))
    if has_calendar_notes(config):
        start = parse_instant(system_clock() if calendar_from is None else calendar_from)
        transitions = tuple(
            dataclasses.replace(t, notes=t.notes + calendar_notes(config, stage, start))
            for t, stage in zip(transitions, config.stages[1:])
        )
    return PlanReport(
        source=source,
        horizon=horizon_,
        trades_per_day=tpd,
        payoff=payoff,
        paths=paths_,
        seed=seed_,
        win_rates=rates,
        ev_levels=evs,
        trades=described,
        transitions=transitions,
        kills=kills,
    )
