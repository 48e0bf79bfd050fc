"""The dashboard's pieces that need no browser: settings, the token rules, the launcher,
the curve and its downsampling, the stage timeline, the gate's bounds over time, the
actions, and the layering (nothing imports the dashboard; the core never loads Streamlit).
"""

from __future__ import annotations

import ast
import hmac
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_rollout import Rollout, TradeOutcome, compute_metrics
from quant_rollout.dashboard import launch
from quant_rollout.dashboard.model import (
    GateTimeline,
    act,
    downsample,
    equity_curve,
    fleet_row,
    gate_timeline,
    read_snapshot,
    stage_spans,
    stage_summaries,
)
from quant_rollout.dashboard.settings import (
    SETTINGS_ENV,
    TOKEN_ENV,
    DashboardSettings,
    RolloutEntry,
    TokenError,
    configured_token,
    is_loopback,
    token_matches,
)
from quant_rollout.errors import ConfigError
from quant_rollout.storage.history import read_history

sys.path.insert(0, str(Path(__file__).parent))
from _dashboard_world import World, build_world

SRC = Path(__file__).resolve().parent.parent / "src"
TOKEN = "correct-horse-battery-staple-42"
END = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("world")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path / "w", end=END)


def _clock(at: datetime = END):  # type: ignore[no-untyped-def]
    return lambda: at


# ----------------------------------------------------------------------------- settings


def test_settings_round_trip_through_the_environment_json(tmp_path: Path) -> None:
    s = DashboardSettings(
        (
            RolloutEntry("a", tmp_path / "a.toml", tmp_path / "t.csv"),
            RolloutEntry("b", tmp_path / "b.json"),
        ),
        "alice",
        2.5,
        tmp_path / "token",
        "127.0.0.1",
    )
    assert DashboardSettings.from_env({SETTINGS_ENV: s.to_json()}) == s
    assert s.actor == "dashboard:alice"
    assert s.entry("b") == s.rollouts[1]
    assert s.entry("zzz") is None


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("not json", "not JSON"),
        ("[]", "expected an object"),
        ('{"rollouts": []}', "rollouts must be a non-empty list"),
        ('{"rollouts": [{"key": 1}]}', "rollouts[0]"),
        ('{"rollouts": [{"key": "a", "config": "a", "trades": null}], "name": ""}', "name"),
        (
            '{"rollouts": [{"key": "a", "config": "a", "trades": null}], "name": "n", '
            '"refresh_seconds": -1}',
            "refresh_seconds",
        ),
    ],
)
def test_malformed_settings_name_the_field(text: str, names: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(names)):
        DashboardSettings.from_json(text)


def test_settings_missing_says_how_to_start_it() -> None:
    with pytest.raises(ConfigError, match="quant-rollout dashboard"):
        DashboardSettings.from_env({})


# ----------------------------------------------------------------------------- the token


def test_no_token_configured_means_read_only() -> None:
    assert configured_token(None, {}) is None


def test_token_from_the_environment_and_from_a_file(tmp_path: Path) -> None:
    assert configured_token(None, {TOKEN_ENV: f"  {TOKEN}\n"}) == TOKEN
    f = tmp_path / "token"
    f.write_text(f"{TOKEN}\nsecond line ignored\n", encoding="utf-8")
    # The file wins over the environment: it is what the command line named.
    assert configured_token(f, {TOKEN_ENV: "x" * 40}) == TOKEN


@pytest.mark.parametrize("value", ["", "short", "x" * 15])
def test_a_weak_token_is_refused_not_ignored(value: str) -> None:
    with pytest.raises(TokenError, match="at least 16 characters"):
        configured_token(None, {TOKEN_ENV: value})


def test_an_unreadable_token_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TokenError, match=r"--token-file .*cannot read"):
        configured_token(tmp_path / "missing", {})


def test_token_comparison_is_constant_time_and_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: List[object] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(TOKEN + "x", TOKEN)
    assert not token_matches(TOKEN[:-1], TOKEN)
    assert len(calls) == 3
    assert not token_matches("", TOKEN)
    assert not token_matches(None, TOKEN)
    assert not token_matches(TOKEN, None)
    assert not token_matches("", "")


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.com", False),
    ],
)
def test_loopback_addresses(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


# ----------------------------------------------------------------------------- the launcher


def _launch(argv: List[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = launch.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_check_lists_what_would_be_served(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    code, out, _ = _launch([str(world.config), "--trades", str(world.trades), "--check"], capsys)
    assert code == 0
    assert "would serve http://127.0.0.1:8501, read-only (no action token)" in out
    assert f"polybot: {world.config}" in out
    assert "trades" in out


def test_a_non_loopback_address_is_refused_without_a_token(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    code, _, err = _launch([str(world.config), "--host", "0.0.0.0", "--check"], capsys)
    assert code == 2
    assert "--host 0.0.0.0: refusing to serve beyond this machine without an action token" in err
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    code, out, _ = _launch([str(world.config), "--host", "0.0.0.0", "--check"], capsys)
    assert code == 0
    assert "actions need the token" in out


def test_a_weak_or_missing_token_file_stops_the_launch(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weak = tmp_path / "weak"
    weak.write_text("1234\n", encoding="utf-8")
    code, _, err = _launch([str(world.config), "--token-file", str(weak), "--check"], capsys)
    assert code == 2
    assert "at least 16 characters" in err
    code, _, err = _launch(
        [str(world.config), "--token-file", str(tmp_path / "no"), "--check"], capsys
    )
    assert code == 2
    assert "cannot read the action token" in err


def test_a_group_readable_token_file_is_warned_about(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "token"
    f.write_text(TOKEN, encoding="utf-8")
    f.chmod(0o644)
    code, _, err = _launch([str(world.config), "--token-file", str(f), "--check"], capsys)
    assert code == 0
    assert "can be read by other users; chmod 600" in err
    f.chmod(0o600)
    code, _, err = _launch([str(world.config), "--token-file", str(f), "--check"], capsys)
    assert code == 0
    assert err == ""


def test_folders_expand_to_their_configurations_with_unique_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        (folder / "bot.toml").write_text("", encoding="utf-8")
    (a / "other.json").write_text("{}", encoding="utf-8")
    (a / "notes.txt").write_text("", encoding="utf-8")
    code, out, _ = _launch([str(a), str(b), str(a / "bot.toml"), "--check"], capsys)
    assert code == 0
    assert [line.split(":")[0] for line in out.splitlines()[1:]] == ["bot", "other", "bot-2"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--trades", "t.csv"], "with several rollouts say whose"),
        (["--trades", "nope=t.csv"], "no rollout named 'nope'"),
        (["--trades", "x=t.csv", "--trades", "x=u.csv"], "already has a trade history"),
        (["--port", "0"], "--port must be 1-65535"),
        (["--refresh", "-1"], "--refresh must be >= 0"),
    ],
)
def test_bad_command_lines_are_refused_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: List[str], message: str
) -> None:
    for name in ("x", "y"):
        (tmp_path / f"{name}.toml").write_text("", encoding="utf-8")
    code, _, err = _launch([str(tmp_path), *extra, "--check"], capsys)
    assert code == 2
    assert message in err


def test_missing_paths_and_empty_folders_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = _launch([str(tmp_path / "nope.toml"), "--check"], capsys)
    assert code == 2
    assert "nope.toml: no such file or folder" in err
    code, _, err = _launch([str(tmp_path), "--check"], capsys)
    assert code == 2
    assert "no *.toml or *.json configuration" in err
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QUANT_ROLLOUT_CONFIG", raising=False)
    code, _, err = _launch(["--check"], capsys)
    assert code == 2
    assert "which rollouts?" in err


def test_the_server_command_line_never_carries_the_token(world: World, tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text(TOKEN, encoding="utf-8")
    args = launch._parser().parse_args([str(world.config), "--token-file", str(f)])
    settings = launch.settings_from_args(args)
    argv = launch._streamlit_argv(settings, 8501)
    assert not any(TOKEN in part for part in argv)
    assert TOKEN not in settings.to_json()
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"


def test_quant_rollout_dashboard_runs_the_launcher_as_its_own_process(
    world: World, tmp_path: Path
) -> None:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop(TOKEN_ENV, None)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "quant_rollout",
            "--config",
            str(world.config),
            "dashboard",
            "--check",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "read-only (no action token)" in run.stdout
    assert "polybot" in run.stdout
    helped = subprocess.run(
        [sys.executable, "-m", "quant_rollout", "dashboard", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert helped.returncode == 0
    assert "--token-file FILE" in helped.stdout


# ----------------------------------------------------------------------------- the curve


@given(st.lists(st.floats(-1e6, 1e6), max_size=3000), st.integers(4, 400))
def test_downsampling_keeps_ends_peaks_and_troughs(values: List[float], max_points: int) -> None:
    kept = downsample(values, max_points)
    assert kept == sorted(set(kept))
    if len(values) <= max_points:
        assert kept == list(range(len(values)))
        return
    assert len(kept) <= max_points
    assert kept[0] == 0
    assert kept[-1] == len(values) - 1
    drawn = [values[i] for i in kept]
    assert min(drawn) == min(values)
    assert max(drawn) == max(values)


def test_downsampling_needs_room_for_a_bucket() -> None:
    with pytest.raises(ValueError, match="max_points must be at least 4"):
        downsample([1.0] * 10, 3)


def test_the_equity_curve_is_the_running_pnl_in_opening_order(world: World) -> None:
    trades = list(reversed(world.trade_list))
    curve = equity_curve(trades, max_points=100_000)
    running = 0.0
    for point, trade in zip(curve, world.trade_list):
        running += trade.pnl
        assert point.equity == pytest.approx(running)
        assert point.at_ms == trade.instant_us / 1000
    short = equity_curve(trades, max_points=40)
    assert len(short) <= 40
    assert short[-1].equity == pytest.approx(running)


def test_stage_spans_follow_the_history_and_summaries_add_up(world: World) -> None:
    rollout = Rollout.from_config(world.config, clock=_clock())
    history = rollout.history()
    first = world.trade_list[0].instant_us / 1000
    spans = stage_spans(rollout, history, first)
    assert [s.stage for s in spans] == [0, 1]
    assert spans[0].start_ms == first
    assert spans[-1].end_ms is None
    moved = next(r for r in history if r.to_stage == 1 and r.from_stage == 0)
    assert (
        spans[0].end_ms == spans[1].start_ms == datetime.fromisoformat(moved.at).timestamp() * 1000
    )
    rows = stage_summaries(spans, world.trade_list)
    assert sum(r.trades for r in rows) == len(world.trade_list)
    assert sum(r.pnl for r in rows) == pytest.approx(compute_metrics(world.trade_list).total_pnl)
    # The second stay, checked by brute force.
    inside = [t for t in world.trade_list if t.instant_us >= spans[1].start_ms * 1000]
    assert rows[1].trades == len(inside)
    assert rows[1].win_rate == pytest.approx(sum(t.pnl > 0 for t in inside) / len(inside))
    assert rows[1].end == "now"


def test_stage_spans_without_history_or_trades() -> None:
    assert stage_spans(None, [], None) == []
    only = stage_spans(None, [], 1000.0)
    assert [(s.stage, s.start_ms, s.end_ms) for s in only] == [(0, 1000.0, None)]


def test_the_gate_timeline_ends_where_status_stands(world: World) -> None:
    entry = RolloutEntry("polybot", world.config, world.trades)
    snap = read_snapshot(entry, _clock())
    rows = gate_timeline(snap, points=12)
    assert snap.status is not None
    assert snap.status.gate_progress is not None
    last_n = max(r["n"] for r in rows)
    final = {r["criterion"]: r for r in rows if r["n"] == last_n}
    for c in snap.status.gate_progress:
        assert final[c.name]["observed"] == pytest.approx(c.observed)
        assert final[c.name]["lower_bound"] == c.lower_bound
        assert final[c.name]["required"] == c.required
    ns = sorted({r["n"] for r in rows})
    assert len(ns) <= 13  # 12 kept, plus the last one
    steps = {b - a for a, b in zip(ns, ns[1:-1])}
    assert len(steps) == 1  # evenly spaced by the doubled step
    no_trades = read_snapshot(RolloutEntry("p", world.config), _clock())
    assert no_trades.trades is None
    assert gate_timeline(no_trades) == []


def test_a_kept_gate_timeline_fed_growing_trades_agrees_with_a_fresh_one(world: World) -> None:
    snap = read_snapshot(RolloutEntry("polybot", world.config, world.trades), _clock())
    assert snap.status is not None
    assert snap.rollout is not None
    kept = GateTimeline(snap.rollout, snap.status.state, max_points=10)
    trades = world.trade_list
    for cut in (len(trades) - 60, len(trades) - 25, len(trades) - 1, len(trades)):
        rows = kept.update(trades[:cut], snap.now_us)
    fresh = GateTimeline(snap.rollout, snap.status.state, max_points=10).update(trades, snap.now_us)
    assert rows == fresh
    # A rewritten history (not an extension) starts over rather than mixing the two.
    changed = [*trades[:-1], TradeOutcome(-5.0, 5.0, trades[-1].timestamp)]
    redone = kept.update(changed, snap.now_us)
    assert redone == GateTimeline(snap.rollout, snap.status.state, 10).update(changed, snap.now_us)
    with pytest.raises(ValueError, match="max_points must be at least 2"):
        GateTimeline(snap.rollout, snap.status.state, 1)


# ----------------------------------------------------------------------------- reading, acting


def test_reading_a_rollout_without_a_state_file_writes_nothing(tmp_path: Path) -> None:
    world = build_world(tmp_path / "w", end=END)
    for path in (world.state, world.history, world.state.with_name(world.state.name + ".lock")):
        path.unlink()
    before = sorted(p.name for p in world.config.parent.iterdir())
    snap = read_snapshot(RolloutEntry("p", world.config), _clock())
    assert snap.state_missing
    assert snap.status is None
    assert snap.error is None
    assert sorted(p.name for p in world.config.parent.iterdir()) == before
    assert fleet_row(snap).health == "idle"


def test_act_records_the_dashboards_actor_and_note(world: World) -> None:
    entry = RolloutEntry("polybot", world.config)
    outcome = act(entry, "veto", actor="dashboard:alice", note="not on a Sunday", clock=_clock())
    assert outcome.done, outcome.message
    last = read_history(world.history)[-1]
    assert (last.event, last.actor, last.note) == ("veto", "dashboard:alice", "not on a Sunday")
    again = act(entry, "veto", actor="dashboard:alice", clock=_clock())
    assert not again.done
    assert again.message.startswith("nothing to do:")
    refused = act(entry, "resume", actor="dashboard:alice", clock=_clock())
    assert not refused.done
    assert refused.message.startswith("refused:")
    assert not act(entry, "reset", actor="x", clock=_clock()).done  # left to the shell
    assert len(read_history(world.history)) == len({r.seq for r in read_history(world.history)})


def test_act_on_a_configuration_that_does_not_load_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("state_path = 3\n", encoding="utf-8")
    outcome = act(RolloutEntry("bad", bad), "pause", actor="dashboard:x", clock=_clock())
    assert not outcome.done
    assert outcome.message.startswith("error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


# ----------------------------------------------------------------------------- charts


def test_charts_are_plain_vega_lite_with_the_events_and_stages(world: World) -> None:
    from quant_rollout.dashboard import charts

    rollout = Rollout.from_config(world.config, clock=_clock())
    history = rollout.history()
    curve = equity_curve(world.trade_list)
    spans = stage_spans(rollout, history, curve[0].at_ms)
    spec = charts.equity_chart(curve, spans, history, END.timestamp() * 1000)
    json.dumps(spec, allow_nan=False)  # what the browser receives
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["rect", "line", "rule"]
    bands = spec["layer"][0]["data"]["values"]
    assert [b["stage"] for b in bands] == ["0 (baseline)", "1 (canary)"]
    assert bands[-1]["end"] == END.timestamp() * 1000
    events = {v["event"] for v in spec["layer"][2]["data"]["values"]}
    assert events == {"veto", "pause", "resume", "veto_open", "veto_expired"}
    bare = charts.equity_chart([], [], [], 0.0)
    assert len(bare["layer"]) == 1
    snap = read_snapshot(RolloutEntry("p", world.config, world.trades), _clock())
    gate = charts.gate_chart(gate_timeline(snap, points=5))
    assert gate is not None
    assert [layer["mark"]["type"] for layer in gate["layer"]] == ["rule", "line", "line"]
    assert {b["criterion"] for b in gate["layer"][0]["data"]["values"]} == {
        "win_rate",
        "ev_per_dollar",
    }
    assert charts.gate_chart([]) is None


# ----------------------------------------------------------------------------- layering


def _imports(path: Path) -> List[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: List[str] = []
    package = ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                names.append(".".join(base + ([node.module] if node.module else [])))
            else:
                names.append(node.module or "")
    return names


def test_the_dashboard_is_the_top_layer_nothing_imports_it() -> None:
    offenders = []
    for path in (SRC / "quant_rollout").rglob("*.py"):
        if "dashboard" in path.relative_to(SRC / "quant_rollout").parts[:1]:
            continue
        for name in _imports(path):
            if name.startswith("quant_rollout.dashboard") or name in ("streamlit", "altair"):
                offenders.append(f"{path.relative_to(SRC)}: {name}")
    assert offenders == []


def test_the_core_and_the_command_line_load_without_streamlit() -> None:
    code = (
        "import sys, quant_rollout, quant_rollout.tools.cli;"
        "bad = [m for m in ('streamlit', 'altair', 'quant_rollout.dashboard') if m in sys.modules];"
        "print(json.dumps(bad))"
    )
    run = subprocess.run(
        [sys.executable, "-c", "import json;" + code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(SRC)),
        timeout=60,
        check=True,
    )
    assert json.loads(run.stdout) == []


TICKER_CONFIG = """\
state_path = "rollout_state.json"
veto_window = 3600

[kill_switch]
wr_lookback = 4
wr_threshold = 0.5
ev_lookback = 4
ev_threshold = -10.0

[[stages]]
num = 0
params = { size = 0 }
{gated}
"""


def test_actions_while_a_bot_ticks_in_another_process_are_never_lost(tmp_path: Path) -> None:
    """The dashboard's verbs against tests/_child_ticker.py's real ticking process."""
    import select

    gated = "\n".join(
        f"[[stages]]\nnum = {n}\nparams = {{ size = {n} }}\n"
        "gate = { min_n = 2, min_win_rate = 0.5 }\n"
        for n in (1, 2, 3)
    )
    config = tmp_path / "bot.toml"
    config.write_text(TICKER_CONFIG.replace("{gated}", gated), encoding="utf-8")
    state, stop = tmp_path / "rollout_state.json", tmp_path / "stop"
    ticker = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("_child_ticker.py")),
            "ticker",
            str(state),
            str(stop),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(SRC)),
    )
    assert ticker.stdout is not None
    try:
        readable, _, _ = select.select([ticker.stdout], [], [], 60)
        assert readable, "the ticker did not start"
        assert ticker.stdout.readline().strip() == "ready"
        entry = RolloutEntry("bot", config)
        done: List[str] = []
        refused = 0
        for i in range(30):
            verb = ("veto", "pause", "resume", "clear_kill")[i % 4]
            outcome = act(entry, verb, actor="dashboard:proc", note=f"{i}-{verb}")
            if outcome.done:
                done.append(f"{i}-{verb}")
            else:
                assert outcome.message.startswith(("nothing to do:", "refused:")), outcome
                refused += 1
    finally:
        stop.touch()
        out, err = ticker.communicate(timeout=120)
    assert ticker.returncode == 0, err
    ticked = json.loads(out.splitlines()[-1])
    assert ticked["ticks"] > 0
    records = read_history(state.with_name("rollout_state.history.jsonl"))
    mine = [r for r in records if r.actor == "dashboard:proc"]
    assert sorted(r.note for r in mine) == sorted(done)
    for r in mine:
        assert r.event == r.note.split("-", 1)[1]
    assert Rollout.from_config(config).verify_history().ok
    assert done
    assert refused + len(done) == 30
