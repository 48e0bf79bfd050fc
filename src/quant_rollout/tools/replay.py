"""Replay a trade history through a rollout configuration: what would it have done?

:func:`replay` feeds past trades to the same engine a live bot uses — a real
:class:`~quant_rollout.Rollout` on a :class:`~quant_rollout.storage.store.MemoryStore`,
driven by a :class:`~quant_rollout.clock.ManualClock` — ticking in trade-time order
at a fixed cadence, as a bot that calls ``tick`` once a minute would have. Nothing
is read from or written to disk; a live state file is never touched.

When a trade becomes visible
    By default a trade is seen by the first tick at or after its *opening* time
    (``TradeOutcome.timestamp``). A live bot only learns a trade's pnl when it
    closes, so a replay at the opening time is optimistic by each trade's holding
    time: gates pass and kills trip earlier than they would have live. When the
    trades carry their closing time in ``metadata`` (``close_time``, ``exit_time``
    or ``close_date``: ISO-8601, no offset means UTC), ``visible_at="close"`` shows
    each trade at its close instead, as the live bot would have seen it.

Ticks
    Cadence points are multiples of ``tick_every`` seconds since the Unix epoch
    (whole minutes for the default 60 s). The clock starts at the first trade's
    visible time floored to the cadence; that tick starts the rollout at stage 0.
    Ticking at every cadence point of a month-long history would cost tens of
    thousands of ticks that cannot change anything, so the replay ticks only at a
    cadence point where (a) a new trade became visible since the last tick, (b) the
    previous tick recorded a transition, or (c) a time-based deadline falls due:
    the first cadence point at or after a pending veto window's deadline, or after
    which the next gate's ``min_days_after_prev`` is met, or at which the calendar
    lets an advance it holds back land (a met gate's window opens, a blackout
    ends). Between such points the state, the trades and so every decision are
    unchanged, so the result is exactly that of ticking at every cadence point
    (``tests/test_replay.py`` and ``tests/test_calendar_replay.py`` check this with
    property tests). Windows and blackouts are read on the replay's clock. After
    the last trade the replay keeps ticking until no deadline is pending. A tripped
    kill switch stays latched to the end, as it would live until an operator cleared
    it.
"""

from __future__ import annotations

import bisect
import os
import textwrap
from dataclasses import asdict, dataclass
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Union,
)

from .._durations import US_PER_SECOND, format_duration
from .._validate import check_number
from ..clock import ManualClock
from ..engine import (
    Phase,
    RolloutAction,
    RolloutConfig,
    Stage,
    next_time_change,
    phase_of,
)
from ..engine.state import RolloutState
from ..errors import ConfigError, HistoryError, InvalidTradeError
from ..kill import KillSwitch
from ..metrics import ExactSum, Metrics, MetricsAccumulator
from ..rollout import Rollout
from ..storage.history import HistoryRecord, parse_line
from ..storage.store import MemoryStore
from ..trades import TradeOutcome, as_trade, format_instant, parse_instant, to_datetime
from .config import as_rollout_config

_NEVER = 1 << 62

__all__ = [
    "CLOSE_TIME_KEYS",
    "EquityPoint",
    "ReplayResult",
    "RolloutConfigLike",
    "StagePeriod",
    "StageSummary",
    "TimelineEntry",
    "format_summary",
    "format_timeline",
    "replay",
]

_END_OF_TIME_US = parse_instant("9999-12-31T23:59:59.999999Z")
"""The last instant a ``datetime`` holds; replay never ticks after it."""

CLOSE_TIME_KEYS = ("close_time", "exit_time", "close_date")
"""Metadata keys read, in this order, for a trade's closing time (``visible_at="close"``)."""

ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``: trades fed so far out of all trades."""

_PROGRESS_STEPS = 200  # at most this many progress calls (plus the first and last)


@dataclass(frozen=True)
class TimelineEntry:
    """One tick whose decision changed the rollout (``RolloutDecision.changed``).

    Attributes:
        at: the tick's time, ISO-8601 UTC.
        action: the decision's action.
        event: the history event the tick recorded (``veto_open``, ``advance``,
            ``veto_expired``, ``advance_dropped``, ``kill``); it tells a dropped
            advance (action ``noop``) from other no-ops.
        from_stage: the stage before the tick.
        to_stage: the stage after it (for ``veto_open``: the stage the window leads to).
        reason: why, as the live decision says it.
        metrics: the current stage's evidence when the tick decided.
    """

    at: str
    action: RolloutAction
    event: str
    from_stage: int
    to_stage: int
    reason: str
    metrics: Metrics


@dataclass(frozen=True)
class StagePeriod:
    """A stretch of time the rollout spent in one stage.

    ``entered_at``/``left_at`` are ISO-8601 UTC; ``left_at`` is None for the stage
    the replay ended in (its period runs to :attr:`ReplayResult.ended_at`).
    """

    stage: int
    entered_at: str
    left_at: Optional[str]


@dataclass(frozen=True)
class StageSummary:
    """What one stage did during the replay.

    A trade is attributed to the stage the rollout was in at the trade's opening
    time (the parameters it was opened under; a transition at instant T applies to
    trades opened at or after T, as for the evidence window).

    Attributes:
        stage: the stage number.
        name: its name ('' when unnamed).
        n: trades attributed to it.
        wins: of those, trades with ``pnl > 0``.
        win_rate: ``wins / n``, 0–1 (0 with no trades).
        total_pnl: their summed pnl, account currency.
        total_size: their summed size, account currency.
        ev_per_dollar: ``total_pnl / total_size`` (0 when the size is 0).
        seconds: time spent in the stage, summed over every visit, from entering to
            leaving (or to the end of the replay).
        times_entered: visits (stage 0 counts the start and every revert to it).
        kills: kill switch trips while in the stage.
    """

    stage: int
    name: str
    n: int
    wins: int
    win_rate: float
    total_pnl: float
    total_size: float
    ev_per_dollar: float
    seconds: float
    times_entered: int
    kills: int

    @property
    def label(self) -> str:
        """``"1 (canary)"``, or ``"1"`` when unnamed."""
        return f"{self.stage} ({self.name})" if self.name else str(self.stage)


@dataclass(frozen=True)
class EquityPoint:
    """The running total of realized pnl after one trade became visible.

    ``at`` is ISO-8601 UTC (the trade's visible time; the first point is the replay's
    start with 0 pnl), ``cumulative_pnl`` in account currency, ``stage`` the stage the
    trade is attributed to.
    """

    at: str
    cumulative_pnl: float
    stage: int


@dataclass(frozen=True)
class ReplayResult:
    """What a configuration would have done on a trade history; see :func:`replay`.

    Attributes:
        ticks: ticks actually run (the skipped cadence points could change nothing).
        trades: trades replayed.
        tick_every: the cadence, seconds.
        visible_at: ``"open"`` or ``"close"``.
        started_at: the first tick (the first trade's visible time floored to the
            cadence), ISO-8601 UTC; None with no trades.
        ended_at: the last tick at which a trade became visible or a transition was
            recorded; None with no trades.
        timeline: every tick whose decision changed the rollout, in time order.
        history: the history the rollout recorded (``start`` first), hash chain
            verified.
        stages: one summary per configured stage, in stage order.
        periods: the stretches spent in each stage, in time order.
        equity: cumulative pnl after each trade, for plotting.
        final_stage: the stage at the end.
        final_phase: ``running``, ``veto_pending`` or ``killed`` at the end.
        state: the rollout's state at the end.
    """

    ticks: int
    trades: int
    tick_every: float
    visible_at: str
    started_at: Optional[str]
    ended_at: Optional[str]
    timeline: Tuple[TimelineEntry, ...]
    history: Tuple[HistoryRecord, ...]
    stages: Tuple[StageSummary, ...]
    periods: Tuple[StagePeriod, ...]
    equity: Tuple[EquityPoint, ...]
    final_stage: int
    final_phase: Phase
    state: RolloutState

    def stage(self, num: int) -> StageSummary:
        """The summary of stage ``num``; KeyError if there is none."""
        for s in self.stages:
            if s.stage == num:
                return s
        raise KeyError(num)

    def to_dict(self) -> Dict[str, Any]:
        """The result as JSON-ready data (enums as their string values)."""
        data = asdict(self)
        data["final_phase"] = self.final_phase.value
        data["state"] = self.state.to_dict()
        for entry in data["timeline"]:
            entry["action"] = entry["action"].value
        return data


# ----------------------------------------------------------------------------- replay


def _cadence_us(tick_every: float) -> int:
    check_number("replay", "tick_every", tick_every)
    tick_us = round(tick_every * US_PER_SECOND)
    if tick_us < 1:
        raise ConfigError(
            f"replay.tick_every must be a positive number of seconds, got {tick_every!r}"
        )
    return tick_us


def _ceil_to(instant_us: int, tick_us: int) -> int:
    return -(-instant_us // tick_us) * tick_us


def _close_us(trade: TradeOutcome, index: int) -> int:
    for key in CLOSE_TIME_KEYS:
        value = trade.metadata.get(key)
        if value is None or value == "":
            continue
        try:
            close = parse_instant(value)
        except (ValueError, OverflowError) as exc:
            raise InvalidTradeError(
                f"trades[{index}]: metadata[{key!r}] is not a closing time: {exc}"
            ) from None
        if close < trade.instant_us:
            raise InvalidTradeError(
                f"trades[{index}]: closed at {value!r}, before it was opened at {trade.timestamp!r}"
            )
        return close
    raise InvalidTradeError(
        f"trades[{index}] has no closing time in its metadata (looked for "
        f"{', '.join(map(repr, CLOSE_TIME_KEYS))}); replay with visible_at='open' "
        "or add the closing times"
    )


class RolloutConfigLike(Protocol):
    """What :func:`replay` reads from its ``config``: a
    :class:`~quant_rollout.engine.RolloutConfig`, a loaded config file or a
    :class:`~quant_rollout.Rollout` all have these (a configuration file's path is
    accepted too; see :func:`~quant_rollout.tools.config.as_loaded_config`)."""

    @property
    def stages(self) -> Sequence[Stage]: ...

    @property
    def kill_switch(self) -> KillSwitch: ...

    @property
    def veto_window_seconds(self) -> float: ...


def _held_gate_met(
    rollout: Rollout, state: RolloutState, visible: Sequence[TradeOutcome], now_us: int
) -> bool:
    """Whether the next gate is met while the calendar holds its advance back: the
    engine needs the word to say when time matters; the evidence is judged only then."""
    config = rollout.config
    if state.advance_pending_to is not None or state.kill_switch_tripped or state.paused:
        return False
    target = config.next_stage(state.current_stage)
    if target is None:
        return False
    schedule = config.advance_schedule(target)
    if schedule.always_open or schedule.is_open(now_us):
        return False
    result = rollout.status(visible).gate_result
    return result is not None and result.passes


def _next_deadline(
    config: RolloutConfig, state: RolloutState, now_us: int, tick_us: int, gate_met: bool
) -> Optional[int]:
    """The first cadence point after ``now_us`` at which time alone can change a decision.

    The engine says when (:func:`~quant_rollout.engine.next_time_change`); a
    replay only puts it on its tick cadence. None: only new trades can change anything.
    """
    changes_at = next_time_change(config, state, now_us, gate_met=gate_met)
    if changes_at is None:
        return None
    return max(_ceil_to(changes_at, tick_us), now_us + tick_us)


def replay(
    trades: Iterable[object],
    config: Union[RolloutConfigLike, str, os.PathLike[str]],
    *,
    tick_every: float = 60.0,
    progress: Optional[ProgressCallback] = None,
    visible_at: str = "open",
) -> ReplayResult:
    """Run a trade history through a configuration, in memory, as a live bot would have.

    See the module documentation for when trades become visible and when ticks
    happen.

    Args:
        trades: :class:`~quant_rollout.TradeOutcome` (or mappings/objects with
            ``pnl``, ``size`` and ``timestamp``), in any order.
        config: a :class:`~quant_rollout.engine.RolloutConfig` or any object with
            ``stages``, ``kill_switch`` and ``veto_window_seconds`` (a loaded config
            file, or a :class:`~quant_rollout.Rollout`, whose state is not used), or
            the path of a configuration file.
        tick_every: the cadence in seconds (60: one tick per minute of trade time).
        progress: called as ``progress(done, total)`` with the trades fed so far,
            first with 0 and last with ``total``, at most about 200 times.
        visible_at: ``"open"`` (the trade's timestamp; optimistic by the holding
            time) or ``"close"`` (its closing time from metadata, see
            :data:`CLOSE_TIME_KEYS`).

    Returns:
        A :class:`ReplayResult`.

    Raises:
        ConfigError: a bad configuration, ``tick_every`` or ``visible_at``.
        InvalidTradeError: a bad trade (or, with ``visible_at="close"``, one with no
            readable closing time), naming its index in ``trades``.
    """
    tick_us = _cadence_us(tick_every)
    if visible_at not in ("open", "close"):
        raise ConfigError(f"replay.visible_at must be 'open' or 'close', got {visible_at!r}")
    checked = as_rollout_config(config, needed_by="replay")
    items = [as_trade(t, i) for i, t in enumerate(trades)]
    if visible_at == "open":
        seen_us = [t.instant_us for t in items]
    else:
        seen_us = [_close_us(t, i) for i, t in enumerate(items)]
    order = sorted(range(len(items)), key=seen_us.__getitem__)  # stable: ties keep input order
    feed = [items[i] for i in order]
    feed_us = [seen_us[i] for i in order]
    total = len(feed)
    # The oldest opening among the trades not yet visible: a replay knows exactly
    # which trades were still open at each tick, and tells the rollout.
    oldest_unseen = [0] * (total + 1)
    oldest_unseen[total] = _NEVER
    for k in range(total - 1, -1, -1):
        oldest_unseen[k] = min(oldest_unseen[k + 1], feed[k].instant_us)

    store = MemoryStore()
    clock = ManualClock(0)
    rollout = Rollout(
        checked.stages,
        checked.kill_switch,
        veto_window_seconds=checked.veto_window_seconds,
        store=store,
        clock=clock,
        blackouts=checked.blackouts,
        operator_hours=checked.operator_hours,
        operator_zone=checked.operator_zone,
        # Seen at its opening, a trade is as good as closed then; seen at its close,
        # each tick says which trades were still open.
        max_holding_seconds=0.0 if visible_at == "open" else None,
    )
    cfg = rollout.config

    visible: List[TradeOutcome] = []  # grows by appending, as a live bot's list does
    timeline: List[TimelineEntry] = []
    changes_us: List[int] = []  # when the stage changed (first: the start) ...
    changes_to: List[int] = []  # ... and to which stage
    kills: Dict[int, int] = {}
    ticks = 0
    last_active: Optional[int] = None
    step = max(1, total // _PROGRESS_STEPS)
    reported = 0
    if progress is not None:
        progress(0, total)

    now: Optional[int] = feed_us[0] // tick_us * tick_us if feed else None
    while now is not None:
        fed_before = len(visible)
        while len(visible) < total and feed_us[len(visible)] <= now:
            visible.append(feed[len(visible)])
        lines_before = len(store.lines)
        clock.set(to_datetime(now))
        oldest_open = oldest_unseen[len(visible)]
        if oldest_open <= now:
            decision = rollout.tick(visible, closed_through=to_datetime(oldest_open - 1))
        else:
            decision = rollout.tick(visible)  # nothing open: max_holding_seconds says so
        ticks += 1
        recorded = len(store.lines) > lines_before
        state = store.state
        if recorded or len(visible) > fed_before:
            last_active = now
        if not changes_us or state.current_stage != changes_to[-1]:
            changes_us.append(now)
            changes_to.append(state.current_stage)
        if decision.changed:
            event = parse_line(store.lines[-1], "<memory>").event
            timeline.append(
                TimelineEntry(
                    at=format_instant(now),
                    action=decision.action,
                    event=event,
                    from_stage=decision.from_stage,
                    to_stage=decision.to_stage,
                    reason=decision.reason,
                    metrics=decision.metrics,
                )
            )
            if decision.action is RolloutAction.KILL_TRIPPED:
                kills[decision.from_stage] = kills.get(decision.from_stage, 0) + 1
        if progress is not None and len(visible) - reported >= step:
            reported = len(visible)
            progress(reported, total)

        candidates = []
        if recorded:  # a new state (and evidence window) may decide differently at once
            candidates.append(now + tick_us)
        if len(visible) < total:
            candidates.append(max(_ceil_to(feed_us[len(visible)], tick_us), now + tick_us))
        deadline = _next_deadline(
            cfg, state, now, tick_us, _held_gate_met(rollout, state, visible, now)
        )
        if deadline is not None:
            candidates.append(deadline)
        # Time ends at 9999-12-31: a later tick (a 9999-12-31 trade's window) stops there.
        later = [min(c, _END_OF_TIME_US) for c in candidates if min(c, _END_OF_TIME_US) > now]
        now = min(later) if later else None

    if progress is not None and reported < total:
        progress(total, total)

    check = store.verify()
    if not check.ok:  # pragma: no cover - the memory store writes a valid chain
        raise HistoryError(f"replay produced a broken history: {check.problem}")
    final = store.state
    start_us = changes_us[0] if changes_us else None
    return ReplayResult(
        ticks=ticks,
        trades=total,
        tick_every=tick_every,
        visible_at=visible_at,
        started_at=None if start_us is None else format_instant(start_us),
        ended_at=None if last_active is None else format_instant(last_active),
        timeline=tuple(timeline),
        history=tuple(store.history()),
        stages=_summaries(cfg, feed, changes_us, changes_to, kills, last_active),
        periods=_periods(changes_us, changes_to),
        equity=_equity(feed, feed_us, changes_us, changes_to),
        final_stage=final.current_stage,
        final_phase=phase_of(final),
        state=final,
    )


def _stage_at(instant_us: int, changes_us: List[int], changes_to: List[int]) -> int:
    """The stage in force at an instant (before the first tick: stage 0)."""
    i = bisect.bisect_right(changes_us, instant_us) - 1
    return 0 if i < 0 else changes_to[i]


def _periods(changes_us: List[int], changes_to: List[int]) -> Tuple[StagePeriod, ...]:
    out = []
    for i, (at, stage) in enumerate(zip(changes_us, changes_to)):
        left = format_instant(changes_us[i + 1]) if i + 1 < len(changes_us) else None
        out.append(StagePeriod(stage, format_instant(at), left))
    return tuple(out)


def _summaries(
    config: RolloutConfig,
    feed: List[TradeOutcome],
    changes_us: List[int],
    changes_to: List[int],
    kills: Dict[int, int],
    end_us: Optional[int],
) -> Tuple[StageSummary, ...]:
    acc = {s.num: MetricsAccumulator() for s in config.stages}
    for trade in feed:
        acc[_stage_at(trade.instant_us, changes_us, changes_to)].add(trade)
    spent = {s.num: 0 for s in config.stages}
    entered = {s.num: 0 for s in config.stages}
    for i, (at, stage) in enumerate(zip(changes_us, changes_to)):
        until = changes_us[i + 1] if i + 1 < len(changes_us) else end_us
        assert until is not None
        spent[stage] += max(0, until - at)
        entered[stage] += 1
    out = []
    for s in config.stages:
        m = acc[s.num].metrics()
        out.append(
            StageSummary(
                stage=s.num,
                name=s.name,
                n=m.n,
                wins=m.wins,
                win_rate=m.win_rate,
                total_pnl=m.total_pnl,
                total_size=m.total_size,
                ev_per_dollar=m.ev_per_dollar,
                seconds=spent[s.num] / US_PER_SECOND,
                times_entered=entered[s.num],
                kills=kills.get(s.num, 0),
            )
        )
    return tuple(out)


def _equity(
    feed: List[TradeOutcome], feed_us: List[int], changes_us: List[int], changes_to: List[int]
) -> Tuple[EquityPoint, ...]:
    if not feed:
        return ()
    total = ExactSum()
    points = [EquityPoint(format_instant(changes_us[0]), 0.0, changes_to[0])]
    for trade, seen in zip(feed, feed_us):
        total.add(float(trade.pnl))
        stage = _stage_at(trade.instant_us, changes_us, changes_to)
        points.append(EquityPoint(format_instant(seen), total.value, stage))
    return tuple(points)


# ----------------------------------------------------------------------------- text

_WIDTH = 100


def _when(iso: str, seconds: bool) -> str:
    dt = to_datetime(parse_instant(iso))
    return dt.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _needs_seconds(stamps: Iterable[str]) -> bool:
    return any(parse_instant(s) % (60 * US_PER_SECOND) for s in stamps)


def format_timeline(result: ReplayResult) -> str:
    """The timeline as a fixed-width text table (at most 100 columns), one line per
    transition (long reasons wrap), times in UTC, with the evidence at the time:
    trades ``n``, win rate in percent and EV per dollar."""
    if not result.timeline:
        return "no transitions: the rollout stayed at stage {}{}".format(
            result.final_stage, "" if result.trades else " (no trades)"
        )
    secs = _needs_seconds(e.at for e in result.timeline)
    tw = 19 if secs else 16
    head = (
        f"{'time (UTC)':<{tw}}  {'event':<15}  {'stage':<6}  {'n':>5}  {'win%':>5}  {'EV/$':>7}  "
    )
    indent = len(head)
    lines = [head + "reason", "-" * min(_WIDTH, indent + 40)]
    for e in result.timeline:
        m = e.metrics
        row = (
            f"{_when(e.at, secs):<{tw}}  {e.event:<15}  {f'{e.from_stage}->{e.to_stage}':<6}  "
            f"{m.n:>5}  {m.win_rate * 100:>5.1f}  {m.ev_per_dollar:>7.4f}  "
        )
        wrapped = textwrap.wrap(e.reason, _WIDTH - indent) or [""]
        lines.append(row + wrapped[0])
        lines.extend(" " * indent + more for more in wrapped[1:])
    return "\n".join(lines)


def format_summary(result: ReplayResult) -> str:
    """The per-stage summary as a fixed-width text table (at most 100 columns).

    Columns: trades, win rate (percent), EV per dollar, pnl (account currency), time
    spent, visits and kills per stage, then a total row and the replay's span,
    cadence and final stage.
    """
    rows = list(result.stages)
    total_pnl = ExactSum()
    total_size = ExactSum()
    for s in rows:
        total_pnl.add(s.total_pnl)
        total_size.add(s.total_size)
    n = sum(s.n for s in rows)
    wins = sum(s.wins for s in rows)
    biggest = max([abs(s.total_pnl) for s in rows] + [abs(total_pnl.value)])
    places = 2 if biggest >= 1 or biggest == 0 else 4 if biggest >= 0.01 else 6
    lw = min(24, max([len("stage")] + [len(s.label) for s in rows]))
    head = (
        f"{'stage':<{lw}}  {'trades':>6}  {'win%':>5}  {'EV/$':>7}  {'pnl':>12}  "
        f"{'time spent':>10}  {'visits':>6}  {'kills':>5}"
    )
    lines = [head, "-" * len(head)]

    def row(
        label: str, n: int, wr: float, ev: float, pnl: float, spent: str, v: str, k: str
    ) -> str:
        return (
            f"{label[:lw]:<{lw}}  {n:>6}  {wr * 100:>5.1f}  {ev:>7.4f}  {pnl:>+12.{places}f}  "
            f"{spent:>10}  {v:>6}  {k:>5}"
        )

    for s in rows:
        lines.append(
            row(
                s.label,
                s.n,
                s.win_rate,
                s.ev_per_dollar,
                s.total_pnl,
                format_duration(s.seconds, units=2),
                str(s.times_entered),
                str(s.kills),
            )
        )
    lines.append("-" * len(head))
    size = total_size.value
    lines.append(
        row(
            "total",
            n,
            wins / n if n else 0.0,
            total_pnl.value / size if size > 0 else 0.0,
            total_pnl.value,
            format_duration(sum(s.seconds for s in rows), units=2),
            "",
            str(sum(s.kills for s in rows)),
        )
    )
    if result.started_at is not None and result.ended_at is not None:
        lines.append(
            f"replayed {_when(result.started_at, False)} to {_when(result.ended_at, False)} UTC, "
            f"{result.trades} trades seen at their {result.visible_at} time"
        )
        lines.append(
            f"{result.ticks} ticks on a {result.tick_every:g}s cadence "
            "(idle cadence points skipped: they could change nothing)"
        )
    final = next((s.label for s in rows if s.stage == result.final_stage), str(result.final_stage))
    lines.append(f"final: stage {final}, {result.final_phase.value}")
    return "\n".join(lines)
