"""The names quant-rollout 0.1 users imported from ``quant_rollout.core``.

Kept so 0.1 code runs unchanged; new code can import from ``quant_rollout``.
"""

from __future__ import annotations

from .engine import RolloutAction, RolloutDecision, Stage
from .engine.state import RolloutState
from .gates import Gate
from .kill import KillSwitch
from .metrics import Metrics, compute_metrics
from .rollout import Rollout
from .trades import TradeOutcome

__all__ = [
    "Gate",
    "KillSwitch",
    "Metrics",
    "Rollout",
    "RolloutAction",
    "RolloutDecision",
    "RolloutState",
    "Stage",
    "TradeOutcome",
    "compute_metrics",
]
