"""quant-rollout: staged rollouts for live trading bots.

Gates decide when a parameter change may advance a stage, a veto window gives a
human the last word, a kill switch reverts to the baseline when the new stage
loses, state survives crashes, and every transition is recorded in a hash-chained
history. See the README for usage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .arms import Arm, Experiment, Metric, Router
from .clock import ManualClock
from .engine import RolloutAction, RolloutDecision, Stage
from .engine.state import RolloutState
from .errors import (
    ClockError,
    ConfigError,
    CorruptStateError,
    HistoryError,
    InvalidTradeError,
    LockTimeoutError,
    OperatorRefusedError,
    RolloutError,
    RouteKeyError,
    StateError,
    StateWriteError,
    TradeFileError,
    UnknownSchemaError,
)
from .gates import Gate, GateProof, GateVerdict
from .kill import (
    EvPerDollarCusum,
    KillSwitch,
    MaxConsecutiveLosses,
    MaxDailyLoss,
    MaxDrawdown,
    Protect,
    WinRateCusum,
)
from .metrics import Metrics, compute_metrics
from .rollout import Rollout, RolloutStatus
from .trades import TradeOutcome

__all__ = [
    "Arm",
    "ClockError",
    "ConfigError",
    "CorruptStateError",
    "EvPerDollarCusum",
    "Experiment",
    "Gate",
    "GateProof",
    "GateVerdict",
    "HistoryError",
    "InvalidTradeError",
    "KillSwitch",
    "LockTimeoutError",
    "ManualClock",
    "MaxConsecutiveLosses",
    "MaxDailyLoss",
    "MaxDrawdown",
    "Metric",
    "Metrics",
    "OperatorRefusedError",
    "Payoff",
    "PlanReport",
    "Protect",
    "Rollout",
    "RolloutAction",
    "RolloutDecision",
    "RolloutError",
    "RolloutState",
    "RolloutStatus",
    "RouteKeyError",
    "Router",
    "Stage",
    "StateError",
    "StateWriteError",
    "TradeFileError",
    "TradeOutcome",
    "UnknownSchemaError",
    "WinRateCusum",
    "__version__",
    "compute_metrics",
    "format_plan",
    "plan",
]

if TYPE_CHECKING:  # mypy and editors see the planner's names as if imported above
    from .planning import Payoff, PlanReport, format_plan
    from .tools.plan_file import plan


def __getattr__(name: str) -> Any:
    """The planner's names, imported on first access (PEP 562).

    Most programs tick and never plan, so ``import quant_rollout`` leaves the planner
    out (benchmarks/README.md has the figures).
    """
    if name not in ("Payoff", "PlanReport", "format_plan", "plan"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name == "plan":  # the planner, and a configuration file's path read first
        from .tools import plan_file as home
    else:
        from . import planning as home  # type: ignore[no-redef]

    value = getattr(home, name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
