"""``quant-rollout dashboard``: hands its arguments to ``python -m quant_rollout.dashboard``.

The dashboard is the top layer, so the command line does not import it: it runs it
by module name in a child process, passing everything after ``dashboard`` through
untouched (``quant-rollout dashboard --help`` shows the dashboard's own help). A
``--config`` given before the command is passed on too.

``--help`` and ``--check`` finish at once: their output is relayed through this
process's streams. Otherwise the child is the server: it shares the terminal, and
SIGTERM or SIGHUP sent to this process is passed on to it (Ctrl-C reaches both), so
stopping this PID stops the server.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
from types import FrameType
from typing import Any, Dict, List, Optional

__all__ = ["register"]

MODULE = "quant_rollout.dashboard"
_SHORT = ("-h", "--help", "--check")


def _code(returncode: int) -> int:
    """A child killed by signal N exits as a shell reports it: 128 + N."""
    return returncode if returncode >= 0 else 128 - returncode


def _relay(command: List[str]) -> int:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    return _code(done.returncode)


def _serve(command: List[str]) -> int:
    child = subprocess.Popen(command)

    def forward(signum: int, _frame: Optional[FrameType]) -> None:
        child.send_signal(signum)

    previous: Dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            with contextlib.suppress(ValueError):  # not the main thread: none to forward
                previous[number] = signal.signal(number, forward)
    try:
        while True:
            try:
                return _code(child.wait())
            except KeyboardInterrupt:  # the child got it too and is shutting down
                continue
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _run(args: argparse.Namespace) -> int:
    argv: List[str] = list(args.dashboard_args)
    config = getattr(args, "config", None)
    if config:
        argv = ["--config", str(config), *argv]
    command = [sys.executable, "-m", MODULE, *argv]
    sys.stdout.flush()
    sys.stderr.flush()
    if any(arg in _SHORT for arg in argv):
        return _relay(command)
    return _serve(command)


def register(sub: Any) -> None:
    """Add the ``dashboard`` command to the ``quant-rollout`` subcommands ``sub``."""
    # "+" as the only option prefix: every "--flag" after the command is the
    # dashboard's, passed through rather than parsed (and refused) here.
    cmd = sub.add_parser(
        "dashboard",
        help="a live web page of the rollouts, with veto/pause/promote",
        description="Run the dashboard; `quant-rollout dashboard --help` for its options.",
        add_help=False,
        prefix_chars="+",
    )
    cmd.add_argument("dashboard_args", nargs=argparse.REMAINDER)
    cmd.set_defaults(run=_run)
