"""Spending one error budget over the windows of evidence of one stage.

A stage's gate is judged on a window of evidence; a veto, a cleared kill, a reset or
a revert starts a new window and with it a new test. If each window's test kept the
whole level ``alpha = 1 - confidence``, a stage restarted k times would get k chances
to pass by luck. Instead the first window tests at ``alpha_1 = 0.8 * alpha`` and the
k-th (k >= 2) at

    alpha_k = 0.2 * alpha * 6 / (pi^2 * (k - 1)^2),

and since sum_j 1/j^2 = pi^2 / 6 (Euler, the Basel problem), the chance that *any*
window of the stage passes a stage at or below its bar is at most
sum_k alpha_k = alpha, by the union bound (Bonferroni). Most stages have one window,
so it keeps most of the level: a 95% gate judges its first window at 96%, its second
at 99.39%, its third at 99.85%. Each window's test is valid at
its own level whatever made the window end, so the windows may be cut at any time and
for any reason. This is the alpha-spending idea of K. K. G. Lan & D. L. DeMets,
"Discrete sequential boundaries for clinical trials", Biometrika 70 (1983) 659-663,
with the window number in place of the information time.
"""

from __future__ import annotations

import math

from ..errors import ConfigError

__all__ = ["FIRST_WINDOW_SHARE", "spent_alpha", "window_alpha", "window_confidence"]

FIRST_WINDOW_SHARE = 0.8
"""The part of the level the first window of a stage tests at."""
_SHARE = 6.0 / (math.pi * math.pi)


def _window(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"window must be an integer >= 1, got {k!r}")
    return k


def _alpha(alpha: object) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    return float(alpha)


def window_alpha(alpha: float, k: int) -> float:
    """The level of window ``k`` (1 = the first) of a stage whose total level is ``alpha``."""
    base = _alpha(alpha)
    k = _window(k)
    if k == 1:
        return base * FIRST_WINDOW_SHARE
    return base * (1.0 - FIRST_WINDOW_SHARE) * _SHARE / ((k - 1) ** 2)


def window_confidence(confidence: float, k: int) -> float:
    """The confidence window ``k`` is judged at, for a gate of ``confidence``: 1 - alpha_k."""
    return 1.0 - window_alpha(1.0 - confidence, k)


def spent_alpha(alpha: float, windows: int) -> float:
    """The level used by the first ``windows`` windows (0 for none), at most ``alpha``."""
    if isinstance(windows, bool) or not isinstance(windows, int) or windows < 0:
        raise ConfigError(f"windows must be an integer >= 0, got {windows!r}")
    _alpha(alpha)
    return math.fsum(window_alpha(alpha, k) for k in range(1, windows + 1))
