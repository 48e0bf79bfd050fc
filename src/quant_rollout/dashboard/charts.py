"""The dashboard's figures as Vega-Lite specifications; Streamlit's browser side draws them.

Each function takes plain values computed in :mod:`.model` and returns a Vega-Lite
(v5) specification as a dict, with its points inline: no pandas, no Altair, nothing
to validate on every refresh (validating a spec through Altair cost more than a
second a figure), and the figures can be checked without a browser. Times are
milliseconds since the epoch (UTC), which Vega-Lite reads as dates.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ..planning import PlanReport
from ..storage.history import HistoryRecord
from ..trades import parse_instant
from .model import CurvePoint, StageSpan

__all__ = ["EVENT_COLOURS", "Spec", "equity_chart", "gate_chart", "plan_chart"]

Spec = Dict[str, Any]
"""A Vega-Lite specification, as JSON-ready data."""

EVENT_COLOURS: Dict[str, str] = {
    "start": "#9e9e9e",
    "veto_open": "#f0a202",
    "advance": "#2e7d32",
    "veto_expired": "#2e7d32",
    "advance_dropped": "#8d6e63",
    "veto": "#d84315",
    "kill": "#c62828",
    "clear_kill": "#6a1b9a",
    "promote": "#1565c0",
    "pause": "#546e7a",
    "resume": "#00838f",
    "reset": "#000000",
    "accept_clock": "#ad1457",
    "announce": "#7cb342",
    "restore": "#4e342e",
    "promote_arm": "#1565c0",
    "drop_arm": "#8d6e63",
    "change_weights": "#546e7a",
    "srm_alarm": "#c62828",
}
"""One colour per history event, so a marker reads the same on every chart."""

_CRITERION_COLOURS = ["#1565c0", "#e65100", "#2e7d32", "#6a1b9a", "#00838f"]
_STAGE_COLOURS = ["#d6e6f7", "#d7eed8", "#fbeec4", "#f7d7e2", "#e0d9f1", "#cfeef2"]
_TIME_FORMAT = "%Y-%m-%d %H:%M"


def _events(history: Sequence[HistoryRecord]) -> List[Dict[str, Any]]:
    return [
        {
            "at": parse_instant(r.at) / 1000.0,
            "event": r.event,
            "move": f"{r.from_stage} → {r.to_stage}",
            "reason": r.reason[:160],
            "who": r.actor or "",
            "note": r.note[:160],
        }
        for r in history
        if r.event != "start"
    ]


def _time(field: str, title: Optional[str] = None) -> Dict[str, Any]:
    return {"field": field, "type": "temporal", "title": title}


def equity_chart(
    curve: Sequence[CurvePoint],
    spans: Sequence[StageSpan],
    history: Sequence[HistoryRecord],
    now_ms: float,
    height: int = 320,
) -> Spec:
    """The equity curve over shaded stage bands, with a dashed rule at every event.

    Works without a curve (no trade history): the bands and events alone.
    """
    bands = [
        {"start": s.start_ms, "end": s.end_ms if s.end_ms is not None else now_ms, "stage": s.label}
        for s in spans
    ]
    stages = sorted({str(b["stage"]) for b in bands})
    layers: List[Spec] = []
    if bands:
        layers.append(
            {
                "data": {"values": bands},
                "mark": {"type": "rect", "opacity": 0.9},
                "encoding": {
                    "x": _time("start"),
                    "x2": {"field": "end"},
                    "color": {
                        "field": "stage",
                        "type": "nominal",
                        "title": "stage",
                        "scale": {
                            "domain": stages,
                            "range": [
                                _STAGE_COLOURS[i % len(_STAGE_COLOURS)] for i in range(len(stages))
                            ],
                        },
                    },
                    "tooltip": [
                        {"field": "stage", "type": "nominal"},
                        {"field": "start", "type": "temporal", "format": _TIME_FORMAT},
                    ],
                },
            }
        )
    if curve:
        layers.append(
            {
                "data": {
                    "values": [
                        {"at": p.at_ms, "equity": p.equity, "trade": p.index + 1} for p in curve
                    ]
                },
                "mark": {"type": "line", "color": "#263238", "strokeWidth": 1.6},
                "encoding": {
                    "x": _time("at"),
                    "y": {"field": "equity", "type": "quantitative", "title": "cumulative pnl"},
                    "tooltip": [
                        {
                            "field": "at",
                            "type": "temporal",
                            "format": _TIME_FORMAT,
                            "title": "time",
                        },
                        {"field": "trade", "type": "quantitative"},
                        {"field": "equity", "type": "quantitative", "format": ",.2f"},
                    ],
                },
            }
        )
    events = _events(history)
    if events:
        kinds = sorted({str(e["event"]) for e in events})
        layers.append(
            {
                "data": {"values": events},
                "mark": {"type": "rule", "strokeWidth": 2, "strokeDash": [4, 3]},
                "encoding": {
                    "x": _time("at"),
                    "color": {
                        "field": "event",
                        "type": "nominal",
                        "title": "event",
                        "scale": {
                            "domain": kinds,
                            "range": [EVENT_COLOURS.get(k, "#424242") for k in kinds],
                        },
                    },
                    "tooltip": [
                        {"field": f, "type": "nominal"}
                        for f in ("event", "move", "reason", "who", "note")
                    ],
                },
            }
        )
    if not layers:
        layers.append(
            {
                "data": {"values": [{"at": now_ms}]},
                "mark": {"type": "point", "opacity": 0},
                "encoding": {"x": _time("at")},
            }
        )
    return {"height": height, "layer": layers, "resolve": {"scale": {"color": "independent"}}}


def gate_chart(rows: Sequence[Dict[str, Any]], height: int = 260) -> Optional[Spec]:
    """Each tested criterion's anytime lower bound as the evidence grew, against its bar.

    ``rows`` come from :func:`.model.gate_timeline`; criteria without a bound (trade
    counts, days) are left to the progress table. None when no criterion has one.
    """
    bounded = [r for r in rows if r["lower_bound"] is not None]
    if not bounded:
        return None
    names = sorted({str(r["criterion"]) for r in bounded})
    colour = {
        "field": "criterion",
        "type": "nominal",
        "title": None,
        "scale": {"domain": names, "range": _CRITERION_COLOURS[: len(names)]},
        "legend": {"orient": "bottom"},
    }
    bars = [
        {"criterion": k, "required": v}
        for k, v in {r["criterion"]: r["required"] for r in bounded}.items()
    ]
    n = {"field": "n", "type": "quantitative", "title": "trades in the stage's evidence"}
    return {
        "height": height,
        "width": "container",
        "layer": [
            {
                "data": {"values": bars},
                "mark": {"type": "rule", "strokeDash": [6, 4], "strokeWidth": 2},
                "encoding": {
                    "y": {"field": "required", "type": "quantitative"},
                    "color": colour,
                    "tooltip": [
                        {"field": "criterion", "type": "nominal"},
                        {"field": "required", "type": "quantitative", "title": "bar"},
                    ],
                },
            },
            {
                "data": {"values": bounded},
                "mark": {"type": "line", "strokeDash": [2, 2], "opacity": 0.5},
                "encoding": {
                    "x": n,
                    "y": {"field": "observed", "type": "quantitative"},
                    "color": colour,
                },
            },
            {
                "data": {"values": bounded},
                "mark": {"type": "line", "point": {"size": 18}},
                "encoding": {
                    "x": n,
                    "y": {
                        "field": "lower_bound",
                        "type": "quantitative",
                        "title": "lower bound",
                    },
                    "color": colour,
                    "tooltip": [
                        {"field": "criterion", "type": "nominal"},
                        {"field": "n", "type": "quantitative"},
                        {"field": "lower_bound", "type": "quantitative", "format": ".4f"},
                        {"field": "required", "type": "quantitative"},
                    ],
                },
            },
        ],
    }


def plan_chart(report: PlanReport, height: int = 240) -> Spec:
    """``plan``'s figures: P(each gate passes) and P(the kill switch fires) per true win rate."""
    rows: List[Dict[str, Any]] = []
    for g in report.transitions:
        rule = f"gate {g.from_stage} → {g.to_stage}"
        rows += [{"rule": rule, "win_rate": r.level, "probability": r.probability} for r in g.rows]
    for k in report.kills:
        rule = f"kill at {', '.join(k.stages)}"
        rows += [{"rule": rule, "win_rate": r.level, "probability": r.probability} for r in k.rows]
    return {
        "height": height,
        "width": "container",
        "data": {"values": rows},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {
                "field": "win_rate",
                "type": "quantitative",
                "title": "true win rate",
                "scale": {"zero": False},
            },
            "y": {
                "field": "probability",
                "type": "quantitative",
                "title": f"chance within {report.horizon:,} trades",
                "axis": {"format": "%"},
            },
            "color": {
                "field": "rule",
                "type": "nominal",
                "title": None,
                "legend": {"orient": "bottom", "columns": 1},
            },
            "tooltip": [
                {"field": "rule", "type": "nominal"},
                {"field": "win_rate", "type": "quantitative"},
                {"field": "probability", "type": "quantitative", "format": ".1%"},
            ],
        },
    }
