"""Rollout configuration files: TOML and JSON in, validated stages/gates/kill switch out."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_rollout import (
    ConfigError,
    Gate,
    KillSwitch,
    ManualClock,
    Rollout,
    Stage,
    TradeOutcome,
    WinRateCusum,
)
from quant_rollout.errors import ConfigFileError
from quant_rollout.storage.store import MemoryStore
from quant_rollout.tools import config as config_module
from quant_rollout.tools.config import (
    EXAMPLE_CONFIG,
    LoadedConfig,
    as_loaded_config,
    as_rollout_config,
    format_duration,
    load_config,
    parse_duration,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

TOML = """\
state_path = "state/rollout_state.json"
veto_window = "30m"

[kill_switch]
wr_lookback = 30
wr_threshold = 0.55
ev_lookback = 100
ev_threshold = -0.01

[[stages]]
num = 0
name = "baseline"
params = { max_entry_price = 0.30 }

[[stages]]
num = 1
name = "canary"
params = { max_entry_price = 0.50 }
gate = { min_n = 50, min_win_rate = 0.60, min_ev_per_dollar = 0.03 }
"""

DOC: Dict[str, Any] = {
    "state_path": "state/rollout_state.json",
    "veto_window": "30m",
    "kill_switch": {
        "wr_lookback": 30,
        "wr_threshold": 0.55,
        "ev_lookback": 100,
        "ev_threshold": -0.01,
    },
    "stages": [
        {"num": 0, "name": "baseline", "params": {"max_entry_price": 0.30}},
        {
            "num": 1,
            "name": "canary",
            "params": {"max_entry_price": 0.50},
            "gate": {"min_n": 50, "min_win_rate": 0.60, "min_ev_per_dollar": 0.03},
        },
    ],
}

STAGES = (
    Stage(0, {"max_entry_price": 0.30}, name="baseline"),
    Stage(
        1,
        {"max_entry_price": 0.50},
        Gate(min_n=50, min_win_rate=0.60, min_ev_per_dollar=0.03),
        "canary",
    ),
)
KILL = KillSwitch(wr_lookback=30, wr_threshold=0.55, ev_lookback=100, ev_threshold=-0.01)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def write_json(tmp_path: Path, doc: object, name: str = "rollout.json") -> Path:
    return write(tmp_path, name, json.dumps(doc, indent=2))


def doc_with(**changes: Any) -> Dict[str, Any]:
    doc: Dict[str, Any] = json.loads(json.dumps(DOC))
    doc.update(changes)
    return doc


def problem(tmp_path: Path, doc: object) -> ConfigFileError:
    path = write_json(tmp_path, doc)
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    return info.value


# ----------------------------------------------------------------------------- loading


def test_toml_loads_into_stages_gates_and_kill_switch(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, "rollout.toml", TOML))
    assert loaded.stages == STAGES
    assert loaded.kill_switch == KILL
    assert loaded.veto_window_seconds == 1800.0
    assert loaded.state_path == tmp_path / "state" / "rollout_state.json"
    assert loaded.source == tmp_path / "rollout.toml"


def test_json_with_the_same_keys_loads_the_same_config(tmp_path: Path) -> None:
    from_toml = load_config(write(tmp_path, "rollout.toml", TOML))
    from_json = load_config(write_json(tmp_path, DOC))
    assert dataclasses.replace(from_json, source=None) == dataclasses.replace(
        from_toml, source=None
    )


def test_stages_come_out_sorted_whatever_the_file_order(tmp_path: Path) -> None:
    doc = doc_with(stages=list(reversed(DOC["stages"])))
    assert [s.num for s in load_config(write_json(tmp_path, doc)).stages] == [0, 1]


def test_a_relative_state_path_is_relative_to_the_config_file_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    write(folder, "rollout.toml", TOML)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_config(os.path.join("..", "configs", "rollout.toml"))
    assert loaded.state_path is not None
    assert loaded.state_path.is_absolute()
    assert loaded.state_path.resolve() == (folder / "state" / "rollout_state.json").resolve()


def test_home_and_absolute_state_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home = load_config(write_json(tmp_path, doc_with(state_path="~/.bot/state.json")))
    assert home.state_path == tmp_path / "home" / ".bot" / "state.json"
    absolute = str(tmp_path / "abs" / "state.json")
    assert load_config(write_json(tmp_path, doc_with(state_path=absolute))).state_path == Path(
        absolute
    )


def test_state_path_is_optional_for_uses_without_a_state_file(tmp_path: Path) -> None:
    doc = doc_with()
    del doc["state_path"]
    assert load_config(write_json(tmp_path, doc)).state_path is None


def test_veto_window_defaults_to_the_rollout_default(tmp_path: Path) -> None:
    doc = doc_with()
    del doc["veto_window"]
    assert load_config(write_json(tmp_path, doc)).veto_window_seconds == 1800


def test_an_empty_kill_switch_table_takes_the_defaults(tmp_path: Path) -> None:
    assert load_config(write_json(tmp_path, doc_with(kill_switch={}))).kill_switch == KillSwitch()


def test_none_drops_an_optional_gate_floor_in_toml_and_json(tmp_path: Path) -> None:
    toml = TOML.replace("min_ev_per_dollar = 0.03", 'min_ev_per_dollar = "none"')
    assert load_config(write(tmp_path, "r.toml", toml)).stages[1].gate == Gate(
        min_n=50, min_win_rate=0.6, min_ev_per_dollar=None
    )
    doc = doc_with()
    doc["stages"][1]["gate"]["min_ev_per_dollar"] = None
    gate = load_config(write_json(tmp_path, doc)).stages[1].gate
    assert gate is not None
    assert gate.min_ev_per_dollar is None


def test_a_stage_without_a_gate_and_an_empty_gate(tmp_path: Path) -> None:
    doc = doc_with()
    doc["stages"].append({"num": 2, "params": {}})
    doc["stages"].append({"num": 3, "params": {}, "gate": {}})
    loaded = load_config(write_json(tmp_path, doc))
    assert loaded.stage(2).gate is None
    assert loaded.stage(3).gate == Gate()
    assert loaded.stage(2).name == ""


def test_every_gate_and_kill_switch_field_is_a_config_key(tmp_path: Path) -> None:
    # Keys are derived from the dataclasses: a field added to Gate or KillSwitch is
    # accepted by the loader with no change to config.py.
    gate = {f.name: getattr(Gate(), f.name) for f in dataclasses.fields(Gate)}
    kill = {f.name: getattr(KillSwitch(), f.name) for f in dataclasses.fields(KillSwitch)}
    doc = doc_with(kill_switch=kill)
    doc["stages"][1]["gate"] = gate
    loaded = load_config(write_json(tmp_path, doc))
    assert loaded.stage(1).gate == Gate()
    assert loaded.kill_switch == KillSwitch()


def test_the_rollout_config_view(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, "rollout.toml", TOML))
    rc = loaded.rollout_config
    assert rc.stages == STAGES
    assert rc.kill_switch == KILL
    assert rc.veto_window_seconds == 1800


def test_format_is_sniffed_for_other_extensions(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "rollout.conf", TOML)).stages == STAGES
    assert load_config(write(tmp_path, "rollout.cfg", json.dumps(DOC))).stages == STAGES


def test_a_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "rollout.toml"
    path.write_bytes(b"\xef\xbb\xbf" + TOML.encode())
    assert load_config(path).stages == STAGES


def test_the_example_config_is_the_shipped_file_and_loads(tmp_path: Path) -> None:
    assert (EXAMPLES / "rollout.toml").read_text(encoding="utf-8") == EXAMPLE_CONFIG
    loaded = load_config(EXAMPLES / "rollout.toml")
    assert [s.num for s in loaded.stages] == [0, 1, 2]
    assert loaded.veto_window_seconds == 1800
    assert loaded.state_path == EXAMPLES.resolve() / "rollout_state.json"


# ----------------------------------------------------------------------------- veto_window


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90s", 90.0),
        ("30m", 1800.0),
        ("1.5h", 5400.0),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("1d2h3m4s", 93784.0),
        ("30M", 1800.0),
        (" 5 s ", 5.0),
        ("120", 120.0),
        (0, 0.0),
        (45, 45.0),
        (2.5, 2.5),
    ],
)
def test_veto_window_suffixes(tmp_path: Path, value: object, seconds: float) -> None:
    loaded = load_config(write_json(tmp_path, doc_with(veto_window=value)))
    assert loaded.veto_window_seconds == seconds


@pytest.mark.parametrize(
    "value", ["30 min", "-5m", "abc", "", "1h 30", "m", True, [], {}, -1, "5w", "1e400"]
)
def test_bad_veto_windows_name_the_key_and_value(tmp_path: Path, value: object) -> None:
    err = problem(tmp_path, doc_with(veto_window=value))
    assert err.key == "veto_window"
    assert "veto_window" in str(err)
    assert repr(value) in str(err)


def test_toml_infinity_is_not_a_veto_window(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="veto_window"):
        load_config(write(tmp_path, "r.toml", TOML.replace('"30m"', "inf")))


@given(st.integers(min_value=0, max_value=10**9))
def test_format_duration_reads_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_duration_examples() -> None:
    assert format_duration(1800) == "30m"
    assert format_duration(5400) == "1h30m"
    assert format_duration(0) == "0s"
    assert format_duration(2.5) == "2.5s"
    assert format_duration(3900) == "1h05m"  # the one format: later units as two digits
    assert format_duration(86405) == "1d05s"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59.9, "59s"),  # cut, not rounded: a time left is never overstated
        (240, "4m00s"),
        (11_100, "3h05m"),
        (11_159, "3h05m"),
        (86_400 * 14, "14d00h"),
        (302_405, "3d12h"),
    ],
)
def test_format_duration_two_units(seconds: float, text: str) -> None:
    assert format_duration(seconds, units=2) == text
    assert parse_duration(text) <= seconds < parse_duration(text) + 86_400


@given(st.integers(min_value=0, max_value=10**9))
def test_two_unit_durations_read_back_to_at_most_the_value(seconds: int) -> None:
    text = format_duration(seconds, units=2)
    assert parse_duration(text) <= seconds
    assert format_duration(parse_duration(text), units=2) == text


# ----------------------------------------------------------------------------- errors


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="no such file") as info:
        load_config(tmp_path / "nope.toml")
    assert info.value.file == str(tmp_path / "nope.toml")


def test_a_folder_and_a_non_utf8_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="folder"):
        load_config(tmp_path)
    path = tmp_path / "latin1.toml"
    path.write_bytes("name = 'caf\xe9'".encode("latin-1"))
    with pytest.raises(ConfigFileError, match="UTF-8"):
        load_config(path)


def test_a_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = TOML.replace("wr_threshold = 0.55", "wr_threshold = ")
    line = text.splitlines().index("wr_threshold = ") + 1
    with pytest.raises(ConfigFileError) as info:
        load_config(write(tmp_path, "rollout.toml", text))
    err = info.value
    assert err.line == line
    assert str(err).startswith(f"{tmp_path / 'rollout.toml'}, line {line}, column ")
    assert "not valid TOML" in str(err)


def test_a_json_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = json.dumps(DOC, indent=2).replace('"wr_lookback": 30,', '"wr_lookback": 30,,')
    line = next(i for i, s in enumerate(text.splitlines(), 1) if ",," in s)
    with pytest.raises(ConfigFileError) as info:
        load_config(write(tmp_path, "rollout.json", text))
    assert info.value.line == line + 1 or info.value.line == line
    assert f", line {info.value.line}, column " in str(info.value)
    assert "not valid JSON" in str(info.value)


def test_json_duplicate_keys_and_nan_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="duplicate key 'veto_window'"):
        load_config(write(tmp_path, "a.json", '{"veto_window": 1, "veto_window": 2}'))
    with pytest.raises(ConfigFileError, match="NaN"):
        load_config(write(tmp_path, "b.json", '{"veto_window": NaN}'))


def test_the_top_level_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="expected a table of settings"):
        load_config(write(tmp_path, "a.json", "[1, 2]"))


@pytest.mark.parametrize(
    ("where", "key", "path", "suggestion"),
    [
        ([], "veto_windwo", "veto_windwo", "veto_window"),
        (["kill_switch"], "wr_lookbak", "kill_switch.wr_lookbak", "wr_lookback"),
        (["stages", 1], "nmae", "stages[1].nmae", "name"),
        (["stages", 1, "gate"], "min_winrate", "stages[1].gate.min_winrate", "min_win_rate"),
        (["stages", 1, "gate"], "leverage", "stages[1].gate.leverage", None),
    ],
)
def test_unknown_keys_are_errors_with_their_path(
    tmp_path: Path, where: List[Any], key: str, path: str, suggestion: Any
) -> None:
    doc = doc_with()
    table = doc
    for step in where:
        table = table[step]
    table[key] = 0.7
    err = problem(tmp_path, doc)
    assert err.key == path
    assert str(err).startswith(f"{tmp_path / 'rollout.json'}: {path}: unknown key (value 0.7)")
    if suggestion:
        assert f"did you mean {suggestion!r}" in str(err)


DELETE = object()


def edited(where: str, key: Any, value: Any) -> Dict[str, Any]:
    """DOC with ``value`` put at ``where`` (dotted, list indexes as numbers) ``[key]``."""
    doc = doc_with()
    table: Any = doc
    for step in filter(None, where.split(".")):
        table = table[int(step)] if step.isdigit() else table[step]
    if value is DELETE:
        table.pop(key)
    else:
        table[key] = value
    return doc


@pytest.mark.parametrize(
    ("where", "key", "value", "path", "words"),
    [
        ("stages.1.gate", "min_win_rate", 60, "stages[1].gate.min_win_rate", ["fraction", "60"]),
        ("stages.1.gate", "min_n", 5.5, "stages[1].gate.min_n", ["whole number", "5.5"]),
        ("stages.1.gate", "min_n", "none", "stages[1].gate.min_n", ["'none'"]),
        ("stages.1.gate", "min_days_after_prev", -1, "stages[1].gate.min_days_after_prev",
         [">= 0", "-1"]),
        ("kill_switch", "wr_lookback", 0, "kill_switch.wr_lookback", [">= 1", "0"]),
        ("kill_switch", "ev_threshold", "low", "kill_switch.ev_threshold", ["number", "'low'"]),
        ("stages.1", "num", -1, "stages[1].num", [">= 0", "-1"]),
        ("stages.1", "num", "1", "stages[1].num", ["whole number", "'1'"]),
        ("stages.1", "name", 5, "stages[1]", ["name", "5"]),
        ("stages.1", "params", [1], "stages[1].params", ["table", "[1]"]),
        ("stages.1", "gate", 50, "stages[1].gate", ["table", "50"]),
        ("stages.1", "num", DELETE, "stages[1].num", ["missing"]),
        ("stages.1", "params", DELETE, "stages[1].params", ["missing"]),
        ("stages", 1, "canary", "stages[1]", ["table", "'canary'"]),
        ("stages.0", "gate", {"min_n": 5}, "stages[0].gate", ["never be judged"]),
        ("stages.1", "num", 0, "stages", ["unique", "[0]"]),
        ("stages", 0, {"num": 2, "params": {}}, "stages", ["stage 0", "[2, 1]"]),
        ("", "stages", [], "stages", ["list", "[]"]),
        ("", "stages", {"num": 0}, "stages", ["list"]),
        ("", "stages", DELETE, "stages", ["missing"]),
        ("", "kill_switch", DELETE, "kill_switch", ["missing", "[kill_switch]"]),
        ("", "kill_switch", 3, "kill_switch", ["table", "3"]),
        ("", "state_path", 3, "state_path", ["path", "3"]),
        ("", "state_path", "", "state_path", ["path", "''"]),
    ],
)  # fmt: skip
def test_every_bad_value_names_file_key_path_and_value(
    tmp_path: Path, where: str, key: Any, value: Any, path: str, words: List[str]
) -> None:
    err = problem(tmp_path, edited(where, key, value))
    assert isinstance(err, ConfigError)
    assert isinstance(err, ValueError)
    assert err.key == path
    assert err.file == str(tmp_path / "rollout.json")
    assert str(err).startswith(f"{tmp_path / 'rollout.json'}: {path}: ")
    for word in words:
        assert word in str(err)
    assert err.line is None  # the parser had no complaint, so there is no line to name


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    doc = doc_with(veto_window="soon", extra=1)
    doc["kill_switch"]["wr_threshold"] = 55
    doc["stages"][1]["gate"]["min_win_rate"] = 60
    err = problem(tmp_path, doc)
    assert [e.key for e in err.errors] == [
        "extra",
        "veto_window",
        "kill_switch.wr_threshold",
        "stages[1].gate.min_win_rate",
    ]
    assert err.key == "extra"
    assert "(and 3 more problems in the file)" in str(err)


def test_toml_without_tomli_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> Any:
        raise ImportError("No module named 'tomli'")

    monkeypatch.setattr(config_module, "_tomllib", missing)
    with pytest.raises(ConfigFileError, match=r"quant-rollout\[toml\]"):
        load_config(write(tmp_path, "rollout.toml", TOML))
    # JSON needs no extra.
    assert load_config(write_json(tmp_path, DOC)).stages == STAGES


# ----------------------------------------------------------------------------- from_config


def _trades() -> List[TradeOutcome]:
    wins = [TradeOutcome(1.0, 2.0, f"2026-04-30T00:{i:02d}:00Z") for i in range(50)]
    return wins + [TradeOutcome(-1.0, 2.0, f"2026-04-30T01:{i:02d}:00Z") for i in range(10)]


def test_from_config_equals_a_hand_built_rollout(tmp_path: Path) -> None:
    path = write(tmp_path, "rollout.toml", TOML)
    built = Rollout.from_config(path, clock=ManualClock("2026-05-01T00:00:00Z"))
    by_hand = Rollout(
        list(STAGES),
        KILL,
        state_path=tmp_path / "hand" / "rollout_state.json",
        veto_window_seconds=1800,
        clock=ManualClock("2026-05-01T00:00:00Z"),
    )
    assert built.config == by_hand.config
    assert built.state_path == tmp_path / "state" / "rollout_state.json"
    for _ in range(3):
        a, b = built.tick(_trades()), by_hand.tick(_trades())
        assert (a.action, a.from_stage, a.to_stage, a.reason, a.veto_deadline_unix) == (
            b.action,
            b.from_stage,
            b.to_stage,
            b.reason,
            b.veto_deadline_unix,
        )
        assert built.clock is not None
        assert isinstance(built.clock, ManualClock)
        built.clock.advance(minutes=31)
        assert isinstance(by_hand.clock, ManualClock)
        by_hand.clock.advance(minutes=31)
    assert built.status().stage.num == by_hand.status().stage.num == 1


def test_from_config_state_path_argument_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "rollout.toml", TOML)
    rollout = Rollout.from_config(path, state_path=tmp_path / "other.json")
    assert rollout.state_path == tmp_path / "other.json"


def test_from_config_needs_a_state_path(tmp_path: Path) -> None:
    doc = doc_with()
    del doc["state_path"]
    path = write_json(tmp_path, doc)
    with pytest.raises(ConfigFileError, match="state_path") as info:
        Rollout.from_config(path)
    assert info.value.key == "state_path"
    assert Rollout.from_config(path, state_path=tmp_path / "s.json").state_path == (
        tmp_path / "s.json"
    )


def test_from_config_raises_the_loaders_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="no such file"):
        Rollout.from_config(tmp_path / "missing.toml")


def test_loaded_config_is_frozen(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, "rollout.toml", TOML))
    assert isinstance(loaded, LoadedConfig)
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.veto_window_seconds = 0  # type: ignore[misc]


# ----------------------------------------------------------------------------- any config


def test_as_loaded_config_accepts_every_way_of_naming_a_rollout(tmp_path: Path) -> None:
    path = write(tmp_path, "r.toml", TOML)
    loaded = load_config(path)
    rollout = Rollout.from_config(path)
    duck = SimpleNamespace(
        stages=loaded.stages, kill_switch=loaded.kill_switch, veto_window_seconds=60.0
    )
    assert as_loaded_config(loaded) is loaded
    for named in (path, str(path)):
        assert as_loaded_config(named) == loaded
    from_rollout = as_loaded_config(rollout)
    assert from_rollout.state_path == rollout.state_path == loaded.state_path
    assert from_rollout.source is None
    assert as_loaded_config(rollout.config).state_path is None
    assert as_rollout_config(duck).veto_window_seconds == 60.0
    for named in (path, loaded, rollout, rollout.config):
        assert as_rollout_config(named) == loaded.rollout_config


def test_as_loaded_config_names_what_is_missing() -> None:
    with pytest.raises(ConfigError, match=r"replay needs .*; SimpleNamespace has no 'kill_switch'"):
        as_loaded_config(SimpleNamespace(stages=(), veto_window_seconds=0), needed_by="replay")
    with pytest.raises(ConfigFileError, match="no such file"):
        as_loaded_config("no/such/rollout.toml")


# ----------------------------------------------------------------------------- bounds


def test_a_veto_window_beyond_a_year_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(TOML.replace('veto_window = "30m"', 'veto_window = "999999999999d"'))
    with pytest.raises(ConfigFileError, match=r"veto_window: at most 366d") as info:
        load_config(path)
    assert info.value.key == "veto_window"
    with pytest.raises(ConfigError, match="veto_window_seconds must be at most"):
        Rollout([Stage(0, {})], KillSwitch(), store=MemoryStore(), veto_window_seconds=1e17)


def test_a_cusum_horizon_that_would_hold_the_lock_for_minutes_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"horizon must be at most 10,000.*under the"):
        WinRateCusum(unacceptable=0.4, horizon=10**9)


@pytest.mark.parametrize(
    ("suffix", "text"), [(".json", "[" * 100_000), (".toml", "a = " + "[" * 100_000)]
)
def test_deeply_nested_configuration_is_a_config_error_not_a_recursion_error(
    tmp_path: Path, suffix: str, text: str
) -> None:
    path = tmp_path / f"r{suffix}"
    path.write_text(text)
    with pytest.raises(ConfigFileError, match=r"nested too deeply|not valid"):
        load_config(path)
