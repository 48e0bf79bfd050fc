"""Atomic, durable file replacement and the cross-process lock: a leaf.

It imports only the standard library and :mod:`quant_rollout.errors`, so any layer
may use it: the stores in :mod:`quant_rollout.storage`, and quant-rollout 0.1's
``RolloutState.load``/``save``, the one place where the engine touches a file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import sys
import time
from pathlib import Path
from typing import IO, Optional

from .errors import CorruptStateError, LockTimeoutError, StateWriteError

__all__ = [
    "FileLock",
    "fsync_dir",
    "read_state_bytes",
    "resolve_link",
    "write_atomic",
    "write_failure",
]


def write_failure(path: Path, exc: OSError, consequence: str) -> StateWriteError:
    """A :class:`StateWriteError` for ``exc`` while writing ``path``: what went wrong,
    what to fix, and ``consequence`` (what was or was not recorded)."""
    folder = path.parent
    code = exc.errno
    if code in (errno.EACCES, errno.EPERM):
        fix = (
            f"permission denied: make {folder} and the files in it writable by this user "
            "(or run as the user that owns them)"
        )
    elif code == errno.ENOSPC or code == getattr(errno, "EDQUOT", -1):
        fix = f"no space left on the device holding {folder}: free some space"
    elif code == errno.EROFS:
        fix = f"the file system holding {folder} is read-only: remount it read-write"
    else:
        fix = f"{exc.strerror or exc}"
    return StateWriteError(
        f"{path}: cannot write ({fix}). {consequence}",
        path=str(path),
        recorded="history" in consequence and "holds" in consequence,
    )


def resolve_link(path: Path) -> Path:
    """``path``, or the file a symlink at ``path`` points to (so it is written through)."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


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

    A shared setup keeps working: the new file keeps the old one's mode, owner and
    group where this user may set them (a new file gets the umask's mode, like any
    other), and a symlink at ``path`` stays a symlink: the file it points to is the
    one replaced. Raises ``OSError`` (the stores turn it into StateWriteError).
    """
    path = resolve_link(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        old: Optional[os.stat_result] = os.stat(path)
    except FileNotFoundError:
        old = None
    tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    # 0o666 minus the umask for a new file; the old file's own mode otherwise.
    fd = os.open(tmp, flags, 0o666 if old is None else 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            if old is not None:
                _keep_owner_and_mode(f.fileno(), old)
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def _keep_owner_and_mode(fd: int, old: os.stat_result) -> None:
    """Give the file open as ``fd`` the owner, group and mode of ``old``, as far as this
    user may (root may set any owner; others keep their own, and a group they are in)."""
    if sys.platform == "win32":  # pragma: no cover - no owners or modes to keep there
        return
    for uid, gid in ((old.st_uid, old.st_gid), (-1, old.st_gid)):
        try:
            os.fchown(fd, uid, gid)
            break
        except OSError:
            continue
    os.fchmod(fd, stat.S_IMODE(old.st_mode))


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
    """An advisory lock on a sidecar file, shared by every process.

    Exclusive by default: every read-modify-write holds it. ``shared=True`` is for
    readers: it takes a shared lock when the lock file exists and can be opened for
    reading, and otherwise reads without one (so ``status`` works for a user who may
    not write the folder; the stores' reads are safe unlocked, as files are replaced
    atomically). Uses ``fcntl.flock`` (``msvcrt.locking`` on Windows). Waits up to
    ``timeout`` seconds, then raises :class:`LockTimeoutError`. Not reentrant.

    Raises:
        StateWriteError: an exclusive lock whose file cannot be created or opened
            (naming it and what to fix).
    """

    def __init__(self, path: Path, timeout: float = 30.0, *, shared: bool = False) -> None:
        self.path = path
        self.timeout = timeout
        self.shared = shared
        self._file: Optional[IO[bytes]] = None

    def _open(self) -> Optional[IO[bytes]]:
        if self.shared:
            try:
                return open(self.path, "rb")
            except OSError:
                return None  # no lock file, or not ours to read: read unlocked
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return open(self.path, "a+b")
        except OSError as exc:
            raise write_failure(self.path, exc, "Nothing was changed.") from None

    def __enter__(self) -> FileLock:
        f = self._open()
        if f is None:
            return self
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                _lock(f, self.shared)
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

    def _lock(f: IO[bytes], shared: bool) -> None:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)  # no shared locks there

    def _unlock(f: IO[bytes]) -> None:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(f: IO[bytes], shared: bool) -> None:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        fcntl.flock(f.fileno(), mode | fcntl.LOCK_NB)

    def _unlock(f: IO[bytes]) -> None:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
