"""What every kill criterion shares: the interfaces, the built-in base, the false-kill target.

A kill criterion is a :class:`~quant_rollout.gates.Criterion` whose condition is
"stop": :class:`BuiltInKillCriterion` is the base of the built-in ones (and of yours,
if you like: subclass it, give ``kind`` and ``tracker``, and it judges, explains,
reports, can be named in configuration files and is planned like the others). Its
trackers derive from :class:`KillTrackerBase` and answer with the shared
:class:`~quant_rollout.gates.Judgement`. 0.2's duck-typed criteria (an object with
``evaluate(trades)`` or ``tracker(proof)`` returning ``(tripped, reason)``) still work:
:func:`judge_tracker` turns their answers into a Judgement.

Built-in trackers take the window's trades in *arrival order*: the order of the
bot's list, in which it appends each trade as it closes. A late-opened trade is
added at the end, never replayed into the past, so a sequential chart follows one
path and its false-kill chance is the one it states (see :mod:`quant_rollout.evidence`).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import (
    Any,
    ClassVar,
    Dict,
    List,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Union,
    cast,
    runtime_checkable,
)

from .._validate import check_fraction, check_int, check_number
from ..errors import ConfigError
from ..evidence import feeds_in_time_order
from ..gates import (
    Criterion,
    CriterionProgress,
    EvidenceView,
    GateProof,
    Judgement,
    PlanContext,
    PlanModel,
    Verdict,
)
from ..trades import TradeOutcome

__all__ = [
    "REGISTRY",
    "AnyKillCriterion",
    "BuiltInKillCriterion",
    "Idle",
    "IncrementalKillCriterion",
    "KillCriterion",
    "KillCriterionStatus",
    "KillTracker",
    "KillTrackerBase",
    "criterion_name",
    "judge_tracker",
    "tracker_of",
]

TrippedReason = Tuple[bool, Optional[str]]
"""0.2's kill verdict, ``(tripped, reason)``: what duck-typed criteria return."""


@runtime_checkable
class KillTracker(Protocol):
    """The incremental state of one kill criterion over one window of evidence.

    ``add`` is called once per trade of the window and should cost O(1); ``verdict``
    is asked on every tick and returns ``(tripped, reason)``, reason None when not
    tripped. Set ``order_sensitive`` when the result depends on the order of the
    trades; they then come in time order (the window is rebuilt when a trade arrives
    late, 0.2's contract), or, when the tracker also sets ``arrival_order = True``
    (as :class:`KillTrackerBase` does), in the order of the bot's list, append-only
    (see :mod:`quant_rollout.evidence`).
    """

    order_sensitive: bool

    def add(self, trade: TradeOutcome) -> None: ...

    def verdict(self) -> TrippedReason: ...


class KillCriterion(Protocol):
    """A kill criterion in batch form: the stage's trades in time order in, verdict out
    (ties in the order of the bot's list)."""

    def evaluate(self, trades: Sequence[TradeOutcome]) -> TrippedReason: ...


class IncrementalKillCriterion(Protocol):
    """A kill criterion in incremental form: a fresh tracker for each window of evidence.

    ``proof`` is what the current stage proved at its gate (None when it was not
    entered through a gate), for criteria whose levels default to it.
    """

    def tracker(self, proof: Optional[GateProof]) -> KillTracker: ...


AnyKillCriterion = Union[Criterion, KillCriterion, IncrementalKillCriterion]


@dataclass(frozen=True)
class KillCriterionStatus:
    """Where one kill criterion stands, for ``status``.

    Attributes:
        name: the criterion (``win_rate_cusum``, or a custom criterion's name).
        state: ``running``, ``tripped``, ``calibrating`` or ``not running``.
        detail: a sentence: the statistic against its threshold, or why it is not
            running.
    """

    name: str
    state: str
    detail: str


def criterion_name(criterion: object) -> str:
    """A criterion's ``name`` attribute, else its class name."""
    name = getattr(criterion, "name", None)
    return name if isinstance(name, str) and name else type(criterion).__name__


# ----------------------------------------------------------------------------- shared checks


def _owner_check(owner: str, name: str, ok: bool, message: str, value: object) -> None:
    if not ok:
        raise ConfigError(f"{owner}.{name} {message}, got {value!r}")


def _open_fraction(owner: str, name: str, value: object) -> None:
    check_fraction(owner, name, value)
    assert isinstance(value, (int, float))
    _owner_check(owner, name, 0.0 < value < 1.0, "must be strictly between 0 and 1", value)


@dataclass(frozen=True)
class _Target:
    """A false-kill target: an in-control ARL, or a chance within a horizon."""

    arl0: Optional[float]
    horizon: int
    probability: float

    def text(self) -> str:
        if self.arl0 is not None:
            return f"about {self.arl0:,.0f} trades between false kills"
        return f"false kill chance {self.probability:.1%} within {self.horizon:,} trades"


_DEFAULT_FALSE_KILL_PROB = 0.05
_DEFAULT_HORIZON = 2000
_MAX_HORIZON = 10_000  # solving the threshold grows with it (issue 9: 1e9 took minutes)
_MAX_ARL0 = 1e15


def _target(
    owner: str,
    false_kill_prob: Optional[float],
    horizon: Optional[int],
    trades_between_false_kills: Optional[float],
) -> _Target:
    """Check and resolve the false-kill target fields (default: 5% within 2,000 trades)."""
    if trades_between_false_kills is not None:
        check_number(owner, "trades_between_false_kills", trades_between_false_kills)
        _owner_check(
            owner,
            "trades_between_false_kills",
            1.0 <= trades_between_false_kills <= _MAX_ARL0,
            f"must be between 1 and {_MAX_ARL0:g} trades",
            trades_between_false_kills,
        )
        if false_kill_prob is not None or horizon is not None:
            raise ConfigError(
                f"{owner}: give trades_between_false_kills, or false_kill_prob with "
                "horizon, not both"
            )
        return _Target(float(trades_between_false_kills), 0, 0.0)
    if false_kill_prob is not None:
        _open_fraction(owner, "false_kill_prob", false_kill_prob)
    if horizon is not None:
        check_int(
            owner,
            "horizon",
            horizon,
            minimum=1,
            maximum=_MAX_HORIZON,
            why="its threshold would take minutes to compute, under the rollout's lock; "
            "use trades_between_false_kills for longer runs",
        )
    return _Target(
        None,
        _DEFAULT_HORIZON if horizon is None else horizon,
        _DEFAULT_FALSE_KILL_PROB if false_kill_prob is None else float(false_kill_prob),
    )


# ----------------------------------------------------------------------------- trackers


class KillTrackerBase:
    """The base of built-in kill trackers: answer :meth:`judge`, get 0.2's forms free.

    :meth:`judge` says MET (tripped, with the reason), NOT_MET (running, with where
    it stands), WAITING (calibrating) or OFF (not running, with why). ``verdict()``
    and ``describe()`` (0.2's :class:`KillTracker` protocol) are derived from it.
    Trades come in arrival order (``arrival_order``): the order of the bot's list.
    """

    order_sensitive = True
    arrival_order = True

    def add(self, trade: TradeOutcome) -> None:
        raise NotImplementedError

    def state(self) -> Verdict:
        """The verdict alone: cheap, asked on every tick."""
        raise NotImplementedError

    def judge(self) -> Judgement:
        """The verdict with its reason (or where the criterion stands)."""
        raise NotImplementedError

    def progress(self) -> Optional[Tuple[float, float]]:
        """(observed, limit) in the criterion's unit, or None when not running."""
        return None

    def verdict(self) -> TrippedReason:
        """``(tripped, reason)``, reason None when not tripped (0.2's form)."""
        if self.state() is not Verdict.MET:
            return False, None
        return True, self.judge().reason

    def describe(self) -> str:
        """Where the criterion stands, one sentence."""
        judgement = self.judge()
        if judgement.verdict is Verdict.OFF:
            return f"not running: {judgement.reason}"
        if judgement.verdict is Verdict.WAITING:
            return f"calibrating: {judgement.reason}"
        return judgement.reason


class Idle(KillTrackerBase):
    """The tracker of a criterion that cannot run in this window; it never trips."""

    order_sensitive = False

    def __init__(self, why: str) -> None:
        self.why = why

    def add(self, trade: TradeOutcome) -> None:
        pass

    def state(self) -> Verdict:
        return Verdict.OFF

    def judge(self) -> Judgement:
        return Judgement(Verdict.OFF, self.why)


class _BatchTracker:
    """A batch criterion's window: every trade in time order, judged on each tick.

    It sorts the trades itself (by time; ties keep the order they came in, the bot's
    list), so it may be fed in arrival order and a late trade rebuilds nothing.
    """

    order_sensitive = False

    def __init__(self, criterion: KillCriterion) -> None:
        self.criterion = criterion
        self.trades: List[TradeOutcome] = []
        self._judged: Optional[Tuple[int, TrippedReason]] = None

    def add(self, trade: TradeOutcome) -> None:
        self.trades.append(trade)

    def verdict(self) -> TrippedReason:
        # Ticks with no new trade ask again; the answer for the same trades is the same.
        if self._judged is None or self._judged[0] != len(self.trades):
            self.trades.sort(key=_instant)  # stable: ties keep the order they came in
            self._judged = (len(self.trades), self.criterion.evaluate(tuple(self.trades)))
        return self._judged[1]


def _instant(trade: TradeOutcome) -> int:
    return trade.instant_us


def tracker_of(criterion: Any, proof: Optional[GateProof]) -> KillTracker:
    """A fresh tracker of any kill criterion (built-in, incremental or batch) for a window."""
    if callable(getattr(criterion, "tracker", None)):
        tracker: KillTracker = criterion.tracker(proof)
        return tracker
    return _BatchTracker(criterion)


def judge_tracker(name: str, tracker: object, *, describe: bool = True) -> Judgement:
    """The Judgement of a kill criterion's tracker, whichever protocol it follows.

    A :class:`KillTrackerBase` answers itself; a 0.2-style tracker's ``(tripped,
    reason)`` is checked and turned into MET or NOT_MET (with its ``describe()``, if
    it has one and ``describe`` is set, as where it stands).

    Raises:
        ConfigError: a tracker that answers something else than ``(bool, str|None)``.
    """
    if isinstance(tracker, KillTrackerBase):
        return tracker.judge()
    result: object = cast(KillTracker, tracker).verdict()
    if (
        not isinstance(result, tuple)
        or len(result) != 2
        or not isinstance(result[0], bool)
        or not (result[1] is None or isinstance(result[1], str))
    ):
        raise ConfigError(
            f"kill criterion {name} must return (tripped: bool, reason: str or None), "
            f"got {result!r}"
        )
    tripped, reason = result
    if tripped:
        return Judgement(Verdict.MET, reason or f"{name} tripped")
    where = getattr(tracker, "describe", None) if describe else None
    return Judgement(Verdict.NOT_MET, str(where()) if callable(where) else "")


# ----------------------------------------------------------------------------- the built-in base

REGISTRY: Dict[str, type] = {}
"""Kill criteria by ``kind``, the name configuration files use: every subclass of
:class:`BuiltInKillCriterion` that sets ``kind`` is entered here when it is defined."""


class BuiltInKillCriterion(Criterion):
    """A kill criterion judged through its tracker: one class, one ``kind``.

    Subclass it (as a frozen dataclass) and implement :meth:`tracker` returning a
    :class:`KillTrackerBase`; override :meth:`plan_model` if the planner can follow it
    exactly or fast (else it is simulated). Setting ``kind`` registers the class for
    configuration files (``kind = "..."``).
    """

    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str):
            REGISTRY[kind] = cls

    @property
    def name(self) -> str:
        return self.kind

    @abstractmethod
    def tracker(self, proof: Optional[GateProof]) -> KillTrackerBase:
        """A fresh tracker for one window of evidence."""

    def _tracker_in(self, view: EvidenceView) -> KillTrackerBase:
        tracker = view.tracker
        if not isinstance(tracker, KillTrackerBase):
            raise ConfigError(
                f"kill criterion {self.name} needs its tracker (criterion.tracker(proof)) "
                f"fed the window's trades, got {tracker!r}"
            )
        return tracker

    def verdict(self, view: EvidenceView) -> Verdict:
        return self._tracker_in(view).state()

    def explain(self, view: EvidenceView, verdict: Verdict, *, estimate: bool = False) -> str:
        return self._tracker_in(view).judge().reason

    def progress(self, view: EvidenceView) -> CriterionProgress:
        tracker = self._tracker_in(view)
        met = tracker.judge().met
        figures = tracker.progress()
        observed, limit = figures if figures is not None else (0.0, 0.0)
        return CriterionProgress(self.name, observed, limit, met)

    def evaluate(
        self, trades: Sequence[TradeOutcome], proof: Optional[GateProof] = None
    ) -> TrippedReason:
        """The verdict on a whole window of trades, taken in the order given: the order
        the bot closed them (a tracker with 0.2's time-order contract sorts them by time)."""
        tracker = self.tracker(proof)
        if feeds_in_time_order(tracker):
            trades = sorted(trades, key=_instant)
        for trade in trades:
            tracker.add(trade)
        return tracker.verdict()

    def plan_model(self, context: PlanContext) -> PlanModel:
        return None
