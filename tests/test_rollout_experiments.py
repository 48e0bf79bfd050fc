"""Experiment stages through the shell: Rollout.tick with opportunities, route, the arm
verbs from Python and from the command line in another process, status, the state file
(schema 4, older files, restore) and the config file's experiment tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List

import pytest

from helpers import T0
from quant_rollout import ManualClock, Rollout, RolloutAction, TradeOutcome
from quant_rollout.errors import (
    ConfigError,
    ConfigFileError,
    CorruptStateError,
    InvalidTradeError,
    OperatorRefusedError,
    RouteKeyError,
)

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
TIMEOUT = 60

CONFIG = """\
state_path = "state/rollout_state.json"
veto_window = "10m"

[kill_switch]
wr_lookback = 30
wr_threshold = 0.1

[[stages]]
num = 0
name = "baseline"
params = { max_entry_price = 0.30 }

[[stages]]
num = 1
name = "arms"
params = {}
gate = { min_n = 1 }
[stages.experiment]
control = "control"
metric = "win_rate"
confidence = 0.95
[[stages.experiment.arms]]
name = "control"
params = { max_entry_price = 0.30 }
weight = 0.5
[[stages.experiment.arms]]
name = "wide"
params = { max_entry_price = 0.50 }
weight = 0.25
[[stages.experiment.arms]]
name = "narrow"
params = { max_entry_price = 0.20 }
weight = 0.25

[[stages]]
num = 2
name = "full"
params = { size = 2 }
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def bot(config: Path, clock: ManualClock) -> Rollout:
    # This bot's trades close as they open: it says so, or an experiment would judge
    # only trades opened a day ago (the fail-closed default).
    return Rollout.from_config(config, clock=clock, max_holding_seconds=0)


def at_stage_1(config: Path, clock: ManualClock) -> Rollout:
    """A rollout on its experiment stage (entered by its gate on one baseline trade)."""
    rollout = bot(config, clock)
    first = TradeOutcome(pnl=1.0, size=1.0, timestamp=T0 - 60)
    rollout.tick([first])
    clock.advance(minutes=11)
    decision = rollout.tick([first])
    assert decision.action is RolloutAction.VETO_EXPIRED
    assert decision.to_stage == 1
    assert decision.params == {"max_entry_price": 0.30}  # control's, for a bot that does not route
    return rollout


def signal_trade(clock: ManualClock, arm: str, win: bool) -> TradeOutcome:
    return TradeOutcome(
        pnl=1.0 if win else -1.0, size=1.0, timestamp=clock(), metadata={"arm": arm}
    )


def state_bytes(rollout: Rollout) -> bytes:
    assert rollout.state_path is not None
    return rollout.state_path.read_bytes()


def env_at(now: str) -> Dict[str, str]:
    env = dict(os.environ)
    env["QUANT_ROLLOUT_NOW"] = now
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "100"
    return env


def cli(config: Path, clock: ManualClock, *argv: str, code: int = 0) -> str:
    """Run ``quant-rollout`` in a second process, a minute after the bot's last tick."""
    clock.advance(minutes=1)
    done = subprocess.run(
        [sys.executable, "-m", "quant_rollout", *argv, "--config", str(config)],
        env=env_at(clock().isoformat()),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == code, done.stdout + done.stderr
    return done.stdout + done.stderr


# ----------------------------------------------------------------------------- the loop


def test_a_bot_routes_ticks_and_its_winner_lands_through_the_veto_window(config: Path) -> None:
    clock = ManualClock(T0)
    rollout = at_stage_1(config, clock)
    history_before = len(rollout.history())
    rates = {"control": 0.4, "wide": 0.9, "narrow": 0.4}
    trades: List[TradeOutcome] = []
    seen: Dict[str, int] = {}
    decision = None
    for i in range(2000):
        clock.advance(minutes=1)
        routed = rollout.route(f"signal-{i}")
        seen[routed.arm] = seen.get(routed.arm, 0) + 1
        k = seen[routed.arm]
        trades.append(signal_trade(clock, routed.arm, (k % 10) < rates[routed.arm] * 10))
        decision = rollout.tick(trades, opportunities={routed.arm: 1})
        if decision.action is RolloutAction.VETO_OPEN and decision.changed:
            break
    assert decision is not None
    assert decision.action is RolloutAction.VETO_OPEN
    assert "arm 'wide' beats control 'control'" in decision.reason
    assert set(seen) == {"control", "wide", "narrow"}
    # Opportunity-only ticks wrote the state file but no history line.
    events = [r.event for r in rollout.history()[history_before:]]
    assert events == ["veto_open"]
    state = json.loads(state_bytes(rollout))
    assert state["schema_version"] == 4
    assert sum(state["experiment"]["opportunities"].values()) == len(trades)
    assert state["experiment_pending"] == "wide"
    status = rollout.status(trades)
    assert status.experiment is not None
    assert status.experiment.winner == "wide"
    text = status.experiment_text
    assert text is not None
    assert "wide - control, win rate (decides)" in text
    clock.advance(minutes=10)
    landed = rollout.tick(trades)
    assert landed.action is RolloutAction.VETO_EXPIRED
    assert landed.params == {"size": 2, "max_entry_price": 0.50}
    assert rollout.params() == {"size": 2, "max_entry_price": 0.50}
    assert rollout.route("anything") == ("main", {"size": 2, "max_entry_price": 0.50})
    assert rollout.verify_history().ok


def test_opportunity_counts_survive_a_restart_of_the_bot(config: Path) -> None:
    clock = ManualClock(T0)
    rollout = at_stage_1(config, clock)
    trades = [signal_trade(clock, "wide", True)]
    rollout.tick(trades, opportunities={"control": 7, "wide": 3, "narrow": 4})
    restarted = bot(config, clock)
    status = restarted.status(trades)
    assert status.experiment is not None
    assert {r.name: r.opportunities for r in status.experiment.arms} == {
        "control": 7,
        "wide": 3,
        "narrow": 4,
    }
    assert status.experiment.arm("wide").trades == 1
    # without trades: the routing and counts the state holds
    alone = restarted.status().experiment
    assert alone is not None
    assert alone.arm("narrow").opportunities == 4


def test_a_tick_with_a_trade_naming_no_arm_changes_nothing(config: Path) -> None:
    clock = ManualClock(T0)
    rollout = at_stage_1(config, clock)
    good = [signal_trade(clock, "wide", True)]
    rollout.tick(good, opportunities={"wide": 1})
    before = state_bytes(rollout)
    clock.advance(minutes=1)
    bad = [*good, TradeOutcome(pnl=1.0, size=1.0, timestamp=clock())]
    with pytest.raises(InvalidTradeError, match=r"trades\[1\] has no arm"):
        rollout.tick(bad, opportunities={"wide": 1})
    ghost = [*good, signal_trade(clock, "ghost", True)]
    with pytest.raises(InvalidTradeError, match=r"trades\[1\] names arm 'ghost'"):
        rollout.tick(ghost)
    with pytest.raises(ConfigError, match="unknown arm 'ghost'"):
        rollout.tick(good, opportunities={"ghost": 1})
    with pytest.raises(ConfigError, match="whole number"):
        rollout.tick(good, opportunities={"wide": -1})
    assert state_bytes(rollout) == before
    status = rollout.status(good)
    assert status.experiment is not None
    assert status.experiment.arm("wide").opportunities == 1


def test_a_plain_stage_ignores_opportunities_and_routes_to_main(config: Path) -> None:
    clock = ManualClock(T0)
    rollout = bot(config, clock)
    rollout.tick([], opportunities={"control": 5})
    assert rollout.route("a") == ("main", {"max_entry_price": 0.30})
    assert rollout.route(b"b").arm == "main"
    for key in (1.5, None, ("a",), True):
        with pytest.raises(RouteKeyError):
            rollout.route(key)


# ----------------------------------------------------------------------------- routing


ROUTE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from quant_rollout import Rollout
    rollout = Rollout.from_config(sys.argv[1])
    print(json.dumps([rollout.route(f"k{i}").arm for i in range(500)]))
    """
)


def test_two_processes_route_every_key_to_the_same_arm(config: Path) -> None:
    clock = ManualClock(T0)
    rollout = at_stage_1(config, clock)
    here = [rollout.route(f"k{i}").arm for i in range(500)]
    done = subprocess.run(
        [sys.executable, "-c", ROUTE_SCRIPT, str(config)],
        env=env_at(clock().isoformat()),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    assert json.loads(done.stdout) == here
    shares = {arm: here.count(arm) / len(here) for arm in set(here)}
    assert abs(shares["control"] - 0.5) < 0.1


# ----------------------------------------------------------------------------- verbs


def test_an_arm_dropped_from_the_command_line_while_the_bot_ticks(config: Path) -> None:
    clock = ManualClock(T0)
    rollout = at_stage_1(config, clock)
    trades = [signal_trade(clock, "narrow", True)]
    rollout.tick(trades, opportunities={"narrow": 1})
    narrow_keys = [k for k in (f"k{i}" for i in range(200)) if rollout.route(k).arm == "narrow"]
    assert narrow_keys

    out = cli(config, clock, "drop-arm", "narrow", "--note", "too tight", "--actor", "ana")
    assert "arm 'narrow' dropped by hand" in out
    # The bot routes by what it last loaded until its next tick picks the drop up.
    assert rollout.route(narrow_keys[0]).arm == "narrow"
    clock.advance(minutes=1)
    trades.append(signal_trade(clock, "control", True))
    decision = rollout.tick(trades, opportunities={"control": 1})
    assert decision.action is RolloutAction.NOOP
    assert {rollout.route(k).arm for k in narrow_keys} == {"control"}
    last = [r for r in rollout.history() if r.event == "drop_arm"]
    assert len(last) == 1
    assert (last[0].actor, last[0].note) == ("ana", "too tight")
    status = rollout.status(trades)
    assert status.experiment is not None
    assert status.experiment.arm("narrow").dropped
    assert status.experiment.arm("narrow").trades == 1  # its evidence is kept

    out = cli(config, clock, "weights", "control=0.6", "wide=0.4", "narrow=0", "--actor", "ana")
    assert "weights changed by hand: control 60.0%, wide 40.0%, narrow 0.0%" in out
    before = state_bytes(rollout)
    out = cli(config, clock, "drop-arm", "control", code=1)
    assert "is the control arm" in out
    out = cli(config, clock, "weights", "control=0.6", "wide=0.6", "narrow=0", code=1)
    assert "must sum to 1" in out
    assert state_bytes(rollout) == before
    out = cli(config, clock, "status")
    assert "experiment" in out
    assert "narrow (dropped)" in out
    status_json = json.loads(cli(config, clock, "status", "--json"))
    assert status_json["experiment"]["arms"][1]["weight"] == 0.4

    out = cli(config, clock, "promote-arm", "wide", "--actor", "ana")
    assert "arm 'wide' promoted by hand" in out
    clock.advance(minutes=1)
    decision = rollout.tick(trades)
    assert decision.action is RolloutAction.ADVANCE  # announced to the bot
    assert decision.params == {"size": 2, "max_entry_price": 0.50}
    out = cli(config, clock, "drop-arm", "wide", code=1)
    assert "runs no experiment" in out


def test_arm_verbs_from_python_record_the_actor(config: Path) -> None:
    clock = ManualClock(T0)
    rollout = at_stage_1(config, clock)
    rollout.change_weights({"control": 0.5, "wide": 0.5, "narrow": 0.0}, actor="bo")
    rollout.drop_arm("narrow", actor="bo")
    with pytest.raises(OperatorRefusedError, match="already dropped"):
        rollout.drop_arm("narrow")
    with pytest.raises(OperatorRefusedError, match="name the arm with promote_arm"):
        rollout.promote()
    state = rollout.promote_arm("control", actor="bo", note="keep the old params")
    assert state.current_stage == 2
    assert rollout.params() == {"size": 2, "max_entry_price": 0.30}
    events = [(r.event, r.actor) for r in rollout.history()[-3:]]
    assert events == [("change_weights", "bo"), ("drop_arm", "bo"), ("promote_arm", "bo")]


# ----------------------------------------------------------------------------- state files


def test_restore_rebuilds_an_experiment_state_from_the_history(config: Path) -> None:
    clock = ManualClock(T0)
    rollout = at_stage_1(config, clock)
    rollout.drop_arm("narrow")
    assert rollout.state_path is not None
    rollout.state_path.write_text("{ torn", encoding="utf-8")
    with pytest.raises(CorruptStateError):
        rollout.tick([])
    state = rollout.restore(actor="ops")
    assert state.experiment is not None
    assert state.experiment["dropped"] == ["narrow"]
    assert rollout.history()[-1].event == "restore"
    assert rollout.verify_history().ok
    assert rollout.route("x").arm in ("control", "wide")


@pytest.mark.parametrize(
    "written",
    [
        {"current_stage": 0, "ship_timestamps": {}, "kill_switch_tripped": False},
        {"schema_version": 2, "current_stage": 0},
        {"schema_version": 3, "current_stage": 1, "bot_stage": 1, "evidence_since": None},
    ],
    ids=["0.1", "v2", "v3"],
)
def test_older_state_files_load_under_an_experiment_config(
    config: Path, written: Dict[str, Any]
) -> None:
    clock = ManualClock(T0)
    rollout = bot(config, clock)
    assert rollout.state_path is not None
    rollout.state_path.parent.mkdir(parents=True, exist_ok=True)
    rollout.state_path.write_text(json.dumps(written), encoding="utf-8")
    stage = written["current_stage"]
    decision = rollout.tick([])
    assert decision.from_stage == stage
    assert json.loads(state_bytes(rollout))["schema_version"] == 4


def test_a_version_3_file_with_experiment_fields_is_corrupt(config: Path) -> None:
    clock = ManualClock(T0)
    rollout = bot(config, clock)
    assert rollout.state_path is not None
    rollout.state_path.parent.mkdir(parents=True, exist_ok=True)
    rollout.state_path.write_text(
        json.dumps({"schema_version": 3, "experiment": {}}), encoding="utf-8"
    )
    with pytest.raises(CorruptStateError, match=r"\['experiment'\] in a version-3 file.*restore"):
        rollout.tick([])


def test_a_config_whose_running_experiment_changed_arms_is_refused(
    config: Path, tmp_path: Path
) -> None:
    clock = ManualClock(T0)
    rollout = at_stage_1(config, clock)
    rollout.tick([signal_trade(clock, "wide", True)], opportunities={"wide": 1})
    before = state_bytes(rollout)
    for old, new in (
        ("params = { max_entry_price = 0.50 }", "params = { max_entry_price = 0.55 }"),
        ('name = "narrow"', 'name = "tight"'),
    ):
        config.write_text(CONFIG.replace(old, new), encoding="utf-8")
        changed = bot(config, clock)
        with pytest.raises(CorruptStateError, match="started with other arms"):
            changed.tick([])
        assert state_bytes(rollout) == before


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("weight = 0.25\n", "weight = 0.3\n", "stages[1].experiment: arm weights must sum to 1"),
        ('name = "narrow"', 'name = "wide"', "arm names must be unique; repeated: ['wide']"),
        ('control = "control"', 'control = "ctl"', "stages[1].experiment.control: must name"),
        ('control = "control"\n', "", "stages[1].experiment.control: missing"),
        ("params = { max_entry_price = 0.20 }\n", "", "experiment.arms[2].params: missing"),
        ('metric = "win_rate"', 'metric = "win_rate"\nmetrc = 1',
         "stages[1].experiment.metrc: unknown key"),
        ('metric = "win_rate"', 'metric = "sharpe"', "stages[1].experiment.metric: must be one of"),
        ("params = { max_entry_price = 0.50 }", "params = { max_entyr = 0.5 }",
         "arm 'wide' sets params ['max_entyr']"),
    ],
)  # fmt: skip
def test_a_bad_experiment_table_names_the_file_key_and_value(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(CONFIG.replace(old, new, 1 if "weight" not in old else -1), encoding="utf-8")
    with pytest.raises(ConfigFileError) as info:
        Rollout.from_config(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_replay_runs_an_experiment_stage_over_a_file_with_an_arm_column(
    tmp_path: Path,
) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(
        CONFIG.replace("wr_threshold = 0.1\n", "wr_threshold = 0.1\nev_threshold = -0.9\n"),
        encoding="utf-8",
    )
    rows = ["timestamp,pnl,size,variant"]
    seen: Dict[str, int] = {}
    rates = {"control": 0.4, "wide": 0.9, "narrow": 0.4}
    arms = ("control", "wide", "control", "narrow")
    for i in range(1500):
        arm = arms[i % 4]
        seen[arm] = seen.get(arm, 0) + 1
        win = (seen[arm] % 10) < rates[arm] * 10
        rows.append(f"{T0 + 60 * i},{1.0 if win else -1.0},1.0,{arm}")
    trades = tmp_path / "trades.csv"
    trades.write_text("\n".join(rows) + "\n", encoding="utf-8")
    clock = ManualClock(T0)
    out = cli(config, clock, "replay", str(trades), "--arm", "variant", "--json")
    timeline = json.loads(out[out.index("{") :])
    events = [(e["event"], e["from_stage"], e["to_stage"]) for e in timeline["timeline"]]
    assert ("veto_expired", 1, 2) in events
    landed = next(
        e for e in timeline["timeline"] if e["event"] == "veto_expired" and e["to_stage"] == 2
    )
    assert "arm 'wide' still wins" in landed["reason"]
    out = cli(config, clock, "replay", str(trades), code=2)
    assert "has no arm" in out


def test_a_damaged_experiment_record_is_refused_with_the_way_out(config: Path) -> None:
    from quant_rollout.engine.state import RESTORE_ADVICE

    clock = ManualClock(T0)
    rollout = at_stage_1(config, clock)
    rollout.tick([signal_trade(clock, "wide", True)], opportunities={"wide": 2})
    assert rollout.state_path is not None
    data = json.loads(state_bytes(rollout))
    for damage in (
        {"opportunities": {"control": -1, "wide": 2, "narrow": 0}},
        {"weights": {"control": 1.0}},
        {"srm": "broken"},
    ):
        broken = {**data, "experiment": {**data["experiment"], **damage}}
        rollout.state_path.write_text(json.dumps(broken), encoding="utf-8")
        before = state_bytes(rollout)
        with pytest.raises(CorruptStateError) as info:
            bot(config, clock).tick([signal_trade(clock, "wide", True)])
        assert str(info.value).endswith(RESTORE_ADVICE)
        assert state_bytes(rollout) == before


def test_validate_shows_the_arms_and_who_decides_the_next_stage(config: Path) -> None:
    out = cli(config, ManualClock(T0), "validate")
    assert "arms: control (control) 50%, wide 25%, narrow 25%; decides on win_rate" in out
    assert "the experiment on stage 1 promotes its winner" in out


def test_plan_says_the_experiment_decides_the_stage_after_it(tmp_path: Path) -> None:
    # The stage after an experiment has no gate of its own: plan must say what
    # decides the move (and where its power figures are), not "reached only by promote".
    from quant_rollout.planning import format_plan, plan
    from quant_rollout.tools.config import load_config

    config = tmp_path / "arms.toml"
    config.write_text(PLAN_EXPERIMENT_CONFIG, encoding="utf-8")
    report = plan(load_config(config), paths=100, horizon=100)
    move = report.transitions[1]
    assert move.gate is None
    assert move.rows == ()
    assert move.experiment is not None
    assert "control 50%, wide 50%" in move.experiment
    assert "win_rate at 0.95 confidence" in move.experiment
    text = format_plan(report)
    assert "reached only by promote" not in text
    assert "quant-rollout plan-experiment --confidence 0.95 --margin 0 --weight 0.5" in " ".join(
        text.split()
    )
    assert report.to_dict()["transitions"][1]["experiment"] == move.experiment


PLAN_EXPERIMENT_CONFIG = """\
state_path = "arms.state.json"
[kill_switch]
wr_threshold = "none"
ev_threshold = "none"
[[stages]]
num = 0
params = { max_entry_price = 0.30 }
[[stages]]
num = 1
params = {}
gate = { min_n = 20 }
[stages.experiment]
control = "control"
[[stages.experiment.arms]]
name = "control"
params = { max_entry_price = 0.30 }
[[stages.experiment.arms]]
name = "wide"
params = { max_entry_price = 0.50 }
[[stages]]
num = 2
params = { size = 10 }
"""


def test_an_experiment_that_hears_nothing_of_open_trades_judges_a_day_behind(
    config: Path, tmp_path: Path
) -> None:
    # Fail closed: an experiment is a confidence judgement, so a bot that says nothing
    # about its open trades gets the confidence gates' default (trades opened at least
    # a day ago). Counting every closed trade at once favours the arm that takes its
    # profits fast and holds its losers.
    clock = ManualClock(T0)
    rollout = Rollout.from_config(config, clock=clock)
    first = TradeOutcome(pnl=1.0, size=1.0, timestamp=T0 - 60)
    rollout.tick([first])
    clock.advance(minutes=11)
    assert rollout.tick([first]).action is RolloutAction.NOOP  # opened a minute before
    clock.advance(days=1)
    assert rollout.tick([first]).action is RolloutAction.VETO_OPEN
    # The same bot saying nothing is open judges at once.
    told = Rollout.from_config(config, clock=ManualClock(T0), state_path=tmp_path / "b.json")
    told.tick([first], open_trades=[])
    assert told.tick([first], open_trades=[]).action is RolloutAction.VETO_OPEN
