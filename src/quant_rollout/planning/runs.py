"""Monte Carlo: runs drawn in chunks, and the rules that scan them chunk by chunk.

A run is one simulated stage (:class:`Run`); a source draws its trades (i.i.d. wins
at a rate under a payoff, or a bootstrap of a trade history); a gate rule finds the
first trade count at which every criterion holds, a kill table the first at which any
fires. Run ``i`` of a row draws from its own generator, seeded from (seed, row, i).
"""

from __future__ import annotations

import hashlib
import math
import random
import sys
from array import array
from itertools import accumulate, repeat
from operator import itemgetter
from typing import (
    Any,
    Callable,
    Dict,
    Hashable,
    Iterable,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Union,
)

from .payoff import Payoff

__all__ = [
    "PROGRESS_EVERY",
    "Bernoulli",
    "Bootstrap",
    "GateRule",
    "GateScan",
    "KillScan",
    "KillTables",
    "Progress",
    "Rule",
    "Run",
    "Source",
    "chunk_sizes",
    "seed_of",
    "simulate",
]

Progress = Callable[[str, int, int], None]
"""Told (row label, runs done, runs in the row) as a Monte Carlo row is simulated."""

PROGRESS_EVERY = 100
"""Runs between two calls of a :data:`Progress` function."""

# Monte Carlo runs are scanned in growing chunks so a run stops soon after its event.
_FIRST_CHUNK, _MAX_CHUNK = 32, 1024


class Run:
    """One simulated stage: its trades so far, as counts and running sums.

    ``wins[i]`` is 1 when trade i + 1 won; ``cum_wins[n]``, ``cum_pnl[n]`` and
    ``cum_size[n]`` are the wins, pnl and size of the first n trades, and
    ``pnl``/``size`` the trades themselves (money only when the source was asked for it).
    """

    __slots__ = ("cum_pnl", "cum_size", "cum_wins", "pnl", "rng", "size", "source", "wins")

    def __init__(self, rng: random.Random, source: Source) -> None:
        self.rng = rng
        self.source = source
        self.wins = bytearray()
        self.cum_wins: List[int] = [0]
        self.cum_pnl: List[float] = [0.0]
        self.cum_size: List[float] = [0.0]
        self.pnl: List[float] = []
        self.size: List[float] = []

    @property
    def n(self) -> int:
        return len(self.wins)

    def extend_to(self, n: int) -> None:
        if n > len(self.wins):
            self.source.draw(self, n - len(self.wins))


class Source(Protocol):
    def draw(self, run: Run, k: int) -> None: ...


def _extend_sums(target: List[Any], values: Iterable[Any]) -> None:
    it = accumulate(values, initial=target[-1])
    next(it)
    target.extend(it)


class Bernoulli:
    """Trades winning with probability p, exactly, 8 random bits a trade.

    A byte below ``floor(256 p)`` wins, one above loses, and a byte equal to it (one
    trade in 256) wins with probability ``frac(256 p)`` by a second draw. The money
    side follows the payoff: ``sums`` fills the running pnl and size, ``trades`` the
    per-trade lists (each only when a rule reads it).
    """

    def __init__(self, p: float, payoff: Payoff, *, sums: bool, trades: bool) -> None:
        scaled = p * 256.0  # exact: a power-of-two scaling
        cut = math.floor(scaled)
        self.frac = scaled - cut
        self.table = bytes(1 if b < cut else (2 if b == cut else 0) for b in range(256))
        self.sums = sums
        self.trades = trades
        self.size = float(payoff.size)
        self.pnls = (-payoff.loss * payoff.size, payoff.win * payoff.size)  # by outcome

    def draw(self, run: Run, k: int) -> None:
        rng = run.rng
        outcomes = bytearray(rng.randbytes(k).translate(self.table))
        i = outcomes.find(2)
        while i >= 0:
            outcomes[i] = rng.random() < self.frac
            i = outcomes.find(2, i + 1)
        run.wins += outcomes
        _extend_sums(run.cum_wins, outcomes)
        if self.trades:
            run.pnl.extend(map(self.pnls.__getitem__, outcomes))
            run.size.extend(repeat(self.size, k))
        if self.sums:
            _extend_sums(run.cum_pnl, map(self.pnls.__getitem__, outcomes))
            _extend_sums(run.cum_size, repeat(self.size, k))


class Bootstrap:
    """Trades resampled from a history, returns shifted to a target EV per dollar."""

    def __init__(self, returns: Sequence[float], sizes: Sequence[float], ev: float) -> None:
        total_size = math.fsum(sizes)
        observed = math.fsum(r * s for r, s in zip(returns, sizes)) / total_size
        shift = ev - observed
        self.pnl = [(r + shift) * s for r, s in zip(returns, sizes)]
        self.sizes = list(sizes)
        self.won = [1 if x > 0 else 0 for x in self.pnl]

    def draw(self, run: Run, k: int) -> None:
        picks = _uniform_indices(run.rng, len(self.pnl), k)
        if k == 1:
            picks = [picks[0], picks[0]]  # itemgetter of one index returns a bare item
        get = itemgetter(*picks)
        won: Tuple[int, ...] = get(self.won)[:k]
        pnl: Tuple[float, ...] = get(self.pnl)[:k]
        size: Tuple[float, ...] = get(self.sizes)[:k]
        run.wins += bytes(won)
        _extend_sums(run.cum_wins, won)
        run.pnl.extend(pnl)
        run.size.extend(size)
        _extend_sums(run.cum_pnl, pnl)
        _extend_sums(run.cum_size, size)


def _uniform_indices(rng: random.Random, m: int, k: int) -> List[int]:
    """k indices drawn uniformly from range(m), m <= 65536, from 16 random bits each.

    Values at or above the largest multiple of m below 2**16 are rejected, so every
    index is exactly equally likely.
    """
    if m > 1 << 16:
        return rng.choices(range(m), k=k)
    limit = (1 << 16) - (1 << 16) % m
    picks: List[int] = []
    while len(picks) < k:
        need = k - len(picks)
        words = array("H", rng.randbytes(2 * (need + need // 32 + 4)))
        if sys.byteorder == "big":  # read the bytes little-endian on every machine
            words.byteswap()
        picks.extend(map(m.__rmod__, filter(limit.__gt__, words)))
    del picks[k:]
    return picks


class GateScan(Protocol):
    """One gate criterion on one run: where it holds, chunk by chunk."""

    def holds(self, run: Run, start: int, end: int) -> bytes:
        """1 at position n - start where the criterion holds after n trades, n in [start, end]."""


class KillScan(Protocol):
    """One kill criterion on one run: where it first fires, chunk by chunk."""

    def first(self, run: Run, start: int, end: int) -> Optional[int]:
        """The first n in [start, end] at which it fires after n trades, else None."""


def _chunks(first: int, horizon: int) -> Iterable[Tuple[int, int]]:
    start, size = first, _FIRST_CHUNK
    while start <= horizon:
        end = min(horizon, start + size - 1)
        yield start, end
        start, size = end + 1, min(2 * size, _MAX_CHUNK)


def chunk_sizes(horizon: int) -> List[int]:
    """The sizes of the draws a run followed to ``horizon`` makes, in order."""
    return [end - start + 1 for start, end in _chunks(1, horizon)]


class Rule(Protocol):
    def time(self, run: Run, horizon: int) -> Optional[int]:
        """Trades until the rule fires on this run, or None within the horizon."""


class GateRule:
    """A gate on a run: passes at the first n where every criterion holds.

    ``lazy`` criteria (the EV betting test, a loop over trades) are only followed as
    far as the last trade at which all the cheap ones hold: a stage that never meets
    its win-rate bar needs no betting at all.
    """

    def __init__(
        self,
        passes_at_zero: bool,
        scans: Callable[[], Sequence[GateScan]],
        lazy: Callable[[], Sequence[GateScan]] = lambda: (),
    ) -> None:
        self.passes_at_zero = passes_at_zero
        self.scans = scans
        self.lazy = lazy

    def time(self, run: Run, horizon: int) -> Optional[int]:
        if self.passes_at_zero:
            return 0
        scans, lazy = self.scans(), self.lazy()
        for start, end in _chunks(1, horizon):
            run.extend_to(end)
            ok = (1 << (8 * (end - start + 1))) - 1
            for scan in scans:
                ok &= int.from_bytes(scan.holds(run, start, end), "little")
                if not ok:
                    break
            if ok and lazy:
                last = start + (ok.bit_length() - 1) // 8
                for scan in lazy:
                    ok &= int.from_bytes(scan.holds(run, start, last), "little")
                    if not ok:
                        break
            if ok:
                return start + ((ok & -ok).bit_length() - 1) // 8
        return None


class KillTables:
    """Several kill switches sharing criteria, on one run: each fires at its first criterion.

    Each distinct criterion is scanned once per chunk, and only while a switch that has
    it has not fired yet.
    """

    def __init__(
        self,
        tables: Sequence[Sequence[Hashable]],
        scans: Callable[[], Mapping[Hashable, KillScan]],
    ) -> None:
        self.tables = tables
        self.scans = scans

    def times(self, run: Run, horizon: int) -> List[Optional[int]]:
        scans = self.scans()
        fired: Dict[Hashable, int] = {}
        times: List[Optional[int]] = [None] * len(self.tables)
        pending = [i for i, keys in enumerate(self.tables) if keys]
        for start, end in _chunks(1, horizon):
            if not pending:
                break
            run.extend_to(end)
            for key in dict.fromkeys(k for i in pending for k in self.tables[i]):
                if key not in fired:
                    found = scans[key].first(run, start, end)
                    if found is not None:
                        fired[key] = found
            still = []
            for i in pending:
                hits = [fired[k] for k in self.tables[i] if k in fired]
                if hits:
                    times[i] = min(hits)
                else:
                    still.append(i)
            pending = still
        return times


def seed_of(seed: int, label: str) -> int:
    """The seed of run 0 of the row ``label``; run i is seeded with this plus i."""
    digest = hashlib.sha256(f"quant-rollout plan/{seed}/{label}".encode()).digest()
    return int.from_bytes(digest[:8], "little") << 32


def simulate(
    make_source: Callable[[], Source],
    rule: Union[Rule, KillTables],
    horizon: int,
    paths: int,
    seed: int,
    label: str,
    progress: Optional[Progress] = None,
) -> List[List[Optional[int]]]:
    """Trades until the rule fires on each of ``paths`` runs: one list per kill table
    (a single list for a gate).

    ``progress(label, done, paths)`` is called before the first run, every
    :data:`PROGRESS_EVERY` runs and after the last.
    """
    base = seed_of(seed, label)
    source = make_source()
    tables = len(rule.tables) if isinstance(rule, KillTables) else 1
    out: List[List[Optional[int]]] = [[] for _ in range(tables)]
    for first in range(0, paths, PROGRESS_EVERY):
        if progress is not None:
            progress(label, first, paths)
        for i in range(first, min(paths, first + PROGRESS_EVERY)):
            run = Run(random.Random(base + i), source)
            if isinstance(rule, KillTables):
                for times, t in zip(out, rule.times(run, horizon)):
                    times.append(t)
            else:
                out[0].append(rule.time(run, horizon))
    if progress is not None:
        progress(label, paths, paths)
    return out
