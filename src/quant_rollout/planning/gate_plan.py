"""A gate's plan: its criteria asked for their models, then each row computed.

Criteria whose models are functions of the stage's counts and sums
(:class:`~quant_rollout.gates.AtLeast`, :class:`~quant_rollout.gates.WinsTest`) are
exact under a fixed payoff: a least number of wins at each trade count, found by
asking the criteria themselves, and a first-passage programme. A criterion with a
sequential replay (:class:`~quant_rollout.gates.SequentialTest`) or with no model at
all is simulated, followed only as far as the cheap criteria hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

from ..arms import Experiment
from ..engine import Stage, windowed_gate
from ..gates import (
    AfterDays,
    AtLeast,
    Criterion,
    EvidenceView,
    Gate,
    Measure,
    NotPlanned,
    PlanContext,
    SequentialScan,
    SequentialTest,
    Verdict,
    WinsTest,
)
from ..metrics import Metrics
from ..stats.spending import window_confidence
from .exact import first_passage, least_wins, metrics_for
from .payoff import Payoff
from .report import EXACT, GatePlan, PlanRow, make_row
from .runs import GateRule, GateScan
from .scans import CriterionGateScan, LeastWins, MeasureScan, SequentialGateScan
from .setting import PlanSetting

__all__ = ["GateModel", "gate_model", "plan_gate"]


@dataclass(frozen=True)
class GateModel:
    """A gate in the model's terms, from what its criteria said.

    ``counts`` are the criteria exact under a payoff (functions of the stage's counts
    and sums); ``at_least`` the same as running measures against bars (for bootstrap
    runs), with ``wins_tests`` the ones that are functions of (trades, wins);
    ``sequential`` the replays of criteria that need every trade in order, and
    ``simulated`` the criteria with no model, asked trade by trade.
    """

    text: str
    bar: Optional[float]
    ev_bar: Optional[float]
    min_days: float
    n_floor: int
    notes: Tuple[str, ...]
    counts: Tuple[Criterion, ...]
    at_least: Tuple[Tuple[Measure, float], ...]
    wins_tests: Tuple[Criterion, ...]
    sequential: Tuple[Callable[[], SequentialScan], ...]
    simulated: Tuple[Criterion, ...]

    @property
    def exact(self) -> bool:
        """Every criterion is a function of the counts and sums."""
        return not self.sequential and not self.simulated


def _criteria_text(gate: Gate) -> str:
    """``n>=50, win_rate>=0.6``; a confidence gate's tested criteria read ``win_rate>0.6``
    and the confidence follows, as in ``quant-rollout validate``."""
    text = ", ".join(c.requirement() for c in gate.checks)
    if gate.confidence is not None:
        text += f" at {gate.confidence * 100:g}% confidence"
    return text


def gate_model(gate: Gate, payoff: Payoff, trades_per_day: Optional[float]) -> GateModel:
    """Ask each of the gate's criteria for its model.

    A confidence gate is modelled as the rollout judges a stage's first window of
    evidence: at that window's share of its level (:mod:`quant_rollout.stats.spending`).
    """
    day_notes: List[str] = []
    notes: List[str] = []
    text = _criteria_text(gate)
    if gate.confidence is not None:
        level = 1 - gate.confidence
        gate = windowed_gate(gate, 1)
        notes.append(
            f"a stage's first window is judged at {window_confidence(1 - level, 1):.2%} "
            f"confidence, its k-th at 1 - {level:g} * share(k) (a kill cleared, a veto or "
            f"a reset starts a new one), so that over all windows a false advance stays "
            f"within {level:.0%}"
        )
    if gate.max_trade_size is not None:
        notes.append(
            "max_trade_size is not modelled: the plan bets as 0.2 did, in proportion to "
            "size and capped (with one size, as here, that is faster than the rollout's "
            "test when the size is below max_trade_size)"
        )
    n_floor, min_days = 0, 0.0
    win_bars: List[float] = []
    ev_bars: List[float] = []
    counts: List[Criterion] = []
    at_least: List[Tuple[Measure, float]] = []
    wins_tests: List[Criterion] = []
    sequential: List[Callable[[], SequentialScan]] = []
    simulated: List[Criterion] = []
    context = PlanContext(None, trades_per_day)
    for c in gate.checks:
        model = c.plan_model(context)
        if isinstance(model, AfterDays):
            if trades_per_day is None:
                day_notes.append(f"{model.label} left out: give trades_per_day to count it")
            else:
                n_floor = max(n_floor, math.floor(model.days * trades_per_day + 1e-9))
                min_days = max(min_days, model.days)
        elif isinstance(model, AtLeast):
            counts.append(c)
            at_least.append((model.measure, model.bar))
            if model.measure is Measure.WIN_RATE:
                win_bars.append(model.bar)
            elif model.measure is Measure.EV_PER_DOLLAR:
                ev_bars.append(model.bar)
        elif isinstance(model, WinsTest):
            counts.append(c)
            wins_tests.append(c)
            win_bars.append(model.bar)
        elif isinstance(model, SequentialTest):
            sequential.append(model.scan)
            ev_bars.append(model.ev_bar)
            if payoff.loss > -model.void_below:
                notes.append(
                    f"the payoff's loss ({payoff.loss:g} per dollar) is beyond "
                    f"max_loss_per_dollar={-model.void_below:g}: the EV test is void at the "
                    "first loss, so the gate cannot pass"
                )
        elif isinstance(model, NotPlanned):
            if model.why is not None:
                notes.append(f"{c.name} left out: {model.why}")
            notes.extend(model.notes)
        else:
            simulated.append(c)
            notes.append(f"{c.name} has no exact model: simulated, asked after every trade")
    if gate.revert_if_cannot_pass:
        notes.append(
            "revert_if_cannot_pass is not modelled: P(advance) counts every pass as if "
            "a CANNOT_PASS verdict let the stage run on"
        )
    bars = win_bars + [payoff.win_rate_for_ev(b) for b in ev_bars]
    return GateModel(
        text=text,
        bar=max(bars) if bars else None,
        ev_bar=max(ev_bars) if ev_bars else None,
        min_days=min_days,
        n_floor=n_floor,
        notes=tuple(day_notes + notes),
        counts=tuple(counts),
        at_least=tuple(at_least),
        wins_tests=tuple(wins_tests),
        sequential=tuple(sequential),
        simulated=tuple(simulated),
    )


def _all_met(criteria: Sequence[Criterion], metrics: Metrics) -> bool:
    view = EvidenceView(metrics, None, math.inf)
    return all(c.verdict(view) is Verdict.MET for c in criteria)


def _counts_least_wins(model: GateModel, payoff: Payoff, horizon: int) -> List[int]:
    """The least wins at each n for which the counts criteria are met, asked of them."""

    def holds(n: int, wins: int) -> bool:
        return n >= model.n_floor and _all_met(model.counts, metrics_for(n, wins, payoff))

    return least_wins(horizon, holds)


def _wins_tests_least_wins(model: GateModel, horizon: int) -> Optional[List[int]]:
    """The criteria that are functions of (trades, wins) alone, as least wins at each n."""
    if not model.wins_tests:
        return None

    def holds(n: int, wins: int) -> bool:
        metrics = Metrics(n, wins, wins / n if n else 0.0, 0.0, 0.0, 0.0)
        return _all_met(model.wins_tests, metrics)

    return least_wins(horizon, holds)


def _lazy_scans(
    model: GateModel, trades_per_day: Optional[float]
) -> Callable[[], Sequence[GateScan]]:
    """Fresh scans of the criteria followed only where the cheap ones hold."""

    def make() -> Sequence[GateScan]:
        return (
            *(SequentialGateScan(scan()) for scan in model.sequential),
            *(CriterionGateScan(c, trades_per_day) for c in model.simulated),
        )

    return make


def _win_rate_rows(
    setting: PlanSetting, model: GateModel, num: int, rates: Sequence[float]
) -> List[PlanRow]:
    """A row per true win rate: exact when every criterion is, else Monte Carlo."""
    horizon, tpd = setting.horizon, setting.tpd
    least = setting.once(
        ("least wins", num), lambda: _counts_least_wins(model, setting.payoff, horizon)
    )

    def count_scans() -> Sequence[GateScan]:
        return (LeastWins(least),)

    rows: List[PlanRow] = []
    for p in rates:
        false_alarm = model.bar is not None and p <= model.bar
        if model.exact:
            cdf, dropped = first_passage(p, least, horizon)
            rows.append(
                make_row(
                    cdf,
                    level=p,
                    measure="win_rate",
                    method=EXACT,
                    false_alarm=false_alarm,
                    paths=None,
                    error_bound=dropped,
                    trades_per_day=tpd,
                    min_days=model.min_days,
                )
            )
            continue
        rows.append(
            setting.monte_carlo_row(
                GateRule(False, count_scans, _lazy_scans(model, tpd)),
                p,
                f"gate {num} win rate {p!r}",
                false_alarm=false_alarm,
                measure="win_rate",
                min_days=model.min_days,
                source=setting.bernoulli(p, sums=False, trades=True),
            )
        )
    return rows


def _ev_rows(
    setting: PlanSetting, model: GateModel, num: int, evs: Sequence[float]
) -> List[PlanRow]:
    """A row per true EV level, by bootstrap of the trade history (none without one)."""
    if setting.sample is None:
        return []
    passes_at_zero = model.exact and model.n_floor == 0 and _all_met(model.counts, Metrics.empty())
    wins_least = setting.once(
        ("wins tests", num), lambda: _wins_tests_least_wins(model, setting.horizon)
    )
    floor = max(
        [model.n_floor]
        + [math.ceil(bar) for measure, bar in model.at_least if measure is Measure.TRADES]
    )
    at_least = [(m, bar) for m, bar in model.at_least if m is not Measure.TRADES]

    def measure_scans() -> Sequence[GateScan]:
        return (MeasureScan(floor, wins_least, at_least),)

    rule = GateRule(passes_at_zero, measure_scans, _lazy_scans(model, setting.tpd))
    return [
        setting.monte_carlo_row(
            rule,
            ev,
            f"gate {num} ev {ev!r}",
            false_alarm=model.ev_bar is not None and ev <= model.ev_bar,
            min_days=model.min_days,
        )
        for ev in evs
    ]


def plan_gate(
    setting: PlanSetting,
    before: Stage,
    after: Stage,
    rates: Sequence[float],
    evs: Sequence[float],
) -> GatePlan:
    """The plan of the gate into ``after``, judged on the trades of ``before``."""
    gate = after.gate
    if before.experiment is not None:
        text, notes = _experiment_text(before.experiment)
        return GatePlan(before.label, after.label, None, None, None, (), (), notes, experiment=text)
    if gate is None:
        return GatePlan(before.label, after.label, None, None, None, (), (), ())
    model = gate_model(gate, setting.payoff, setting.tpd)
    return GatePlan(
        from_stage=before.label,
        to_stage=after.label,
        gate=model.text,
        bar=model.bar,
        ev_bar=model.ev_bar,
        rows=tuple(_win_rate_rows(setting, model, after.num, rates)),
        ev_rows=tuple(_ev_rows(setting, model, after.num, evs)),
        notes=model.notes,
    )


def _experiment_text(experiment: Experiment) -> Tuple[str, Tuple[str, ...]]:
    """What decides the move out of an experiment stage, and where its figures are."""
    arms = ", ".join(
        f"{arm.name} {weight:.0%}" for arm, weight in zip(experiment.arms, experiment.weights)
    )
    text = (
        f"the experiment decides: arms {arms} (control {experiment.control!r}); a candidate "
        f"better than control by more than {experiment.margin:g} on "
        f"{experiment.metric.value} at {experiment.confidence:g} confidence wins, and its "
        "params run here after the veto window"
    )
    weight = next(
        w for arm, w in zip(experiment.arms, experiment.weights) if arm.name != experiment.control
    )
    notes = (
        "an experiment compares arms run side by side, not a stage against a bar, so it has "
        "no rows here: for the chance and the trades to declare a better candidate, and the "
        "false-winner rate at equal arms, run `quant-rollout plan-experiment --confidence "
        f"{experiment.confidence:g} --margin {experiment.margin:g} --weight {weight:g}` "
        "(on win rate)",
    )
    return text, notes
