"""Draw a replay as a PNG: the equity curve, a band per stage, advance and kill markers.

Needs matplotlib, the optional ``plot`` extra (``pip install 'quant-rollout[plot]'``).
matplotlib is imported only when :func:`plot_replay` is called, so this module (and
the rest of quant-rollout) imports without it. The figure is drawn on matplotlib's
Agg canvas directly, never through ``pyplot``: no window opens, no backend is
switched and no figure is left registered in the caller's process.
"""

from __future__ import annotations

import bisect
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

from ..engine import RolloutAction
from ..errors import RolloutError
from ..trades import parse_instant, to_datetime

if TYPE_CHECKING:
    from .replay import ReplayResult

__all__ = ["PlotUnavailableError", "plot_replay"]

FIGSIZE_INCHES = (10.0, 5.0)
DPI = 100
"""The PNG is ``FIGSIZE_INCHES * DPI`` pixels: 1000 x 500."""

# A band colour per stage, in stage order (stage 0, the baseline, is grey).
_BAND_COLOURS = (
    "#9e9e9e",
    "#4c9be8",
    "#f5a623",
    "#7ed321",
    "#bd10e0",
    "#50e3c2",
    "#d0021b",
    "#8b572a",
)


class PlotUnavailableError(RolloutError, ImportError):
    """Plotting was asked for but matplotlib (the ``plot`` extra) is not installed."""


def _when(iso: str) -> datetime:
    return to_datetime(parse_instant(iso))


def _matplotlib() -> Tuple[Any, Any, Any]:
    """(Figure, FigureCanvasAgg, matplotlib.dates), or PlotUnavailableError."""
    try:
        from matplotlib import dates
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotUnavailableError(
            f"plotting a replay needs matplotlib, which cannot be imported ({exc}); "
            "install the plot extra: pip install 'quant-rollout[plot]'"
        ) from exc
    return Figure, FigureCanvasAgg, dates


def plot_replay(
    result: ReplayResult,
    path: Union[str, os.PathLike[str]],
    *,
    title: Optional[str] = None,
    currency: str = "account currency",
) -> Path:
    """Draw ``result`` as a PNG at ``path`` and return the path.

    The chart shows the cumulative realized pnl (a step line, in ``currency``) over
    trade time (UTC), a shaded band for each stretch spent in a stage (the legend
    names the stages), ``^`` where the rollout advanced and ``x`` where the kill
    switch tripped. The image is 1000 x 500 pixels, PNG whatever the file's suffix;
    an existing file is replaced.

    Raises:
        PlotUnavailableError: matplotlib is not installed (an ``ImportError`` and a
            :class:`~quant_rollout.errors.RolloutError`; the message names the
            ``quant-rollout[plot]`` extra).
        OSError: the file cannot be written (e.g. its folder does not exist).
    """
    figure_cls, canvas_cls, mdates = _matplotlib()
    out = Path(path)
    fig = figure_cls(figsize=FIGSIZE_INCHES, dpi=DPI)
    canvas_cls(fig)
    ax = fig.add_subplot(1, 1, 1)

    names = {s.stage: s.label for s in result.stages}
    colours = {s.stage: _BAND_COLOURS[i % len(_BAND_COLOURS)] for i, s in enumerate(result.stages)}
    times = [_when(p.at) for p in result.equity]
    pnl = [p.cumulative_pnl for p in result.equity]

    if times:
        end = max([times[-1]] + ([_when(result.ended_at)] if result.ended_at is not None else []))
        labelled = set()
        for period in result.periods:
            start = _when(period.entered_at)
            stop = _when(period.left_at) if period.left_at is not None else end
            label = None
            if period.stage not in labelled:
                labelled.add(period.stage)
                label = f"stage {names.get(period.stage, period.stage)}"
            ax.axvspan(
                start,
                max(stop, start),
                color=colours.get(period.stage, "#cccccc"),
                alpha=0.18,
                linewidth=0,
                label=label,
            )
        ax.step(
            [*times, end],
            [*pnl, pnl[-1]],
            where="post",
            color="#222222",
            linewidth=1.3,
            label="cumulative pnl",
        )
        ax.axhline(0.0, color="#666666", linewidth=0.6)
        _markers(ax, result, times, pnl)
        locator = mdates.AutoDateLocator(tz=timezone.utc)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=timezone.utc))
        ax.legend(loc="upper left", fontsize="small", framealpha=0.85)
    else:
        ax.text(0.5, 0.5, "no trades", ha="center", va="center", transform=ax.transAxes)

    ax.set_xlabel("trade time (UTC)")
    ax.set_ylabel(f"cumulative pnl ({currency})")
    ax.grid(True, linewidth=0.3, alpha=0.6)
    ax.set_title(title if title is not None else _default_title(result))
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=DPI)
    return out


def _markers(ax: Any, result: ReplayResult, times: List[datetime], pnl: List[float]) -> None:
    """``^`` at each advance, ``x`` at each kill, on the equity line at that moment."""
    groups: Dict[str, Tuple[List[datetime], List[float]]] = {"advance": ([], []), "kill": ([], [])}
    for entry in result.timeline:
        if entry.action in (RolloutAction.ADVANCE, RolloutAction.VETO_EXPIRED):
            kind = "advance"
        elif entry.action is RolloutAction.KILL_TRIPPED:
            kind = "kill"
        else:
            continue
        at = _when(entry.at)
        i = bisect.bisect_right(times, at) - 1
        groups[kind][0].append(at)
        groups[kind][1].append(pnl[max(i, 0)])
    style = {
        "advance": {"marker": "^", "color": "#1a9641", "label": "advance"},
        "kill": {"marker": "x", "color": "#d7191c", "label": "kill"},
    }
    for kind, (xs, ys) in groups.items():
        if xs:
            ax.scatter(xs, ys, s=70, zorder=5, linewidths=2, **style[kind])


def _default_title(result: ReplayResult) -> str:
    final = next((s.label for s in result.stages if s.stage == result.final_stage), "?")
    return (
        f"Replay of {result.trades} trades (seen at {result.visible_at}, "
        f"{result.tick_every:g}s ticks): final stage {final}, {result.final_phase.value}"
    )
