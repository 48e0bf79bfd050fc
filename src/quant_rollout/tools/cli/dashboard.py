"""``quant-rollout dashboard``: hands its arguments to ``python -m quant_rollout.dashboard``.

The dashboard is the top layer, so the command line does not import it: it runs it
by module name, passing everything after ``dashboard`` through untouched
(``quant-rollout dashboard --help`` shows the dashboard's own help). A ``--config``
given before the command is passed on too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any, List

__all__ = ["register"]

MODULE = "quant_rollout.dashboard"


def _run(args: argparse.Namespace) -> int:
    argv: List[str] = list(args.dashboard_args)
    config = getattr(args, "config", None)
    if config:
        argv = ["--config", str(config), *argv]
    command = [sys.executable, "-m", MODULE, *argv]
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execv(sys.executable, command)  # one process: stopping its PID stops the server
    return subprocess.call(command)


def register(sub: Any) -> None:
    """Add the ``dashboard`` command to the ``quant-rollout`` subcommands ``sub``."""
    # "+" as the only option prefix: every "--flag" after the command is the
    # dashboard's, passed through rather than parsed (and refused) here.
    cmd = sub.add_parser(
        "dashboard",
        help="a live web page of your rollouts, with veto/pause/promote (the dashboard extra)",
        description="Run the dashboard; `quant-rollout dashboard --help` for its options.",
        add_help=False,
        prefix_chars="+",
    )
    cmd.add_argument("dashboard_args", nargs=argparse.REMAINDER)
    cmd.set_defaults(run=_run)
