"""Atomic, durable file replacement and the cross-process lock: a leaf.

It imports only the standard library and :mod:`quant_rollout.errors`, so any layer
may use it: the stores in :mod:`quant_rollout.storage`, and quant-rollout 0.1's
``RolloutState.load``/``save``, the one place where the engine touches a file.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Optional

from .errors import CorruptStateError, LockTimeoutError

__all__ = ["FileLock", "fsync_dir", "read_state_bytes", "write_atomic"]


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable (fsync the folder; not on Windows)."""
    if sys.platform == "win32":  # directories cannot be opened for fsync there
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so a crash leaves either the old or the new file.

    Writes a temporary file in the same folder, flushes and fsyncs it, renames it over
    ``path`` with ``os.replace`` and fsyncs the folder so the rename is durable.
    """
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def read_state_bytes(path: Path) -> Optional[bytes]:
    """The bytes of the state file ``path``; None when it does not exist.

    Raises:
        CorruptStateError: it exists but cannot be read (naming the file and why).
    """
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CorruptStateError(f"{path}: cannot read the state file ({exc})") from None


class FileLock:
    """An exclusive advisory lock on a sidecar file, shared by every process.

    Uses ``fcntl.flock`` (``msvcrt.locking`` on Windows). Waits up to ``timeout``
    seconds, then raises :class:`LockTimeoutError`. Not reentrant.
    """

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._file: Optional[IO[bytes]] = None

    def __enter__(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+b")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                _lock(f)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    f.close()
                    raise LockTimeoutError(
                        f"{self.path}: another process has held the rollout lock for over "
                        f"{self.timeout:g}s; is a tick or CLI command stuck?"
                    ) from None
                time.sleep(0.01)
        self._file = f
        return self

    def __exit__(self, *exc: object) -> None:
        f, self._file = self._file, None
        if f is not None:
            try:
                _unlock(f)
            finally:
                f.close()


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(f: IO[bytes]) -> None:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(f: IO[bytes]) -> None:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(f: IO[bytes]) -> None:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(f: IO[bytes]) -> None:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
