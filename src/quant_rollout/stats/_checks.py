"""Checks and small conversions shared by the statistics modules."""

from __future__ import annotations

import math
from typing import Tuple

from .._validate import number, open_fraction, whole
from ..errors import ConfigError, InvalidTradeError

__all__: list[str] = []


def _wins_and_trades(wins: object, n: object) -> Tuple[int, int]:
    n_ = whole("n", n)
    wins_ = whole("wins", wins)
    if wins_ > n_:
        raise ConfigError(f"wins must be at most n={n_!r}, got {wins!r}")
    return wins_, n_


def _log_threshold(confidence: object) -> float:
    """log(1/alpha): the level a log e-value must reach to reject."""
    return -math.log1p(-open_fraction("confidence", confidence))


def _exp(log_value: float) -> float:
    # e-values can exceed the float range; report those as inf rather than raise.
    return math.exp(log_value) if log_value < 709.0 else math.inf


def _trade(pnl: object, size: object) -> Tuple[float, float]:
    """A trade's (pnl, size) as floats; InvalidTradeError names the bad field."""
    pnl_ = number("pnl", pnl, error=InvalidTradeError)
    size_ = number("size", size, error=InvalidTradeError)
    if size_ < 0.0:
        raise InvalidTradeError(f"size must be >= 0, got {size!r}")
    return pnl_, size_
