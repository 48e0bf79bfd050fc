"""``quant-rollout validate`` and ``init``: check a configuration file, or write the example."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import List, Tuple

from ...errors import ConfigFileError
from ..config import EXAMPLE_CONFIG, LoadedConfig, as_loaded_config, format_duration, load_config
from ..scale import _DAILY_STAKES, _DRAWDOWN_STAKES, scale_warnings
from .common import (
    DEFAULT_CONFIG,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_REFUSED,
    PROG,
    _CommandError,
    _field,
    _one_line,
    _out,
    _width,
)
from .describe import (
    _gate_text,
    _kill_text,
    _params_text,
    _rule_text,
)
from .source import (
    _import_factory,
    _read_trades,
    _Source,
    _source,
)

__all__: list[str] = []


def _cmd_validate(args: argparse.Namespace) -> int:
    source = _Source("config", args.file) if args.file is not None else _source(args)
    if source.kind == "rollout":
        rollout = _import_factory(source.value)
        config = as_loaded_config(rollout)
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
    if args.trades is None:
        return EXIT_OK
    history = _read_trades(args.trades, args)
    if not history.trades:
        raise _CommandError(f"--trades {args.trades}: no trades to hold the limits against")
    warnings = scale_warnings(config, history.trades)
    n = len(warnings)
    verdict = f"{n} warning{'s' if n > 1 else ''}" if warnings else "OK: every limit can fire"
    _out(f"against {len(history.trades)} trades of {args.trades}: {verdict}")
    for warning in warnings:
        for line in textwrap.wrap(
            warning.message(source.label),
            max(40, _width()),
            initial_indent="warning: ",
            subsequent_indent="  ",
            break_on_hyphens=False,
            break_long_words=False,  # a path stays whole
        ):
            _out(line)
    return EXIT_REFUSED if warnings and args.strict else EXIT_OK


def _config_lines(source: _Source, config: LoadedConfig) -> List[str]:
    w = _width()
    lines = [f"{source.label}: OK, {len(config.stages)} stages"]
    state = (
        "(none: give one to run it live)" if config.state_path is None else str(config.state_path)
    )
    lines += _field("state", state, w)
    veto = config.veto_window_seconds
    veto_text = "none: advances land at once" if veto == 0 else format_duration(veto)
    if veto and config.operator_hours:
        hours = " or ".join(_rule_text(h) for h in config.operator_hours)
        veto_text += f" of operator hours ({hours})"
    lines += _field("veto", veto_text, w)
    if config.blackouts:
        lines += _field("blackouts", "; ".join(_rule_text(b) for b in config.blackouts), w)
    for i, text in enumerate(_kill_text(config.kill_switch)):
        lines += _field("kill" if i == 0 else "", text, w)
    num_w = max(3, max(len(str(s.num)) for s in config.stages))
    name_w = max(4, min(16, max(len(s.name) for s in config.stages)))
    lead = num_w + 2 + name_w + 2
    lines.append(f"{'#':>{num_w}}  {'name':<{name_w}}  gate to enter (judged on the stage before)")
    for i, s in enumerate(config.stages):
        gate = "start: where the rollout begins" if i == 0 else _gate_text(s.gate)
        before = config.stages[i - 1] if i else None
        if before is not None and before.experiment is not None:
            gate = f"the experiment on stage {before.num} promotes its winner (its params here)"
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
        if s.experiment is not None:
            e = s.experiment
            arms = ", ".join(
                f"{a.name}{' (control)' if a.name == e.control else ''} {wt:.0%}"
                for a, wt in zip(e.arms, e.weights)
            )
            lines += textwrap.wrap(
                f"{arms}; decides on {e.metric.value} at {e.confidence:g} confidence",
                max(lead + 28, w),
                initial_indent=" " * lead + "arms: ",
                subsequent_indent=" " * (lead + 6),
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
    text = EXAMPLE_CONFIG
    if args.trades is not None:
        text, note = _scaled_to_trades(text, args)
        _out(note)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    _out(f"wrote {path}: edit its stages and kill switch, then run")
    _out(f"  {PROG} validate {path}")
    return EXIT_OK


def _scaled_to_trades(text: str, args: argparse.Namespace) -> Tuple[str, str]:
    """The example configuration with its money limits scaled to the trades' stakes.

    The example's drawdown limit (50, account currency) can never fire on a bot that
    stakes 0.001 BTC; fifty typical stakes is a limit that can (the example's 50 at
    the plan's stake of 1: tighter limits kill profitable stages, see the README's
    "why these defaults").
    """
    history = _read_trades(args.trades, args)
    sizes = sorted(t.size for t in history.trades if t.size > 0)
    if not sizes:
        raise _CommandError(
            f"--trades {args.trades}: no trade with a size above 0 to scale the limits by"
        )
    stake = sizes[len(sizes) // 2]
    loss = float(f"{_DRAWDOWN_STAKES * stake:.3g}")
    daily = float(f"{_DAILY_STAKES * stake:.3g}")
    old = 'kind = "max_drawdown"\nloss = 50.0\n'
    if old not in text:  # pragma: no cover - the template and this function move together
        raise _CommandError("the example configuration has no drawdown limit to scale")
    text = text.replace(
        old,
        f'kind = "max_drawdown"\nloss = {loss!r}  # {_DRAWDOWN_STAKES} '
        f"typical stakes of {Path(args.trades).name}\n",
    )
    text = text.replace("with `loss = 100` (per UTC day)", f"with `loss = {daily:g}` (per UTC day)")
    note = (
        f"drawdown limit {loss:g}: {_DRAWDOWN_STAKES} times the median size ({stake:g}) of "
        f"the {len(history.trades)} trades in {args.trades}"
    )
    return text, note
