"""Pre-flight: what a rollout configuration will do, before it trades a cent.

:func:`plan` answers, for a range of *true* win rates (and, given a trade history, of
true EV levels): how likely each gate is to pass within a horizon of trades and how
many trades (and days) that takes, and how likely the kill switch is to fire and how
soon. A gate that passes a strategy whose true win rate is at or below its bar is a
**false advance**; a kill switch that fires on a strategy meeting all its criteria is
a **false kill**. :func:`format_plan` prints the report as text tables.

The model
---------
* Trades are independent and identically distributed. Each wins (``pnl > 0``) with
  the true win rate ``p``.
* When only a win rate is given, the money side comes from a :class:`Payoff`: a winning
  trade makes ``win`` per dollar of size, a losing one loses ``loss`` per dollar, and
  every trade risks ``size`` dollars. The default is even money, +1/-1 per dollar of a
  $1 stake, so EV per dollar is ``2p - 1`` (p = 0.55 is 10 cents a dollar) and an EV
  floor such as the seed's 0.03 binds only below a win rate of 0.515. Given trades, the
  payoff is taken from them (:meth:`Payoff.from_trades`); or pass your own.
* Given trades, the EV rows resample those trades with replacement (a bootstrap,
  B. Efron, Ann. Statist. 7 (1979) 1-26), each return per dollar shifted by the same
  amount so that the total pnl / total size of the population is exactly the EV level
  of the row; sizes are drawn with their returns. Wins follow from the shifted returns.
* Each rule is planned on its own, from the first trade of a stage: a gate as if the
  kill switch never fired, the kill switch as if the stage never advanced. A gate
  "advances" when it first passes (when the veto window opens; an expiring window
  re-checks the gate, which is not modelled). The trades of stage ``k`` decide the gate
  of stage ``k + 1``, as in the rollout.
* Detection delay is counted from a stage whose true level is the lower one from its
  first trade: a parameter change that is bad is bad from the start.
* ``min_days_after_prev`` needs a trading pace: with ``trades_per_day`` the ``n``-th
  trade arrives on day ``n / trades_per_day``, so a gate cannot pass before trade
  ``floor(days * trades_per_day)``; without it the criterion is left out (and the
  report says so).

Methods
-------
Every criterion tells the planner its model
(:meth:`~quant_rollout.gates.Criterion.plan_model`); the planner never looks at a
criterion's class.

*exact*, where the model allows it:

* a gate whose criteria are functions of the stage's counts and sums (``min_n``,
  ``min_win_rate``, ``min_ev_per_dollar``, ``min_total_pnl``, and a confidence gate's
  win-rate test, which depends on (trades, wins) only): under a fixed payoff each is a
  least number of wins at each trade count, found by asking the criteria themselves,
  and a dynamic programme over (trades, wins) absorbs the mass that passes. Mass below 1e-18
  at the edges of the wins range is dropped; the total dropped is the row's
  ``error_bound``. For a confidence win-rate gate the figures are those of
  :func:`~quant_rollout.stats.win_rate_rejection_cdf`.
* a kill switch whose only running criterion is a win-rate CUSUM or a losing streak:
  the chart's Markov chain stepped forward (Brook & Evans 1972), as
  :func:`~quant_rollout.stats.cusum_alarm_probability` does.

*Monte Carlo* otherwise: 0.1's sliding windows ("the last 30 trades"), a confidence
gate's EV test (a bet on every trade, replayed by the criterion's own
:class:`~quant_rollout.gates.BettingScan`), the EV CUSUM, drawdown and daily-loss
limits, several criteria at once, every EV row, and any criterion with no model (a
custom one): it is fed each simulated trade and asked after each, as a rollout would.
``paths`` runs per row; run ``i`` of a row draws from its own generator, seeded from
(``seed``, the row, ``i``), so the figures are reproducible and do not depend on which
other rules are planned.
Probabilities carry their standard error ``sqrt(P(1 - P) / paths)``; quantiles one from
the order-statistic interval of the simulated distribution.

A kill criterion whose level defaults to what the stage proved at its gate (a CUSUM's
``expected``) is planned per stage, at the bar of the confidence gate the stage is
entered through (the least such a gate proves); where that level cannot be known in
advance (stage 0, a gate without that tested criterion) it is left out, and the report
says so. An EV CUSUM that calibrates on a stage's first trades is planned with the
design that trades at its expected level give (the payoff's two returns in that
proportion, or the trade history).

Nothing here touches a disk, a clock or the environment; randomness comes only from
``random.Random`` generators seeded as above.

Modules: :mod:`.planner` (:func:`plan`), :mod:`.gate_plan` and :mod:`.kill_plan`
(asking the criteria, computing the rows), :mod:`.exact`, :mod:`.runs` and
:mod:`.scans` (the methods), :mod:`.payoff`, :mod:`.report` and :mod:`.text` (the
model's money side, the report and its printing), :mod:`.setting` (what they share).
"""

from __future__ import annotations

from .payoff import Payoff
from .planner import (
    DEFAULT_EV_LEVELS,
    DEFAULT_HORIZON,
    DEFAULT_PATHS,
    DEFAULT_WIN_RATES,
    plan,
)
from .report import GatePlan, KillPlan, PlanReport, PlanRow
from .text import format_plan

__all__ = [
    "DEFAULT_EV_LEVELS",
    "DEFAULT_HORIZON",
    "DEFAULT_PATHS",
    "DEFAULT_WIN_RATES",
    "GatePlan",
    "KillPlan",
    "Payoff",
    "PlanReport",
    "PlanRow",
    "format_plan",
    "plan",
]
