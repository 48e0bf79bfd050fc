"""The operator verbs: veto, promote, pause, resume, clear-kill, reset and
accept-clock; on an experiment stage promote-arm, drop-arm and weights; and restore.

promote and reset ask for confirmation first (unless --yes).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Optional, Tuple

from ...engine.transitions import phase_of
from ...rollout import Rollout
from ...trades import parse_instant
from .common import (
    EXIT_OK,
    EXIT_REFUSED,
    _CommandError,
    _iso,
    _out,
    _width,
)
from .describe import (
    _move,
    _stage_label,
)
from .source import (
    _actor,
    _rollout,
)

__all__: list[str] = []


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
    weights = None
    if verb == "change_weights":
        weights = {}
        for name, weight in args.weights:
            if name in weights:
                raise _CommandError(f"weights: arm {name!r} given twice", EXIT_REFUSED)
            weights[name] = weight
    result = rollout.operate(
        verb,
        note=args.note,
        actor=actor,
        to_stage=to_stage,
        arm=getattr(args, "arm", None),
        weights=weights,
    )
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


def _cmd_restore(args: argparse.Namespace) -> int:
    rollout, _ = _rollout(args)
    actor = _actor(args)
    state = rollout.restore(note=args.note, actor=actor)
    last = rollout.history()[-1]
    wrap = textwrap.TextWrapper(_width(), subsequent_indent="  ", break_on_hyphens=False)
    for line in wrap.wrap(last.reason):
        _out(line)
    _out(f"stage {_stage_label(rollout, state.current_stage)}, phase {phase_of(state).value}")
    for line in wrap.wrap(f"recorded at {_iso(parse_instant(last.at))} by {actor}"):
        _out(line)
    return EXIT_OK


def _preview(rollout: Rollout, verb: str, to_stage: Optional[int]) -> Tuple[str, int]:
    """(the question, the stage it leads to) for what the verb would do now.

    Raises OperatorRefusedError when the verb would be refused, before anyone is asked.
    """
    t = rollout.preview(verb, to_stage=to_stage).transitions[-1]
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
