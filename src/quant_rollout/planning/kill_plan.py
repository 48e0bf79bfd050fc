"""The kill switch's plan: its criteria asked for their models, stage by stage.

0.1's lookback windows are the switch's own fields; every criterion says how it is
followed (a :class:`~quant_rollout.kill.KillModel`), that it cannot run at a stage
(:class:`~quant_rollout.gates.NotPlanned`), or nothing, and is then simulated by
feeding it trades. A switch whose one running criterion is a chain on wins and losses
(:class:`~quant_rollout.kill.models.LossChain`) is exact; the rest is Monte Carlo, the
tables of one level sharing their runs and each shared criterion followed once.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Callable, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple

from ..gates import Criterion, Gate, GateProof, NotPlanned, PlanContext
from ..kill import KillModel, KillSwitch, criterion_name
from ..kill.models import DailyLoss, Drawdown, EvCusum, LossChain
from .exact import chain_alarm_cdf, window_least_wins
from .payoff import Payoff
from .report import EXACT, MONTE_CARLO, KillPlan, PlanRow, cdf_from_times
from .runs import Bootstrap, KillScan, KillTables
from .scans import (
    CriterionKillScan,
    CusumScan,
    DailyLossScan,
    DrawdownScan,
    EvCusumScan,
    StreakScan,
    WindowEv,
    WindowWins,
)
from .setting import PlanSetting

__all__ = ["StageKillModel", "plan_kills", "stage_kill_model"]

_Factories = Dict[Hashable, Callable[[], KillScan]]


@dataclass(frozen=True)
class StageKillModel:
    """The kill switch of one stage in the model's terms; equal models share one plan.

    ``simulated`` holds the indices (in the switch's ``criteria``) of criteria with no
    model, simulated with ``proof``, the least the stage proved at its gate.
    """

    text: Tuple[str, ...]
    tolerated: Optional[float]
    ev_tolerated: Optional[float]
    wr_window: Optional[Tuple[int, float]]
    ev_window: Optional[Tuple[int, float]]
    models: Tuple[KillModel, ...]
    simulated: Tuple[int, ...]
    proof: Optional[GateProof]
    notes: Tuple[str, ...]
    detects: Tuple[float, ...] = ()
    money: Tuple[float, ...] = ()
    purposes: Tuple[str, ...] = ()

    @property
    def exact(self) -> bool:
        """One chain criterion (a win-rate CUSUM or a streak) and nothing else."""
        others = self.wr_window or self.ev_window or self.simulated
        return (
            not others
            and all(isinstance(m.shape, LossChain) for m in self.models)
            and (len(self.models) <= 1)
        )


def stage_kill_model(
    kill: KillSwitch, gate_in: Optional[Gate], payoff: Payoff, trades_per_day: Optional[float]
) -> StageKillModel:
    """Ask each kill criterion for its model at a stage entered through ``gate_in``."""
    text: List[str] = []
    notes: List[str] = []
    tolerated: List[float] = []
    ev_tolerated: List[float] = []
    wr_window = ev_window = None
    if kill.wr_threshold is not None:
        wr_window = (kill.wr_lookback, float(kill.wr_threshold))
        text.append(f"win_rate({kill.wr_lookback}) < {kill.wr_threshold:.6g}")
        tolerated.append(float(kill.wr_threshold))
    if kill.ev_threshold is not None:
        ev_window = (kill.ev_lookback, float(kill.ev_threshold))
        text.append(f"ev_per_dollar({kill.ev_lookback}) < {kill.ev_threshold:.6g}")
        tolerated.append(payoff.win_rate_for_ev(kill.ev_threshold))
        ev_tolerated.append(float(kill.ev_threshold))
    proof = None if gate_in is None else gate_in.least_proof()
    context = PlanContext(proof, trades_per_day)
    left_out: Dict[str, List[str]] = {}  # why -> criteria
    models: List[KillModel] = []
    simulated: List[int] = []
    # Win rates given rows of their own: each criterion's level to catch (detects);
    # break-even, where money starts to be lost, each criterion's level where its false
    # kills are stated and the halfway level between the two (money).
    detects: List[float] = []
    money: List[float] = [payoff.win_rate_for_ev(0.0)]
    purposes: List[str] = []
    for i, c in enumerate(kill.criteria):
        model = c.plan_model(context) if isinstance(c, Criterion) else None
        if isinstance(model, NotPlanned):
            if model.why is not None:
                left_out.setdefault(model.why, []).append(criterion_name(c))
            notes.extend(model.notes)
        elif isinstance(model, KillModel):
            models.append(model)
            text.append(model.text)
            notes.extend(model.notes)
            if model.tolerated is not None:
                tolerated.append(model.tolerated)
            if model.tolerated_ev is not None:
                tolerated.append(payoff.win_rate_for_ev(model.tolerated_ev))
                ev_tolerated.append(model.tolerated_ev)
                money.append(payoff.win_rate_for_ev(model.tolerated_ev))
            # Halfway between the two levels a CUSUM's steps have mean 0 (about: exactly
            # for the EV chart): the edge of the band of levels it kills sooner or later.
            if model.detect is not None:
                detects.append(model.detect)
                if model.tolerated is not None:
                    money.append((model.detect + model.tolerated) / 2)
            if model.detect_ev is not None:
                money.append(payoff.win_rate_for_ev(model.detect_ev))
                if model.tolerated_ev is not None:
                    middle = (model.detect_ev + model.tolerated_ev) / 2
                    money.append(payoff.win_rate_for_ev(middle))
            if model.purpose is not None:
                purposes.append(model.purpose)
        else:
            name = criterion_name(c)
            simulated.append(i)
            text.append(name)
            notes.append(f"{name} has no exact model: simulated, asked after every trade")
    for why, names in left_out.items():
        notes.insert(0, f"{' and '.join(names)} left out: {why}")
    return StageKillModel(
        text=tuple(text),
        tolerated=max(tolerated) if tolerated else None,
        ev_tolerated=max(ev_tolerated) if ev_tolerated else None,
        wr_window=wr_window,
        ev_window=ev_window,
        models=tuple(models),
        simulated=tuple(simulated),
        proof=proof if simulated else None,
        notes=tuple(dict.fromkeys(notes)),
        detects=tuple(dict.fromkeys(detects)),
        money=tuple(dict.fromkeys(_tidy(d) for d in money if 0.0 < d < 1.0)),
        purposes=tuple(dict.fromkeys(purposes)),
    )


def _tidy(rate: float) -> float:
    """A win rate computed from an EV level, rid of float noise (0.5000000001 -> 0.5)."""
    return round(rate, 12)


def _exact_cdf(setting: PlanSetting, model: StageKillModel, p: float) -> List[float]:
    for m in model.models:
        if isinstance(m.shape, LossChain):
            chain = m.shape
            return chain_alarm_cdf(
                p, chain.win_units, chain.loss_units, chain.threshold, setting.horizon
            )
    return [0.0] * (setting.horizon + 1)


def _ev_cusum_design(
    setting: PlanSetting, shape: EvCusum, rows: str
) -> Optional[Tuple[float, float, int]]:
    """(reference, threshold, trades before the chart runs), or None if it never runs.

    A chart that calibrates on the stage's first trades is designed once, from a
    sample like the trades it would see at its expected level: the payoff's two
    returns in the expected proportion for win-rate rows, the trade history for EV
    rows (the bootstrap shifts the sample to the expected level either way).
    """
    expected = shape.expected
    if shape.sample_returns is not None:
        reference, threshold = shape.design(shape.sample_returns, expected)
        return reference, threshold, 0
    count = shape.calibration_trades
    payoff = setting.payoff
    if rows == "win_rate":
        wins = round(payoff.win_rate_for_ev(expected) * count)
        sample = [payoff.win] * wins + [-payoff.loss] * (count - wins)
    else:
        if setting.sample is None:
            return None
        sample = list(setting.sample[0])
    if len(set(sample)) < 2:
        return None
    reference, threshold = shape.design(sample, expected)
    return reference, threshold, count


def _scans(
    setting: PlanSetting, kill: KillSwitch, model: StageKillModel
) -> Tuple[_Factories, _Factories]:
    """The model's criteria as scans, keyed so that tables can share them.

    The first map is for win-rate runs (money windows as win counts under the
    payoff), the second for bootstrap runs.
    """
    payoff, tpd = setting.payoff, setting.tpd
    rate: _Factories = {}
    boot: _Factories = {}
    if model.wr_window is not None:
        lookback, threshold = model.wr_window
        least = window_least_wins(lookback, lambda m: not m.win_rate < threshold, payoff)
        rate[("wins", lookback, least)] = boot[("wins", lookback, least)] = functools.partial(
            WindowWins, lookback, least
        )
    if model.ev_window is not None:
        lookback, floor = model.ev_window
        least = window_least_wins(lookback, lambda m: not m.ev_per_dollar < floor, payoff)
        rate[("wins", lookback, least)] = functools.partial(WindowWins, lookback, least)
        boot[("ev", lookback, floor)] = functools.partial(WindowEv, lookback, floor)
    for m in model.models:
        shape = m.shape
        key: Hashable = shape
        if isinstance(shape, LossChain):
            if shape.loss_units == 1 and shape.win_units >= shape.threshold:
                # A win always resets the chart: a streak, found by a byte search.
                factory: Callable[[], KillScan] = functools.partial(StreakScan, shape.threshold)
            else:
                factory = functools.partial(
                    CusumScan, shape.win_units, shape.loss_units, shape.threshold
                )
            rate[key] = boot[key] = factory
        elif isinstance(shape, Drawdown):
            rate[key] = boot[key] = functools.partial(DrawdownScan, shape)
        elif isinstance(shape, DailyLoss):
            if tpd is not None:
                rate[key] = boot[key] = functools.partial(DailyLossScan, shape.loss, tpd)
        elif isinstance(shape, EvCusum):
            design = _ev_cusum_design(setting, shape, rows="win_rate")
            if design is not None:
                rate[("ev_cusum", design)] = functools.partial(EvCusumScan, *design, payoff)
            design = _ev_cusum_design(setting, shape, rows="ev_per_dollar")
            if design is not None:
                boot[("ev_cusum", design)] = functools.partial(EvCusumScan, *design)
    for i in model.simulated:
        key = ("criterion", i, model.proof)
        factory = functools.partial(CriterionKillScan, kill.criteria[i], model.proof, tpd)
        rate[key] = boot[key] = factory
    return rate, boot


def _fresh(
    factories: Mapping[Hashable, Callable[[], KillScan]],
) -> Callable[[], Mapping[Hashable, KillScan]]:
    """A function giving fresh scans (their state is per run) for every criterion."""

    def make() -> Mapping[Hashable, KillScan]:
        return {key: factory() for key, factory in factories.items()}

    return make


def _ev_rows(
    setting: PlanSetting,
    models: Sequence[StageKillModel],
    boot_scans: Sequence[_Factories],
    evs: Sequence[float],
) -> Dict[float, List[PlanRow]]:
    """Each model's row per true EV level, by bootstrap of the trade history (if any)."""
    by_ev: Dict[float, List[PlanRow]] = {}
    if setting.sample is None:
        return by_ev
    horizon = setting.horizon
    live = [i for i, m in enumerate(models) if m.text]
    scans = {k: v for i in live for k, v in boot_scans[i].items()}
    returns, sizes = setting.sample
    for ev in evs:
        rule = KillTables([list(boot_scans[i]) for i in live], _fresh(scans))
        found = setting.simulate(
            functools.partial(Bootstrap, returns, sizes, ev), rule, f"kill ev {ev!r}"
        )
        cdf_of = dict(zip(live, (cdf_from_times(t, horizon) for t in found)))
        never = [0.0] * (horizon + 1)
        by_ev[ev] = [
            setting.kill_row(
                cdf_of.get(i, never),
                ev,
                "ev_per_dollar",
                MONTE_CARLO if i in cdf_of else EXACT,
                m.ev_tolerated,
            )
            for i, m in enumerate(models)
        ]
    return by_ev


def _stage_models(setting: PlanSetting) -> Dict[StageKillModel, List[str]]:
    """Each distinct stage kill model, with the labels of the stages that have it."""
    config = setting.config
    groups: Dict[StageKillModel, List[str]] = {}
    for i, stage in enumerate(config.stages):
        gate_in = None if i == 0 else stage.gate
        model = stage_kill_model(config.kill_switch, gate_in, setting.payoff, setting.tpd)
        groups.setdefault(model, []).append(stage.label)
    return groups


def _win_rate_rows(
    setting: PlanSetting,
    models: Sequence[StageKillModel],
    rate_scans: Sequence[_Factories],
    levels: Sequence[float],
) -> Dict[float, List[PlanRow]]:
    """Each model's row per true win rate: exact for a lone chain, else one shared
    Monte Carlo per level."""
    horizon = setting.horizon
    sums = any(isinstance(k.shape, Drawdown) for m in models for k in m.models)
    trades = any(m.simulated for m in models) or (
        setting.tpd is not None
        and any(isinstance(k.shape, DailyLoss) for m in models for k in m.models)
    )
    simulated = [i for i, m in enumerate(models) if not m.exact and m.text]
    scans = {k: v for i in simulated for k, v in rate_scans[i].items()}
    rows: Dict[float, List[PlanRow]] = {}
    for p in levels:
        cdfs = {i: _exact_cdf(setting, m, p) for i, m in enumerate(models) if i not in simulated}
        if simulated:
            rule = KillTables([list(rate_scans[i]) for i in simulated], _fresh(scans))
            source = setting.bernoulli(p, sums=sums, trades=trades)
            found = setting.simulate(source, rule, f"kill win rate {p!r}")
            for i, times in zip(simulated, found):
                cdfs[i] = cdf_from_times(times, horizon)
        rows[p] = [
            setting.kill_row(
                cdfs[i], p, "win_rate", MONTE_CARLO if i in simulated else EXACT, m.tolerated
            )
            for i, m in enumerate(models)
        ]
    return rows


def _detects(model: StageKillModel) -> List[float]:
    return list(model.detects)


def _money(model: StageKillModel) -> List[float]:
    return list(model.money) if model.text else []


def _with_money(rows: Sequence[PlanRow], payoff: Payoff) -> Tuple[PlanRow, ...]:
    """Win-rate rows with the EV per dollar each level makes under the payoff."""
    return tuple(
        dataclasses.replace(r, ev_per_dollar=payoff.ev_per_dollar(r.level))
        if r.measure == "win_rate"
        else r
        for r in rows
    )


def plan_kills(
    setting: PlanSetting, rates: Sequence[float], evs: Sequence[float], drop: Optional[float]
) -> Tuple[KillPlan, ...]:
    """One plan per distinct kill model; stages whose models are equal share one.

    The Monte Carlo tables of a level share their runs, and a criterion they share
    is followed once.
    """
    groups = _stage_models(setting)
    models = list(groups)
    keyed = [_scans(setting, setting.config.kill_switch, m) for m in models]
    rate_scans = [r for r, _ in keyed]
    by_rate = _win_rate_rows(setting, models, rate_scans, rates)
    drops = [] if drop is None else [drop]
    for m in models:
        drops += _detects(m) + _money(m)
    levels = [d for d in dict.fromkeys(drops) if d not in rates]
    by_drop = _win_rate_rows(setting, models, rate_scans, levels)
    by_ev = _ev_rows(setting, models, [b for _, b in keyed], evs)
    payoff = setting.payoff
    return tuple(
        KillPlan(
            stages=tuple(groups[m]),
            kill_switch=" or ".join(m.text) if m.text else None,
            tolerated=m.tolerated,
            ev_tolerated=m.ev_tolerated,
            rows=_with_money([by_rate[p][i] for p in rates], payoff),
            detection=_with_money(
                [by_drop[d][i] for d in by_drop if d == drop or d in _detects(m)], payoff
            ),
            money=_with_money(
                [
                    by_drop[d][i]
                    for d in by_drop
                    if d in _money(m) and not (d == drop or d in _detects(m))
                ],
                payoff,
            ),
            ev_rows=tuple(by_ev[ev][i] for ev in by_ev) if m.text else (),
            notes=m.notes,
            break_even=_tidy(payoff.win_rate_for_ev(0.0)),
            purposes=m.purposes,
        )
        for i, m in enumerate(models)
    )
