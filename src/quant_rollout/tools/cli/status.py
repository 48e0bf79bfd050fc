"""``quant-rollout status``: where the rollout stands, as text or JSON."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Dict, List, Optional, Sequence

from ..._durations import seconds_to_us
from ...engine import Phase, gate_window
from ...gates import Gate
from ...rollout import Rollout, RolloutStatus
from ...stats.spending import window_confidence
from ...trades import format_instant, parse_instant
from .common import (
    EXIT_OK,
    PROG,
    _arrow,
    _field,
    _iso,
    _out,
    _relative,
    _span,
    _when,
    _width,
)
from .describe import (
    _dump,
    _gate_text,
    _num,
    _params_text,
    _reason,
    _record_json,
    _stage_json,
    _stage_label,
    _stages_of,
)
from .source import (
    _read_trades,
    _rollout,
    _Source,
)

__all__: list[str] = []


def _cmd_status(args: argparse.Namespace) -> int:
    rollout, source = _rollout(args)
    history = None if args.trades is None else _read_trades(args.trades, args)
    trades = None if history is None else history.trades
    if args.closed_through is None:
        status = rollout.status(trades)
    else:
        status = rollout.status(trades, closed_through=args.closed_through)
    if args.json:
        _dump(_status_json(rollout, source, status, history))
    else:
        for line in _status_lines(rollout, source, status, history):
            _out(line)
    return EXIT_OK


def _status_json(
    rollout: Rollout, source: _Source, st: RolloutStatus, history: Any
) -> Dict[str, Any]:
    pending = None
    if st.advance_pending_to is not None:
        deadline = st.veto_deadline_unix
        pending = {
            "to_stage": st.advance_pending_to,
            "name": _stage_name(rollout, st.advance_pending_to),
            "since": st.state.advance_pending_since,
            "deadline": None if deadline is None else format_instant(seconds_to_us(deadline)),
            "deadline_unix": deadline,
            "seconds_left": st.veto_seconds_left,
            "deadline_local": st.veto_deadline_local,
        }
    gate = None
    if st.gate_progress is not None and st.gate_result is not None:
        target = st.advance_pending_to
        if target is None and st.next_stage is not None:
            target = st.next_stage.num
        gate = {
            "to_stage": target,
            "verdict": st.gate_result.verdict.value,
            "reason": st.gate_result.reason,
            "criteria": [dataclasses.asdict(c) for c in st.gate_progress],
        }
    trades = None
    if history is not None:
        trades = {
            "source": history.source,
            "format": history.format,
            "count": len(history.trades),
            "skipped": len(history.skipped),
        }
    last = None if st.last_event is None else _record_json(st.last_event, full=False)
    return {
        "now": st.now,
        "source": source.label,
        "state_path": None if rollout.state_path is None else str(rollout.state_path),
        "phase": st.phase.value,
        "stage": _stage_json(st.stage),
        "next_stage": _stage_json(st.next_stage),
        "kill_switch": {
            "tripped": st.kill_switch_tripped,
            "reason": st.kill_reason,
            "at": st.kill_timestamp,
        },
        "pending_advance": pending,
        "advance_window": None
        if st.advance_window is None
        else {"text": st.advance_window, "opens_at": st.advance_window_opens_at},
        "bot_stage": st.state.delivered_stage,
        "bot_told": st.bot_told,
        "paused": st.paused,
        "started_at": st.started_at,
        "stage_entered_at": st.stage_entered_at,
        "evidence_since": st.evidence_since,
        "gate_window": gate_window(st.state),
        "judged_metrics": None if st.judged_metrics is None else st.judged_metrics.to_dict(),
        "evidence_waiting": st.evidence_waiting,
        "complete_before": st.complete_before,
        "trades_ahead": st.trades_ahead,
        "last_decision_action": st.state.last_decision_action,
        "last_event": last,
        "metrics": None if st.metrics is None else st.metrics.to_dict(),
        "gate_progress": gate,
        "gate_proof": _proof_json(st),
        "kill_criteria": None
        if st.kill_criteria is None
        else [dataclasses.asdict(c) for c in st.kill_criteria],
        "trades": trades,
        "experiment": _experiment_json(st),
    }


def _experiment_json(st: RolloutStatus) -> Optional[Dict[str, Any]]:
    """The arms side by side, or None on a plain stage."""
    report = st.experiment
    if report is None:
        return None
    arms = []
    for row in report.arms:
        arms.append(
            {
                "name": row.name,
                "weight": row.weight,
                "dropped": row.dropped,
                "trades": row.trades,
                "wins": row.wins,
                "win_rate": row.win_rate,
                "ev_per_dollar": row.ev_per_dollar,
                "pnl": row.pnl,
                "opportunities": row.opportunities,
                "pnl_per_opportunity": row.pnl_per_opportunity,
                "comparisons": [
                    {
                        "metric": c.metric.value,
                        "difference": c.difference,
                        "lower": c.lower,
                        "upper": c.upper,
                        "verdict": c.verdict.value,
                        "pairs": c.pairs,
                    }
                    for c in row.comparisons
                ],
            }
        )
    return {
        "metric": report.metric.value,
        "arms": arms,
        "winner": report.winner,
        "worse": list(report.worse),
        "srm_alarm": report.srm_alarm,
        "srm_e_value": None if report.srm_e_value == float("inf") else report.srm_e_value,
        "killed": [list(k) for k in report.killed],
        "reason": report.reason,
        "pending_arm": st.state.experiment_pending,
    }


def _proof_json(st: RolloutStatus) -> Optional[Dict[str, Any]]:
    """What the current stage's gate evidence showed, or None (not entered by a gate)."""
    s = st.state
    if s.gate_n is None:
        return None
    return {
        "n": s.gate_n,
        "win_rate": s.gate_win_rate,
        "ev_per_dollar": s.gate_ev_per_dollar,
        "proven_win_rate": s.proven_win_rate,
        "proven_ev_per_dollar": s.proven_ev_per_dollar,
    }


def _stage_name(rollout: Rollout, num: int) -> str:
    try:
        return rollout.config.stage(num).name
    except KeyError:
        return ""


_PHASE_TEXT = {
    Phase.RUNNING: "running",
    Phase.VETO_PENDING: "VETO WINDOW OPEN: an advance is pending",
    Phase.PAUSED: "paused: no automatic advance",
    Phase.KILLED: "KILLED: kill switch latched at stage 0",
}


def _status_lines(rollout: Rollout, source: _Source, st: RolloutStatus, history: Any) -> List[str]:
    w = _width()
    arrow = _arrow()
    now = parse_instant(st.now)
    lines: List[str] = []

    def add(label: str, value: str) -> None:
        lines.extend(_field(label, value, w))

    add("rollout", source.label)
    if rollout.state_path is not None:
        add("state", str(rollout.state_path))
    add("now", _iso(now))
    last_stage = st.next_stage is None
    add("stage", st.stage.label + (" (last stage)" if last_stage else ""))
    add("params", _params_text(st.stage.params if st.params is None else st.params))
    if st.bot_told is not None:
        add("bot", st.bot_told)
    add("phase", _PHASE_TEXT[st.phase])
    if st.advance_pending_to is not None:
        deadline = st.veto_deadline_unix
        assert deadline is not None
        deadline_us = seconds_to_us(deadline)
        left = st.veto_seconds_left or 0.0
        when = (
            f"in {_span(left)}, at {_iso(deadline_us)}"
            if left > 0
            else f"(window closed {_relative(deadline_us, now)}): lands on the next tick "
            "if the gate still holds"
        )
        if left > 0 and st.veto_deadline_local is not None:
            when += f" ({st.veto_deadline_local})"
        add("advance", f"{arrow} stage {_stage_label(rollout, st.advance_pending_to)} {when}")
        add("", f"stop it: {PROG} veto --note '...'")
    if st.kill_switch_tripped:
        add("kill", f"TRIPPED {_when(st.kill_timestamp, now)}: {st.kill_reason}")
        add("", f"unlatch: {PROG} clear-kill --note '...'")
    else:
        add("kill", "armed (not tripped)")
        for k in st.kill_criteria or ():
            add("", f"{k.name}: {k.state}: {k.detail}" if k.detail else f"{k.name}: {k.state}")
    if st.advance_window is not None:
        add("window", st.advance_window)
    add("paused", "yes" if st.paused else "no")
    if st.started_at is None:
        add("started", "not yet: no tick or verb recorded")
    else:
        add("started", _when(st.started_at, now))
        add("in stage", f"since {_when(st.stage_entered_at, now)}")
    if st.state.gate_n is not None:
        add("proof", _proof_text(st.state))
    add(
        "evidence",
        "all trades (no revert or veto yet)"
        if st.evidence_since is None
        else f"trades since {_when(st.evidence_since, now)}",
    )
    target_gate = st.next_stage.gate if st.next_stage is not None else None
    window = gate_window(st.state)
    if window > 1 and target_gate is not None and target_gate.confidence is not None:
        add(
            "window",
            f"{window} of stage {st.stage.label} (restarts: a veto, a cleared kill, a "
            f"reset, a revert): its gate tests at "
            f"{window_confidence(target_gate.confidence, window):.2%}, so that all its "
            f"windows together stay within {1 - target_gate.confidence:.0%}",
        )
    if st.evidence_waiting:
        through = "" if st.complete_before is None else f" opened from {st.complete_before}"
        add(
            "waiting",
            f"{st.evidence_waiting} closed trades{through} wait for older trades to close "
            "before the gate counts them (say what is open: --closed-through)",
        )
    if st.last_event is not None:
        e = st.last_event
        add(
            "last",
            f"#{e.seq} {e.event} {_stages_of(e, arrow)} "
            f"{_when(e.at, now)}: {_reason(rollout, e)}" + (f" (by {e.actor})" if e.actor else ""),
        )
    target = None
    if st.advance_pending_to is not None:
        target = rollout.config.stage(st.advance_pending_to)
    elif st.next_stage is not None:
        target = st.next_stage
    if st.experiment is not None and target is not None:
        add("next", f"stage {target.label}: runs the arm the experiment promotes")
    elif target is not None and st.gate_progress is None:
        add("next", f"stage {target.label}: {_gate_text(target.gate)}")
    if history is not None:
        skipped = f", {len(history.skipped)} bad rows skipped" if history.skipped else ""
        add("trades", f"{len(history.trades)} read from {history.source}{skipped}")
    if st.trades_ahead is not None:
        add("clock", f"WARNING: {st.trades_ahead}")
    if st.metrics is not None:
        m = st.metrics
        add(
            "results",
            f"n={m.n} win_rate={m.win_rate:.3f} ev_per_dollar={m.ev_per_dollar:.4f} "
            f"pnl={m.total_pnl:.6g}",
        )
    if target is not None and st.gate_progress is not None and st.gate_result is not None:
        verdict = "PASSES" if st.gate_result.passes else st.gate_result.verdict.value
        detail = "" if st.gate_result.passes else f" ({st.gate_result.reason})"
        add("gate", f"to stage {target.label}: {verdict}{detail}")
        if any(c.lower_bound is not None for c in st.gate_progress):
            lines.extend(_bounds_table(st.gate_progress, target.gate))
        else:
            lines.append(f"  {'criterion':<18}{'observed':>12}{'required':>12}  met")
            for c in st.gate_progress:
                lines.append(
                    f"  {c.name:<18}{_num(c.observed, c.name):>12}{_num(c.required, c.name):>12}"
                    f"  {'yes' if c.met else 'no'}"
                )
    elif st.experiment_text is not None:
        add("experiment", "" if history is not None else "(routing only: pass --trades to compare)")
        lines.extend("  " + line for line in st.experiment_text.splitlines())
    elif target is not None and history is not None and target.gate is None:
        add("gate", f"stage {target.label} has no gate: reached only by promote")
    elif target is None and history is not None:
        add("gate", "none: this is the last stage")
    return lines


def _proof_text(state: Any) -> str:
    """``entered on 185 trades: win rate 0.768 (proven >= 0.703), EV/$ 0.1860 (...)``."""
    wr = f"win rate {state.gate_win_rate:.3f}"
    if state.proven_win_rate is not None:
        wr += f" (proven >= {state.proven_win_rate:.3f})"
    ev = f"EV/$ {state.gate_ev_per_dollar:.4f}"
    if state.proven_ev_per_dollar is not None:
        ev += f" (proven >= {state.proven_ev_per_dollar:.4f})"
    return f"the gate passed on {state.gate_n} trades: {wr}, {ev}"


def _bounds_table(progress: Sequence[Any], gate: Optional[Gate]) -> List[str]:
    """The gate table of a confidence gate: each tested criterion's anytime bound."""
    confidence = "" if gate is None or gate.confidence is None else f"{gate.confidence * 100:g}% "
    lines = [f"  {'criterion':<18}{'observed':>12}{confidence + 'bound':>14}{'required':>12}  met"]
    digits = {"win_rate": 3, "ev_per_dollar": 4}
    for c in progress:
        bound = ""
        places = digits.get(c.name, 4)
        if c.cannot_pass and c.upper_bound is not None:
            bound = f"<={c.upper_bound:.{places}f}"
        elif c.lower_bound is not None:
            bound = f">={c.lower_bound:.{places}f}"
        met = "yes" if c.met else ("never" if c.cannot_pass else "no")
        lines.append(
            f"  {c.name:<18}{_num(c.observed, c.name):>12}{bound:>14}"
            f"{_num(c.required, c.name):>12}  {met}"
        )
    return lines
