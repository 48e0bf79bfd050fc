"""The dashboard's pages through Streamlit's own test harness (AppTest): every view,
every action, the token rules and bad input, against real state files.

The app runs in-process with a fixed clock (``QUANT_ROLLOUT_NOW``); the actions go
through the library's verbs and are checked in the history file. A rollout that
cannot be read must show exactly the command line's message and write nothing,
while the others keep working.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import pytest

if os.environ.get("QUANT_ROLLOUT_REQUIRE_BROWSER"):
    import streamlit  # noqa: F401  (.ci/run: a missing extra fails, never skips)
else:
    pytest.importorskip(
        "streamlit", reason="the dashboard extra is not installed: pip install -e '.[dashboard]'"
    )

from streamlit.testing.v1 import AppTest

from quant_rollout import ManualClock, Rollout, TradeOutcome
from quant_rollout.dashboard.settings import (
    SETTINGS_ENV,
    TOKEN_ENV,
    DashboardSettings,
    RolloutEntry,
)
from quant_rollout.storage.history import read_history
from quant_rollout.tools.cli import main as cli_main

sys.path.insert(0, str(Path(__file__).parent))
from _dashboard_world import World, build_killed, build_world

APP = Path(__file__).resolve().parent.parent / "src" / "quant_rollout" / "dashboard" / "app.py"
END = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
NOW = (END + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
TOKEN = "correct-horse-battery-staple-42"


def _entry(world: World, key: str = "polybot", trades: bool = True) -> RolloutEntry:
    return RolloutEntry(key, world.config, world.trades if trades else None)


def _app(
    monkeypatch: pytest.MonkeyPatch,
    entries: Iterable[RolloutEntry],
    *,
    token: Optional[str] = None,
    token_file: Optional[Path] = None,
    address: str = "127.0.0.1",
    refresh: float = 0.0,
    open_key: Optional[str] = None,
) -> AppTest:
    settings = DashboardSettings(tuple(entries), "tester", refresh, token_file, address)
    monkeypatch.setenv(SETTINGS_ENV, settings.to_json())
    monkeypatch.setenv("QUANT_ROLLOUT_NOW", NOW)
    if token is None:
        monkeypatch.delenv(TOKEN_ENV, raising=False)
    else:
        monkeypatch.setenv(TOKEN_ENV, token)
    at = AppTest.from_file(str(APP), default_timeout=60)
    if open_key is not None:
        at.query_params["rollout"] = open_key
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(elements: Any) -> List[str]:
    return [str(e.value) for e in elements]


def _labels(at: AppTest) -> List[str]:
    return [b.label for b in at.button]


def _unlock(at: AppTest, token: str = TOKEN) -> None:
    at.sidebar.text_input(key="action_token").input(token).run()
    assert not at.exception


def _files(folder: Path) -> Dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _cli_error(config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """What ``quant-rollout status --config FILE`` prints on stderr, without its prog name."""
    capsys.readouterr()
    assert cli_main(["status", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("quant-rollout: ")
    return err[len("quant-rollout: ") :]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path / "polybot", end=END)


@pytest.fixture
def killed(tmp_path: Path) -> World:
    return build_killed(tmp_path / "sniper", end=END)


# ----------------------------------------------------------------------------- the fleet


def test_the_fleet_shows_every_rollout_with_its_phase_and_health(
    monkeypatch: pytest.MonkeyPatch, world: World, killed: World
) -> None:
    at = _app(monkeypatch, [_entry(world), _entry(killed, "sniper")], refresh=5)
    assert _texts(at.title) == ["Rollouts"]
    md = "\n".join(_texts(at.markdown))
    assert ":orange[●] **polybot**" in md
    assert "veto pending: → 2 (full_size) in 23h50m" in md
    assert "**1 (canary)**" in md
    assert "#8 veto_open, 10m00s ago" in md
    assert ":red[●] **sniper**" in md
    assert "killed: kill switch latched" in md
    assert "refreshes every 5s" in _texts(at.caption)
    assert _labels(at) == ["Open polybot", "Open sniper"]


def test_open_a_rollout_and_come_back(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    at = _app(monkeypatch, [_entry(world)])
    at.button(key="open-polybot").click().run()
    assert at.query_params["rollout"] == ["polybot"] or at.query_params["rollout"] == "polybot"
    assert any("polybot" in m for m in _texts(at.markdown) if m.startswith("## "))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["stage"] == "1 (canary)"
    assert metrics["phase"] == "veto pending"
    assert metrics["advance to 2 (full_size)"] == "in 23h50m"
    assert metrics["kill switch"] == "armed"
    at.button(key="back").click().run()
    assert _texts(at.title) == ["Rollouts"]


def test_the_rollout_view_shows_curve_gate_kill_stages_and_history(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    at = _app(monkeypatch, [_entry(world)], open_key="polybot", refresh=5)
    headers = _texts(at.subheader)
    for h in ("Equity and stages", "Gate", "Kill switch", "History"):
        assert h in headers
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2  # the equity curve and the gate's bounds
    assert "hash chain verified: 8 events" in _texts(at.success)
    captions = "\n".join(_texts(at.caption))
    assert f"{len(world.trade_list):,} trades; drawn with" in captions
    md = "\n".join(_texts(at.markdown))
    assert "To stage **2 (full_size)**: **passes**" in md
    assert "**win_rate_cusum** — running: CUSUM" in md
    assert "**max_drawdown** — running: drawdown" in md
    tables = at.dataframe
    assert len(tables) == 3  # stage summaries, gate criteria, history
    history = tables[2].value
    assert list(history["event"])[:4] == ["veto_open", "resume", "pause", "veto"]
    assert list(history["who"])[3] == "alice@phone"
    # Every state field is shown, so fields added later appear without a change here.
    state = json.loads(world.state.read_text(encoding="utf-8"))
    shown = at.json[0].value
    shown = json.loads(shown) if isinstance(shown, str) else shown
    assert set(state) - {"history_seq", "history_hash"} <= set(shown)


def test_a_rollout_with_a_calendar_shows_where_the_advance_stands(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    # Time-based gates (issue 11): the page says whether the pending advance may land
    # now and when the veto deadline falls in the operator's zone, as `status` does.
    text = world.config.read_text(encoding="utf-8")
    world.config.write_text(
        'operator_zone = "America/New_York"\n'
        'blackouts = ["2020-01-01..2020-01-02 America/New_York"]\n' + text,
        encoding="utf-8",
    )
    at = _app(monkeypatch, [_entry(world)], open_key="polybot")
    assert not at.exception
    shown = [t for t in _texts(at.info) if t.startswith("advance window: ")]
    assert len(shown) == 1
    assert "veto deadline" in shown[0]
    assert "EST" in shown[0] or "EDT" in shown[0]


def test_without_trades_the_page_says_how_to_get_the_curve(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    at = _app(monkeypatch, [_entry(world, trades=False)], open_key="polybot")
    captions = "\n".join(_texts(at.caption))
    assert "start the dashboard with --trades FILE" in captions
    assert len(at.get("vega_lite_chart")) == 1  # stages and events, no bounds
    md = "\n".join(_texts(at.markdown))
    assert "Each criterion's statistic needs the trades" in md


def test_the_plan_is_computed_on_request(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    # Gates without confidence and a lone win-rate CUSUM: plan's exact model, fast.
    text = world.config.read_text(encoding="utf-8")
    text = text.replace(", confidence = 0.9", "").replace(
        '[[kill_switch.criteria]]\nkind = "max_drawdown"\nloss = 60.0\n', ""
    )
    world.config.write_text(text, encoding="utf-8")
    at = _app(monkeypatch, [_entry(world, trades=False)], open_key="polybot")
    before = len(at.get("vega_lite_chart"))
    at.button(key="plan-polybot").click().run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == before + 1


# ----------------------------------------------------------------------------- the token rules


def test_without_a_token_the_page_is_read_only(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    at = _app(monkeypatch, [_entry(world)], open_key="polybot")
    assert any(t.startswith("Read-only: no action token is configured") for t in _texts(at.info))
    assert len(at.sidebar.text_input) == 0
    assert "Act" not in _texts(at.subheader)
    assert not [label for label in _labels(at) if "Veto" in label or "Pause" in label]


def test_with_a_token_but_not_typed_no_action_is_offered(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    at = _app(monkeypatch, [_entry(world)], token=TOKEN, open_key="polybot")
    assert not _texts(at.info)
    assert "Act" in _texts(at.subheader)
    assert any("Type the action token in the sidebar" in c for c in _texts(at.caption))
    assert "Veto the pending advance" not in _labels(at)


def test_a_wrong_token_keeps_actions_locked(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    at = _app(monkeypatch, [_entry(world)], token=TOKEN, open_key="polybot")
    _unlock(at, TOKEN[:-1] + "X")
    assert "wrong token: actions stay locked" in _texts(at.sidebar.error)
    assert "Veto the pending advance" not in _labels(at)


def test_a_weak_token_is_an_error_and_the_page_stays_read_only(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    at = _app(monkeypatch, [_entry(world)], token="too-short", open_key="polybot")
    assert any("at least 16 characters" in e for e in _texts(at.sidebar.error))
    assert len(at.sidebar.text_input) == 0
    assert "Veto the pending advance" not in _labels(at)


def test_a_public_address_without_a_token_is_refused(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    at = _app(monkeypatch, [_entry(world)], address="0.0.0.0")
    assert any(
        "refusing to serve on '0.0.0.0' without an action token" in e for e in _texts(at.error)
    )
    assert not _texts(at.title)
    assert not _labels(at)
    served = _app(monkeypatch, [_entry(world)], address="0.0.0.0", token=TOKEN)
    assert _texts(served.title) == ["Rollouts"]


def test_veto_with_the_token_is_recorded_with_the_dashboards_actor_and_note(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    at = _app(monkeypatch, [_entry(world)], token=TOKEN, open_key="polybot")
    _unlock(at)
    assert "actions unlocked" in _texts(at.sidebar.success)
    at.text_input(key="note-polybot").input("spread too wide tonight").run()
    at.button(key="act-veto-polybot").click().run()
    assert not at.exception
    last = read_history(world.history)[-1]
    assert (last.event, last.actor, last.note) == (
        "veto",
        "dashboard:tester",
        "spread too wide tonight",
    )
    assert any("vetoed" in s for s in _texts(at.success))
    assert {m.label: m.value for m in at.metric}["phase"] == "running"
    assert "Veto the pending advance" not in _labels(at)


def test_promote_asks_for_confirmation_first(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    at = _app(monkeypatch, [_entry(world)], token=TOKEN, open_key="polybot")
    _unlock(at)
    events = len(read_history(world.history))
    at.button(key="act-promote-polybot").click().run()
    assert len(read_history(world.history)) == events
    assert any("skipping its gate and the veto window?" in w for w in _texts(at.warning))
    at.button(key="confirm-no-polybot").click().run()
    assert len(read_history(world.history)) == events
    assert "Yes, promote" not in _labels(at)
    at.button(key="act-promote-polybot").click().run()
    at.button(key="confirm-yes-polybot").click().run()
    last = read_history(world.history)[-1]
    assert (last.event, last.from_stage, last.to_stage, last.actor) == (
        "promote",
        1,
        2,
        "dashboard:tester",
    )
    assert {m.label: m.value for m in at.metric}["stage"] == "2 (full_size)"


def test_pause_then_resume(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    at = _app(monkeypatch, [_entry(world)], token=TOKEN, open_key="polybot")
    _unlock(at)
    at.button(key="act-pause-polybot").click().run()
    assert read_history(world.history)[-1].event == "pause"
    assert {m.label: m.value for m in at.metric}["phase"] == "paused"
    assert "Pause automatic advances" not in _labels(at)
    at.button(key="act-resume-polybot").click().run()
    assert read_history(world.history)[-1].event == "resume"


def test_clear_the_kill_switch(monkeypatch: pytest.MonkeyPatch, killed: World) -> None:
    at = _app(monkeypatch, [_entry(killed, "sniper")], token=TOKEN, open_key="sniper")
    assert any(e.startswith("kill switch tripped") for e in _texts(at.error))
    _unlock(at)
    assert "Promote now" not in " ".join(_labels(at))
    at.button(key="act-clear_kill-sniper").click().run()
    last = read_history(killed.history)[-1]
    assert (last.event, last.actor) == ("clear_kill", "dashboard:tester")
    assert {m.label: m.value for m in at.metric}["kill switch"] == "armed"


def test_a_token_changed_after_unlocking_refuses_the_action(
    monkeypatch: pytest.MonkeyPatch, world: World, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN, encoding="utf-8")
    at = _app(monkeypatch, [_entry(world)], token_file=token_file, open_key="polybot")
    _unlock(at)
    assert "Veto the pending advance" in _labels(at)
    before = world.history.read_bytes()
    token_file.write_text("a-brand-new-token-0123456789", encoding="utf-8")
    at.button(key="act-veto-polybot").click().run()
    assert world.history.read_bytes() == before
    assert "Veto the pending advance" not in _labels(at)
    assert "wrong token: actions stay locked" in _texts(at.sidebar.error)


# ----------------------------------------------------------------------------- bad input


def _break(folder: Path, how: str) -> World:
    world = build_world(folder, end=END, name=how)
    if how == "corrupt":
        world.state.write_text("{not json", encoding="utf-8")
    elif how == "unknown_schema":
        data = json.loads(world.state.read_text(encoding="utf-8"))
        data["schema_version"] = 99
        world.state.write_text(json.dumps(data), encoding="utf-8")
    elif how == "tampered":
        lines = world.history.read_text(encoding="utf-8").splitlines(keepends=True)
        lines[2] = lines[2].replace("veto window expired", "veto window EXPIRED")
        world.history.write_text("".join(lines), encoding="utf-8")
    elif how == "bad_config":
        world.config.write_text(
            world.config.read_text(encoding="utf-8").replace("min_n = 40", "min_n = -4"),
            encoding="utf-8",
        )
    elif how == "no_state":
        for path in world.state.parent.iterdir():
            if path.name.startswith(f"{how}.state"):
                path.unlink()
    return world


@pytest.mark.parametrize("how", ["corrupt", "unknown_schema", "bad_config"])
def test_an_unreadable_rollout_shows_the_cli_message_and_the_others_still_work(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    world: World,
    how: str,
) -> None:
    broken = _break(tmp_path / how, how)
    expected = _cli_error(broken.config, capsys)
    before = _files(broken.config.parent)
    at = _app(monkeypatch, [_entry(broken, how), _entry(world)], token=TOKEN)
    assert expected in _texts(at.error)
    md = "\n".join(_texts(at.markdown))
    assert "veto pending: → 2 (full_size)" in md  # the good one
    assert f":red[●] **{how}**" in md
    at.button(key=f"open-{how}").click().run()
    assert not at.exception
    assert expected in _texts(at.error)
    _unlock(at)
    assert not [label for label in _labels(at) if label.startswith(("Veto", "Pause", "Promote"))]
    assert _files(broken.config.parent) == before


def test_a_missing_configuration_file_is_named(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    world: World,
) -> None:
    gone = tmp_path / "gone.toml"
    gone.write_text("", encoding="utf-8")
    gone.unlink()
    expected = _cli_error(gone, capsys)
    at = _app(monkeypatch, [RolloutEntry("gone", gone), _entry(world)])
    assert expected in _texts(at.error)
    assert "veto pending: → 2 (full_size)" in "\n".join(_texts(at.markdown))


def test_a_tampered_history_shows_red_and_nothing_is_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, world: World
) -> None:
    broken = _break(tmp_path / "t", "tampered")
    before = _files(broken.config.parent)
    at = _app(monkeypatch, [_entry(broken, "tampered"), _entry(world)])
    assert ":red[●] **tampered**" in "\n".join(_texts(at.markdown))
    assert any("line 4: prev_hash does not match" in e for e in _texts(at.error))
    at.button(key="open-tampered").click().run()
    errors = _texts(at.error)
    assert any(e.startswith("history verification FAILED") for e in errors)
    assert any(e.startswith("hash chain BROKEN at line 4") for e in errors)
    assert _files(broken.config.parent) == before


def test_a_rollout_that_has_not_started_creates_no_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, world: World
) -> None:
    fresh = _break(tmp_path / "n", "no_state")
    before = _files(fresh.config.parent)
    at = _app(monkeypatch, [_entry(fresh, "fresh"), _entry(world)], token=TOKEN)
    md = "\n".join(_texts(at.markdown))
    assert ":gray[●] **fresh**" in md
    assert "not started: no state file yet" in md
    at.button(key="open-fresh").click().run()
    assert any("the bot has not ticked yet" in i for i in _texts(at.info))
    assert _files(fresh.config.parent) == before


@pytest.mark.parametrize("missing", [False, True])
def test_an_unreadable_trade_file_is_a_warning_not_a_failure(
    monkeypatch: pytest.MonkeyPatch, world: World, tmp_path: Path, missing: bool
) -> None:
    bad = tmp_path / "bad.csv"
    if not missing:
        bad.write_text("timestamp,pnl,size\n2026-04-30T00:00:00Z,abc,1\n", encoding="utf-8")
    at = _app(monkeypatch, [RolloutEntry("polybot", world.config, bad)], open_key="polybot")
    warnings = _texts(at.warning)
    assert any(w.startswith("trade history not read: error: ") and "bad.csv" in w for w in warnings)
    assert "hash chain verified: 8 events" in _texts(at.success)
    assert not bad.exists() if missing else bad.exists()


def test_an_unknown_rollout_in_the_address_shows_the_fleet(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    at = _app(monkeypatch, [_entry(world)], open_key="nope")
    assert "no rollout named 'nope' here; showing them all" in _texts(at.warning)
    assert _texts(at.title) == ["Rollouts"]


def test_started_without_the_launcher_or_with_a_bad_clock(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    monkeypatch.delenv(SETTINGS_ENV, raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert any("start the dashboard with `quant-rollout dashboard" in e for e in _texts(at.error))
    at = _app(monkeypatch, [_entry(world)])
    monkeypatch.setenv("QUANT_ROLLOUT_NOW", "yesterday")
    at.run()
    assert any(
        "QUANT_ROLLOUT_NOW='yesterday' is not an ISO-8601 time" in e for e in _texts(at.error)
    )


def test_the_rollout_view_says_what_the_bot_has_not_been_told(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    Rollout.from_config(world.config, clock=ManualClock(NOW)).promote(actor="ana")
    at = _app(monkeypatch, [_entry(world)], open_key="polybot")
    told = "the bot was last told stage 1; its next tick announces stage 2 (full_size)"
    assert told in _texts(at.warning)
    captions = "\n".join(_texts(at.caption))
    assert "last: #9 promote (promoted by hand) by ana" in captions


EXPERIMENT_CONFIG = """\
state_path = "arms.state.json"
veto_window = "30m"

[kill_switch]
wr_threshold = "none"
ev_threshold = "none"

[[stages]]
num = 0
name = "baseline"
params = {{ max_entry_price = 0.30 }}

[[stages]]
num = 1
name = "arms"
params = {{}}
gate = {{ min_n = 5 }}
[stages.experiment]
control = "control"
salt = "dash"
[[stages.experiment.arms]]
name = "control"
params = {{ max_entry_price = 0.30 }}
[[stages.experiment.arms]]
name = "wide"
params = {{ max_entry_price = 0.50 }}

[[stages]]
num = 2
name = "full"
params = {{ size = {size} }}
"""


def test_an_experiment_stage_shows_its_arms_where_the_gate_would_be(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # On an experiment stage the next stage has no gate: the experiment decides. The
    # page must show the arms side by side, not "reached only by promote".
    config = tmp_path / "arms.toml"
    config.write_text(EXPERIMENT_CONFIG.format(size=10), encoding="utf-8")
    start = END - timedelta(days=1)
    clock = ManualClock(start)
    rollout = Rollout.from_config(config, clock=clock, max_holding_seconds=0)
    # Stage 0 passes its gate (min_n = 5), then the veto window expires.
    outcomes = [
        TradeOutcome(1.0, 1.0, (start + timedelta(minutes=i)).isoformat()) for i in range(5)
    ]
    clock.advance(minutes=10)
    rollout.tick(outcomes)
    clock.advance(minutes=40)
    assert rollout.tick(outcomes).to_stage == 1
    for i in range(6):
        at = start + timedelta(minutes=60 + i)
        arm = rollout.route(f"signal-{i}").arm
        outcomes.append(TradeOutcome(1.0, 1.0, at.isoformat(), metadata={"arm": arm}))
    clock.advance(minutes=10)
    rollout.tick(outcomes, opportunities={"control": 3, "wide": 3})
    trade_file = tmp_path / "arms.trades.csv"
    lines = ["timestamp,pnl,size,arm"]
    lines += [
        f"{t.timestamp},{t.pnl},{t.size},{t.metadata.get('arm', '') if t.metadata else ''}"
        for t in outcomes
    ]
    trade_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    at = _app(monkeypatch, [RolloutEntry("arms", config, trade_file)], open_key="arms")
    said = "\n".join(_texts(at.markdown))
    assert "runs the winner of this stage's experiment" in said
    assert "reached only by promote" not in said
    table = "\n".join(_texts(at.code))
    assert "control" in table
    assert "wide" in table
