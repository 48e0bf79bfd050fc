"""The dashboard's figures as Altair (Vega-Lite) charts; Streamlit draws them.

Each function takes plain values computed in :mod:`.model` and returns a chart, so
the figures can be built and checked without a browser. Times are milliseconds
since the epoch (UTC), which Vega-Lite reads as dates.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, cast

import altair as alt

from ..planning import PlanReport
from ..storage.history import HistoryRecord
from ..trades import parse_instant
from .model import CurvePoint, StageSpan

__all__ = ["EVENT_COLOURS", "equity_chart", "gate_chart", "plan_chart"]

EVENT_COLOURS: Dict[str, str] = {
    "start": "#9e9e9e",
    "veto_open": "#f0a202",
    "advance": "#2e7d32",
    "veto_expired": "#2e7d32",
    "advance_dropped": "#8d6e63",
    "veto": "#e65100",
    "kill": "#c62828",
    "clear_kill": "#6a1b9a",
    "promote": "#1565c0",
    "pause": "#546e7a",
    "resume": "#00838f",
    "reset": "#000000",
}
"""One colour per history event, so a marker reads the same on every chart."""

_STAGE_COLOURS = ["#e3f2fd", "#e8f5e9", "#fff8e1", "#fce4ec", "#ede7f6", "#e0f7fa"]


def _data(rows: Sequence[Dict[str, Any]]) -> Any:
    """Inline data: the points travel in the chart's JSON (no pandas needed)."""
    return alt.Data(values=list(rows))  # type: ignore[no-untyped-call]


def _events(history: Sequence[HistoryRecord]) -> List[Dict[str, Any]]:
    return [
        {
            "at_ms": parse_instant(r.at) / 1000.0,
            "event": r.event,
            "move": f"{r.from_stage} → {r.to_stage}",
            "reason": r.reason[:160],
            "who": r.actor or "",
            "note": r.note[:160],
        }
        for r in history
        if r.event != "start"
    ]


def equity_chart(
    curve: Sequence[CurvePoint],
    spans: Sequence[StageSpan],
    history: Sequence[HistoryRecord],
    now_ms: float,
    height: int = 320,
) -> alt.LayerChart:
    """The equity curve over shaded stage bands, with a rule at every event.

    Works without a curve (no trade history): the bands and events alone.
    """
    bands = [
        {"start": s.start_ms, "end": s.end_ms if s.end_ms is not None else now_ms, "stage": s.label}
        for s in spans
    ]
    stages: List[str] = sorted({str(b["stage"]) for b in bands})
    stage_scale = alt.Scale(
        domain=stages, range=[_STAGE_COLOURS[i % len(_STAGE_COLOURS)] for i in range(len(stages))]
    )
    layers: List[Any] = []
    if bands:
        layers.append(
            alt.Chart(_data(bands))
            .mark_rect(opacity=0.9)
            .encode(
                x=alt.X("start:T", title=None),
                x2="end:T",
                color=alt.Color("stage:N", scale=stage_scale, title="stage"),
                tooltip=[alt.Tooltip("stage:N"), alt.Tooltip("start:T", format="%Y-%m-%d %H:%M")],
            )
        )
    if curve:
        points = [{"at": p.at_ms, "equity": p.equity, "trade": p.index + 1} for p in curve]
        layers.append(
            alt.Chart(_data(points))
            .mark_line(color="#263238", strokeWidth=1.6)
            .encode(
                x=alt.X("at:T", title=None),
                y=alt.Y("equity:Q", title="cumulative pnl"),
                tooltip=[
                    alt.Tooltip("at:T", format="%Y-%m-%d %H:%M", title="time"),
                    alt.Tooltip("trade:Q"),
                    alt.Tooltip("equity:Q", format=",.2f"),
                ],
            )
        )
    events = _events(history)
    if events:
        kinds = sorted({e["event"] for e in events})
        layers.append(
            alt.Chart(_data(events))
            .mark_rule(strokeWidth=2, strokeDash=[4, 3])
            .encode(
                x=alt.X("at_ms:T", title=None),
                color=alt.Color(
                    "event:N",
                    scale=alt.Scale(
                        domain=kinds, range=[EVENT_COLOURS.get(k, "#424242") for k in kinds]
                    ),
                    title="event",
                ),
                tooltip=["event:N", "move:N", "reason:N", "who:N", "note:N"],
            )
        )
    if not layers:
        layers.append(alt.Chart(_data([{"at": now_ms}])).mark_point(opacity=0))
    chart = alt.layer(*layers).resolve_scale(color="independent").properties(height=height)
    return cast(alt.LayerChart, chart)


def gate_chart(rows: Sequence[Dict[str, Any]], height: int = 240) -> Optional[alt.LayerChart]:
    """Each tested criterion's anytime lower bound as the evidence grew, against its bar.

    ``rows`` come from :func:`.model.gate_timeline`; criteria without a bound (trade
    counts, days) are left to the progress table. None when no criterion has one.
    """
    bounded = [r for r in rows if r["lower_bound"] is not None]
    if not bounded:
        return None
    bars = {r["criterion"]: r["required"] for r in bounded}
    bar_rows = [{"criterion": k, "required": v} for k, v in bars.items()]
    base = alt.Chart(_data(bounded))
    lines = base.mark_line(point=alt.OverlayMarkDef(size=18)).encode(
        x=alt.X("n:Q", title="trades in the stage's evidence"),
        y=alt.Y("lower_bound:Q", title="lower confidence bound"),
        color=alt.Color("criterion:N", title="criterion"),
        tooltip=["criterion:N", "n:Q", alt.Tooltip("lower_bound:Q", format=".4f"), "required:Q"],
    )
    observed = base.mark_line(strokeDash=[2, 2], opacity=0.5).encode(
        x="n:Q", y="observed:Q", color=alt.Color("criterion:N")
    )
    rules = (
        alt.Chart(_data(bar_rows))
        .mark_rule(strokeDash=[6, 4], strokeWidth=2)
        .encode(
            y="required:Q",
            color=alt.Color("criterion:N"),
            tooltip=["criterion:N", alt.Tooltip("required:Q", title="bar")],
        )
    )
    return cast(alt.LayerChart, alt.layer(rules, observed, lines).properties(height=height))


def plan_chart(report: PlanReport, height: int = 240) -> alt.LayerChart:
    """``plan``'s figures: P(each gate passes) and P(the kill switch fires) per true win rate."""
    rows: List[Dict[str, Any]] = []
    for g in report.transitions:
        for r in g.rows:
            rows.append(
                {
                    "rule": f"gate {g.from_stage} → {g.to_stage}",
                    "win_rate": r.level,
                    "probability": r.probability,
                }
            )
    for k in report.kills:
        for r in k.rows:
            rows.append(
                {
                    "rule": f"kill at {', '.join(k.stages)}",
                    "win_rate": r.level,
                    "probability": r.probability,
                }
            )
    chart = (
        alt.Chart(_data(rows))
        .mark_line(point=True)
        .encode(
            x=alt.X("win_rate:Q", title="true win rate", scale=alt.Scale(zero=False)),
            y=alt.Y(
                "probability:Q",
                title=f"chance within {report.horizon:,} trades",
                axis=alt.Axis(format="%"),
            ),
            color=alt.Color("rule:N", title=None, legend=alt.Legend(orient="bottom", columns=1)),
            tooltip=["rule:N", "win_rate:Q", alt.Tooltip("probability:Q", format=".1%")],
        )
    )
    return cast(alt.LayerChart, alt.layer(chart).properties(height=height))
