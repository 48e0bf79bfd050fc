"""Kill switches: when the current stage's live results say "stop", revert to stage 0."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from ._validate import check_fraction, check_int, check_number
from .metrics import compute_metrics
from .trades import TradeOutcome

__all__ = ["KillSwitch"]


@dataclass(frozen=True)
class KillSwitch:
    """Trips on a losing streak in the current stage's evidence.

    Trips when EITHER the last ``wr_lookback`` trades (by trade time) have a win rate
    below ``wr_threshold``, OR the last ``ev_lookback`` trades have EV per dollar
    below ``ev_threshold``. Never trips with fewer trades than the lookback.

    Attributes:
        wr_lookback: trades in the win-rate window, >= 1.
        wr_threshold: win-rate floor, 0–1.
        ev_lookback: trades in the EV window, >= 1.
        ev_threshold: EV-per-dollar floor (0.025 = 2.5 cents a dollar; may be negative).

    Raises:
        ConfigError: a field out of range.
    """

    wr_lookback: int = 30
    wr_threshold: float = 0.60
    ev_lookback: int = 100
    ev_threshold: float = 0.025

    def __post_init__(self) -> None:
        check_int("KillSwitch", "wr_lookback", self.wr_lookback, minimum=1)
        check_fraction("KillSwitch", "wr_threshold", self.wr_threshold)
        check_int("KillSwitch", "ev_lookback", self.ev_lookback, minimum=1)
        check_number("KillSwitch", "ev_threshold", self.ev_threshold)

    @property
    def lookback(self) -> int:
        """How many of the most recent trades the switch ever looks at."""
        return max(self.wr_lookback, self.ev_lookback)

    def evaluate(self, trades: Sequence[TradeOutcome]) -> Tuple[bool, Optional[str]]:
        """Return ``(tripped, reason)``; ``reason`` is None when not tripped.

        ``trades`` need not be sorted: the lookbacks take the latest trades by
        timestamp (ties keep list order). Reasons read like ``win_rate(30)=0.433 < 0.550``.
        """
        ordered = sorted(trades, key=lambda t: t.instant_us)
        return self.judge_recent(ordered[-self.lookback :], len(ordered))

    def judge_recent(
        self, recent: Sequence[TradeOutcome], n_total: int
    ) -> Tuple[bool, Optional[str]]:
        """Judge the latest trades (time order, at least the last :attr:`lookback` of them).

        ``n_total`` is how many trades the evidence holds in all, so a window is only
        judged once it is full.
        """
        if n_total >= self.wr_lookback:
            wr = compute_metrics(recent[-self.wr_lookback :]).win_rate
            if wr < self.wr_threshold:
                return True, f"win_rate({self.wr_lookback})={wr:.3f} < {self.wr_threshold:.3f}"
        if n_total >= self.ev_lookback:
            ev = compute_metrics(recent[-self.ev_lookback :]).ev_per_dollar
            if ev < self.ev_threshold:
                return True, (
                    f"ev_per_dollar({self.ev_lookback})={ev:.4f} < {self.ev_threshold:.4f}"
                )
        return False, None
