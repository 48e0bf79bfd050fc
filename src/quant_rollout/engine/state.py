"""The persisted rollout state: one small JSON document, versioned, readable with ``cat``.

Schema history:

* no ``schema_version`` — written by quant-rollout 0.1. Read and upgraded: the
  current stage's ship time becomes the start of its evidence and of the stage.
* ``schema_version: 2`` — quant-rollout 0.2. Adds the evidence start, the stage entry
  time, the rollout's start, pause, the link to the history log, and what the current
  stage's gate evidence showed (``gate_*``, ``proven_*``: the kill criteria's default
  expected levels). A version-2 file without some of these fields takes their
  defaults.
* ``schema_version: 3`` — quant-rollout 0.3 before experiments. Adds ``bot_stage``:
  the stage whose params the last returned tick decision told the bot to run. Older files load with
  ``bot_stage`` None, which means ``current_stage`` (nothing left to announce).
  quant-rollout 0.3 also adds ``gate_windows`` (the windows of evidence each stage has
  had); files without it read as one window per stage, and ``evidence_after`` and
  ``counted_through`` (trades stamped after the clock's now: each counts in at most
  one window); files without them have no such bound.
* ``schema_version: 4`` — this release. Adds the running experiment (``experiment``:
  its evidence snapshot, with the current weights and dropped arms),
  ``experiment_pending`` (the arm an open veto window will promote) and
  ``experiment_winner`` (the arm whose params the stage after the experiment runs).
  Older files load with all three None: no experiment has run.

Parsing is strict: a wrong type, an unknown key or an unknown version raises
:class:`CorruptStateError`/:class:`UnknownSchemaError` naming the field and value;
nothing is ever silently reset.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

from .._files import read_state_bytes, write_atomic
from ..errors import CorruptStateError, UnknownSchemaError, excerpt
from ..trades import parse_instant

__all__ = ["SCHEMA_VERSION", "RolloutState", "state_from_dict", "state_from_json"]

SCHEMA_VERSION = 4
"""The ``schema_version`` this release writes."""

_V01_KEYS = frozenset(
    {
        "current_stage",
        "ship_timestamps",
        "kill_switch_tripped",
        "kill_reason",
        "kill_timestamp",
        "advance_pending_to",
        "advance_veto_deadline_unix",
        "last_tick_unix",
        "last_decision_action",
    }
)


@dataclass
class RolloutState:
    """Where a rollout stands. Times are ISO-8601 text in UTC unless the name says unix.

    The first nine fields are quant-rollout 0.1's, with the same names and meanings.

    Attributes:
        current_stage: the stage the bot should be running.
        ship_timestamps: stage number (as text) -> when that stage last shipped.
        kill_switch_tripped: the kill switch is latched; nothing advances until cleared.
        kill_reason: why it tripped, e.g. ``win_rate(30)=0.433 < 0.550``.
        kill_timestamp: when it tripped.
        advance_pending_to: the stage an open veto window will advance to, or None.
        advance_veto_deadline_unix: when that window closes, Unix seconds.
        last_tick_unix: when state was last written by a tick (ticks that change
            nothing do not write, so this is the last *changing* tick).
        last_decision_action: the action of the last transition (``"advance"``, ...).
        schema_version: the file format; see the module docstring.
        evidence_since: the moment the current stage's evidence began; None = all
            trades count (stage 0 before any revert).
        stage_entered_at: when the current stage began (``min_days_after_prev`` counts
            from here).
        started_at: the rollout's first tick; None until then.
        advance_pending_since: when the open veto window opened.
        paused: no automatic advance while True (the kill switch still runs).
        updated_at: the time of the last recorded transition; the clock may not go back
            past it.
        history_seq: sequence number of the last history event this state reflects.
        history_hash: SHA-256 of that event's line in the history log.
        gate_n: trades in the evidence that passed the current stage's gate; None when
            the stage was not entered through a gate (stage 0, a promote, a 0.1 file).
        gate_win_rate: their win rate, 0–1, as observed.
        gate_ev_per_dollar: their total pnl / total size, as observed.
        proven_win_rate: an anytime-valid lower confidence bound on the win rate from
            that evidence (see :class:`~quant_rollout.gates.GateProof`).
        proven_ev_per_dollar: the same for EV per dollar (confidence gates with an EV
            criterion only), else None.
        bot_stage: the stage whose params a tick decision last told the bot to run;
            None means "the current stage" (a state built by hand or an older file).
            Operator verbs never change it: when it differs from ``current_stage``
            the next tick announces the move (see :func:`~.tick.decide`).
        gate_windows: stage number (as text) -> how many windows of evidence that
            stage has had (entered, re-entered, restarted by a veto, a cleared kill or
            a reset); missing means one. The gate ahead of a stage judges its k-th
            window at a share of its error level that shrinks with k
            (:mod:`quant_rollout.stats.spending`), so restarts spend the level
            rather than reset it.
        evidence_after: trades opened at or before this instant do not count in the
            current window, because an earlier window counted them (they were stamped
            after the clock's now when that window ended); None: no such bound. Each
            trade counts in at most one window of evidence.
        counted_through: the newest open time counted so far, by the current window or
            an earlier one, when it was after the clock of the last tick that
            recorded an event (a trade stamped ahead of the clock); None otherwise.
            The next window starts after it.
        experiment: on an experiment stage, what its arms' evidence cannot rebuild from
            the trades (:meth:`~quant_rollout.arms.evidence.ExperimentEvidence.snapshot`:
            the current weights, the dropped arms, the opportunities routed, the SRM
            test); None before the stage's first report (a fresh experiment) and on
            plain stages.
        experiment_pending: the arm an open veto window will promote, or None.
        experiment_winner: the arm whose params the stage after the experiment runs
            (over that stage's own params); set when the rollout moves past the
            experiment, cleared when it enters the experiment stage again.
    """

    current_stage: int = 0
    ship_timestamps: Dict[str, str] = field(default_factory=dict)
    kill_switch_tripped: bool = False
    kill_reason: Optional[str] = None
    kill_timestamp: Optional[str] = None
    advance_pending_to: Optional[int] = None
    advance_veto_deadline_unix: Optional[float] = None
    last_tick_unix: Optional[float] = None
    last_decision_action: Optional[str] = None
    schema_version: int = SCHEMA_VERSION
    evidence_since: Optional[str] = None
    stage_entered_at: Optional[str] = None
    started_at: Optional[str] = None
    advance_pending_since: Optional[str] = None
    paused: bool = False
    updated_at: Optional[str] = None
    history_seq: int = 0
    history_hash: Optional[str] = None
    gate_n: Optional[int] = None
    gate_win_rate: Optional[float] = None
    gate_ev_per_dollar: Optional[float] = None
    proven_win_rate: Optional[float] = None
    proven_ev_per_dollar: Optional[float] = None
    bot_stage: Optional[int] = None
    gate_windows: Dict[str, int] = field(default_factory=dict)
    evidence_after: Optional[str] = None
    counted_through: Optional[str] = None
    experiment: Optional[Dict[str, Any]] = None
    experiment_pending: Optional[str] = None
    experiment_winner: Optional[str] = None

    @property
    def delivered_stage(self) -> int:
        """The stage the bot was last told to run (``bot_stage``, else the current one)."""
        return self.current_stage if self.bot_stage is None else self.bot_stage

    def to_dict(self) -> Dict[str, Any]:
        """The state as the JSON object written to disk."""
        data = asdict(self)
        data["schema_version"] = SCHEMA_VERSION
        return data

    def to_json(self) -> str:
        """The state file's text: indented JSON, keys in field order, trailing newline."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "state") -> RolloutState:
        """Parse a state object (any schema this release knows), strictly.

        Raises:
            UnknownSchemaError: a ``schema_version`` newer than this release knows.
            CorruptStateError: anything else wrong, naming ``source`` and the field.
        """
        return state_from_dict(data, source=source)

    @classmethod
    def load(cls, path: Union[str, Path]) -> RolloutState:
        """Read a state file (0.1 API). A missing file is a fresh state.

        Unlike 0.1, an unreadable or corrupt file raises :class:`CorruptStateError`
        instead of silently returning a fresh state (which forgot a tripped kill
        switch). This reads the file only: it takes no lock and does not consult the
        history log; :class:`~quant_rollout.Rollout` does both.
        """
        raw = read_state_bytes(Path(path))
        return cls() if raw is None else state_from_json(raw, source=str(path))

    def save(self, path: Union[str, Path]) -> None:
        """Write the state file atomically (0.1 API). Takes no lock and records no history.

        For a live rollout use the :class:`~quant_rollout.Rollout` verbs, which do both.
        """
        write_atomic(Path(path), self.to_json())


RESTORE_ADVICE = (
    "The file was left untouched. `quant-rollout restore` (Rollout.restore()) rebuilds "
    "it from the history's last line; or fix it by hand, or delete it to start the "
    "rollout afresh."
)
"""What every corrupt-state message ends with: the way out."""


def _fail(source: str, key: str, value: object, expected: str) -> CorruptStateError:
    return CorruptStateError(
        f"{source}: field {key!r} must be {expected}, got {excerpt(value)}. {RESTORE_ADVICE}"
    )


def _check_time(source: str, key: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise _fail(source, key, value, "ISO-8601 text or null")
    try:
        parse_instant(value)
    except ValueError:
        raise _fail(source, key, value, "ISO-8601 text or null") from None


def state_from_json(raw: bytes, *, source: str = "state") -> RolloutState:
    """Parse a state file's bytes (UTF-8 JSON), strictly; ``source`` names the file.

    Raises:
        CorruptStateError: not UTF-8 or not JSON (e.g. truncated), or bad fields.
        UnknownSchemaError: a ``schema_version`` newer than this release knows.
    """
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise CorruptStateError(
            f"{source}: the state file is not valid JSON (nested too deeply). {RESTORE_ADVICE}"
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptStateError(
            f"{source}: the state file is not valid JSON ({exc}). {RESTORE_ADVICE}"
        ) from None
    return state_from_dict(data, source=source)


def state_from_dict(data: Mapping[str, Any], *, source: str = "state") -> RolloutState:
    """Parse and check a state object; see :meth:`RolloutState.from_dict`."""
    if not isinstance(data, Mapping):
        raise CorruptStateError(
            f"{source}: expected a JSON object, got {type(data).__name__}. {RESTORE_ADVICE}"
        )
    version = data.get("schema_version")
    if version is None:
        unknown = sorted(set(data) - _V01_KEYS)
        if unknown:
            raise CorruptStateError(
                f"{source}: no schema_version and unknown field(s) {excerpt(unknown)}: this "
                f"is neither a quant-rollout 0.1 state file nor a newer one. {RESTORE_ADVICE}"
            )
        return _upgrade_v01(data, source)
    if isinstance(version, bool) or not isinstance(version, int):
        raise _fail(source, "schema_version", version, "a whole number")
    if version > SCHEMA_VERSION or version < 2:
        raise UnknownSchemaError(
            f"{source}: schema_version {version!r} is not one this quant-rollout reads "
            f"(it reads 0.1 files and version {SCHEMA_VERSION}); upgrade quant-rollout"
        )
    known = {f.name for f in fields(RolloutState)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise CorruptStateError(f"{source}: unknown field(s) {excerpt(unknown)}. {RESTORE_ADVICE}")
    state = _checked({**data, "schema_version": SCHEMA_VERSION}, source)  # upgraded
    older = sorted({"bot_stage", "evidence_after", "counted_through"} & set(data))
    if version < 3 and older:
        raise CorruptStateError(
            f"{source}: unknown field(s) {older!r} in a version-{version} file. " + RESTORE_ADVICE
        )
    newer = sorted(k for k in _V4_KEYS if k in data)
    if version < 4 and newer:
        raise CorruptStateError(
            f"{source}: unknown field(s) {excerpt(newer)} in a version-{version} file. "
            + RESTORE_ADVICE
        )
    # A file written before bot_stage existed keeps None: "the current stage" (the
    # stage it holds was returned to the bot by the tick or verb that wrote it).
    return state


def _upgrade_v01(data: Mapping[str, Any], source: str) -> RolloutState:
    state = _checked({**data, "schema_version": SCHEMA_VERSION}, source)
    shipped = state.ship_timestamps.get(str(state.current_stage))
    # In 0.1 the current stage's ship time both started the stage and filtered its
    # evidence; stage 0 had none, so all trades counted.
    state.evidence_since = shipped
    state.stage_entered_at = shipped
    state.updated_at = state.kill_timestamp if shipped is None else shipped
    return state


def _checked(data: Dict[str, Any], source: str) -> RolloutState:
    def get(key: str) -> Any:
        return data.get(key, getattr(_DEFAULT, key))

    stage = get("current_stage")
    if isinstance(stage, bool) or not isinstance(stage, int) or stage < 0:
        raise _fail(source, "current_stage", stage, "a whole number >= 0")
    ships = get("ship_timestamps")
    if not isinstance(ships, dict):
        raise _fail(source, "ship_timestamps", ships, "an object of stage -> time")
    for k, v in ships.items():
        if not isinstance(k, str) or not k.isdigit():
            raise _fail(source, "ship_timestamps", k, "keyed by stage numbers")
        if v is None:  # a null ship time would let a stage count every earlier trade
            raise _fail(source, f"ship_timestamps[{k!r}]", v, "ISO-8601 text")
        _check_time(source, f"ship_timestamps[{k!r}]", v)
    for key in ("kill_switch_tripped", "paused"):
        if not isinstance(get(key), bool):
            raise _fail(source, key, get(key), "true or false")
    for key in ("kill_reason", "last_decision_action", "history_hash"):
        if get(key) is not None and not isinstance(get(key), str):
            raise _fail(source, key, get(key), "text or null")
    pending = get("advance_pending_to")
    if pending is not None and (
        isinstance(pending, bool) or not isinstance(pending, int) or pending < 0
    ):
        raise _fail(source, "advance_pending_to", pending, "a stage number or null")
    for key in ("advance_veto_deadline_unix", "last_tick_unix"):
        value = get(key)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise _fail(source, key, value, "Unix seconds or null")
    if pending is not None and get("advance_veto_deadline_unix") is None:
        raise _fail(source, "advance_veto_deadline_unix", None, "set while an advance is pending")
    for key in (
        "kill_timestamp",
        "evidence_since",
        "stage_entered_at",
        "started_at",
        "advance_pending_since",
        "updated_at",
        "evidence_after",
        "counted_through",
    ):
        _check_time(source, key, get(key))
    gate_n = get("gate_n")
    if gate_n is not None and (
        isinstance(gate_n, bool) or not isinstance(gate_n, int) or gate_n < 0
    ):
        raise _fail(source, "gate_n", gate_n, "a whole number >= 0 or null")
    for key in ("gate_win_rate", "proven_win_rate"):
        value = get(key)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not 0.0 <= value <= 1.0
        ):
            raise _fail(source, key, value, "a fraction between 0 and 1 or null")
    for key in ("gate_ev_per_dollar", "proven_ev_per_dollar"):
        value = get(key)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise _fail(source, key, value, "a finite number or null")
    bot = get("bot_stage")
    if bot is not None and (isinstance(bot, bool) or not isinstance(bot, int) or bot < 0):
        raise _fail(source, "bot_stage", bot, "a stage number or null")
    windows = get("gate_windows")
    if not isinstance(windows, dict):
        raise _fail(source, "gate_windows", windows, "an object of stage -> count")
    for k, v in windows.items():
        if not isinstance(k, str) or not k.isdigit():
            raise _fail(source, "gate_windows", k, "keyed by stage numbers")
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise _fail(source, f"gate_windows[{k!r}]", v, "a whole number >= 1")
    snapshot = get("experiment")
    if snapshot is not None and not isinstance(snapshot, dict):
        raise _fail(source, "experiment", snapshot, "an object (an experiment's evidence) or null")
    for key in ("experiment_pending", "experiment_winner"):
        value = get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise _fail(source, key, value, "an arm name or null")
    if get("experiment_pending") is not None and pending is None:
        raise _fail(
            source, "experiment_pending", get("experiment_pending"), "null with no pending advance"
        )
    seq = get("history_seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise _fail(source, "history_seq", seq, "a whole number >= 0")
    values = {f.name: get(f.name) for f in fields(RolloutState)}
    values["ship_timestamps"] = dict(ships)
    values["gate_windows"] = dict(windows)
    return RolloutState(**values)


_DEFAULT = RolloutState()
_V4_KEYS = ("experiment", "experiment_pending", "experiment_winner")
