"""``quant-rollout watch``: send each new history event to the user's channels.

The library side (cursor, delivery rules, Apprise) is :mod:`quant_rollout.tools.watch`;
this module reads the flags, finds the rollout's history, prints one line per alert
sent and turns the result into an exit code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from ...storage.history import history_path_for
from ..config import parse_duration
from ..watch import Alert, Sender, apprise_sender, urls_from_env, watch
from .common import EXIT_OK, EXIT_REFUSED, _CommandError, _one_line, _out
from .source import _rollout

__all__: list[str] = []


def _add_watch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--once",
        action="store_true",
        help="send what is new and exit (for cron); exit 1 when a send failed",
    )
    parser.add_argument(
        "--every",
        default="10s",
        metavar="DUR",
        help="how often to look for new events when following (default 10s)",
    )
    parser.add_argument(
        "--alerts-config",
        metavar="FILE",
        help="an Apprise configuration file of URLs (in addition to $QUANT_ROLLOUT_ALERTS)",
    )
    parser.add_argument(
        "--cursor",
        metavar="FILE",
        help="where to remember what was sent (default: beside the history)",
    )
    parser.add_argument(
        "--from-end",
        action="store_true",
        help="on the first run, skip the events already in the history",
    )
    parser.add_argument(
        "--label", metavar="NAME", help="names the rollout in alert titles (default: its file)"
    )


def _cmd_watch(args: argparse.Namespace) -> int:
    try:
        every = parse_duration(args.every)
    except ValueError as exc:
        raise _CommandError(f"--every: {exc}") from None
    if every <= 0:
        raise _CommandError(f"--every must be more than 0, got {args.every!r}")
    rollout, source = _rollout(args)
    if rollout.state_path is None:
        raise _CommandError(
            f"{source.label}: this rollout keeps no state file, so it has no history to watch"
        )
    history = history_path_for(rollout.state_path)
    label: Optional[str] = args.label
    if label is None and source.kind == "config":
        label = Path(source.value).stem
    send = _saying_failures(apprise_sender(urls_from_env(), config_file=args.alerts_config))
    if not args.once:
        _out(f"watching {history} every {args.every} (Ctrl-C to stop)")
        sys.stdout.flush()
    report = watch(
        history,
        send,
        cursor=args.cursor,
        follow=not args.once,
        interval=every,
        from_end=args.from_end,
        label=label,
        on_sent=_say_sent,
    )
    if report.failed is not None:
        return EXIT_REFUSED
    if not report.sent:
        _out(f"nothing new (last sent: event {report.cursor.seq} of {history})")
    return EXIT_OK


def _say_sent(alert: Alert) -> None:
    _out(f"sent #{alert.seq} {alert.event}: {_one_line(alert.title)}")
    sys.stdout.flush()


def _saying_failures(send: Sender) -> Sender:
    """``send``, saying on stderr when an alert could not be sent (once per event)."""
    said = {"seq": 0}

    def wrapped(alert: Alert) -> bool:
        delivered = bool(send(alert))
        if not delivered and said["seq"] != alert.seq:
            said["seq"] = alert.seq
            sys.stderr.write(
                f"could not send event #{alert.seq} ({alert.event}); it is retried, and no "
                "later event is sent before it\n"
            )
            sys.stderr.flush()
        return delivered

    return wrapped
