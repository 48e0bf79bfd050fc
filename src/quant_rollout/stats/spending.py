"""Spending one error budget over the windows of evidence of one stage.

A stage's gate is judged on a window of evidence; a veto, a cleared kill or a reset
starts a new window and with it a new test. If each window's test kept the whole
level ``alpha = 1 - confidence``, a stage restarted k times would get k chances to
pass by luck. Instead the k-th window (k = 1, 2, ...) tests at

    alpha_k = 6 * alpha / (pi^2 * k^2),

and since sum_k 1/k^2 = pi^2 / 6 (Euler, the Basel problem), the chance that *any*
window of the stage passes a stage at or below its bar is at most
sum_k alpha_k = alpha, by the union bound (Bonferroni). Each window's test is valid at
its own level whatever made the window end, so the windows may be cut at any time and
for any reason. This is the alpha-spending idea of K. K. G. Lan & D. L. DeMets,
"Discrete sequential boundaries for clinical trials", Biometrika 70 (1983) 659-663,
with the window number in place of the information time.
"""

from __future__ import annotations

import math

from ..errors import ConfigError

__all__ = ["spent_alpha", "window_alpha", "window_confidence"]

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
    return _alpha(alpha) * _SHARE / (_window(k) ** 2)


def window_confidence(confidence: float, k: int) -> float:
    """The confidence window ``k`` is judged at, for a gate of ``confidence``: 1 - alpha_k."""
    return 1.0 - window_alpha(1.0 - confidence, k)


def spent_alpha(alpha: float, windows: int) -> float:
    """The level used by the first ``windows`` windows (0 for none), at most ``alpha``."""
    if isinstance(windows, bool) or not isinstance(windows, int) or windows < 0:
        raise ConfigError(f"windows must be an integer >= 0, got {windows!r}")
    base = _alpha(alpha)
    return math.fsum(base * _SHARE / (k * k) for k in range(1, windows + 1))
