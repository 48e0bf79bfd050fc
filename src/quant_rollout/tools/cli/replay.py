"""``quant-rollout replay``: what a configuration would have done on a trade history."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Any, Callable, Optional

from ..config import LoadedConfig, as_loaded_config, load_config, parse_duration
from .common import (
    EXIT_OK,
    _CommandError,
    _one_line,
    _out,
)
from .describe import (
    _dump,
)
from .source import (
    _import_factory,
    _read_trades,
    _source,
)

__all__: list[str] = []


#
# The replay engine lives in quant_rollout.tools.replay and the plot in quant_rollout.tools.plot
# (matplotlib, the `plot` extra). Both are imported only here, when the command runs,
# so every other command works without them.


def _replay_config(args: argparse.Namespace) -> LoadedConfig:
    source = _source(args)
    if source.kind == "config":
        return load_config(source.value)
    # A factory's Rollout: its definition only; replay never touches its state.
    return as_loaded_config(_import_factory(source.value).config)


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


def _detected(history: Any) -> str:
    """What was read, as found: the format, the strategy, the columns and the count."""
    read = history.format
    if history.read_from is not None:
        read += f" (the latest result: {os.path.basename(history.read_from)})"
    if history.strategy is not None:
        read += f", strategy {history.strategy}"
    skipped = f", {len(history.skipped)} bad rows skipped" if history.skipped else ""
    columns = (
        f"; pnl {history.pnl_column}, size {history.size_column}, time {history.time_column}"
        if history.pnl_column is not None
        else ""
    )
    return f"read {history.source} as {read}: {len(history.trades)} trades{skipped}{columns}"


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
    no_plot: Optional[str] = None
    if args.plot is not None:
        from ..plot import plot_replay  # matplotlib itself is imported by plot_replay

        try:
            plotted = plot_replay(result, args.plot)
        except ImportError as exc:
            # The replay itself needs no extra: show it, then say what the plot needs.
            no_plot = f"--plot: {_one_line(str(exc))}; the replay above is complete"
    if args.json:
        data = result.to_dict()
        data["skipped_rows"] = [dataclasses.asdict(s) for s in history.skipped]
        data["trades_file"] = {
            "source": history.source,
            "read_from": history.read_from,
            "format": history.format,
            "strategy": history.strategy,
            "trades": len(history.trades),
            "pnl_column": history.pnl_column,
            "size_column": history.size_column,
            "time_column": history.time_column,
        }
        data["plot"] = None if plotted is None else str(plotted)
        _dump(data)
        if no_plot is not None:
            raise _CommandError(no_plot)
        return EXIT_OK
    _out(_detected(history))
    _out()
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
    if no_plot is not None:
        raise _CommandError(no_plot)
    return EXIT_OK
