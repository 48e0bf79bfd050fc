"""The kill switch: 0.1's lookback checks, then its criteria, on every tick."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Iterator, Mapping, Optional, Sequence, Tuple, cast

from .._validate import check_fraction, check_int, check_number
from ..errors import ConfigError
from ..evidence import StageEvidence, TrackerKey, kill_tracker_key
from ..gates import Criterion, EvidenceView, GateProof, Judgement, Verdict
from ..metrics import Metrics, compute_metrics
from ..trades import TradeOutcome
from .base import (
    AnyKillCriterion,
    BuiltInKillCriterion,
    KillCriterionStatus,
    KillTracker,
    TrippedReason,
    criterion_name,
    judge_tracker,
    tracker_of,
)

__all__ = ["KillSwitch"]


@dataclass(frozen=True)
class KillSwitch:
    """Trips on a losing streak in the current stage's evidence, or on any criterion.

    Trips when EITHER the last ``wr_lookback`` trades (by trade time) have a win rate
    below ``wr_threshold``, OR the last ``ev_lookback`` trades have EV per dollar
    below ``ev_threshold`` (0.1's checks; never with fewer trades than the lookback),
    OR any of ``criteria`` fires.

    Attributes:
        wr_lookback: trades in the win-rate window, >= 1.
        wr_threshold: win-rate floor, 0–1; None switches the check off.
        ev_lookback: trades in the EV window, >= 1.
        ev_threshold: EV-per-dollar floor (0.025 = 2.5 cents a dollar; may be
            negative); None switches the check off.
        criteria: more kill criteria, checked in order after 0.1's (see the module
            documentation): e.g. ``(WinRateCusum(unacceptable=0.45), MaxDrawdown(loss=500))``.

    Raises:
        ConfigError: a field out of range, or a criterion that is not one.
    """

    wr_lookback: int = 30
    wr_threshold: Optional[float] = 0.60
    ev_lookback: int = 100
    ev_threshold: Optional[float] = 0.025
    criteria: Tuple[AnyKillCriterion, ...] = ()

    def __post_init__(self) -> None:
        check_int("KillSwitch", "wr_lookback", self.wr_lookback, minimum=1)
        if self.wr_threshold is not None:
            check_fraction("KillSwitch", "wr_threshold", self.wr_threshold)
        check_int("KillSwitch", "ev_lookback", self.ev_lookback, minimum=1)
        check_number("KillSwitch", "ev_threshold", self.ev_threshold, allow_none=True)
        criteria = self.criteria
        if isinstance(criteria, (str, bytes, Mapping)) or not isinstance(criteria, (tuple, list)):
            raise ConfigError(
                f"KillSwitch.criteria must be a tuple of kill criteria, got {criteria!r}"
            )
        for i, c in enumerate(criteria):
            if not (
                isinstance(c, Criterion)
                or callable(getattr(c, "tracker", None))
                or callable(getattr(c, "evaluate", None))
            ):
                raise ConfigError(
                    f"KillSwitch.criteria[{i}] must be a kill criterion (an object with "
                    f"evaluate(trades) or tracker(proof)), got {c!r}"
                )
        object.__setattr__(self, "criteria", tuple(criteria))

    @property
    def lookback(self) -> int:
        """How many of the most recent trades 0.1's checks ever look at (0 if both are off)."""
        return max(
            self.wr_lookback if self.wr_threshold is not None else 0,
            self.ev_lookback if self.ev_threshold is not None else 0,
        )

    def evaluate(self, trades: Sequence[TradeOutcome]) -> TrippedReason:
        """Return ``(tripped, reason)``; ``reason`` is None when not tripped.

        ``trades`` need not be sorted: the lookbacks take the latest trades by
        timestamp (ties keep list order). Reasons read like ``win_rate(30)=0.433 < 0.550``.
        The criteria see the trades as a window that was not entered through a gate
        (no :class:`~quant_rollout.gates.GateProof`), in the order given, as a tick
        takes them (see :mod:`quant_rollout.evidence`: the order the bot closed them).
        """
        ordered = sorted(trades, key=lambda t: t.instant_us)
        recent = ordered[-self.lookback :] if self.lookback else []
        tripped, reason = self.judge_recent(recent, len(ordered))
        if tripped or not self.criteria:
            return tripped, reason
        evidence = StageEvidence(None, max(1, self.lookback), self.trackers(None))
        evidence.extend([((t.instant_us, i), t) for i, t in enumerate(trades)])
        return self._first_met(evidence.trackers, evidence.metrics)

    def judge_recent(self, recent: Sequence[TradeOutcome], n_total: int) -> TrippedReason:
        """Judge 0.1's checks on the latest trades (time order, at least :attr:`lookback`).

        ``n_total`` is how many trades the evidence holds in all, so a window is only
        judged once it is full. The ``criteria`` are not judged here.
        """
        if self.wr_threshold is not None and n_total >= self.wr_lookback:
            wr = compute_metrics(recent[-self.wr_lookback :]).win_rate
            if wr < self.wr_threshold:
                return True, f"win_rate({self.wr_lookback})={wr:.3f} < {self.wr_threshold:.3f}"
        if self.ev_threshold is not None and n_total >= self.ev_lookback:
            ev = compute_metrics(recent[-self.ev_lookback :]).ev_per_dollar
            if ev < self.ev_threshold:
                return True, (
                    f"ev_per_dollar({self.ev_lookback})={ev:.4f} < {self.ev_threshold:.4f}"
                )
        return False, None

    # -- the criteria over a window of evidence

    def trackers(self, proof: Optional[GateProof]) -> Dict[TrackerKey, KillTracker]:
        """Fresh trackers of :attr:`criteria` for a window, keyed by :func:`kill_tracker_key`.

        A criterion that keeps no per-trade state (a :class:`~quant_rollout.gates.Criterion`
        judged on the window's metrics) has no entry.
        """
        out: Dict[TrackerKey, KillTracker] = {}
        for i, c in enumerate(self.criteria):
            tracker = c.tracker(proof) if isinstance(c, Criterion) else tracker_of(c, proof)
            if tracker is not None:
                out[kill_tracker_key(i)] = cast(KillTracker, tracker)
        return out

    def _judgements(
        self,
        trackers: Mapping[TrackerKey, object],
        metrics: Callable[[], Metrics],
        *,
        explain: bool,
        now_us: Optional[int] = None,
    ) -> Iterator[Tuple[int, Optional[Judgement]]]:
        """Each criterion's judgement, in order, asked lazily (None: its tracker is missing).

        Without ``explain`` only a met criterion's reason is worked out (a tick prints
        no other); ``status`` asks for every one.
        """
        view_metrics: Optional[Metrics] = None
        for i, c in enumerate(self.criteria):
            tracker = trackers.get(kill_tracker_key(i))
            if tracker is None and not _judged_on_metrics(c):
                yield i, None
            elif isinstance(c, Criterion):
                if view_metrics is None:
                    view_metrics = metrics()
                view = EvidenceView(view_metrics, tracker, now_us=now_us)
                verdict = c.verdict(view)
                # Only a met criterion's reason is printed on a tick: explain it then.
                said = explain or verdict is Verdict.MET
                yield i, Judgement(verdict, c.explain(view, verdict) if said else "")
            else:
                yield i, judge_tracker(criterion_name(c), tracker, describe=explain)

    def _first_met(
        self,
        trackers: Mapping[TrackerKey, object],
        metrics: Callable[[], Metrics],
        now_us: Optional[int] = None,
    ) -> TrippedReason:
        """The first criterion that is met (the switch trips), as ``(tripped, reason)``."""
        for i, judgement in self._judgements(trackers, metrics, explain=False, now_us=now_us):
            if judgement is None:
                raise ConfigError(
                    f"the evidence has no tracker for kill criterion {i} "
                    f"({criterion_name(self.criteria[i])}); build it with "
                    "RolloutConfig.make_trackers"
                )
            if judgement.met:
                return True, judgement.reason
        return False, None

    def judge_evidence(
        self, evidence: StageEvidence, now_us: Optional[int] = None
    ) -> TrippedReason:
        """Judge every check on a stage's evidence (its latest trades and its trackers).

        ``now_us`` (microseconds since the epoch, UTC) is handed to the criteria.
        """
        tripped, reason = self.judge_recent(evidence.recent(), evidence.n)
        if tripped or not self.criteria:
            return tripped, reason
        return self._first_met(evidence.trackers, evidence.metrics, now_us)

    def criteria_status(
        self, evidence: StageEvidence, now_us: Optional[int] = None
    ) -> Tuple[KillCriterionStatus, ...]:
        """Where each of :attr:`criteria` stands on a stage's evidence."""
        out = []
        judged = self._judgements(evidence.trackers, evidence.metrics, explain=True, now_us=now_us)
        for i, judgement in judged:
            name = criterion_name(self.criteria[i])
            if judgement is None:
                out.append(KillCriterionStatus(name, "not running", "no tracker"))
            else:
                out.append(KillCriterionStatus(name, _STATE[judgement.verdict], judgement.reason))
        return tuple(out)


def _judged_on_metrics(criterion: object) -> bool:
    """A criterion that may keep no tracker: one judged on the window's metrics."""
    return isinstance(criterion, Criterion) and not isinstance(criterion, BuiltInKillCriterion)


_STATE: Mapping[Verdict, str] = {
    Verdict.MET: "tripped",
    Verdict.NOT_MET: "running",
    Verdict.CANNOT_BE_MET: "running",
    Verdict.WAITING: "calibrating",
    Verdict.OFF: "not running",
}
