"""The gate: the criteria a stage's evidence must meet before the rollout advances.

A :class:`Gate` is built from 0.1's fields (``min_n``, ``min_win_rate``, ...) and any
extra :class:`~quant_rollout.gates.Criterion` objects; it turns its fields into
criterion objects once (:attr:`Gate.checks`) and from then on only asks them: for
verdicts, reasons, progress and its proof. What each criterion measures lives in its
own class (:mod:`.basic`, :mod:`.win_rate`, :mod:`.ev`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from .._validate import check_fraction, check_int, check_non_negative, check_number
from ..calendar import Rule, Schedule, Window, parse_blackouts, parse_windows
from ..errors import ConfigError
from ..metrics import Metrics, compute_metrics
from ..stats import win_rate_lower_bound
from ..trades import TradeOutcome
from .basic import MinDaysAfterPrev, MinEvPerDollar, MinTotalPnl, MinTrades, MinWinRate
from .criterion import Criterion, CriterionTracker, EvidenceView, Verdict
from .ev import EvPerDollarShown, GateTracker
from .results import CriterionProgress, GateProof, GateResult, GateVerdict
from .win_rate import WinRateShown

__all__ = ["AnyGateTracker", "Gate", "GateTrackers"]


class GateTrackers:
    """The trackers of a gate whose extra criteria keep per-trade state, for one window.

    Fed each trade once, in time order; each criterion's tracker by its index in
    :attr:`Gate.checks`. (A gate whose only such criterion is its EV test uses a
    :class:`~quant_rollout.gates.GateTracker` alone, as in 0.2.)
    """

    order_sensitive = True
    complete_evidence = True  # a gate judges the complete prefix (see evidence.py)

    def __init__(self, by_index: Dict[int, CriterionTracker]) -> None:
        self.by_index = by_index

    def add(self, trade: TradeOutcome) -> None:
        """Feed one trade to every criterion's tracker."""
        for tracker in self.by_index.values():
            tracker.add(trade)


AnyGateTracker = Union[GateTracker, GateTrackers]


class _Built(NamedTuple):
    checks: Tuple[Criterion, ...]
    win_test: Optional[WinRateShown]
    ev_test: Optional[EvPerDollarShown]


def _aggregate(verdicts: Sequence[Verdict]) -> GateVerdict:
    if any(v is Verdict.CANNOT_BE_MET for v in verdicts):
        return GateVerdict.CANNOT_PASS
    if all(v is Verdict.MET for v in verdicts):
        return GateVerdict.PASS
    return GateVerdict.NOT_YET


@dataclass(frozen=True)
class Gate:
    """Pass/fail criteria for advancing to a stage.

    Attributes:
        min_n: at least this many trades in the previous stage's evidence.
        min_win_rate: win rate (0–1) at least this (with ``confidence``: shown to be
            above this).
        min_ev_per_dollar: total pnl / total size at least this (0.03 = 3 cents a dollar);
            ``None`` = no floor at all. With ``confidence``: shown to be above this.
        min_total_pnl: total pnl at least this, in account currency; ``None`` = no floor.
        min_days_after_prev: at least this many days since the previous stage began,
            measured with the rollout's clock (stage 0: since the rollout's first tick).
        confidence: None (0.1's point estimates) or a fraction in (0, 1) such as 0.95:
            the win-rate and EV criteria pass only when an anytime-valid test shows the
            true value is above the bar, so a stage at or below the bar passes with
            probability at most ``1 - confidence`` however often it is checked.
        max_loss_per_dollar: the most any trade can lose per dollar of size (1.0: an
            unlevered position can lose at most its stake; 0.02 with a 2% stop-loss).
            The EV test's only assumption; the tighter it is, the faster the test. A
            trade beyond it voids the EV criterion for the window (the reason says so).
        max_gain_per_dollar: the most any trade can win per dollar, or None (no limit).
            Only needed for the EV criterion's CANNOT_PASS verdict.
        revert_if_cannot_pass: when the verdict is CANNOT_PASS (the evidence shows the
            current stage is below this gate's bar), revert to stage 0 as a kill would,
            latched until cleared. Needs ``confidence``.
        max_trade_size: the largest size a trade of this stage may have, in account
            currency, or None. With it, the EV test holds for "total pnl / total size
            <= bar" however sizes relate to outcomes (bets linear in size); a larger
            trade voids the EV criterion for the window. Without it, the test assumes
            each trade's expected pnl per dollar, given its size, is at most the bar.
            Needs ``confidence``.
        criteria: more criteria (:class:`~quant_rollout.gates.Criterion` objects), all
            of which must be met too; checked after the built-in ones, in order.
        windows: when the gate may pass, as weekly windows in a time zone
            (``"mon-fri 09:00-17:00 America/New_York"``, see
            :mod:`quant_rollout.calendar`); empty: any time. Outside them the criteria
            are still judged and shown, but no veto window opens and nothing advances.
        blackouts: when it may not pass, whatever the windows say: dates, ranges,
            instants with a margin, weekly or cron rules (texts or rule objects). A
            veto window that runs out in one waits for its end.

    The gate is judged through its criteria (:attr:`checks`), one object each, built
    from the fields above: nothing here knows what a criterion measures.

    Raises:
        ConfigError: a field out of range (e.g. ``min_win_rate=60`` instead of 0.6).
    """

    min_n: int = 0
    min_win_rate: float = 0.0
    min_ev_per_dollar: Optional[float] = 0.0
    min_total_pnl: Optional[float] = None
    min_days_after_prev: float = 0.0
    confidence: Optional[float] = None
    max_loss_per_dollar: float = 1.0
    max_gain_per_dollar: Optional[float] = None
    revert_if_cannot_pass: bool = False
    criteria: Tuple[Criterion, ...] = ()
    windows: Tuple[Union[str, Window], ...] = ()
    blackouts: Tuple[Union[str, Rule], ...] = ()
    max_trade_size: Optional[float] = None

    def __post_init__(self) -> None:
        self._check_fields()
        # Read the calendar texts once, here: a bad one fails when the gate is built.
        object.__setattr__(self, "windows", parse_windows(self.windows, key="Gate.windows"))
        object.__setattr__(self, "blackouts", parse_blackouts(self.blackouts, key="Gate.blackouts"))
        self.schedule.check_can_open(key="Gate.blackouts")
        criteria = self.criteria
        if isinstance(criteria, (str, bytes)) or not isinstance(criteria, (tuple, list)):
            raise ConfigError(f"Gate.criteria must be a tuple of criteria, got {criteria!r}")
        for i, c in enumerate(criteria):
            if not isinstance(c, Criterion):
                raise ConfigError(
                    f"Gate.criteria[{i}] must be a Criterion (quant_rollout.gates), got {c!r}"
                )
        object.__setattr__(self, "criteria", tuple(criteria))

    def _check_fields(self) -> None:
        check_int("Gate", "min_n", self.min_n, minimum=0)
        check_fraction("Gate", "min_win_rate", self.min_win_rate)
        check_number("Gate", "min_ev_per_dollar", self.min_ev_per_dollar, allow_none=True)
        check_number("Gate", "min_total_pnl", self.min_total_pnl, allow_none=True)
        check_non_negative("Gate", "min_days_after_prev", self.min_days_after_prev)
        check_number("Gate", "confidence", self.confidence, allow_none=True)
        if self.confidence is not None and not 0.0 < self.confidence < 1.0:
            raise ConfigError(
                "Gate.confidence must be strictly between 0 and 1 (0.95 means 95%), "
                f"got {self.confidence!r}"
            )
        check_number("Gate", "max_loss_per_dollar", self.max_loss_per_dollar)
        if self.max_loss_per_dollar <= 0:
            raise ConfigError(
                "Gate.max_loss_per_dollar must be > 0 (1.0: a trade can lose at most its "
                f"size), got {self.max_loss_per_dollar!r}"
            )
        check_number("Gate", "max_gain_per_dollar", self.max_gain_per_dollar, allow_none=True)
        check_number("Gate", "max_trade_size", self.max_trade_size, allow_none=True)
        if self.max_trade_size is not None and not self.max_trade_size > 0:
            raise ConfigError(
                "Gate.max_trade_size must be > 0 (the largest size a trade may have, in "
                f"account currency), got {self.max_trade_size!r}"
            )
        if not isinstance(self.revert_if_cannot_pass, bool):
            raise ConfigError(
                "Gate.revert_if_cannot_pass must be true or false, got "
                f"{self.revert_if_cannot_pass!r}"
            )
        if self.confidence is None:
            for name, value, default in (
                ("max_gain_per_dollar", self.max_gain_per_dollar, None),
                ("revert_if_cannot_pass", self.revert_if_cannot_pass, False),
                ("max_trade_size", self.max_trade_size, None),
            ):
                if value != default:
                    raise ConfigError(
                        f"Gate.{name} only applies to a confidence gate; set confidence "
                        f"(e.g. 0.95) or drop it, got {value!r}"
                    )
            return
        if self.min_win_rate >= 1.0:
            raise ConfigError(
                "Gate.min_win_rate must be below 1 for a confidence gate (no evidence can "
                f"show a win rate above 100%), got {self.min_win_rate!r}"
            )
        bar = self.min_ev_per_dollar
        if bar is not None and bar <= -self.max_loss_per_dollar:
            raise ConfigError(
                f"Gate.min_ev_per_dollar must be above -max_loss_per_dollar="
                f"{-self.max_loss_per_dollar!r} (no trade returns less), got {bar!r}"
            )
        gain = self.max_gain_per_dollar
        if gain is not None and bar is not None and gain <= bar:
            raise ConfigError(
                f"Gate.max_gain_per_dollar must be above min_ev_per_dollar={bar!r}, got {gain!r}"
            )

    @functools.cached_property
    def schedule(self) -> Schedule:
        """When this gate may pass: its :attr:`windows` minus its :attr:`blackouts`."""
        return Schedule(parse_windows(self.windows), parse_blackouts(self.blackouts))

    # -- the criteria

    @functools.cached_property
    def _built(self) -> _Built:
        checks: List[Criterion] = [MinTrades(self.min_n)]
        win_test = ev_test = None
        if self.min_win_rate > 0:
            if self.confidence is None:
                checks.append(MinWinRate(self.min_win_rate))
            else:
                win_test = WinRateShown(self.min_win_rate, self.confidence)
                checks.append(win_test)
        # 0.1 checked EV/$ even at its 0.0 default, so a losing stage never passed.
        if self.min_ev_per_dollar is not None:
            if self.confidence is None:
                checks.append(MinEvPerDollar(self.min_ev_per_dollar))
            else:
                ev_test = EvPerDollarShown(
                    self.min_ev_per_dollar,
                    self.max_loss_per_dollar,
                    self.confidence,
                    self.max_gain_per_dollar,
                    self.max_trade_size,
                )
                checks.append(ev_test)
        if self.min_total_pnl is not None:
            checks.append(MinTotalPnl(self.min_total_pnl))
        if self.min_days_after_prev > 0:
            checks.append(MinDaysAfterPrev(self.min_days_after_prev))
        return _Built((*checks, *self.criteria), win_test, ev_test)

    @property
    def checks(self) -> Tuple[Criterion, ...]:
        """Every criterion of this gate, in the order they are checked (0.1's first)."""
        return self._built.checks

    @property
    def ev_test(self) -> Optional[EvPerDollarShown]:
        """The anytime-valid EV-per-dollar criterion of a confidence gate, else None."""
        return self._built.ev_test

    def least_proof(self) -> Optional[GateProof]:
        """The least this gate proves when it passes, as far as it is known in advance.

        A confidence gate's tested criteria prove at least their bars; other levels
        are known only when the gate passes (None in the proof). For the planner.
        """
        built = self._built
        return GateProof(
            n=0,
            win_rate=0.0,
            ev_per_dollar=0.0,
            win_rate_lower=None if built.win_test is None else float(built.win_test.bar),
            ev_per_dollar_lower=None if built.ev_test is None else float(built.ev_test.bar),
        )

    # -- trackers

    def tracker(self, *, bounds: bool = True) -> Optional[AnyGateTracker]:
        """A fresh tracker for a window of evidence, or None if no criterion needs one.

        Only a confidence gate with an EV criterion (a :class:`GateTracker`), or one
        with extra criteria that keep per-trade state (a :class:`GateTrackers`), needs
        one. Feed it every trade of the window in time order and pass it to
        :meth:`judge`. ``bounds=False`` skips the EV test's confidence bounds (same
        verdicts, about ten times cheaper: for simulations).
        """
        ev_test = self._built.ev_test
        found: Dict[int, CriterionTracker] = {}
        for i, c in enumerate(self.checks):
            tracker = c.tracker(None, bounds=bounds) if c is ev_test else c.tracker(None)
            if tracker is not None:
                found[i] = tracker
        if not found:
            return None
        if ev_test is not None and len(found) == 1:
            only = next(iter(found.values()))
            assert isinstance(only, GateTracker)
            return only
        return GateTrackers(found)

    def _views(
        self,
        metrics: Metrics,
        days_since_prev: Optional[float],
        tracker: object,
        now_us: Optional[int] = None,
    ) -> List[Tuple[Criterion, EvidenceView]]:
        """Each criterion with the data it is judged on (its own tracker among them)."""
        by_index: Dict[int, object] = {}
        if isinstance(tracker, GateTrackers):
            by_index = dict(tracker.by_index)
        elif tracker is not None and self._built.ev_test is not None:
            by_index = {self.checks.index(self._built.ev_test): tracker}
        return [
            (c, EvidenceView(metrics, by_index.get(i), days_since_prev, now_us))
            for i, c in enumerate(self.checks)
        ]

    # -- verdicts

    def evaluate(
        self,
        metrics: Metrics,
        *,
        days_since_prev: Optional[float] = None,
        tracker: Optional[AnyGateTracker] = None,
        now_us: Optional[int] = None,
    ) -> Tuple[bool, str]:
        """Return ``(passes, reason)``; reason is ``"ok"`` or the first failing criterion.

        Reasons read like ``n=5 < 10`` or ``win_rate=0.500 < 0.600``, as in 0.1.
        ``days_since_prev=None`` counts as 0 days. ``now_us`` (microseconds since the
        epoch, UTC) is handed to criteria that depend on the time of day or date. A
        confidence gate with an EV criterion needs ``tracker`` (see :meth:`tracker`)
        unless there are no trades.
        """
        result = self.judge(
            metrics, days_since_prev=days_since_prev, tracker=tracker, now_us=now_us
        )
        return result.passes, result.reason

    def verdict(
        self,
        metrics: Metrics,
        *,
        days_since_prev: Optional[float] = None,
        tracker: Optional[AnyGateTracker] = None,
        now_us: Optional[int] = None,
    ) -> GateVerdict:
        """The verdict alone, without a reason or bounds: O(1), for simulations."""
        views = self._views(metrics, days_since_prev, tracker, now_us)
        return _aggregate([c.verdict(view) for c, view in views])

    def judge(
        self,
        metrics: Metrics,
        *,
        days_since_prev: Optional[float] = None,
        tracker: Optional[AnyGateTracker] = None,
        now_us: Optional[int] = None,
    ) -> GateResult:
        """Like :meth:`evaluate`, with the three-way :class:`GateVerdict`.

        CANNOT_PASS names the first criterion shown to be below its bar; NOT_YET the
        first criterion not met, and for a tested criterion roughly how many more
        trades it needs at the observed rate. PASS says "ok", or what the criteria
        that have something to say showed (a confidence gate's bounds).
        """
        views = self._views(metrics, days_since_prev, tracker, now_us)
        verdicts = [c.verdict(view) for c, view in views]
        verdict = _aggregate(verdicts)
        if verdict is not GateVerdict.PASS:
            if verdict is GateVerdict.CANNOT_PASS:
                i = verdicts.index(Verdict.CANNOT_BE_MET)
            else:
                i = next(i for i, v in enumerate(verdicts) if v is not Verdict.MET)
            (c, view), estimate = views[i], verdict is GateVerdict.NOT_YET
            return GateResult(verdict, c.explain(view, verdicts[i], estimate=estimate))
        said = [c.explain(view, Verdict.MET) for c, view in views]
        return GateResult(verdict, "; ".join(s for s in said if s) or "ok")

    def judge_trades(
        self, trades: Sequence[TradeOutcome], *, days_since_prev: Optional[float] = None
    ) -> GateResult:
        """Judge a window of trades directly (any order; sorted by time here).

        Builds the metrics and, if the gate needs one, its tracker: O(len(trades)).
        """
        ordered = sorted(trades, key=lambda t: t.instant_us)
        tracker = self.tracker()
        if tracker is not None:
            for trade in ordered:
                tracker.add(trade)
        return self.judge(
            compute_metrics(ordered), days_since_prev=days_since_prev, tracker=tracker
        )

    def progress(
        self,
        metrics: Metrics,
        *,
        days_since_prev: Optional[float] = None,
        tracker: Optional[AnyGateTracker] = None,
        now_us: Optional[int] = None,
    ) -> Tuple[CriterionProgress, ...]:
        """Each criterion this gate sets, observed vs required, in the order they are checked.

        For a confidence gate's tested criteria the items carry the confidence bounds.
        """
        views = self._views(metrics, days_since_prev, tracker, now_us)
        return tuple(c.progress(view) for c, view in views)

    def proof(self, metrics: Metrics, *, tracker: Optional[AnyGateTracker] = None) -> GateProof:
        """What ``metrics`` (and ``tracker``) show, to record when this gate is passed.

        The win-rate bound is at this gate's confidence with its own test's prior when
        it has a tested win-rate criterion, else at 0.95 with a uniform prior.
        """
        built = self._built
        if built.win_test is not None:
            win_rate_lower = built.win_test.lower_bound(metrics.wins, metrics.n)
            if built.win_test.shown(metrics.wins, metrics.n):
                # The test rejected "win rate <= bar": that is itself the proof that
                # the rate is above the bar, whatever the bisection's last digit says.
                win_rate_lower = max(win_rate_lower, float(built.win_test.bar))
        else:
            confidence = 0.95 if self.confidence is None else self.confidence
            win_rate_lower = win_rate_lower_bound(metrics.wins, metrics.n, confidence)
        ev_lower = None
        if built.ev_test is not None:
            views = self._views(metrics, None, tracker)
            _, view = views[self.checks.index(built.ev_test)]
            ev_lower = built.ev_test.tracker_of(view).lower_bound
        return GateProof(
            n=metrics.n,
            win_rate=metrics.win_rate,
            ev_per_dollar=metrics.ev_per_dollar,
            win_rate_lower=win_rate_lower,
            ev_per_dollar_lower=ev_lower,
        )
