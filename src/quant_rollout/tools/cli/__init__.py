"""The ``quant-rollout`` command: see and steer a live rollout from a shell (or a phone).

``quant-rollout --help`` lists the commands. The rollout comes from ``--config FILE``
(a TOML/JSON file, see :mod:`quant_rollout.tools.config`), or ``--rollout
module.path:factory`` (the bot's own function returning a :class:`~quant_rollout.Rollout`;
the current folder is importable), or the ``QUANT_ROLLOUT_CONFIG`` environment
variable, or ``./rollout.toml`` when it exists, in that order.

Exit codes: 0 done; 1 refused or nothing to do (a veto with no pending advance, a
declined confirmation, a broken history chain); 2 bad usage, configuration or state.
Errors are one line on stderr saying what to do; ``--debug`` adds the traceback.

Verbs take the rollout's lock like a tick does, so they are safe while the bot ticks
in another process, and are recorded in the history with who ran them
(``$USER@hostname`` unless ``--actor``).

Environment (for tests and reproducible documentation, deliberately not in ``--help``):
``QUANT_ROLLOUT_NOW`` — an ISO-8601 time (no offset means UTC). When set, every
command uses it as "now" instead of the system clock: the time a verb is recorded
at, the time left in a veto window, the "3h ago" of ``status`` and ``history``. A
``--rollout`` factory's own clock is replaced by it too.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Optional, Sequence

from ...errors import OperatorRefusedError, RolloutError
from .common import EXIT_ERROR, EXIT_OK, EXIT_REFUSED, PROG, _CommandError, _describe, _one_line
from .parser import _parser

__all__ = ["main"]


_MESSAGE_MAX = 600  # about two lines of a wide terminal, a little more on a narrow one


def _error(message: str, debug: bool, exc: Optional[BaseException] = None) -> None:
    if debug and exc is not None:
        traceback.print_exception(type(exc), exc, exc.__traceback__)
    text = _one_line(message)
    if len(text) > _MESSAGE_MAX and not debug:
        # Never pour a file's contents into the terminal (or a log) through an error.
        more = len(text) - _MESSAGE_MAX
        text = f"{text[:_MESSAGE_MAX]}... ({more:,} more characters; --debug shows all)"
    sys.stderr.write(f"{PROG}: {text}\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse reported
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    debug = bool(getattr(args, "debug", False))
    try:
        code: int = args.run(args)
        return code
    except _CommandError as exc:
        _error(str(exc), debug, exc)
        return exc.code
    except OperatorRefusedError as exc:
        _error(f"refused: {exc}", debug, exc)
        return EXIT_REFUSED
    except RolloutError as exc:  # bad config, trades or state; a clock gone back
        _error(f"error: {exc}", debug, exc)
        return EXIT_ERROR
    except BrokenPipeError:  # `quant-rollout history | head`: the reader left, fine
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        _error(f"error: {exc}", debug, exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{PROG}: interrupted\n")
        return 130
    except Exception as exc:
        _error(
            f"internal error ({_describe(exc)}); rerun with --debug for the traceback and "
            "please report it",
            debug,
            exc,
        )
        return EXIT_ERROR
