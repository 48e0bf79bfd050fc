"""Gates: the evidence a stage must show before the rollout may advance past it.

The gate of stage k+1 is judged on the trades of stage k (its evidence window).
Every criterion is optional. ``Gate()`` passes any evidence that is not losing money:
like quant-rollout 0.1, the EV-per-dollar floor defaults to 0.0 and is always checked
(a stage with negative EV does not advance). ``Gate(min_ev_per_dollar=None)`` drops
that floor and passes everything.

Confidence gates
    ``Gate(..., confidence=0.95)`` judges the win-rate and EV-per-dollar criteria on
    anytime-valid tests instead of point estimates: the criterion is met only when the
    evidence rejects "the true value is at or below the bar" at that confidence. The
    chance that a stage whose true win rate (or EV per dollar) is at or below the bar
    *ever* passes, however often ``tick`` runs and however long the stage lasts, is then
    at most ``1 - confidence`` for each window of evidence (a veto or a cleared kill
    starts a new window, and a new test). The other criteria (``min_n``,
    ``min_total_pnl``, ``min_days_after_prev``) stay as they are.

    * Win rate: :class:`WinRateShown` (:mod:`.win_rate`).
    * EV per dollar: :class:`EvPerDollarShown` (:mod:`.ev`), whose betting test needs
      every trade in time order, so it lives in a :class:`GateTracker` fed by the
      stage's evidence.

    A confidence gate's verdict is three-way: PASS, NOT_YET, or CANNOT_PASS when the
    mirror test shows the true value is *below* the bar (the anytime upper bound is
    under it), with the same error bound. For EV per dollar that side needs
    ``max_gain_per_dollar`` (with unbounded gains no test can show a mean is low).

Criteria
    Every criterion, built in or yours, is one :class:`Criterion` subclass
    (:mod:`.criterion`): it judges, explains, reports progress and tells the planner
    its model. The modules: :mod:`.criterion` (the abstraction and the shared verdict
    shape), :mod:`.results` (what a gate returns), :mod:`.basic`, :mod:`.win_rate` and
    :mod:`.ev` (the built-in criteria), :mod:`.gate` (the :class:`Gate`), :mod:`.text`
    (how reasons print figures).
"""

from __future__ import annotations

from .basic import (
    AtLeastCriterion,
    MinDaysAfterPrev,
    MinEvPerDollar,
    MinTotalPnl,
    MinTrades,
    MinWinRate,
)
from .criterion import (
    AfterDays,
    AtLeast,
    Criterion,
    CriterionTracker,
    EvidenceView,
    Judgement,
    Measure,
    NotPlanned,
    PlanContext,
    PlanModel,
    SequentialScan,
    SequentialTest,
    Verdict,
    WinsTest,
)
from .ev import BettingScan, EvPerDollarShown, GateTracker
from .gate import Gate, GateTrackers
from .results import CriterionProgress, GateProof, GateResult, GateVerdict
from .win_rate import WinRateShown

__all__ = [
    "AfterDays",
    "AtLeast",
    "AtLeastCriterion",
    "BettingScan",
    "Criterion",
    "CriterionProgress",
    "CriterionTracker",
    "EvPerDollarShown",
    "EvidenceView",
    "Gate",
    "GateProof",
    "GateResult",
    "GateTracker",
    "GateTrackers",
    "GateVerdict",
    "Judgement",
    "Measure",
    "MinDaysAfterPrev",
    "MinEvPerDollar",
    "MinTotalPnl",
    "MinTrades",
    "MinWinRate",
    "NotPlanned",
    "PlanContext",
    "PlanModel",
    "SequentialScan",
    "SequentialTest",
    "Verdict",
    "WinRateShown",
    "WinsTest",
]
