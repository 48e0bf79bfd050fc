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
    Any object with ``evaluate(trades) -> (tripped, reason)`` (the batch form,
    :class:`KillCriterion`: the stage's trades in time order in, the verdict out; it
    sees every trade of the window on every tick, so it costs what it reads), or with
    ``tracker(proof) -> KillTracker`` (the incremental form,
    :class:`IncrementalKillCriterion`: a tracker whose ``add(trade)`` is called once
    per trade in time order and whose ``verdict()`` is asked on every tick). ``proof``
    is the :class:`~quant_rollout.gates.GateProof` of the current stage, or None. An
    optional ``name`` attribute names it in ``status``; a tracker's optional
    ``describe()`` says where it stands.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from typing import (
    Any,
    ClassVar,
    Dict,
    List,
    Mapping,
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
from ..evidence import StageEvidence, TrackerKey, kill_tracker_key
from ..gates import GateProof
from ..metrics import compute_metrics
from ..stats import BernoulliCusum, EvCusum, cusum_threshold, ev_cusum_threshold
from ..trades import TradeOutcome, format_instant

__all__ = [
    "BUILTIN_CRITERIA",
    "EvPerDollarCusum",
    "IncrementalKillCriterion",
    "KillCriterion",
    "KillCriterionStatus",
    "KillSwitch",
    "KillTracker",
    "MaxConsecutiveLosses",
    "MaxDailyLoss",
    "MaxDrawdown",
    "WinRateCusum",
    "criterion_name",
]

Verdict = Tuple[bool, Optional[str]]


# ----------------------------------------------------------------------------- interfaces


@runtime_checkable
class KillTracker(Protocol):
    """The incremental state of one kill criterion over one window of evidence.

    ``add`` is called once per trade of the window, in time order (the window is
    rebuilt when a trade arrives late), and should cost O(1); ``verdict`` is asked on
    every tick and returns ``(tripped, reason)``, reason None when not tripped. Set
    ``order_sensitive`` when the result depends on the order of the trades.
    """

    order_sensitive: bool

    def add(self, trade: TradeOutcome) -> None: ...

    def verdict(self) -> Verdict: ...


class KillCriterion(Protocol):
    """A kill criterion in batch form: the stage's trades in time order in, verdict out."""

    def evaluate(self, trades: Sequence[TradeOutcome]) -> Verdict: ...


class IncrementalKillCriterion(Protocol):
    """A kill criterion in incremental form: a fresh tracker for each window of evidence.

    ``proof`` is what the current stage proved at its gate (None when it was not
    entered through a gate), for criteria whose levels default to it.
    """

    def tracker(self, proof: Optional[GateProof]) -> KillTracker: ...


AnyKillCriterion = Union[KillCriterion, IncrementalKillCriterion]


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
        check_int(owner, "horizon", horizon, minimum=1)
    return _Target(
        None,
        _DEFAULT_HORIZON if horizon is None else horizon,
        _DEFAULT_FALSE_KILL_PROB if false_kill_prob is None else float(false_kill_prob),
    )


class _Idle:
    """The tracker of a criterion that cannot run in this window; it never trips."""

    order_sensitive = False

    def __init__(self, why: str) -> None:
        self.why = why

    def add(self, trade: TradeOutcome) -> None:
        pass

    def verdict(self) -> Verdict:
        return False, None

    def describe(self) -> str:
        return f"not running: {self.why}"


class _BuiltIn:
    """What every built-in criterion shares: its name and a batch verdict by replay."""

    kind: ClassVar[str]

    @property
    def name(self) -> str:
        return self.kind

    def tracker(self, proof: Optional[GateProof]) -> KillTracker:
        raise NotImplementedError

    def evaluate(
        self, trades: Sequence[TradeOutcome], proof: Optional[GateProof] = None
    ) -> Verdict:
        """The verdict on a whole window of trades (any order; sorted by time here)."""
        tracker = self.tracker(proof)
        for trade in sorted(trades, key=lambda t: t.instant_us):
            tracker.add(trade)
        return tracker.verdict()


# ----------------------------------------------------------------------------- win-rate CUSUM


@functools.lru_cache(maxsize=256)
def _win_rate_threshold(p0: float, p1: float, target: _Target) -> float:
    """The chart's threshold, solved once per (levels, target): about a second each."""
    if target.arl0 is not None:
        return cusum_threshold(p0, p1, arl0=target.arl0)
    return cusum_threshold(p0, p1, horizon=target.horizon, false_alarm_prob=target.probability)


@dataclass(frozen=True)
class WinRateCusum(_BuiltIn):
    """Kill when the win rate has fallen from its expected level toward an unacceptable one.

    Page's CUSUM of the log-likelihood ratio of ``unacceptable`` against ``expected``
    over wins (pnl > 0) and losses (everything else), on the integer scores of
    :class:`~quant_rollout.stats.BernoulliCusum`, so the false-kill figures are exact:
    the threshold is the smallest that meets the target on the chart's Markov chain
    (:func:`~quant_rollout.stats.cusum_threshold`; solved once per levels and target,
    about a second, then cached). With expected 0.65, unacceptable 0.45 and the default
    target, a drop to 45% is caught after about 85 trades on average.

    Attributes:
        unacceptable: the win rate (0–1) that must be caught, below the expected level.
        expected: the win rate (0–1) the stage holds when all is well; None = what the
            stage proved at its gate (:attr:`GateProof.win_rate_lower`, rounded down
            to a hundredth). The false-kill target holds for a strategy at this level
            (better ones are killed less often, worse ones more).
        false_kill_prob: the chance that a strategy at the expected level is killed
            within ``horizon`` trades; default 0.05.
        horizon: trades for ``false_kill_prob``; default 2,000.
        trades_between_false_kills: instead of those two, the average number of
            trades between false kills (the in-control average run length).

    Raises:
        ConfigError: a level outside (0, 1), ``expected`` not above ``unacceptable``,
            or both kinds of target given.
    """

    kind: ClassVar[str] = "win_rate_cusum"

    unacceptable: float
    expected: Optional[float] = None
    false_kill_prob: Optional[float] = None
    horizon: Optional[int] = None
    trades_between_false_kills: Optional[float] = None

    def __post_init__(self) -> None:
        owner = "WinRateCusum"
        _open_fraction(owner, "unacceptable", self.unacceptable)
        if self.expected is not None:
            _open_fraction(owner, "expected", self.expected)
            _owner_check(
                owner,
                "expected",
                self.expected > self.unacceptable,
                f"must be above unacceptable={self.unacceptable!r}",
                self.expected,
            )
        _target(owner, self.false_kill_prob, self.horizon, self.trades_between_false_kills)

    @property
    def target(self) -> _Target:
        """The false-kill target with the defaults filled in."""
        return _target(
            "WinRateCusum", self.false_kill_prob, self.horizon, self.trades_between_false_kills
        )

    def threshold(self, expected: float) -> float:
        """The chart's threshold in nats for this expected level (cached)."""
        return _win_rate_threshold(float(expected), float(self.unacceptable), self.target)

    def tracker(self, proof: Optional[GateProof]) -> KillTracker:
        """A fresh chart for a window; idle when no expected level is known."""
        expected = self.expected
        if expected is None:
            why = _no_level(proof, proof.win_rate_lower if proof else None, "win rate")
            if why is None:
                assert proof is not None
                assert proof.win_rate_lower is not None
                # Rounded down to a hundredth: still a level the stage proved, and the
                # threshold (about a second to solve) is then shared by nearby proofs.
                expected = math.floor(proof.win_rate_lower * 100 + 1e-9) / 100
                if expected <= self.unacceptable:
                    why = (
                        f"the stage's gate proved a win rate of at least {expected:.3f}, not "
                        f"above the unacceptable {self.unacceptable:.3f}; set expected= to "
                        "run it"
                    )
            if why is not None:
                return _Idle(why)
        assert expected is not None
        return _WinRateCusumTracker(self, expected)


def _no_level(proof: Optional[GateProof], level: Optional[float], what: str) -> Optional[str]:
    if proof is None:
        return (
            f"no expected {what}: this stage was not entered through a gate (stage 0, or "
            "promoted by hand), so it proved nothing; set expected= to run it here"
        )
    if level is None:
        return (
            f"the stage's gate proved no {what} (only a confidence gate with an "
            f"{'EV' if what != 'win rate' else 'win-rate'} criterion does); set expected= "
            "to run it"
        )
    return None


class _WinRateCusumTracker:
    order_sensitive = True

    def __init__(self, criterion: WinRateCusum, expected: float) -> None:
        self.criterion = criterion
        self.expected = expected
        self.chart = BernoulliCusum(expected, criterion.unacceptable, criterion.threshold(expected))
        # Trades since the chart last stood at 0: the run that is pushing it up.
        self.run_n = 0
        self.run_wins = 0

    def add(self, trade: TradeOutcome) -> None:
        chart = self.chart
        if chart.alarmed:
            return  # latched: keep the figures of the trade that fired it
        win = trade.pnl > 0
        chart.update(win)
        if chart.state_units == 0:
            self.run_n = self.run_wins = 0
        else:
            self.run_n += 1
            self.run_wins += int(win)

    def _figures(self) -> str:
        run = (
            f"win rate {self.run_wins / self.run_n:.3f} over the last {self.run_n} trades; "
            if self.run_n
            else ""
        )
        return (
            f"({run}expected {self.expected:.3f}, unacceptable {self.criterion.unacceptable:.3f})"
        )

    def verdict(self) -> Verdict:
        chart = self.chart
        if not chart.alarmed:
            return False, None
        return True, (
            f"win_rate_cusum: CUSUM {chart.statistic:.2f} >= {chart.h:.2f} after "
            f"{chart.n} trades {self._figures()}"
        )

    def describe(self) -> str:
        chart = self.chart
        return (
            f"CUSUM {chart.statistic:.2f} of {chart.h:.2f} after {chart.n} trades "
            f"{self._figures()}; {self.criterion.target.text()}"
        )


# ----------------------------------------------------------------------------- EV CUSUM

# An ARL target is met by bootstrap as a chance within this many trades, assuming
# (as holds closely for a CUSUM with a large ARL) that run lengths are exponential.
_EV_ARL_HORIZON = 2000


@functools.lru_cache(maxsize=256)
def _ev_design(
    sample: Tuple[float, ...],
    expected: float,
    unacceptable: float,
    horizon: int,
    probability: float,
    paths: int,
    seed: int,
) -> Tuple[float, float]:
    """(reference, threshold) by bootstrap, once per inputs (a fraction of a second)."""
    design = ev_cusum_threshold(
        sample, expected, unacceptable, horizon, probability, random.Random(seed), paths=paths
    )
    return design.reference, design.threshold


@dataclass(frozen=True)
class EvPerDollarCusum(_BuiltIn):
    """Kill when the EV per dollar has fallen from its expected level toward an unacceptable one.

    Page's CUSUM on each trade's return per dollar ``r = pnl / size`` (every trade
    counts equally; trades of size 0 are skipped): ``S = max(0, S + k - r)`` with
    ``k`` halfway between the two levels, killing when ``S`` reaches the threshold
    (:class:`~quant_rollout.stats.EvCusum`). Returns have no standard shape, so the
    threshold is found by bootstrap (:func:`~quant_rollout.stats.ev_cusum_threshold`,
    Efron 1979): ``paths`` simulated in-control paths of ``horizon`` trades drawn from
    a sample of returns shifted to the expected mean (so only the sample's shape
    matters: spread, skew, tails), the threshold that at most ``false_kill_prob`` of
    them reach. The sample is ``sample_returns`` if given, else the stage's own first
    ``calibration_trades`` returns, during which the chart does not run yet (the other
    criteria do). The design is computed once per sample and levels and cached (about
    0.3 s for 2,000 paths of 2,000 trades) and is seeded, so it is reproducible. The
    false-kill chance is an estimate: the sample stands in for the unknown law of
    returns, and a small calibration sample understates rare large losses.

    Attributes:
        unacceptable: the EV per dollar that must be caught (0.0: break-even), below
            the expected level.
        expected: the EV per dollar the stage holds when all is well; None = what its
            gate proved (:attr:`GateProof.ev_per_dollar_lower`, known only after a
            confidence gate with an EV criterion). Compared with per-trade returns,
            so with very unequal sizes give it explicitly.
        false_kill_prob, horizon: the chance of a false kill within ``horizon`` trades
            (default 0.05 within 2,000).
        trades_between_false_kills: instead, the average trades between false kills;
            met as the chance ``1 - exp(-h/ARL)`` within ``h = min(ARL, 2000)`` trades,
            as if run lengths were exponential (close for a CUSUM with a large ARL).
        sample_returns: returns per dollar (pnl/size) to bootstrap from, at least 2,
            not all equal; None = the stage's own first trades.
        calibration_trades: how many of the stage's trades form the sample when
            ``sample_returns`` is None, >= 2.
        paths: bootstrap paths, >= 100.
        seed: the bootstrap's random seed.

    Raises:
        ConfigError: a bad level, sample or setting, naming the field.
    """

    kind: ClassVar[str] = "ev_per_dollar_cusum"

    unacceptable: float
    expected: Optional[float] = None
    false_kill_prob: Optional[float] = None
    horizon: Optional[int] = None
    trades_between_false_kills: Optional[float] = None
    sample_returns: Optional[Tuple[float, ...]] = None
    calibration_trades: int = 50
    paths: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        owner = "EvPerDollarCusum"
        check_number(owner, "unacceptable", self.unacceptable)
        check_number(owner, "expected", self.expected, allow_none=True)
        if self.expected is not None:
            _owner_check(
                owner,
                "expected",
                self.expected > self.unacceptable,
                f"must be above unacceptable={self.unacceptable!r}",
                self.expected,
            )
        _target(owner, self.false_kill_prob, self.horizon, self.trades_between_false_kills)
        if self.sample_returns is not None:
            sample = self.sample_returns
            if isinstance(sample, (str, bytes)) or not isinstance(sample, Sequence):
                raise ConfigError(
                    f"{owner}.sample_returns must be a list of returns per dollar, got {sample!r}"
                )
            for i, r in enumerate(sample):
                check_number(owner, f"sample_returns[{i}]", r)
            _owner_check(
                owner,
                "sample_returns",
                len(sample) >= 2 and len(set(sample)) > 1,
                "must hold at least 2 returns that are not all equal",
                sample,
            )
            object.__setattr__(self, "sample_returns", tuple(float(r) for r in sample))
        check_int(owner, "calibration_trades", self.calibration_trades, minimum=2)
        check_int(owner, "paths", self.paths, minimum=100)
        check_int(owner, "seed", self.seed, minimum=0)

    @property
    def target(self) -> _Target:
        """The false-kill target with the defaults filled in."""
        return _target(
            "EvPerDollarCusum", self.false_kill_prob, self.horizon, self.trades_between_false_kills
        )

    def design(self, sample: Sequence[float], expected: float) -> Tuple[float, float]:
        """(reference, threshold) per dollar for a bootstrap sample and expected level."""
        target = self.target
        if target.arl0 is not None:
            horizon = min(math.ceil(target.arl0), _EV_ARL_HORIZON)
            probability = -math.expm1(-horizon / target.arl0)
        else:
            horizon, probability = target.horizon, target.probability
        return _ev_design(
            tuple(float(r) for r in sample),
            float(expected),
            float(self.unacceptable),
            horizon,
            probability,
            self.paths,
            self.seed,
        )

    def tracker(self, proof: Optional[GateProof]) -> KillTracker:
        """A fresh chart for a window; idle when no expected level is known."""
        expected = self.expected
        if expected is None:
            why = _no_level(proof, proof.ev_per_dollar_lower if proof else None, "EV per dollar")
            if why is None:
                assert proof is not None
                assert proof.ev_per_dollar_lower is not None
                expected = proof.ev_per_dollar_lower
                if expected <= self.unacceptable:
                    why = (
                        f"the stage's gate proved an EV per dollar of at least {expected:.4f}, "
                        f"not above the unacceptable {self.unacceptable:.4f}; set expected= "
                        "to run it"
                    )
            if why is not None:
                return _Idle(why)
        assert expected is not None
        return _EvCusumTracker(self, expected)


class _EvCusumTracker:
    order_sensitive = True

    def __init__(self, criterion: EvPerDollarCusum, expected: float) -> None:
        self.criterion = criterion
        self.expected = expected
        self.chart: Optional[EvCusum] = None
        self.sample: List[float] = []
        self.broken: Optional[str] = None
        self.run_n = 0
        self.run_sum = 0.0
        if criterion.sample_returns is not None:
            self._start(criterion.sample_returns)

    def _start(self, sample: Sequence[float]) -> None:
        if len(set(sample)) < 2:
            self.broken = (
                f"the stage's first {len(sample)} returns are all equal, so they say nothing "
                "about the spread to bootstrap from; give sample_returns"
            )
            return
        reference, threshold = self.criterion.design(sample, self.expected)
        self.chart = EvCusum(reference, threshold)

    def add(self, trade: TradeOutcome) -> None:
        pnl, size = float(trade.pnl), float(trade.size)
        if size <= 0.0 or self.broken is not None:
            return
        chart = self.chart
        if chart is None:
            self.sample.append(pnl / size)
            if len(self.sample) >= self.criterion.calibration_trades:
                self._start(self.sample)
            return
        if chart.alarmed:
            return
        chart.update(pnl, size)
        if chart.statistic == 0.0:
            self.run_n, self.run_sum = 0, 0.0
        else:
            self.run_n += 1
            self.run_sum += pnl / size

    def _figures(self) -> str:
        run = (
            f"return per dollar {self.run_sum / self.run_n:.4f} over the last {self.run_n} trades; "
            if self.run_n
            else ""
        )
        return (
            f"({run}expected {self.expected:.4f}, unacceptable {self.criterion.unacceptable:.4f})"
        )

    def verdict(self) -> Verdict:
        chart = self.chart
        if chart is None or not chart.alarmed:
            return False, None
        return True, (
            f"ev_per_dollar_cusum: CUSUM {chart.statistic:.4f} >= {chart.threshold:.4f} "
            f"after {chart.n} trades {self._figures()}"
        )

    def describe(self) -> str:
        if self.broken is not None:
            return f"not running: {self.broken}"
        chart = self.chart
        if chart is None:
            return (
                f"calibrating: {len(self.sample)} of {self.criterion.calibration_trades} "
                "trades for the bootstrap sample"
            )
        return (
            f"CUSUM {chart.statistic:.4f} of {chart.threshold:.4f} after {chart.n} trades "
            f"{self._figures()}; {self.criterion.target.text()}"
        )


# ----------------------------------------------------------------------------- risk limits


def _money(value: float) -> str:
    return f"{value:,.2f}"


@dataclass(frozen=True)
class MaxDrawdown(_BuiltIn):
    """Kill when the stage's equity has fallen too far from its high-water mark.

    The stage's equity curve is the running sum of its trades' pnl in time order,
    starting at 0 (plus ``capital``). Money, not percentages: a $100 loss on a $1,000
    position weighs ten times a $10 loss on $100, whatever their returns per dollar.
    The high-water mark is the highest point so far, including the start; the
    drawdown is the high-water mark minus the current equity.

    Attributes:
        loss: kill when the drawdown reaches this, in account currency.
        fraction: kill when the drawdown reaches this fraction (0–1) of the equity at
            the high-water mark, ``capital + peak pnl``.
        capital: the account's equity when the stage began, in account currency;
            required with ``fraction``.

    Raises:
        ConfigError: neither limit given, a limit not > 0, or ``fraction`` without
            ``capital``.
    """

    kind: ClassVar[str] = "max_drawdown"

    loss: Optional[float] = None
    fraction: Optional[float] = None
    capital: Optional[float] = None

    def __post_init__(self) -> None:
        owner = "MaxDrawdown"
        if self.loss is None and self.fraction is None:
            raise ConfigError(
                "MaxDrawdown needs loss (account currency) or fraction (of peak equity, "
                "with capital)"
            )
        check_number(owner, "loss", self.loss, allow_none=True)
        if self.loss is not None:
            _owner_check(owner, "loss", self.loss > 0, "must be > 0 (account currency)", self.loss)
        if self.fraction is not None:
            _open_fraction(owner, "fraction", self.fraction)
            if self.capital is None:
                raise ConfigError(
                    "MaxDrawdown.capital is needed with fraction: the account's equity "
                    "when the stage began, in account currency"
                )
        check_number(owner, "capital", self.capital, allow_none=True)
        if self.capital is not None:
            _owner_check(owner, "capital", self.capital > 0, "must be > 0", self.capital)

    def tracker(self, proof: Optional[GateProof]) -> KillTracker:
        return _DrawdownTracker(self)


class _DrawdownTracker:
    order_sensitive = True

    def __init__(self, criterion: MaxDrawdown) -> None:
        self.criterion = criterion
        self.capital = 0.0 if criterion.capital is None else float(criterion.capital)
        self.n = 0
        self.equity = 0.0  # pnl since the stage began
        self.peak = 0.0
        self.reason: Optional[str] = None

    def add(self, trade: TradeOutcome) -> None:
        if self.reason is not None:
            return
        self.n += 1
        self.equity += float(trade.pnl)
        if self.equity > self.peak:
            self.peak = self.equity
            return
        self.reason = self._check()

    def _check(self) -> Optional[str]:
        c = self.criterion
        drawdown = self.peak - self.equity
        if c.loss is not None and drawdown >= c.loss:
            return (
                f"max_drawdown: equity {_money(drawdown)} below its high-water mark >= "
                f"{_money(c.loss)} (peak pnl {self.peak:+,.2f}, now {self.equity:+,.2f}, "
                f"after {self.n} trades)"
            )
        if c.fraction is not None:
            top = self.capital + self.peak
            if top > 0 and drawdown / top >= c.fraction:
                return (
                    f"max_drawdown: equity {drawdown / top:.1%} below its high-water mark >= "
                    f"{c.fraction:.1%} (peak equity {_money(top)}, now "
                    f"{_money(self.capital + self.equity)}, after {self.n} trades)"
                )
        return None

    def verdict(self) -> Verdict:
        return self.reason is not None, self.reason

    def describe(self) -> str:
        drawdown = self.peak - self.equity
        limits = []
        if self.criterion.loss is not None:
            limits.append(_money(self.criterion.loss))
        if self.criterion.fraction is not None:
            limits.append(f"{self.criterion.fraction:.1%} of peak equity")
        return (
            f"drawdown {_money(drawdown)} (peak pnl {self.peak:+,.2f}, now "
            f"{self.equity:+,.2f}) of {' or '.join(limits)} after {self.n} trades"
        )


@dataclass(frozen=True)
class MaxConsecutiveLosses(_BuiltIn):
    """Kill when ``losses`` trades in a row are losses (pnl <= 0: not wins).

    Attributes:
        losses: the length of the losing streak that kills, >= 1.
    """

    kind: ClassVar[str] = "max_consecutive_losses"

    losses: int

    def __post_init__(self) -> None:
        check_int("MaxConsecutiveLosses", "losses", self.losses, minimum=1)

    def tracker(self, proof: Optional[GateProof]) -> KillTracker:
        return _StreakTracker(self)


class _StreakTracker:
    order_sensitive = True

    def __init__(self, criterion: MaxConsecutiveLosses) -> None:
        self.criterion = criterion
        self.n = 0
        self.streak = 0
        self.tripped = False

    def add(self, trade: TradeOutcome) -> None:
        if self.tripped:
            return
        self.n += 1
        self.streak = 0 if trade.pnl > 0 else self.streak + 1
        self.tripped = self.streak >= self.criterion.losses

    def verdict(self) -> Verdict:
        if not self.tripped:
            return False, None
        return True, (
            f"max_consecutive_losses: {self.streak} losses in a row >= "
            f"{self.criterion.losses} (after {self.n} trades)"
        )

    def describe(self) -> str:
        return f"{self.streak} losses in a row of {self.criterion.losses} after {self.n} trades"


_DAY_US = 86_400_000_000


@dataclass(frozen=True)
class MaxDailyLoss(_BuiltIn):
    """Kill when the trades opened on one UTC day lose ``loss`` or more in total.

    The day is the UTC calendar day of each trade's timestamp (its opening time), and
    the day's loss is the net pnl of its trades (wins offset losses). Depends on the
    trades only, never on the clock.

    Attributes:
        loss: the net loss in one day that kills, in account currency, > 0.
    """

    kind: ClassVar[str] = "max_daily_loss"

    loss: float

    def __post_init__(self) -> None:
        check_number("MaxDailyLoss", "loss", self.loss)
        _owner_check(
            "MaxDailyLoss", "loss", self.loss > 0, "must be > 0 (account currency)", self.loss
        )

    def tracker(self, proof: Optional[GateProof]) -> KillTracker:
        return _DailyLossTracker(self)


class _DailyLossTracker:
    order_sensitive = True

    def __init__(self, criterion: MaxDailyLoss) -> None:
        self.criterion = criterion
        self.day: Optional[int] = None
        self.day_pnl = 0.0
        self.day_trades = 0
        self.tripped = False

    def add(self, trade: TradeOutcome) -> None:
        if self.tripped:
            return
        day = trade.instant_us // _DAY_US
        if day != self.day:
            self.day, self.day_pnl, self.day_trades = day, 0.0, 0
        self.day_pnl += float(trade.pnl)
        self.day_trades += 1
        self.tripped = -self.day_pnl >= self.criterion.loss

    def _date(self) -> str:
        assert self.day is not None
        return format_instant(self.day * _DAY_US)[:10]

    def verdict(self) -> Verdict:
        if not self.tripped:
            return False, None
        return True, (
            f"max_daily_loss: trades opened on {self._date()} (UTC) lost "
            f"{_money(-self.day_pnl)} >= {_money(self.criterion.loss)} over "
            f"{self.day_trades} trades"
        )

    def describe(self) -> str:
        if self.day is None:
            return f"no trades yet (limit {_money(self.criterion.loss)} a day)"
        return (
            f"{self._date()} (UTC): pnl {self.day_pnl:+,.2f} over {self.day_trades} trades, "
            f"limit -{_money(self.criterion.loss)}"
        )


BUILTIN_CRITERIA: Mapping[str, type] = {
    cls.kind: cls
    for cls in (WinRateCusum, EvPerDollarCusum, MaxDrawdown, MaxConsecutiveLosses, MaxDailyLoss)
}
"""The built-in criteria by ``kind``, the name configuration files use."""


# ----------------------------------------------------------------------------- custom, batch


class _BatchTracker:
    """A batch criterion's window: every trade in time order, judged on each tick."""

    order_sensitive = True

    def __init__(self, criterion: KillCriterion) -> None:
        self.criterion = criterion
        self.trades: List[TradeOutcome] = []
        self._judged: Optional[Tuple[int, Verdict]] = None

    def add(self, trade: TradeOutcome) -> None:
        self.trades.append(trade)

    def verdict(self) -> Verdict:
        # Ticks with no new trade ask again; the answer for the same trades is the same.
        if self._judged is None or self._judged[0] != len(self.trades):
            self._judged = (len(self.trades), self.criterion.evaluate(tuple(self.trades)))
        return self._judged[1]


def _tracker_of(criterion: Any, proof: Optional[GateProof]) -> KillTracker:
    if callable(getattr(criterion, "tracker", None)):
        tracker: KillTracker = criterion.tracker(proof)
        return tracker
    return _BatchTracker(criterion)


def _check_verdict(name: str, result: object) -> Verdict:
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
    return tripped, (reason or f"{name} tripped") if tripped else None


# ----------------------------------------------------------------------------- the switch


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
                callable(getattr(c, "tracker", None)) or callable(getattr(c, "evaluate", None))
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

    def evaluate(self, trades: Sequence[TradeOutcome]) -> Verdict:
        """Return ``(tripped, reason)``; ``reason`` is None when not tripped.

        ``trades`` need not be sorted: the lookbacks take the latest trades by
        timestamp (ties keep list order). Reasons read like ``win_rate(30)=0.433 < 0.550``.
        The criteria see the trades as a window that was not entered through a gate
        (no :class:`~quant_rollout.gates.GateProof`).
        """
        ordered = sorted(trades, key=lambda t: t.instant_us)
        recent = ordered[-self.lookback :] if self.lookback else []
        tripped, reason = self.judge_recent(recent, len(ordered))
        if tripped or not self.criteria:
            return tripped, reason
        trackers = self.trackers(None)
        for trade in ordered:
            for tracker in trackers.values():
                tracker.add(trade)
        return self._judge_trackers(trackers)

    def judge_recent(self, recent: Sequence[TradeOutcome], n_total: int) -> Verdict:
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
        """Fresh trackers of :attr:`criteria` for a window, keyed ``kill[i]``."""
        return {kill_tracker_key(i): _tracker_of(c, proof) for i, c in enumerate(self.criteria)}

    def _judge_trackers(self, trackers: Mapping[TrackerKey, object]) -> Verdict:
        for i, c in enumerate(self.criteria):
            tracker = trackers.get(kill_tracker_key(i))
            if tracker is None:
                raise ConfigError(
                    f"the evidence has no tracker for kill criterion {i} "
                    f"({criterion_name(c)}); build it with RolloutConfig.make_trackers"
                )
            verdict = cast(KillTracker, tracker).verdict()
            tripped, reason = _check_verdict(criterion_name(c), verdict)
            if tripped:
                return True, reason
        return False, None

    def judge_evidence(self, evidence: StageEvidence) -> Verdict:
        """Judge every check on a stage's evidence (its latest trades and its trackers)."""
        tripped, reason = self.judge_recent(evidence.recent(), evidence.n)
        if tripped or not self.criteria:
            return tripped, reason
        return self._judge_trackers(evidence.trackers)

    def criteria_status(self, evidence: StageEvidence) -> Tuple[KillCriterionStatus, ...]:
        """Where each of :attr:`criteria` stands on a stage's evidence."""
        out = []
        for i, c in enumerate(self.criteria):
            name = criterion_name(c)
            tracker = evidence.trackers.get(kill_tracker_key(i))
            if tracker is None:
                out.append(KillCriterionStatus(name, "not running", "no tracker"))
                continue
            tripped, reason = _check_verdict(name, cast(KillTracker, tracker).verdict())
            describe = getattr(tracker, "describe", None)
            detail = describe() if callable(describe) else ""
            if tripped:
                state, detail = "tripped", reason or detail
            elif detail.startswith("not running: "):
                state, detail = "not running", detail[len("not running: ") :]
            elif detail.startswith("calibrating: "):
                state, detail = "calibrating", detail[len("calibrating: ") :]
            else:
                state = "running"
            out.append(KillCriterionStatus(name, state, str(detail)))
        return tuple(out)
