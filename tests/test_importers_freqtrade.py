"""The importer against files written by a real freqtrade 2026.9 (tests/data/freqtrade_2026).

Every expectation is read from freqtrade's own output, apart from the importer: the
results JSON inside the zip (``profit_ratio`` per trade, the report's ``wins``,
``profit_total_abs`` and ``profit_mean``) and the database's ``close_profit``. With
freqtrade installed (``pip install -e '.[freqtrade]'``), the same checks also run on
files that freqtrade writes afresh into a temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from quant_rollout.errors import TradeFileError
from quant_rollout.tools.importers import read_trades

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "data" / "freqtrade_2026"
SCRIPT = REPO / "scripts" / "make_freqtrade_fixtures.py"


def _has_freqtrade() -> bool:
    try:
        import freqtrade  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(
    scope="module",
    params=[
        "committed",
        pytest.param(
            "fresh",
            marks=pytest.mark.skipif(
                not _has_freqtrade(), reason="freqtrade is not installed (extra 'freqtrade')"
            ),
        ),
    ],
)
def output(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The committed fixtures, or (freqtrade installed) a run of freqtrade made now."""
    if request.param == "committed":
        yield FIXTURES
        return
    scratch = Path(tempfile.mkdtemp(prefix="ft-fixtures-"))
    try:
        subprocess.run(
            [sys.executable, str(SCRIPT), str(scratch)],
            check=True,
            capture_output=True,
            timeout=600,
        )
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def zip_of(folder: Path) -> Path:
    (found,) = folder.glob("backtest-result-*.zip")
    return found


def results(folder: Path) -> Dict[str, Any]:
    """freqtrade's results JSON, read from its zip without the importer."""
    archive = zip_of(folder)
    with zipfile.ZipFile(archive) as zipped:
        return dict(json.loads(zipped.read(archive.stem + ".json")))


def expected(output: Path) -> Dict[str, Any]:
    return dict(json.loads((output / "expected.json").read_text(encoding="utf-8")))


# --------------------------------------------------------------------------- backtest zip


@pytest.mark.parametrize(
    ("run", "strategy"),
    [("spot", "PartialExits"), ("spot", "PlainCross"), ("futures", "PartialExitsFutures")],
)
def test_zip_matches_freqtrades_report_and_its_profit_ratio_per_trade(
    output: Path, run: str, strategy: str
) -> None:
    report = expected(output)[run][strategy]
    trades = results(output / run)["strategy"][strategy]["trades"]

    history = read_trades(zip_of(output / run), strategy=strategy)

    assert history.format == "freqtrade"
    assert history.strategy == strategy
    assert history.size_column == "max_stake_amount * (1 +/- fee_open)"
    assert len(history.trades) == report["total_trades"] == len(trades)
    assert sum(t.pnl > 0 for t in history.trades) == report["wins"]
    assert math.fsum(t.pnl for t in history.trades) == pytest.approx(
        report["profit_total_abs"], abs=1e-6
    )
    # Trade by trade, pnl/size is freqtrade's own profit_ratio (partial exits, leverage
    # and shorts included), so the mean is the report's profit_mean.
    by_open = sorted(trades, key=lambda t: t["open_timestamp"])
    for trade, raw in zip(history.trades, by_open):
        assert trade.metadata["pair"] == raw["pair"]
        assert trade.pnl / trade.size == pytest.approx(raw["profit_ratio"], rel=1e-9, abs=1e-12)
    mean_ratio = math.fsum(t.pnl / t.size for t in history.trades) / len(history.trades)
    assert mean_ratio == pytest.approx(report["profit_mean"], rel=1e-9)


def test_partial_exits_shrink_stake_amount_so_it_is_not_the_default_size(output: Path) -> None:
    trades = results(output / "spot")["strategy"]["PartialExits"]["trades"]
    partial = [t for t in trades if t["stake_amount"] < t["max_stake_amount"] - 1e-9]
    assert len(partial) >= 10  # the fixture really has partial exits

    by_stake = read_trades(zip_of(output / "spot"), strategy="PartialExits", size="stake_amount")
    assert by_stake.size_column == "stake_amount"
    off = [
        t
        for t in by_stake.trades
        if abs(t.pnl / t.size - t.metadata["profit_ratio"]) > 1e-6 * max(1.0, abs(t.pnl))
    ]
    # Dividing by the shrunken stake overstates those trades' ratios (up to about 2x).
    assert len(off) >= len(partial) - 2


def test_futures_size_is_margin_at_3x_leverage_with_longs_and_shorts(output: Path) -> None:
    history = read_trades(zip_of(output / "futures"))

    assert {t.metadata["leverage"] for t in history.trades} == {3.0}
    assert {t.metadata["is_short"] for t in history.trades} == {True, False}
    for trade in history.trades:
        if trade.metadata["orders"] and len(trade.metadata["orders"]) == 2:
            # One entry, one exit: the margin is the position's value over the leverage.
            entry = trade.metadata["orders"][0]
            notional = entry["amount"] * entry["safe_price"]
            fee = trade.metadata["fee_open"]
            factor = 1 - fee if trade.metadata["is_short"] else 1 + fee
            assert trade.size == pytest.approx(notional / 3.0 * factor, rel=1e-6)


def test_zip_with_two_strategies_needs_strategy(output: Path) -> None:
    archive = zip_of(output / "spot")

    with pytest.raises(TradeFileError) as info:
        read_trades(archive)

    assert str(info.value) == (
        f"{archive}: holds 2 strategies ('PartialExits', 'PlainCross'); pass strategy= to pick one"
    )


def test_folder_and_last_result_follow_to_the_latest_zip(output: Path) -> None:
    folder = output / "futures"
    direct = read_trades(zip_of(folder))

    for given in (folder, folder / ".last_result.json"):
        followed = read_trades(given)
        assert followed.trades == direct.trades
        assert followed.source == str(given)
        assert followed.read_from == str(zip_of(folder))
    assert direct.read_from is None


def test_meta_json_is_refused_with_the_result_beside_it(output: Path) -> None:
    archive = zip_of(output / "spot")
    meta = archive.with_name(archive.stem + ".meta.json")

    with pytest.raises(TradeFileError) as info:
        read_trades(meta)

    assert str(info.value) == (
        f"{meta}: is freqtrade's metadata about a backtest (run id, time range), not its "
        f"trades; read {archive} instead, or the folder to read the latest result"
    )


def test_zip_with_explicit_format_and_a_renamed_zip(output: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "my-run.zip"
    shutil.copyfile(zip_of(output / "futures"), renamed)

    assert (
        read_trades(renamed, format="freqtrade").trades
        == read_trades(zip_of(output / "futures")).trades
    )


def test_broken_pointers_and_zips_say_what_to_pass(tmp_path: Path) -> None:
    (tmp_path / ".last_result.json").write_text('{"latest_backtest": "../../etc/passwd"}')
    with pytest.raises(TradeFileError, match=r"should name a file in the same folder"):
        read_trades(tmp_path)
    (tmp_path / ".last_result.json").write_text('{"latest_backtest": "gone.zip"}')
    with pytest.raises(TradeFileError, match=r"names 'gone.zip' as the latest backtest, but"):
        read_trades(tmp_path / ".last_result.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TradeFileError, match=r"is a directory, not a trade file"):
        read_trades(empty)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zipped:
        zipped.writestr("notes.txt", "hello")
    with pytest.raises(TradeFileError, match=r"a zip without a freqtrade backtest result"):
        read_trades(other)


# --------------------------------------------------------------------------- database


def db_copy(output: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "tradesv3.sqlite"
    shutil.copyfile(output / "tradesv3.sqlite", target)
    return target


def test_database_is_in_wal_mode_and_needs_strategy(output: Path, tmp_path: Path) -> None:
    path = db_copy(output, tmp_path / "db")
    assert path.read_bytes()[18:20] == b"\x02\x02"  # freqtrade switched it to WAL

    with pytest.raises(TradeFileError) as info:
        read_trades(path)

    assert str(info.value) == (
        f"{path}: holds the closed trades of 3 strategies ('PartialExits', "
        "'PartialExitsFutures', 'PlainCross'); pass strategy= to pick one"
    )


@pytest.mark.parametrize(
    ("run", "strategy"),
    [("spot", "PartialExits"), ("spot", "PlainCross"), ("futures", "PartialExitsFutures")],
)
def test_database_matches_the_backtest_and_close_profit(
    output: Path, tmp_path: Path, run: str, strategy: str
) -> None:
    path = db_copy(output, tmp_path / "db")
    report = expected(output)[run][strategy]

    history = read_trades(path, strategy=strategy)

    assert history.strategy == strategy
    assert len(history.trades) == report["total_trades"]
    with sqlite3.connect(str(path)) as connection:
        (closed_profit,) = connection.execute(
            "SELECT sum(close_profit_abs) FROM trades WHERE strategy = ? AND is_open = 0",
            (strategy,),
        ).fetchone()
    # freqtrade's closed profit is that sum; for spot it is also the backtest's total
    # (the futures trades lost their funding fees on the way into the database).
    assert math.fsum(t.pnl for t in history.trades) == pytest.approx(closed_profit, abs=1e-9)
    if run == "spot":
        assert closed_profit == pytest.approx(report["profit_total_abs"], abs=1e-6)
        assert sum(t.pnl > 0 for t in history.trades) == report["wins"]
    for trade in history.trades:
        assert trade.pnl / trade.size == pytest.approx(
            trade.metadata["close_profit"], rel=1e-9, abs=1e-12
        )


def listing(folder: Path) -> List[str]:
    return sorted(os.listdir(folder))


def test_reading_a_wal_database_creates_no_file_beside_it(output: Path, tmp_path: Path) -> None:
    path = db_copy(output, tmp_path / "db")
    before = listing(path.parent)

    read_trades(path, strategy="PlainCross")

    assert listing(path.parent) == before == ["tradesv3.sqlite"]


def test_a_running_bots_wal_is_read_and_nothing_is_added(output: Path, tmp_path: Path) -> None:
    path = db_copy(output, tmp_path / "db")
    count = len(read_trades(path, strategy="PlainCross").trades)
    bot = sqlite3.connect(str(path))
    try:
        bot.execute("PRAGMA wal_autocheckpoint = 0")  # the new trade stays in the -wal
        bot.executescript(
            "CREATE TEMP TABLE one AS SELECT * FROM trades WHERE strategy = 'PlainCross' "
            "LIMIT 1;"
            "UPDATE one SET id = (SELECT max(id) + 1 FROM trades), "
            "open_date = '2026-01-10 00:00:00.000000', close_date = '2026-01-10 01:00:00.000000', "
            "close_profit = 0.01, close_profit_abs = max_stake_amount * (1 + fee_open) * 0.01;"
            "INSERT INTO trades SELECT * FROM one;"
        )
        bot.commit()
        assert (path.parent / "tradesv3.sqlite-wal").stat().st_size > 0
        before = listing(path.parent)

        history = read_trades(path, strategy="PlainCross")

        assert len(history.trades) == count + 1
        assert history.trades[-1].pnl / history.trades[-1].size == pytest.approx(0.01)
        assert listing(path.parent) == before
    finally:
        bot.close()


@contextlib.contextmanager
def unwritable(*paths: Path) -> Iterator[None]:
    """Make folders and files unwritable, even to root (``chattr +i``), then restore them."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            os.chmod(p, 0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                os.chmod(p, mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root without chattr: cannot make a folder read-only")
    done: List[Path] = []
    try:
        for p in paths:
            result = subprocess.run([chattr, "+i", str(p)], capture_output=True, check=False)
            if result.returncode != 0:
                pytest.skip(f"chattr +i is refused here: {result.stderr[:200]!r}")
            done.append(p)
        yield
    finally:
        for p in done:
            subprocess.run([chattr, "-i", str(p)], capture_output=True, check=False)


def test_read_only_folder_without_wal_files_reads_and_adds_nothing(
    output: Path, tmp_path: Path
) -> None:
    path = db_copy(output, tmp_path / "db")
    expected_count = expected(output)["spot"]["PlainCross"]["total_trades"]

    with unwritable(path.parent):
        with pytest.raises(OSError, match=r"ermi"):
            (path.parent / "probe").touch()  # the folder really is read-only
        assert len(read_trades(path, strategy="PlainCross").trades) == expected_count
    assert listing(path.parent) == ["tradesv3.sqlite"]


def test_read_only_folder_with_a_live_wal_reads_through_a_private_copy(
    output: Path, tmp_path: Path
) -> None:
    path = db_copy(output, tmp_path / "db")
    expected_count = expected(output)["spot"]["PlainCross"]["total_trades"]
    bot = sqlite3.connect(str(path))
    try:
        bot.execute("PRAGMA wal_autocheckpoint = 0")
        bot.execute(
            "DELETE FROM trades WHERE id = (SELECT min(id) FROM trades "
            "WHERE strategy = 'PlainCross')"
        )
        bot.commit()
        sidecars = [path.parent / "tradesv3.sqlite-wal", path.parent / "tradesv3.sqlite-shm"]
        assert all(p.exists() for p in sidecars)
        before = listing(path.parent)

        with unwritable(path.parent, *sidecars):
            history = read_trades(path, strategy="PlainCross")

        assert len(history.trades) == expected_count - 1  # the change in the -wal is seen
        assert listing(path.parent) == before
    finally:
        bot.close()
