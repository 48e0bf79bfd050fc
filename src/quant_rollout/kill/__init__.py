"""Kill switches: when the current stage's live results say "stop", revert to stage 0.

A :class:`KillSwitch` trips when ANY of its checks fires on the current stage's
evidence: 0.1's two lookback checks (``wr_lookback``/``wr_threshold`` and
``ev_lookback``/``ev_threshold``; set a threshold to None to switch one off) and the
criteria in its ``criteria`` tuple.

Built-in criteria
    * :class:`WinRateCusum` — Page's CUSUM on wins and losses (Page 1954), with its
      threshold solved exactly on the Markov chain of the chart (Brook & Evans 1972)
      for the false-kill rate you ask for.
    * :class:`EvPerDollarCusum` — the same idea on each trade's pnl per dollar, with a
      bootstrapped threshold (Efron 1979).
    * :class:`Protect` — the same chart named by its purpose, in a trader's words:
      ``Protect("losing_money")``, ``"below_baseline"`` or ``"below_proven"``; each
      sets the chart's two levels (:mod:`.protect` says which and why).
    * :class:`MaxDrawdown`, :class:`MaxConsecutiveLosses`, :class:`MaxDailyLoss` —
      plain risk limits.

    The sequential ones are set in a trader's words: the level the stage is expected
    to hold, the level that must be caught (``unacceptable``), and how rarely a
    strategy that holds its expected level may be killed (a chance within a number of
    trades, or the average number of trades between false kills). The expected level
    defaults to what the stage *proved* at its gate: the anytime-valid lower
    confidence bound recorded when the rollout advanced (:class:`~quant_rollout.gates.GateProof`).
    Not the observed rate: a stage passes its gate because it looked good, so its
    observed rate at that moment is biased upward; a CUSUM tuned to it kills a 65%
    strategy that passed a 55% confidence gate within 2,000 trades about a third of
    the time (an exact computation over the gate's passing times). A criterion whose
    expected level is unknown (a stage not entered through a gate: stage 0, a manual
    promote) and not given does not run, and ``status`` says so.

    Every built-in keeps its state in a tracker updated in O(1) per new trade
    (no rescans), created afresh for each window of evidence. Each latches within the
    window: once it fires it keeps firing.

Custom criteria
    Any :class:`~quant_rollout.gates.Criterion` subclass: one class that judges,
    explains, reports progress and is planned (see :mod:`quant_rollout.gates.criterion`);
    met means "kill". Subclass :class:`BuiltInKillCriterion` for one judged through a
    per-trade tracker. 0.2's duck-typed forms still work: an object with
    ``evaluate(trades) -> (tripped, reason)`` (the batch form, :class:`KillCriterion`:
    the stage's trades in time order in, the verdict out; it sees every trade of the
    window on every tick, so it costs what it reads), or with ``tracker(proof) ->
    KillTracker`` (the incremental form, :class:`IncrementalKillCriterion`). ``proof``
    is the :class:`~quant_rollout.gates.GateProof` of the current stage, or None. An
    optional ``name`` attribute names it in ``status``; a tracker's optional
    ``describe()`` says where it stands.

Modules: :mod:`.base` (interfaces, the built-in base, trackers), :mod:`.models` (what
criteria tell the planner), :mod:`.win_rate_cusum`, :mod:`.ev_cusum`, :mod:`.limits`,
:mod:`.protect` (the built-in criteria), :mod:`.switch` (the :class:`KillSwitch`).
"""

from __future__ import annotations

from typing import Mapping

from .base import (
    REGISTRY,
    BuiltInKillCriterion,
    IncrementalKillCriterion,
    KillCriterion,
    KillCriterionStatus,
    KillTracker,
    KillTrackerBase,
    criterion_name,
)
from .ev_cusum import EvPerDollarCusum
from .limits import MaxConsecutiveLosses, MaxDailyLoss, MaxDrawdown
from .models import KillModel
from .protect import PURPOSES, Protect
from .switch import KillSwitch
from .win_rate_cusum import WinRateCusum

__all__ = [
    "BUILTIN_CRITERIA",
    "PURPOSES",
    "BuiltInKillCriterion",
    "EvPerDollarCusum",
    "IncrementalKillCriterion",
    "KillCriterion",
    "KillCriterionStatus",
    "KillModel",
    "KillSwitch",
    "KillTracker",
    "KillTrackerBase",
    "MaxConsecutiveLosses",
    "MaxDailyLoss",
    "MaxDrawdown",
    "Protect",
    "WinRateCusum",
    "criterion_name",
]

BUILTIN_CRITERIA: Mapping[str, type] = REGISTRY
"""Kill criteria by ``kind``, the name configuration files use (every
:class:`BuiltInKillCriterion` subclass that sets ``kind``)."""
