"""What every command shares: exit codes, the error that ends a command, output and
time formatting, and the clock."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from datetime import datetime
from typing import List, Optional

from ..._durations import US_PER_SECOND, format_duration
from ...clock import Clock, system_clock
from ...trades import parse_instant, to_datetime

__all__: list[str] = []


EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_ERROR = 2

PROG = "quant-rollout"
CONFIG_ENV = "QUANT_ROLLOUT_CONFIG"
NOW_ENV = "QUANT_ROLLOUT_NOW"
DEFAULT_CONFIG = "rollout.toml"


class _CommandError(Exception):
    """End the command with ``code`` and a one-line message on stderr."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def _width() -> int:
    return max(40, min(100, shutil.get_terminal_size((80, 24)).columns))


def _arrow() -> str:
    try:
        "→".encode(getattr(sys.stdout, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "->"
    return "→"


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _field(label: str, value: str, width: int, pad: int = 10) -> List[str]:
    """``label   value`` with the value wrapped under itself."""
    return textwrap.wrap(
        value,
        width=width,
        initial_indent=f"{label:<{pad}}",
        subsequent_indent=" " * pad,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [label]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _iso(instant_us: int) -> str:
    return to_datetime(instant_us).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(seconds: float) -> str:
    return format_duration(seconds, units=2)


def _relative(instant_us: int, now_us: int) -> str:
    """``in 4m12s``, ``3h05m ago`` or ``now``."""
    delta = (instant_us - now_us) / US_PER_SECOND
    if abs(delta) < 1:
        return "now"
    return f"in {_span(delta)}" if delta > 0 else f"{_span(-delta)} ago"


def _when(stamp: Optional[str], now_us: int) -> str:
    if stamp is None:
        return "-"
    us = parse_instant(stamp)
    return f"{_iso(us)} ({_relative(us, now_us)})"


def _fixed_clock(text: str) -> Clock:
    try:
        instant = parse_instant(text)
    except ValueError:
        raise _CommandError(
            f"{NOW_ENV}={text!r} is not an ISO-8601 time (e.g. 2026-05-01T12:00:00Z); "
            "unset it to use the system clock"
        ) from None
    fixed = to_datetime(instant)

    def clock() -> datetime:
        return fixed

    return clock


def _clock() -> Clock:
    text = os.environ.get(NOW_ENV)
    return system_clock if not text else _fixed_clock(text)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_one_line(str(exc))}"
