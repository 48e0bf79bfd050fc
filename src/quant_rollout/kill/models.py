"""How a kill criterion tells the planner to follow it: a :class:`KillModel`.

A criterion's :meth:`~quant_rollout.gates.Criterion.plan_model` returns a
:class:`KillModel` whose ``shape`` is one the planner (:mod:`quant_rollout.planning`)
follows exactly or fast, or None (the planner then simulates the criterion itself,
feeding its tracker trades as a rollout would), or a
:class:`~quant_rollout.gates.NotPlanned` when it cannot run at that stage. The
figures here are in the criterion's own terms; the planner turns EV levels into win
rates with its payoff.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Tuple, Union

__all__ = ["DailyLoss", "Drawdown", "EvCusum", "KillModel", "LossChain", "Shape"]


@dataclass(frozen=True)
class LossChain:
    """A chart on wins and losses, exact on its Markov chain (Brook & Evans 1972).

    A loss adds ``loss_units``, a win takes ``win_units`` off (not below 0), and
    reaching ``threshold`` fires: a win-rate CUSUM on integer scores, or a streak of
    k losses (``loss_units=1``, ``win_units=threshold=k``).
    """

    win_units: int
    loss_units: int
    threshold: int


@dataclass(frozen=True)
class Drawdown:
    """Fires when the running pnl falls ``loss`` (money) or ``fraction`` of
    ``capital + peak`` below its peak (the start included)."""

    loss: Optional[float]
    fraction: Optional[float]
    capital: float


@dataclass(frozen=True)
class DailyLoss:
    """Fires when one UTC day's trades lose ``loss`` in total (needs a trading pace)."""

    loss: float


@dataclass(frozen=True)
class EvCusum:
    """A CUSUM on returns per dollar whose design comes from a sample of returns.

    ``design(sample, expected)`` gives (reference, threshold) per dollar; the chart
    uses ``sample_returns`` if given, else calibrates on each stage's first
    ``calibration_trades`` returns (not running meanwhile). ``owner`` identifies the
    design (equal owners, equal charts) so stages can share one simulation.
    """

    owner: object
    expected: float
    sample_returns: Optional[Tuple[float, ...]]
    calibration_trades: int
    design: Callable[[Sequence[float], float], Tuple[float, float]] = field(compare=False)


Shape = Union[LossChain, Drawdown, DailyLoss, EvCusum, None]


@dataclass(frozen=True)
class KillModel:
    """A kill criterion as the planner follows it at one stage.

    Attributes:
        shape: how it is followed; None to simulate the criterion itself.
        text: how the report names it (``3 losses in a row``).
        tolerated: the win rate at or above which a kill is false, if it has one.
        tolerated_ev: the EV per dollar at or above which a kill is false, if any.
        detect: a win rate to add a detection row at (the level it must catch).
        detect_ev: the same as an EV per dollar (the planner turns it into a win rate
            with its payoff).
        purpose: what the criterion protects against, in a trader's words, if it says.
        notes: what the report should say about how it was planned.
    """

    shape: Shape
    text: str
    tolerated: Optional[float] = None
    tolerated_ev: Optional[float] = None
    detect: Optional[float] = None
    notes: Tuple[str, ...] = ()
    detect_ev: Optional[float] = None
    purpose: Optional[str] = None
