"""``quant-rollout plan``'s progress line: drawn on a terminal's stderr, never elsewhere."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, List

import pytest

from quant_rollout.tools.cli import main
from quant_rollout.tools.cli.plan import ProgressLine
from quant_rollout.tools.config import EXAMPLE_CONFIG


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _clock(times: List[float]) -> Callable[[], float]:
    it = iter(times)
    return lambda: next(it)


def test_the_line_shows_rows_runs_time_and_the_rows_time_left() -> None:
    stream = io.StringIO()
    # began, row start, 2 s later (drawn), 0.1 s later (too soon: skipped), row end
    line = ProgressLine(stream, clock=_clock([0.0, 0.0, 2.0, 2.1, 4.0]), every=0.2)
    line("gate 1 win rate 0.55", 0, 1000)
    line("gate 1 win rate 0.55", 500, 1000)
    line("gate 1 win rate 0.55", 600, 1000)
    line("gate 1 win rate 0.55", 1000, 1000)
    drawn = [part.rstrip() for part in stream.getvalue().split("\r") if part]
    assert drawn == [
        "plan: 0 Monte Carlo rows done; gate 1 win rate 0.55: 0/1,000 runs; 0 s",
        "plan: 0 Monte Carlo rows done; gate 1 win rate 0.55: 500/1,000 runs; 2 s, "
        "~2 s left in the row",
        "plan: 1 Monte Carlo rows done; gate 1 win rate 0.55: 1,000/1,000 runs; 4 s",
    ]
    line.close()
    assert stream.getvalue().endswith("\r" + " " * len(drawn[-1]) + "\r")


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "rollout.toml"
    path.write_text(EXAMPLE_CONFIG, "utf-8")
    return path


ARGS = ("--paths", "100", "--horizon", "60", "--win-rates", "0.5,0.7")


def test_nothing_on_stderr_when_it_is_not_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", str(_config(tmp_path)), *ARGS]) == 0
    out, err = capsys.readouterr()
    assert "P(advance)" in out
    assert err == ""


def test_a_terminal_sees_the_line_then_a_clean_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["plan", str(_config(tmp_path)), *ARGS]) == 0
    out, _ = capsys.readouterr()
    assert "P(advance)" in out
    assert "\r" not in out
    err = terminal.getvalue()
    assert "Monte Carlo rows done" in err
    assert "/100 runs" in err
    assert err.endswith("\r")
    assert err.rstrip("\r ").count("\r") >= 2
