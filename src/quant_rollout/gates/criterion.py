"""One criterion abstraction for gates and kill switches.

A criterion is one condition on a window of evidence: "at least 50 trades", "the win
rate is shown to be above 0.55", "the CUSUM has crossed its threshold", "the drawdown
reached $500". A gate advances when all its criteria are met; a kill switch trips when
any of its criteria is met. Each criterion is one :class:`Criterion` subclass that

* **judges**: :meth:`Criterion.verdict` gives a :class:`Verdict` (cheap, asked on
  every tick) and :meth:`Criterion.judge` the :class:`Judgement` (the verdict with its
  reason);
* **explains**: :meth:`Criterion.explain` says why, in the trader's words;
* **reports progress**: :meth:`Criterion.progress` gives a :class:`CriterionProgress`,
  observed against required;
* **tells the planner its model**: :meth:`Criterion.plan_model` gives one of the
  shapes below that the planner computes exactly or fast, or None: then the planner
  simulates the criterion itself (Monte Carlo), feeding it trades as a rollout would.

A criterion receives its data in an :class:`EvidenceView` (the window's metrics, the
tracker it asked for, the days since the previous stage began, the time now); it never
fetches anything, so it is pure and testable without a clock or a store. A criterion
that needs every trade in order (a sequential test, a drawdown) asks for a tracker
with :meth:`Criterion.tracker`; the evidence feeds it each trade once, in time order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import (
    Any,
    Callable,
    NamedTuple,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    runtime_checkable,
)

from ..metrics import Metrics
from ..trades import TradeOutcome
from .results import CriterionProgress, GateProof

__all__ = [
    "AfterDays",
    "AtLeast",
    "Criterion",
    "CriterionTracker",
    "EvidenceView",
    "Judgement",
    "Measure",
    "NotPlanned",
    "PlanContext",
    "PlanModel",
    "SequentialScan",
    "SequentialTest",
    "Verdict",
    "WinsTest",
]


class Verdict(str, Enum):
    """What one criterion says about a window of evidence.

    "Met" is the criterion's own condition: for a gate criterion the bar is reached,
    for a kill criterion the stop condition holds (the switch trips).
    """

    MET = "met"
    """The condition holds."""
    NOT_MET = "not_met"
    """The condition does not hold (yet): more trades or more time may meet it."""
    CANNOT_BE_MET = "cannot_be_met"
    """The evidence shows the condition will not be met in this window."""
    WAITING = "waiting"
    """Not judged yet: met but waiting for its moment, or still calibrating."""
    OFF = "off"
    """The criterion does not run in this window (the reason says why)."""


@dataclass(frozen=True)
class Judgement:
    """A criterion's verdict with its reason; the one verdict shape of gates and kill.

    ``reason`` may be empty for a met gate criterion with nothing to report.
    """

    verdict: Verdict
    reason: str

    @property
    def met(self) -> bool:
        """True when the verdict is MET."""
        return self.verdict is Verdict.MET


@runtime_checkable
class CriterionTracker(Protocol):
    """The per-trade state a criterion keeps over one window of evidence.

    ``add`` is called once per trade of the window, in time order, and should cost
    O(1). ``order_sensitive`` says whether the result depends on the order of trades.
    """

    order_sensitive: bool

    def add(self, trade: TradeOutcome) -> None: ...


class EvidenceView(NamedTuple):
    """What a criterion is judged on; the criterion never fetches anything else.

    Immutable (a named tuple: built on every tick for every criterion, so cheap).

    Attributes:
        metrics: the window's metrics (all its trades).
        tracker: the tracker this criterion asked for (:meth:`Criterion.tracker`), fed
            every trade of the window in time order; None if it asked for none.
        days_since_prev: days since the previous stage began, by the rollout's clock
            (None: unknown, counted as 0).
        now_us: the time of the judgement, microseconds since the epoch UTC, or None
            when there is no clock (a replay of trades alone, a plan).
    """

    metrics: Metrics
    tracker: Any = None
    days_since_prev: Optional[float] = None
    now_us: Optional[int] = None


# ----------------------------------------------------------------------------- plan models


class Measure(str, Enum):
    """A running measure of a window, as the planner can follow it on simulated trades."""

    TRADES = "n"
    WIN_RATE = "win_rate"
    EV_PER_DOLLAR = "ev_per_dollar"
    TOTAL_PNL = "total_pnl"


@dataclass(frozen=True)
class PlanContext:
    """What the planner tells a criterion about the stage it is planned for.

    Attributes:
        proof: the least a stage entered through its gate proves (the gate's bars,
            from :meth:`Gate.least_proof`); None for a stage entered without a gate.
        trades_per_day: the trading pace, or None when not given.
    """

    proof: Optional[GateProof] = None
    trades_per_day: Optional[float] = None


@dataclass(frozen=True)
class AtLeast:
    """A gate criterion met when a running measure is at least ``bar`` (inclusive).

    Exact under a fixed payoff; ``bar`` is in the measure's unit.
    """

    measure: Measure
    bar: float


@dataclass(frozen=True)
class WinsTest:
    """A gate criterion whose verdict is a function of (trades, wins) only.

    The planner finds its least wins at each count by asking the criterion itself.
    ``bar`` is the win rate at or below which passing is a false advance.
    """

    bar: float


@dataclass(frozen=True)
class AfterDays:
    """A gate criterion met once ``days`` days have passed (needs a trading pace).

    ``label`` names the setting in the report's note when there is no pace.
    """

    days: float
    label: str


class SequentialScan(Protocol):
    """A sequential gate test replayed on one simulated run, chunk by chunk."""

    def holds(self, pnl: Sequence[float], size: Sequence[float], start: int, end: int) -> bytes:
        """1 at n - start where the test holds after n trades, n in [start, end]."""


@dataclass(frozen=True)
class SequentialTest:
    """A gate criterion that needs every trade in order, with its own fast replay.

    ``scan`` makes a fresh replay per run; ``ev_bar`` is the EV per dollar at or below
    which passing is a false advance; ``notes`` are said whatever the payoff.
    ``void_below`` is the return per dollar below which a trade voids the test (the
    planner notes when the payoff's loss is beyond it).
    """

    scan: Callable[[], SequentialScan]
    ev_bar: float
    void_below: float


@dataclass(frozen=True)
class NotPlanned:
    """A criterion the planner leaves out at a stage.

    ``why``: the reason, said as "<names> left out: <why>" (criteria left out for the
    same reason are named together); None when ``notes`` say it all.
    """

    why: Optional[str]
    notes: Tuple[str, ...] = ()


PlanModel = Optional[object]
"""What :meth:`Criterion.plan_model` returns: a gate shape above (:class:`AtLeast`,
:class:`WinsTest`, :class:`AfterDays`, :class:`SequentialTest`), a
:class:`~quant_rollout.kill.KillModel`, :class:`NotPlanned`, or None (the planner then
simulates the criterion). The planner reads the shapes it knows and simulates the rest."""


# ----------------------------------------------------------------------------- the base


class Criterion(ABC):
    """One condition on a window of evidence; subclass it to add a gate or kill criterion.

    Implement :attr:`name`, :meth:`verdict` and :meth:`explain`; override
    :meth:`tracker` when the criterion needs every trade in order, :meth:`progress` to
    show observed against required, and :meth:`plan_model` when the planner can
    compute it exactly (else it is simulated). Subclasses are typically frozen
    dataclasses, so that equal criteria compare and hash equal.
    """

    @property
    @abstractmethod
    def name(self) -> str:
        """The criterion's short name in reasons and ``status`` (``win_rate``)."""

    def tracker(self, proof: Optional[GateProof]) -> Optional[CriterionTracker]:
        """A fresh tracker for one window of evidence, or None (the default: none needed).

        ``proof`` is what the stage proved at its gate, None if it was not entered
        through one.
        """
        return None

    @abstractmethod
    def verdict(self, view: EvidenceView) -> Verdict:
        """The verdict alone: cheap, asked on every tick and in simulations."""

    @abstractmethod
    def explain(self, view: EvidenceView, verdict: Verdict, *, estimate: bool = False) -> str:
        """Why ``verdict``: a short sentence, or "" for a met criterion with nothing to add.

        ``estimate`` asks a criterion that is not met yet to say, if it can, how far
        it is from being met (roughly how many more trades).
        """

    def judge(self, view: EvidenceView, *, estimate: bool = False) -> Judgement:
        """The verdict with its reason."""
        verdict = self.verdict(view)
        return Judgement(verdict, self.explain(view, verdict, estimate=estimate))

    def progress(self, view: EvidenceView) -> CriterionProgress:
        """Observed against required; by default 1 when met, else 0, against 1."""
        met = self.verdict(view) is Verdict.MET
        return CriterionProgress(self.name, 1.0 if met else 0.0, 1.0, met)

    def requirement(self) -> str:
        """What the criterion asks, in a few characters (``n>=50``), for plan reports."""
        return self.name

    def plan_model(self, context: PlanContext) -> PlanModel:
        """How the planner can compute this criterion; None: simulate it (the default)."""
        return None
