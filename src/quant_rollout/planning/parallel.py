"""Monte Carlo rows in forked processes: ``plan(..., jobs=N)``.

Every row seeds each of its runs from (seed, row, run), so a row's times do not
depend on where it is computed, nor on the rows computed before it: rows can run in
any order, in any process, and the report is the same to the last character.

The plan is made twice. The first pass *records*: each Monte Carlo row it asks for
is started at once in a child process forked from the planner (at most ``jobs`` at a
time) and the pass goes on with a placeholder, so the rows run while the planner
solves the next thresholds. The second pass *replays*: each row is the child's
answer, in the same order (a row whose child failed, or that the first pass did not
ask for, is computed in process, so an error is raised as it would be without jobs).
Thresholds are cached by the criteria (``functools.lru_cache``) and the gates'
tables by the plan (:meth:`~.setting.PlanSetting.once`), so the second pass costs
little. The kill switch is planned in a child of its own (which forks its rows in
turn, both passes there): its thresholds (the exact win-rate CUSUM's, the EV CUSUM's
bootstrap designs) take about as long as the gates' longest row, and are solved
while the gates are planned. A child is not a daemon (a daemon could not fork its
rows); each is terminated and reaped when its pool is left, and a terminated child
reaps its own before it exits. Ctrl-C reaches every process of the command at once,
and each exits at once. A planner killed on its own (SIGTERM, SIGKILL) cannot stop
its children: each finishes the work under way, finds its answer's pipe closed, and
exits (a few seconds on the ``init`` plan).

Children are forked rather than spawned because a row's scans are closures over the
configuration's criteria, which need not be picklable (a custom criterion): a forked
child inherits them, and only the row's times travel back, through a pipe. Where
forking is unsafe the rows are computed in process: on platforms without ``fork``
(Windows), on macOS (system libraries may not survive a fork; Python spawns there
by default), and when the planning process runs other threads (a fork copies their
locks in whatever state they are in).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import sys
import threading
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from .runs import Progress

__all__ = ["Result", "RowPool", "can_fork"]

Result = List[List[Optional[int]]]
"""A row's times: one list per table (:func:`~.runs.simulate`)."""

Compute = Callable[[Optional[Progress]], Any]
"""Work for a child: given where to report progress, its (picklable) answer."""


def can_fork() -> bool:
    """Whether rows may be computed in forked children here (see the module notes)."""
    if sys.platform in ("win32", "darwin"):
        return False
    if "fork" not in multiprocessing.get_all_start_methods():
        return False  # pragma: no cover - every POSIX but macOS has it
    return threading.active_count() == 1


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(1)  # unwinds the child: its own children are reaped on the way


_receivers: Set[Connection] = set()
"""The ends this process reads its children's answers from; a child forked later
closes its copies, so that a child whose parent is gone is told so (EPIPE) when it
writes, instead of waiting forever on a full pipe that it could read itself."""


def _child(compute: Compute, conn: Connection) -> None:
    """Run in the child: the answer, or a failure, sent back; progress relayed."""
    for inherited in list(_receivers):
        inherited.close()
    _receivers.clear()

    def progress(row: str, done: int, total: int) -> None:
        conn.send(("progress", (row, done, total)))

    signal.signal(signal.SIGTERM, _terminated)
    try:
        result = compute(progress)
        conn.send(("done", result))
    except BaseException:  # the parent computes it again, and raises
        with contextlib.suppress(BaseException):  # unless it is gone (interrupted)
            conn.send(("failed", None))
    finally:
        conn.close()


class RowPool:
    """Work computed in forked children, at most ``jobs`` at a time.

    Use as a context manager. Monte Carlo rows: :meth:`record` while the first pass
    runs, :meth:`collect` between the passes, :meth:`replay` during the second. Any
    other work: :meth:`submit`, then :meth:`take`. On leaving (an error or Ctrl-C
    included) every child still running is terminated and reaped (and reaps its own).
    """

    def __init__(self, jobs: int, progress: Optional[Progress]) -> None:
        self.jobs = jobs
        self.progress = progress
        self.context = multiprocessing.get_context("fork")
        self.count = 0
        self.recorded: List[Tuple[int, str]] = []
        self.running: Dict[int, Tuple[Any, Connection]] = {}
        self.waiting: List[Tuple[int, Compute]] = []
        self.results: Dict[int, Any] = {}
        self.replayed = 0

    def __enter__(self) -> RowPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.waiting.clear()
        for process, conn in self.running.values():
            process.terminate()
            self._close(conn)  # a child writing to it is told the parent is gone
        for process, _ in self.running.values():
            process.join()
        self.running.clear()

    @staticmethod
    def _close(conn: Connection) -> None:
        _receivers.discard(conn)
        conn.close()

    def _receive(self, timeout: Optional[float]) -> None:
        """Handle what the children have sent (waiting up to ``timeout`` for it)."""
        by_conn = {conn: index for index, (_, conn) in self.running.items()}
        for ready in wait(list(by_conn), timeout):
            assert isinstance(ready, Connection)
            conn = ready
            index = by_conn[conn]
            try:
                kind, value = conn.recv()
            except (EOFError, OSError):
                kind, value = "failed", None
            if kind == "progress":
                if self.progress is not None:
                    self.progress(*value)
                continue
            if kind == "done":
                self.results[index] = value
            process, _ = self.running.pop(index)
            process.join()
            self._close(conn)

    def _start(self) -> None:
        """Fork a child for each waiting piece of work while fewer than ``jobs`` run."""
        while self.waiting and len(self.running) < self.jobs:
            index, compute = self.waiting.pop(0)
            receiver, sender = self.context.Pipe(duplex=False)
            _receivers.add(receiver)  # closed in the child, which only writes
            process = self.context.Process(target=_child, args=(compute, sender))
            process.start()
            sender.close()
            self.running[index] = (process, receiver)

    def submit(self, compute: Compute) -> int:
        """Queue ``compute`` for a child (forked as soon as one of the jobs is free)."""
        if self.running:
            self._receive(0)
        index = self.count
        self.count += 1
        self.waiting.append((index, compute))
        self._start()
        return index

    def take(self, index: int) -> Optional[Any]:
        """The answer of submitted work (waiting for it), or None if its child failed."""
        while index in self.running or any(i == index for i, _ in self.waiting):
            self._start()
            self._receive(None)
        return self.results.pop(index, None)

    def record(self, label: str, tables: int, paths: int, compute: Compute) -> Result:
        """Queue the row for a child; a placeholder (no table fires) meanwhile.

        The planner goes on at once (its own work, e.g. solving thresholds, overlaps
        the rows).
        """
        self.recorded.append((self.submit(compute), label))
        return [[None] * paths for _ in range(tables)]

    def collect(self) -> None:
        """Wait for every row, relaying the children's progress."""
        while self.running or self.waiting:
            self._start()
            self._receive(None)

    def replay(self, label: str, compute: Compute) -> Result:
        """The row's times from its child, in the order recorded; else computed here."""
        at = self.replayed
        self.replayed += 1
        if at < len(self.recorded) and self.recorded[at][1] == label:
            found: Optional[Result] = self.results.pop(self.recorded[at][0], None)
            if found is not None:
                return found
        result: Result = compute(self.progress)
        return result
