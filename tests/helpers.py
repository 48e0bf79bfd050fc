"""Helpers shared by the test modules: the instants the tests start from, and trades.

The tests are not a package; ``conftest.py`` puts this folder on ``sys.path``, so a
test module writes ``from helpers import T0, trade``.
"""

from __future__ import annotations

from typing import Any

from quant_rollout import TradeOutcome

__all__ = [
    "T0",
    "T0_NOON",
    "T0_NOON_ISO",
    "T0_NOON_US",
    "T0_US",
    "THREE_STAGE_CONFIG",
    "minute_trade",
    "trade",
]

T0 = 1_777_593_600
"""2026-05-01T00:00:00Z in Unix seconds: where most tests start."""
T0_US = T0 * 1_000_000
"""The same instant in microseconds, the library's own unit."""
T0_NOON = T0 + 12 * 3_600
"""2026-05-01T12:00:00Z in Unix seconds, for tests that start at noon."""
T0_NOON_US = T0_NOON * 1_000_000
T0_NOON_ISO = "2026-05-01T12:00:00Z"


def trade(at: Any, pnl: float, size: float = 1.0, **metadata: Any) -> TradeOutcome:
    """A trade opened at ``at`` (ISO text, Unix seconds or a datetime)."""
    return TradeOutcome(pnl=pnl, size=size, timestamp=at, metadata=metadata)


def minute_trade(i: int, pnl: float, size: float = 1.0, *, start: int = T0) -> TradeOutcome:
    """A trade opened ``i`` minutes after ``start`` (Unix seconds, default :data:`T0`)."""
    return TradeOutcome(pnl, size, start + 60 * i)


THREE_STAGE_CONFIG = """\
state_path = "state/rollout_state.json"
veto_window = "30m"

[kill_switch]
wr_lookback = 5
wr_threshold = 0.4
ev_lookback = 10
ev_threshold = -0.5

[[stages]]
num = 0
name = "baseline"
params = { size = 1 }

[[stages]]
num = 1
name = "canary"
params = { size = 2 }
gate = { min_n = 5, min_win_rate = 0.6 }

[[stages]]
num = 2
name = "full"
params = { size = 5 }
gate = { min_n = 5, min_win_rate = 0.6 }
"""
"""A three-stage rollout file (baseline, canary, full) with its state in ``state/``:
what the command-line and delivery tests operate on."""
