"""The audit history: an append-only JSON-lines log, one line per transition.

Each line carries its sequence number, the time, the event, the stages, the reason,
the operator's note and name, a snapshot of the metrics and of the state right after
the event, and ``prev_hash``: the SHA-256 of the previous line's exact text. A gap,
an edit or a reordering breaks the chain and :func:`verify_history` names the first
line where it breaks.

This module turns transitions into lines and lines into records; it opens no file
except in :func:`read_history`/:func:`verify_history`, which only read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from ..engine.model import Transition
from ..engine.transitions import Event
from ..errors import HistoryError

__all__ = [
    "GENESIS_HASH",
    "HistoryRecord",
    "HistoryVerification",
    "encode_transition",
    "history_path_for",
    "parse_line",
    "read_history",
    "verify_history",
    "verify_lines",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first line of a history."""

_FIELDS = (
    "seq",
    "at",
    "event",
    "from_stage",
    "to_stage",
    "reason",
    "note",
    "actor",
    "metrics",
    "state",
    "prev_hash",
)


def history_path_for(state_path: Path) -> Path:
    """``rollout_state.json`` -> ``rollout_state.history.jsonl`` beside it."""
    name = state_path.name
    stem = name[: -len(".json")] if name.endswith(".json") else name
    return state_path.with_name(stem + ".history.jsonl")


@dataclass(frozen=True)
class HistoryRecord:
    """One line of the history, parsed.

    Attributes:
        seq: 1 for the first line, then consecutive.
        at: when it happened (ISO-8601, UTC, from the rollout's clock).
        event: what happened (an :class:`~quant_rollout.engine.transitions.Event`, which
            is its own text: ``"kill"``, ``"veto"``, ...).
        from_stage, to_stage: the stage before and after.
        reason: why, in words.
        note: the operator's note ('' for automatic events).
        actor: who ran an operator verb (None for automatic events).
        metrics: the evidence metrics when a tick decided (None for operator verbs).
        state: the state right after the event (without the history link fields).
        prev_hash: SHA-256 of the previous line.
        line_hash: SHA-256 of this line.
    """

    seq: int
    at: str
    event: Event
    from_stage: int
    to_stage: int
    reason: str
    note: str
    actor: Optional[str]
    metrics: Optional[Dict[str, Any]]
    state: Dict[str, Any]
    prev_hash: str
    line_hash: str


def _digest(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def encode_transition(transition: Transition, seq: int, prev_hash: str) -> Tuple[str, str]:
    """Return ``(line, line_hash)`` for a transition; the line has no trailing newline."""
    snapshot = transition.state.to_dict()
    snapshot.pop("history_seq", None)
    snapshot.pop("history_hash", None)
    obj = {
        "seq": seq,
        "at": transition.at,
        "event": transition.event,
        "from_stage": transition.from_stage,
        "to_stage": transition.to_stage,
        "reason": transition.reason,
        "note": transition.note,
        "actor": transition.actor,
        "metrics": None if transition.metrics is None else transition.metrics.to_dict(),
        "state": snapshot,
        "prev_hash": prev_hash,
    }
    line = json.dumps(obj, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return line, _digest(line)


def parse_line(line: str, where: str) -> HistoryRecord:
    """Parse one line (without its newline). Raises HistoryError naming ``where``."""
    try:
        obj = json.loads(line)
    except RecursionError:
        raise HistoryError(f"{where}: not JSON (nested too deeply)") from None
    except ValueError as exc:
        raise HistoryError(f"{where}: not JSON ({exc})") from None
    if not isinstance(obj, dict) or set(obj) != set(_FIELDS):
        got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise HistoryError(f"{where}: expected the fields {list(_FIELDS)!r}, got {got!r}")
    ints = ("seq", "from_stage", "to_stage")
    for key in ints:
        if isinstance(obj[key], bool) or not isinstance(obj[key], int):
            raise HistoryError(f"{where}: {key} must be a whole number, got {obj[key]!r}")
    for key in ("at", "event", "reason", "note", "prev_hash"):
        if not isinstance(obj[key], str):
            raise HistoryError(f"{where}: {key} must be text, got {obj[key]!r}")
    if not isinstance(obj["state"], dict):
        raise HistoryError(f"{where}: state must be an object, got {obj['state']!r}")
    try:
        event = Event(obj["event"])
    except ValueError:
        known = [e.value for e in Event]
        raise HistoryError(
            f"{where}: unknown event {obj['event'][:40]!r}; expected one of {known!r}"
        ) from None
    return HistoryRecord(
        seq=obj["seq"],
        at=obj["at"],
        event=event,
        from_stage=obj["from_stage"],
        to_stage=obj["to_stage"],
        reason=obj["reason"],
        note=obj["note"],
        actor=obj["actor"],
        metrics=obj["metrics"],
        state=obj["state"],
        prev_hash=obj["prev_hash"],
        line_hash=_digest(line),
    )


@dataclass(frozen=True)
class HistoryVerification:
    """The result of checking a history's hash chain.

    ``ok`` is True when every line parses, sequence numbers run 1, 2, 3, ... and each
    line's ``prev_hash`` is the hash of the line before. Otherwise ``bad_line`` is the
    1-based line number of the first problem and ``problem`` says what it is.
    """

    ok: bool
    events: int
    bad_line: Optional[int] = None
    problem: Optional[str] = None
    last_hash: Optional[str] = None


def verify_lines(lines: List[str], source: str = "history") -> HistoryVerification:
    """Verify the chain of ``lines`` (each without its newline)."""
    prev = GENESIS_HASH
    expected_seq = 1
    for number, line in enumerate(lines, start=1):
        where = f"{source}, line {number}"
        try:
            record = parse_line(line, where)
        except HistoryError as exc:
            return HistoryVerification(False, number - 1, number, str(exc), prev)
        if record.seq != expected_seq:
            return HistoryVerification(
                False,
                number - 1,
                number,
                f"{where}: seq {record.seq} where {expected_seq} was expected (a line is "
                "missing or out of order)",
                prev,
            )
        if record.prev_hash != prev:
            return HistoryVerification(
                False,
                number - 1,
                number,
                f"{where}: prev_hash does not match the line before (it was edited, "
                "removed or reordered)",
                prev,
            )
        prev = record.line_hash
        expected_seq += 1
    return HistoryVerification(True, len(lines), last_hash=prev if lines else None)


def _read_lines(path: Path) -> List[str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read the history ({exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HistoryError(f"{path}: not UTF-8 text ({exc})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def verify_history(path: Union[str, Path]) -> HistoryVerification:
    """Verify the hash chain of the history file at ``path`` (a missing file is empty).

    A last line without its newline is reported as torn: the write of that event was
    interrupted, so its transition never took effect.
    """
    path = Path(path)
    lines = _read_lines(path)
    torn = bool(lines) and not path.read_bytes().endswith(b"\n")
    # An interrupted write usually leaves half a JSON object: judge the complete
    # lines, so the torn tail is reported as torn rather than as a corrupt line.
    result = verify_lines(lines[:-1] if torn else lines, str(path))
    if result.ok and torn:
        return HistoryVerification(
            False,
            len(lines) - 1,
            len(lines),
            f"{path}, line {len(lines)}: torn (no newline): the write was interrupted; "
            "the next tick or verb removes it",
            result.last_hash,
        )
    return result


def read_history(path: Union[str, Path]) -> List[HistoryRecord]:
    """Read every record of the history at ``path`` (a missing file is empty).

    Raises HistoryError naming the first line that does not parse. A torn last line
    (no newline) is left out: its transition never took effect.
    """
    path = Path(path)
    lines = _read_lines(path)
    if lines and not path.read_bytes().endswith(b"\n"):
        lines.pop()
    return [parse_line(line, f"{path}, line {i}") for i, line in enumerate(lines, start=1)]
