"""Tests of quant_rollout.tools.importers: real trade files, malformed copies, every format."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Set, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_rollout.errors import TradeFileError
from quant_rollout.tools.importers import (
    FORMATS,
    SkippedRow,
    TradeHistory,
    read_trades,
)
from quant_rollout.trades import MAX_AMOUNT, MIN_NONZERO_SIZE, TradeOutcome

REPO = Path(__file__).resolve().parents[1]
POLYMARKET_CSV = REPO / "examples" / "data" / "polymarket_crashes_v1.csv"
FREQTRADE_FIXTURE = REPO / "tests" / "data" / "freqtrade_backtest_two_strategies.json"
# GPL-3.0, so not shipped: read from the shared data directory next to the repository.
FREQTRADE_REAL = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "freqtrade"
    / "backtest-result_new.json"
)
POLYMARKET_SHA256 = "6020ea8e346227452a4d2cb640aaa766b1463714e36a429f9ae98969bc3da7ae"

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def micros(dt: datetime) -> int:
    """Microseconds since the epoch, computed apart from the library (naive = UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - EPOCH) // timedelta(microseconds=1)


def utc(text: str) -> int:
    return micros(datetime.fromisoformat(text))


def assert_sorted_by_open_time(trades: Sequence[TradeOutcome]) -> None:
    instants = [t.instant_us for t in trades]
    assert instants == sorted(instants)


# --------------------------------------------------------------------------- helpers


def polymarket_rows() -> Tuple[List[str], List[List[str]]]:
    with POLYMARKET_CSV.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def corrupted_copy(
    tmp_path: Path, changes: Dict[int, Dict[str, str]], name: str = "crashes.csv"
) -> Path:
    """The Polymarket file with ``changes[data_row][column] = value`` applied.

    Data row k (0-based) is on line k + 2 of the file: the header is line 1.
    """
    header, rows = polymarket_rows()
    for index, cells in changes.items():
        for column, value in cells.items():
            rows[index][header.index(column)] = value
    return write_csv(tmp_path / name, header, rows)


def write_jsonl(path: Path, lines: Iterable[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# Column names and types as in freqtrade's trades table
# (freqtrade/persistence/trade_model.py, class Trade): a subset is enough here.
FREQTRADE_TRADES_DDL = """
CREATE TABLE trades (
    id INTEGER NOT NULL PRIMARY KEY,
    exchange VARCHAR(25) NOT NULL,
    pair VARCHAR(25) NOT NULL,
    is_open BOOLEAN NOT NULL,
    fee_open FLOAT NOT NULL,
    fee_close FLOAT NOT NULL,
    open_rate FLOAT,
    close_rate FLOAT,
    realized_profit FLOAT,
    close_profit FLOAT,
    close_profit_abs FLOAT,
    stake_amount FLOAT NOT NULL,
    max_stake_amount FLOAT,
    amount FLOAT,
    open_date DATETIME NOT NULL,
    close_date DATETIME,
    exit_reason VARCHAR(100),
    strategy VARCHAR(100),
    is_short BOOLEAN NOT NULL,
    leverage FLOAT
)
"""


def freqtrade_db(path: Path, trades: Sequence[Dict[str, Any]]) -> Path:
    connection = sqlite3.connect(str(path))
    try:
        connection.execute(FREQTRADE_TRADES_DDL)
        for trade in trades:
            row = {
                "exchange": "binance",
                "fee_open": 0.001,
                "fee_close": 0.001,
                "is_short": 0,
                "leverage": 1.0,
                "strategy": "CrashReversion",
                **trade,
            }
            names = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            connection.execute(f"INSERT INTO trades ({names}) VALUES ({marks})", list(row.values()))
        connection.commit()
    finally:
        connection.close()
    return path


def live_bot_trades() -> List[Dict[str, Any]]:
    """Closed and open trades as a freqtrade bot stores them: naive UTC text dates."""
    return [
        {
            "id": 1,
            "pair": "ETH/USDT",
            "is_open": 0,
            "open_rate": 3400.0,
            "close_rate": 3468.0,
            "realized_profit": 1.79,
            "close_profit": 0.0179,
            "close_profit_abs": 1.7979997,
            "stake_amount": 100.0,
            "max_stake_amount": 100.0,
            "amount": 0.0294,
            "open_date": "2024-03-01 12:00:00.250000",
            "close_date": "2024-03-01 12:45:00.000000",
            "exit_reason": "roi",
        },
        {
            "id": 2,
            "pair": "BTC/USDT",
            "is_open": 0,
            "open_rate": 61000.0,
            "close_rate": 59780.0,
            # realized_profit disagrees on purpose: the importer must use close_profit_abs.
            "realized_profit": 0.0,
            "close_profit": -0.022,
            "close_profit_abs": -2.1979943,
            "stake_amount": 100.0,
            "max_stake_amount": 100.0,
            "amount": 0.00164,
            "open_date": "2024-03-01 09:30:00.000000",
            "close_date": "2024-03-01 11:30:00.000000",
            "exit_reason": "stop_loss",
        },
        {
            "id": 3,
            "pair": "SOL/USDT",
            "is_open": 1,
            "open_rate": 125.0,
            "close_rate": None,
            "realized_profit": 0.0,
            "close_profit": None,
            "close_profit_abs": None,
            "stake_amount": 50.0,
            "max_stake_amount": 50.0,
            "amount": 0.4,
            "open_date": "2024-03-01 08:00:00.000000",
            "close_date": None,
            "exit_reason": None,
        },
        {
            "id": 4,
            "pair": "ADA/USDT",
            "is_open": 0,
            "open_rate": 0.72,
            "close_rate": 0.7344,
            "realized_profit": 0.899,
            "close_profit": 0.018,
            "close_profit_abs": 0.899,
            "stake_amount": 50.0,
            "max_stake_amount": 50.0,
            "amount": 69.4,
            "open_date": "2024-03-01 08:15:00.000000",
            "close_date": "2024-03-01 09:15:00.000000",
            "exit_reason": "exit_signal",
            "strategy": "CrashReversionV2",
        },
    ]


# --------------------------------------------------------------------------- Polymarket file


def test_shipped_polymarket_file_is_the_unchanged_copy() -> None:
    import hashlib

    assert hashlib.sha256(POLYMARKET_CSV.read_bytes()).hexdigest() == POLYMARKET_SHA256


@pytest.mark.parametrize(
    "columns",
    [
        {"pnl": "pnl_usd", "size": "size_usd", "time": "entry_time"},
        {},  # found in the header from the default column names
    ],
    ids=["named-columns", "auto-detected-columns"],
)
def test_polymarket_csv_loads_308_trades_with_its_published_figures(
    columns: Dict[str, Any],
) -> None:
    history = read_trades(POLYMARKET_CSV, **columns)

    assert isinstance(history, TradeHistory)
    assert history.format == "csv"
    assert history.source == str(POLYMARKET_CSV)
    assert (history.pnl_column, history.size_column, history.time_column) == (
        "pnl_usd",
        "size_usd",
        "entry_time",
    )
    assert history.skipped == ()
    assert len(history.trades) == 308
    assert sum(t.pnl > 0 for t in history.trades) == 247
    assert round(math.fsum(t.pnl for t in history.trades), 2) == 231.12
    assert math.fsum(t.size for t in history.trades) == 900.0


def test_polymarket_trades_are_sorted_by_entry_time_and_ties_keep_file_order() -> None:
    _, rows = polymarket_rows()
    history = read_trades(POLYMARKET_CSV)
    trades = history.trades

    # The file is ordered by exit, so sorting by entry really moves rows.
    assert [t.metadata["trade_id"] for t in trades] != [row[0] for row in rows]
    assert_sorted_by_open_time(trades)
    assert trades[0].metadata["trade_id"] == "6"
    assert trades[0].instant_us == utc("2026-03-28T08:36:08+00:00")
    ties = 0
    for before, after in zip(trades, trades[1:]):
        if before.instant_us == after.instant_us:
            ties += 1
            assert int(before.metadata["trade_id"]) < int(after.metadata["trade_id"])
    assert ties > 0


def test_polymarket_other_columns_are_kept_as_text_in_metadata() -> None:
    first = read_trades(POLYMARKET_CSV).trades[0]

    assert first.pnl == 0.625
    assert first.size == 5.0
    assert first.timestamp == "2026-03-28T08:36:08+00:00"
    assert first.metadata["question"] == "BitBoy convicted?"
    assert first.metadata["exit_time"] == "2026-03-29T23:08:00.964690"
    assert first.metadata["exit_reason"] == "RECOVERY"
    assert len(first.metadata) == 16  # 19 columns less pnl, size and time
    assert not {"pnl_usd", "size_usd", "entry_time"} & set(first.metadata)


def test_metadata_columns_keeps_only_the_listed_columns() -> None:
    only = read_trades(POLYMARKET_CSV, metadata_columns=["market_id", "no_such_column"])
    none = read_trades(POLYMARKET_CSV, metadata_columns=())

    assert only.trades[0].metadata == {"market_id": "531202"}
    assert none.trades[0].metadata == {}
    assert [t.pnl for t in none.trades] == [t.pnl for t in only.trades]


def test_naive_exit_time_is_read_as_utc() -> None:
    by_exit = read_trades(POLYMARKET_CSV, time="exit_time")

    first = by_exit.trades[0]
    assert first.timestamp == "2026-03-28T16:21:30.406887"  # no offset in the file
    assert first.instant_us == utc("2026-03-28T16:21:30.406887+00:00")
    assert first.time == datetime(2026, 3, 28, 16, 21, 30, 406887, tzinfo=timezone.utc)
    assert by_exit.time_column == "exit_time"


# --------------------------------------------------------------------------- malformed CSV copies


def test_missing_named_column_lists_the_columns_that_exist(tmp_path: Path) -> None:
    header, rows = polymarket_rows()
    drop = header.index("pnl_usd")
    path = write_csv(
        tmp_path / "no_pnl.csv",
        [h for i, h in enumerate(header) if i != drop],
        ([v for i, v in enumerate(row) if i != drop] for row in rows),
    )

    with pytest.raises(TradeFileError) as info:
        read_trades(path, pnl="pnl_usd", size="size_usd", time="entry_time")

    message = str(info.value)
    assert message.startswith(f"{path}: no column 'pnl_usd' for pnl; the columns are 'trade_id'")
    assert "'is_profitable'" in message
    assert "Pass pnl= one of them" in message


def test_no_default_column_found_says_what_was_tried(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "odd.csv", ["gain", "size", "timestamp"], [["1", "2", "2024"]])

    with pytest.raises(TradeFileError, match=r"found no pnl column \(tried 'pnl', 'pnl_usd'"):
        read_trades(path)


def test_bad_number_names_the_line_column_and_value(tmp_path: Path) -> None:
    path = corrupted_copy(tmp_path, {10: {"pnl_usd": "abc"}})

    with pytest.raises(TradeFileError) as info:
        read_trades(path)

    assert str(info.value).startswith(
        f"{path}, line 12, column 'pnl_usd': 'abc' is not a number. Fix the row, "
        "or pass skip_bad=True"
    )


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("pnl_usd", "nan", "'nan' is not a finite number"),
        ("pnl_usd", "-inf", "'-inf' is not a finite number"),
        ("pnl_usd", "", "'' is empty; a number is needed"),
        ("size_usd", "-5.0", "'-5.0' is negative; the size is the capital put at risk"),
        ("size_usd", "1,5", "'1,5' is not a number"),
        ("entry_time", "2026-13-45T00:00:00", "'2026-13-45T00:00:00' is not a date"),
        ("entry_time", "yesterday", "'yesterday' is not a date"),
        ("entry_time", "1774687000000", "'1774687000000' is not a Unix time in seconds"),
    ],
)
def test_each_kind_of_bad_value_names_line_column_and_value(
    tmp_path: Path, column: str, value: str, problem: str
) -> None:
    path = corrupted_copy(tmp_path, {199: {column: value}})

    with pytest.raises(TradeFileError) as info:
        read_trades(path)

    assert str(info.value).startswith(f"{path}, line 201, column {column!r}: {problem}")


def test_skip_bad_leaves_bad_rows_out_and_lists_them(tmp_path: Path) -> None:
    path = corrupted_copy(
        tmp_path,
        {
            0: {"pnl_usd": "NaN"},
            41: {"size_usd": "-1"},
            306: {"entry_time": "not a date"},
        },
    )

    history = read_trades(path, skip_bad=True)

    assert len(history.trades) == 305
    assert [s.row for s in history.skipped] == [2, 43, 308]
    assert history.skipped[0] == SkippedRow(
        2, "line 2, column 'pnl_usd': 'NaN' is not a finite number"
    )
    assert "column 'size_usd': '-1' is negative" in history.skipped[1].reason
    assert "column 'entry_time': 'not a date' is not a date" in history.skipped[2].reason
    assert_sorted_by_open_time(history.trades)


def test_a_row_with_the_wrong_number_of_fields_is_a_bad_row(tmp_path: Path) -> None:
    header, rows = polymarket_rows()
    rows[4] = rows[4][:-2]
    path = write_csv(tmp_path / "short.csv", header, rows)

    with pytest.raises(TradeFileError, match=r", line 6: has 17 fields but the header"):
        read_trades(path)
    assert [s.row for s in read_trades(path, skip_bad=True).skipped] == [6]


def test_line_numbers_count_quoted_newlines_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text(
        "pnl,size,timestamp,note\n"
        '1.0,10,2024-01-01T00:00:00Z,"two\nlines"\n'
        "\n"
        "x,10,2024-01-02T00:00:00Z,after\n",
        encoding="utf-8",
    )

    with pytest.raises(TradeFileError, match=r"notes\.csv, line 5, column 'pnl': 'x'"):
        read_trades(path)
    kept = read_trades(path, skip_bad=True)
    assert kept.trades[0].metadata == {"note": "two\nlines"}


def test_unsorted_input_is_sorted_by_time_stably_across_offsets(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "unsorted.csv",
        ["timestamp", "pnl", "size", "label"],
        [
            ["2024-05-01T12:00:00+02:00", "1", "1", "c"],  # 10:00Z
            ["2024-05-01T09:00:00Z", "2", "1", "a"],
            ["2024-05-01 10:00:00", "3", "1", "d"],  # naive = UTC, ties with c
            ["2024-05-01T05:30:00-04:00", "4", "1", "b"],  # 09:30Z
        ],
    )

    trades = read_trades(path).trades

    assert [t.metadata["label"] for t in trades] == ["a", "b", "c", "d"]
    assert trades[2].instant_us == trades[3].instant_us == utc("2024-05-01T10:00:00+00:00")


def test_unix_seconds_in_a_csv_are_read_as_utc(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "epoch.csv", ["time", "profit", "stake"], [["1709294400", "1", "2"]]
    )

    (trade,) = read_trades(path).trades

    assert trade.time == datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_header_with_byte_order_mark_and_padding_is_read(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffPnL , Size,Timestamp\r\n-1.5,3,2024-01-01T00:00:00Z\r\n".encode())

    history = read_trades(path)

    assert (history.pnl_column, history.size_column, history.time_column) == (
        "PnL",
        "Size",
        "Timestamp",
    )
    assert history.trades[0].pnl == -1.5


def test_duplicated_mapped_column_is_refused(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "dup.csv", ["pnl", "size", "time", "pnl"], [["1", "1", "2024-01-01", "2"]]
    )

    with pytest.raises(TradeFileError, match=r"names 'pnl' more than once"):
        read_trades(path)


def test_empty_csv_and_header_only_csv_are_empty_histories(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    header_only = tmp_path / "header.csv"
    header_only.write_text("pnl_usd,size_usd,entry_time\r\n", encoding="utf-8")

    nothing = read_trades(empty)
    assert nothing == TradeHistory(trades=(), source=str(empty), format="csv")
    just_header = read_trades(header_only)
    assert just_header.trades == ()
    assert just_header.pnl_column == "pnl_usd"


def test_text_that_is_not_utf8_is_a_trade_file_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"pnl,size,time,note\n1,1,2024-01-01,caf\xe9\n")

    with pytest.raises(TradeFileError, match=r"save the file as UTF-8"):
        read_trades(path)


# --------------------------------------------------------------------------- JSON lines


def test_jsonl_reads_objects_skips_blank_lines_and_sorts(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "trades.jsonl",
        [
            '{"pnl": 1.5, "size": 10, "timestamp": "2024-03-01T10:00:00+01:00", "market": "m2"}',
            "",
            "   ",
            '{"pnl": -0.5, "size": 5, "timestamp": "2024-03-01T08:30:00", "market": "m1"}',
            '{"pnl": "0.25", "size": "2.5", "timestamp": 1709290800, "market": "m3"}',
        ],
    )

    history = read_trades(path)

    assert history.format == "jsonl"
    assert [t.metadata["market"] for t in history.trades] == ["m1", "m2", "m3"]
    assert [t.pnl for t in history.trades] == [-0.5, 1.5, 0.25]
    assert history.trades[0].instant_us == utc("2024-03-01T08:30:00+00:00")  # naive = UTC
    assert history.trades[1].instant_us == utc("2024-03-01T09:00:00+00:00")
    assert history.trades[2].time == datetime(2024, 3, 1, 11, 0, tzinfo=timezone.utc)


def test_jsonl_errors_give_the_line_number(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            '{"pnl": 1, "size": 1, "time": "2024-01-01"}',
            "",
            '{"pnl": 1, "size": 1, "time": "2024-01-02"',
            '{"pnl": NaN, "size": 1, "time": "2024-01-03"}',
            '{"size": 1, "time": "2024-01-04", "note": "x"}',
            "[1, 2]",
            '{"pnl": 1, "size": 1, "time": 1704067200000}',
            '{"pnl": true, "size": 1, "time": "2024-01-06"}',
        ],
    )

    with pytest.raises(TradeFileError, match=r"bad\.jsonl, line 3: is not valid JSON"):
        read_trades(path)
    history = read_trades(path, skip_bad=True)
    assert len(history.trades) == 1
    reasons = {s.row: s.reason for s in history.skipped}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8]
    assert reasons[4] == "line 4, key 'pnl': nan is not a finite number"
    assert reasons[5] == "line 5: no key 'pnl'; the row has 'size', 'time', 'note'"
    assert reasons[6] == "line 6: is [1, 2], not a JSON object"
    assert "if it is in milliseconds, divide by 1000" in reasons[7]
    assert reasons[8] == "line 8, key 'pnl': True is not a number"


def test_jsonl_with_named_keys(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "bot.ndjson",
        [json.dumps({"realized": 2.0, "notional": 40.0, "filled_at": "2024-06-01T00:00:00Z"})],
    )

    history = read_trades(path, pnl="realized", size="notional", time="filled_at")

    assert history.format == "jsonl"
    assert history.trades[0].pnl == 2.0
    with pytest.raises(TradeFileError, match=r"no key 'pnl_usd' for pnl; the keys are 'realized'"):
        read_trades(path, pnl="pnl_usd", size="notional", time="filled_at")


def test_empty_jsonl_is_an_empty_history(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "none.jsonl", ["", "  "])

    assert read_trades(path).trades == ()


# --------------------------------------------------------------------------- freqtrade backtest


def test_real_freqtrade_backtest_loads_179_trades() -> None:
    if not FREQTRADE_REAL.exists():
        pytest.skip(f"{FREQTRADE_REAL} is not here (GPL-3.0 data, not shipped)")

    history = read_trades(FREQTRADE_REAL)

    assert history.format == "freqtrade"
    # A 2022 file: no max_stake_amount, so the stake, with the 0.25% entry fee that
    # freqtrade's profit_ratio divides by.
    assert (history.pnl_column, history.size_column, history.time_column) == (
        "profit_abs",
        "stake_amount * (1 +/- fee_open)",
        "open_date",
    )
    assert len(history.trades) == 179
    assert sum(t.pnl > 0 for t in history.trades) == 170
    assert math.fsum(t.pnl for t in history.trades) == pytest.approx(0.0260855, abs=1e-9)
    assert {round(t.size, 12) for t in history.trades} == {0.0010025}
    assert history.strategy == "StrategyTestV3"
    assert_sorted_by_open_time(history.trades)
    assert history.trades[0].time == datetime(2018, 1, 10, 7, 15, tzinfo=timezone.utc)
    assert history.trades[0].metadata["pair"] == "TRX/BTC"
    # The explicit name of its only strategy works too.
    assert read_trades(FREQTRADE_REAL, strategy="StrategyTestV3").trades == history.trades


def test_freqtrade_file_with_two_strategies_needs_strategy() -> None:
    with pytest.raises(TradeFileError) as info:
        read_trades(FREQTRADE_FIXTURE)

    assert str(info.value) == (
        f"{FREQTRADE_FIXTURE}: holds 2 strategies ('CrashReversionV1', 'CrashReversionV2'); "
        "pass strategy= to pick one"
    )


def test_freqtrade_unknown_strategy_lists_the_names() -> None:
    with pytest.raises(
        TradeFileError,
        match=r"has no strategy 'V3'; the strategies are "
        r"'CrashReversionV1', 'CrashReversionV2'",
    ):
        read_trades(FREQTRADE_FIXTURE, strategy="V3")


def test_freqtrade_strategy_trades_sorted_with_open_timestamp_fallback() -> None:
    history = read_trades(FREQTRADE_FIXTURE, strategy="CrashReversionV1")

    assert history.format == "freqtrade"
    assert [t.metadata["pair"] for t in history.trades] == [
        "ADA/USDT",  # no open_date: open_timestamp 1709280900000 ms = 08:15Z
        "BTC/USDT",
        "ETH/USDT",  # ETH and SOL open at the same instant: file order kept
        "SOL/USDT",
    ]
    ada = history.trades[0]
    assert ada.time == datetime(2024, 3, 1, 8, 15, tzinfo=timezone.utc)
    assert ada.pnl == 0.899
    assert ada.size == pytest.approx(50.0 * 1.001, rel=1e-15)  # the stake with its 0.1% fee
    assert (
        read_trades(FREQTRADE_FIXTURE, strategy="CrashReversionV1", size="stake_amount")
        .trades[0]
        .size
        == 50.0
    )
    assert history.time_column == "open_date or open_timestamp"
    assert [t.pnl for t in history.trades] == [0.899, -2.19799429, 1.79799971, 0.899]
    other = read_trades(FREQTRADE_FIXTURE, strategy="CrashReversionV2")
    assert [t.pnl for t in other.trades] == [1.7979964, -2.19800011]


def test_freqtrade_bad_trade_is_named_by_strategy_and_index(tmp_path: Path) -> None:
    document = json.loads(FREQTRADE_FIXTURE.read_text(encoding="utf-8"))
    document["strategy"]["CrashReversionV2"]["trades"][1]["stake_amount"] = -100.0
    path = tmp_path / "backtest-result.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    with pytest.raises(TradeFileError) as info:
        read_trades(path, strategy="CrashReversionV2")
    assert str(info.value).startswith(
        f"{path}, strategy 'CrashReversionV2' trades[1], key 'stake_amount': -100.0 is negative"
    )
    skipped = read_trades(path, strategy="CrashReversionV2", skip_bad=True).skipped
    assert [s.row for s in skipped] == [1]


def test_json_without_strategy_key_is_not_taken_for_a_backtest(tmp_path: Path) -> None:
    not_backtest = tmp_path / "trades.json"
    not_backtest.write_text('{"trades": []}', encoding="utf-8")
    lines = tmp_path / "lines.json"
    lines.write_text('{"pnl": 1}\n{"pnl": 2}\n', encoding="utf-8")

    with pytest.raises(TradeFileError, match=r"no 'strategy' object \(top-level keys: 'trades'\)"):
        read_trades(not_backtest)
    with pytest.raises(TradeFileError, match=r"pass format='jsonl'"):
        read_trades(lines)


# --------------------------------------------------------------------------- freqtrade database


def test_freqtrade_sqlite_reads_closed_trades_only(tmp_path: Path) -> None:
    path = freqtrade_db(tmp_path / "tradesv3.sqlite", live_bot_trades())
    before = path.read_bytes()

    history = read_trades(path, strategy="CrashReversion")

    assert history.format == "freqtrade-sqlite"
    assert (history.pnl_column, history.size_column, history.time_column) == (
        "close_profit_abs",
        "max_stake_amount * (1 +/- fee_open)",
        "open_date",
    )
    assert history.strategy == "CrashReversion"
    assert [t.metadata["id"] for t in history.trades] == [2, 1]  # id 3 is open, 4 is V2's
    assert [t.pnl for t in history.trades] == [-2.1979943, 1.7979997]
    assert [t.size for t in history.trades] == [100.0 * 1.001, 100.0 * 1.001]
    # open_date is naive UTC text with microseconds.
    assert history.trades[1].instant_us == utc("2024-03-01T12:00:00.250000+00:00")
    assert history.trades[1].metadata["close_date"] == "2024-03-01 12:45:00.000000"
    assert path.read_bytes() == before  # opened read-only


def test_freqtrade_sqlite_strategy_filter_and_unknown_strategy(tmp_path: Path) -> None:
    path = freqtrade_db(tmp_path / "tradesv3.db", live_bot_trades())

    v2 = read_trades(path, strategy="CrashReversionV2")
    assert [t.metadata["pair"] for t in v2.trades] == ["ADA/USDT"]
    with pytest.raises(
        TradeFileError, match=r"no closed trade of strategy 'V9'; the strategies are "
    ):
        read_trades(path, strategy="V9")


def test_freqtrade_sqlite_null_profit_on_a_closed_trade_names_the_trade(tmp_path: Path) -> None:
    trades = live_bot_trades()
    trades[1]["close_profit_abs"] = None
    path = freqtrade_db(tmp_path / "tradesv3.sqlite", trades)

    with pytest.raises(TradeFileError) as info:
        read_trades(path, strategy="CrashReversion")
    assert str(info.value).startswith(
        f"{path}, trade id 2, column 'close_profit_abs': None is empty; a number is needed"
    )
    history = read_trades(path, strategy="CrashReversion", skip_bad=True)
    assert [s.row for s in history.skipped] == [2]
    assert len(history.trades) == 1


def test_freqtrade_sqlite_without_trades_table_or_not_a_database(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    connection = sqlite3.connect(str(other))
    connection.execute("CREATE TABLE orders (id INTEGER)")
    connection.close()
    text = tmp_path / "notes.sqlite"
    text.write_text("this is not a database, just text long enough to have a header" * 4)

    with pytest.raises(TradeFileError, match=r"has no table 'trades' \(tables: 'orders'\)"):
        read_trades(other)
    with pytest.raises(TradeFileError, match=r"cannot be read as a freqtrade SQLite database"):
        read_trades(text)


def test_freqtrade_sqlite_missing_column_lists_the_columns(tmp_path: Path) -> None:
    path = freqtrade_db(tmp_path / "tradesv3.sqlite", live_bot_trades())

    with pytest.raises(
        TradeFileError,
        match=r"table 'trades' has no column 'pnl'; its columns "
        r"are 'id', 'exchange'",
    ):
        read_trades(path, pnl="pnl")


# --------------------------------------------------------------------------- files and formats


def test_missing_file_is_a_trade_file_error_not_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"

    with pytest.raises(TradeFileError) as info:
        read_trades(path)

    assert not isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, ValueError)
    assert str(info.value) == f"{path}: no such file; check the path"


def test_unknown_extension_says_how_to_pass_the_format(tmp_path: Path) -> None:
    path = tmp_path / "trades.txt"
    shutil.copy(POLYMARKET_CSV, path)

    with pytest.raises(TradeFileError, match=r"extension '\.txt'.*pass format= one of 'csv'"):
        read_trades(path)
    assert len(read_trades(path, format="csv").trades) == 308


def test_unknown_format_and_misplaced_strategy_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TradeFileError, match=r"unknown format 'xlsx'"):
        read_trades(POLYMARKET_CSV, format="xlsx")
    with pytest.raises(TradeFileError, match=r"strategy='X' applies only to freqtrade"):
        read_trades(POLYMARKET_CSV, strategy="X")
    assert FORMATS == ("auto", "csv", "jsonl", "freqtrade", "freqtrade-sqlite")


def test_a_directory_is_not_a_trade_file(tmp_path: Path) -> None:
    with pytest.raises(TradeFileError, match=r"is a directory"):
        read_trades(tmp_path)


def test_history_is_frozen() -> None:
    history = read_trades(POLYMARKET_CSV, metadata_columns=())

    with pytest.raises(AttributeError):
        history.trades = ()  # type: ignore[misc]


# --------------------------------------------------------------------------- round trip


ZONES = st.sampled_from(
    [
        None,  # naive: written without an offset, read as UTC
        timezone.utc,
        timezone(timedelta(hours=2)),
        timezone(timedelta(hours=-5, minutes=-30)),
    ]
)
MOMENTS = st.builds(
    lambda dt, zone: dt if zone is None else dt.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30)),
    ZONES,
)
FINITE = st.floats(-MAX_AMOUNT, MAX_AMOUNT)  # the amounts a trade accepts
SIZES = st.just(0.0) | st.floats(MIN_NONZERO_SIZE, MAX_AMOUNT)
NOTES = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12
)
ROWS = st.lists(
    st.tuples(FINITE, SIZES, MOMENTS, NOTES),
    max_size=25,
)


def expected_order(
    rows: List[Tuple[float, float, datetime, str]],
) -> List[Tuple[float, float, int, str]]:
    keyed = [(pnl, size, micros(when), note) for pnl, size, when, note in rows]
    return sorted(keyed, key=lambda r: r[2])  # stable, like the importer must be


def read_back(history: TradeHistory) -> List[Tuple[float, float, int, str]]:
    return [(t.pnl, t.size, t.instant_us, t.metadata["note"]) for t in history.trades]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=ROWS)
def test_csv_round_trip(tmp_path: Path, rows: List[Tuple[float, float, datetime, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["timestamp", "pnl", "size", "note"])
    for pnl, size, when, note in rows:
        writer.writerow([when.isoformat(), repr(pnl), repr(size), note])
    path = tmp_path / "round.csv"
    with path.open("w", encoding="utf-8", newline="") as f:  # write_text has no newline= on 3.9
        f.write(buffer.getvalue())

    history = read_trades(path)

    assert read_back(history) == expected_order(rows)
    assert history.skipped == ()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=ROWS)
def test_jsonl_round_trip(tmp_path: Path, rows: List[Tuple[float, float, datetime, str]]) -> None:
    path = write_jsonl(
        tmp_path / "round.jsonl",
        (
            json.dumps({"pnl": pnl, "size": size, "time": when.isoformat(), "note": note})
            for pnl, size, when, note in rows
        ),
    )

    history = read_trades(path)

    assert read_back(history) == expected_order(rows)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=ROWS, bad=st.sets(st.integers(min_value=0, max_value=24)))
def test_skip_bad_keeps_exactly_the_good_rows(
    tmp_path: Path, rows: List[Tuple[float, float, datetime, str]], bad: Set[int]
) -> None:
    bad_rows = sorted(i for i in bad if i < len(rows))
    lines = []
    for i, (pnl, size, when, note) in enumerate(rows):
        shown = "oops" if i in bad_rows else repr(pnl)
        lines.append([when.isoformat(), shown, repr(size), note])
    path = write_csv(tmp_path / "mixed.csv", ["timestamp", "pnl", "size", "note"], lines)

    history = read_trades(path, skip_bad=True)

    good = [row for i, row in enumerate(rows) if i not in bad_rows]
    assert read_back(history) == expected_order(good)
    # Notes may hold newlines, so a row's line is found by counting, not by index + 2.
    assert len(history.skipped) == len(bad_rows)
    assert all("column 'pnl': 'oops' is not a number" in s.reason for s in history.skipped)


# --------------------------------------------------------------------------- short messages


def test_a_json_document_read_as_csv_gives_a_short_error(tmp_path: Path) -> None:
    document = {"strategy": {f"S{i}": {"trades": [{"pair": "BTC/USDT"}] * 30} for i in range(200)}}
    path = tmp_path / "result.csv"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert path.stat().st_size > 100_000

    with pytest.raises(TradeFileError) as info:
        read_trades(path)

    message = str(info.value)
    assert len(message) < 700
    assert "the file looks like JSON" in message
    assert "more" in message


def test_a_secrets_file_read_as_csv_never_echoes_a_key(tmp_path: Path) -> None:
    secret = "sk-live-7f3a9c0d1e2b4a5f"
    path = tmp_path / "bot.csv"
    path.write_text(f"API_KEY={secret}\nAPI_SECRET={secret}x\n", encoding="utf-8")

    with pytest.raises(TradeFileError) as info:
        read_trades(path)

    assert secret not in str(info.value)
    assert "sk-live" not in str(info.value)
    assert "<32 characters>" in str(info.value)


def test_command_line_spelling_names_flags() -> None:
    from quant_rollout.tools.importers import _read_trades

    with pytest.raises(TradeFileError) as info:
        _read_trades(FREQTRADE_FIXTURE)
    assert str(info.value).endswith("pass --strategy to pick one")
    with pytest.raises(TradeFileError) as info:
        _read_trades(POLYMARKET_CSV, pnl="gain")
    assert "Pass --pnl one of them" in str(info.value)
    with pytest.raises(TradeFileError) as info:
        _read_trades(POLYMARKET_CSV, strategy="X")
    assert "--strategy X applies only to freqtrade files" in str(info.value)
    assert "--format freqtrade" in str(info.value)


def test_command_line_spelling_of_a_bad_row(tmp_path: Path) -> None:
    from quant_rollout.tools.importers import _read_trades

    path = write_csv(tmp_path / "t.csv", ["pnl", "size", "timestamp"], [["x", "1", "2026-01-01"]])
    with pytest.raises(TradeFileError) as info:
        _read_trades(path)
    assert "pass --skip-bad to leave bad rows out" in str(info.value)
    assert "skip_bad=True" not in str(info.value)
    with pytest.raises(TradeFileError) as info:
        read_trades(path)
    assert "pass skip_bad=True to leave bad rows out" in str(info.value)


def test_arm_column_is_kept_as_the_trades_arm(tmp_path: Path) -> None:
    file = tmp_path / "arms.csv"
    file.write_text(
        "entry_time,pnl_usd,size_usd,variant\n"
        "2026-03-28T08:00:00Z,1.5,5,control\n"
        "2026-03-28T09:00:00Z,-5,5,7\n"
    )
    history = read_trades(file, arm="variant")
    assert [t.metadata["arm"] for t in history.trades] == ["control", "7"]
    assert history.trades[0].metadata["variant"] == "control"
    only = read_trades(file, arm="variant", metadata_columns=())
    assert only.trades[1].metadata == {"arm": "7"}


def test_a_row_without_its_arm_is_a_bad_row_naming_the_column(tmp_path: Path) -> None:
    file = tmp_path / "arms.csv"
    file.write_text(
        "entry_time,pnl_usd,size_usd,variant\n"
        "2026-03-28T08:00:00Z,1.5,5,control\n"
        "2026-03-28T09:00:00Z,-5,5,\n"
    )
    with pytest.raises(TradeFileError, match=r"line 3, column 'variant': no arm"):
        read_trades(file, arm="variant")
    skipped = read_trades(file, arm="variant", skip_bad=True)
    assert len(skipped.trades) == 1
    assert len(skipped.skipped) == 1
    with pytest.raises(TradeFileError, match="arm must be a column name"):
        read_trades(file, arm="")


@pytest.mark.parametrize(("name", "fmt"), [("deep.jsonl", "jsonl"), ("deep.json", "freqtrade")])
def test_deeply_nested_json_is_a_trade_file_error(tmp_path: Path, name: str, fmt: str) -> None:
    path = tmp_path / name
    path.write_text('{"pnl": ' * 100_000 + "1" + "}" * 100_000 + "\n")
    with pytest.raises(TradeFileError, match="nested too deeply"):
        read_trades(path, format=fmt)
