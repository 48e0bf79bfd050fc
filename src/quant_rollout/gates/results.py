"""What a gate says: its verdict and reason, each criterion's progress, and its proof."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional

__all__ = ["CriterionProgress", "GateProof", "GateResult", "GateVerdict"]


class GateVerdict(str, Enum):
    """The three answers a gate can give."""

    PASS = "pass"
    """The evidence meets every criterion."""
    NOT_YET = "not_yet"
    """Some criterion is not met yet; more trades or more time may meet it."""
    CANNOT_PASS = "cannot_pass"
    """The evidence shows the stage cannot meet the bar (confidence gates only)."""


@dataclass(frozen=True)
class GateResult:
    """A gate's verdict with the reason: ``"ok"`` or the first criterion that failed.

    A confidence gate that passes gives, instead of ``"ok"``, what each of its tested
    criteria showed (``win_rate lower bound 0.561 >= 0.550 (...)``).
    """

    verdict: GateVerdict
    reason: str

    @property
    def passes(self) -> bool:
        """True when the verdict is PASS."""
        return self.verdict is GateVerdict.PASS


@dataclass(frozen=True)
class CriterionProgress:
    """One gate criterion, observed against required, for ``status`` displays.

    ``observed`` and ``required`` are in the criterion's own unit: a count of trades,
    a 0–1 fraction, dollars per dollar, account currency, or days.

    For the tested criteria of a confidence gate (``win_rate``, ``ev_per_dollar``),
    ``met`` is the test's verdict rather than ``observed >= required``, and
    ``lower_bound``/``upper_bound`` are the anytime-valid confidence bounds on the true
    value (None for point criteria; ``upper_bound`` None for EV per dollar without a
    gain bound). ``cannot_pass`` is True when the upper bound is below the bar.
    """

    name: str
    observed: float
    required: float
    met: bool
    lower_bound: Optional[float] = None
    upper_bound: Optional[float] = None
    cannot_pass: bool = False


@dataclass(frozen=True)
class GateProof:
    """What the evidence that passed a stage's gate showed.

    Recorded in the rollout's state when it advances; the kill criteria take their
    expected levels from it by default (:mod:`quant_rollout.kill`).

    Attributes:
        n: trades in that evidence.
        win_rate: their win rate, 0–1, as observed.
        ev_per_dollar: their total pnl / total size, as observed.
        win_rate_lower: an anytime-valid lower confidence bound on the true win rate at
            that moment, at the gate's confidence (0.95 for a gate without one): what
            the evidence *proved*. The observed rate of a stage that has just passed a
            gate is biased upward (it passed because it looked good), so this, not the
            observed rate, is the level a stage can be expected to hold.
        ev_per_dollar_lower: the same for EV per dollar; None unless the gate is a
            confidence gate with an EV criterion (only its betting test bounds EV).
    """

    n: int
    win_rate: float
    ev_per_dollar: float
    win_rate_lower: Optional[float] = None
    ev_per_dollar_lower: Optional[float] = None
