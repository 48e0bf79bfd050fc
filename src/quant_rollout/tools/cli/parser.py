"""The argument parser: every command, its flags and its help."""

from __future__ import annotations

import argparse
import difflib
import re
import textwrap
from typing import Any, Dict, NoReturn, Sequence, Tuple

from ..._version import __version__
from ...trades import parse_instant
from .common import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    PROG,
    _width,
)
from .config_file import (
    _cmd_init,
    _cmd_validate,
)
from .dashboard import register as register_dashboard
from .experiment import (
    _cmd_plan_experiment,
    _cmd_replay_experiment,
)
from .history import (
    _cmd_history,
)
from .plan import (
    _cmd_plan,
)
from .replay import (
    _cmd_replay,
)
from .status import (
    _cmd_status,
)
from .verbs import (
    _cmd_restore,
    _cmd_verb,
)
from .watch import _add_watch_arguments, _cmd_watch

__all__: list[str] = []


class _Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=26, width=min(_width(), 80))


class _TopFormatter(_Formatter, argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's examples as written."""


class _Parser(argparse.ArgumentParser):
    """argparse, with "did you mean" for a mistyped command or option."""

    def error(self, message: str) -> NoReturn:
        super().error(message + _did_you_mean(self, message))


def _did_you_mean(parser: argparse.ArgumentParser, message: str) -> str:
    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice:
        known = re.findall(r"'([^']*)'", choice.group(2)) or choice.group(2).split(", ")
        close = difflib.get_close_matches(choice.group(1), known, n=1, cutoff=0.6)
        return f"; did you mean {close[0]!r}?" if close else ""
    unknown = re.match(r"unrecognized arguments: (.*)", message)
    if unknown:
        options = set(parser._option_string_actions)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    options.update(sub._option_string_actions)
        hints = []
        for word in unknown.group(1).split():
            if word.startswith("-") and word not in options:
                close = difflib.get_close_matches(word.split("=")[0], sorted(options), n=1)
                if close:
                    hints.append(f"{close[0]} (not {word})")
        return f"; did you mean {', '.join(hints)}?" if hints else ""
    return ""


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
    t.add_argument(
        "--strategy", metavar="NAME", help="freqtrade: the strategy to read (results or database)"
    )
    t.add_argument("--arm", metavar="COL", help="the column naming each trade's experiment arm")
    return {"rollout": rollout, "debug": debug, "verb": verb, "confirm": confirm, "trades": trades}


def _parser() -> argparse.ArgumentParser:
    p = _parents()
    parser = _Parser(
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
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="commands", parser_class=argparse.ArgumentParser
    )
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
    st.add_argument(
        "--closed-through",
        metavar="TIME",
        type=_closed_through,
        default=None,
        help="every trade opened up to TIME (ISO-8601) has closed and is in --trades; "
        "without it a confidence gate judges only trades opened a day or more ago",
    )
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(run=_cmd_status)

    verbs: Sequence[Tuple[str, str, str, bool]] = (
        ("veto", "veto", "cancel the pending advance (its evidence will not count again)", False),
        ("promote", "promote", "advance now, skipping the gate and the veto window", True),
        ("pause", "pause", "stop automatic advances (the kill switch keeps running)", False),
        ("resume", "resume", "allow automatic advances again", False),
        ("clear-kill", "clear_kill", "unlatch a tripped kill switch (evidence restarts)", False),
        ("reset", "reset", "back to stage 0: clears kill, pending advance and pause", True),
        (
            "accept-clock",
            "accept_clock",
            "accept the clock after it had jumped ahead: recorded times after now move to now",
            False,
        ),
    )
    for name, verb, help_, confirm in verbs:
        parents = ["rollout", "debug", "verb"] + (["confirm"] if confirm else [])
        cmd = add(name, help_, parents, help_[0].upper() + help_[1:] + ". Recorded in the history.")
        if verb == "promote":
            cmd.add_argument(
                "--to", type=int, metavar="N", help="the stage to promote to (default: the next)"
            )
        cmd.set_defaults(run=_cmd_verb, verb=verb)

    arm_verbs: Sequence[Tuple[str, str, str]] = (
        (
            "promote-arm",
            "promote_arm",
            "end the running experiment: the next stage runs ARM's params now",
        ),
        (
            "drop-arm",
            "drop_arm",
            "stop routing to the candidate ARM (its traffic returns to control)",
        ),
    )
    for name, verb, help_ in arm_verbs:
        cmd = add(
            name,
            help_,
            ["rollout", "debug", "verb"],
            help_[0].upper() + help_[1:] + ". Recorded in the history.",
        )
        cmd.add_argument("arm", metavar="ARM", help="the arm's name")
        cmd.set_defaults(run=_cmd_verb, verb=verb)
    wt = add(
        "weights",
        "route the running experiment by new weights",
        ["rollout", "debug", "verb"],
        "Route the running experiment by new weights from the bot's next tick: every arm "
        "named, the weights summing to 1 (e.g. control=0.5 wide=0.5). The sample-ratio "
        "test counts afresh under them. Recorded in the history.",
    )
    wt.add_argument(
        "weights", nargs="+", metavar="ARM=WEIGHT", type=_arm_weight, help="e.g. control=0.9"
    )
    wt.set_defaults(run=_cmd_verb, verb="change_weights")

    rs = add(
        "restore",
        "rebuild a corrupt or missing state file from the history",
        ["rollout", "debug", "verb"],
        "Rebuild the state file from the verified history's last line (each line holds the "
        "state after its event). For a state file that is corrupt, unreadable, missing or "
        "behind its history; refused when it loads and follows the history. Recorded in "
        "the history.",
    )
    rs.set_defaults(run=_cmd_restore)

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
    pl.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="Monte Carlo rows at once, in processes (default: the CPUs usable; 1: none)",
    )
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pl.set_defaults(run=_cmd_plan)

    pe = add(
        "plan-experiment",
        "pre-flight an experiment: power and false-winner rate of the win-rate comparison",
        ["debug"],
        "Simulate a control arm and a candidate routed side by side, the comparison "
        "checked after every trade: per candidate win rate, the chance it is declared "
        "better within the horizon (a false winner when it is not better by the margin), "
        "the median trades that takes and the trades for the chance given by --power.",
    )
    pe.add_argument(
        "--control", type=float, default=0.5, metavar="WR", help="control's win rate (0.5)"
    )
    pe.add_argument(
        "--candidates",
        default="0.5,0.55,0.6,0.65",
        metavar="LIST",
        help="candidate win rates (default 0.5,0.55,0.6,0.65)",
    )
    pe.add_argument("--margin", type=float, default=0.0, metavar="X", help="win-rate points (0)")
    pe.add_argument("--confidence", type=float, default=0.95, metavar="C", help="(0.95)")
    pe.add_argument(
        "--weight", type=float, default=0.5, metavar="W", help="candidate's share (0.5)"
    )
    pe.add_argument(
        "--horizon", type=int, default=2000, metavar="N", help="trades, both arms (2000)"
    )
    pe.add_argument("--runs", type=int, default=1000, metavar="N", help="runs per row (1000)")
    pe.add_argument("--power", type=float, default=0.8, metavar="P", help="(0.8)")
    pe.add_argument("--seed", type=int, default=0, metavar="S", help="Monte Carlo seed (0)")
    pe.add_argument("--json", action="store_true", help="machine-readable output")
    pe.set_defaults(run=_cmd_plan_experiment)

    rx = add(
        "replay-experiment",
        "replay a trade history whose trades name their arm: when is a winner declared",
        ["debug", "trades"],
        "Feed a history of an experiment (each trade naming its arm, see --arm) to the "
        "arm comparisons in order of opening time, checked after every trade: when a "
        "candidate is first declared better than control (or worse), and the arms side "
        "by side at the end. Trade files hold no opportunity counts, so PnL per "
        "opportunity and the sample-ratio alarm are not replayed.",
    )
    rx.add_argument("trades", metavar="TRADES", help="the trade history")
    rx.add_argument("--control", required=True, metavar="ARM", help="the control arm's name")
    rx.add_argument("--margin", type=float, default=0.0, metavar="X", help="(0)")
    rx.add_argument(
        "--metric", default="win_rate", metavar="M", help="win_rate or ev_per_dollar (win_rate)"
    )
    rx.add_argument("--confidence", type=float, default=0.95, metavar="C", help="(0.95)")
    rx.add_argument(
        "--loss-per-dollar", type=float, default=1.0, metavar="L", help="worst loss per $ (1)"
    )
    rx.add_argument(
        "--gain-per-dollar", type=float, metavar="G", help="best gain per $: compares EV/$"
    )
    rx.add_argument("--json", action="store_true", help="machine-readable output")
    rx.set_defaults(run=_cmd_replay_experiment)

    va = add(
        "validate",
        "check a configuration file and print its stage table",
        ["rollout", "debug", "trades"],
        "Check a configuration file and print its stages, gates and kill switch, or every "
        "problem found (exit 2). With --trades, also warn about each kill criterion or "
        "gate that can never fire on trades like those (a drawdown limit larger than the "
        "whole history could lose, a min_n that takes years at its pace...), naming the "
        "key and a value to try.",
    )
    va.add_argument("file", nargs="?", metavar="FILE", help="the file (default: as for --config)")
    va.add_argument(
        "--trades",
        metavar="FILE",
        help="a trade history: warn about limits that can never fire on trades like it",
    )
    va.add_argument(
        "--strict", action="store_true", help="with --trades: exit 1 when there are warnings"
    )
    va.set_defaults(run=_cmd_validate)

    it = add(
        "init",
        "write a commented example configuration",
        ["debug", "trades"],
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
    it.add_argument(
        "--trades",
        metavar="FILE",
        help="a trade history: scale the money limits to its typical stake",
    )
    it.set_defaults(run=_cmd_init)

    wa = add(
        "watch",
        "send each new history event to Telegram, Slack, e-mail... (needs the alerts extra)",
        ["rollout", "debug"],
        "Follow the rollout's history and send each new event (an advance, a veto window "
        "opening with its deadline, a kill with its reason, every operator action) through "
        "Apprise to the URLs in $QUANT_ROLLOUT_ALERTS or --alerts-config. What was sent is "
        "remembered beside the history, so a restarted watcher neither loses nor repeats "
        "an event (one in flight at a crash is resent, marked as such).",
    )
    _add_watch_arguments(wa)
    wa.set_defaults(run=_cmd_watch)
    register_dashboard(sub)
    return parser


def _closed_through(text: str) -> str:
    try:
        parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--closed-through: {exc}") from None
    return text


def _arm_weight(text: str) -> Tuple[str, float]:
    """``ARM=WEIGHT`` as (arm, weight); argparse names the argument on an error."""
    name, sep, value = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected ARM=WEIGHT (e.g. control=0.5), got {text[:40]!r}"
        ) from None
