"""Monte Carlo rows in forked processes (planning/parallel.py): the report is the one
computed in process to the last character, custom criteria (closures, local classes:
nothing picklable) work, a failing row raises as it would in process, progress is
relayed, and no child outlives the call (an interruption included), nor the rows that
the kill switch's own child forks."""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path
from typing import Any, List, Sequence, Tuple

import pytest

from quant_rollout import Gate, KillSwitch, MaxDrawdown, Stage, WinRateCusum, format_plan, plan
from quant_rollout.engine import RolloutConfig
from quant_rollout.planning import parallel as _parallel
from quant_rollout.tools.cli import main
from quant_rollout.tools.config import EXAMPLE_CONFIG, load_config
from quant_rollout.trades import TradeOutcome

pytestmark = pytest.mark.skipif(
    not _parallel.can_fork(), reason="rows are forked only where fork is safe"
)

_SMALL: Any = {"horizon": 300, "paths": 150, "drop_to": 0.5}


def _example(tmp_path: Path) -> Any:
    path = tmp_path / "rollout.toml"
    path.write_text(EXAMPLE_CONFIG, "utf-8")
    return load_config(path)


def _custom_config(check: Any) -> RolloutConfig:
    return RolloutConfig(
        (
            Stage(0, {}),
            Stage(1, {}, Gate(min_n=30, min_win_rate=0.55, min_ev_per_dollar=0.02)),
        ),
        KillSwitch(
            wr_lookback=20,
            wr_threshold=0.5,
            criteria=(WinRateCusum(unacceptable=0.45, expected=0.6), MaxDrawdown(loss=9.0), check),
        ),
    )


def _no_children() -> bool:
    return multiprocessing.active_children() == []


@pytest.mark.parametrize("jobs", [2, 3, 16])
def test_rows_in_processes_give_the_report_computed_in_process(tmp_path: Path, jobs: int) -> None:
    config = _example(tmp_path)
    alone = plan(config, **_SMALL)
    forked = plan(config, jobs=jobs, **_SMALL)
    assert forked == alone
    assert format_plan(forked) == format_plan(alone)
    assert _no_children()


def test_a_custom_criterion_that_cannot_be_pickled_is_planned_in_the_children() -> None:
    seen: List[int] = []

    class Local:  # a local class and a closure: pickle refuses both
        name = "my_check"

        def evaluate(self, trades: Sequence[TradeOutcome]) -> Tuple[bool, None]:
            seen.append(len(trades))
            return len(trades) > 0 and sum(t.pnl for t in trades[-8:]) <= -8, None

    config = _custom_config(Local())
    alone = plan(config, win_rates=[0.45, 0.6], horizon=120, paths=100)
    calls_in_process = len(seen)
    forked = plan(config, win_rates=[0.45, 0.6], horizon=120, paths=100, jobs=2)
    assert forked == alone
    assert len(seen) == calls_in_process  # asked in the children, not here again
    assert "my_check" in (forked.kills[0].kill_switch or "")
    assert _no_children()


def test_a_row_that_fails_in_a_child_raises_here_as_it_would_in_process() -> None:
    class Broken:
        name = "broken"

        def evaluate(self, trades: Sequence[TradeOutcome]) -> Tuple[bool, None]:
            if len(trades) == 7:
                raise ZeroDivisionError("the seventh trade")
            return False, None

    config = _custom_config(Broken())
    with pytest.raises(ZeroDivisionError, match="the seventh trade"):
        plan(config, win_rates=[0.6], horizon=50, paths=100)
    with pytest.raises(ZeroDivisionError, match="the seventh trade"):
        plan(config, win_rates=[0.6], horizon=50, paths=100, jobs=2)
    assert _no_children()


def test_progress_is_relayed_for_every_row(tmp_path: Path) -> None:
    config = _example(tmp_path)
    heard: List[Tuple[str, int, int]] = []
    plan(config, progress=lambda *a: heard.append(a), **_SMALL)
    alone = sorted({row for row, done, total in heard if done == total})
    heard.clear()
    plan(config, jobs=2, progress=lambda *a: heard.append(a), **_SMALL)
    assert sorted({row for row, done, total in heard if done == total}) == alone
    assert alone  # there were Monte Carlo rows


def test_an_interruption_leaves_no_child_behind(tmp_path: Path) -> None:
    config = _example(tmp_path)

    def interrupt(row: str, done: int, total: int) -> None:
        raise KeyboardInterrupt  # as Ctrl-C would, while the parent relays progress

    with pytest.raises(KeyboardInterrupt):
        plan(config, jobs=2, progress=interrupt, **_SMALL)
    assert _no_children()


def test_rows_stay_in_process_while_other_threads_run() -> None:
    assert _parallel.can_fork()
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert not _parallel.can_fork()  # a fork would copy the other thread's locks
    finally:
        release.set()
        thread.join()


def test_jobs_must_be_a_whole_number_of_at_least_one(tmp_path: Path) -> None:
    from quant_rollout import ConfigError

    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="jobs"):
            plan(_example(tmp_path), jobs=bad, **_SMALL)


def test_the_command_line_takes_jobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rollout.toml"
    path.write_text(EXAMPLE_CONFIG, "utf-8")
    args = ["plan", str(path), "--horizon", "200", "--paths", "100"]
    outs = []
    for jobs in ("1", "2"):
        assert main([*args, "--jobs", jobs]) == 0
        outs.append(capsys.readouterr().out)
    assert main(args) == 0  # default: the CPUs this process may use
    outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] == outs[2]
    assert main([*args, "--jobs", "0"]) != 0
    assert "--jobs takes a whole number >= 1, got 0" in capsys.readouterr().err


def test_an_interruption_leaves_no_grandchild_behind(tmp_path: Path) -> None:
    # The kill switch is planned in a child that forks its own rows: every process
    # that computed a row (its pid written by a custom criterion) is gone afterwards.
    pids = tmp_path / "pids"

    class Tells:
        name = "tells"

        def evaluate(self, trades: Sequence[TradeOutcome]) -> Tuple[bool, None]:
            if len(trades) == 1:
                with pids.open("a", encoding="utf-8") as f:
                    f.write(f"{os.getpid()}\n")
            return False, None

    heard: List[str] = []

    def interrupt(row: str, done: int, total: int) -> None:
        heard.append(row)
        if row.startswith("kill"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        plan(
            _custom_config(Tells()),
            win_rates=[0.45, 0.5, 0.6],
            horizon=60,
            paths=100,
            jobs=2,
            progress=interrupt,
        )
    assert any(row.startswith("kill") for row in heard)
    seen = {int(line) for line in pids.read_text("utf-8").split()}
    assert seen
    assert os.getpid() not in seen
    for pid in seen:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # exited and reaped
    assert _no_children()


def test_a_child_reads_no_pipe_so_a_gone_parent_is_noticed() -> None:
    # A child holding a pipe's read end would wait forever, writing to a full pipe
    # whose only reader is itself, once its parent is gone (killed with SIGTERM alone).
    other, _ = multiprocessing.Pipe(duplex=False)  # the end of another pool's child
    _parallel._receivers.add(other)
    try:
        with _parallel.RowPool(2, None) as pool:
            index = pool.submit(lambda progress: (other.closed, len(_parallel._receivers)))
            assert pool.take(index) == (True, 0)  # closed there, its own end too
        assert not other.closed  # still read here
    finally:
        _parallel._receivers.discard(other)
        other.close()
    assert _parallel._receivers == set()
    assert _no_children()
