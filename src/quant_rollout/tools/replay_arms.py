"""Replay an experiment's trade history: when would a winner have been declared?

A trade history whose trades name their arm (``metadata["arm"]``, e.g. read with
``read_trades(path, arm="variant")``) is fed to an
:class:`~quant_rollout.arms.evidence.ExperimentEvidence` in the order of the trades'
opening times, the comparisons checked after every trade, as a rollout ticking once a
trade would. The replay reports the trade at which a winner was first declared, each
candidate's first "worse" verdict, and the final arms side by side.

A trade history holds no opportunity counts, so the PnL-per-opportunity comparison and
the sample-ratio alarm cannot be replayed from it: an experiment deciding on
``pnl_per_opportunity`` is refused, and the others are replayed without them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, Iterable, List, Optional, Sequence

from ..arms import Arm, Experiment, Metric
from ..arms.evidence import ARM_KEY, ExperimentEvidence, ExperimentReport, format_experiment
from ..errors import ConfigError
from ..trades import TradeOutcome, as_trade, format_instant

__all__ = [
    "ExperimentReplay",
    "arms_in",
    "experiment_from_names",
    "format_experiment_replay",
    "replay_experiment",
]


@dataclass(frozen=True)
class ExperimentReplay:
    """What :func:`replay_experiment` saw.

    Attributes:
        trades: trades replayed.
        winner: the first candidate declared the winner, or None.
        winner_at: the 1-based number of the trade after which it was, or None.
        winner_time: that trade's opening time (ISO-8601 UTC), or None.
        winner_report: the arms side by side at that moment, or None.
        worse_at: each candidate first declared worse, and after how many trades.
        final: the arms side by side after the last trade.
    """

    trades: int
    winner: Optional[str]
    winner_at: Optional[int]
    winner_time: Optional[str]
    winner_report: Optional[ExperimentReport]
    worse_at: Dict[str, int]
    final: ExperimentReport


def arms_in(trades: Iterable[TradeOutcome]) -> List[str]:
    """The arm names the trades carry, in order of first appearance."""
    seen: Dict[str, None] = {}
    for trade in trades:
        name = trade.metadata.get(ARM_KEY)
        if name is not None:
            seen.setdefault(str(name), None)
    return list(seen)


def replay_experiment(experiment: Experiment, trades: Sequence[object]) -> ExperimentReplay:
    """Feed ``trades`` (sorted by opening time here) to the experiment's evidence.

    Args:
        experiment: the arms (their names must match the trades'), control, margin,
            deciding metric and bounds; weights only matter for routing, not here.
        trades: ``TradeOutcome``s or anything :func:`~quant_rollout.trades.as_trade`
            accepts, each with ``metadata["arm"]``.

    Raises:
        ConfigError: the experiment decides on ``pnl_per_opportunity``.
        InvalidTradeError: a trade without a known arm, or outside the experiment's
            bounds; the message names ``trades[i]`` in the sorted order.
    """
    if not isinstance(experiment, Experiment):
        raise ConfigError(f"experiment must be an Experiment, got {experiment!r}")
    if experiment.metric is Metric.PNL_PER_OPPORTUNITY:
        raise ConfigError(
            "a trade history holds no opportunity counts, so an experiment deciding on"
            " pnl_per_opportunity cannot be replayed from it; replay with win_rate or"
            " ev_per_dollar"
        )
    if experiment.loss_per_opportunity is not None or experiment.gain_per_opportunity is not None:
        experiment = replace(experiment, loss_per_opportunity=None, gain_per_opportunity=None)
    ordered = sorted((as_trade(t, i) for i, t in enumerate(trades)), key=lambda t: t.instant_us)
    evidence = ExperimentEvidence(experiment)
    winner: Optional[str] = None
    winner_at: Optional[int] = None
    winner_time: Optional[str] = None
    winner_report: Optional[ExperimentReport] = None
    worse_at: Dict[str, int] = {}
    for n, trade in enumerate(ordered, 1):
        evidence.add_trade(trade, n - 1)
        report = evidence.report()
        for name in report.worse:
            worse_at.setdefault(name, n)
        if winner is None and report.winner is not None:
            winner, winner_at, winner_report = report.winner, n, report
            winner_time = format_instant(trade.instant_us)
    return ExperimentReplay(
        trades=len(ordered),
        winner=winner,
        winner_at=winner_at,
        winner_time=winner_time,
        winner_report=winner_report,
        worse_at=worse_at,
        final=evidence.report(),
    )


def experiment_from_names(
    names: Sequence[str],
    control: str,
    *,
    margin: float = 0.0,
    metric: str = "win_rate",
    confidence: float = 0.95,
    loss_per_dollar: float = 1.0,
    gain_per_dollar: Optional[float] = None,
) -> Experiment:
    """An experiment over the arms a history names (each arm's params: its name).

    Raises:
        ConfigError: control not among ``names``, fewer than two arms, or a setting out
            of range (as :class:`~quant_rollout.arms.Experiment`).
    """
    if control not in names:
        raise ConfigError(f"control arm {control!r} has no trades; the arms are {list(names)!r}")
    ordered = [control, *(n for n in names if n != control)]
    return Experiment(
        tuple(Arm(name, {"arm": name}) for name in ordered),
        control,
        margin=margin,
        metric=_metric(metric),
        confidence=confidence,
        loss_per_dollar=loss_per_dollar,
        gain_per_dollar=gain_per_dollar,
    )


def _metric(value: str) -> Metric:
    try:
        return Metric(value)
    except ValueError:
        raise ConfigError(
            f"metric must be one of {[m.value for m in Metric]!r}, got {value!r}"
        ) from None


def format_experiment_replay(result: ExperimentReplay) -> str:
    """The replay as text: when a winner was declared, then the final arms."""
    lines = [f"replayed {result.trades} trades"]
    if result.winner is not None and result.winner_report is not None:
        lines.append(
            f"winner {result.winner!r} declared after trade {result.winner_at}"
            f" (opened {result.winner_time}):"
        )
        lines.append(format_experiment(result.winner_report))
    else:
        lines.append("no winner declared")
    for name, n in result.worse_at.items():
        lines.append(f"{name!r} declared worse than control after trade {n}")
    lines.append(f"after all {result.trades} trades:")
    lines.append(format_experiment(result.final))
    return "\n".join(lines)
