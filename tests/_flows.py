"""Simulated trade flows of a live bot, driven through ``Rollout.tick`` (issue 8).

Shared by ``tests/test_flows_slow.py`` (CI path counts) and
``scripts/measure_flows.py`` (more paths, for the figures in the README). Each
simulation is one bot: it opens one trade a minute, each trade closes some minutes
later, and every minute the bot appends the trades that closed to its list (so the
list is in closing order; each trade's timestamp is its *opening* time, as the
README asks) and calls ``tick``. A path counts as a false advance when the rollout
leaves stage 0 although the stage is, in truth, exactly at its gate's bar.

``report`` says what the bot tells the rollout about trades still open:
``None`` (nothing, as a 0.1 bot), ``"open_trades"`` (the open times of its open
positions) or ``"closed_through"`` (an instant through which every opened trade has
closed and is in the list).
"""

from __future__ import annotations

import heapq
import inspect
import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from quant_rollout import (
    Gate,
    KillSwitch,
    ManualClock,
    MaxDrawdown,
    Rollout,
    RolloutAction,
    Stage,
    TradeOutcome,
    WinRateCusum,
)
from quant_rollout.storage.store import MemoryStore

__all__ = [
    "KILL_FLOWS",
    "Flow",
    "FlowResult",
    "KillFlow",
    "even_money",
    "false_advance_rate",
    "false_kill_rate",
    "monte_carlo_error",
    "run_flow",
    "run_kill_flow",
    "size_correlated",
]

T0 = 1_777_593_600  # 2026-05-01T00:00:00Z
NO_KILL = KillSwitch(wr_threshold=None, ev_threshold=None)

# (pnl, size) of the trade opened at minute i, drawn from rng.
TradeDraw = Callable[[random.Random, int], Tuple[float, float]]
# Minutes the trade (pnl, size) stays open, >= 0.
Holding = Callable[[random.Random, float, float], int]


@dataclass(frozen=True)
class Flow:
    """One kind of bot: its gate, kill switch, trades and holding times."""

    gate: Gate
    draw: TradeDraw
    holding: Holding
    minutes: int
    kill_switch: KillSwitch = NO_KILL
    clear_kills: bool = False
    reset_every: Optional[int] = None  # minutes between operator resets
    tick_every: int = 1  # minutes between ticks


@dataclass(frozen=True)
class FlowResult:
    """What one path did: the minute it advanced (None: never), kills cleared, resets."""

    advanced_at: Optional[int]
    clears: int
    resets: int


def even_money(win_rate: float, size: float = 1.0) -> TradeDraw:
    """Trades that win or lose their whole stake, winning with ``win_rate``."""

    def draw(rng: random.Random, minute: int) -> Tuple[float, float]:
        return (size if rng.random() < win_rate else -size), size

    return draw


def size_correlated(big_share: float, big_size: float, edge: float = 0.02) -> TradeDraw:
    """Even-money trades whose outcome depends on their size, at EV per dollar 0.

    A ``big_share`` of trades stake ``big_size`` and win ``1/2 - edge`` of the time;
    the others stake 1 and win often enough that total pnl / total size is exactly 0
    in expectation: ``P(win | small) = 1/2 + edge * big_share * big_size / (1 - big_share)``.
    Each small trade then makes money on average and each big one loses.
    """
    small_edge = edge * big_share * big_size / (1.0 - big_share)
    p_small = 0.5 + small_edge
    if not 0.0 < p_small < 1.0:
        raise ValueError(f"no such flow: P(win | small) = {p_small!r}")

    def draw(rng: random.Random, minute: int) -> Tuple[float, float]:
        if rng.random() < big_share:
            return (big_size if rng.random() < 0.5 - edge else -big_size), big_size
        return (1.0 if rng.random() < p_small else -1.0), 1.0

    return draw


def _tick_keywords() -> Sequence[str]:
    return tuple(inspect.signature(Rollout.tick).parameters)


def run_flow(flow: Flow, seed: int, report: Optional[str] = None) -> FlowResult:
    """One bot, minute by minute, through a real :class:`Rollout` on a MemoryStore."""
    rng = random.Random(seed)
    clock = ManualClock(T0)
    stages = (Stage(0, {"p": 0}), Stage(1, {"p": 1}, gate=flow.gate))
    rollout = Rollout(
        stages, flow.kill_switch, store=MemoryStore(), veto_window_seconds=0, clock=clock
    )
    closed: List[TradeOutcome] = []
    still_open: List[Tuple[int, int, TradeOutcome]] = []  # (close minute, open minute, trade)
    clears = resets = 0
    for minute in range(flow.minutes):
        pnl, size = flow.draw(rng, minute)
        trade = TradeOutcome(pnl, size, T0 + 60 * minute)
        heapq.heappush(still_open, (minute + flow.holding(rng, pnl, size), minute, trade))
        while still_open and still_open[0][0] <= minute:
            closed.append(heapq.heappop(still_open)[2])
        if minute % flow.tick_every:
            continue
        now = T0 + 60 * minute + 30  # ticks fall between openings
        clock.set(now)
        keywords: Dict[str, Any] = {}
        if report == "open_trades":
            keywords["open_trades"] = [T0 + 60 * m for _, m, _ in still_open]
        elif report == "closed_through":
            oldest = min((m for _, m, _ in still_open), default=minute + 1)
            keywords["closed_through"] = T0 + 60 * oldest - 1
        elif report is not None:
            raise ValueError(f"unknown report {report!r}")
        decision = rollout.tick(closed, **keywords)
        if decision.action is RolloutAction.ADVANCE:
            return FlowResult(minute, clears, resets)
        if decision.action is RolloutAction.KILL_TRIPPED and flow.clear_kills:
            rollout.clear_kill_switch()
            clears += 1
        if flow.reset_every is not None and minute > 0 and minute % flow.reset_every == 0:
            rollout.reset()
            resets += 1
    return FlowResult(None, clears, resets)


def false_advance_rate(
    flow: Flow, paths: int, seed: int = 0, report: Optional[str] = None
) -> Tuple[float, List[FlowResult]]:
    """The share of ``paths`` bots that advanced, and each path's result."""
    results = [run_flow(flow, seed * 1_000_003 + k, report) for k in range(paths)]
    return sum(r.advanced_at is not None for r in results) / paths, results


def monte_carlo_error(rate: float, paths: int) -> float:
    """One standard error of a rate estimated from ``paths`` independent paths."""
    return math.sqrt(max(rate * (1.0 - rate), 1e-4) / paths)


# The flows of issue 8's table, each at its bar (95% confidence).
def uniform_holding(low: int, high: int) -> Holding:
    """Holding times uniform on low..high minutes, independent of the outcome."""
    return lambda rng, pnl, size: rng.randint(low, high)


def outcome_holding(win_minutes: int, loss_minutes: int) -> Holding:
    """Wins close after ``win_minutes``, losses after ``loss_minutes``."""
    return lambda rng, pnl, size: win_minutes if pnl > 0 else loss_minutes


def instant_holding(rng: random.Random, pnl: float, size: float) -> int:
    """Every trade closes the minute it opens."""
    return 0


WIN_RATE_GATE = Gate(min_win_rate=0.5, min_ev_per_dollar=None, confidence=0.95)
EV_GATE = Gate(min_ev_per_dollar=0.0, confidence=0.95)
DRAWDOWN_15 = KillSwitch(wr_threshold=None, ev_threshold=None, criteria=(MaxDrawdown(loss=15.0),))

FLOWS: Dict[str, Flow] = {
    "wins 5 min, losses 60": Flow(WIN_RATE_GATE, even_money(0.5), outcome_holding(5, 60), 600),
    "wins 1 min, losses 30": Flow(
        WIN_RATE_GATE, even_money(0.5), outcome_holding(1, 30), 2000, tick_every=5
    ),
    "losses 1 min, wins 30": Flow(
        WIN_RATE_GATE, even_money(0.5), outcome_holding(30, 1), 2000, tick_every=5
    ),
    "holding 1-60 min": Flow(EV_GATE, even_money(0.5), uniform_holding(1, 60), 2000, tick_every=10),
    "holding 1-240 min": Flow(
        EV_GATE, even_money(0.5), uniform_holding(1, 240), 2000, tick_every=10
    ),
    "5% of trades 100x, size-outcome correlated": Flow(
        EV_GATE, size_correlated(0.05, 100.0), instant_holding, 2000, tick_every=5
    ),
    "1% of trades 1000x, size-outcome correlated": Flow(
        EV_GATE, size_correlated(0.01, 1000.0), instant_holding, 2000, tick_every=5
    ),
    "stage-0 drawdown kill cleared each time": Flow(
        WIN_RATE_GATE, even_money(0.5), instant_holding, 8000, DRAWDOWN_15, clear_kills=True
    ),
    "5% of trades 100x, max_trade_size=100": Flow(
        Gate(min_ev_per_dollar=0.0, confidence=0.95, max_trade_size=100.0),
        size_correlated(0.05, 100.0),
        instant_holding,
        2000,
        tick_every=5,
    ),
    "1% of trades 1000x, max_trade_size=1000": Flow(
        Gate(min_ev_per_dollar=0.0, confidence=0.95, max_trade_size=1000.0),
        size_correlated(0.01, 1000.0),
        instant_holding,
        2000,
        tick_every=5,
    ),
    "reset every 200 trades": Flow(
        WIN_RATE_GATE, even_money(0.5), instant_holding, 8000, reset_every=200, tick_every=5
    ),
}


# The kill's side: a stage at its kill's expected level, with late-closing trades.


@dataclass(frozen=True)
class KillFlow:
    """A bot whose stage is exactly at its kill's expected level: every kill is false.

    The kill switch judges every closed trade; the bot ticks every minute until its
    list holds ``trades`` trades (the horizon of the kill's stated false-kill chance).
    """

    kill_switch: KillSwitch
    win_rate: float
    holding: Holding
    trades: int


def run_kill_flow(flow: KillFlow, seed: int) -> Optional[int]:
    """One bot through a real :class:`Rollout`; the trades in its list when the kill
    tripped, or None when it did not trip within the horizon."""
    rng = random.Random(seed)
    clock = ManualClock(T0)
    never = Gate(min_n=10**9, min_ev_per_dollar=None)  # the stage never advances
    stages = (Stage(0, {"p": 0}), Stage(1, {"p": 1}, gate=never))
    rollout = Rollout(
        stages, flow.kill_switch, store=MemoryStore(), veto_window_seconds=0, clock=clock
    )
    draw = even_money(flow.win_rate)
    closed: List[TradeOutcome] = []
    still_open: List[Tuple[int, int, TradeOutcome]] = []
    minute = 0
    while len(closed) < flow.trades:
        pnl, size = draw(rng, minute)
        trade = TradeOutcome(pnl, size, T0 + 60 * minute)
        heapq.heappush(still_open, (minute + flow.holding(rng, pnl, size), minute, trade))
        while still_open and still_open[0][0] <= minute and len(closed) < flow.trades:
            closed.append(heapq.heappop(still_open)[2])
        clock.set(T0 + 60 * minute + 30)
        if rollout.tick(closed).action is RolloutAction.KILL_TRIPPED:
            return len(closed)
        minute += 1
    return None


def false_kill_rate(flow: KillFlow, paths: int, seed: int = 0) -> float:
    """The share of ``paths`` bots killed within the horizon."""
    kills = [run_kill_flow(flow, seed * 1_000_003 + k) for k in range(paths)]
    return sum(k is not None for k in kills) / paths


# A win-rate kill: expected 60%, catch 45%, a false kill 2.5% within 2,000 trades.
INIT_CUSUM = WinRateCusum(0.45, expected=0.60, false_kill_prob=0.025, horizon=2000)
CUSUM_KILL = KillSwitch(wr_threshold=None, ev_threshold=None, criteria=(INIT_CUSUM,))

KILL_FLOWS: Dict[str, KillFlow] = {
    "kill: wins 5 min, losses 60": KillFlow(CUSUM_KILL, 0.60, outcome_holding(5, 60), 2000),
    "kill: holding 1-240 min": KillFlow(CUSUM_KILL, 0.60, uniform_holding(1, 240), 2000),
    "kill: losses 5 min, wins 60": KillFlow(CUSUM_KILL, 0.60, outcome_holding(60, 5), 2000),
    "kill: instant": KillFlow(CUSUM_KILL, 0.60, instant_holding, 2000),
}
"""A CUSUM kill on a stage at its expected level (issue 8, order-robust)."""
