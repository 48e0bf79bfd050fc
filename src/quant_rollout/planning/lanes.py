"""Every run of a Monte Carlo row at once: one bit per run in Python's integers.

A win-rate row of the kill switch draws ``paths`` runs of i.i.d. wins and losses and
follows each criterion on each run. When every criterion is a walk on whole units —
a CUSUM on wins and losses (:class:`~.scans.CusumScan`, :class:`~.scans.StreakScan`), a
drawdown in money when the payoff's two outcomes are whole multiples of one unit
(:class:`~.scans.DrawdownScan`) — the walks of all runs are followed together,
bit-sliced: run ``i`` is bit ``i`` of every integer, a walk's value is held in
two's complement as one integer per bit (a "plane"), and one trade of every run costs
a few dozen operations on ``paths``-bit integers. The EV CUSUM, whose steps are
floating-point numbers, is followed the same way on steps rounded to a fine grid, with
a margin that bounds the rounding: a run whose first "possibly fired" and first
"surely fired" trades agree is known exactly, and the few others are replayed with
:class:`~.scans.EvCusumScan` itself.

The runs are the very runs :func:`~.runs.simulate` draws (each from its own generator,
in the same chunks), so the times, and the report, are the same to the last run.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Dict, Hashable, List, Mapping, Optional, Sequence, Tuple

from .runs import Bernoulli, KillScan, KillTables, Progress, Run, chunk_sizes, seed_of
from .scans import CusumScan, DrawdownScan, EvCusumScan, StreakScan

__all__ = ["BitWalk", "draw_outcomes", "lane_masks", "simulate_kill_lanes"]

_MAX_BITS = 48  # planes a walk may use; beyond it the runs are followed one by one
_EV_MARGIN_BITS = 10  # the EV CUSUM's rounding margin: about 2**-10 of its scale


def draw_outcomes(source: Bernoulli, rng: random.Random, horizon: int) -> bytes:
    """A run's wins (1) and losses (0), drawn as :class:`~.runs.Run` draws them."""
    run = _OutcomeRun(rng)
    for size in chunk_sizes(horizon):
        source.draw_wins(run, size)
    return bytes(run.wins)


class _OutcomeRun:
    __slots__ = ("rng", "wins")

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.wins = bytearray()


def lane_masks(rows: Sequence[bytes], horizon: int) -> List[int]:
    """The runs' outcomes turned sideways: ``masks[t]`` has bit i set when run i won trade t + 1.

    Eight runs are first packed into the bits of one byte string (run ``8g + j`` in
    bit j of group g's bytes), then each trade's column is a strided slice of the
    groups laid end to end.
    """
    groups: List[bytes] = []
    for g in range(0, len(rows), 8):
        packed = 0
        for j, row in enumerate(rows[g : g + 8]):
            packed |= int.from_bytes(row, "little") << j
        groups.append(packed.to_bytes(horizon, "little"))
    joined = b"".join(groups)
    return [int.from_bytes(joined[t::horizon], "little") for t in range(horizon)]


class BitWalk:
    """``S = max(0, S + step)`` on every lane at once, in two's complement planes.

    ``up`` is added on a lane that lost the trade, ``down`` on one that won (whole
    numbers, either sign); the walk starts at 0 and ``first`` records, per lane, the
    first trade at which ``S >= threshold`` (each of ``thresholds``). Lanes past their
    threshold may overflow: only the first crossing is read, and lanes never mix.
    """

    def __init__(
        self, lanes: int, up: int, down: int, thresholds: Sequence[int], start: int = 1
    ) -> None:
        self.all = (1 << lanes) - 1
        self.start = start
        self.thresholds = list(thresholds)
        top = max([abs(up), abs(down), 1] + [abs(t) for t in self.thresholds])
        self.bits = (2 * top + 1).bit_length() + 1  # value bits and the sign
        self.planes = [0] * self.bits
        span = 1 << self.bits
        self.up = [(up % span) >> j & 1 for j in range(self.bits)]
        self.down = [(down % span) >> j & 1 for j in range(self.bits)]
        self.fired = [0] * len(self.thresholds)
        self.times: List[Dict[int, int]] = [{} for _ in self.thresholds]

    @property
    def done(self) -> bool:
        return all(f == self.all for f in self.fired)

    def step(self, n: int, won: int) -> None:
        """Trade n: ``won`` has the bits of the lanes that won it."""
        if n < self.start:
            return
        full = self.all
        lost = full ^ won
        planes = self.planes
        carry = 0
        for j, s in enumerate(planes):
            a, b = self.up[j], self.down[j]
            add = (full if b else lost) if a else (won if b else 0)
            x = s ^ add
            planes[j] = x ^ carry
            carry = (s & add) | (carry & x)
        keep = full ^ planes[-1]  # negative lanes go back to 0
        if keep != full:
            for j in range(len(planes)):
                planes[j] &= keep
        for k, threshold in enumerate(self.thresholds):
            fresh = _at_least(planes, threshold, full) & ~self.fired[k]
            if fresh:
                self.fired[k] |= fresh
                times = self.times[k]
                while fresh:
                    low = fresh & -fresh
                    times[low.bit_length() - 1] = n
                    fresh ^= low


def _at_least(planes: Sequence[int], threshold: int, full: int) -> int:
    """The lanes whose (non-negative) value is at least ``threshold``."""
    if threshold <= 0:
        return full
    if threshold >= 1 << (len(planes) - 1):
        return 0
    greater, equal = 0, full
    for j in range(len(planes) - 2, -1, -1):
        s = planes[j]
        if threshold >> j & 1:
            equal &= s
        else:
            greater |= equal & s
            equal &= full ^ s
        if not equal:
            break
    return greater | equal


class _Criterion:
    """A scan as a bit-sliced walk, and how its lanes' times are read."""

    def __init__(self, walk: BitWalk, confirm: Optional[EvCusumScan] = None) -> None:
        self.walk = walk
        self.confirm = confirm  # an EV CUSUM, replayed on the runs the screen cannot settle


def _integer_units(values: Sequence[float]) -> Optional[Tuple[List[int], Fraction]]:
    """The values as whole multiples of one unit (exact), or None if they need too many bits."""
    fractions = [Fraction(v) for v in values]
    denominator = math.lcm(*(f.denominator for f in fractions))
    units = [int(f * denominator) for f in fractions]
    if max(abs(u) for u in units).bit_length() > _MAX_BITS // 2:
        return None
    return units, Fraction(1, denominator)


def _criterion_of(scan: KillScan, source: Bernoulli, lanes: int, horizon: int) -> Optional[_Criterion]:
    """The scan as a bit-sliced walk, or None when it is not a walk on whole units."""
    if isinstance(scan, CusumScan):
        up, down = scan.steps
        return _Criterion(BitWalk(lanes, up, down, [scan.threshold]))
    if isinstance(scan, StreakScan):
        return _Criterion(BitWalk(lanes, 1, -scan.losses, [scan.losses]))
    if isinstance(scan, DrawdownScan):
        if scan.fraction is not None or scan.loss is None:
            return None
        loss_pnl, win_pnl = source.pnls
        exact = _integer_units([loss_pnl, win_pnl])
        if exact is None or horizon * max(abs(loss_pnl), abs(win_pnl)) >= 2.0**52:
            return None  # the running pnl could round: follow it in floating point
        (loss_units, win_units), unit = exact
        # The drawdown rises by what a trade loses: -pnl in units; fires at >= loss.
        limit = math.ceil(Fraction(scan.loss) / unit)
        return _Criterion(BitWalk(lanes, -loss_units, -win_units, [limit]))
    if isinstance(scan, EvCusumScan):
        if scan.by_outcome is None:
            return None
        loss_step, win_step = scan.by_outcome
        big = max(abs(loss_step), abs(win_step), abs(scan.threshold), 1e-300)
        steps = max(0, horizon - scan.skip)
        # A grid fine enough that the margin below is about 2**-10 of the scale.
        unit = 2.0 ** (math.frexp(big)[1] - _EV_MARGIN_BITS - steps.bit_length())
        up, down = round(loss_step / unit), round(win_step / unit)
        # Rounding each step to the grid moves the walk and its running minimum by at
        # most steps * unit / 2 each; the floating-point walk is off the real one by far
        # less (steps**2 * big * 2**-53 for both); one more rounding in the subtraction.
        margin = steps * unit + 4.0 * steps * steps * big * 2.0**-53 + big * 2.0**-50
        low = math.ceil((scan.threshold - margin) / unit)
        high = math.ceil((scan.threshold + margin) / unit)
        if max(abs(up), abs(down), abs(high)).bit_length() > _MAX_BITS:
            return None
        walk = BitWalk(lanes, up, down, [low, high], start=scan.skip + 1)
        return _Criterion(walk, scan)
    return None


def _exact_ev_time(
    like: EvCusumScan, source: Bernoulli, outcomes: bytes, horizon: int
) -> Optional[int]:
    """The EV CUSUM's own first firing on one run: a fresh copy of ``like`` on it."""
    scan = EvCusumScan(like.reference, like.threshold, like.skip)
    scan.by_outcome = like.by_outcome
    run = Run(random.Random(0), source)
    run.wins = bytearray(outcomes)
    return scan.first(run, 1, horizon)


def simulate_kill_lanes(
    source: Bernoulli,
    rule: KillTables,
    horizon: int,
    paths: int,
    seed: int,
    label: str,
    progress: Optional[Progress] = None,
) -> Optional[List[List[Optional[int]]]]:
    """What :func:`~.runs.simulate` returns for kill tables on Bernoulli runs, or None
    when a criterion is not a walk this module follows (the caller then simulates)."""
    scans: Mapping[Hashable, KillScan] = rule.scans()
    keys = list(dict.fromkeys(k for table in rule.tables for k in table))
    criteria: Dict[Hashable, _Criterion] = {}
    for key in keys:
        criterion = _criterion_of(scans[key], source, paths, horizon)
        if criterion is None:
            return None
        criteria[key] = criterion
    if progress is not None:
        progress(label, 0, paths)
    base = seed_of(seed, label)
    rows = [draw_outcomes(source, random.Random(base + i), horizon) for i in range(paths)]
    masks = lane_masks(rows, horizon)
    full = (1 << paths) - 1
    walks = [c.walk for c in criteria.values()]
    for n, won in enumerate(masks, 1):
        live = [w for w in walks if not w.done]
        if not live:
            break
        for walk in live:
            walk.step(n, won & full)
    firsts: Dict[Hashable, Dict[int, int]] = {}
    for key, criterion in criteria.items():
        walk = criterion.walk
        if criterion.confirm is None:
            firsts[key] = walk.times[0]
            continue
        possibly, surely = walk.times
        exact: Dict[int, int] = {}
        for lane, n in possibly.items():
            if surely.get(lane) == n:
                exact[lane] = n
            else:
                found = _exact_ev_time(criterion.confirm, source, rows[lane], horizon)
                if found is not None:
                    exact[lane] = found
        firsts[key] = exact
    out: List[List[Optional[int]]] = []
    for table in rule.tables:
        times: List[Optional[int]] = []
        for lane in range(paths):
            hits = [firsts[k][lane] for k in table if lane in firsts[k]]
            times.append(min(hits) if hits else None)
        out.append(times)
    if progress is not None:
        progress(label, paths, paths)
    return out
