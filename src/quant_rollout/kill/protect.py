"""Kill criteria named by what they protect: losing money, the baseline, the proven level.

A trader does not think "a CUSUM from 0.03 to 0.0"; they think "stop this stage if it
loses money". :class:`Protect` takes that purpose and turns it into the two levels of
Page's CUSUM (E. S. Page, *Biometrika* 1954) on each trade's return per dollar, run
by :class:`~quant_rollout.kill.EvPerDollarCusum`:

================  =====================================  ===============================
``against``       unacceptable level (must be caught)    expected level (false kills
                                                         stated here)
================  =====================================  ===============================
losing_money      EV per dollar 0: break-even            ``expected``, else what the
                                                         stage proved at its gate
below_baseline    ``baseline``, the baseline's EV/$      the same
below_proven      ``unacceptable``, as given             the same
================  =====================================  ===============================

Why these two levels. A CUSUM tuned to separate an expected level ``g`` from an
unacceptable one ``b`` is, among all rules with the same false-alarm rate at ``g``,
the one that detects a change to ``b`` soonest in the worst case (Lorden 1971;
optimal exactly, Moustakides 1986). So the unacceptable level goes where the purpose
draws its line (0 for "losing money"), and the expected level where a kill would be a
mistake the trader cares about, with the false-kill chance stated there. The price is
the band between them: the chart's steps have mean ``k - r``, ``k = (g + b) / 2``, so a
stage whose EV per dollar lies below ``k`` drifts up and is killed sooner or later,
and one between ``k`` and ``g`` is killed more often than the stated chance. The
narrower the band, the longer a losing stage runs before it dies (about
``h / (k - b)`` trades, ``h`` the threshold, Siegmund 1985 ch. II). ``quant-rollout
plan`` shows the whole curve, in money, for each stage.

The measure is EV per dollar for every purpose: money is what the trader protects,
and pnl per dollar needs no payoff model at run time (a win rate's break-even does).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Optional, Tuple

from .._validate import check_number
from ..errors import ConfigError
from ..gates import GateProof, Judgement, PlanContext, PlanModel, Verdict
from ..trades import TradeOutcome
from .base import BuiltInKillCriterion, Idle, KillTrackerBase, _owner_check
from .ev_cusum import EvPerDollarCusum
from .models import KillModel

__all__ = ["PURPOSES", "Protect"]

PURPOSES = {
    "losing_money": "losing money (EV per dollar at or below 0)",
    "below_baseline": "doing worse than the baseline",
    "below_proven": "falling below what the stage proved at its gate",
}
"""What :class:`Protect` can protect against, with the words the plan uses."""


@dataclass(frozen=True)
class Protect(BuiltInKillCriterion):
    """Kill a stage that does what the trader wants protection from.

    ``Protect("losing_money")`` kills a stage whose EV per dollar has fallen to 0 or
    below, and a stage that makes ``expected`` per dollar or more only with chance
    ``false_kill_prob`` within ``horizon`` trades. See the module for the levels each
    purpose sets and why; the chart itself is an
    :class:`~quant_rollout.kill.EvPerDollarCusum` (its threshold bootstrapped from
    ``sample_returns`` or the stage's first ``calibration_trades`` returns).

    Attributes:
        against: ``"losing_money"``, ``"below_baseline"`` or ``"below_proven"``.
        expected: the EV per dollar (0.05 = 5 cents a dollar) of a stage that is doing
            fine: the false-kill chance is stated at this level. None = what the stage
            proved at its gate (:attr:`GateProof.ev_per_dollar_lower`, a confidence
            gate with an EV criterion); without either the criterion does not run.
        baseline: the baseline's EV per dollar, for ``below_baseline`` (required
            there, refused elsewhere). The rollout records only the proof of the gate
            into the current stage, so the baseline's level is declared: measure it
            on stage 0's trades (``quant-rollout plan --trades``, or its gate's proof
            shown by ``status`` at stage 1).
        unacceptable: the EV per dollar to catch, for ``below_proven`` (required
            there; the other purposes set it).
        false_kill_prob, horizon, trades_between_false_kills, sample_returns,
        calibration_trades, paths, seed: as for
            :class:`~quant_rollout.kill.EvPerDollarCusum`.

    Raises:
        ConfigError: an unknown purpose, a level the purpose needs and lacks or does
            not take, or a setting :class:`EvPerDollarCusum` refuses; each names the
            field and quotes the value.
    """

    kind: ClassVar[str] = "protect"

    against: str
    expected: Optional[float] = None
    baseline: Optional[float] = None
    unacceptable: Optional[float] = None
    false_kill_prob: Optional[float] = None
    horizon: Optional[int] = None
    trades_between_false_kills: Optional[float] = None
    sample_returns: Optional[Tuple[float, ...]] = None
    calibration_trades: int = 50
    paths: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        owner = "Protect"
        against = self.against
        if not isinstance(against, str) or against not in PURPOSES:
            raise ConfigError(
                f"{owner}.against must be one of {', '.join(PURPOSES)}, got {against!r}"
            )
        check_number(owner, "baseline", self.baseline, allow_none=True)
        check_number(owner, "unacceptable", self.unacceptable, allow_none=True)
        needs = {"below_baseline": "baseline", "below_proven": "unacceptable"}.get(against)
        for name in ("baseline", "unacceptable"):
            given = getattr(self, name) is not None
            if name == needs and not given:
                raise ConfigError(
                    f"{owner}.{name} is required with against={against!r}: the EV per dollar "
                    f"below which the stage is killed, got None"
                )
            if name != needs and given:
                only = "below_baseline" if name == "baseline" else "below_proven"
                _owner_check(
                    owner,
                    name,
                    False,
                    f"is only for against={only!r} (against={against!r} sets its own level)",
                    getattr(self, name),
                )
        try:
            _ = self.cusum  # the chart's own checks, worded for this class's fields
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("EvPerDollarCusum.", f"{owner}.")) from None

    @property
    def level(self) -> float:
        """The EV per dollar at or below which the stage must be killed."""
        if self.against == "losing_money":
            return 0.0
        level = self.baseline if self.against == "below_baseline" else self.unacceptable
        assert level is not None  # checked on construction
        return float(level)

    @property
    def cusum(self) -> EvPerDollarCusum:
        """The chart this purpose runs (its levels chosen as the module explains)."""
        return EvPerDollarCusum(
            unacceptable=self.level,
            expected=self.expected,
            false_kill_prob=self.false_kill_prob,
            horizon=self.horizon,
            trades_between_false_kills=self.trades_between_false_kills,
            sample_returns=self.sample_returns,
            calibration_trades=self.calibration_trades,
            paths=self.paths,
            seed=self.seed,
        )

    def describe_purpose(self) -> str:
        """The purpose in a trader's words, with its level."""
        if self.against == "losing_money":
            return PURPOSES["losing_money"]
        return f"{PURPOSES[self.against]} (EV per dollar at or below {self.level:+.4f})"

    def tracker(self, proof: Optional[GateProof]) -> KillTrackerBase:
        """The chart's tracker for a window, its reasons naming the purpose."""
        return _PurposeTracker(self.against, self.cusum.tracker(proof))

    def plan_model(self, context: PlanContext) -> PlanModel:
        """The chart's model (fast Monte Carlo), named by purpose, with a detection row
        at the level it must catch."""
        model = self.cusum.plan_model(context)
        if not isinstance(model, KillModel):
            return model
        return dataclasses.replace(
            model,
            text=f"protect against {self.against}: {model.text}",
            detect_ev=self.level,
            purpose=self.describe_purpose(),
        )


class _PurposeTracker(KillTrackerBase):
    """The chart's tracker, its reasons led by the purpose (``protect against
    losing_money: CUSUM ...``)."""

    def __init__(self, purpose: str, inner: KillTrackerBase) -> None:
        self.purpose = purpose
        self.inner = inner
        self.order_sensitive = inner.order_sensitive

    def add(self, trade: TradeOutcome) -> None:
        self.inner.add(trade)

    def state(self) -> Verdict:
        return self.inner.state()

    def progress(self) -> Optional[Tuple[float, float]]:
        return self.inner.progress()

    def judge(self) -> Judgement:
        judgement = self.inner.judge()
        reason = judgement.reason
        chart = "ev_per_dollar_cusum: "
        if reason.startswith(chart):
            reason = reason[len(chart) :]
        if judgement.verdict is Verdict.MET:
            reason = f"protect against {self.purpose}: {reason}"
        else:
            reason = f"against {self.purpose}: {reason}"
        return Judgement(judgement.verdict, reason)

    @property
    def idle(self) -> bool:
        """The chart cannot run in this window (no expected level)."""
        return isinstance(self.inner, Idle)
