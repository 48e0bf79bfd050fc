"""Every run of a Monte Carlo row at once: one bit per run in Python's integers.

A win-rate row draws ``paths`` runs of i.i.d. wins and losses and follows each
criterion on each run. Here run ``i`` is bit ``i`` of every integer, and a trade of
all the runs is one mask (:func:`lane_masks`).

Kill tables (:func:`simulate_kill_lanes`): when every criterion is a walk on whole
units — a CUSUM on wins and losses (:class:`~.scans.CusumScan`,
:class:`~.scans.StreakScan`), a drawdown in money when the payoff's two outcomes are
whole multiples of one unit (:class:`~.scans.DrawdownScan`) — the walks of all runs
are followed together, bit-sliced (:class:`BitWalk`): a walk's value is held in two's
complement as one integer per bit (a "plane"), and one trade of every run costs a few
dozen operations on ``paths``-bit integers. The EV CUSUM, whose steps are
floating-point numbers, is followed the same way on steps rounded to a fine grid,
with a margin that bounds the rounding: a run whose first "possibly fired" and first
"surely fired" trades agree is known exactly, and the few others are replayed with
:class:`~.scans.EvCusumScan` itself.

Gates (:func:`simulate_gate_lanes`): the count criteria (:class:`~.scans.LeastWins`)
from bit-sliced wins counts, and the EV betting test replayed run by run on the
trades where it bets, each bet a (trades, wins) cell shared by the runs
(:class:`TwoPointBetting`).

The runs are the very runs :func:`~.runs.simulate` draws (each from its own generator,
in the same chunks), and every floating-point step is the scans' own, so the times,
and the report, are the same to the last run. Anything else returns None, and the
caller simulates run by run.
"""

from __future__ import annotations

import math
import random
import threading
from fractions import Fraction
from itertools import accumulate, compress
from operator import add
from typing import Dict, Hashable, List, Mapping, Optional, Sequence, Tuple

from ..gates.ev import BettingScan
from .exact import least_wins
from .runs import (
    PROGRESS_EVERY,
    Bernoulli,
    GateRule,
    KillScan,
    KillTables,
    Progress,
    Run,
    chunk_sizes,
    seed_of,
)
from .scans import CusumScan, DrawdownScan, EvCusumScan, LeastWins, SequentialGateScan, StreakScan

__all__ = [
    "BitWalk",
    "TwoPointBetting",
    "draw_outcomes",
    "lane_masks",
    "lane_rows",
    "simulate_gate_lanes",
    "simulate_kill_lanes",
]

_MAX_BITS = 48  # planes a walk may use; beyond it the runs are followed one by one
_FIRST_BLOCK = 64  # trades of a run's first block of betting; each next block doubles
_EV_MARGIN_BITS = 12  # the EV CUSUM's rounding margin: about 2**-12 of a step
_BATCH_BYTES = 16_000_000  # outcomes held at once (runs x trades); more runs: batches


def draw_outcomes(source: Bernoulli, rng: random.Random, horizon: int) -> bytes:
    """A run's wins (1) and losses (0), drawn as :class:`~.runs.Run` draws them."""
    return _draw(source, rng, chunk_sizes(horizon))


def _draw(source: Bernoulli, rng: random.Random, sizes: Sequence[int]) -> bytes:
    """:meth:`~.runs.Bernoulli.draw` chunk after chunk, outcomes only (the same draws:
    ``randbytes(k)`` is ``getrandbits(8 * k)`` in little-endian order)."""
    table, frac = source.table, source.frac
    getrandbits, uniform = rng.getrandbits, rng.random
    out = bytearray()
    for k in sizes:
        chunk = bytearray(getrandbits(8 * k).to_bytes(k, "little").translate(table))
        i = chunk.find(2)
        while i >= 0:
            chunk[i] = uniform() < frac
            i = chunk.find(2, i + 1)
        out += chunk
    return bytes(out)


def _batches(horizon: int, paths: int) -> List[range]:
    """The runs in batches small enough that a batch's outcomes (a byte a trade) stay
    within about 16 MB, whatever ``paths`` and the horizon."""
    size = max(8, min(paths, _BATCH_BYTES // max(1, horizon)))
    return [range(first, min(paths, first + size)) for first in range(0, paths, size)]


def _draw_rows(
    source: Bernoulli,
    horizon: int,
    runs: range,
    paths: int,
    base: int,
    label: str,
    progress: Optional[Progress],
) -> List[bytes]:
    """The outcomes of ``runs`` (run i seeded ``base + i``); ``progress`` is told as
    :func:`~.runs.simulate` tells it."""
    sizes = chunk_sizes(horizon)
    rng = random.Random()
    rows: List[bytes] = []
    for i in runs:
        if progress is not None and i % PROGRESS_EVERY == 0:
            progress(label, i, paths)
        rng.seed(base + i)  # as random.Random(base + i) is seeded
        rows.append(_draw(source, rng, sizes))
    return rows


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
    numbers, either sign), from trade ``start`` on; the walk starts at 0 and ``times[k]``
    records, per lane, the first trade at which ``S >= thresholds[k]``. The planes hold
    twice the largest step or threshold, so a lane below its thresholds never
    overflows; a lane past them may (only its first crossing is read), and lanes never
    mix.
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


def _at_least(planes: Sequence[int], threshold: int, full: int, signed: bool = True) -> int:
    """The lanes whose (non-negative) value is at least ``threshold``.

    ``signed``: the last plane is a sign (clear on every lane asked about).
    """
    bits = len(planes) - 1 if signed else len(planes)
    if threshold <= 0:
        return full
    if threshold >= 1 << bits:
        return 0
    greater, equal = 0, full
    for j in range(bits - 1, -1, -1):
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


def _criterion_of(
    scan: KillScan, source: Bernoulli, lanes: int, horizon: int
) -> Optional[_Criterion]:
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
        step = max(abs(loss_step), abs(win_step), 1e-300)
        big = max(step, abs(scan.threshold))
        steps = max(0, horizon - scan.skip)
        # A grid fine enough that the rounding margin below is about 2**-12 of a step,
        # so that few runs cross the threshold within it.
        grid = 2.0 ** (math.frexp(step)[1] - _EV_MARGIN_BITS - steps.bit_length())
        up, down = round(loss_step / grid), round(win_step / grid)
        # Rounding each step to the grid moves the walk and its running minimum by at
        # most steps * grid / 2 each; the floating-point walk is off the real one by far
        # less (steps**2 * big * 2**-53 for both); one more rounding in the subtraction.
        margin = steps * grid + 4.0 * steps * steps * big * 2.0**-53 + big * 2.0**-50
        low = math.ceil((scan.threshold - margin) / grid)
        high = math.ceil((scan.threshold + margin) / grid)
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
    if any(_criterion_of(scans[key], source, 1, horizon) is None for key in keys):
        return None
    base = seed_of(seed, label)
    firsts: Dict[Hashable, Dict[int, int]] = {key: {} for key in keys}
    for runs in _batches(horizon, paths):
        rows = _draw_rows(source, horizon, runs, paths, base, label, progress)
        for key, found in _kill_batch(scans, keys, source, rows, horizon).items():
            firsts[key].update((runs[lane], n) for lane, n in found.items())
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


def _kill_batch(
    scans: Mapping[Hashable, KillScan],
    keys: Sequence[Hashable],
    source: Bernoulli,
    rows: Sequence[bytes],
    horizon: int,
) -> Dict[Hashable, Dict[int, int]]:
    """Each criterion's first firing on each run of ``rows`` that fires (lane -> trade)."""
    lanes = len(rows)
    criteria: Dict[Hashable, _Criterion] = {}
    for key in keys:
        criterion = _criterion_of(scans[key], source, lanes, horizon)
        assert criterion is not None  # checked by the caller
        criteria[key] = criterion
    masks = lane_masks(rows, horizon)
    walks = [c.walk for c in criteria.values()]
    for n, won in enumerate(masks, 1):
        live = [w for w in walks if not w.done]
        if not live:
            break
        for walk in live:
            walk.step(n, won)
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
    return firsts


_BIT_OF = [bytes((b >> j) & 1 for b in range(256)) for j in range(8)]


def lane_rows(masks: Sequence[int], lanes: int) -> List[bytes]:
    """The inverse of :func:`lane_masks`: ``rows[i][t]`` is bit i of ``masks[t]`` (0 or 1)."""
    width = (lanes + 7) // 8
    joined = b"".join(m.to_bytes(width, "little") for m in masks)
    rows: List[bytes] = []
    for g in range(width):
        column = joined[g::width]
        for j in range(min(8, lanes - 8 * g)):
            rows.append(column.translate(_BIT_OF[j]))
    return rows


def _count_masks(
    masks: Sequence[int], leasts: Sequence[Sequence[int]], lanes: int
) -> List[List[int]]:
    """For each of ``leasts``, per trade n (index n - 1), the lanes whose wins after n
    trades reach ``least[n]``: the wins counts of all lanes, bit-sliced."""
    full = (1 << lanes) - 1
    planes = [0] * max(1, len(masks).bit_length())
    out: List[List[int]] = [[] for _ in leasts]
    for n, won in enumerate(masks, 1):
        carry = won
        for j, s in enumerate(planes):
            if not carry:
                break
            planes[j] = s ^ carry
            carry &= s
        for least, found in zip(leasts, out):
            found.append(_at_least(planes, least[n], full, signed=False))
    return out


def _exact_sums(values: Sequence[float], horizon: int) -> Optional[Tuple[List[int], float]]:
    """Whole numbers k and a power of two u with values = k * u, such that every sum of
    ``horizon`` of them is exact in floating point; None if there are none."""
    fractions = [Fraction(v) for v in values]
    denominator = math.lcm(*(f.denominator for f in fractions))
    units = [int(f * denominator) for f in fractions]
    if (horizon * max(abs(k) for k in units)).bit_length() > 52 or denominator > 2**60:
        return None
    return units, 1.0 / denominator


class TwoPointBetting:
    """The EV betting test of a confidence gate (:class:`~quant_rollout.gates.ev.BettingScan`)
    on runs of two outcomes, each trade of the same size.

    The test's running sums are then functions of (trades, wins) — exactly, when the
    two outcomes' pnl, size and their products are whole multiples of a power of two
    that no sum of ``horizon`` of them rounds — so the bet before each trade is one of
    a table's cells, computed once for every run of a row that reaches it, and the
    trades on which no bet is placed (the running mean at or below the bar) are skipped
    without arithmetic. Every step is the scan's own floating-point operation, in its
    order: the rejection trade is the scan's to the bit.
    """

    def __init__(self, scan: BettingScan, source: Bernoulli, horizon: int) -> None:
        self.ok = False
        loss_pnl, win_pnl = source.pnls
        size = source.size
        quantities = [
            loss_pnl,
            win_pnl,
            size,
            loss_pnl * loss_pnl,
            win_pnl * win_pnl,
            loss_pnl * size,
            win_pnl * size,
            size * size,
        ]
        if size <= 0.0 or not all(math.isfinite(q) for q in quantities) or win_pnl <= loss_pnl:
            return
        exact = _exact_sums(quantities, horizon)
        if exact is None:
            return
        (lp, wp, sz, lp2, wp2, ls, ws, s2), unit = exact
        self.ok = True
        self.scan = scan
        self.unit = unit
        self.size = size
        self.by_count = (lp, sz, lp2, ls, s2)  # each trade's part when it loses
        self.by_win = (wp - lp, wp2 - lp2, ws - ls)  # what a win adds instead
        b = scan.bar
        self.x = (loss_pnl / size - b, win_pnl / size - b)
        self.voids = (loss_pnl < size * scan.floor, win_pnl < size * scan.floor)
        self.cells: Dict[int, Tuple[float, float]] = {}
        self.stride = horizon + 1
        self.offsets = range(0, self.stride * (horizon + 1), self.stride)  # c * stride
        self.least_bet = least_wins(horizon, lambda c, w: c > 0 and self._numerator(c, w) > 0.0)

    def _sums(self, c: int, w: int) -> Tuple[float, float, float, float, float]:
        """The test's five running sums after c trades with w wins (exact, see above)."""
        lp, sz, lp2, ls, s2 = self.by_count
        dp, dp2, ds = self.by_win
        u = self.unit
        return (
            float(c * lp + w * dp) * u,
            float(c * sz) * u,
            float(c * lp2 + w * dp2) * u,
            float(c * ls + w * ds) * u,
            float(c * s2) * u,
        )

    def _numerator(self, c: int, w: int) -> float:
        sum_pnl, sum_size, _, _, _ = self._sums(c, w)
        return (sum_pnl - self.scan.bar * sum_size) * self.scan.scale

    def _cell(self, c: int, w: int) -> Tuple[float, float]:
        """log1p of the bet's outcome before trade c + 1 after w wins: (if lost, if won)."""
        scan = self.scan
        b, scale = scan.bar, scan.scale
        lp, sz, lp2, ls, s2 = self.by_count
        dp, dp2, ds = self.by_win
        u = self.unit
        sum_pnl = float(c * lp + w * dp) * u
        sum_size = float(c * sz) * u
        sum_pnl2 = float(c * lp2 + w * dp2) * u
        sum_pnl_size = float(c * ls + w * ds) * u
        sum_size2 = float(c * s2) * u
        numerator = (sum_pnl - b * sum_size) * scale
        mean_size = sum_size / c
        second = sum_pnl2 - 2.0 * b * sum_pnl_size + b * b * sum_size2
        if second < 0.0:
            second = 0.0
        bet = self.size * numerator / (second * scale * scale + mean_size * mean_size)
        if bet > scan.max_bet:
            bet = scan.max_bet
        # An outcome that voids the test is never bet on (the replay stops before it).
        loss_x, win_x = self.x
        lost = math.nan if self.voids[0] else math.log1p(bet * loss_x * scale)
        won = math.nan if self.voids[1] else math.log1p(bet * win_x * scale)
        return lost, won

    def first_void(self, outcomes: bytes) -> Optional[int]:
        """The first trade that voids the test, or None."""
        found = [outcomes.find(o) for o in (0, 1) if self.voids[o]]
        found = [i for i in found if i >= 0]
        return min(found) + 1 if found else None

    def rejection(self, outcomes: bytes, bets: bytes, last: int) -> Optional[int]:
        """The trade at which the test rejects, following trades 1..last, or None.

        ``bets[c]`` is 1 when the test bets on trade c + 1 (the wins before it reach
        ``least_bet[c]``). Followed in growing blocks up to the last bet, so a run that
        rejects early, or stops betting early, costs little.
        """
        stop = bets.rfind(1, 0, last) + 1
        cells, stride, cell, offsets = self.cells, self.stride, self._cell, self.offsets
        threshold = self.scan.threshold
        log_wealth = 0.0
        start, wins, block = 0, 0, _FIRST_BLOCK
        while start < stop:
            end = min(stop, start + block)
            placed = bets[start:end]
            if 1 in placed:
                # cum[c - start]: wins before trade c + 1, for c in [start, end).
                cum = accumulate(outcomes[start : end - 1], initial=wins)
                # A bet's cell key, c * stride + w, with the outcome it is settled by.
                keys = map(add, compress(offsets[start:end], placed), compress(cum, placed))
                for key, outcome in zip(keys, compress(outcomes[start:end], placed)):
                    pair = cells.get(key)
                    if pair is None:
                        pair = cells[key] = cell(*divmod(key, stride))
                    log_wealth += pair[outcome]
                    if log_wealth >= threshold:
                        return int(key) // stride + 1
            wins += outcomes.count(1, start, end)
            start, block = end, 2 * block
        return None


_BETTINGS_KEPT = 2  # tests (with their cells) kept for the next row of the same gate
_bettings: Dict[Tuple[object, ...], TwoPointBetting] = {}
_bettings_lock = threading.Lock()  # plan() may run in several threads (the dashboard)


def _betting(scan: BettingScan, source: Bernoulli, horizon: int) -> TwoPointBetting:
    """The test for ``scan`` on ``source``'s payoff; the rows of one gate (one per win
    rate) share it, and with it the cells they have in common."""
    key = (
        scan.bar,
        scan.floor,
        scan.scale,
        scan.threshold,
        scan.max_bet,
        source.pnls,
        source.size,
        horizon,
    )
    with _bettings_lock:
        betting = _bettings.get(key)
        if betting is None:
            betting = TwoPointBetting(scan, source, horizon)
            while len(_bettings) >= _BETTINGS_KEPT:
                del _bettings[next(iter(_bettings))]
            _bettings[key] = betting
    return betting


def _betting_of(rule: GateRule, source: Bernoulli, horizon: int) -> Optional[List[TwoPointBetting]]:
    lazy = rule.lazy()
    out: List[TwoPointBetting] = []
    for scan in lazy:
        if not isinstance(scan, SequentialGateScan) or not isinstance(scan.scan, BettingScan):
            return None
        betting = _betting(scan.scan, source, horizon)
        if not betting.ok:
            return None
        out.append(betting)
    return out


def _gate_time(
    outcomes: bytes, held: bytes, bettings: Sequence[TwoPointBetting], bets: Sequence[bytes]
) -> Optional[int]:
    """A run's passing trade: the first n where the counts hold (``held[n - 1]``) and
    every betting test has rejected and is not void; None within the horizon."""
    first = held.find(1)
    if first < 0 or not bettings:
        return None if first < 0 else first + 1
    horizon = len(held)
    last = held.rfind(1) + 1
    on, off = 1, horizon + 1
    for betting, placed in zip(bettings, bets):
        void = betting.first_void(outcomes)
        if void is not None:
            off = min(off, void)
        rejected = betting.rejection(outcomes, placed, min(last, off - 1))
        on = max(on, horizon + 1 if rejected is None else rejected)
    found = held.find(1, on - 1, off - 1) if on < off else -1
    return None if found < 0 else found + 1


def simulate_gate_lanes(
    source: Bernoulli,
    rule: GateRule,
    horizon: int,
    paths: int,
    seed: int,
    label: str,
    progress: Optional[Progress] = None,
) -> Optional[List[List[Optional[int]]]]:
    """What :func:`~.runs.simulate` returns for a gate on Bernoulli runs, or None when
    its criteria are not wins counts and betting tests this module follows."""
    if rule.passes_at_zero:
        return None
    least = [0] * (horizon + 1)
    for scan in rule.scans():
        if not isinstance(scan, LeastWins):
            return None
        least = [max(a, b) for a, b in zip(least, scan.least[: horizon + 1])]
    if len(least) < horizon + 1:
        return None
    bettings = _betting_of(rule, source, horizon)
    if bettings is None:
        return None
    base = seed_of(seed, label)
    leasts = [least, *(b.least_bet for b in bettings)]
    times: List[Optional[int]] = []
    for runs in _batches(horizon, paths):
        rows = _draw_rows(source, horizon, runs, paths, base, label, None)
        counted = _count_masks(lane_masks(rows, horizon), leasts, len(rows))
        cheap = lane_rows(counted[0], len(rows))
        # bet_rows[k][i][c]: test k bets on trade c + 1 of run i (wins after c trades).
        bet_rows = [lane_rows([0, *found[: horizon - 1]], len(rows)) for found in counted[1:]]
        for i, (outcomes, held) in enumerate(zip(rows, cheap)):
            if progress is not None and runs[i] % PROGRESS_EVERY == 0:
                progress(label, runs[i], paths)
            times.append(_gate_time(outcomes, held, bettings, [b[i] for b in bet_rows]))
    if progress is not None:
        progress(label, paths, paths)
    return [times]
