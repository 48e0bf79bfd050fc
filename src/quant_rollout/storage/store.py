"""Where rollout state lives: the JSON-file store (lock, atomic write, history) and a
memory store for replays and simulations. The atomic write and the lock themselves
are the leaf :mod:`quant_rollout._files` (re-exported here under their old names).

Both implement :class:`StateStore`. A transaction holds the store's exclusive lock
from the read to the write, so a veto sent from another process while the bot ticks
is never lost. A commit appends the history lines first (flushed and fsynced) and
then replaces the state file atomically; if a crash falls between the two, the next
load finds history ahead of the state and rolls the state forward from it.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Protocol, Sequence, Tuple

from .._files import (
    FileLock,
    fsync_dir,
    read_state_bytes,
    resolve_link,
    write_atomic,
    write_failure,
)
from ..engine.model import Transition
from ..engine.state import RolloutState, state_from_dict, state_from_json
from ..engine.transitions import TICK_EVENTS, Event
from ..errors import (
    CorruptStateError,
    HistoryError,
    OperatorRefusedError,
    StateError,
    UnknownSchemaError,
)
from ..trades import format_instant, parse_instant
from .history import (
    GENESIS_HASH,
    HistoryRecord,
    HistoryVerification,
    encode_transition,
    history_path_for,
    parse_line,
    read_history,
    verify_history,
    verify_lines,
)

__all__ = [
    "RESTORE_HINT",
    "FileLock",
    "JsonFileStore",
    "MemoryStore",
    "StateStore",
    "StoreTransaction",
    "read_state_file",
    "write_atomic",
]


RESTORE_HINT = (
    "`quant-rollout restore` (Rollout.restore()) rebuilds the state file from the "
    "history's last line"
)
"""The way out of an unusable state file, as every message about one says it."""

_RECORDED = (
    "The history holds the event: the next tick or verb that can write rolls the state "
    "forward, and the next tick tells the bot."
)
_NOT_RECORDED = "Nothing was recorded."


def read_state_file(path: Path) -> Optional[RolloutState]:
    """Read and check the state file; None when it does not exist.

    Raises:
        CorruptStateError: unreadable, not JSON (e.g. truncated), or bad fields; the
            message names the file. UnknownSchemaError for a newer schema version.
    """
    raw = read_state_bytes(path)
    return None if raw is None else state_from_json(raw, source=str(path))


# ----------------------------------------------------------------------------- stores


class StoreTransaction(Protocol):
    """An open read-modify-write: ``state`` as loaded, ``commit`` to record changes,
    ``save`` to write the state alone (bookkeeping that is not an event)."""

    @property
    def state(self) -> RolloutState: ...

    def commit(self, transitions: Sequence[Transition]) -> RolloutState: ...

    def save(self, state: RolloutState) -> RolloutState: ...


class StateStore(Protocol):
    """Where a rollout's state and history live.

    ``transaction()`` holds the store's lock for a whole read-modify-write; ``read()``
    is a consistent read-only snapshot; ``history()`` and ``verify()`` read the log.
    """

    @property
    def source(self) -> str: ...

    def transaction(self) -> contextlib.AbstractContextManager[StoreTransaction]: ...

    def read(self) -> Tuple[RolloutState, Optional[HistoryRecord]]: ...

    def history(self) -> List[HistoryRecord]: ...

    def verify(self) -> HistoryVerification: ...


def _linked(record: HistoryRecord, bot_stage: Optional[int]) -> RolloutState:
    """The state a history record holds, linked to it, with the bot's stage given
    (the record's own is what its tick would have told the bot, had it returned)."""
    state = replace(
        state_from_dict(record.state, source=f"history line {record.seq}"),
        history_seq=record.seq,
        history_hash=record.line_hash,
    )
    if bot_stage is None or bot_stage == state.delivered_stage:
        return state  # the same stage, however the record spells it
    return replace(state, bot_stage=bot_stage)


def _encode_all(
    state: RolloutState, transitions: Sequence[Transition]
) -> Tuple[List[str], RolloutState]:
    seq, prev = state.history_seq, state.history_hash or GENESIS_HASH
    lines = []
    for t in transitions:
        seq += 1
        line, prev = encode_transition(t, seq, prev)
        lines.append(line)
    final = replace(transitions[-1].state, history_seq=seq, history_hash=prev)
    return lines, final


@dataclass
class _Transaction:
    """An open read-modify-write; ``persist`` stores the encoded lines and final state.

    ``recovered`` is True when the state was rolled forward from the history (the
    tick or verb that recorded its last event died or failed before writing the
    state); ``last_event`` is the history's last record.
    """

    loaded: RolloutState
    persist: Callable[[List[str], RolloutState], None]
    recovered: bool = False
    last: Callable[[], Optional[HistoryRecord]] = lambda: None

    @property
    def last_event(self) -> Optional[HistoryRecord]:
        """The history's last record (read when asked: most ticks never ask)."""
        return self.last()

    @property
    def state(self) -> RolloutState:
        return self.loaded

    def commit(self, transitions: Sequence[Transition]) -> RolloutState:
        if not transitions:
            return self.loaded
        lines, final = _encode_all(self.loaded, transitions)
        self.persist(lines, final)
        self.loaded = final
        return final

    def save(self, state: RolloutState) -> RolloutState:
        """Write ``state`` with no history line: bookkeeping that is not an event (an
        experiment's opportunity counts). It must follow the same history event as
        the loaded state; the history's line for that event keeps the older counts.
        """
        final = replace(
            state, history_seq=self.loaded.history_seq, history_hash=self.loaded.history_hash
        )
        self.persist([], final)
        self.loaded = final
        return final


class JsonFileStore:
    """The state in one JSON file, the history beside it, a ``.lock`` sidecar.

    ``rollout_state.json`` -> ``rollout_state.history.jsonl`` and
    ``rollout_state.json.lock``. Deleting the state file starts the rollout afresh
    (the history keeps its chain and records the new start).
    """

    def __init__(self, path: Path, lock_timeout: float = 30.0) -> None:
        # A symlinked state file is written through, and its history and lock live
        # beside the file it points to, so every path to one rollout shares them.
        self.path = resolve_link(Path(path))
        self.history_path = history_path_for(self.path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout = lock_timeout

    @property
    def source(self) -> str:
        return str(self.path)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        with FileLock(self.lock_path, self.lock_timeout):
            self._remove_stale_temp_files()
            state, tail, stale = self._load(repair=True)
            if stale:
                self._write_state(state, _RECORDED)
            yield _Transaction(state, self._persist, recovered=stale, last=lambda: tail)

    def read(self) -> Tuple[RolloutState, Optional[HistoryRecord]]:
        """The state (rolled forward in memory if behind) and the last record.

        Needs no write access: the lock is shared, and skipped when this user cannot
        open the lock file; nothing is repaired or written.
        """
        with FileLock(self.lock_path, self.lock_timeout, shared=True):
            state, tail, _stale = self._load(repair=False)
            return state, tail

    def history(self) -> List[HistoryRecord]:
        return read_history(self.history_path)

    def verify(self) -> HistoryVerification:
        """Check the chain, then everything a tick checks when it loads the state.

        The chain alone cannot catch an edit or deletion of the last line, or an
        emptied log (nothing follows them); the state file records the last line's
        sequence number and hash, so the two together can. A state file a tick
        would refuse (corrupt, ahead of the history, not following it) is reported
        with the same message the tick gives, and ``bad_line`` None. Reads only.
        """
        with FileLock(self.lock_path, self.lock_timeout, shared=True):
            result = verify_history(self.history_path)
            if not result.ok:
                return result
            try:
                state = read_state_file(self.path)
            except CorruptStateError as exc:
                return HistoryVerification(False, result.events, None, str(exc), result.last_hash)
            if (
                state is not None
                and result.events > 0
                and state.history_seq == result.events
                and state.history_hash != result.last_hash
            ):
                return HistoryVerification(
                    False,
                    result.events - 1,
                    result.events,
                    f"{self.history_path}, line {result.events}: its hash is not the one "
                    f"{self.path} records for it; the line was edited",
                    result.last_hash,
                )
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    self._load(repair=False)
            except StateError as exc:
                return HistoryVerification(False, result.events, None, str(exc), result.last_hash)
        return result

    def restore(
        self, now: Callable[[], int], *, note: str = "", actor: Optional[str] = None
    ) -> Tuple[RolloutState, Transition]:
        """Rebuild the state file from the verified history's last line; record it.

        For a state file that is corrupt, unreadable, missing or behind its history.
        The bot's next tick is told the stage again when the last event was a tick's
        stage move (its tick may never have returned it). ``now`` is read under the
        lock. Returns the restored state and the recorded ``restore`` transition.

        Raises:
            OperatorRefusedError: the state file loads and matches the history
                (nothing to restore), or is ahead of the history or does not follow
                it (restoring would forget events; the message says what to do).
            HistoryError: the history is empty or its chain is broken.
        """
        with FileLock(self.lock_path, self.lock_timeout):
            self._remove_stale_temp_files()
            self._tail(repair=True)  # cut a torn last line: it never took effect
            result = verify_history(self.history_path)
            if not result.ok:
                raise HistoryError(f"cannot restore: {result.problem}")
            records = read_history(self.history_path)
            if not records:
                raise HistoryError(
                    f"cannot restore: {self.history_path} holds no events. Delete "
                    f"{self.path} to start the rollout afresh."
                )
            tail = records[-1]
            why, bot_stage = self._why_restore(tail)
            restored = _linked(tail, bot_stage)
            at_us = now()
            at = format_instant(at_us)
            if restored.updated_at is not None and parse_instant(restored.updated_at) > at_us:
                at = restored.updated_at  # never record a time before the last event
            restored = replace(restored, updated_at=at)
            transition = Transition(
                Event.RESTORE,
                at,
                restored.current_stage,
                restored.current_stage,
                f"state rebuilt from history line {tail.seq} ({tail.event} at {tail.at}): {why}",
                restored,
                note=note,
                actor=actor,
            )
            lines, final = _encode_all(restored, [transition])
            self._persist(lines, final)
            return final, replace(transition, state=final)

    def _why_restore(self, tail: HistoryRecord) -> Tuple[str, Optional[int]]:
        """Why the state file needs restoring, and the bot's stage to keep.

        Raises OperatorRefusedError when it does not (or restoring would lose events).
        """
        # The last event's tick may have died before returning its decision.
        moved = tail.event in (*TICK_EVENTS, Event.ANNOUNCE) and tail.from_stage != tail.to_stage
        unsure = tail.from_stage if moved else None
        try:
            state = read_state_file(self.path)
        except UnknownSchemaError:
            raise
        except CorruptStateError as exc:
            return f"the state file was unusable ({_first_sentence(exc)})", unsure
        if state is None:
            return "the state file was missing", unsure
        if state.history_seq < tail.seq:
            # Behind: what a tick's load does anyway. The bot was told what the file says.
            return "the state file was behind the history", state.delivered_stage
        if state.history_seq == tail.seq and state.history_hash == tail.line_hash:
            raise OperatorRefusedError(
                f"nothing to restore: {self.path} loads and follows the history's last "
                f"event ({tail.seq})"
            )
        raise OperatorRefusedError(
            f"refusing to restore: {self.path} follows event {state.history_seq} but the "
            f"history's last is {tail.seq} with another hash; the history lost or changed "
            "events the state file still reflects, and restoring from it would forget "
            f"them. Restore {self.history_path} from a backup, or move it aside to start "
            "a new history from the state file."
        )

    # -- internals

    def _load(self, *, repair: bool) -> Tuple[RolloutState, Optional[HistoryRecord], bool]:
        """(state, last history record, whether the state file is behind the history)."""
        state = read_state_file(self.path)
        tail = self._tail(repair=repair)
        if state is None:
            # Deleted (or never written): start afresh, continuing the history's chain.
            fresh = RolloutState()
            if tail is not None:
                fresh = replace(fresh, history_seq=tail.seq, history_hash=tail.line_hash)
            return fresh, tail, False
        if tail is None:
            if state.history_seq > 0:
                if self.history_path.exists():
                    raise HistoryError(
                        f"{self.history_path}: the history is empty but {self.path} "
                        f"follows its event {state.history_seq}; the log was truncated. "
                        f"Restore it from a backup, or move it aside to start a new "
                        "history from the state file."
                    )
                warnings.warn(
                    f"{self.history_path} is missing ({state.history_seq} earlier events); "
                    "a new history starts with the next event",
                    RuntimeWarning,
                    stacklevel=4,
                )
                state = replace(state, history_seq=0, history_hash=None)
            return state, None, False
        if tail.seq > state.history_seq:
            self._check_roll_forward(state)
            # The tick or verb that wrote those lines never returned: the bot was told
            # only what the state file says, and the next tick tells it the rest.
            return _linked(tail, state.delivered_stage), tail, True
        if tail.seq < state.history_seq or tail.line_hash != state.history_hash:
            raise HistoryError(
                f"{self.history_path}: its last event (line seq {tail.seq}) is not the one "
                f"{self.path} follows (seq {state.history_seq}); the history was edited or "
                "replaced (or cut short). Run `quant-rollout history --verify` to find where; "
                "restore the history from a backup, or move it aside to start a new "
                "history from the state file."
            )
        return state, tail, False

    def _check_roll_forward(self, state: RolloutState) -> None:
        """Refuse to roll forward over lines that do not chain onto the state's event.

        A crash between the two writes leaves lines that do; an edited or foreign
        history may not, and adopting it could, say, forget a latched kill switch.
        Reads the whole log, but only when recovering from such a crash.
        """
        prev = state.history_hash or GENESIS_HASH
        seq = state.history_seq
        for record in read_history(self.history_path)[seq:]:
            seq += 1
            if record.seq != seq or record.prev_hash != prev:
                raise HistoryError(
                    f"{self.history_path}: event {record.seq} does not follow event "
                    f"{seq - 1}, the one {self.path} records; the history was edited or "
                    "belongs to another state file. Run `quant-rollout history --verify`."
                )
            prev = record.line_hash

    def _tail(self, *, repair: bool) -> Optional[HistoryRecord]:
        """The last complete history record; a torn last line is cut off when repairing."""
        try:
            f = open(self.history_path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return None
        with f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return None
            chunk = 4096
            while True:
                start = max(0, size - chunk)
                f.seek(start)
                data = f.read(size - start)
                end = data.rfind(b"\n")
                if end == -1 and start > 0:
                    chunk *= 2
                    continue
                complete_end = start + end + 1 if end != -1 else 0
                if complete_end < size:  # a torn, never-committed last line
                    if repair:
                        try:
                            with open(self.history_path, "r+b") as w:
                                w.truncate(complete_end)
                                w.flush()
                                os.fsync(w.fileno())
                        except OSError as exc:
                            raise write_failure(
                                self.history_path, exc, "Nothing was changed."
                            ) from None
                    if complete_end == 0:
                        return None
                    size = complete_end
                    continue
                prev = data.rfind(b"\n", 0, end)
                if prev == -1 and start > 0:
                    chunk *= 2
                    continue
                line = data[prev + 1 : end]
                break
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise HistoryError(f"{self.history_path}: last line is not UTF-8 ({exc})") from None
        return parse_line(text, f"{self.history_path}, last line")

    def _remove_stale_temp_files(self) -> None:
        """Delete temporary state files left by a writer killed before its rename.

        Only a lock holder writes them, and we hold the lock, so any that exist are
        abandoned; they never held the only copy of anything (the rename had not
        happened, and the history line was already durable).
        """
        for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def _persist(self, lines: List[str], final: RolloutState) -> None:
        # History first: if a crash (or a failed write) falls before the state is
        # replaced, the next load rolls the state forward from the history.
        if not lines:  # bookkeeping only (see _Transaction.save)
            self._write_state(final, "The opportunities of this tick were not recorded.")
            return
        try:
            self._append(lines)
        except OSError as exc:
            # A partly written line is cut off by the next load, like a torn one.
            raise write_failure(self.history_path, exc, _NOT_RECORDED) from None
        self._write_state(final, _RECORDED)

    def _write_state(self, state: RolloutState, consequence: str) -> None:
        try:
            write_atomic(self.path, state.to_json())
        except OSError as exc:
            raise write_failure(self.path, exc, consequence) from None

    def _append(self, lines: Sequence[str]) -> None:
        new_file = not self.history_path.exists()
        with open(self.history_path, "ab") as f:
            f.write(("\n".join(lines) + "\n").encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        if new_file:
            fsync_dir(self.history_path.parent)


def _first_sentence(exc: BaseException) -> str:
    text = str(exc)
    cut = text.find(". ")
    return text if cut == -1 else text[: cut + 1].rstrip(".")


class MemoryStore:
    """State and history in memory: for replays, simulations and tests. Not shared
    between processes; the history lines are exactly what the file store would write.
    """

    def __init__(self, state: Optional[RolloutState] = None) -> None:
        self.state = state if state is not None else RolloutState()
        self.lines: List[str] = []

    @property
    def source(self) -> str:
        return "<memory>"

    def _persist(self, lines: List[str], final: RolloutState) -> None:
        self.lines.extend(lines)
        self.state = final

    @contextlib.contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        yield _Transaction(self.state, self._persist, last=lambda: self.read()[1])

    def read(self) -> Tuple[RolloutState, Optional[HistoryRecord]]:
        tail = parse_line(self.lines[-1], "<memory>") if self.lines else None
        return self.state, tail

    def history(self) -> List[HistoryRecord]:
        return [parse_line(line, f"<memory> line {i}") for i, line in enumerate(self.lines, 1)]

    def verify(self) -> HistoryVerification:
        return verify_lines(self.lines, "<memory>")
