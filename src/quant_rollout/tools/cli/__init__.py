"""The ``quant-rollout`` command: see and steer a live rollout from a shell (or a phone).

``quant-rollout --help`` lists the commands. The rollout comes from ``--config FILE``
(a TOML/JSON file, see :mod:`quant_rollout.tools.config`), or ``--rollout
module.path:factory`` (the bot's own function returning a :class:`~quant_rollout.Rollout`;
the current folder is importable), or the ``QUANT_ROLLOUT_CONFIG`` environment
variable, or ``./rollout.toml`` when it exists, in that order.

Exit codes: 0 done; 1 refused or nothing to do (a veto with no pending advance, a
declined confirmation, a broken history chain); 2 bad usage, configuration or state.
Errors are one line on stderr saying what to do; ``--debug`` adds the traceback.

Verbs take the rollout's lock like a tick does, so they are safe while the bot ticks
in another process, and are recorded in the history with who ran them
(``$USER@hostname`` unless ``--actor``).

Environment (for tests and reproducible documentation, deliberately not in ``--help``):
``QUANT_ROLLOUT_NOW`` — an ISO-8601 time (no offset means UTC). When set, every
command uses it as "now" instead of the system clock: the time a verb is recorded
at, the time left in a veto window, the "3h ago" of ``status`` and ``history``. A
``--rollout`` factory's own clock is replaced by it too.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import shutil
import socket
import sys
import textwrap
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..._version import __version__
from ...clock import Clock, read_clock, system_clock
from ...engine.machine import Phase, Stage, operate
from ...errors import ConfigFileError, HistoryError, OperatorRefusedError, RolloutError
from ...gates import Gate
from ...kill import KillSwitch, criterion_name
from ...metrics import Metrics
from ...rollout import Rollout, RolloutStatus
from ...storage.history import HistoryRecord, HistoryVerification
from ...trades import format_instant, parse_instant, to_datetime
from ..config import EXAMPLE_CONFIG, LoadedConfig, format_duration, load_config, parse_duration

__all__ = ["main"]

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_ERROR = 2

PROG = "quant-rollout"
CONFIG_ENV = "QUANT_ROLLOUT_CONFIG"
NOW_ENV = "QUANT_ROLLOUT_NOW"
DEFAULT_CONFIG = "rollout.toml"


class _CommandError(Exception):
    """End the command with ``code`` and a one-line message on stderr."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


# ----------------------------------------------------------------------------- output


def _width() -> int:
    return max(40, min(100, shutil.get_terminal_size((80, 24)).columns))


def _arrow() -> str:
    try:
        "→".encode(getattr(sys.stdout, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "->"
    return "→"


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _field(label: str, value: str, width: int, pad: int = 10) -> List[str]:
    """``label   value`` with the value wrapped under itself."""
    return textwrap.wrap(
        value,
        width=width,
        initial_indent=f"{label:<{pad}}",
        subsequent_indent=" " * pad,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [label]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# ----------------------------------------------------------------------------- time


def _iso(instant_us: int) -> str:
    return to_datetime(instant_us).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _relative(instant_us: int, now_us: int) -> str:
    """``in 4m12s``, ``3h05m ago`` or ``now``."""
    delta = (instant_us - now_us) / 1e6
    if abs(delta) < 1:
        return "now"
    return f"in {_span(delta)}" if delta > 0 else f"{_span(-delta)} ago"


def _when(stamp: Optional[str], now_us: int) -> str:
    if stamp is None:
        return "-"
    us = parse_instant(stamp)
    return f"{_iso(us)} ({_relative(us, now_us)})"


def _fixed_clock(text: str) -> Clock:
    try:
        instant = parse_instant(text)
    except ValueError:
        raise _CommandError(
            f"{NOW_ENV}={text!r} is not an ISO-8601 time (e.g. 2026-05-01T12:00:00Z); "
            "unset it to use the system clock"
        ) from None
    fixed = to_datetime(instant)

    def clock() -> datetime:
        return fixed

    return clock


def _clock() -> Clock:
    text = os.environ.get(NOW_ENV)
    return system_clock if not text else _fixed_clock(text)


# ----------------------------------------------------------------------------- the rollout


@dataclasses.dataclass(frozen=True)
class _Source:
    kind: str  # "config" or "rollout"
    value: str

    @property
    def label(self) -> str:
        return self.value if self.kind == "config" else f"--rollout {self.value}"


def _source(args: argparse.Namespace) -> _Source:
    config = getattr(args, "config", None)
    factory = getattr(args, "rollout", None)
    if config and factory:
        raise _CommandError("give --config or --rollout, not both")
    if factory:
        return _Source("rollout", factory)
    if config:
        return _Source("config", config)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return _Source("config", env)
    if Path(DEFAULT_CONFIG).is_file():
        return _Source("config", DEFAULT_CONFIG)
    raise _CommandError(
        f"which rollout? pass --config FILE (or set {CONFIG_ENV}) or --rollout "
        f"module:factory; `{PROG} init` writes an example {DEFAULT_CONFIG}"
    )


def _import_factory(spec: str) -> Rollout:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise _CommandError(
            f"--rollout takes module.path:factory (e.g. mybot.rollout:build), got {spec!r}"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)  # like `python -m`: the bot's own package is importable
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise _CommandError(
            f"--rollout {spec}: cannot import {module_name!r} ({exc}); run from the folder "
            "that holds it or add that folder to PYTHONPATH"
        ) from exc
    except Exception as exc:
        raise _CommandError(
            f"--rollout {spec}: importing {module_name!r} raised {_describe(exc)}"
        ) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise _CommandError(f"--rollout {spec}: {module_name!r} has no {attr!r}") from None
    if isinstance(obj, Rollout):
        return obj
    if not callable(obj):
        raise _CommandError(
            f"--rollout {spec}: {attr!r} is neither a Rollout nor a function returning one"
        )
    try:
        rollout = obj()
    except RolloutError:
        raise
    except Exception as exc:
        raise _CommandError(f"--rollout {spec}: the factory raised {_describe(exc)}") from exc
    if not isinstance(rollout, Rollout):
        raise _CommandError(
            f"--rollout {spec}: the factory returned {type(rollout).__name__}, not a Rollout"
        )
    return rollout


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_one_line(str(exc))}"


def _rollout(args: argparse.Namespace) -> Tuple[Rollout, _Source]:
    source = _source(args)
    if source.kind == "config":
        return Rollout.from_config(source.value, clock=_clock()), source
    rollout = _import_factory(source.value)
    if os.environ.get(NOW_ENV):
        rollout.clock = _clock()
    return rollout, source


def _now_us(rollout: Rollout) -> int:
    return read_clock(rollout.clock)


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return str(args.actor)
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or os.environ.get("USERNAME")
    if not user:
        try:
            import getpass

            user = getpass.getuser()
        except Exception:  # no name for this uid (a bare container)
            user = "unknown"
    return f"{user}@{socket.gethostname()}"


# ----------------------------------------------------------------------------- descriptions


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
        return ", ".join(f"{name}>={_num(req, name)}" for name, req in _criteria(gate))
    # A confidence gate shows the true value above the bar, hence ">".
    tested = ("win_rate", "ev_per_dollar")
    text = ", ".join(
        f"{name}{'>' if name in tested else '>='}{_num(req, name)}" for name, req in _criteria(gate)
    )
    text += f" at {gate.confidence * 100:g}% confidence"
    if gate.revert_if_cannot_pass:
        text += "; reverts to stage 0 if it cannot pass"
    return text


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


def _fields_text(obj: Any) -> str:
    """``name=value`` for each field of a dataclass instance (a KillSwitch, say)."""
    return " ".join(f"{f.name}={getattr(obj, f.name)!r}" for f in dataclasses.fields(obj))


def _stage_label(rollout: Rollout, num: Optional[int]) -> str:
    if num is None:
        return "-"
    try:
        return rollout.config.stage(num).label
    except KeyError:
        return str(num)


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
    at = _iso(round(deadline * 1e6))
    return f"{record.reason} ({_arrow()} stage {_stage_label(rollout, pending)} at {at})"


def _stage_json(stage: Optional[Stage]) -> Optional[Dict[str, Any]]:
    if stage is None:
        return None
    return {
        "num": stage.num,
        "name": stage.name,
        "params": dict(stage.params),
        "gate": None if stage.gate is None else dataclasses.asdict(stage.gate),
    }


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


# ----------------------------------------------------------------------------- trades


def _read_trades(path: str, args: argparse.Namespace) -> Any:
    try:
        from ..importers import read_trades
    except ImportError as exc:  # pragma: no cover - the importers ship with the package
        raise _CommandError(f"reading trade files is not available here ({exc})") from exc
    return read_trades(
        path,
        format=args.format,
        pnl=args.pnl,
        size=args.size,
        time=args.time,
        skip_bad=args.skip_bad,
    )


# ----------------------------------------------------------------------------- status


def _cmd_status(args: argparse.Namespace) -> int:
    rollout, source = _rollout(args)
    history = None if args.trades is None else _read_trades(args.trades, args)
    status = rollout.status(None if history is None else history.trades)
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
            "deadline": None if deadline is None else format_instant(round(deadline * 1e6)),
            "deadline_unix": deadline,
            "seconds_left": st.veto_seconds_left,
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
        "paused": st.paused,
        "started_at": st.started_at,
        "stage_entered_at": st.stage_entered_at,
        "evidence_since": st.evidence_since,
        "last_decision_action": st.state.last_decision_action,
        "last_event": last,
        "metrics": None if st.metrics is None else st.metrics.to_dict(),
        "gate_progress": gate,
        "gate_proof": _proof_json(st),
        "kill_criteria": None
        if st.kill_criteria is None
        else [dataclasses.asdict(c) for c in st.kill_criteria],
        "trades": trades,
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
    add("params", _params_text(st.stage.params))
    add("phase", _PHASE_TEXT[st.phase])
    if st.advance_pending_to is not None:
        deadline = st.veto_deadline_unix
        assert deadline is not None
        deadline_us = round(deadline * 1e6)
        left = st.veto_seconds_left or 0.0
        when = (
            f"in {_span(left)}, at {_iso(deadline_us)}"
            if left > 0
            else f"(window closed {_relative(deadline_us, now)}): lands on the next tick "
            "if the gate still holds"
        )
        add("advance", f"{arrow} stage {_stage_label(rollout, st.advance_pending_to)} {when}")
        add("", f"stop it: {PROG} veto --note '...'")
    if st.kill_switch_tripped:
        add("kill", f"TRIPPED {_when(st.kill_timestamp, now)}: {st.kill_reason}")
        add("", f"unlatch: {PROG} clear-kill --note '...'")
    else:
        add("kill", "armed (not tripped)")
        for k in st.kill_criteria or ():
            add("", f"{k.name}: {k.state}: {k.detail}" if k.detail else f"{k.name}: {k.state}")
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
    if st.last_event is not None:
        e = st.last_event
        add(
            "last",
            f"#{e.seq} {e.event} {e.from_stage}{arrow}{e.to_stage} "
            f"{_when(e.at, now)}: {_reason(rollout, e)}" + (f" (by {e.actor})" if e.actor else ""),
        )
    target = None
    if st.advance_pending_to is not None:
        target = rollout.config.stage(st.advance_pending_to)
    elif st.next_stage is not None:
        target = st.next_stage
    if target is not None and st.gate_progress is None:
        add("next", f"stage {target.label}: {_gate_text(target.gate)}")
    if history is not None:
        skipped = f", {len(history.skipped)} bad rows skipped" if history.skipped else ""
        add("trades", f"{len(history.trades)} read from {history.source}{skipped}")
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


# ----------------------------------------------------------------------------- verbs


def _cmd_verb(args: argparse.Namespace) -> int:
    verb: str = args.verb
    rollout, _ = _rollout(args)
    actor = _actor(args)
    to_stage: Optional[int] = getattr(args, "to", None)
    if verb in ("promote", "reset") and not args.yes:
        question, target = _preview(rollout, verb, to_stage)
        if not _confirm(question):
            raise _CommandError("cancelled; nothing changed", EXIT_REFUSED)
        if verb == "promote":
            # Promote to the stage the operator agreed to: if the bot advanced while
            # they read the question, "the next stage" is no longer the one they saw.
            to_stage = target
    result = rollout.operate(verb, note=args.note, actor=actor, to_stage=to_stage)
    if not result.applied:
        raise _CommandError(f"nothing to do: {result.reason}", EXIT_REFUSED)
    width = _width()
    t = result.transitions[-1]
    wrap = textwrap.TextWrapper(width, subsequent_indent="  ", break_on_hyphens=False)
    for line in wrap.wrap(result.reason):
        _out(line)
    if t.from_stage != t.to_stage:
        _out(f"stage {_move(rollout, t.from_stage, t.to_stage)}")
    else:
        _out(f"stage {_stage_label(rollout, t.to_stage)}, unchanged")
    for line in wrap.wrap(f"recorded at {_iso(parse_instant(t.at))} by {actor}"):
        _out(line)
    if args.note:
        for line in wrap.wrap(f"note: {args.note}"):
            _out(line)
    return EXIT_OK


def _preview(rollout: Rollout, verb: str, to_stage: Optional[int]) -> Tuple[str, int]:
    """(the question, the stage it leads to) for what the verb would do now.

    Raises OperatorRefusedError when the verb would be refused, before anyone is asked.
    """
    state, _last = rollout.store.read()
    rollout.config.check_state(state, rollout.store.source)
    now = _now_us(rollout)
    dry = operate(rollout.config, state, verb, now, to_stage=to_stage)  # pure: writes nothing
    t = dry.transitions[-1]
    move = f"stage {_move(rollout, t.from_stage, t.to_stage)}"
    if verb == "promote":
        return f"promote {move} now, skipping its gate and the veto window?", t.to_stage
    question = (
        f"reset {move}? This clears the kill latch, any pending advance and the pause, "
        "and evidence restarts now; the history is kept."
    )
    return question, t.to_stage


def _confirm(question: str) -> bool:
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        raise _CommandError(
            "refusing without confirmation: stdin is not a terminal; pass --yes to confirm",
            EXIT_REFUSED,
        )
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = stdin.readline().strip().lower()
    return answer in ("y", "yes")


# ----------------------------------------------------------------------------- history


def _since(text: str, now_us: int) -> int:
    try:
        return now_us - round(parse_duration(text) * 1e6)
    except ValueError:
        pass
    try:
        return parse_instant(text)
    except ValueError:
        raise _CommandError(
            f"--since takes an ISO time (2026-05-01T12:00Z) or a duration back from now "
            f"(90m, 2h, 7d), got {text!r}"
        ) from None


def _cmd_history(args: argparse.Namespace) -> int:
    rollout, _ = _rollout(args)
    if args.verify:
        v = rollout.verify_history()
        if args.json:
            _dump({"verification": _verification_json(v)})
        elif v.ok:
            _out(f"history OK: {v.events} events, hash chain intact")
        else:
            _out(f"history BROKEN at line {v.bad_line} (after {v.events} good events)")
            for line in _field("", v.problem or "", _width(), pad=2):
                _out(line)
        return EXIT_OK if v.ok else EXIT_REFUSED
    try:
        records = rollout.history()
    except HistoryError as exc:
        raise _CommandError(
            f"{_one_line(str(exc))}; run `{PROG} history --verify` to locate it"
        ) from exc
    now = _now_us(rollout)
    if args.since is not None:
        since = _since(args.since, now)
        records = [r for r in records if parse_instant(r.at) >= since]
    if args.json:
        _dump({"events": [_record_json(r, full=True) for r in records]})
        return EXIT_OK
    if not records:
        _out("no events" + (" in that period" if args.since else " recorded yet"))
        return EXIT_OK
    for line in _history_table(rollout, records, now):
        _out(line)
    return EXIT_OK


def _history_table(rollout: Rollout, records: Sequence[HistoryRecord], now_us: int) -> List[str]:
    arrow = _arrow()
    seq_w = max(3, max(len(str(r.seq)) for r in records))
    event_w = max(5, max(len(r.event) for r in records))
    stages = [f"{r.from_stage}{arrow}{r.to_stage}" for r in records]
    stage_w = max(5, max(len(s) for s in stages))
    time_w = 20
    left = seq_w + 2 + time_w + 2 + event_w + 2 + stage_w + 2
    text_w = _width() - left
    narrow = text_w < 24
    if narrow:  # the reason goes on its own lines under the row
        text_w = _width() - seq_w - 2
    head = f"{'#':>{seq_w}}  {'time (UTC)':<{time_w}}  {'event':<{event_w}}  {'stage':<{stage_w}}"
    out = [head + ("" if narrow else "  reason")]
    for r, stage in zip(records, stages):
        at = parse_instant(r.at)
        text = textwrap.wrap(_reason(rollout, r), text_w, break_on_hyphens=False) or [""]
        if r.note:
            text += textwrap.wrap(f"note: {r.note}", text_w, break_on_hyphens=False)
        if r.actor:
            text += textwrap.wrap(f"by {r.actor}", text_w, break_on_hyphens=False)
        row = f"{r.seq:>{seq_w}}  {_iso(at):<{time_w}}  {r.event:<{event_w}}  {stage:<{stage_w}}"
        rel = " " * (seq_w + 2) + f"{_relative(at, now_us):<{time_w}}"
        if narrow:
            out.append(row.rstrip())
            out.append(rel.rstrip())
            out.extend(" " * (seq_w + 2) + t for t in text)
            continue
        pad = " " * left
        out.append(f"{row}  {text[0]}")
        second = text[1] if len(text) > 1 else ""
        out.append((rel + " " * (left - len(rel)) + second).rstrip())
        out.extend(pad + t for t in text[2:])
    return out


# ----------------------------------------------------------------------------- validate, init


def _cmd_validate(args: argparse.Namespace) -> int:
    source = _Source("config", args.file) if args.file is not None else _source(args)
    if source.kind == "rollout":
        rollout = _import_factory(source.value)
        config = LoadedConfig(
            rollout.config.stages,
            rollout.config.kill_switch,
            rollout.config.veto_window_seconds,
            rollout.state_path,
        )
    else:
        try:
            config = load_config(source.value)
        except ConfigFileError as exc:
            for problem in exc.errors:
                sys.stderr.write(_one_line(str(problem)) + "\n")
            n = len(exc.errors)
            sys.stderr.write(f"{source.value}: {n} problem{'s' if n > 1 else ''}; nothing loaded\n")
            return EXIT_ERROR
    for line in _config_lines(source, config):
        _out(line)
    return EXIT_OK


def _config_lines(source: _Source, config: LoadedConfig) -> List[str]:
    w = _width()
    lines = [f"{source.label}: OK, {len(config.stages)} stages"]
    state = (
        "(none: give one to run it live)" if config.state_path is None else str(config.state_path)
    )
    lines += _field("state", state, w)
    veto = config.veto_window_seconds
    lines += _field(
        "veto", "none: advances land at once" if veto == 0 else format_duration(veto), w
    )
    for i, text in enumerate(_kill_text(config.kill_switch)):
        lines += _field("kill" if i == 0 else "", text, w)
    num_w = max(3, max(len(str(s.num)) for s in config.stages))
    name_w = max(4, min(16, max(len(s.name) for s in config.stages)))
    lead = num_w + 2 + name_w + 2
    lines.append(f"{'#':>{num_w}}  {'name':<{name_w}}  gate to enter (judged on the stage before)")
    for i, s in enumerate(config.stages):
        gate = "start: where the rollout begins" if i == 0 else _gate_text(s.gate)
        body = textwrap.wrap(gate, max(20, w - lead), break_on_hyphens=False) or [""]
        lines.append(f"{s.num:>{num_w}}  {s.name:<{name_w}}  {body[0]}")
        lines += [" " * lead + b for b in body[1:]]
        lines += textwrap.wrap(
            _params_text(s.params),
            max(lead + 28, w),
            initial_indent=" " * lead + "params: ",
            subsequent_indent=" " * (lead + 8),
            break_on_hyphens=False,
        )
    return lines


def _cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.suffix.lower() == ".json":
        raise _CommandError(
            "init writes a commented TOML file; name it .toml (JSON has no comments)"
        )
    if path.is_dir():
        raise _CommandError(f"{path} is a folder; give a file name such as {path / DEFAULT_CONFIG}")
    if path.exists() and not args.force:
        raise _CommandError(f"{path} exists; pass --force to overwrite it", EXIT_REFUSED)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    _out(f"wrote {path}: edit its stages and kill switch, then run")
    _out(f"  {PROG} validate {path}")
    return EXIT_OK


# ----------------------------------------------------------------------------- replay
#
# The replay engine lives in quant_rollout.tools.replay and the plot in quant_rollout.tools.plot
# (matplotlib, the `plot` extra). Both are imported only here, when the command runs,
# so every other command works without them.


def _replay_config(args: argparse.Namespace) -> LoadedConfig:
    source = _source(args)
    if source.kind == "config":
        return load_config(source.value)
    rollout = _import_factory(source.value)
    return LoadedConfig(
        rollout.config.stages,
        rollout.config.kill_switch,
        rollout.config.veto_window_seconds,
        None,
    )


def _progress_bar() -> Optional[Callable[[int, int], None]]:
    """A one-line progress bar on stderr, when stderr is a terminal."""
    stream = sys.stderr
    if stream is None or not stream.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        stream.write(f"\rreplaying [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            stream.write("\r" + " " * (width + 30) + "\r")
        stream.flush()

    return show


def _cmd_replay(args: argparse.Namespace) -> int:
    try:
        from ..replay import format_summary, format_timeline, replay
    except ImportError as exc:  # pragma: no cover - replay ships with the package
        raise _CommandError(f"replay is not available in this installation ({exc})") from exc
    try:
        tick_every = parse_duration(args.tick_every)
    except ValueError as exc:
        raise _CommandError(f"--tick-every: {exc}") from None
    if tick_every <= 0:
        raise _CommandError(f"--tick-every must be more than 0, got {args.tick_every!r}")
    config = _replay_config(args)
    history = _read_trades(args.trades_file, args)
    result = replay(
        history.trades,
        config,
        tick_every=tick_every,
        progress=None if args.json else _progress_bar(),
        visible_at=args.visible_at,
    )
    plotted = None
    if args.plot is not None:
        from ..plot import plot_replay  # matplotlib itself is imported by plot_replay

        try:
            plotted = plot_replay(result, args.plot)
        except ImportError as exc:
            raise _CommandError(_one_line(str(exc))) from exc
    if args.json:
        data = result.to_dict()
        data["skipped_rows"] = [dataclasses.asdict(s) for s in history.skipped]
        data["plot"] = None if plotted is None else str(plotted)
        _dump(data)
        return EXIT_OK
    _out(format_timeline(result))
    _out()
    _out(format_summary(result))
    if history.skipped:
        _out(
            f"{len(history.skipped)} bad rows skipped (--skip-bad); first: "
            f"{history.skipped[0].reason}"
        )
    if plotted is not None:
        _out(f"plot written to {plotted}")
    return EXIT_OK


# ----------------------------------------------------------------------------- plan
#
# The planner lives in quant_rollout.planning; it is imported when the command runs.


def _numbers(option: str, text: str) -> List[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise _CommandError(
            f"{option} takes numbers separated by commas (e.g. 0.5,0.55,0.6), got {text!r}"
        ) from None
    if not values:
        raise _CommandError(f"{option} takes at least one number, got {text!r}")
    return values


def _cmd_plan(args: argparse.Namespace) -> int:
    from ...planning import DEFAULT_WIN_RATES, Payoff, format_plan, plan

    target: Any
    if args.file is not None:
        target = args.file
    else:
        source = _source(args)
        target = source.value if source.kind == "config" else _import_factory(source.value)
    history = None if args.trades is None else _read_trades(args.trades, args)
    payoff = None
    if args.payoff is not None:
        win_loss = _numbers("--payoff", args.payoff)
        if len(win_loss) != 2:
            raise _CommandError(
                "--payoff takes WIN,LOSS per dollar of size (e.g. 1,1 or 0.8,1), got "
                f"{args.payoff!r}"
            )
        payoff = Payoff(win=win_loss[0], loss=win_loss[1], source="given")
    elif history is not None:
        payoff = Payoff.from_trades(history.trades, history.source)
    if args.stake is not None:
        payoff = dataclasses.replace(payoff or Payoff(source="given"), size=args.stake)
    report = plan(
        target,
        win_rates=DEFAULT_WIN_RATES
        if args.win_rates is None
        else _numbers("--win-rates", args.win_rates),
        horizon=args.horizon,
        trades_per_day=args.trades_per_day,
        trades=None if history is None else history.trades,
        ev_levels=None if args.ev_levels is None else _numbers("--ev-levels", args.ev_levels),
        payoff=payoff,
        drop_to=args.drop_to,
        paths=args.paths,
        seed=args.seed,
    )
    if args.json:
        _dump(report.to_dict())
    else:
        _out(format_plan(report))
    return EXIT_OK


# ----------------------------------------------------------------------------- parser


class _Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=26, width=min(_width(), 80))


class _TopFormatter(_Formatter, argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's examples as written."""


def _parents() -> Dict[str, argparse.ArgumentParser]:
    def parser() -> argparse.ArgumentParser:
        return argparse.ArgumentParser(add_help=False)

    rollout = parser()
    g = rollout.add_argument_group("which rollout")
    g.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help=f"the rollout's TOML/JSON file (default: ${CONFIG_ENV}, else ./{DEFAULT_CONFIG})",
    )
    g.add_argument(
        "--rollout",
        metavar="MOD:FUNC",
        default=argparse.SUPPRESS,
        help="the bot's factory returning a Rollout, e.g. mybot.rollout:build",
    )
    debug = parser()
    debug.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of an error",
    )
    verb = parser()
    verb.add_argument("--note", default="", metavar="TEXT", help="why, recorded in the history")
    verb.add_argument("--actor", metavar="NAME", help="who is acting (default: $USER@hostname)")
    confirm = parser()
    confirm.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    trades = parser()
    t = trades.add_argument_group("reading trades")
    t.add_argument(
        "--format",
        default="auto",
        metavar="F",
        help="auto (by extension), csv, jsonl, freqtrade or freqtrade-sqlite",
    )
    t.add_argument("--pnl", metavar="COL", help="the profit/loss column")
    t.add_argument("--size", metavar="COL", help="the size (capital at risk) column")
    t.add_argument("--time", metavar="COL", help="the opening-time column")
    t.add_argument("--skip-bad", action="store_true", help="skip and count unreadable rows")
    return {"rollout": rollout, "debug": debug, "verb": verb, "confirm": confirm, "trades": trades}


def _parser() -> argparse.ArgumentParser:
    p = _parents()
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=_TopFormatter,
        description="See and steer a staged rollout of a trading bot's parameters.",
        epilog=textwrap.dedent(
            f"""\
            exit codes: 0 done, 1 refused or nothing to do, 2 bad usage/config/state

            start here:
              {PROG} init                      write an example rollout.toml
              {PROG} validate rollout.toml     check it
              {PROG} status                    where the rollout stands
              {PROG} veto --note "too early"   stop a pending advance
            """
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config", metavar="FILE", help="the rollout's TOML/JSON file (also after COMMAND)"
    )
    parser.add_argument(
        "--rollout", metavar="MOD:FUNC", help="the bot's Rollout factory (also after COMMAND)"
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    sub.required = True

    def add(name: str, help_: str, parents: Sequence[str], description: str = "") -> Any:
        return sub.add_parser(
            name,
            help=help_,
            description=description or help_,
            parents=[p[k] for k in parents],
            formatter_class=_Formatter,
        )

    st = add(
        "status",
        "where the rollout stands (stage, veto window, kill switch, gate progress)",
        ["rollout", "debug", "trades"],
        "Where the rollout stands: stage and params, phase, kill switch, pending advance "
        "and the time left to veto it, pause, evidence start, last event. With --trades, "
        "the progress toward the next gate, criterion by criterion.",
    )
    st.add_argument("--trades", metavar="FILE", help="a trade history: show gate progress")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(run=_cmd_status)

    verbs: Sequence[Tuple[str, str, str, bool]] = (
        ("veto", "veto", "cancel the pending advance (its evidence will not count again)", False),
        ("promote", "promote", "advance now, skipping the gate and the veto window", True),
        ("pause", "pause", "stop automatic advances (the kill switch keeps running)", False),
        ("resume", "resume", "allow automatic advances again", False),
        ("clear-kill", "clear_kill", "unlatch a tripped kill switch (evidence restarts)", False),
        ("reset", "reset", "back to stage 0: clears kill, pending advance and pause", True),
    )
    for name, verb, help_, confirm in verbs:
        parents = ["rollout", "debug", "verb"] + (["confirm"] if confirm else [])
        cmd = add(name, help_, parents, help_[0].upper() + help_[1:] + ". Recorded in the history.")
        if verb == "promote":
            cmd.add_argument(
                "--to", type=int, metavar="N", help="the stage to promote to (default: the next)"
            )
        cmd.set_defaults(run=_cmd_verb, verb=verb)

    hi = add(
        "history",
        "the recorded transitions, oldest first",
        ["rollout", "debug"],
        "The recorded transitions, oldest first: number, time, event, stage move, reason, "
        "note and who. --verify checks the hash chain instead (exit 1 when broken).",
    )
    hi.add_argument(
        "--since", metavar="TIME", help="only events at or after TIME (ISO, or 2h/7d ago)"
    )
    hi.add_argument(
        "--verify", action="store_true", help="check the hash chain; name the first bad line"
    )
    hi.add_argument("--json", action="store_true", help="machine-readable output")
    hi.set_defaults(run=_cmd_history)

    re_ = add(
        "replay",
        "what a configuration would have done on a trade history",
        ["rollout", "debug", "trades"],
        "Feed a trade history through the rollout engine, in memory (the live state file "
        "is never touched), ticking in trade-time order, and print the timeline of "
        "transitions and a summary per stage.",
    )
    re_.add_argument("trades_file", metavar="TRADES", help="the trade history file")
    re_.add_argument(
        "--tick-every",
        default="60s",
        metavar="DUR",
        help="the tick cadence in trade time (default 60s)",
    )
    re_.add_argument(
        "--visible-at",
        choices=("open", "close"),
        default="open",
        help="see each trade at its opening time (default) or its closing time",
    )
    re_.add_argument("--plot", metavar="PNG", help="draw the equity curve (needs the plot extra)")
    re_.add_argument("--json", action="store_true", help="machine-readable output")
    re_.set_defaults(run=_cmd_replay)

    pl = add(
        "plan",
        "pre-flight: the chance and the trades to advance and to kill, per true win rate",
        ["rollout", "debug", "trades"],
        "Pre-flight a configuration: for a range of true win rates (and, with --trades, "
        "of EV levels by bootstrap of those trades), the chance that each gate passes "
        "within the horizon (a false advance at or below its bar) and the median and "
        "90th-percentile trades (and days, with --trades-per-day) it takes; the chance "
        "that the kill switch fires (a false kill for a good strategy) and how soon. "
        "Exact where the rule allows, Monte Carlo otherwise (with its standard error).",
    )
    pl.add_argument(
        "file", nargs="?", metavar="FILE", help="the configuration (default: as --config)"
    )
    pl.add_argument(
        "--horizon", type=int, default=2000, metavar="N", help="trades of each stage (default 2000)"
    )
    pl.add_argument(
        "--win-rates", metavar="LIST", help="true win rates, default 0.45,0.5,0.55,0.6,0.65,0.7"
    )
    pl.add_argument(
        "--trades", metavar="TRADES", help="a trade history: its payoff, and EV rows by bootstrap"
    )
    pl.add_argument(
        "--ev-levels", metavar="LIST", help="true EV/$ levels with --trades (default -0.05..0.1)"
    )
    pl.add_argument(
        "--trades-per-day", type=float, metavar="X", help="the pace: show days, count day gates"
    )
    pl.add_argument(
        "--payoff", metavar="WIN,LOSS", help="per dollar of size (default 1,1, or from --trades)"
    )
    pl.add_argument("--stake", type=float, metavar="X", help="size of each trade (default 1)")
    pl.add_argument(
        "--drop-to", type=float, metavar="WR", help="also plan detection of a drop to this win rate"
    )
    pl.add_argument(
        "--paths", type=int, default=2000, metavar="N", help="Monte Carlo runs per row (2000)"
    )
    pl.add_argument("--seed", type=int, default=0, metavar="S", help="Monte Carlo seed (0)")
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pl.set_defaults(run=_cmd_plan)

    va = add(
        "validate",
        "check a configuration file and print its stage table",
        ["rollout", "debug"],
        "Check a configuration file and print its stages, gates and kill switch, or every "
        "problem found (exit 2).",
    )
    va.add_argument("file", nargs="?", metavar="FILE", help="the file (default: as for --config)")
    va.set_defaults(run=_cmd_validate)

    it = add(
        "init",
        "write a commented example configuration",
        ["debug"],
        "Write a commented example configuration to edit.",
    )
    it.add_argument(
        "path",
        nargs="?",
        default=DEFAULT_CONFIG,
        metavar="PATH",
        help=f"where to write it (default: {DEFAULT_CONFIG})",
    )
    it.add_argument("--force", action="store_true", help="overwrite an existing file")
    it.set_defaults(run=_cmd_init)
    return parser


# ----------------------------------------------------------------------------- main


def _error(message: str, debug: bool, exc: Optional[BaseException] = None) -> None:
    if debug and exc is not None:
        traceback.print_exception(type(exc), exc, exc.__traceback__)
    sys.stderr.write(f"{PROG}: {_one_line(message)}\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse reported
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    debug = bool(getattr(args, "debug", False))
    try:
        code: int = args.run(args)
        return code
    except _CommandError as exc:
        _error(str(exc), debug, exc)
        return exc.code
    except OperatorRefusedError as exc:
        _error(f"refused: {exc}", debug, exc)
        return EXIT_REFUSED
    except RolloutError as exc:  # bad config, trades or state; a clock gone back
        _error(f"error: {exc}", debug, exc)
        return EXIT_ERROR
    except BrokenPipeError:  # `quant-rollout history | head`: the reader left, fine
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        _error(f"error: {exc}", debug, exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{PROG}: interrupted\n")
        return 130
    except Exception as exc:
        _error(
            f"internal error ({_describe(exc)}); rerun with --debug for the traceback and "
            "please report it",
            debug,
            exc,
        )
        return EXIT_ERROR
