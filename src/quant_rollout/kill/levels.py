"""The expected level of a sequential kill criterion, by default what its stage proved.

:class:`~quant_rollout.kill.WinRateCusum` and :class:`~quant_rollout.kill.EvPerDollarCusum`
watch for a fall from an expected level. Left unset, that level is the least the stage
proved at the gate it came through (a :class:`~quant_rollout.gates.GateProof`'s lower
bound); a stage entered without a gate, or through one that proves nothing of the
kind, has none, and the criterion idles (at run time) or is left out (in a plan). A
level not above the unacceptable one leaves it idle too. Both criteria resolve the
level here, each with its own :class:`ProvedLevel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple, Union

from ..gates import GateProof, NotPlanned, PlanContext
from .base import Idle, KillTrackerBase

__all__ = ["ProvedLevel"]

_NO_GATE = (
    "not run at a stage entered without a gate (stage 0, or promoted by hand): such "
    "a stage proves nothing"
)
_PROVED_AT_RUN_TIME = (
    "its expected level is what the stage proves when it passes its gate, known only "
    "then; set expected= in the configuration to plan it"
)


def _same(level: float) -> float:
    return level


@dataclass(frozen=True)
class ProvedLevel:
    """How one criterion reads its expected level from a proof, and words it.

    ``name``: the criterion's name in notes; ``what``: the measure ("win rate");
    ``article``: "a" or "an" before it; ``bound``: the proof's field that holds the
    level (``win_rate_lower``); ``kind``: which gate criterion proves it ("win-rate");
    ``fmt`` and ``plan_fmt``: how levels are printed in run-time reasons and in plan
    notes; ``proof_note``: the plan's note when the level is the proof's (``{level}``
    stands for it); ``snap``: what the run-time level becomes (e.g. rounded down).
    """

    name: str
    what: str
    article: str
    bound: str
    kind: str
    fmt: str
    plan_fmt: str
    proof_note: str
    snap: Callable[[float], float] = _same

    def proved(self, proof: Optional[GateProof]) -> Optional[float]:
        """The level the proof shows, or None."""
        value = None if proof is None else getattr(proof, self.bound)
        return None if value is None else float(value)

    def at_run_time(
        self, expected: Optional[float], proof: Optional[GateProof], unacceptable: float
    ) -> Union[float, str]:
        """The level a tracker runs at, or (a string) why it idles."""
        if expected is not None:
            return float(expected)
        level = self.proved(proof)
        if proof is None:
            return (
                f"no expected {self.what}: this stage was not entered through a gate "
                "(stage 0, or promoted by hand), so it proved nothing; set expected= to "
                "run it here"
            )
        if level is None:
            return (
                f"the stage's gate proved no {self.what} (only a confidence gate with an "
                f"{self.kind} criterion does); set expected= to run it"
            )
        level = self.snap(level)
        if level <= unacceptable:
            return (
                f"the stage's gate proved {self.article} {self.what} of at least "
                f"{level:{self.fmt}}, not above the unacceptable {unacceptable:{self.fmt}}; "
                "set expected= to run it"
            )
        return level

    def tracker(
        self,
        expected: Optional[float],
        proof: Optional[GateProof],
        unacceptable: float,
        start: Callable[[float], KillTrackerBase],
    ) -> KillTrackerBase:
        """``start(level)`` at the run-time level, or an :class:`Idle` tracker saying why not."""
        level = self.at_run_time(expected, proof, unacceptable)
        return Idle(level) if isinstance(level, str) else start(level)

    def planned(
        self, expected: Optional[float], context: PlanContext, unacceptable: float
    ) -> Union[Tuple[float, List[str]], NotPlanned]:
        """(the level a plan follows, notes) or :class:`NotPlanned` with why."""
        notes: List[str] = []
        if expected is None:
            level = self.proved(context.proof)
            if context.proof is None:
                return NotPlanned(_NO_GATE)
            if level is None:
                return NotPlanned(_PROVED_AT_RUN_TIME)
            expected = level
            notes.append(self.proof_note.format(level=level))
        if expected <= unacceptable:
            notes.append(
                f"{self.name} does not run: expected {expected:{self.plan_fmt}} is not "
                f"above the unacceptable {unacceptable:{self.plan_fmt}}"
            )
            return NotPlanned(None, tuple(notes))
        return expected, notes
