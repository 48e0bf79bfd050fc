"""Produce the freqtrade fixtures in tests/data/freqtrade_2026/ with a REAL freqtrade.

Run it with a Python that has freqtrade installed (``pip install 'quant-rollout[freqtrade]'``
or ``pip install freqtrade==2026.9``), offline::

    python scripts/make_freqtrade_fixtures.py OUTPUT_DIR

Everything freqtrade reads is made here, so the output holds no freqtrade (GPL) code or
data: the candles are a seeded random walk, the two strategies below are ours (MIT), and
the exchange's market list is a minimal one written here (no network is used: the
script hands freqtrade these markets instead of asking Binance). freqtrade itself does
the rest through its own command line and its own ``Trade`` model:

``spot/``
    ``freqtrade backtesting --strategy-list PartialExits PlainCross --export trades`` on
    spot markets: ``backtest-result-<ts>.zip`` (the results JSON inside, plus the config
    and the strategy source that freqtrade stores), ``backtest-result-<ts>.meta.json`` and
    ``.last_result.json``, exactly as freqtrade writes them. PartialExits sells half of
    a winning position once (a partial exit), so freqtrade lowers ``stake_amount``.
``futures/``
    The same backtest of PartialExits alone on USDT futures at 3x leverage, longs and
    shorts: ``stake_amount`` and ``max_stake_amount`` are margin.
``tradesv3.sqlite``
    Every closed trade of both spot strategies and of the futures run, written to a fresh
    database through freqtrade's ``init_db`` and ``Trade`` model (``Trade.from_json`` on
    the exported trades, then ``recalc_trade_from_orders`` so freqtrade recomputes
    ``max_stake_amount`` itself). freqtrade switches the database to WAL mode; the script
    checkpoints and closes it, so no ``-wal``/``-shm`` file is left beside it.
``expected.json``
    freqtrade's own figures for each result, read from its report (``total_trades``,
    ``wins``, ``profit_total_abs``, ``profit_mean``) for the tests to compare against.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sqlite3
import sys
import tempfile
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List

START = datetime(2026, 1, 5, tzinfo=timezone.utc)
DAYS = 4
TIMEFRAME_MINUTES = 5
TIMERANGE = "20260105-20260109"
PAIRS = {"BTC": 60_000.0, "ETH": 3_000.0, "SOL": 140.0}

STRATEGIES = '''
"""Two small strategies for fixtures (MIT, quant-rollout)."""
from datetime import datetime
from typing import Optional

from pandas import DataFrame

from freqtrade.persistence import Trade
from freqtrade.strategy import IStrategy


class PlainCross(IStrategy):
    """Buy when the close crosses above its 20-candle mean, leave on ROI, stop or signal."""

    INTERFACE_VERSION = 3
    timeframe = "5m"
    minimal_roi = {"0": 0.03}
    stoploss = -0.04
    can_short = False
    startup_candle_count = 30

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["mean20"] = dataframe["close"].rolling(20).mean()
        dataframe["mean50"] = dataframe["close"].rolling(50).mean()
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        up = (dataframe["close"] > dataframe["mean20"]) & (
            dataframe["close"].shift(1) <= dataframe["mean20"].shift(1)
        )
        dataframe.loc[up, "enter_long"] = 1
        if self.can_short:
            down = (dataframe["close"] < dataframe["mean20"]) & (
                dataframe["close"].shift(1) >= dataframe["mean20"].shift(1)
            )
            dataframe.loc[down, "enter_short"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["close"] < dataframe["mean50"], "exit_long"] = 1
        if self.can_short:
            dataframe.loc[dataframe["close"] > dataframe["mean50"], "exit_short"] = 1
        return dataframe


class PartialExits(PlainCross):
    """PlainCross that sells half of a position once it is 1% in profit."""

    position_adjustment_enable = True
    minimal_roi = {"0": 0.05}

    def adjust_trade_position(
        self, trade: Trade, current_time: datetime, current_rate: float,
        current_profit: float, min_stake: Optional[float], max_stake: float,
        current_entry_rate: float, current_exit_rate: float,
        current_entry_profit: float, current_exit_profit: float, **kwargs
    ) -> Optional[float]:
        if trade.nr_of_successful_exits == 0 and current_profit > 0.01:
            return -(trade.stake_amount / 2)
        return None


class PartialExitsFutures(PartialExits):
    """PartialExits on futures, long and short, at 3x leverage."""

    can_short = True

    def leverage(self, pair: str, current_time: datetime, current_rate: float,
                 proposed_leverage: float, max_leverage: float, entry_tag: Optional[str],
                 side: str, **kwargs) -> float:
        return 3.0
'''


def _market(base: str, futures: bool) -> Dict[str, Any]:
    symbol = f"{base}/USDT:USDT" if futures else f"{base}/USDT"
    return {
        "id": f"{base}USDT",
        "symbol": symbol,
        "base": base,
        "quote": "USDT",
        "settle": "USDT" if futures else None,
        "baseId": base,
        "quoteId": "USDT",
        "settleId": "USDT" if futures else None,
        "type": "swap" if futures else "spot",
        "spot": not futures,
        "margin": False,
        "swap": futures,
        "future": False,
        "option": False,
        "contract": futures,
        "linear": True if futures else None,
        "inverse": False if futures else None,
        "contractSize": 1.0 if futures else None,
        "active": True,
        "taker": 0.001,
        "maker": 0.001,
        "precision": {"amount": 0.0001, "price": 0.01},
        "limits": {
            "amount": {"min": 0.0001, "max": 10_000.0},
            "price": {"min": 0.01, "max": 1_000_000.0},
            "cost": {"min": 5.0, "max": None},
            "leverage": {"min": 1.0, "max": 20.0},
        },
        "info": {},
    }


def _candles(seed: int, start_price: float, minutes: int, count: int) -> List[List[float]]:
    rng = random.Random(seed)
    price = start_price
    rows: List[List[float]] = []
    for i in range(count):
        opened = price
        # A slow sine drift keeps trends long enough for entries, ROI and partial exits.
        drift = 0.0004 * math.sin(i / 400.0)
        closes = [opened]
        for _ in range(4):
            closes.append(closes[-1] * math.exp(drift / 4 + rng.gauss(0.0, 0.0025)))
        price = closes[-1]
        rows.append(
            [
                int((START + timedelta(minutes=minutes * i)).timestamp() * 1000),
                round(opened, 4),
                round(max(closes) * (1 + abs(rng.gauss(0, 0.0005))), 4),
                round(min(closes) * (1 - abs(rng.gauss(0, 0.0005))), 4),
                round(price, 4),
                round(rng.uniform(10.0, 100.0), 3),
            ]
        )
    return rows


def _write_data(userdir: Path) -> None:
    import pandas as pd

    columns = ["date", "open", "high", "low", "close", "volume"]
    count = DAYS * 24 * 60 // TIMEFRAME_MINUTES
    hours = DAYS * 24
    root = userdir / "data" / "binance"
    (root / "futures").mkdir(parents=True)
    for seed, (base, price) in enumerate(PAIRS.items()):
        frame = pd.DataFrame(_candles(seed, price, TIMEFRAME_MINUTES, count), columns=columns)
        frame["date"] = pd.to_datetime(frame["date"], unit="ms", utc=True)
        frame.to_feather(root / f"{base}_USDT-5m.feather")
        frame.to_feather(root / "futures" / f"{base}_USDT_USDT-5m-futures.feather")
        hourly = pd.DataFrame(_candles(seed, price, 60, hours), columns=columns)
        hourly["date"] = pd.to_datetime(hourly["date"], unit="ms", utc=True)
        hourly.to_feather(root / "futures" / f"{base}_USDT_USDT-1h-mark.feather")
        funding = hourly.copy()
        for column in ("open", "high", "low", "close"):
            funding[column] = 0.0001
        funding["volume"] = 0.0
        funding.to_feather(root / "futures" / f"{base}_USDT_USDT-1h-funding_rate.feather")


def _config(userdir: Path, futures: bool) -> Dict[str, Any]:
    pairs = [f"{b}/USDT:USDT" if futures else f"{b}/USDT" for b in PAIRS]
    config: Dict[str, Any] = {
        "max_open_trades": 3,
        "stake_currency": "USDT",
        "stake_amount": 100,
        "tradable_balance_ratio": 0.99,
        "dry_run": True,
        "dry_run_wallet": 1000,
        "timeframe": "5m",
        "fee": 0.001,
        "user_data_dir": str(userdir),
        "dataformat_ohlcv": "feather",
        "entry_pricing": {"price_side": "same", "use_order_book": False, "order_book_top": 1},
        "exit_pricing": {"price_side": "same", "use_order_book": False, "order_book_top": 1},
        "exchange": {
            "name": "binance",
            "key": "",
            "secret": "",
            "pair_whitelist": pairs,
            "pair_blacklist": [],
        },
        "pairlists": [{"method": "StaticPairList"}],
    }
    if futures:
        config["trading_mode"] = "futures"
        config["margin_mode"] = "isolated"
        # Binance futures tickers carry no price, so freqtrade insists on order-book
        # pricing; a backtest never asks for either.
        for side in ("entry_pricing", "exit_pricing"):
            config[side]["use_order_book"] = True
    return config


def _patch_exchange(futures: bool) -> None:
    """Hand freqtrade our markets instead of downloading Binance's (no network here)."""
    from freqtrade.exchange.exchange import Exchange

    markets = [_market(base, futures) for base in PAIRS]

    async def reload_markets(self: Any, reload: bool = False) -> Any:
        self._api_async.set_markets(markets)
        return self._api_async.markets

    Exchange._api_reload_markets = reload_markets  # type: ignore[method-assign]


def _backtest(userdir: Path, out: Path, strategies: List[str], futures: bool) -> None:
    from freqtrade.commands import Arguments
    from freqtrade.commands.optimize_commands import start_backtesting

    config_path = userdir / ("config-futures.json" if futures else "config-spot.json")
    config_path.write_text(json.dumps(_config(userdir, futures), indent=2))
    out.mkdir(parents=True)
    argv = [
        "backtesting",
        "--config",
        str(config_path),
        "--userdir",
        str(userdir),
        "--strategy-list",
        *strategies,
        "--timerange",
        TIMERANGE,
        "--export",
        "trades",
        "--backtest-directory",
        str(out),
        "--cache",
        "none",
    ]
    _patch_exchange(futures)
    start_backtesting(Arguments(argv).get_parsed_arg())


def _results(directory: Path) -> Dict[str, Any]:
    latest = json.loads((directory / ".last_result.json").read_text())["latest_backtest"]
    archive = directory / latest
    with zipfile.ZipFile(archive) as zipped:
        return dict(json.loads(zipped.read(Path(latest).with_suffix(".json").name)))


def _write_database(path: Path, runs: List[Dict[str, Any]]) -> None:
    from freqtrade.persistence import Trade, init_db

    init_db(f"sqlite:///{path}")
    for result in runs:
        for name, strategy in result["strategy"].items():
            for data in strategy["trades"]:
                trade = Trade.from_json(json.dumps({**data, "strategy": name}))
                trade.recalc_trade_from_orders(is_closing=True)
                Trade.session.add(trade)
    Trade.commit()
    engine = Trade.session.get_bind()
    Trade.session.remove()
    engine.dispose()  # close every pooled connection, so SQLite can drop its -wal/-shm
    engine_connection = sqlite3.connect(path)
    try:
        engine_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine_connection.close()


def _expected(runs: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    keys = ("total_trades", "wins", "losses", "draws", "profit_total_abs", "profit_mean")
    return {
        run: {name: {k: s[k] for k in keys} for name, s in result["strategy"].items()}
        for run, result in runs.items()
    }


def main(argv: List[str]) -> int:
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    import freqtrade

    output = Path(argv[1]).resolve()
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        userdir = Path(scratch) / "user_data"
        (userdir / "strategies").mkdir(parents=True)
        (userdir / "strategies" / "fixture_strategies.py").write_text(STRATEGIES)
        _write_data(userdir)
        runs: Dict[str, Dict[str, Any]] = {}
        for run, strategies, futures in (
            ("spot", ["PartialExits", "PlainCross"], False),
            ("futures", ["PartialExitsFutures"], True),
        ):
            target = output / run
            if target.exists():
                shutil.rmtree(target)
            _backtest(userdir, target, strategies, futures)
            runs[run] = _results(target)
        database = output / "tradesv3.sqlite"
        for leftover in output.glob("tradesv3.sqlite*"):
            leftover.unlink()
        _write_database(database, list(runs.values()))
    expected = _expected(runs)
    expected["freqtrade_version"] = freqtrade.__version__
    (output / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    print(f"wrote {output} with freqtrade {freqtrade.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
