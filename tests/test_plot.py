"""Tests of quant_rollout.tools.plot: the PNG, what is drawn, and life without matplotlib."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, List, Tuple

import pytest

from helpers import trade
from quant_rollout import Gate, KillSwitch, RolloutError, Stage
from quant_rollout.engine import RolloutConfig
from quant_rollout.tools.plot import DPI, FIGSIZE_INCHES, PlotUnavailableError, plot_replay
from quant_rollout.tools.replay import ReplayResult, replay

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SRC = Path(__file__).resolve().parents[1] / "src"

# Blocks matplotlib however it is imported (and reports it), as if it were not installed.
BLOCKER = textwrap.dedent(
    """
    import sys
    from importlib.abc import MetaPathFinder

    class NoMatplotlib(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "matplotlib" or name.startswith("matplotlib."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoMatplotlib())
    """
)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )


def advance_then_kill() -> ReplayResult:
    """Stage 0 -> 1 -> 2, then the kill switch sends it back to 0."""
    trades = [trade(f"2026-05-01T{h:02d}:10:00Z", 1.0) for h in range(8)] + [
        trade(f"2026-05-01T{h:02d}:40:00Z", -1.0) for h in range(8, 12)
    ]
    config = RolloutConfig(
        (
            Stage(0, {}, name="baseline"),
            Stage(1, {}, Gate(min_n=3), name="canary"),
            Stage(2, {}, Gate(min_n=3), name="full"),
        ),
        KillSwitch(wr_lookback=3, wr_threshold=0.5, ev_lookback=100, ev_threshold=-10.0),
        veto_window_seconds=600,
    )
    result = replay(trades, config)
    assert [e.event for e in result.timeline] == [
        "veto_open",
        "veto_expired",
        "veto_open",
        "veto_expired",
        "kill",
    ]
    return result


def png_size(path: Path) -> Tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    length, kind, width, height = struct.unpack(">I4sII", data[8:24])
    assert (length, kind) == (13, b"IHDR")
    return width, height


def test_plot_writes_a_png_of_the_documented_size(tmp_path: Path) -> None:
    out = plot_replay(advance_then_kill(), tmp_path / "replay.png")
    assert out == tmp_path / "replay.png"
    assert png_size(out) == (FIGSIZE_INCHES[0] * DPI, FIGSIZE_INCHES[1] * DPI) == (1000, 500)


def test_plot_draws_the_markers_in_their_colours(tmp_path: Path) -> None:
    import matplotlib.image

    pixels = matplotlib.image.imread(str(plot_replay(advance_then_kill(), tmp_path / "r.png")))
    assert pixels.shape[:2] == (500, 1000)
    rgb = (pixels[:, :, :3] * 255).round().astype(int).reshape(-1, 3).tolist()
    colours = {tuple(p) for p in rgb}
    assert (0xD7, 0x19, 0x1C) in colours  # a kill's x
    assert (0x1A, 0x96, 0x41) in colours  # an advance's ^


def test_plot_content_bands_markers_labels_and_legend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.figure

    figures: List[Any] = []

    class RecordingFigure(matplotlib.figure.Figure):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            figures.append(self)

    monkeypatch.setattr(matplotlib.figure, "Figure", RecordingFigure)
    result = advance_then_kill()
    plot_replay(result, tmp_path / "r.png", title="my title", currency="USD")
    (fig,) = figures
    (ax,) = fig.axes
    assert ax.get_title() == "my title"
    assert ax.get_xlabel() == "trade time (UTC)"
    assert ax.get_ylabel() == "cumulative pnl (USD)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [
        "stage 0 (baseline)",
        "stage 1 (canary)",
        "stage 2 (full)",
        "cumulative pnl",
        "advance",
        "kill",
    ]
    assert len(ax.patches) == len(result.periods) == 4  # one band per stretch in a stage
    markers = {c.get_label(): len(c.get_offsets()) for c in ax.collections}
    assert markers == {"advance": 2, "kill": 1}


def test_default_title_and_an_empty_replay(tmp_path: Path) -> None:
    config = RolloutConfig((Stage(0, {}),), KillSwitch(), 0)
    out = plot_replay(replay([], config), tmp_path / "empty.png")
    assert png_size(out) == (1000, 500)


def test_plot_leaves_no_pyplot_state_behind(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from quant_rollout import KillSwitch, Stage, TradeOutcome
        from quant_rollout.engine import RolloutConfig
        from quant_rollout.tools.replay import replay
        from quant_rollout.tools.plot import plot_replay
        config = RolloutConfig((Stage(0, {{}}),), KillSwitch(), 0)
        result = replay([TradeOutcome(1.0, 1.0, "2026-05-01T10:00:00Z")], config)
        plot_replay(result, {str(tmp_path / "p.png")!r})
        print("matplotlib.pyplot" in sys.modules, "matplotlib" in sys.modules)
        """
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True"]


def test_without_matplotlib_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.dates", "matplotlib.backends"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(PlotUnavailableError, match=r"pip install 'quant-rollout\[plot\]'") as err:
        plot_replay(advance_then_kill(), tmp_path / "never.png")
    assert isinstance(err.value, ImportError)
    assert isinstance(err.value, RolloutError)
    assert not (tmp_path / "never.png").exists()


def test_without_matplotlib_in_a_fresh_process(tmp_path: Path) -> None:
    code = BLOCKER + textwrap.dedent(
        f"""
        from quant_rollout import KillSwitch, RolloutError, Stage
        from quant_rollout.engine import RolloutConfig
        from quant_rollout.tools.replay import replay
        from quant_rollout.tools.plot import plot_replay
        result = replay([], RolloutConfig((Stage(0, {{}}),), KillSwitch(), 0))
        try:
            plot_replay(result, {str(tmp_path / "p.png")!r})
        except ImportError as exc:
            assert isinstance(exc, RolloutError)
            print(exc)
        """
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'quant-rollout[plot]'" in proc.stdout
    assert not (tmp_path / "p.png").exists()


def test_quant_rollout_imports_and_replays_with_matplotlib_blocked() -> None:
    code = BLOCKER + textwrap.dedent(
        """
        import importlib, json, pkgutil
        import quant_rollout
        names = sorted(
            m.name for m in pkgutil.walk_packages(quant_rollout.__path__, "quant_rollout.")
            if ".dashboard" not in m.name and not m.name.endswith("__main__")
        )
        for name in names:
            importlib.import_module(name)
        from quant_rollout import KillSwitch, Stage, TradeOutcome
        from quant_rollout.engine import RolloutConfig
        from quant_rollout.tools.replay import format_summary, format_timeline, replay
        config = RolloutConfig((Stage(0, {}),), KillSwitch(), 0)
        result = replay([TradeOutcome(1.0, 1.0, "2026-05-01T10:00:00Z")], config)
        format_timeline(result), format_summary(result)
        print(json.dumps({"modules": names, "matplotlib": "matplotlib" in sys.modules}))
        """
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert {"quant_rollout.tools.plot", "quant_rollout.tools.replay"} <= set(report["modules"])
    assert report["matplotlib"] is False


def test_the_core_never_imports_the_plot_module() -> None:
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import quant_rollout
        for m in pkgutil.walk_packages(quant_rollout.__path__, "quant_rollout."):
            if not m.name.startswith(("quant_rollout.tools", "quant_rollout.dashboard")) and (
                not m.name.endswith("__main__")
            ):
                importlib.import_module(m.name)
        print("quant_rollout.tools.plot" in sys.modules, "matplotlib" in sys.modules)
        """
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]
