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
    A freqtrade backtest result (``backtest-result-*.json``): the trades under
    ``strategy -> <name> -> trades``. pnl is ``profit_abs``, size is
    ``stake_amount`` (both in the stake currency), time is ``open_date`` or, when a
    trade has no ``open_date``, ``open_timestamp`` (milliseconds). With several
    strategies in the file, ``strategy=`` picks one.
``freqtrade-sqlite``
    The live bot's database (``tradesv3.sqlite``), table ``trades``, opened
    read-only. Only closed trades (``is_open = 0``) are read. pnl is
    ``close_profit_abs``: the trade's whole realized profit in stake currency, after
    fees and including partial exits; it is the column freqtrade itself sums for its
    closed profit (``realized_profit`` is the running total of partial exits, meant
    for open trades, and is missing from older databases). size is
    ``stake_amount``: the stake (margin, for leveraged trades) in stake currency;
    after partial exits freqtrade lowers it to what was still in the trade, and
    ``max_stake_amount`` (in metadata) holds the largest position, not divided by
    leverage. time is ``open_date``, which freqtrade stores as naive UTC text.
    ``strategy=`` keeps the trades of that strategy (column ``strategy``).
``auto`` (default)
    By extension: ``.csv``; ``.jsonl`` or ``.ndjson``; ``.json`` (a freqtrade
    backtest result, which must have a ``strategy`` key); ``.sqlite``, ``.sqlite3``
    or ``.db`` (a freqtrade database).

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
strategy asked for, a database without a ``trades`` table.

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
import sqlite3
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
    ".sqlite": "freqtrade-sqlite",
    ".sqlite3": "freqtrade-sqlite",
    ".db": "freqtrade-sqlite",
}

_ADVICE = (
    "Fix the row, or pass skip_bad=True to leave bad rows out "
    "(they are listed in TradeHistory.skipped)."
)

# Unix times outside these bounds are almost always a unit mistake (milliseconds read
# as seconds, or a compact date such as 20260328 read as a number).
_UNIX_S_MIN = 946_684_800  # 2000-01-01T00:00:00Z
_UNIX_S_MAX = 4_102_444_800  # 2100-01-01T00:00:00Z
_US_MIN = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z: the range of datetime
_US_MAX = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z

_PLAIN_NUMBER = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_SHOW_MAX = 60


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
    """

    trades: Tuple[TradeOutcome, ...]
    source: str
    format: str
    skipped: Tuple[SkippedRow, ...] = ()
    pnl_column: Optional[str] = None
    size_column: Optional[str] = None
    time_column: Optional[str] = None


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
            Default: :data:`SIZE_COLUMNS`, or ``stake_amount`` for freqtrade.
        time: the column holding when the trade was opened: ISO-8601 text (no offset
            means UTC) or Unix seconds. Default: :data:`TIME_COLUMNS`, or
            ``open_date`` for freqtrade (then ``open_timestamp``, in milliseconds,
            for a backtest trade without ``open_date``).
        skip_bad: leave rows that cannot be read out of the history and list them in
            :attr:`TradeHistory.skipped`, instead of raising on the first one.
        strategy: freqtrade only: the strategy to read. A backtest result holding
            several strategies needs it; in a database it keeps that strategy's
            trades.
        metadata_columns: the other columns to keep in each trade's metadata;
            ``None`` (default) keeps them all, ``()`` none.

    Returns:
        A :class:`TradeHistory`.

    Raises:
        TradeFileError: the file is missing or unreadable, its format is unknown or
            it is malformed, a column is missing, the strategy is missing or was not
            given, or (without ``skip_bad``) a row holds a bad value. The message
            names the file, the line or trade, the column and the value.
    """
    source = os.fspath(path)
    if not isinstance(source, str):
        raise TradeFileError(f"{source!r}: give the path as text, not bytes")
    for name, value in (("pnl", pnl), ("size", size), ("time", time), ("strategy", strategy)):
        if value is not None and (not isinstance(value, str) or not value):
            raise TradeFileError(f"{source}: {name} must be a column name, got {value!r}")
    if isinstance(metadata_columns, str):
        metadata_columns = (metadata_columns,)
    keep = None if metadata_columns is None else tuple(metadata_columns)

    file = Path(source)
    if not file.exists():
        raise TradeFileError(f"{source}: no such file; check the path")
    if file.is_dir():
        raise TradeFileError(f"{source}: is a directory, not a trade file")

    fmt = _resolve_format(source, format)
    if strategy is not None and fmt in ("csv", "jsonl"):
        raise TradeFileError(
            f"{source}: strategy={strategy!r} applies only to freqtrade files, but the file "
            f"is read as {fmt}; leave strategy out, or pass the freqtrade format"
        )
    sink = _Sink(source, fmt, skip_bad, keep)
    if fmt == "csv":
        _read_csv(sink, pnl, size, time)
    elif fmt == "jsonl":
        _read_jsonl(sink, pnl, size, time)
    elif fmt == "freqtrade":
        _read_freqtrade(sink, pnl, size, time, strategy, auto=format == "auto")
    else:
        _read_freqtrade_sqlite(sink, pnl, size, time, strategy)
    return sink.history()


def _resolve_format(source: str, fmt: str) -> str:
    if fmt not in FORMATS:
        raise TradeFileError(
            f"{source}: unknown format {fmt!r}; use one of {', '.join(map(repr, FORMATS))}"
        )
    if fmt != "auto":
        return fmt
    ext = os.path.splitext(source)[1].lower()
    found = _EXTENSIONS.get(ext)
    if found is None:
        known = ", ".join(sorted(_EXTENSIONS))
        raise TradeFileError(
            f"{source}: cannot tell the format from the extension {ext or '(none)'!r} "
            f"(known: {known}); pass format= one of "
            f"{', '.join(repr(f) for f in FORMATS if f != 'auto')}"
        )
    return found


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
    fields: Mapping[str, Any], columns: _Columns, keep: Optional[Tuple[str, ...]], noun: str
) -> Tuple[TradeOutcome, str]:
    """Return the row as a trade and the time column used; raise _BadRowError."""
    for column in (columns.pnl, columns.size):
        if column not in fields:
            raise _BadRowError(_no_column(noun, column, fields))
    pnl = _number(fields[columns.pnl], columns.pnl)
    size = _number(fields[columns.size], columns.size)
    if size < 0:
        raise _BadRowError(
            f"{_show(fields[columns.size])} is negative; the size is the capital put at "
            "risk and must be >= 0",
            columns.size,
        )
    time_column = next((c for c in columns.time if fields.get(c) is not None), None)
    if time_column is None:
        time_column = next((c for c in columns.time if c in fields), None)
        if time_column is None:
            raise _BadRowError(_no_column(noun, " or ".join(map(repr, columns.time)), fields, True))
    raw_time = fields[time_column]
    stamp = _timestamp(raw_time, time_column, time_column in columns.time_in_ms)
    if keep is None:
        used = (columns.pnl, columns.size, time_column)
        metadata = {k: v for k, v in fields.items() if k not in used}
    else:
        metadata = {k: fields[k] for k in keep if k in fields}
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
    return trade, time_column


def _no_column(noun: str, column: str, fields: Mapping[str, Any], quoted: bool = False) -> str:
    names = ", ".join(repr(k) for k in fields) or "none"
    wanted = column if quoted else repr(column)
    return f"no {noun} {wanted}; the row has {names}"


class _Sink:
    """Collects trades and skipped rows, and turns bad rows into errors."""

    def __init__(
        self, source: str, fmt: str, skip_bad: bool, keep: Optional[Tuple[str, ...]]
    ) -> None:
        self.source = source
        self.format = fmt
        self.skip_bad = skip_bad
        self.keep = keep
        self.noun = "key" if fmt in ("jsonl", "freqtrade") else "column"
        self.trades: List[TradeOutcome] = []
        self.skipped: List[SkippedRow] = []
        self.columns: Optional[_Columns] = None
        self.time_used: Dict[str, None] = {}  # an ordered set

    def add(self, row: int, where: str, fields: Mapping[str, Any]) -> None:
        assert self.columns is not None
        try:
            trade, time_column = _trade(fields, self.columns, self.keep, self.noun)
        except _BadRowError as exc:
            self.bad(row, where, exc)
            return
        self.trades.append(trade)
        if time_column not in self.time_used:
            self.time_used[time_column] = None

    def bad(self, row: int, where: str, exc: _BadRowError) -> None:
        column = "" if exc.column is None else f", {self.noun} {exc.column!r}"
        reason = f"{where}{column}: {exc.text}"
        if not self.skip_bad:
            raise TradeFileError(f"{self.source}, {reason}. {_ADVICE}")
        self.skipped.append(SkippedRow(row, reason))

    def fail(self, text: str) -> TradeFileError:
        return TradeFileError(f"{self.source}: {text}")

    def history(self) -> TradeHistory:
        self.trades.sort(key=attrgetter("instant_us"))
        columns = self.columns
        return TradeHistory(
            trades=tuple(self.trades),
            source=self.source,
            format=self.format,
            skipped=tuple(self.skipped),
            pnl_column=None if columns is None else columns.pnl,
            size_column=None if columns is None else columns.size,
            time_column=None if columns is None else _time_column(columns, self.time_used),
        )


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
    listed = ", ".join(map(repr, names)) or "none"
    if given is not None:
        if given in names:
            return given
        raise sink.fail(
            f"no {sink.noun} {given!r} for {role}; the {sink.noun}s are {listed}. "
            f"Pass {role}= one of them"
        )
    folded = {name.strip().lower(): name for name in reversed(names)}
    for candidate in candidates:
        if candidate in folded:
            return folded[candidate]
    raise sink.fail(
        f"found no {role} {sink.noun} (tried {', '.join(map(repr, candidates))}); the "
        f"{sink.noun}s are {listed}. Pass {role}= to name it"
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
    hint = " (read as a freqtrade backtest result because of the .json extension)" if auto else ""
    with _open_text(sink) as stream:
        try:
            document = json.load(stream)
        except UnicodeDecodeError as exc:
            raise sink.fail(f"is not UTF-8 text ({exc.reason}){hint}") from None
        except ValueError as exc:
            more = "; for one JSON object per line pass format='jsonl'" if auto else ""
            raise sink.fail(f"is not valid JSON ({exc}){hint}{more}") from None
    strategies = document.get("strategy") if isinstance(document, dict) else None
    if not isinstance(strategies, dict):
        keys = ", ".join(map(repr, document)) if isinstance(document, dict) else "none"
        raise sink.fail(
            "is not a freqtrade backtest result: it has no 'strategy' object "
            f"(top-level keys: {keys}){hint}. Pass format='jsonl' or 'csv' for other files"
        )
    names = list(strategies)
    listed = ", ".join(map(repr, names)) or "none"
    if strategy is None:
        if len(names) != 1:
            raise sink.fail(f"holds {len(names)} strategies ({listed}); pass strategy= to pick one")
        strategy = names[0]
    elif strategy not in strategies:
        raise sink.fail(f"has no strategy {strategy!r}; the strategies are {listed}")
    trades = strategies[strategy].get("trades") if isinstance(strategies[strategy], dict) else None
    if not isinstance(trades, list):
        raise sink.fail(f"strategy {strategy!r} has no 'trades' list; is the file complete?")
    if time is None:
        sink.columns = _Columns(
            pnl=pnl or "profit_abs",
            size=size or "stake_amount",
            time=("open_date", "open_timestamp"),
            time_in_ms=frozenset({"open_timestamp"}),
        )
    else:
        sink.columns = _Columns(pnl=pnl or "profit_abs", size=size or "stake_amount", time=(time,))
    for index, fields in enumerate(trades):
        where = f"strategy {strategy!r} trades[{index}]"
        if not isinstance(fields, dict):
            sink.bad(index, where, _BadRowError(f"is {_show(fields)}, not a JSON object"))
            continue
        sink.add(index, where, fields)


def _read_freqtrade_sqlite(
    sink: _Sink,
    pnl: Optional[str],
    size: Optional[str],
    time: Optional[str],
    strategy: Optional[str],
) -> None:
    # Read-only, so reading the live bot's database can never change or create it.
    uri = Path(sink.source).resolve().as_uri() + "?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=10.0)
    except sqlite3.Error as exc:
        raise sink.fail(f"cannot open the database ({exc}); check the path") from None
    try:
        _query_trades(sink, connection, pnl, size, time, strategy)
    except sqlite3.Error as exc:
        raise sink.fail(
            f"cannot be read as a freqtrade SQLite database ({exc}); pass the bot's "
            "tradesv3.sqlite, or another format="
        ) from None
    finally:
        connection.close()


def _query_trades(
    sink: _Sink,
    connection: sqlite3.Connection,
    pnl: Optional[str],
    size: Optional[str],
    time: Optional[str],
    strategy: Optional[str],
) -> None:
    names = [str(row[1]) for row in connection.execute("PRAGMA table_info(trades)")]
    if not names:
        tables = [
            str(row[0])
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        raise sink.fail(
            f"has no table 'trades' (tables: {', '.join(map(repr, tables)) or 'none'}); "
            "is it a freqtrade database (tradesv3.sqlite)?"
        )
    columns = _Columns(
        pnl=pnl or "close_profit_abs", size=size or "stake_amount", time=(time or "open_date",)
    )
    needed = [columns.pnl, columns.size, columns.time[0], "is_open"]
    if strategy is not None:
        needed.append("strategy")
    for column in needed:
        if column not in names:
            raise sink.fail(
                f"table 'trades' has no column {column!r}; its columns are "
                f"{', '.join(map(repr, names))}"
            )
    sink.columns = columns
    if strategy is not None:
        found = [row[0] for row in connection.execute("SELECT DISTINCT strategy FROM trades")]
        if strategy not in found:
            raise sink.fail(
                f"has no trade of strategy {strategy!r}; the strategies are "
                f"{', '.join(map(repr, found)) or 'none'}"
            )
    # Column names come from PRAGMA table_info, never from the caller, so no SQL is
    # built from input; the strategy is a bound parameter.
    sql = "SELECT * FROM trades WHERE is_open = 0"
    params: Tuple[str, ...] = ()
    if strategy is not None:
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
