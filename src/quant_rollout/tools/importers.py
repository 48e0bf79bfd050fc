"""Read closed-trade histories in the formats bots already write.

:func:`read_trades` turns a file into a :class:`TradeHistory`: the trades as
:class:`~quant_rollout.trades.TradeOutcome` sorted by the time they were opened (a
stable sort, so trades opened at the same instant keep their order in the file),
plus the rows that were left out and why.

Formats (``format=``):

``csv``
    A header row, then one trade per row. The pnl, size and time columns are named
    with ``pnl=``, ``size=`` and ``time=``, or found in the header from
    :data:`PNL_COLUMNS`, :data:`SIZE_COLUMNS` and :data:`TIME_COLUMNS` (first match
    wins, case-insensitive). Read as UTF-8 (a byte-order mark is ignored).
``jsonl``
    One JSON object per line (JSON lines / NDJSON); blank lines are ignored. Same
    column mapping as CSV; without one, the keys are found in the first object.
``freqtrade``
    A freqtrade backtest result: the trades under ``strategy -> <name> -> trades``.
    freqtrade 2026 writes ``backtest-result-<ts>.zip`` (the results JSON inside) with
    ``backtest-result-<ts>.meta.json`` and ``.last_result.json`` beside it: pass the
    zip, the folder or its ``.last_result.json`` (both read the latest result they
    name), or an older plain ``backtest-result-*.json``. A ``.meta.json`` is refused:
    it holds no trades. pnl is ``profit_abs`` (stake currency). time is ``open_date``
    or, when a trade has no ``open_date``, ``open_timestamp`` (milliseconds). With
    several strategies in the result, ``strategy=`` must pick one.
``freqtrade-sqlite``
    The live bot's database (``tradesv3.sqlite``), table ``trades``; only closed
    trades (``is_open = 0``). pnl is ``close_profit_abs``: the trade's whole realized
    profit in stake currency, after fees and including partial exits, the column
    freqtrade itself sums for its closed profit (``realized_profit`` is the running
    total of partial exits, meant for open trades). time is ``open_date``, naive UTC
    text. A database holding the closed trades of several strategies needs
    ``strategy=``: mixing them would judge neither. Reading writes nothing beside the
    database, so it works in a folder the user cannot write: freqtrade keeps the
    database in WAL mode, and SQLite would add ``-wal`` and ``-shm`` files to read
    it. Without a ``-wal`` beside it (the bot is stopped, or this is a copy) every
    committed trade is in the file, which is read as immutable (nothing created,
    and re-read if it changed meanwhile); with one (a running bot), in place when
    its ``-shm`` may be written, else from a private temporary copy of both.

Size of a freqtrade trade (both formats), by default: the largest stake the trade
held, ``max_stake_amount`` (``stake_amount`` in older files without it), times
``1 + fee_open`` for a long or ``1 - fee_open`` for a short. That is exactly what
freqtrade divides by for its ``profit_ratio``, so ``pnl / size`` is freqtrade's
ratio trade by trade, and EV per dollar is in freqtrade's terms.
``stake_amount`` alone is wrong after partial exits: freqtrade lowers it to what was
left in the trade before the last exit, and those trades' ratios come out up to
twice freqtrade's. For futures and margin trades the stake is the **margin** (the
position's value divided by the leverage), so the size is the margin put up and
pnl/size the return on it, as in freqtrade's report (a 1% move at 3x is about 3%).
``size=`` names a column instead, used as it is (no fee rule).
:attr:`TradeHistory.size_column` says which rule was used.
``auto`` (default)
    By extension: ``.csv``; ``.jsonl`` or ``.ndjson``; ``.json`` or ``.zip`` (a
    freqtrade backtest result, which must have a ``strategy`` key); ``.sqlite``,
    ``.sqlite3`` or ``.db`` (a freqtrade database); a folder holding freqtrade's
    ``.last_result.json``.

Time zone: a timestamp without an offset is UTC. Timestamps are ISO-8601 text, or
Unix seconds when a JSON number or a plain number in the text (freqtrade's
``open_timestamp`` is milliseconds). A Unix time outside 2000–2099 is refused as a
likely unit mistake.

Metadata: every other column of a row is kept in ``TradeOutcome.metadata``, as the
file gives it (CSV: text; JSON: the parsed value; SQLite: what the column holds), so
a trade can be traced back to the bot's own records. ``metadata_columns=`` keeps
only the listed ones; ``()`` keeps none (less memory on a million rows).

Errors: every problem is a :class:`~quant_rollout.errors.TradeFileError` (a
``ValueError``) naming the file, the line (CSV, JSON lines), the trade
(``trades[3]``, ``trade id 12``), the column and the value, and what to do. A row
with a bad value (a number that is empty, not a number, NaN or infinite, a negative
size, a date that cannot be read, a key missing from a JSON object, a CSV row with
the wrong number of fields, a line that is not a JSON object) raises unless
``skip_bad=True``, which leaves the row out and lists it in
:attr:`TradeHistory.skipped`. Problems with the file as a whole always raise: no
such file, a header without the named column, a freqtrade file without the
strategy asked for, a database without a ``trades`` table. Messages quote at most a
short excerpt of the file: a list of column names is cut after a few hundred
characters, and a "name" that does not look like one (a JSON document or a secrets
file read as CSV) is shown by its length only.

An empty CSV or JSON-lines file (no bytes, or only blank lines) and a CSV file with
only a header are an empty history, not an error: a bot that has not closed a trade
yet writes exactly that. A freqtrade backtest result must be JSON with a
``strategy`` key, and a database must have a ``trades`` table.

CSV, JSON lines and SQLite are read one row at a time; only the trades are kept in
memory (a million CSV rows took about 13 s and 0.6 GB in our measurement, half of
the time in building the ``TradeOutcome`` objects). A freqtrade backtest result is
one JSON document and is read whole.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import (
    IO,
    Any,
    Dict,
    FrozenSet,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from ..errors import InvalidTradeError, TradeFileError
from ..trades import TimestampLike, TradeOutcome, format_instant

__all__ = [
    "FORMATS",
    "PNL_COLUMNS",
    "SIZE_COLUMNS",
    "TIME_COLUMNS",
    "SkippedRow",
    "TradeHistory",
    "read_trades",
]

FORMATS: Tuple[str, ...] = ("auto", "csv", "jsonl", "freqtrade", "freqtrade-sqlite")
"""The values ``read_trades(format=...)`` accepts."""

PNL_COLUMNS: Tuple[str, ...] = ("pnl", "pnl_usd", "profit", "profit_abs")
"""Columns tried, in order, for the profit or loss of a CSV or JSON-lines trade."""

SIZE_COLUMNS: Tuple[str, ...] = ("size", "size_usd", "stake_amount", "stake")
"""Columns tried, in order, for the size (capital at risk) of a CSV or JSON-lines trade."""

TIME_COLUMNS: Tuple[str, ...] = ("timestamp", "open_time", "entry_time", "open_date", "time")
"""Columns tried, in order, for the opening time of a CSV or JSON-lines trade."""

_EXTENSIONS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "freqtrade",
    ".zip": "freqtrade",
    ".sqlite": "freqtrade-sqlite",
    ".sqlite3": "freqtrade-sqlite",
    ".db": "freqtrade-sqlite",
}

LAST_RESULT = ".last_result.json"
"""The file freqtrade writes beside its results, naming the latest one."""

_META_SUFFIX = ".meta.json"

# Unix times outside these bounds are almost always a unit mistake (milliseconds read
# as seconds, or a compact date such as 20260328 read as a number).
_UNIX_S_MIN = 946_684_800  # 2000-01-01T00:00:00Z
_UNIX_S_MAX = 4_102_444_800  # 2100-01-01T00:00:00Z
_US_MIN = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z: the range of datetime
_US_MAX = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z

_PLAIN_NUMBER = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_SHOW_MAX = 60
# Lists of column or key names in messages: a few short names, so that a file read in
# the wrong format (a JSON document as CSV, a secrets file) is not echoed whole.
_NAMES_MAX = 40
_NAMES_BUDGET = 300
_NAME_MAX = 40
_NAME_LIKE = re.compile(r"^[A-Za-z0-9_. ()%$/#-]*$")


@dataclass(frozen=True)
class _Spelling:
    """How advice names the caller's options: Python arguments, or command-line flags."""

    flags: bool = False

    def option(self, name: str, value: Optional[str] = None) -> str:
        """``strategy=`` / ``format='jsonl'``, or ``--strategy`` / ``--format jsonl``."""
        if self.flags:
            flag = "--" + name.replace("_", "-")
            return flag if value is None else f"{flag} {value}"
        return f"{name}=" if value is None else f"{name}={value!r}"

    def skip_bad(self) -> str:
        return "--skip-bad" if self.flags else "skip_bad=True"

    def bad_row_advice(self) -> str:
        listed = "counted in the output" if self.flags else "listed in TradeHistory.skipped"
        return f"Fix the row, or pass {self.skip_bad()} to leave bad rows out (they are {listed})."


_PYTHON = _Spelling(flags=False)
_FLAGS = _Spelling(flags=True)


@dataclass(frozen=True)
class SkippedRow:
    """A row left out because it could not be read (only with ``skip_bad=True``).

    Attributes:
        row: where the row is. CSV and JSON lines: the line number in the file,
            1-based (the CSV header is line 1). freqtrade backtest: the position in
            the strategy's ``trades`` list, 0-based as in ``trades[3]``. freqtrade
            database: the trade's ``id``.
        reason: what is wrong, naming the place, the column and the value, e.g.
            ``"line 7, column 'pnl': 'abc' is not a number"``.
    """

    row: int
    reason: str


@dataclass(frozen=True)
class TradeHistory:
    """The closed trades read from one file.

    Attributes:
        trades: the trades, sorted by opening time (``TradeOutcome.instant_us``, UTC);
            trades opened at the same instant keep their order in the file.
        source: the path as given to :func:`read_trades`.
        format: the format it was read as (never ``"auto"``): one of :data:`FORMATS`.
        skipped: rows left out with ``skip_bad=True``, in file order; empty otherwise.
        pnl_column: the column the pnl came from (``None`` when the file had no
            rows to find it in).
        size_column: the column the size came from (or ``None``, as above).
        time_column: the column the opening time came from; ``"open_date"`` or
            ``"open_timestamp"`` for a freqtrade backtest, or both joined by ``" or "``
            when trades used either (or ``None``, as above).
        strategy: freqtrade only: the strategy whose trades these are, the one given
            or the only one in the file or database; ``None`` for CSV and JSON lines,
            and for a database whose trades name no strategy.
        read_from: the file actually read when it is not ``source``: the backtest
            result that a freqtrade folder's (or the given) ``.last_result.json`` names;
            ``None`` otherwise.
    """

    trades: Tuple[TradeOutcome, ...]
    source: str
    format: str
    skipped: Tuple[SkippedRow, ...] = ()
    pnl_column: Optional[str] = None
    size_column: Optional[str] = None
    time_column: Optional[str] = None
    strategy: Optional[str] = None
    read_from: Optional[str] = None


def read_trades(
    path: Union[str, os.PathLike[str]],
    *,
    format: str = "auto",
    pnl: Optional[str] = None,
    size: Optional[str] = None,
    time: Optional[str] = None,
    skip_bad: bool = False,
    strategy: Optional[str] = None,
    metadata_columns: Optional[Sequence[str]] = None,
    arm: Optional[str] = None,
) -> TradeHistory:
    """Read a closed-trade history file into trades sorted by opening time.

    Args:
        path: the file.
        format: one of :data:`FORMATS`; ``"auto"`` goes by the file's extension (see
            the module documentation).
        pnl: the column holding each trade's profit or loss, in account currency.
            Default: CSV and JSON lines, the first of :data:`PNL_COLUMNS` present;
            freqtrade ``profit_abs``; freqtrade database ``close_profit_abs``.
        size: the column holding the capital put at risk (same currency, ``>= 0``).
            Default: :data:`SIZE_COLUMNS`; for freqtrade, the trade's largest stake
            with its entry fee (see the module documentation).
        time: the column holding when the trade was opened: ISO-8601 text (no offset
            means UTC) or Unix seconds. Default: :data:`TIME_COLUMNS`, or
            ``open_date`` for freqtrade (then ``open_timestamp``, in milliseconds,
            for a backtest trade without ``open_date``).
        skip_bad: leave rows that cannot be read out of the history and list them in
            :attr:`TradeHistory.skipped`, instead of raising on the first one.
        strategy: freqtrade only: the strategy to read. A backtest result or a
            database holding several strategies needs it.
        metadata_columns: the other columns to keep in each trade's metadata;
            ``None`` (default) keeps them all, ``()`` none.
        arm: the column naming the experiment arm each trade ran under; its value is
            kept as text in ``metadata["arm"]``, where experiment stages read it. A row
            without it is a bad row. Default: none (a column called ``arm`` is kept in
            the metadata like any other).

    Returns:
        A :class:`TradeHistory`.

    Raises:
        TradeFileError: the file is missing or unreadable, its format is unknown or
            it is malformed, a column is missing, the strategy is missing or was not
            given, or (without ``skip_bad``) a row holds a bad value. The message
            names the file, the line or trade, the column and the value.
    """
    return _read_trades(
        path,
        format=format,
        pnl=pnl,
        size=size,
        time=time,
        skip_bad=skip_bad,
        strategy=strategy,
        metadata_columns=metadata_columns,
        arm=arm,
        spelling=_PYTHON,
    )


def _read_trades(
    path: Union[str, os.PathLike[str]],
    *,
    format: str = "auto",
    pnl: Optional[str] = None,
    size: Optional[str] = None,
    time: Optional[str] = None,
    skip_bad: bool = False,
    strategy: Optional[str] = None,
    metadata_columns: Optional[Sequence[str]] = None,
    arm: Optional[str] = None,
    spelling: _Spelling = _FLAGS,
) -> TradeHistory:
    """:func:`read_trades`, with advice naming options as ``spelling`` says.

    The command line calls this with the default, so its errors say ``--skip-bad`` and
    ``--strategy`` where the library's say ``skip_bad=True`` and ``strategy=``.
    """
    source = os.fspath(path)
    if not isinstance(source, str):
        raise TradeFileError(f"{source!r}: give the path as text, not bytes")
    for name, value in (
        ("pnl", pnl),
        ("size", size),
        ("time", time),
        ("strategy", strategy),
        ("arm", arm),
    ):
        if value is not None and (not isinstance(value, str) or not value):
            raise TradeFileError(f"{source}: {name} must be a column name, got {value!r}")
    if isinstance(metadata_columns, str):
        metadata_columns = (metadata_columns,)
    keep = None if metadata_columns is None else tuple(metadata_columns)

    file = Path(source)
    if not file.exists():
        raise TradeFileError(f"{source}: no such file; check the path")

    fmt = _resolve_format(source, format, spelling)
    if strategy is not None and fmt in ("csv", "jsonl"):
        raise TradeFileError(
            f"{source}: {spelling.option('strategy', strategy)} applies only to freqtrade "
            f"files, but the file is read as {fmt}; leave {spelling.option('strategy')} out, "
            f"or pass {spelling.option('format', 'freqtrade')}"
        )
    target = source
    if fmt == "freqtrade":
        target = _freqtrade_result_file(source, spelling)
    elif file.is_dir():
        raise TradeFileError(f"{source}: is a directory, not a trade file")
    sink = _Sink(target, fmt, skip_bad, keep, spelling, arm)
    if fmt == "csv":
        _read_csv(sink, pnl, size, time)
    elif fmt == "jsonl":
        _read_jsonl(sink, pnl, size, time)
    elif fmt == "freqtrade":
        _read_freqtrade(sink, pnl, size, time, strategy, auto=format == "auto")
    else:
        _read_freqtrade_sqlite(sink, pnl, size, time, strategy)
    return sink.history(source)


def _resolve_format(source: str, fmt: str, spelling: _Spelling) -> str:
    if fmt not in FORMATS:
        raise TradeFileError(
            f"{source}: unknown format {_show(fmt)}; use one of {', '.join(map(repr, FORMATS))}"
        )
    if fmt != "auto":
        return fmt
    if os.path.isdir(source):
        if os.path.isfile(os.path.join(source, LAST_RESULT)):
            return "freqtrade"  # freqtrade's backtest folder: read its latest result
        raise TradeFileError(
            f"{source}: is a directory, not a trade file (and no freqtrade {LAST_RESULT} "
            "in it names a backtest result); pass the file"
        )
    ext = os.path.splitext(source)[1].lower()
    found = _EXTENSIONS.get(ext)
    if found is None:
        known = ", ".join(sorted(_EXTENSIONS))
        formats = " or ".join(f for f in FORMATS if f != "auto")
        raise TradeFileError(
            f"{source}: cannot tell the format from the extension {_show(ext or '(none)')} "
            f"(known: {known}); pass {spelling.option('format', 'FORMAT')} with FORMAT {formats}"
            if spelling.flags
            else f"{source}: cannot tell the format from the extension "
            f"{_show(ext or '(none)')} (known: {known}); pass format= one of "
            f"{', '.join(repr(f) for f in FORMATS if f != 'auto')}"
        )
    return found


def _freqtrade_result_file(source: str, spelling: _Spelling) -> str:
    """The backtest result to read for ``source``: the file itself, or the one that a
    folder's (or the given) ``.last_result.json`` names; refuse a ``.meta.json``."""
    folder, name = os.path.split(source)
    if os.path.isdir(source):
        folder, name = source, LAST_RESULT
        pointer = os.path.join(source, LAST_RESULT)
        if not os.path.isfile(pointer):
            raise TradeFileError(
                f"{source}: is a directory without freqtrade's {LAST_RESULT}; pass a "
                "backtest-result-*.zip (or .json) file"
            )
    elif name.endswith(_META_SUFFIX):
        stem = name[: -len(_META_SUFFIX)]
        beside = [
            stem + ext
            for ext in (".zip", ".json")
            if os.path.isfile(os.path.join(folder, stem + ext))
        ]
        read = (
            f"read {os.path.join(folder, beside[0])} instead"
            if beside
            else (f"read the {stem}.zip (or .json) it describes")
        )
        raise TradeFileError(
            f"{source}: is freqtrade's metadata about a backtest (run id, time range), not "
            f"its trades; {read}, or the folder to read the latest result"
        )
    if name != LAST_RESULT:
        return source
    pointer = os.path.join(folder, LAST_RESULT)
    try:
        with open(pointer, encoding="utf-8") as stream:
            latest = json.load(stream).get("latest_backtest")
    except (OSError, ValueError, AttributeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise TradeFileError(
            f"{pointer}: cannot read freqtrade's pointer to the latest backtest ({reason}); "
            "pass a backtest-result-*.zip (or .json) file"
        ) from None
    if (
        not isinstance(latest, str)
        or not latest
        or os.path.basename(latest) != latest
        or latest in (".", "..")
    ):
        raise TradeFileError(
            f"{pointer}: 'latest_backtest' should name a file in the same folder, got "
            f"{_show(latest)}; pass a backtest-result-*.zip (or .json) file"
        )
    target = os.path.join(folder, latest)
    if not os.path.isfile(target):
        raise TradeFileError(
            f"{pointer}: names {latest!r} as the latest backtest, but {target} is not there; "
            "pass a backtest-result-*.zip (or .json) file"
        )
    return target


# --------------------------------------------------------------------------- rows


class _BadRowError(Exception):
    """One row cannot be read; ``column`` is ``None`` when the row as a whole is wrong."""

    def __init__(self, text: str, column: Optional[str] = None) -> None:
        super().__init__(text)
        self.text = text
        self.column = column


@dataclass(frozen=True)
class _Columns:
    """Where pnl, size and time are in a row; ``time`` is tried in order."""

    pnl: str
    size: str
    time: Tuple[str, ...]
    time_in_ms: FrozenSet[str] = frozenset()
    # freqtrade's default: the largest stake (``max_stake_amount``, or ``stake_amount``
    # in files older than it) with the entry fee, as freqtrade's profit_ratio divides by.
    size_fallback: Tuple[str, ...] = ()
    size_with_fee: bool = False


def _show(value: object) -> str:
    text = repr(value)
    if len(text) > _SHOW_MAX:
        text = text[: _SHOW_MAX - 5] + "...'" if isinstance(value, str) else text[:_SHOW_MAX]
    return text


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(raw: object, column: str) -> float:
    # The usual case first: this runs twice for every row of a large file.
    if isinstance(raw, (str, float, int)) and not isinstance(raw, bool):
        try:
            value = float(raw)
        except (ValueError, OverflowError):
            pass
        else:
            if math.isfinite(value):
                return value
            raise _BadRowError(f"{_show(raw)} is not a finite number", column)
    if _is_empty(raw):
        raise _BadRowError(f"{_show(raw)} is empty; a number is needed", column)
    raise _BadRowError(f"{_show(raw)} is not a number", column)


def _unix_seconds(raw: object, seconds: float, column: str) -> float:
    if not _UNIX_S_MIN <= seconds < _UNIX_S_MAX:
        raise _BadRowError(
            f"{_show(raw)} is not a Unix time in seconds between 2000 and 2099; "
            "if it is in milliseconds, divide by 1000, or write ISO-8601 text",
            column,
        )
    return seconds


def _timestamp(raw: object, column: str, in_ms: bool) -> TimestampLike:
    if isinstance(raw, str) and not in_ms:
        if ":" in raw:
            return raw  # ISO-8601 with a time of day; TradeOutcome reads and checks it
        if not raw.strip():
            raise _BadRowError(f"{_show(raw)} is empty; a date is needed", column)
        if _PLAIN_NUMBER.match(raw):
            return _unix_seconds(raw, _number(raw, column), column)
        return raw
    if _is_empty(raw):
        raise _BadRowError(f"{_show(raw)} is empty; a date is needed", column)
    if isinstance(raw, bool):
        raise _BadRowError(f"{raw!r} is not a date", column)
    if in_ms:
        ms = _number(raw, column)
        if not _UNIX_S_MIN * 1000 <= ms < _UNIX_S_MAX * 1000:
            raise _BadRowError(
                f"{_show(raw)} is not a Unix time in milliseconds between 2000 and 2099",
                column,
            )
        return format_instant(round(ms * 1000))
    if isinstance(raw, (int, float)):
        return _unix_seconds(raw, _number(raw, column), column)
    raise _BadRowError(f"{_show(raw)} is not a date", column)


def _trade(
    fields: Mapping[str, Any],
    columns: _Columns,
    keep: Optional[Tuple[str, ...]],
    noun: str,
    arm: Optional[str] = None,
) -> Tuple[TradeOutcome, str, str]:
    """Return the row as a trade and the time and size columns used; raise _BadRowError."""
    size_column = columns.size
    for column in columns.size_fallback:
        # An older freqtrade file or database has no (or an empty) max_stake_amount.
        if not _is_empty(fields.get(column)) and fields.get(column) != 0:
            size_column = column
            break
    for column in (columns.pnl, size_column):
        if column not in fields:
            raise _BadRowError(_no_column(noun, column, fields))
    pnl = _number(fields[columns.pnl], columns.pnl)
    size = _number(fields[size_column], size_column)
    if size < 0:
        raise _BadRowError(
            f"{_show(fields[size_column])} is negative; the size is the capital put at "
            "risk and must be >= 0",
            size_column,
        )
    if columns.size_with_fee:
        size *= _entry_fee_factor(fields)
    time_column = next((c for c in columns.time if fields.get(c) is not None), None)
    if time_column is None:
        time_column = next((c for c in columns.time if c in fields), None)
        if time_column is None:
            raise _BadRowError(_no_column(noun, " or ".join(map(repr, columns.time)), fields, True))
    raw_time = fields[time_column]
    stamp = _timestamp(raw_time, time_column, time_column in columns.time_in_ms)
    if keep is None:
        used = (columns.pnl, size_column, time_column)
        metadata = {k: v for k, v in fields.items() if k not in used}
    else:
        metadata = {k: fields[k] for k in keep if k in fields}
    if arm is not None:
        if _is_empty(fields.get(arm)):
            raise _BadRowError(f"no arm: the {noun} {arm!r} is missing or empty", arm)
        metadata["arm"] = str(fields[arm])
    try:
        trade = TradeOutcome(pnl, size, stamp, metadata)
    except InvalidTradeError:
        # pnl and size were checked above, so only the timestamp can be wrong.
        raise _BadRowError(
            f"{_show(raw_time)} is not a date: write ISO-8601 such as "
            "'2026-03-28T16:06:29+00:00' (no offset means UTC) or Unix seconds",
            time_column,
        ) from None
    if not _US_MIN <= trade.instant_us <= _US_MAX:
        raise _BadRowError(f"{_show(raw_time)} is out of the range of dates", time_column)
    return trade, time_column, size_column


def _entry_fee_factor(fields: Mapping[str, Any]) -> float:
    """``1 + fee_open`` for a long, ``1 - fee_open`` for a short: freqtrade's open value.

    freqtrade's ``profit_ratio`` (``close_profit``) divides the profit by what the
    entries cost, fee included (for a short, less the fee), per unit of leverage; the
    stake columns leave the fee out. So the size times this factor gives back exactly
    freqtrade's ratio.
    """
    if "fee_open" not in fields:
        raise _BadRowError(_no_column("key", "fee_open", fields))
    fee = _number(fields["fee_open"], "fee_open")
    if not 0 <= fee < 1:
        raise _BadRowError(f"{_show(fields['fee_open'])} is not a fee between 0 and 1", "fee_open")
    short = fields.get("is_short")
    if short in (True, 1, "1", "true", "True"):
        return 1.0 - fee
    return 1.0 + fee


def _looks_like(names: Sequence[str]) -> str:
    """A hint when a header is plainly not one: the first line of a JSON document."""
    first = names[0].lstrip() if names else ""
    if first.startswith(("{", "[")):
        return "; the file looks like JSON: pass the jsonl or freqtrade format"
    return ""


def _no_column(noun: str, column: str, fields: Mapping[str, Any], quoted: bool = False) -> str:
    names = _names(list(fields))
    wanted = column if quoted else repr(column)
    return f"no {noun} {wanted}; the row has {names}"


class _Sink:
    """Collects trades and skipped rows, and turns bad rows into errors."""

    def __init__(
        self,
        source: str,
        fmt: str,
        skip_bad: bool,
        keep: Optional[Tuple[str, ...]],
        spelling: _Spelling = _PYTHON,
        arm: Optional[str] = None,
    ) -> None:
        self.arm = arm
        self.source = source
        self.spelling = spelling
        self.strategy: Optional[str] = None
        self.format = fmt
        self.skip_bad = skip_bad
        self.keep = keep
        self.noun = "key" if fmt in ("jsonl", "freqtrade") else "column"
        self.trades: List[TradeOutcome] = []
        self.skipped: List[SkippedRow] = []
        self.columns: Optional[_Columns] = None
        self.time_used: Dict[str, None] = {}  # an ordered set
        self.size_used: Dict[str, None] = {}

    def add(self, row: int, where: str, fields: Mapping[str, Any]) -> None:
        assert self.columns is not None
        try:
            trade, time_column, size_column = _trade(
                fields, self.columns, self.keep, self.noun, self.arm
            )
        except _BadRowError as exc:
            self.bad(row, where, exc)
            return
        self.trades.append(trade)
        if time_column not in self.time_used:
            self.time_used[time_column] = None
        if size_column not in self.size_used:
            self.size_used[size_column] = None

    def reset(self) -> None:
        """Forget what was read, to read the file again from the start."""
        self.trades.clear()
        self.skipped.clear()
        self.columns = None
        self.strategy = None
        self.time_used.clear()
        self.size_used.clear()

    def bad(self, row: int, where: str, exc: _BadRowError) -> None:
        column = "" if exc.column is None else f", {self.noun} {exc.column!r}"
        reason = f"{where}{column}: {exc.text}"
        if not self.skip_bad:
            raise TradeFileError(f"{self.source}, {reason}. {self.spelling.bad_row_advice()}")
        self.skipped.append(SkippedRow(row, reason))

    def fail(self, text: str) -> TradeFileError:
        return TradeFileError(f"{self.source}: {text}")

    def history(self, given: str) -> TradeHistory:
        self.trades.sort(key=attrgetter("instant_us"))
        columns = self.columns
        return TradeHistory(
            trades=tuple(self.trades),
            source=given,
            format=self.format,
            skipped=tuple(self.skipped),
            pnl_column=None if columns is None else columns.pnl,
            size_column=None if columns is None else _size_column(columns, self.size_used),
            time_column=None if columns is None else _time_column(columns, self.time_used),
            strategy=self.strategy,
            read_from=None if self.source == given else self.source,
        )


def _size_column(columns: _Columns, used: Mapping[str, None]) -> str:
    """The size column(s) the trades came from, and the fee rule when it applied."""
    tried = (*columns.size_fallback, columns.size)
    names = " or ".join(c for c in tried if c in used) or tried[0]
    return f"{names} * (1 +/- fee_open)" if columns.size_with_fee else names


def _names(names: Sequence[object]) -> str:
    """A few of ``names``, quoted, for a message; never the whole header of a wrong file.

    A name that does not look like a column name (too long, or holding ``=``, quotes,
    braces or the like, as a secrets file or a JSON document read as CSV would) is
    shown by its length only.
    """
    shown: List[str] = []
    used = 0
    for name in list(names)[:_NAMES_MAX]:
        text = str(name)
        if len(text) > _NAME_MAX or not _NAME_LIKE.match(text):
            text = f"<{len(text)} characters>"
        else:
            text = repr(text)
        used += len(text) + 2
        if used > _NAMES_BUDGET:
            break
        shown.append(text)
    more = len(names) - len(shown)
    if more > 0:
        shown.append(f"and {more:,} more")
    return ", ".join(shown) or "none"


def _time_column(columns: _Columns, used: Mapping[str, None]) -> str:
    """The time column(s) the trades came from, in the order they are tried."""
    return " or ".join(c for c in columns.time if c in used) or columns.time[0]


def _open_text(sink: _Sink, newline: Optional[str] = None) -> IO[str]:
    try:
        # utf-8-sig: spreadsheets and some editors put a byte-order mark first.
        return open(sink.source, encoding="utf-8-sig", newline=newline)
    except OSError as exc:
        raise sink.fail(f"cannot open the file ({exc.strerror or exc}); check the path") from None


def _pick(
    sink: _Sink, names: Sequence[str], role: str, given: Optional[str], candidates: Sequence[str]
) -> str:
    """The column for ``role`` among ``names``, given or found; raise TradeFileError."""
    listed = _names(names)
    option = sink.spelling.option(role)
    if given is not None:
        if given in names:
            return given
        raise sink.fail(
            f"no {sink.noun} {_show(given)} for {role}; the {sink.noun}s are {listed}. "
            f"Pass {option} one of them"
        )
    folded = {name.strip().lower(): name for name in reversed(names)}
    for candidate in candidates:
        if candidate in folded:
            return folded[candidate]
    raise sink.fail(
        f"found no {role} {sink.noun} (tried {', '.join(map(repr, candidates))}); the "
        f"{sink.noun}s are {listed}. Pass {option} to name it{_looks_like(names)}"
    )


def _columns_from(
    sink: _Sink,
    names: Sequence[str],
    pnl: Optional[str],
    size: Optional[str],
    time: Optional[str],
) -> _Columns:
    chosen = _Columns(
        pnl=_pick(sink, names, "pnl", pnl, PNL_COLUMNS),
        size=_pick(sink, names, "size", size, SIZE_COLUMNS),
        time=(_pick(sink, names, "time", time, TIME_COLUMNS),),
    )
    for column in (chosen.pnl, chosen.size, chosen.time[0]):
        if list(names).count(column) > 1:
            raise sink.fail(
                f"the header names {column!r} more than once, so its values are ambiguous; "
                "rename the duplicate"
            )
    return chosen


# --------------------------------------------------------------------------- csv


def _read_csv(sink: _Sink, pnl: Optional[str], size: Optional[str], time: Optional[str]) -> None:
    with _open_text(sink, newline="") as stream:  # the csv module handles line ends
        reader = csv.reader(stream)
        try:
            header: Optional[List[str]] = None
            for fields in reader:
                if any(f.strip() for f in fields):
                    header = [name.strip() for name in fields]
                    break
            if header is None:
                return  # no bytes or only blank lines: an empty history
            header_line = reader.line_num
            sink.columns = _columns_from(sink, header, pnl, size, time)
            end = reader.line_num
            for fields in reader:
                line = end + 1
                end = reader.line_num
                if len(fields) != len(header):
                    if not any(f.strip() for f in fields):
                        continue  # blank line
                    sink.bad(
                        line,
                        f"line {line}",
                        _BadRowError(
                            f"has {len(fields)} fields but the header (line {header_line}) "
                            f"has {len(header)}; check the quoting of text with commas"
                        ),
                    )
                    continue
                sink.add(line, f"line {line}", dict(zip(header, fields)))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise sink.fail(
                f"line {reader.line_num + 1}: cannot be read as UTF-8 CSV ({exc}); "
                "save the file as UTF-8 CSV"
            ) from None


# --------------------------------------------------------------------------- jsonl


def _read_jsonl(sink: _Sink, pnl: Optional[str], size: Optional[str], time: Optional[str]) -> None:
    with _open_text(sink) as stream:
        line = 0
        try:
            for line, text in enumerate(stream, start=1):
                if not text.strip():
                    continue
                where = f"line {line}"
                try:
                    fields = json.loads(text)
                except RecursionError:
                    sink.bad(line, where, _BadRowError("is not valid JSON (nested too deeply)"))
                    continue
                except ValueError as exc:
                    reason = getattr(exc, "msg", str(exc))
                    sink.bad(line, where, _BadRowError(f"is not valid JSON ({reason})"))
                    continue
                if not isinstance(fields, dict):
                    sink.bad(line, where, _BadRowError(f"is {_show(fields)}, not a JSON object"))
                    continue
                if sink.columns is None:
                    sink.columns = _columns_from(sink, list(fields), pnl, size, time)
                sink.add(line, where, fields)
        except UnicodeDecodeError as exc:
            raise sink.fail(
                f"line {line + 1}: is not UTF-8 text ({exc.reason}); save the file as UTF-8"
            ) from None


# --------------------------------------------------------------------------- freqtrade


def _read_freqtrade(
    sink: _Sink,
    pnl: Optional[str],
    size: Optional[str],
    time: Optional[str],
    strategy: Optional[str],
    *,
    auto: bool,
) -> None:
    spell = sink.spelling
    hint = " (read as a freqtrade backtest result because of its extension)" if auto else ""
    document = _freqtrade_document(sink, hint)
    strategies = document.get("strategy") if isinstance(document, dict) else None
    if not isinstance(strategies, dict):
        keys = _names(list(document)) if isinstance(document, dict) else "none"
        raise sink.fail(
            "is not a freqtrade backtest result: it has no 'strategy' object "
            f"(top-level keys: {keys}){hint}. Pass {spell.option('format', 'jsonl')} or "
            f"{spell.option('format', 'csv')} for other files"
        )
    names = list(strategies)
    listed = _names(names)
    if strategy is None:
        if len(names) != 1:
            raise sink.fail(
                f"holds {len(names)} strategies ({listed}); pass {spell.option('strategy')} "
                "to pick one"
            )
        strategy = names[0]
    elif strategy not in strategies:
        raise sink.fail(f"has no strategy {_show(strategy)}; the strategies are {listed}")
    sink.strategy = strategy
    trades = strategies[strategy].get("trades") if isinstance(strategies[strategy], dict) else None
    if not isinstance(trades, list):
        raise sink.fail(f"strategy {strategy!r} has no 'trades' list; is the file complete?")
    sink.columns = _Columns(
        pnl=pnl or "profit_abs",
        size=size or "stake_amount",
        time=("open_date", "open_timestamp") if time is None else (time,),
        time_in_ms=frozenset({"open_timestamp"}) if time is None else frozenset(),
        size_fallback=() if size else ("max_stake_amount",),
        size_with_fee=size is None,
    )
    for index, fields in enumerate(trades):
        where = f"strategy {strategy!r} trades[{index}]"
        if not isinstance(fields, dict):
            sink.bad(index, where, _BadRowError(f"is {_show(fields)}, not a JSON object"))
            continue
        sink.add(index, where, fields)


def _freqtrade_document(sink: _Sink, hint: str) -> Any:
    """The backtest result's JSON: the file itself, or the results inside freqtrade's zip."""
    more = f"; for one JSON object per line pass {sink.spelling.option('format', 'jsonl')}"
    if zipfile.is_zipfile(sink.source):
        try:
            with zipfile.ZipFile(sink.source) as archive:
                member = _results_member(sink, archive.namelist())
                text = archive.read(member).decode("utf-8-sig")
        except (zipfile.BadZipFile, OSError, KeyError, EOFError, RuntimeError) as exc:
            raise sink.fail(
                f"cannot read the backtest result in the zip ({type(exc).__name__}); "
                "is the file complete?"
            ) from None
        except UnicodeDecodeError as exc:
            raise sink.fail(f"{member} in the zip is not UTF-8 text ({exc.reason})") from None
        try:
            return json.loads(text)
        except RecursionError:
            raise sink.fail(f"{member} in the zip is not valid JSON (nested too deeply)") from None
        except ValueError as exc:
            raise sink.fail(f"{member} in the zip is not valid JSON ({_brief(exc)})") from None
    with _open_text(sink) as stream:
        try:
            return json.load(stream)
        except UnicodeDecodeError as exc:
            raise sink.fail(f"is not UTF-8 text ({exc.reason}){hint}") from None
        except ValueError as exc:
            raise sink.fail(
                f"is not valid JSON ({_brief(exc)}){hint}{more if hint else ''}"
            ) from None
        except RecursionError:
            raise sink.fail(f"is not valid JSON (nested too deeply){hint}") from None


def _results_member(sink: _Sink, members: Sequence[str]) -> str:
    """The results JSON in freqtrade's zip: ``<zip stem>.json``, or (a renamed zip) the
    JSON member that the config and strategy files beside it are named after."""
    stem = Path(sink.source).stem
    jsons = [m for m in members if m.endswith(".json") and "/" not in m]
    if stem + ".json" in jsons:
        return stem + ".json"
    for member in jsons:
        base = member[: -len(".json")]
        if all(other == member or other.startswith(base + "_") for other in jsons):
            return member
    raise sink.fail(
        f"is a zip without a freqtrade backtest result in it (it holds {_names(members)}); "
        "pass the backtest-result-*.zip that freqtrade wrote"
    )


def _brief(exc: Exception) -> str:
    """A parser's message without the text it quotes (json's messages quote none)."""
    return _one_line(str(exc))[:120]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _read_freqtrade_sqlite(
    sink: _Sink,
    pnl: Optional[str],
    size: Optional[str],
    time: Optional[str],
    strategy: Optional[str],
) -> None:
    try:
        for attempt in range(3):
            try:
                with _ReadOnlyDatabase(sink) as connection:
                    _query_trades(sink, connection, pnl, size, time, strategy)
                return
            except _DatabaseChangedError:
                if attempt == 2:
                    raise sink.fail(
                        "kept changing while it was read (a bot starting or checkpointing); "
                        "try again"
                    ) from None
                sink.reset()
    except sqlite3.Error as exc:
        raise sink.fail(
            f"cannot be read as a freqtrade SQLite database ({_brief(exc)}); pass the bot's "
            f"tradesv3.sqlite, or another {sink.spelling.option('format')}"
        ) from None


def _can_update(path: Path) -> bool:
    """Whether ``path`` exists and this process may write it (opened, not changed).

    SQLite reads a live WAL database in place only through a ``-shm`` it can write:
    with a read-only one it may fail, or even crash the process (SIGBUS, seen with
    SQLite 3.40), so anything else is read from a private copy.
    """
    try:
        with open(path, "r+b"):
            return True
    except OSError:
        return False


class _DatabaseChangedError(Exception):
    """The database was written while it was read: read it again."""


class _ReadOnlyDatabase:
    """Open a (possibly WAL-mode) database for reading without writing anything beside it.

    freqtrade keeps its database in WAL mode. SQLite reads a WAL database through two
    files beside it, ``-wal`` (changes not yet copied into the database) and ``-shm``
    (an index of the ``-wal``), and creates both when they are missing, so a plain
    read-only open leaves files next to the user's database and fails in a folder the
    user cannot write. Hence:

    * no ``-wal`` beside the database (a bot that is not running, or a copy): every
      committed change is in the database file itself, so it is opened ``immutable``,
      which reads the file alone and creates nothing. A bot could start writing while
      we read, so the file's size and time and the absence of a ``-wal`` are checked
      again afterwards, and the read is retried the other way if they changed.
    * a ``-wal`` beside it (a running bot): its newest trades may be only there, so
      SQLite must read it: opened read-only in place when its ``-shm`` exists and may be
      written (SQLite then adds no file, and reads under the bot's own locks);
      otherwise the database and its ``-wal`` are copied into a private temporary
      folder and read there (checked against a checkpoint during the copy).
    """

    def __init__(self, sink: _Sink) -> None:
        self.sink = sink
        self.path = Path(sink.source).resolve()
        self.connection: Optional[sqlite3.Connection] = None
        self.scratch: Optional[str] = None
        self.snapshot: Optional[Tuple[int, int]] = None

    def __enter__(self) -> sqlite3.Connection:
        wal = Path(str(self.path) + "-wal")
        try:
            if not wal.exists():
                self.snapshot = self._stamp()
                self.connection = self._connect(self.path, "mode=ro&immutable=1")
            elif _can_update(Path(str(self.path) + "-shm")):
                self.connection = self._connect(self.path, "mode=ro")
            else:
                self.connection = self._copy_and_connect(wal)
        except BaseException:
            self._cleanup()
            raise
        return self.connection

    def _cleanup(self) -> None:
        self._close()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def __exit__(self, *exc_info: object) -> None:
        self._cleanup()
        if self.snapshot is not None and exc_info[0] is None and self._stamp() != self.snapshot:
            raise _DatabaseChangedError

    def _stamp(self) -> Tuple[int, int]:
        wal = Path(str(self.path) + "-wal")
        info = self.path.stat()
        return (info.st_size, info.st_mtime_ns) if not wal.exists() else (-1, -1)

    def _connect(self, path: Path, mode: str) -> sqlite3.Connection:
        try:
            return sqlite3.connect(f"{path.as_uri()}?{mode}", uri=True, timeout=10.0)
        except sqlite3.Error as exc:
            raise self.sink.fail(
                f"cannot open the database ({_brief(exc)}); check the path"
            ) from None

    def _copy_and_connect(self, wal: Path) -> sqlite3.Connection:
        self.scratch = tempfile.mkdtemp(prefix="quant-rollout-db-")
        copy = Path(self.scratch) / "trades.sqlite"
        try:
            # The -wal is copied last: frames appended after the database was copied
            # only add newer commits, and SQLite drops a torn last frame by its checksum.
            # A checkpoint in between rewrites the database, which the stamps catch.
            before = self.path.stat()
            shutil.copyfile(self.path, copy)
            shutil.copyfile(wal, str(copy) + "-wal")
            after = self.path.stat()
        except OSError as exc:
            raise self.sink.fail(
                f"cannot read the database or its -wal file ({exc.strerror or exc}); "
                "check that you may read both"
            ) from None
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
            raise _DatabaseChangedError
        return self._connect(copy, "mode=rw")

    def _close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _query_trades(
    sink: _Sink,
    connection: sqlite3.Connection,
    pnl: Optional[str],
    size: Optional[str],
    time: Optional[str],
    strategy: Optional[str],
) -> None:
    spell = sink.spelling
    names = [str(row[1]) for row in connection.execute("PRAGMA table_info(trades)")]
    if not names:
        tables = [
            str(row[0])
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        raise sink.fail(
            f"has no table 'trades' (tables: {_names(tables)}); "
            "is it a freqtrade database (tradesv3.sqlite)?"
        )
    columns = _Columns(
        pnl=pnl or "close_profit_abs",
        size=size or "stake_amount",
        time=(time or "open_date",),
        size_fallback=() if size or "max_stake_amount" not in names else ("max_stake_amount",),
        size_with_fee=size is None,
    )
    needed = [columns.pnl, columns.size, columns.time[0], "is_open"]
    if columns.size_with_fee:
        needed.append("fee_open")
    if strategy is not None:
        needed.append("strategy")
    for column in needed:
        if column not in names:
            raise sink.fail(
                f"table 'trades' has no column {_show(column)}; its columns are {_names(names)}"
            )
    sink.columns = columns
    found: List[Optional[str]] = []
    if "strategy" in names:
        found = [
            None if row[0] is None else str(row[0])
            for row in connection.execute(
                "SELECT DISTINCT strategy FROM trades WHERE is_open = 0 ORDER BY strategy"
            )
        ]
    if strategy is not None:
        if strategy not in found:
            raise sink.fail(
                f"has no closed trade of strategy {_show(strategy)}; the strategies are "
                f"{_names(found)}"
            )
    elif len(found) > 1:
        # Mixing two strategies' trades would judge neither: refuse, and say which exist.
        raise sink.fail(
            f"holds the closed trades of {len(found)} strategies ({_names(found)}); pass "
            f"{spell.option('strategy')} to pick one"
        )
    elif found:
        strategy = found[0]
    sink.strategy = strategy
    # Column names come from PRAGMA table_info, never from the caller, so no SQL is
    # built from input; the strategy is a bound parameter.
    sql = "SELECT * FROM trades WHERE is_open = 0"
    params: Tuple[str, ...] = ()
    if strategy is not None and "strategy" in names:
        sql += " AND strategy = ?"
        params = (strategy,)
    if "id" in names:
        sql += " ORDER BY id"
    cursor = connection.execute(sql, params)
    described = [str(d[0]) for d in cursor.description]
    for position, values in enumerate(cursor, start=1):
        fields = dict(zip(described, values))
        trade_id = fields.get("id")
        if isinstance(trade_id, int) and not isinstance(trade_id, bool):
            sink.add(trade_id, f"trade id {trade_id}", fields)
        else:
            sink.add(position, f"closed trade {position}", fields)
