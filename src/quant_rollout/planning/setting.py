"""What every part of a plan shares: the configuration, the payoff, the horizon and
the Monte Carlo settings, and how a row is made from simulated runs."""

from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Hashable,
    List,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

from ..engine import RolloutConfig
from .lanes import simulate_gate_lanes, simulate_kill_lanes
from .payoff import Payoff
from .report import MONTE_CARLO, PlanRow, cdf_from_times, make_row
from .runs import Bernoulli, Bootstrap, GateRule, KillTables, Progress, Rule, Source, simulate

if TYPE_CHECKING:
    from .parallel import RowPool

__all__ = ["PlanSetting"]

_T = TypeVar("_T")


class PlanSetting:
    """The settings of one :func:`~quant_rollout.planning.plan` call.

    ``sample`` is the trade history to bootstrap from, as (returns per dollar, sizes),
    or None. With a ``pool`` (:mod:`.parallel`), Monte Carlo rows are handed to it:
    ``recording`` starts each in a child, else each is the child's answer; ``memo``
    holds what both passes compute alike (:meth:`once`).
    """

    def __init__(
        self,
        config: RolloutConfig,
        payoff: Payoff,
        horizon: int,
        trades_per_day: Optional[float],
        paths: int,
        seed: int,
        sample: Optional[Tuple[List[float], List[float]]],
        progress: Optional[Progress] = None,
        pool: Optional[RowPool] = None,
        recording: bool = False,
        memo: Optional[Dict[Hashable, Any]] = None,
    ) -> None:
        self.config = config
        self.payoff = payoff
        self.horizon = horizon
        self.tpd = trades_per_day
        self.paths = paths
        self.seed = seed
        self.sample = sample
        self.progress = progress
        self.pool = pool
        self.recording = recording
        self.memo: Dict[Hashable, Any] = {} if memo is None else memo

    def once(self, key: Hashable, make: Callable[[], _T]) -> _T:
        """``make()``, computed once per plan (the two passes of :mod:`.parallel` share it)."""
        if key not in self.memo:
            self.memo[key] = make()
        found: _T = self.memo[key]
        return found

    def simulate(
        self, source: Callable[[], Source], rule: Union[Rule, KillTables], label: str
    ) -> List[List[Optional[int]]]:
        """The rule's times on ``paths`` runs of the source (:func:`~.runs.simulate`).

        On win-rate runs, kill tables whose criteria are all walks on whole units (or
        the EV CUSUM), and gates of wins counts and betting tests, follow every run at
        once (:mod:`~.lanes`): the same runs, the same times.
        """
        pool = self.pool
        if pool is None:
            return self._simulate(source, rule, label, self.progress)

        def compute(progress: Optional[Progress]) -> List[List[Optional[int]]]:
            return self._simulate(source, rule, label, progress)

        if self.recording:
            tables = len(rule.tables) if isinstance(rule, KillTables) else 1
            return pool.record(label, tables, self.paths, compute)
        return pool.replay(label, compute)

    def _simulate(
        self,
        source: Callable[[], Source],
        rule: Union[Rule, KillTables],
        label: str,
        progress: Optional[Progress],
    ) -> List[List[Optional[int]]]:
        made = source()
        if isinstance(made, Bernoulli):
            found = None
            at = (self.horizon, self.paths, self.seed, label, progress)
            if isinstance(rule, KillTables):
                found = simulate_kill_lanes(made, rule, *at)
            elif isinstance(rule, GateRule):
                found = simulate_gate_lanes(made, rule, *at)
            if found is not None:
                return found
        return simulate(source, rule, self.horizon, self.paths, self.seed, label, progress)

    def bernoulli(self, p: float, *, sums: bool, trades: bool) -> Callable[[], Source]:
        """A source of trades winning with probability ``p`` under the payoff."""
        payoff = self.payoff

        def source() -> Source:
            return Bernoulli(p, payoff, sums=sums, trades=trades)

        return source

    def bootstrap(self, ev: float) -> Callable[[], Source]:
        """A source resampling the trade history, shifted to EV per dollar ``ev``."""
        assert self.sample is not None
        returns, sizes = self.sample

        def source() -> Source:
            return Bootstrap(returns, sizes, ev)

        return source

    def monte_carlo_row(
        self,
        rule: GateRule,
        level: float,
        label: str,
        *,
        false_alarm: bool,
        measure: str = "ev_per_dollar",
        min_days: float = 0.0,
        source: Optional[Callable[[], Source]] = None,
    ) -> PlanRow:
        """A row of a gate rule simulated ``paths`` times (bootstrap runs by default)."""
        (times,) = self.simulate(source or self.bootstrap(level), rule, label)
        return make_row(
            cdf_from_times(times, self.horizon),
            level=level,
            measure=measure,
            method=MONTE_CARLO,
            false_alarm=false_alarm,
            paths=self.paths,
            error_bound=0.0,
            trades_per_day=self.tpd,
            min_days=min_days,
        )

    def kill_row(
        self,
        cdf: Sequence[float],
        level: float,
        measure: str,
        method: str,
        tolerated: Optional[float],
    ) -> PlanRow:
        """A kill switch's row: a kill at or above the tolerated level is false."""
        return make_row(
            list(cdf),
            level=level,
            measure=measure,
            method=method,
            false_alarm=tolerated is not None and level >= tolerated,
            paths=self.paths,
            error_bound=0.0,
            trades_per_day=self.tpd,
        )
