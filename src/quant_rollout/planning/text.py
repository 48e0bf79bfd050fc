"""How a plan prints: :func:`format_plan`'s text tables."""

from __future__ import annotations

import textwrap
from typing import List, Optional, Sequence

from .report import EXACT, MONTE_CARLO, PlanReport, PlanRow, format_share

__all__ = ["format_plan"]


def format_plan(report: PlanReport) -> str:
    """The report as text: a header, a table per stage transition and per kill switch plan.

    Lines are at most 100 characters. Each row names its method: ``exact`` (dynamic
    programming) or ``MC`` (Monte Carlo, its figures ``±`` one standard error). A ``*``
    marks the levels where the rule firing is an error (a false advance, a false kill).
    """
    horizon = report.horizon
    out = [f"plan: {report.source}, each stage followed for {horizon:,} trades"]
    out += _wrap(f"payoff: {report.payoff.describe()}", indent="  ")
    if report.trades is not None:
        out += _wrap(f"EV rows: bootstrap of {report.trades}", indent="  ")
    if report.trades_per_day is not None:
        out.append(f"pace: {report.trades_per_day:g} trades a day")
    methods = "exact = dynamic programming"
    if any(r.method == MONTE_CARLO for r in _all_rows(report)):
        methods += (
            f"; MC = Monte Carlo, {report.paths:,} runs (seed {report.seed}), ± one standard error"
        )
    out += _wrap(f"methods: {methods}", indent="  ")
    for t in report.transitions:
        out.append("")
        title = f"gate {t.from_stage} -> {t.to_stage}: "
        if t.experiment is not None:
            out += _wrap(title + t.experiment, indent="  ")
            for note in t.notes:
                out += _wrap(f"note: {note}", first="  ", indent="    ")
            continue
        if t.gate is None:
            out.append(title + "none (reached only by promote)")
            continue
        out += _wrap(title + t.gate, indent="  ")
        out += _table(t.rows, "P(advance)", report)
        if t.bar is not None and any(r.false_alarm for r in t.rows):
            out += _wrap(
                f"* at or below the bar (win rate {t.bar:.3f}): an advance there is false",
                first="  ",
                indent="    ",
            )
        if t.ev_rows:
            out += _table(t.ev_rows, "P(advance)", report)
            if t.ev_bar is not None and any(r.false_alarm for r in t.ev_rows):
                out.append(f"  * at or below the EV/$ floor {t.ev_bar:+.4f}")
        for note in t.notes:
            out += _wrap(f"note: {note}", first="  ", indent="    ")
    every = len(report.kills) == 1
    for k in report.kills:
        out.append("")
        where = "at every stage" if every else "at stage" + ("s" if len(k.stages) > 1 else "")
        if not every:
            where += " " + ", ".join(k.stages)
        if k.kill_switch is None:
            out += _wrap(f"kill switch {where}: no criterion runs", indent="  ")
        else:
            out += _wrap(f"kill switch {where}: {k.kill_switch}", indent="  ")
            out += _table(k.money_rows(), "P(kill)", report)
            if k.tolerated is not None and any(r.false_alarm for r in k.money_rows()):
                out += _wrap(
                    f"* at or above win rate {k.tolerated:.3f}, where every criterion is met "
                    "on average: a kill there is false",
                    first="  ",
                    indent="    ",
                )
            if k.ev_rows:
                out += _table(k.ev_rows, "P(kill)", report)
                if k.ev_tolerated is not None and any(r.false_alarm for r in k.ev_rows):
                    out.append(f"  * at or above EV/$ {k.ev_tolerated:+.4f}")
            protection = k.protection(horizon)
            if protection is not None:
                out += _wrap(f"money: {protection}", first="  ", indent="    ")
        for note in k.notes:
            out += _wrap(f"note: {note}", first="  ", indent="    ")
    return "\n".join(out)


_WIDTH = 100


def _wrap(text: str, *, indent: str = "", first: str = "") -> List[str]:
    return textwrap.wrap(
        text,
        width=_WIDTH,
        initial_indent=first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _all_rows(report: PlanReport) -> List[PlanRow]:
    rows: List[PlanRow] = []
    for t in report.transitions:
        rows += [*t.rows, *t.ev_rows]
    for k in report.kills:
        rows += [*k.rows, *k.detection, *k.money, *k.ev_rows]
    return rows


def _trades(n: Optional[int], se: Optional[float], horizon: int) -> str:
    if n is None:
        return f">{horizon}"
    if not se:
        return f"{n}"
    return f"{n} ±{se:.0f}" if se >= 10 else f"{n} ±{se:.1f}"


def _days(d: Optional[float], n: Optional[int], horizon: int, pace: Optional[float]) -> str:
    if d is None:
        return f">{horizon / pace:.1f}" if n is None and pace else "-"
    return f"{d:.1f}"


def _level(row: PlanRow) -> str:
    text = f"{row.level:.2f}" if row.measure == "win_rate" else f"{row.level:+.3f}"
    if row.measure == "win_rate" and round(row.level, 2) != row.level:
        text = f"{row.level:.4g}"
    return text + (" *" if row.false_alarm else "  ")


def _money(row: PlanRow) -> str:
    losing = row.losing
    if losing is None:
        return "-"
    if losing and row.ev_per_dollar is not None and abs(row.ev_per_dollar) < 1e-9:
        return "break-even"
    return "losing" if losing else "profitable"


def _table(rows: Sequence[PlanRow], event: str, report: PlanReport) -> List[str]:
    if not rows:
        return []
    horizon, pace = report.horizon, report.trades_per_day
    measure = "win rate" if rows[0].measure == "win_rate" else "EV/$"
    money = any(r.ev_per_dollar is not None for r in rows)
    heads = [measure]
    if money:
        heads += ["EV/$", "money"]
    heads += [f"{event} by {horizon}", "median trades", "90% trades"]
    if any(r.mean_trades is not None for r in rows) and event == "P(kill)":
        heads.append("mean")
    if pace is not None:
        heads += ["median days", "90% days"]
    heads.append("method")
    body = []
    for r in rows:
        se = r.probability_se
        cells = [_level(r)]
        if money:
            ev = r.ev_per_dollar
            ev_text = "-" if ev is None else f"{0.0 if abs(ev) < 1e-9 else ev:+.3f}"
            cells += [ev_text, _money(r)]
        cells += [
            format_share(r.probability) + (f" ±{100 * se:.2f}" if se else ""),
            _trades(r.median_trades, r.median_se, horizon),
            _trades(r.p90_trades, r.p90_se, horizon),
        ]
        if "mean" in heads:
            cells.append("-" if r.mean_trades is None else f"{r.mean_trades:.1f}")
        if pace is not None:
            cells.append(_days(r.median_days, r.median_trades, horizon, pace))
            cells.append(_days(r.p90_days, r.p90_trades, horizon, pace))
        cells.append("exact" if r.method == EXACT else "MC")
        body.append(cells)
    widths = [max(len(h), *(len(c[i]) for c in body)) for i, h in enumerate(heads)]
    if money and 2 + sum(widths) + 2 * (len(widths) - 1) > _WIDTH:
        # Too wide with the days: the sign of EV/$ says it, and the sentence below.
        cut = heads.index("money")
        heads.pop(cut)
        widths.pop(cut)
        for cells in body:
            cells.pop(cut)
    lines = ["  " + "  ".join(h.rjust(w) for h, w in zip(heads, widths)).rstrip()]
    for cells in body:
        lines.append("  " + "  ".join(c.rjust(w) for c, w in zip(cells, widths)).rstrip())
    return lines
