"""How gate reasons print figures: bounds that never print equal to their bar, estimates."""

from __future__ import annotations

from typing import Optional

__all__ = ["about", "at_least", "below", "distinct", "more_trades_text", "percent"]


def percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def more_trades_text(more: Optional[int]) -> str:
    if more is None:
        return "; at the observed rate it would never pass"
    return f"; about {about(more)} more trades at the observed rate"


def about(count: int) -> str:
    """A count rounded to two significant figures past 100 (it is an estimate)."""
    if count < 100:
        return str(count)
    digits = len(str(count)) - 2
    rounded = round(count, -digits)
    return f"{rounded:,}"


def below(value: float, bar: float, digits: int) -> str:
    """``value < bar`` with enough digits that the two sides do not print equal."""
    for d in range(digits, digits + 6):
        left, right = f"{value:.{d}f}", f"{bar:.{d}f}"
        if left != right:
            return f"{left} < {right}"
    return f"{value!r} < {bar!r}"


def at_least(value: float, bar: float, digits: int) -> str:
    return f"{value:.{digits}f} >= {bar:.{digits}f}"


def distinct(observed: float, required: float) -> str:
    """``observed < required`` with 0.1's one decimal, or as many more as it takes for the
    two sides not to print equal (a day gate one second short reads ``13.99999 < 14``)."""
    for digits in range(1, 7):
        left, right = f"{observed:.{digits}f}", f"{required:.{digits}f}"
        if left != right:
            return f"{left} < {right}"
    return f"{observed!r} < {required!r}"
