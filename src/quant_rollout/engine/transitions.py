"""Every legal move of a rollout, in one table, and what landing in a phase means.

Everything that decides *whether* a move is allowed and *which phase* it lands in
lives in this module (h11's ``_state.py`` is the model):

* :class:`Phase` — where a rollout stands, derived from its state (:func:`phase_of`);
* :class:`Event` and :class:`Verb` — the words of the history log and of the operator;
* :data:`TRANSITIONS` — phase -> event -> phase. A move missing from it is a failed
  lookup that :func:`landing` turns into one :class:`OperatorRefusedError` naming the
  phase and the event; the caller has changed nothing yet.
* :func:`settle` — the flags of the state that encode the phase a move lands in, so
  the phase after a move is the table's, never rebuilt by hand.

The README's state diagram is drawn from :data:`TRANSITIONS` by
``scripts/gen_diagram.py``; a test fails when the two disagree.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Mapping, Tuple

from ..errors import OperatorRefusedError
from .state import RolloutState

__all__ = [
    "BOOKKEEPING_EVENTS",
    "OPERATOR_VERBS",
    "TICK_EVENTS",
    "TRANSITIONS",
    "Event",
    "Phase",
    "Verb",
    "landing",
    "phase_of",
    "refusal",
    "settle",
]


class _Word(str, Enum):
    """A word that is its own text: equal to, hashed as, printed, shown and serialized
    as its value, so ``"kill"`` and ``Event.KILL`` are interchangeable (these were bare
    strings before 0.3, and code that compares, prints or stores them keeps working)."""

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return str.__repr__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(str(self), spec)


class Phase(str, Enum):
    """The phases of a rollout, derived from its state (see :func:`phase_of`)."""

    RUNNING = "running"
    VETO_PENDING = "veto_pending"
    PAUSED = "paused"
    KILLED = "killed"


class Event(_Word):
    """What a history line records: a tick's event or an operator verb."""

    START = "start"
    """The first tick or verb of a rollout (not a move: it changes no phase)."""
    KILL = "kill"
    VETO_OPEN = "veto_open"
    ADVANCE = "advance"
    VETO_EXPIRED = "veto_expired"
    ADVANCE_DROPPED = "advance_dropped"
    VETO = "veto"
    CLEAR_KILL = "clear_kill"
    PROMOTE = "promote"
    PAUSE = "pause"
    RESUME = "resume"
    RESET = "reset"
    ACCEPT_CLOCK = "accept_clock"
    """An operator accepted the clock as it is after a forward glitch: every instant
    the state recorded after "now" was pulled back to now."""
    ANNOUNCE = "announce"
    """A tick told the bot about a stage change it had not been told of (an operator
    move, or a decision recorded by a tick whose state write failed). Not a move."""
    RESTORE = "restore"
    """The state file was rebuilt from the history's last line (``restore``). Not a move."""
    DROP_ARM = "drop_arm"
    """An experiment's candidate arm was dropped (its traffic returns to control): by
    a tick (worse than control with confidence, or its own trades tripped the kill
    switch) or by an operator. Cancels a pending advance (the next tick re-judges)."""
    CHANGE_WEIGHTS = "change_weights"
    """An operator changed an experiment's weights."""
    PROMOTE_ARM = "promote_arm"
    """An operator promoted a named arm: the next stage runs its params, at once."""
    SRM_ALARM = "srm_alarm"
    """A tick found the experiment's routed counts do not match its weights: the
    experiment stops judging (fail closed) and a pending advance is cancelled."""


class Verb(_Word):
    """What an operator can do; each verb is recorded as the :class:`Event` of its name."""

    VETO = "veto"
    CLEAR_KILL = "clear_kill"
    PROMOTE = "promote"
    PAUSE = "pause"
    RESUME = "resume"
    RESET = "reset"
    ACCEPT_CLOCK = "accept_clock"
    PROMOTE_ARM = "promote_arm"
    DROP_ARM = "drop_arm"
    CHANGE_WEIGHTS = "change_weights"

    @property
    def event(self) -> Event:
        """The history event this verb records."""
        return Event(self.value)


OPERATOR_VERBS: Tuple[Verb, ...] = tuple(Verb)
"""Every operator verb, in the order the CLI and the docs list them."""

TICK_EVENTS: Tuple[Event, ...] = (
    Event.KILL,
    Event.VETO_OPEN,
    Event.ADVANCE,
    Event.VETO_EXPIRED,
    Event.ADVANCE_DROPPED,
    Event.DROP_ARM,
    Event.SRM_ALARM,
)
"""The events a tick can fire (``start`` and ``announce`` aside)."""

BOOKKEEPING_EVENTS: Tuple[Event, ...] = (Event.START, Event.ANNOUNCE, Event.RESTORE)
"""Events that are recorded but are not moves of the table: they change no phase."""

# accept_clock cancels a pending advance wherever it was opened: a window opened on a
# clock that jumped ahead has a deadline nobody can trust, and the gate re-opens it on
# the next tick if it still holds (fail closed).
# While killed, pause/resume only set the pause flag under the latch; clearing the kill
# then lands in RUNNING, which settle() turns into PAUSED when that flag is set.
TRANSITIONS: Mapping[Phase, Mapping[Event, Phase]] = {
    Phase.RUNNING: {
        Event.KILL: Phase.KILLED,
        Event.VETO_OPEN: Phase.VETO_PENDING,
        Event.ADVANCE: Phase.RUNNING,
        Event.PROMOTE: Phase.RUNNING,
        Event.PAUSE: Phase.PAUSED,
        Event.RESET: Phase.RUNNING,
        Event.ACCEPT_CLOCK: Phase.RUNNING,
        Event.PROMOTE_ARM: Phase.RUNNING,
        Event.DROP_ARM: Phase.RUNNING,
        Event.CHANGE_WEIGHTS: Phase.RUNNING,
        Event.SRM_ALARM: Phase.RUNNING,
    },
    Phase.VETO_PENDING: {
        Event.KILL: Phase.KILLED,
        Event.VETO_EXPIRED: Phase.RUNNING,
        Event.ADVANCE_DROPPED: Phase.RUNNING,
        Event.VETO: Phase.RUNNING,
        Event.PROMOTE: Phase.RUNNING,
        Event.PAUSE: Phase.PAUSED,
        Event.RESET: Phase.RUNNING,
        Event.ACCEPT_CLOCK: Phase.RUNNING,
        Event.PROMOTE_ARM: Phase.RUNNING,
        Event.DROP_ARM: Phase.RUNNING,
        Event.CHANGE_WEIGHTS: Phase.VETO_PENDING,
        Event.SRM_ALARM: Phase.RUNNING,
    },
    Phase.PAUSED: {
        Event.KILL: Phase.KILLED,
        Event.RESUME: Phase.RUNNING,
        Event.PROMOTE: Phase.PAUSED,
        Event.RESET: Phase.RUNNING,
        Event.ACCEPT_CLOCK: Phase.PAUSED,
        Event.PROMOTE_ARM: Phase.PAUSED,
        Event.DROP_ARM: Phase.PAUSED,
        Event.CHANGE_WEIGHTS: Phase.PAUSED,
        Event.SRM_ALARM: Phase.PAUSED,
    },
    Phase.KILLED: {
        Event.CLEAR_KILL: Phase.RUNNING,
        Event.PAUSE: Phase.KILLED,
        Event.RESUME: Phase.KILLED,
        Event.RESET: Phase.RUNNING,
        Event.ACCEPT_CLOCK: Phase.KILLED,
    },
}
"""Every legal move: phase -> event -> the phase the move lands in."""


def phase_of(state: RolloutState) -> Phase:
    """The phase a state is in: killed, else paused, else veto pending, else running."""
    if state.kill_switch_tripped:
        return Phase.KILLED
    if state.paused:
        return Phase.PAUSED
    if state.advance_pending_to is not None:
        return Phase.VETO_PENDING
    return Phase.RUNNING


def refusal(state: RolloutState, event: Event) -> str:
    """Why ``event`` cannot happen in ``state``: a sentence for the operator that
    names the phase and the event."""
    phase = phase_of(state)
    move = f"(no {event.value!r} move from phase {phase.value})"
    if event is Event.VETO and state.advance_pending_to is None:
        return "there is no pending advance to veto"
    if event is Event.CLEAR_KILL and not state.kill_switch_tripped:
        return "the kill switch is not tripped"
    if event in (Event.PROMOTE, Event.PROMOTE_ARM) and phase is Phase.KILLED:
        return (
            f"the kill switch is latched ({state.kill_reason}); clear it before promoting " + move
        )
    if event is Event.PAUSE and state.paused:
        return f"the rollout is already paused {move}"
    if event is Event.RESUME and not state.paused:
        return f"the rollout is not paused {move}"
    return f"{event.value!r} is not allowed while the rollout is {phase.value} {move}"


def landing(state: RolloutState, event: Event) -> Phase:
    """The phase ``event`` lands in from ``state``'s phase.

    Raises:
        OperatorRefusedError: the move is not in :data:`TRANSITIONS`; the message
            names the phase and the event. Nothing has been changed.
    """
    try:
        return TRANSITIONS[phase_of(state)][event]
    except KeyError:
        raise OperatorRefusedError(refusal(state, event)) from None


def _no_pending(state: RolloutState) -> RolloutState:
    return dataclasses.replace(
        state,
        advance_pending_to=None,
        advance_veto_deadline_unix=None,
        advance_pending_since=None,
        experiment_pending=None,
    )


def settle(state: RolloutState, phase: Phase) -> RolloutState:
    """``state`` with the flags that encode ``phase`` set; every other field is kept.

    * KILLED: the latch is on and nothing is pending; a pause set before or under
      the latch is kept, to apply once the kill is cleared.
    * PAUSED: paused, not latched, nothing pending.
    * VETO_PENDING: not latched, not paused; the move must have set what is pending.
    * RUNNING: not latched, nothing pending. The pause flag is the move's business
      (``resume`` clears it); one kept under a cleared latch leaves the rollout
      paused, so :func:`phase_of` then reads PAUSED.

    Raises:
        AssertionError: a VETO_PENDING landing with nothing pending (a bug in a move).
    """
    if phase is Phase.KILLED:
        return _no_pending(dataclasses.replace(state, kill_switch_tripped=True))
    if phase is Phase.PAUSED:
        return _no_pending(dataclasses.replace(state, kill_switch_tripped=False, paused=True))
    if phase is Phase.VETO_PENDING:
        if state.advance_pending_to is None or state.advance_veto_deadline_unix is None:
            raise AssertionError("a move landing in veto_pending must set the pending advance")
        return dataclasses.replace(state, kill_switch_tripped=False, paused=False)
    return _no_pending(dataclasses.replace(state, kill_switch_tripped=False))
