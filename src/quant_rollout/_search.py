"""Bisection, written once: on the reals for confidence bounds, on the integers for
"the least n that suffices" (thresholds, trades needed, quantiles of a CDF).

"The least n" is usually :func:`first_doubling` to bracket it, then :func:`least_true`
inside the bracket (a caller may look n up in a table in between).

Every search here assumes a monotone predicate: ``holds`` is True up to some point
and False after it (:func:`bisect_real`), or False up to some point and True after it
(:func:`least_true`, :func:`first_doubling`).
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

__all__: list[str] = []

# Relative width at which real bisection stops: a few ulps, for bounds as small as 1e-300.
RELATIVE_WIDTH = 4e-16


def bisect_real(
    holds: Callable[[float], bool], low: float, high: float, tolerance: float = 0.0
) -> Tuple[float, float]:
    """Shrink ``[low, high]`` around the point where ``holds`` turns False.

    ``holds(low)`` is taken as True and ``holds(high)`` as False without calling them.
    Stops at a relative width of 4e-16 or at the absolute ``tolerance``, whichever is
    wider, or when the midpoint no longer differs from an end; returns the bracket, so
    a caller picks the end on its safe side.
    """
    while high - low > max(RELATIVE_WIDTH * high, tolerance):
        middle = 0.5 * (low + high)
        if middle <= low or middle >= high:
            break
        if holds(middle):
            low = middle
        else:
            high = middle
    return low, high


def least_true(holds: Callable[[int], bool], low: int, high: int) -> int:
    """The least n in ``(low, high]`` with ``holds(n)``.

    ``holds(low)`` is taken as False and ``holds(high)`` as True without calling them
    (``low`` may be one below the range, e.g. -1 for an index search).
    """
    while high - low > 1:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle
    return high


def first_doubling(holds: Callable[[int], bool], limit: int) -> Optional[int]:
    """The first of 1, 2, 4, ... with ``holds``; None once past ``limit`` without one."""
    high = 1
    while not holds(high):
        if high >= limit:
            return None
        high *= 2
    return high
