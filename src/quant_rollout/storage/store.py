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

from .._files import FileLock, fsync_dir, read_state_bytes, write_atomic
from ..engine.model import Transition
from ..engine.state import RolloutState, state_from_dict, state_from_json
from ..errors import HistoryError
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
    "FileLock",
    "JsonFileStore",
    "MemoryStore",
    "StateStore",
    "StoreTransaction",
    "read_state_file",
    "write_atomic",
]


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
    """An open read-modify-write: ``state`` as loaded, ``commit`` to record changes."""

    @property
    def state(self) -> RolloutState: ...

    def commit(self, transitions: Sequence[Transition]) -> RolloutState: ...


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


def _linked(state: RolloutState, record: HistoryRecord) -> RolloutState:
    return replace(
        state_from_dict(record.state, source=f"history line {record.seq}"),
        history_seq=record.seq,
        history_hash=record.line_hash,
    )


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
    """An open read-modify-write; ``persist`` stores the encoded lines and final state."""

    loaded: RolloutState
    persist: Callable[[List[str], RolloutState], None]

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


class JsonFileStore:
    """The state in one JSON file, the history beside it, a ``.lock`` sidecar.

    ``rollout_state.json`` -> ``rollout_state.history.jsonl`` and
    ``rollout_state.json.lock``. Deleting the state file starts the rollout afresh
    (the history keeps its chain and records the new start).
    """

    def __init__(self, path: Path, lock_timeout: float = 30.0) -> None:
        self.path = Path(path)
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
            state, _tail, stale = self._load(repair=True)
            if stale:
                write_atomic(self.path, state.to_json())
            yield _Transaction(state, self._persist)

    def read(self) -> Tuple[RolloutState, Optional[HistoryRecord]]:
        with FileLock(self.lock_path, self.lock_timeout):
            state, tail, _stale = self._load(repair=False)
            return state, tail

    def history(self) -> List[HistoryRecord]:
        return read_history(self.history_path)

    def verify(self) -> HistoryVerification:
        """Check the chain, and that its last line is the one the state file follows.

        The chain alone cannot catch an edit of the last line (nothing follows it);
        the state file records that line's hash, so the two together can.
        """
        with FileLock(self.lock_path, self.lock_timeout):
            result = verify_history(self.history_path)
            if not result.ok:
                return result
            state = read_state_file(self.path)
        if state is None or state.history_seq > result.events:
            return result  # fresh, or a state behind/ahead is reported by loading it
        if state.history_seq == result.events and state.history_hash != result.last_hash:
            return HistoryVerification(
                False,
                result.events - 1,
                result.events,
                f"{self.history_path}, line {result.events}: its hash is not the one "
                f"{self.path} records for it; the line was edited",
                result.last_hash,
            )
        return result

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
                        f"follows its event {state.history_seq}; the log was truncated"
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
            return _linked(state, tail), tail, True
        if tail.seq < state.history_seq or tail.line_hash != state.history_hash:
            raise HistoryError(
                f"{self.history_path}: its last event (line seq {tail.seq}) is not the one "
                f"{self.path} follows (seq {state.history_seq}); the history was edited or "
                "replaced. Run `quant-rollout history --verify` to find where."
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
                        with open(self.history_path, "r+b") as w:
                            w.truncate(complete_end)
                            w.flush()
                            os.fsync(w.fileno())
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
        # History first: if a crash falls before the state is replaced, the next
        # load rolls the state forward from the history.
        self._append(lines)
        write_atomic(self.path, final.to_json())

    def _append(self, lines: Sequence[str]) -> None:
        new_file = not self.history_path.exists()
        with open(self.history_path, "ab") as f:
            f.write(("\n".join(lines) + "\n").encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        if new_file:
            fsync_dir(self.history_path.parent)


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
        yield _Transaction(self.state, self._persist)

    def read(self) -> Tuple[RolloutState, Optional[HistoryRecord]]:
        tail = parse_line(self.lines[-1], "<memory>") if self.lines else None
        return self.state, tail

    def history(self) -> List[HistoryRecord]:
        return [parse_line(line, f"<memory> line {i}") for i, line in enumerate(self.lines, 1)]

    def verify(self) -> HistoryVerification:
        return verify_lines(self.lines, "<memory>")
