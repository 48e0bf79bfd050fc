"""What the dashboard shows, computed without Streamlit: snapshots, curves, actions.

Everything here goes through the library's shell: :meth:`Rollout.from_config
<quant_rollout.Rollout.from_config>` builds each rollout exactly as the command line
does, :meth:`~quant_rollout.Rollout.status`, ``history`` and ``verify_history`` read
(holding the lock only while a file is read), and the operator verbs act (under the
lock, recorded with the dashboard's actor). A rollout that cannot be read becomes a
snapshot carrying the command line's message for it; nothing here writes unless an
operator verb was asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .._durations import format_duration
from ..clock import Clock, read_clock, system_clock
from ..engine.moves import window_start_us
from ..engine.state import RolloutState
from ..errors import HistoryError, OperatorRefusedError, RolloutError
from ..metrics import compute_metrics
from ..rollout import Rollout, RolloutStatus
from ..storage.history import HistoryRecord, HistoryVerification
from ..storage.store import MemoryStore
from ..trades import TradeOutcome, parse_instant, to_datetime
from .settings import RolloutEntry

__all__ = [
    "ACTIONS",
    "EVENT_WORDS",
    "NOW_ENV",
    "ActionOutcome",
    "CurvePoint",
    "FleetRow",
    "GateTimeline",
    "Snapshot",
    "StageSpan",
    "StageSummary",
    "act",
    "clock_from_env",
    "downsample",
    "equity_curve",
    "event_words",
    "fleet_row",
    "gate_timeline",
    "read_snapshot",
    "stage_spans",
    "stage_summaries",
]

NOW_ENV = "QUANT_ROLLOUT_NOW"
"""As for the command line: an ISO-8601 time used as "now" (tests, documentation)."""

ACTIONS: Tuple[Tuple[str, str], ...] = (
    ("veto", "Veto the pending advance"),
    ("pause", "Pause automatic advances"),
    ("resume", "Resume automatic advances"),
    ("clear_kill", "Clear the kill switch"),
    ("promote", "Promote now"),
)
"""The operator verbs the dashboard offers, with their button labels. ``reset`` is left
to the command line: it throws away a stage's progress and deserves a shell."""


def clock_from_env() -> Clock:
    """The system clock, or the fixed time in :data:`NOW_ENV` when it is set.

    Raises ValueError naming the variable when its value is not a time.
    """
    text = os.environ.get(NOW_ENV)
    if not text:
        return system_clock
    try:
        fixed = to_datetime(parse_instant(text))
    except ValueError:
        raise ValueError(
            f"{NOW_ENV}={text[:40]!r} is not an ISO-8601 time (e.g. 2026-05-01T12:00:00Z); "
            "unset it to use the system clock"
        ) from None

    def clock() -> datetime:
        return fixed

    return clock


def _describe(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _cli_message(exc: BaseException) -> str:
    """The line ``quant-rollout status`` prints for this error (without the prog name)."""
    if isinstance(exc, (RolloutError, OSError)):
        return "error: " + " ".join(str(exc).split())
    return f"internal error ({_describe(exc)})"


TradeReader = Callable[[Path], Sequence[TradeOutcome]]


def _read_trade_file(path: Path) -> Sequence[TradeOutcome]:
    from ..tools.importers import read_trades

    return read_trades(path).trades


@dataclass(frozen=True)
class Snapshot:
    """One rollout as read now.

    Attributes:
        entry: which rollout.
        now_us: the time it was read (microseconds since the epoch, UTC).
        rollout: the rollout built from its configuration (None if that failed).
        status: its status (None if the configuration or the state failed, or there
            is no state file yet).
        error: what the command line prints for this rollout, when it cannot be read.
        state_missing: the configuration loads but its state file does not exist yet
            (the bot has not ticked): nothing to show but the configuration.
        history: the recorded transitions (empty when unreadable: see history_error).
        history_error: why the history could not be read.
        verification: the hash chain check (None when it could not run).
        trades: the trade history's trades, sorted by opening time (None without one).
        trades_error: why the trade history could not be read.
    """

    entry: RolloutEntry
    now_us: int
    rollout: Optional[Rollout] = None
    status: Optional[RolloutStatus] = None
    error: Optional[str] = None
    state_missing: bool = False
    history: Tuple[HistoryRecord, ...] = ()
    history_error: Optional[str] = None
    verification: Optional[HistoryVerification] = None
    trades: Optional[Sequence[TradeOutcome]] = None
    trades_error: Optional[str] = None

    @property
    def chain_broken(self) -> bool:
        """The history failed verification or could not be read."""
        return self.history_error is not None or (
            self.verification is not None and not self.verification.ok
        )


def _build(entry: RolloutEntry, clock: Clock) -> Rollout:
    return Rollout.from_config(entry.config, clock=clock)


def read_snapshot(
    entry: RolloutEntry,
    clock: Clock,
    read_trades: TradeReader = _read_trade_file,
    build: Callable[[RolloutEntry, Clock], Rollout] = _build,
) -> Snapshot:
    """Read one rollout: configuration, state, history, its check and the trades.

    Never raises for a bad file: the message goes into the snapshot. Writes nothing
    (a missing state file is not created; the lock file is only opened when the
    state file exists). ``build`` makes the rollout (default: from its configuration,
    afresh); a caller that keeps one rollout per entry between reads passes its own,
    so ``status`` costs only the trades added since the last read.
    """
    now = read_clock(clock)
    try:
        rollout = build(entry, clock)
    except Exception as exc:
        return Snapshot(entry, now, error=_cli_message(exc))
    state_path = rollout.state_path
    assert state_path is not None  # from_config always gives a state file
    trades: Optional[Sequence[TradeOutcome]] = None
    trades_error = None
    if entry.trades is not None:
        try:
            trades = read_trades(entry.trades)
        except Exception as exc:
            trades_error = _cli_message(exc)
    if not state_path.exists():
        return Snapshot(
            entry, now, rollout, state_missing=True, trades=trades, trades_error=trades_error
        )
    try:
        status = rollout.status(trades)
    except Exception as exc:
        return Snapshot(
            entry, now, rollout, error=_cli_message(exc), trades=trades, trades_error=trades_error
        )
    history: Tuple[HistoryRecord, ...] = ()
    history_error = None
    verification = None
    try:
        history = tuple(rollout.history())
    except HistoryError as exc:
        history_error = _cli_message(exc)
    try:
        verification = rollout.verify_history()
    except RolloutError as exc:
        history_error = history_error or _cli_message(exc)
    return Snapshot(
        entry,
        now,
        rollout,
        status,
        history=history,
        history_error=history_error,
        verification=verification,
        trades=trades,
        trades_error=trades_error,
    )


# ----------------------------------------------------------------------------- the fleet


EVENT_WORDS: Dict[str, str] = {
    "start": "rollout started",
    "veto_open": "advance pending: veto window opened",
    "advance": "advanced",
    "veto_expired": "advanced: veto window ran out",
    "advance_dropped": "pending advance dropped: the gate no longer held",
    "veto": "advance vetoed",
    "kill": "KILLED: kill switch tripped",
    "clear_kill": "kill switch cleared",
    "promote": "promoted by hand",
    "pause": "paused",
    "resume": "resumed",
    "reset": "reset to stage 0",
    "accept_clock": "clock accepted after a jump",
    "announce": "bot told the stage to run",
    "restore": "state restored from the history",
    "promote_arm": "experiment arm promoted by hand",
    "drop_arm": "experiment arm dropped",
    "change_weights": "experiment weights changed",
    "srm_alarm": "EXPERIMENT STOPPED: routed counts do not match the weights",
}
"""Each history event in words, as the dashboard shows it beside its name."""


def event_words(event: str) -> str:
    """A history event in words; an event this release does not know, as it is."""
    return EVENT_WORDS.get(str(event), str(event))


def span(seconds: float) -> str:
    """``42s``, ``4m12s``, ``3h05m``, ``2d04h``, as the command line writes spans."""
    return format_duration(seconds, units=2)


def relative(stamp: Optional[str], now_us: int) -> str:
    """``3h05m ago``, ``in 4m12s``, ``now`` or ``-``."""
    if stamp is None:
        return "-"
    delta = (parse_instant(stamp) - now_us) / 1e6
    if abs(delta) < 1:
        return "now"
    return f"in {span(delta)}" if delta > 0 else f"{span(-delta)} ago"


def stage_label(rollout: Optional[Rollout], num: Optional[int]) -> str:
    """``1 (canary)``, or the bare number for a stage the configuration lacks."""
    if num is None:
        return "-"
    if rollout is not None:
        try:
            return rollout.config.stage(num).label
        except KeyError:
            pass
    return str(num)


@dataclass(frozen=True)
class FleetRow:
    """One line of the fleet view.

    Attributes:
        key: the rollout's name.
        health: ``ok`` (running), ``attention`` (veto pending, paused), ``bad``
            (killed, unreadable, broken history) or ``idle`` (not started).
        stage: the current stage as ``1 (canary)`` (``-`` when unknown).
        phase: the phase in words, with the countdown of a pending advance.
        last_event: the last recorded event in words, with how long ago.
        problem: the error to show instead, if any.
    """

    key: str
    health: str
    stage: str
    phase: str
    last_event: str
    problem: Optional[str] = None


def phase_text(snapshot: Snapshot) -> str:
    """The phase in words: ``running``, ``veto pending: → 2 (full) in 12m30s``, ..."""
    st = snapshot.status
    if st is None:
        return "not started: no state file yet" if snapshot.state_missing else "unknown"
    phase = st.phase.value
    if phase == "killed":
        return "killed: kill switch latched"
    if phase == "paused":
        return "paused: no automatic advance"
    if phase == "veto_pending":
        target = stage_label(snapshot.rollout, st.advance_pending_to)
        left = st.veto_seconds_left or 0.0
        when = f"in {span(left)}" if left > 0 else "on the next tick (window closed)"
        return f"veto pending: → {target} {when}"
    return phase.replace("_", " ")


def fleet_row(snapshot: Snapshot) -> FleetRow:
    """The fleet view's line for one rollout."""
    key = snapshot.entry.key
    if snapshot.error is not None:
        return FleetRow(key, "bad", "-", "unreadable", "-", snapshot.error)
    st = snapshot.status
    if st is None:
        return FleetRow(key, "idle", stage_label(snapshot.rollout, 0), phase_text(snapshot), "-")
    last = "-"
    if st.last_event is not None:
        e = st.last_event
        who = f" by {e.actor}" if e.actor else ""
        last = f"#{e.seq} {e.event}{who}, {relative(e.at, snapshot.now_us)}"
    problem = None
    if snapshot.chain_broken:
        problem = snapshot.history_error or (
            snapshot.verification.problem if snapshot.verification is not None else None
        )
    phase = st.phase.value
    if problem is not None or phase == "killed":
        health = "bad"
    elif phase in ("veto_pending", "paused"):
        health = "attention"
    elif st.started_at is None:
        health = "idle"
    else:
        health = "ok"
    return FleetRow(key, health, st.stage.label, phase_text(snapshot), last, problem)


# ----------------------------------------------------------------------------- the curve


@dataclass(frozen=True)
class CurvePoint:
    """A point of the equity curve: after trade ``index`` (0-based), at ``at_ms``."""

    index: int
    at_ms: float
    equity: float


def downsample(values: Sequence[float], max_points: int) -> List[int]:
    """The indices of ``values`` to draw so that at most ``max_points`` remain.

    The series is cut into equal runs and each run keeps its first, lowest, highest
    and last point, in order: every peak and trough of the curve survives (a
    drawdown is never drawn shallower than it was), which evenly spaced sampling
    cannot promise. Short series come back whole.
    """
    n = len(values)
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points!r}")
    if n <= max_points:
        return list(range(n))
    buckets = max_points // 4
    keep: List[int] = []
    for b in range(buckets):
        lo = b * n // buckets
        hi = (b + 1) * n // buckets
        if hi <= lo:
            continue
        run = range(lo, hi)
        low = min(run, key=values.__getitem__)
        high = max(run, key=values.__getitem__)
        keep.extend(sorted({lo, low, high, hi - 1}))
    return keep


def equity_curve(trades: Sequence[TradeOutcome], max_points: int = 2000) -> List[CurvePoint]:
    """The cumulative pnl after each trade (in opening-time order), downsampled."""
    ordered = sorted(trades, key=lambda t: t.instant_us)
    equity: List[float] = []
    total = 0.0
    for t in ordered:
        total += t.pnl
        equity.append(total)
    return [
        CurvePoint(i, ordered[i].instant_us / 1000.0, equity[i])
        for i in downsample(equity, max_points)
    ]


@dataclass(frozen=True)
class StageSpan:
    """A stretch of time the rollout spent at one stage (``end_ms`` None: until now)."""

    stage: int
    label: str
    start_ms: float
    end_ms: Optional[float]


def stage_spans(
    rollout: Optional[Rollout],
    history: Sequence[HistoryRecord],
    start_ms: Optional[float],
) -> List[StageSpan]:
    """The stages over time, from the history's stage moves.

    Before the first event the rollout was at stage 0; ``start_ms`` (the first trade)
    opens that span when it is earlier than the first event.
    """
    spans: List[StageSpan] = []
    stage = 0
    since = start_ms
    for record in history:
        at = parse_instant(record.at) / 1000.0
        if since is None:
            since = at
        if record.to_stage != stage:
            if at > since:
                spans.append(StageSpan(stage, stage_label(rollout, stage), since, at))
            stage = record.to_stage
            since = at
    if since is None:
        return spans
    spans.append(StageSpan(stage, stage_label(rollout, stage), since, None))
    return spans


@dataclass(frozen=True)
class StageSummary:
    """The trades of one stay at one stage."""

    stage: str
    start: str
    end: str
    trades: int
    win_rate: Optional[float]
    ev_per_dollar: Optional[float]
    pnl: float


def _iso_ms(ms: float) -> str:
    return to_datetime(round(ms * 1000)).strftime("%Y-%m-%d %H:%M")


def stage_summaries(
    spans: Sequence[StageSpan], trades: Sequence[TradeOutcome]
) -> List[StageSummary]:
    """Per stay at a stage: its trades (by opening time), win rate, EV per dollar and pnl."""
    ordered = sorted(trades, key=lambda t: t.instant_us)
    rows: List[StageSummary] = []
    for i, s in enumerate(spans):
        last = i == len(spans) - 1
        lo = s.start_ms * 1000 if i > 0 else float("-inf")
        hi = float("inf") if last or s.end_ms is None else s.end_ms * 1000
        inside = [t for t in ordered if lo <= t.instant_us < hi]
        m = compute_metrics(inside)
        rows.append(
            StageSummary(
                s.label,
                _iso_ms(s.start_ms),
                "now" if last else _iso_ms(s.end_ms or s.start_ms),
                m.n,
                m.win_rate if m.n else None,
                m.ev_per_dollar if m.n else None,
                m.total_pnl,
            )
        )
    return rows


# ----------------------------------------------------------------------------- the gate


class GateTimeline:
    """The pending or next gate's criteria as the current stage's evidence grew.

    Kept between refreshes, it costs only the trades added since the last one: it
    asks a copy of the rollout, on a :class:`~quant_rollout.storage.store.MemoryStore`
    holding the same state, for its status on the first ``n`` trades of the evidence
    (the same arithmetic the bot's ticks use), with ``n`` a multiple of a step that
    doubles whenever more than ``max_points`` checkpoints would be kept. Build a new
    one when the evidence window changes (a new stage, a veto, a cleared kill):
    :meth:`key` says what it was built for.
    """

    def __init__(self, rollout: Rollout, state: RolloutState, max_points: int = 48) -> None:
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2, got {max_points!r}")
        self.max_points = max_points
        self._state = state
        self._since = window_start_us(state)
        self._now_us = 0
        self._copy = Rollout(
            rollout.config.stages,
            rollout.config.kill_switch,
            veto_window_seconds=rollout.config.veto_window_seconds,
            store=MemoryStore(state),
            clock=lambda: to_datetime(self._now_us),
        )
        self._grown: List[TradeOutcome] = []
        self._step = 1
        self._points: List[List[Dict[str, Any]]] = []

    @staticmethod
    def key(rollout: Rollout, state: RolloutState) -> Tuple[Any, ...]:
        """What the timeline depends on: the evidence window and the gate ahead."""
        return (*rollout.config.epoch(state), state.evidence_after, state.advance_pending_to)

    def _checkpoint(self) -> List[Dict[str, Any]]:
        progress = self._copy.status(self._grown).gate_progress or ()
        at = self._grown[-1].instant_us / 1000.0
        n = len(self._grown)
        return [
            {
                "at_ms": at,
                "n": n,
                "criterion": c.name,
                "observed": c.observed,
                "lower_bound": c.lower_bound,
                "required": c.required,
            }
            for c in progress
        ]

    def update(self, trades: Sequence[TradeOutcome], now_us: int) -> List[Dict[str, Any]]:
        """Rows for ``trades`` (the whole history; the window is taken from it).

        One row per checkpoint and criterion: ``at_ms``, ``n`` (trades so far),
        ``criterion``, ``observed``, ``lower_bound`` (a confidence gate's anytime
        bound, else None) and ``required``. The last checkpoint is always all the
        evidence. Empty when the evidence has no trade or no gate is ahead.
        """
        self._now_us = now_us
        window = sorted(
            (t for t in trades if self._since is None or t.instant_us >= self._since),
            key=lambda t: t.instant_us,
        )
        seen = len(self._grown)
        if seen and (len(window) < seen or window[seen - 1] != self._grown[-1]):
            self._grown, self._points, self._step = [], [], 1  # rewritten, not grown
            seen = 0
        for trade in window[seen:]:
            self._grown.append(trade)
            if len(self._grown) % self._step == 0:
                self._points.append(self._checkpoint())
                if len(self._points) > self.max_points:
                    self._step *= 2
                    self._points = [p for p in self._points if p and p[0]["n"] % self._step == 0]
        if not self._grown:
            return []
        rows = [row for point in self._points for row in point]
        if not self._points or not self._points[-1] or self._points[-1][0]["n"] != len(self._grown):
            rows += self._checkpoint()
        return rows


def gate_timeline(snapshot: Snapshot, points: int = 48) -> List[Dict[str, Any]]:
    """:class:`GateTimeline` for a snapshot, computed afresh (see its ``update``).

    Empty without trades, state or a gate ahead.
    """
    st, rollout, trades = snapshot.status, snapshot.rollout, snapshot.trades
    if st is None or rollout is None or not trades or st.gate_progress is None:
        return []
    return GateTimeline(rollout, st.state, points).update(trades, parse_instant(st.now))


# ----------------------------------------------------------------------------- acting


@dataclass(frozen=True)
class ActionOutcome:
    """What an operator verb did: ``done`` True when it was applied and recorded."""

    done: bool
    message: str
    details: Tuple[str, ...] = field(default_factory=tuple)


def act(
    entry: RolloutEntry,
    verb: str,
    *,
    actor: str,
    note: str = "",
    to_stage: Optional[int] = None,
    clock: Clock = system_clock,
) -> ActionOutcome:
    """Carry out an operator verb on a rollout, as ``quant-rollout VERB`` would.

    Builds the rollout from its configuration afresh and calls
    :meth:`Rollout.operate <quant_rollout.Rollout.operate>`, which takes the lock, so
    a bot ticking in another process loses nothing. Never raises for a refusal or a
    bad file: the outcome says what happened, in the command line's words.
    """
    if verb not in {v for v, _ in ACTIONS}:
        return ActionOutcome(False, f"error: {verb!r} is not an action this dashboard offers")
    try:
        rollout = Rollout.from_config(entry.config, clock=clock)
        result = rollout.operate(verb, note=note, actor=actor, to_stage=to_stage)
    except OperatorRefusedError as exc:
        return ActionOutcome(False, f"refused: {' '.join(str(exc).split())}")
    except Exception as exc:
        return ActionOutcome(False, _cli_message(exc))
    if not result.applied:
        return ActionOutcome(False, f"nothing to do: {result.reason}")
    t = result.transitions[-1]
    move = (
        f"stage {stage_label(rollout, t.from_stage)} → {stage_label(rollout, t.to_stage)}"
        if t.from_stage != t.to_stage
        else f"stage {stage_label(rollout, t.to_stage)}, unchanged"
    )
    return ActionOutcome(True, result.reason, (move, f"recorded at {t.at} by {actor}"))
