"""The shell around the pure state machine: load, decide, save, record.

:class:`Rollout` reads "now" from its one clock, takes the store's lock, loads the
state, brings the current stage's evidence up to date, asks
:func:`~quant_rollout.engine.decide` (or :func:`~quant_rollout.engine.operate`)
what to do, and commits what changed: the history lines first, then the state file.
A tick that changes nothing writes nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence as _SequenceABC
from dataclasses import dataclass, replace
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from ._validate import check_non_negative
from .arms import Router, route_bucket
from .arms.evidence import PLAIN_ARM, ExperimentReport, format_experiment
from .calendar import Rule, Window, format_local
from .clock import Clock, read_clock, system_clock
from .engine import (
    Epoch,
    OperatorResult,
    Phase,
    RolloutConfig,
    RolloutDecision,
    RolloutState,
    Stage,
    Verb,
    decide,
    gate_progress,
    judge_gate,
    operate,
    phase_of,
)
from .engine.experiments import arms_evidence, current_experiment, state_report
from .engine.moves import window_start_us
from .engine.transitions import OPERATOR_VERBS, Event
from .errors import ConfigError, InvalidTradeError, OperatorRefusedError
from .evidence import EvidenceFeed, StageEvidence
from .gates import CriterionProgress, GateResult
from .kill import KillCriterionStatus, KillSwitch
from .metrics import Metrics
from .storage.history import HistoryRecord, HistoryVerification
from .storage.store import JsonFileStore, StateStore
from .trades import format_instant, parse_instant

__all__ = ["DEFAULT_MAX_HOLDING_SECONDS", "PLAIN_ARM", "Rollout", "RolloutStatus", "Routed"]

# PLAIN_ARM ("main"): the arm name Rollout.route answers on a stage that runs no
# experiment (quant_rollout.arms.evidence.PLAIN_ARM).

DEFAULT_MAX_HOLDING_SECONDS = 86_400.0
"""How long a confidence gate or an experiment assumes a trade may stay open when the
bot says nothing about its open trades: a day. Only trades opened at least this long
ago are judged."""

Instants = Iterable[Any]


@dataclass(frozen=True)
class RolloutStatus:
    """A read-only snapshot of a rollout, for dashboards, the CLI and alerts.

    Times are ISO-8601 UTC text. ``metrics``, ``gate_progress``, ``gate_result`` and
    ``kill_criteria`` (where each of the kill switch's ``criteria`` stands, or why it
    is not running) are filled only when :meth:`Rollout.status` was given the trades,
    and so are ``judged_metrics`` (the trades the gate judges: those opened before
    ``complete_before``, through which every trade has closed), ``evidence_waiting``
    (closed trades waiting for older open trades to close before the gate counts
    them) and ``complete_before`` (None: every closed trade is judged).
    What the current stage's gate evidence showed is in ``state`` (``gate_*``,
    ``proven_*``).
    """

    now: str
    phase: Phase
    stage: Stage
    next_stage: Optional[Stage]
    kill_switch_tripped: bool
    kill_reason: Optional[str]
    kill_timestamp: Optional[str]
    advance_pending_to: Optional[int]
    veto_deadline_unix: Optional[float]
    veto_seconds_left: Optional[float]
    paused: bool
    evidence_since: Optional[str]
    stage_entered_at: Optional[str]
    started_at: Optional[str]
    last_event: Optional[HistoryRecord]
    state: RolloutState
    metrics: Optional[Metrics] = None
    gate_progress: Optional[Tuple[CriterionProgress, ...]] = None
    gate_result: Optional[GateResult] = None
    kill_criteria: Optional[Tuple[KillCriterionStatus, ...]] = None
    advance_window: Optional[str] = None
    """Where the next (or pending) advance stands against its gate's windows and the
    blackouts: ``open until Fri 17:00 EST (3h 5m)`` or ``waiting for the window that
    opens Mon 09:00 EST, in 2h 13m``; None when it has no windows or blackouts."""
    advance_window_opens_at: Optional[str] = None
    """When that advance may next land (ISO-8601 UTC), when it may not now; else None."""
    veto_deadline_local: Optional[str] = None
    """The veto deadline in the operator's zone (``Mon 2026-12-07 09:15 EST``), when
    the rollout has calendar settings (windows, blackouts, operator hours or zone)."""
    judged_metrics: Optional[Metrics] = None
    evidence_waiting: Optional[int] = None
    complete_before: Optional[str] = None
    trades_ahead: Optional[str] = None
    """With ``trades``: the warning the tick's reason carries when trades are stamped
    after the clock's now by more than five minutes ("3 trades stamped after the
    clock's now (latest ...): check the bot's timestamps or the clock"); else None."""
    bot_told: Optional[str] = None
    """When the bot has not been told the current stage yet (an operator moved it, or
    a tick's answer was lost): "the bot was last told stage 1; its next tick announces
    stage 2 (canary)"; None when the bot runs the current stage."""
    experiment: Optional[ExperimentReport] = None
    """On an experiment stage, the arms side by side and the verdict: with the trades,
    every comparison; without them, the routing, opportunities and SRM alarm only.
    None on a plain stage."""

    params: Optional[Mapping[str, Any]] = None
    """What the bot runs at the current stage: the stage's params, or on the stage
    after an experiment the winning arm's laid over them."""

    @property
    def experiment_text(self) -> Optional[str]:
        """:attr:`experiment` as the text table ``quant-rollout status`` prints."""
        return None if self.experiment is None else format_experiment(self.experiment)


class Routed(NamedTuple):
    """Where :meth:`Rollout.route` sends one opportunity."""

    arm: str
    """The arm's name: tag the trade with it (``metadata={"arm": ...}``)."""
    params: Mapping[str, Any]
    """What to run for this opportunity (a fresh dict)."""


def _clock_from_legacy(
    clock: Optional[Clock],
    clock_now_unix: Optional[Callable[[], float]],
    clock_now_iso: Optional[Callable[[], str]],
) -> Clock:
    if clock is not None:
        if clock_now_unix is not None or clock_now_iso is not None:
            raise ConfigError(
                "pass either clock= or the 0.1 clock_now_unix/clock_now_iso, not both"
            )
        return clock
    if clock_now_unix is not None:
        if clock_now_iso is not None:
            warnings.warn(
                "quant-rollout now reads time from one clock: clock_now_unix is used and "
                "clock_now_iso is ignored; pass clock= instead",
                DeprecationWarning,
                stacklevel=3,  # _clock_from_legacy <- Rollout.__init__ <- the caller
            )
        return clock_now_unix
    if clock_now_iso is not None:
        return clock_now_iso
    return system_clock


class Rollout:
    """A staged rollout with gates, a veto window and a kill switch, persisted to disk.

    Args:
        stages: the stages; numbers must be unique and include 0 (the baseline).
        kill_switch: trips on the current stage's live results and reverts to stage 0.
        state_path: the JSON state file; the history goes beside it
            (``rollout_state.history.jsonl``) and a ``.lock`` sidecar serialises every
            read-modify-write across processes. Not needed when ``store`` is given.
        veto_window_seconds: time a human has to veto an automatic advance; 0 advances
            at once.
        clock_now_unix, clock_now_iso: quant-rollout 0.1's clocks, still accepted; use
            ``clock``.
        clock: the one source of "now": a callable returning an aware ``datetime``,
            Unix seconds or ISO text (default: the system clock).
        store: where state lives instead of ``state_path`` (e.g. a
            :class:`~quant_rollout.storage.store.MemoryStore` for replays).
        lock_timeout: seconds to wait for another process's lock before
            :class:`~quant_rollout.errors.LockTimeoutError`.
        blackouts: when no advance or veto expiry lands, for every gate (texts such
            as ``"2026-12-25 America/New_York"``; see :mod:`quant_rollout.calendar`).
            The kill switch never waits for anything.
        operator_hours: weekly windows (``"mon-fri 09:00-17:00 America/New_York"``)
            the veto window counts in, so it runs out while someone is watching.
        operator_zone: the IANA zone times are shown in (default: the zone of the
            first operator-hours window, else of the first gate window, else UTC).
        max_holding_seconds: the longest a trade of this bot stays open. A gate then
            judges every trade opened at least this long ago, even when a tick does
            not say what is open. Default None: a tick's ``open_trades`` or
            ``closed_through`` says it, and without them a rollout with a confidence
            gate or an experiment stage assumes :data:`DEFAULT_MAX_HOLDING_SECONDS` (a
            day) and one without judges every closed trade, as quant-rollout 0.1 did.

    Raises:
        ConfigError: any invalid stage, gate, kill switch or setting, naming the field.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        kill_switch: KillSwitch,
        state_path: Union[str, Path, None] = None,
        veto_window_seconds: float = 1800,
        clock_now_unix: Optional[Callable[[], float]] = None,
        clock_now_iso: Optional[Callable[[], str]] = None,
        *,
        clock: Optional[Clock] = None,
        store: Optional[StateStore] = None,
        lock_timeout: float = 30.0,
        blackouts: Sequence[Union[str, Rule]] = (),
        operator_hours: Sequence[Union[str, Window]] = (),
        operator_zone: Optional[str] = None,
        max_holding_seconds: Optional[float] = None,
    ) -> None:
        self.config = RolloutConfig(
            tuple(stages),
            kill_switch,
            veto_window_seconds,
            blackouts=tuple(blackouts),
            operator_hours=tuple(operator_hours),
            operator_zone=operator_zone,
        )
        if max_holding_seconds is not None:
            check_non_negative("Rollout", "max_holding_seconds", max_holding_seconds)
        self.max_holding_seconds = max_holding_seconds
        # Confidence gates and experiments judge only complete evidence: with nothing
        # said about open trades they assume a day (fail closed, see _complete_before).
        self._confidence_gates = any(
            (s.gate is not None and s.gate.confidence is not None) or s.experiment is not None
            for s in self.config.stages
        )
        if (state_path is None) == (store is None):
            raise ConfigError("give exactly one of state_path (a JSON file) or store")
        self.state_path: Optional[Path] = None
        if store is None:
            assert state_path is not None
            self.state_path = Path(state_path).expanduser()
            store = JsonFileStore(self.state_path, lock_timeout=lock_timeout)
        self.store: StateStore = store
        self.clock: Clock = _clock_from_legacy(clock, clock_now_unix, clock_now_iso)
        # The trackers of a rebuilt window continue the experiment the state records.
        self._experiment_record: Optional[Mapping[str, Any]] = None
        self._feed: EvidenceFeed[Epoch] = EvidenceFeed(
            self.config.recent_capacity,
            lambda epoch: self.config.make_trackers(epoch, self._experiment_record),
        )
        self._routing: Optional[Tuple[int, Optional[Router], Routed]] = None

    @classmethod
    def from_config(
        cls,
        path: Union[str, Path],
        *,
        clock: Optional[Clock] = None,
        state_path: Union[str, Path, None] = None,
        max_holding_seconds: Optional[float] = None,
    ) -> Rollout:
        """Build the rollout declared in a TOML or JSON file (:mod:`quant_rollout.tools.config`).

        ``state_path`` overrides the file's ``state_path`` (a relative override is
        relative to the current directory, like any path argument). The bot and the
        ``quant-rollout`` command can share one file this way. ``max_holding_seconds``
        is :class:`Rollout`'s: the longest a trade of this bot stays open.

        Raises:
            ConfigFileError: the file cannot be read, is invalid, or names no state
                file and ``state_path`` was not given; the message names the file,
                the key and the value.
        """
        from .errors import ConfigFileError
        from .tools.config import load_config

        loaded = load_config(path)
        target = loaded.state_path if state_path is None else Path(state_path)
        if target is None:
            raise ConfigFileError(
                f'{path}: state_path: missing; add state_path = "rollout_state.json" '
                "(relative to the file) or pass state_path=",
                file=str(path),
                key="state_path",
            )
        return cls(
            loaded.stages,
            loaded.kill_switch,
            target,
            loaded.veto_window_seconds,
            clock=clock,
            blackouts=loaded.blackouts,
            operator_hours=loaded.operator_hours,
            operator_zone=loaded.operator_zone,
            max_holding_seconds=max_holding_seconds,
        )

    # -- 0.1 attributes

    @property
    def stages(self) -> List[Stage]:
        """The stages, sorted by number."""
        return list(self.config.stages)

    @property
    def kill_switch(self) -> KillSwitch:
        """The kill switch."""
        return self.config.kill_switch

    @property
    def veto_window_seconds(self) -> float:
        """Seconds a human has to veto an automatic advance."""
        return self.config.veto_window_seconds

    def __repr__(self) -> str:
        return (
            f"Rollout(stages={[s.num for s in self.config.stages]!r}, "
            f"store={self.store.source!r}, veto_window_seconds={self.veto_window_seconds!r})"
        )

    # -- the tick

    def tick(
        self,
        trades: Iterable[object],
        *,
        rescan: bool = False,
        open_trades: Optional[Instants] = None,
        closed_through: Optional[Any] = None,
        opportunities: Optional[Mapping[str, int]] = None,
    ) -> RolloutDecision:
        """Judge the trades and decide; call it about once a minute with all recent trades.

        On an experiment stage each trade names its arm in ``metadata["arm"]`` (the
        arm :meth:`route` gave it), and ``opportunities`` counts the opportunities
        routed to each arm *since the previous tick* (``{"control": 120, "wide":
        118}``; arms not named got none). They feed the PnL-per-opportunity comparison
        and the sample-ratio alarm, and a tick that reports any writes the state file
        (no history line: they are counts, not events). On a plain stage they are
        ignored, so a bot may keep sending them after the experiment ends.

        ``trades`` are the *closed* trades, :class:`~quant_rollout.TradeOutcome` (or
        mappings/objects with ``pnl``, ``size`` and ``timestamp``), in any order. Only
        trades opened at or after the current stage's evidence began count. A list
        that only grows at its end costs only its new trades; a trade changed in place
        in the middle of the list (a corrected pnl) is only noticed when the whole list
        is re-read, which ``rescan=True`` forces.

        The gate judges only complete evidence: the trades opened before the oldest
        trade still open. Say what is open, and the gate counts each trade as soon as
        every older one has closed:

        - ``open_trades``: the opening times of the positions open now (timestamps as
          for trades; an empty list: nothing is open);
        - ``closed_through``: an instant through which every trade opened has closed
          and is in ``trades``.

        With neither (and no ``max_holding_seconds``), see :class:`Rollout`. The kill
        switch sees every closed trade at once.

        Raises:
            InvalidTradeError: a bad trade, naming its index and value (on an
                experiment stage: one with no arm or an unknown arm), or a bad
                ``open_trades``/``closed_through`` time (nothing changes).
            ConfigError: ``opportunities`` naming an unknown arm or a count that is
                not a whole number >= 0 (nothing changes).
            CorruptStateError, HistoryError: unusable state or history (file untouched).
            ClockError: the clock went back past the last transition.
            LockTimeoutError: another process held the lock too long.
        """
        seq = trades if isinstance(trades, _SequenceABC) else list(trades)
        reported = _reported(open_trades, closed_through)
        if rescan:
            self._feed.forget()
        counts = _opportunities(opportunities)
        with self.store.transaction() as txn:
            # Read "now" under the lock: read before it, a process that waited for
            # the lock would decide at a time older than the transition it waited on.
            now = read_clock(self.clock)
            state = txn.state
            self.config.check_state(state, self.store.source)
            evidence = self._evidence(seq, state, self._complete_before(now, reported))
            arms = arms_evidence(evidence)
            counted = bool(counts) and arms is not None and any(counts.values())
            try:
                if counted:
                    assert arms is not None
                    arms.add_opportunities(counts)  # checks first: a refusal changes nothing
                cause = None
                if state.delivered_stage != state.current_stage:  # what moved it, for the bot
                    cause = _cause(getattr(txn, "last_event", None), state)
                ahead = self._feed.ahead(now)
                step = decide(self.config, state, evidence, now, cause=cause, trades_ahead=ahead)
                final = txn.commit(step.transitions)
                if counted and not step.transitions:
                    final = txn.save(step.state)
            except BaseException:
                # The arms' evidence may hold counts the state file does not: re-read
                # it from the state next time.
                self._feed.forget()
                raise
        self._remember_routing(final)
        decision = step.decision
        if getattr(txn, "recovered", False) and not decision.changed:
            # The tick or verb that recorded the last event never returned: this
            # answer may be news to the bot (a window opened, an advance dropped).
            decision = replace(decision, changed=True)
        return decision

    def _evidence(
        self, trades: Sequence[object], state: RolloutState, complete_before: Optional[int]
    ) -> StageEvidence:
        since = window_start_us(state)
        epoch = self.config.epoch(state)
        if state.evidence_after is not None and since is not None:
            # Where the window starts identifies it (each trade counts in one window).
            epoch = epoch._replace(since=format_instant(since))
        self._experiment_record = state.experiment
        return self._feed.evidence(trades, since, epoch, complete_before)

    def _complete_before(self, now: int, reported: Optional[int]) -> Optional[int]:
        """The end (exclusive, in microseconds) of the evidence the gate may judge."""
        known = [] if reported is None else [min(reported, now + 1)]
        holding = self.max_holding_seconds
        if holding is None and reported is None and self._confidence_gates:
            holding = DEFAULT_MAX_HOLDING_SECONDS
        if holding is not None:
            known.append(now - round(holding * 1e6) + 1)
        # Each is a true statement about what has closed; the latest one covers most.
        return max(known) if known else None

    # -- operator verbs

    def operate(
        self,
        verb: Union[Verb, str],
        *,
        note: str = "",
        actor: Optional[str] = None,
        to_stage: Optional[int] = None,
        arm: Optional[str] = None,
        weights: Optional[Mapping[str, float]] = None,
    ) -> OperatorResult:
        """Carry out an operator verb under the lock and record it; see the named verbs.

        ``verb`` is ``veto``, ``clear_kill``, ``promote``, ``pause``, ``resume``,
        ``reset``, ``accept_clock``, or on an experiment stage ``promote_arm`` and
        ``drop_arm`` (with ``arm``) and ``change_weights`` (with ``weights``).
        Returns ``applied=False`` with the reason when there is nothing to act on (a
        veto with no pending advance); raises OperatorRefusedError when the verb
        would be wrong now.
        """
        with self.store.transaction() as txn:
            now = read_clock(self.clock)  # under the lock, as in tick()
            self.config.check_state(txn.state, self.store.source)
            result = operate(
                self.config,
                txn.state,
                verb,
                now,
                note=note,
                actor=actor,
                to_stage=to_stage,
                arm=arm,
                weights=weights,
            )
            committed = txn.commit(result.transitions)
        self._remember_routing(committed)
        # The state as written: linked to the history event it now follows.
        return replace(result, state=committed)

    def promote_arm(self, arm: str, *, note: str = "", actor: Optional[str] = None) -> RolloutState:
        """End the running experiment by hand: the next stage runs ``arm``'s params
        now, skipping the experiment's verdict and the veto window.

        Raises OperatorRefusedError off an experiment stage, for an unknown or dropped
        arm, or while the kill switch is latched.
        """
        return self.operate(Verb.PROMOTE_ARM, note=note, actor=actor, arm=arm).state

    def drop_arm(self, arm: str, *, note: str = "", actor: Optional[str] = None) -> RolloutState:
        """Stop routing to the candidate ``arm``: its traffic returns to control.

        Raises OperatorRefusedError off an experiment stage, for control, or for an
        unknown or already dropped arm.
        """
        return self.operate(Verb.DROP_ARM, note=note, actor=actor, arm=arm).state

    def change_weights(
        self, weights: Mapping[str, float], *, note: str = "", actor: Optional[str] = None
    ) -> RolloutState:
        """Route by ``weights`` (arm name -> share, 0-1, every arm named, summing to
        1) from now on; the bot's next tick (or :meth:`route` after it) uses them.

        Raises OperatorRefusedError off an experiment stage, or for weights that name
        unknown arms, miss one, do not sum to 1 or give a dropped arm traffic.
        """
        return self.operate(Verb.CHANGE_WEIGHTS, note=note, actor=actor, weights=weights).state

    # -- routing

    def route(self, key: object) -> Routed:
        """Which arm handles the opportunity ``key`` (a signal or market id: text,
        bytes or a whole number), and the params to run for it.

        Pure and fast: no lock, no disk, no clock. It routes by the state this object
        last loaded or wrote (its last tick, verb, :meth:`status` or :meth:`params`;
        the first call before any reads the state file once), so weights an operator
        changed from another process apply from the bot's next tick. The same key,
        weights and experiment give the same arm in every process (BLAKE2b bucketing,
        :class:`~quant_rollout.arms.Router`). On a stage without an experiment every
        key gets :data:`PLAIN_ARM` (``"main"``) and the stage's params.

        Raises:
            RouteKeyError: ``key`` is not text, bytes or a whole number.
        """
        routing = self._routing
        if routing is None:
            state, _last = self.store.read()
            self.config.check_state(state, self.store.source)
            routing = self._remember_routing(state)
        _stage, router, plain = routing
        if router is None:
            route_bucket("", key)  # the same refusal of a bad key on every stage
            return Routed(plain.arm, dict(plain.params))
        arm = router.route(key)
        return Routed(arm.name, dict(arm.params))

    def _remember_routing(self, state: RolloutState) -> Tuple[int, Optional[Router], Routed]:
        stage = current_experiment(self.config, state)
        num = state.current_stage
        routing: Tuple[int, Optional[Router], Routed]
        if stage is None or stage.experiment is None:
            routing = (num, None, Routed(PLAIN_ARM, self.config.params_for(state, num)))
        else:
            weights = None if state.experiment is None else state.experiment.get("weights")
            control = stage.experiment.control_arm
            alone = Routed(control.name, dict(control.params))
            if isinstance(weights, Mapping) and all(
                weights.get(a.name) == 0.0 for a in stage.experiment.candidates
            ):
                routing = (num, None, alone)  # every candidate dropped: control takes all
            else:
                router = Router(stage.experiment, weights if isinstance(weights, Mapping) else None)
                routing = (num, router, alone)
        self._routing = routing
        return routing

    def preview(self, verb: Union[Verb, str], *, to_stage: Optional[int] = None) -> OperatorResult:
        """What :meth:`operate` would do now, without the lock and writing nothing.

        For a confirmation question ("promote 1 → 2?"): a tick landing before the verb
        runs can change the answer. Raises OperatorRefusedError as :meth:`operate`
        would, so a wrong verb is refused before anyone is asked.
        """
        state, _last = self.store.read()
        self.config.check_state(state, self.store.source)
        return operate(self.config, state, verb, read_clock(self.clock), to_stage=to_stage)

    def veto_pending_advance(self, note: str = "", *, actor: Optional[str] = None) -> RolloutState:
        """Cancel the pending advance. Its evidence does not count again: the stage's
        evidence restarts now, so the gate must be met afresh (0.1 re-opened the same
        window on the next tick). With nothing pending, changes nothing."""
        return self.operate(Verb.VETO, note=note, actor=actor).state

    def clear_kill_switch(self, note: str = "", *, actor: Optional[str] = None) -> RolloutState:
        """Unlatch a tripped kill switch. The losses that tripped it do not count again:
        stage 0's evidence restarts now. With no tripped switch, changes nothing."""
        return self.operate(Verb.CLEAR_KILL, note=note, actor=actor).state

    def reset(self, note: str = "", *, actor: Optional[str] = None) -> RolloutState:
        """Back to stage 0: no kill latch, no pending advance, not paused, evidence from now.
        Recorded in the history, which is kept."""
        return self.operate(Verb.RESET, note=note, actor=actor).state

    def promote(
        self, to_stage: Optional[int] = None, *, note: str = "", actor: Optional[str] = None
    ) -> RolloutState:
        """Advance now (to the next stage, or ``to_stage``), skipping gate and window.

        Raises OperatorRefusedError while the kill switch is latched, at the last
        stage, or for a stage that is not ahead of the current one.
        """
        return self.operate(Verb.PROMOTE, note=note, actor=actor, to_stage=to_stage).state

    def accept_clock(self, note: str = "", *, actor: Optional[str] = None) -> RolloutState:
        """Accept the clock as it is after it had jumped ahead: every instant the state
        recorded after now is pulled back to now, and a pending advance is cancelled
        (the gate re-opens it if it still holds). Until then ticks trip the kill switch
        but never advance, and verbs other than veto and pause raise ClockError.
        With nothing ahead of the clock, changes nothing."""
        return self.operate(Verb.ACCEPT_CLOCK, note=note, actor=actor).state

    def restore(self, note: str = "", *, actor: Optional[str] = None) -> RolloutState:
        """Rebuild a corrupt, unreadable, missing or stale state file from the verified
        history's last line (each line holds the state after its event), recorded in
        the history as ``restore``. If the last event moved the stage on a tick, the
        bot's next tick announces it again (that tick may never have returned it).

        Raises:
            OperatorRefusedError: nothing to restore (the state file loads and follows
                the history), the state is ahead of the history, or this store
                cannot be restored (a memory store).
            HistoryError: the history is empty or its chain is broken.
        """
        restore = getattr(self.store, "restore", None)
        if restore is None:
            raise OperatorRefusedError(f"{self.store.source}: this store has nothing to restore")
        state, _transition = restore(lambda: read_clock(self.clock), note=note, actor=actor)
        self.config.check_state(state, self.store.source)
        assert isinstance(state, RolloutState)
        return state

    def pause(self, note: str = "", *, actor: Optional[str] = None) -> RolloutState:
        """Stop automatic advances (a pending advance is cancelled); the kill switch
        keeps running. Raises OperatorRefusedError when already paused."""
        return self.operate(Verb.PAUSE, note=note, actor=actor).state

    def resume(self, note: str = "", *, actor: Optional[str] = None) -> RolloutState:
        """Allow automatic advances again. Raises OperatorRefusedError when not paused."""
        return self.operate(Verb.RESUME, note=note, actor=actor).state

    # -- reading

    def status(
        self,
        trades: Optional[Iterable[object]] = None,
        *,
        open_trades: Optional[Instants] = None,
        closed_through: Optional[Any] = None,
    ) -> RolloutStatus:
        """A read-only snapshot; with ``trades``, also the progress toward the next gate.

        ``open_trades`` and ``closed_through`` as for :meth:`tick`. Writes nothing (a
        state behind its history is rolled forward in memory only).
        """
        reported = _reported(open_trades, closed_through)
        now = read_clock(self.clock)
        state, last = self.store.read()
        self.config.check_state(state, self.store.source)
        stage = self.config.stage(state.current_stage)
        nxt = self.config.next_stage(state.current_stage)
        deadline = state.advance_veto_deadline_unix
        metrics = progress = result = kill_criteria = None
        ahead = (
            nxt if state.advance_pending_to is None else self.config.stage(state.advance_pending_to)
        )
        window = opens_at = deadline_local = None
        zone = self.config.display_zone(ahead)
        if ahead is not None and not state.kill_switch_tripped:
            schedule = self.config.advance_schedule(ahead)
            if not schedule.always_open:
                calendar = schedule.status(now)
                window = calendar.describe(zone)
                if not calendar.is_open and calendar.opens_at is not None:
                    opens_at = format_instant(calendar.opens_at)
        if deadline is not None and self.config.has_calendar:
            deadline_local = format_local(round(deadline * 1e6), zone)
        judged = None
        waiting: Optional[int] = None
        complete: Optional[str] = None
        trades_ahead: Optional[str] = None
        self._remember_routing(state)
        experiment = None
        if trades is None:
            experiment = state_report(self.config, state, self.store.source)
        else:
            seq = trades if isinstance(trades, _SequenceABC) else list(trades)
            evidence = self._evidence(seq, state, self._complete_before(now, reported))
            arms = arms_evidence(evidence)
            experiment = None if arms is None else arms.report()
            metrics = evidence.metrics()
            judged = evidence.judged_metrics()
            waiting = evidence.waiting
            if evidence.complete_before is not None:
                complete = format_instant(evidence.complete_before)
            kill_criteria = self.config.kill_switch.criteria_status(evidence)
            warning = self._feed.ahead(now)
            trades_ahead = None if warning is None else warning.message()
            target = (
                self.config.stage(state.advance_pending_to)
                if state.advance_pending_to is not None
                else nxt
            )
            if target is not None and target.gate is not None:
                progress = gate_progress(state, target, evidence, now)
                result = judge_gate(self.config, state, target, evidence, now)
        return RolloutStatus(
            now=format_instant(now),
            phase=phase_of(state),
            stage=stage,
            next_stage=nxt,
            kill_switch_tripped=state.kill_switch_tripped,
            kill_reason=state.kill_reason,
            kill_timestamp=state.kill_timestamp,
            advance_pending_to=state.advance_pending_to,
            veto_deadline_unix=deadline,
            veto_seconds_left=None if deadline is None else max(0.0, deadline - now / 1e6),
            paused=state.paused,
            evidence_since=state.evidence_since,
            stage_entered_at=state.stage_entered_at,
            started_at=state.started_at,
            last_event=last,
            state=state,
            metrics=metrics,
            gate_progress=progress,
            gate_result=result,
            kill_criteria=kill_criteria,
            advance_window=window,
            advance_window_opens_at=opens_at,
            veto_deadline_local=deadline_local,
            judged_metrics=judged,
            evidence_waiting=waiting,
            complete_before=complete,
            trades_ahead=trades_ahead,
            bot_told=_untold(state, stage),
            experiment=experiment,
            params=self.config.params_for(state, state.current_stage),
        )

    def history(self) -> List[HistoryRecord]:
        """Every recorded transition, oldest first."""
        return self.store.history()

    def verify_history(self) -> HistoryVerification:
        """Check the history's hash chain (:func:`~.storage.history.verify_history`)."""
        return self.store.verify()

    def params(self) -> Mapping[str, Any]:
        """The params of the stage the rollout is at now (reads state; writes nothing)."""
        state, _ = self.store.read()
        self.config.check_state(state, self.store.source)
        self._remember_routing(state)
        return self.config.params_for(state, state.current_stage)


_OPERATOR_EVENTS = frozenset(v.event for v in OPERATOR_VERBS)


def _cause(last: Optional[HistoryRecord], state: RolloutState) -> Optional[str]:
    """What moved the stage to ``state``'s, when the history's last event did."""
    if last is None or last.to_stage != state.current_stage:
        return None
    who = f" by {last.actor}" if last.actor else ""
    if last.event in _OPERATOR_EVENTS and last.from_stage != last.to_stage:
        return f"operator {last.event}{who} at {last.at}"
    if last.event is Event.RESTORE:
        return f"state restored{who} at {last.at}"
    if last.event in (Event.ADVANCE, Event.VETO_EXPIRED) and last.from_stage != last.to_stage:
        return f"{last.event} at {last.at}, recorded by a tick that could not return it"
    return None


def _untold(state: RolloutState, stage: Stage) -> Optional[str]:
    """What ``status`` says when the bot has not been told the current stage yet."""
    told = state.delivered_stage
    if told == state.current_stage:
        return None
    return f"the bot was last told stage {told}; its next tick announces stage {stage.label}"


def _reported(open_trades: Optional[Instants], closed_through: Optional[Any]) -> Optional[int]:
    """What the bot said has closed, as the exclusive end of the complete prefix (None:
    it said nothing). Raises InvalidTradeError naming the argument."""
    known: List[int] = []
    if open_trades is not None:
        if isinstance(open_trades, (str, bytes)):
            raise InvalidTradeError(
                f"open_trades must be a list of opening times, got {open_trades[:40]!r}"
            )
        oldest: Optional[int] = None
        for i, item in enumerate(open_trades):
            stamp = getattr(item, "timestamp", item)
            if isinstance(item, Mapping):
                stamp = item.get("timestamp", item)
            try:
                instant = parse_instant(stamp)
            except ValueError as exc:
                raise InvalidTradeError(f"open_trades[{i}]: {exc}") from None
            oldest = instant if oldest is None else min(oldest, instant)
        # Nothing open: everything opened so far has closed (capped at now by the caller).
        known.append(_FOREVER if oldest is None else oldest)
    if closed_through is not None:
        try:
            known.append(parse_instant(closed_through) + 1)
        except ValueError as exc:
            raise InvalidTradeError(f"closed_through: {exc}") from None
    return max(known) if known else None


_FOREVER = 1 << 62


def _opportunities(counts: Optional[Mapping[str, int]]) -> Dict[str, int]:
    """The tick's opportunity counts, as a plain dict (checked by the arms' evidence)."""
    if counts is None:
        return {}
    if not isinstance(counts, Mapping):
        raise ConfigError(
            f"opportunities must map arm names to counts since the last tick, got"
            f" {type(counts).__name__}"
        )
    return dict(counts)
