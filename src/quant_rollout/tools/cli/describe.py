"""Text and JSON for stages, gates, kill switches and history records, shared by
several commands."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..._durations import seconds_to_us
from ...engine import Stage
from ...gates import Gate
from ...kill import KillSwitch, criterion_name
from ...metrics import Metrics
from ...rollout import Rollout
from ...storage.history import HistoryRecord, HistoryVerification
from .common import (
    _arrow,
    _iso,
    _out,
)

__all__: list[str] = []


def _num(value: float, name: str = "") -> str:
    if name == "n" or (isinstance(value, int) and not isinstance(value, bool)):
        return str(int(value))
    return f"{value:.6g}"


def _criteria(gate: Gate) -> List[Tuple[str, float]]:
    """(criterion, required) for every criterion the gate sets, in the order it checks."""
    return [(c.name, c.required) for c in gate.progress(Metrics.empty(), days_since_prev=0.0)]


def _gate_text(gate: Optional[Gate]) -> str:
    if gate is None:
        return "none: reached only by promote"
    if gate.confidence is None:
        plain = ", ".join(f"{name}>={_num(req, name)}" for name, req in _criteria(gate))
        return plain + _calendar_text(gate)
    # A confidence gate shows the true value above the bar, hence ">".
    tested = ("win_rate", "ev_per_dollar")
    text = ", ".join(
        f"{name}{'>' if name in tested else '>='}{_num(req, name)}" for name, req in _criteria(gate)
    )
    text += f" at {gate.confidence * 100:g}% confidence"
    if gate.revert_if_cannot_pass:
        text += "; reverts to stage 0 if it cannot pass"
    return text + _calendar_text(gate)


def _calendar_text(gate: Gate) -> str:
    """``; only mon-fri 09:00-17:00 America/New_York; not fri 15:00-17:00 ...`` or ''."""
    text = ""
    if gate.windows:
        text += "; only " + " or ".join(_rule_text(w) for w in gate.windows)
    if gate.blackouts:
        text += "; not " + " nor ".join(_rule_text(b) for b in gate.blackouts)
    return text


def _rule_text(rule: object) -> str:
    """A calendar rule as its operator wrote it."""
    return str(getattr(rule, "text", rule))


def _kill_text(kill: KillSwitch) -> List[str]:
    """0.1's checks on the first line, then one line per criterion."""
    checks = [
        f"{name}_lookback={getattr(kill, name + '_lookback')!r} "
        f"{name}_threshold={getattr(kill, name + '_threshold')!r}"
        for name in ("wr", "ev")
        if getattr(kill, name + "_threshold") is not None
    ]
    seed = " ".join(checks) if checks else "lookback checks off (wr_threshold, ev_threshold: none)"
    return [seed, *(_criterion_text(c) for c in kill.criteria)]


def _criterion_text(criterion: Any) -> str:
    """``win_rate_cusum unacceptable=0.45 horizon=2000``: the fields set, or the repr."""
    if not dataclasses.is_dataclass(criterion):
        return repr(criterion)
    fields = [
        f"{f.name}={getattr(criterion, f.name)!r}"
        for f in dataclasses.fields(criterion)
        if f.default is dataclasses.MISSING or getattr(criterion, f.name) != f.default
    ]
    return " ".join([criterion_name(criterion), *fields])


def _params_text(params: Mapping[str, Any]) -> str:
    if not params:
        return "(none)"
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in params.items())


def _stage_label(rollout: Rollout, num: Optional[int]) -> str:
    if num is None:
        return "-"
    try:
        return rollout.config.stage(num).label
    except KeyError:
        return str(num)


def _stages_of(record: HistoryRecord, arrow: str) -> str:
    """``0→1``: a veto window shows the stage it leads to, as a tick's decision does
    (and `replay`), though the rollout stays where it is until the window closes."""
    to = record.to_stage
    if record.event == "veto_open":
        pending = record.state.get("advance_pending_to")
        if isinstance(pending, int):
            to = pending
    return f"{record.from_stage}{arrow}{to}"


def _move(rollout: Rollout, from_stage: int, to_stage: int) -> str:
    """``1 (canary) → 2 (full)``."""
    return f"{_stage_label(rollout, from_stage)} {_arrow()} {_stage_label(rollout, to_stage)}"


def _reason(rollout: Rollout, record: HistoryRecord) -> str:
    """The recorded reason; a ``veto_open`` also says where and when it would land."""
    if record.event != "veto_open":
        return record.reason
    pending = record.state.get("advance_pending_to")
    deadline = record.state.get("advance_veto_deadline_unix")
    if not isinstance(pending, int) or not isinstance(deadline, (int, float)):
        return record.reason
    at = _iso(seconds_to_us(deadline))
    return f"{record.reason} ({_arrow()} stage {_stage_label(rollout, pending)} at {at})"


def _stage_json(stage: Optional[Stage]) -> Optional[Dict[str, Any]]:
    if stage is None:
        return None
    return {
        "num": stage.num,
        "name": stage.name,
        "params": dict(stage.params),
        "gate": None if stage.gate is None else _gate_json(stage.gate),
    }


def _gate_json(gate: Gate) -> Dict[str, Any]:
    """The gate's fields, its calendar rules as the text they were written in."""
    data = dataclasses.asdict(gate)
    data["windows"] = [_rule_text(w) for w in gate.windows]
    data["blackouts"] = [_rule_text(b) for b in gate.blackouts]
    return data


def _record_json(record: HistoryRecord, full: bool) -> Dict[str, Any]:
    data = dataclasses.asdict(record)
    if not full:
        for key in ("metrics", "state", "prev_hash", "line_hash"):
            data.pop(key)
    return data


def _verification_json(v: HistoryVerification) -> Dict[str, Any]:
    return dataclasses.asdict(v)


def _dump(data: object) -> None:
    _out(json.dumps(data, indent=2, default=str, allow_nan=True))
