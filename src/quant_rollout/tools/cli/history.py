"""``quant-rollout history``: the recorded transitions, or a check of the hash chain."""

from __future__ import annotations

import argparse
import textwrap
from typing import List, Sequence

from ..._durations import seconds_to_us
from ...errors import HistoryError
from ...rollout import Rollout
from ...storage.history import HistoryRecord
from ...trades import parse_instant
from ..config import parse_duration
from .common import (
    EXIT_OK,
    EXIT_REFUSED,
    PROG,
    _arrow,
    _CommandError,
    _field,
    _iso,
    _one_line,
    _out,
    _relative,
    _width,
)
from .describe import (
    _dump,
    _reason,
    _record_json,
    _stages_of,
    _verification_json,
)
from .source import (
    _now_us,
    _rollout,
)

__all__: list[str] = []


def _since(text: str, now_us: int) -> int:
    try:
        return now_us - seconds_to_us(parse_duration(text))
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
        elif v.bad_line is None:
            _out(f"history chain intact ({v.events} events), but a tick would refuse:")
            for line in _field("", v.problem or "", _width(), pad=2):
                _out(line)
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
    stages = [_stages_of(r, arrow) for r in records]
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
