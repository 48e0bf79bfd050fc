"""The dashboard's pages, drawn with Streamlit: the fleet, one rollout, the actions.

:func:`main` is the whole app; ``app.py`` (the script Streamlit runs) only calls it.
What is shown is computed in :mod:`.model`; who may act is decided by
:mod:`.settings`: without a configured action token the page is read-only and says
so; with one, the operator types it into the sidebar, and it is compared in
constant time again right before each verb runs.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import streamlit as st

from ..clock import Clock
from ..engine.state import RolloutState
from ..errors import ConfigError
from ..rollout import Rollout
from ..trades import TradeOutcome
from . import charts
from .model import (
    ACTIONS,
    GateTimeline,
    Snapshot,
    act,
    clock_from_env,
    equity_curve,
    event_words,
    fleet_row,
    phase_text,
    read_snapshot,
    relative,
    span,
    stage_label,
    stage_spans,
    stage_summaries,
)
from .settings import (
    TOKEN_ENV,
    DashboardSettings,
    RolloutEntry,
    TokenError,
    configured_token,
    is_loopback,
    token_matches,
)

__all__ = ["main"]

_HEALTH = {
    "ok": (":green[●]", "running"),
    "attention": (":orange[●]", "needs a look"),
    "bad": (":red[●]", "stopped or broken"),
    "idle": (":gray[●]", "not started"),
}

_TOKEN_KEY = "action_token"
_FLASH_KEY = "flash"


# ----------------------------------------------------------------------------- reading


@st.cache_resource(max_entries=16, show_spinner=False)
def _trades_cached(path: str, mtime_ns: int, size: int) -> Tuple[TradeOutcome, ...]:
    """A trade file's trades, read again only when the file changes."""
    from ..tools.importers import read_trades

    return tuple(read_trades(path).trades)


def _read_trades(path: Path) -> Sequence[TradeOutcome]:
    try:
        info = path.stat()
    except OSError:  # let the importer say it, in the command line's words
        from ..tools.importers import read_trades

        return read_trades(path).trades
    return _trades_cached(str(path), info.st_mtime_ns, info.st_size)


class _Shared:
    """One object kept between refreshes and sessions, with the lock that guards it
    (Streamlit draws each browser session in its own thread)."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.lock = threading.Lock()


@st.cache_resource(max_entries=64, show_spinner=False)
def _shared_rollout(config: str, mtime_ns: int, size: int) -> _Shared:
    """A rollout kept while its configuration file is unchanged: its evidence is then
    brought up to date with the new trades only, as the bot's own ticks are."""
    return _Shared(Rollout.from_config(config))


def _snapshot(entry: RolloutEntry, clock: Clock) -> Snapshot:
    try:
        info = entry.config.stat()
        shared = _shared_rollout(str(entry.config), info.st_mtime_ns, info.st_size)
    except Exception:  # missing or invalid: read_snapshot reports it as the CLI would
        return read_snapshot(entry, clock, _read_trades)

    def build(_entry: RolloutEntry, now: Clock) -> Rollout:
        rollout: Rollout = shared.value
        rollout.clock = now
        return rollout

    with shared.lock:
        return read_snapshot(entry, clock, _read_trades, build)


@st.cache_resource(max_entries=64, show_spinner=False)
def _shared_timeline(
    entry: str, rollout_id: int, window: str, _rollout: Rollout, _state: RolloutState
) -> _Shared:
    """One timeline per kept rollout (a new one when the configuration changes) and
    evidence window (a new one after an advance, a veto, a cleared kill)."""
    return _Shared(GateTimeline(_rollout, _state))


def _gate_rows(snap: Snapshot) -> List[Dict[str, Any]]:
    st_, rollout = snap.status, snap.rollout
    if st_ is None or rollout is None or not snap.trades or st_.gate_progress is None:
        return []
    window = repr(GateTimeline.key(rollout, st_.state))
    shared = _shared_timeline(snap.entry.key, id(rollout), window, rollout, st_.state)
    with shared.lock:
        rows: List[Dict[str, Any]] = shared.value.update(snap.trades, snap.now_us)
        return rows


@st.cache_data(max_entries=8, show_spinner="Planning: exact where possible, else Monte Carlo…")
def _plan(config: str, mtime_ns: int, paths: int) -> Any:
    from ..planning import plan
    from ..tools.config import load_config

    return plan(load_config(config), paths=paths)


# ----------------------------------------------------------------------------- the token


def _expected_token(settings: DashboardSettings) -> Tuple[Optional[str], Optional[str]]:
    """(the configured token or None, why a configured token is unusable)."""
    try:
        return configured_token(settings.token_file), None
    except TokenError as exc:
        return None, str(exc)


def _unlocked(settings: DashboardSettings) -> bool:
    expected, _ = _expected_token(settings)
    given = st.session_state.get(_TOKEN_KEY)
    return token_matches(given if isinstance(given, str) else None, expected)


# ----------------------------------------------------------------------------- the fleet


def _fleet(settings: DashboardSettings, clock: Clock) -> None:
    st.title("Rollouts")
    refresh = settings.refresh_seconds or None

    @st.fragment(run_every=refresh)
    def body() -> None:
        for entry in settings.rollouts:
            snap = _snapshot(entry, clock)
            row = fleet_row(snap)
            dot, meaning = _HEALTH[row.health]
            with st.container(border=True):
                c1, c2, c3, c4, c5 = st.columns(
                    [2.5, 1.8, 3.5, 3.5, 2.7], vertical_alignment="center"
                )
                c1.markdown(f"{dot} **{row.key}**  \n:gray[{meaning}]")
                c2.markdown(f"stage  \n**{row.stage}**")
                c3.markdown(f"phase  \n{row.phase}")
                c4.markdown(f"last event  \n{row.last_event}")
                if c5.button(f"Open {row.key}", key=f"open-{row.key}"):
                    st.query_params["rollout"] = row.key
                    st.rerun()
                if row.problem is not None:
                    st.error(row.problem)
        if refresh:
            st.caption(f"refreshes every {span(refresh)}")

    body()


# ----------------------------------------------------------------------------- one rollout


def _header(snap: Snapshot) -> None:
    row = fleet_row(snap)
    dot, meaning = _HEALTH[row.health]
    st.markdown(f"## {dot} {row.key}")
    st.caption(f"{meaning} · {snap.entry.config.name}")
    if snap.error is not None:
        st.error(snap.error)
        return
    st_ = snap.status
    if st_ is None:
        st.info(
            f"{phase_text(snap)} at {snap.rollout.state_path if snap.rollout else '?'}: "
            "the bot has not ticked yet"
        )
        return
    cols = st.columns([10, 12, 10, 7])
    cols[0].metric("stage", st_.stage.label)
    cols[1].metric("phase", st_.phase.value.replace("_", " "))
    if st_.advance_pending_to is not None:
        left = st_.veto_seconds_left or 0.0
        cols[2].metric(
            f"advance to {stage_label(snap.rollout, st_.advance_pending_to)}",
            f"in {span(left)}" if left > 0 else "next tick",
        )
    else:
        cols[2].metric("next stage", "-" if st_.next_stage is None else st_.next_stage.label)
    cols[3].metric("kill switch", "TRIPPED" if st_.kill_switch_tripped else "armed")
    if st_.kill_switch_tripped:
        st.error(
            f"kill switch tripped {relative(st_.kill_timestamp, snap.now_us)}: {st_.kill_reason}"
        )
    elif st_.advance_pending_to is not None:
        st.warning(phase_text(snap))
    if st_.bot_told is not None:
        st.warning(st_.bot_told)  # an operator moved the stage; the bot runs the old one
    if st_.trades_ahead is not None:
        st.warning(st_.trades_ahead)
    if st_.advance_window is not None:
        # Time-based gates: where the next advance stands against its windows and
        # blackouts, and the veto deadline in the operator's zone.
        local = f"; veto deadline {st_.veto_deadline_local}" if st_.veto_deadline_local else ""
        st.info(f"advance window: {st_.advance_window}{local}")
    if st_.last_event is not None:
        e = st_.last_event
        who = f" by {e.actor}" if e.actor else ""
        note = f" — note: {e.note}" if e.note else ""
        what = f"{e.event} ({event_words(e.event)})"
        st.caption(f"last: #{e.seq} {what}{who} {relative(e.at, snap.now_us)}: {e.reason}{note}")
    if snap.chain_broken:
        problem = snap.history_error or (
            snap.verification.problem if snap.verification is not None else ""
        )
        st.error(f"history verification FAILED: {problem}")
    if snap.trades_error is not None:
        st.warning(f"trade history not read: {snap.trades_error}")


def _equity(snap: Snapshot) -> None:
    st.subheader("Equity and stages")
    trades = snap.trades or ()
    curve = equity_curve(trades) if trades else []
    start = min((t.instant_us for t in trades), default=None)
    spans = stage_spans(snap.rollout, snap.history, None if start is None else start / 1000.0)
    now_ms = snap.now_us / 1000.0
    st.vega_lite_chart(spec=charts.equity_chart(curve, spans, snap.history, now_ms))
    if not trades:
        st.caption(
            "no trade history: start the dashboard with --trades FILE to draw the equity "
            "curve, the gate's bounds and per-stage results"
        )
    else:
        st.caption(
            f"{len(trades):,} trades; drawn with {len(curve):,} points "
            "(each stretch keeps its first, lowest, highest and last point)"
        )
        rows = stage_summaries(spans, trades)
        st.dataframe(
            [
                {
                    "stage": r.stage,
                    "from": r.start,
                    "to": r.end,
                    "trades": r.trades,
                    "win rate": None if r.win_rate is None else round(r.win_rate, 3),
                    "EV/$": None if r.ev_per_dollar is None else round(r.ev_per_dollar, 4),
                    "pnl": round(r.pnl, 2),
                }
                for r in rows
            ],
            hide_index=True,
        )


def _gate(snap: Snapshot) -> None:
    st_ = snap.status
    assert st_ is not None
    target_num = st_.advance_pending_to
    if target_num is None and st_.next_stage is not None:
        target_num = st_.next_stage.num
    st.subheader("Gate")
    if target_num is None:
        st.write("This is the last stage: no gate ahead.")
        return
    target = snap.rollout.config.stage(target_num) if snap.rollout else None
    if st_.experiment_text is not None:
        st.write(
            f"Stage {stage_label(snap.rollout, target_num)} runs the winner of this stage's "
            "experiment: a candidate that beats control with confidence opens the veto window."
        )
        st.code(st_.experiment_text, language=None)
        return
    if target is None or target.gate is None:
        st.write(
            f"Stage {stage_label(snap.rollout, target_num)} has no gate: reached only by promote."
        )
        return
    if st_.gate_progress is None or st_.gate_result is None:
        st.write(
            f"Next: stage {target.label}. Gate progress needs the trades: start the dashboard "
            "with --trades FILE."
        )
        return
    verdict = "passes" if st_.gate_result.passes else st_.gate_result.verdict.value
    st.write(f"To stage **{target.label}**: **{verdict}** — {st_.gate_result.reason}")
    st.dataframe(
        [
            {
                "criterion": c.name,
                "observed": round(c.observed, 4),
                "lower bound": None if c.lower_bound is None else round(c.lower_bound, 4),
                "required": c.required,
                "met": "yes" if c.met else ("never" if c.cannot_pass else "no"),
            }
            for c in st_.gate_progress
        ],
        hide_index=True,
    )
    chart = charts.gate_chart(_gate_rows(snap))
    if chart is not None:
        st.caption("the confidence bound climbing towards its bar (dashed: bar; dotted: observed)")
        st.vega_lite_chart(spec=chart)


def _kill(snap: Snapshot) -> None:
    st_ = snap.status
    assert st_ is not None
    st.subheader("Kill switch")
    if st_.kill_switch_tripped:
        st.error(f"TRIPPED: {st_.kill_reason}")
    criteria = st_.kill_criteria
    if criteria is None:
        st.write("Each criterion's statistic needs the trades: start with --trades FILE.")
        return
    if not criteria:
        st.write("No kill criteria beyond the lookback checks.")
    for k in criteria:
        colour = {"tripped": "red", "running": "green", "calibrating": "orange"}.get(
            k.state, "gray"
        )
        st.markdown(
            f":{colour}[●] **{k.name}** — {k.state}" + (f": {k.detail}" if k.detail else "")
        )
        # Criteria that report their numbers get a bar (statistic / threshold).
        stat = getattr(k, "statistic", None)
        threshold = getattr(k, "threshold", None)
        if isinstance(stat, (int, float)) and isinstance(threshold, (int, float)) and threshold > 0:
            st.progress(min(1.0, max(0.0, float(stat) / float(threshold))))


def _history(snap: Snapshot) -> None:
    st.subheader("History")
    v = snap.verification
    if snap.history_error is not None:
        st.error(snap.history_error)
    elif v is not None and v.ok:
        st.success(f"hash chain verified: {v.events} events")
    elif v is not None:
        st.error(f"hash chain BROKEN at line {v.bad_line}: {v.problem}")
    rows = [
        {
            "#": r.seq,
            "at": r.at,
            "event": r.event,
            "what": event_words(r.event),
            "stage": f"{r.from_stage} → {r.to_stage}",
            "reason": r.reason,
            "note": r.note,
            "who": r.actor or "",
        }
        for r in reversed(snap.history)
    ]
    if rows:
        st.dataframe(rows, hide_index=True)
    else:
        st.caption("no events recorded yet")


def _plan_section(snap: Snapshot) -> None:
    with st.expander("Plan: what this configuration will do"):
        st.caption(
            "The chance that each gate passes and that the kill switch fires within 2,000 "
            "trades, per true win rate (`quant-rollout plan`, with 400 Monte Carlo runs "
            "where no exact model exists)."
        )
        key = f"plan-{snap.entry.key}"
        if st.button("Compute the plan", key=key) or st.session_state.get(key + "-shown"):
            st.session_state[key + "-shown"] = True
            try:
                mtime = snap.entry.config.stat().st_mtime_ns
                report = _plan(str(snap.entry.config), mtime, 400)
            except Exception as exc:
                st.error(f"error: {' '.join(str(exc).split())}")
                return
            st.vega_lite_chart(spec=charts.plan_chart(report))


def _raw_state(snap: Snapshot) -> None:
    path = snap.rollout.state_path if snap.rollout is not None else None
    with st.expander(f"State file, as read: {path}"):
        st.caption(f"configuration: {snap.entry.config}")
        if snap.status is not None:
            # Every field, so fields added later (experiment arms, time windows) show up.
            st.json(snap.status.state.to_dict())


# ----------------------------------------------------------------------------- acting


def _available(snap: Snapshot) -> List[Tuple[str, str]]:
    st_ = snap.status
    if st_ is None:
        return []
    phase = st_.phase.value
    out = []
    for verb, label in ACTIONS:
        if verb == "veto" and st_.advance_pending_to is None:
            continue
        if verb == "pause" and st_.paused:
            continue
        if verb == "resume" and not st_.paused:
            continue
        if verb == "clear_kill" and not st_.kill_switch_tripped:
            continue
        if verb == "promote" and (st_.next_stage is None or phase == "killed"):
            continue
        out.append((verb, label))
    return out


def _run(
    settings: DashboardSettings, clock: Clock, entry: RolloutEntry, verb: str, to: Optional[int]
) -> None:
    """A button's callback: runs before the page is drawn again, so it may clear the note."""
    st.session_state.pop(f"confirm-promote-{entry.key}", None)
    # Check the token again at the moment of acting: it may have been changed or
    # removed since the button was drawn.
    if not _unlocked(settings):
        st.session_state[_FLASH_KEY] = (False, "refused: the action token does not match")
        return
    note = st.session_state.get(f"note-{entry.key}", "")
    outcome = act(
        entry,
        verb,
        actor=settings.actor,
        note=note if isinstance(note, str) else "",
        to_stage=to,
        clock=clock,
    )
    text = outcome.message + "".join(f"  \n{d}" for d in outcome.details)
    st.session_state[_FLASH_KEY] = (outcome.done, text)
    if outcome.done:
        st.session_state[f"note-{entry.key}"] = ""


def _ask(key: str, value: Optional[int]) -> None:
    if value is None:
        st.session_state.pop(key, None)
    else:
        st.session_state[key] = value


def _actions(
    settings: DashboardSettings, clock: Clock, snap: Snapshot, unlocked: bool, has_token: bool
) -> None:
    if not has_token:
        return
    st.subheader("Act")
    if not unlocked:
        st.caption("Type the action token in the sidebar to veto, pause, resume, clear or promote.")
        return
    st_ = snap.status
    if st_ is None:
        return
    entry = snap.entry
    confirm_key = f"confirm-promote-{entry.key}"
    st.text_input("Note, recorded in the history with your action", key=f"note-{entry.key}")
    available = _available(snap)
    if not available:
        st.caption("No action applies in this phase.")
    cols = st.columns(max(1, len(available)))
    for col, (verb, label) in zip(cols, available):
        if verb == "promote":
            nxt = st_.next_stage
            assert nxt is not None
            col.button(
                f"{label} to {nxt.label}…",
                key=f"act-{verb}-{entry.key}",
                on_click=_ask,
                args=(confirm_key, nxt.num),
            )
        else:
            col.button(
                label,
                key=f"act-{verb}-{entry.key}",
                type="primary" if verb == "veto" else "secondary",
                on_click=_run,
                args=(settings, clock, entry, verb, None),
            )
    target = st.session_state.get(confirm_key)
    if isinstance(target, int):
        st.warning(
            f"Promote stage {st_.stage.label} → {stage_label(snap.rollout, target)} now, "
            "skipping its gate and the veto window?"
        )
        yes, no = st.columns(2)
        yes.button(
            "Yes, promote",
            key=f"confirm-yes-{entry.key}",
            type="primary",
            on_click=_run,
            args=(settings, clock, entry, "promote", target),
        )
        no.button("Cancel", key=f"confirm-no-{entry.key}", on_click=_ask, args=(confirm_key, None))


def _rollout(
    settings: DashboardSettings, clock: Clock, entry: RolloutEntry, has_token: bool
) -> None:
    if st.button("← All rollouts", key="back"):
        del st.query_params["rollout"]
        st.rerun()
    unlocked = _unlocked(settings)
    refresh = settings.refresh_seconds or None

    @st.fragment(run_every=refresh)
    def live() -> None:
        flash = st.session_state.pop(_FLASH_KEY, None)
        if flash is not None:
            done, text = flash
            (st.success if done else st.error)(text)
        snap = _snapshot(entry, clock)
        _header(snap)
        if snap.error is not None or snap.status is None:
            return
        _actions(settings, clock, snap, unlocked, has_token)
        _equity(snap)
        left, right = st.columns(2)
        with left:
            _gate(snap)
        with right:
            _kill(snap)
        _history(snap)
        _plan_section(snap)
        _raw_state(snap)

    live()


# ----------------------------------------------------------------------------- the page


def _sidebar(
    settings: DashboardSettings, expected: Optional[str], token_problem: Optional[str]
) -> None:
    with st.sidebar:
        st.markdown("### quant-rollout")
        st.caption(
            f"{len(settings.rollouts)} rollout(s); actions are recorded as `{settings.actor}`"
        )
        if expected is not None:
            st.text_input("Action token", type="password", key=_TOKEN_KEY)
            given = st.session_state.get(_TOKEN_KEY)
            if given and not token_matches(given, expected):
                st.error("wrong token: actions stay locked")
            elif given:
                st.success("actions unlocked")
        elif token_problem is not None:
            st.error(token_problem)


def main() -> None:
    """Draw the page: the fleet, or the rollout named by ``?rollout=`` in the address."""
    st.set_page_config(page_title="quant-rollout", page_icon="📈", layout="wide")
    try:
        settings = DashboardSettings.from_env()
        clock = clock_from_env()
    except (ConfigError, ValueError) as exc:
        st.error(str(exc))
        st.stop()
        return
    expected, token_problem = _expected_token(settings)
    bound = str(st.get_option("server.address") or settings.address)
    if expected is None and not (is_loopback(bound) and is_loopback(settings.address)):
        st.error(
            f"refusing to serve on {bound!r} without an action token: set {TOKEN_ENV} or "
            "--token-file, or bind 127.0.0.1 and reach it through an SSH tunnel"
        )
        st.stop()
        return
    _sidebar(settings, expected, token_problem)
    if expected is None:
        st.info(
            f"Read-only: no action token is configured. Set {TOKEN_ENV} (or start with "
            "--token-file FILE) to veto, pause, resume, clear the kill switch or promote "
            "from this page."
        )
    key = st.query_params.get("rollout")
    entry = settings.entry(key) if key else None
    if key and entry is None:
        st.warning(f"no rollout named {key[:40]!r} here; showing them all")
    if entry is None:
        _fleet(settings, clock)
    else:
        _rollout(settings, clock, entry, expected is not None)
