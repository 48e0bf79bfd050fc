"""Rollout configuration files: TOML or JSON in, stages, gates and a kill switch out.

A bot and the ``quant-rollout`` command share one file, so the rollout the CLI
operates is exactly the one the bot ticks::

    state_path = "rollout_state.json"     # relative to this file; "~" is expanded
    veto_window = "30m"                   # or seconds as a number; s/m/h/d suffixes

    [kill_switch]                         # KillSwitch fields
    wr_lookback = 30
    wr_threshold = 0.55
    ev_lookback = 100
    ev_threshold = -0.01

    [[stages]]                            # Stage fields: num, name, params, gate
    num = 0
    name = "baseline"
    params = { max_entry_price = 0.30 }

    [[stages]]
    num = 1
    name = "canary"
    params = { max_entry_price = 0.50 }
    gate = { min_n = 50, min_win_rate = 0.60, min_ev_per_dollar = 0.03 }

The same document as JSON (``.json``) has the same keys; ``examples/rollout.toml``
(and ``quant-rollout init``) is a commented example.

Keys:

``state_path`` (text, optional)
    The state file. A relative path is relative to the configuration file's folder,
    not to the current directory, so the bot and the CLI find the same file from
    anywhere. Optional only for uses that never touch a state file (replay);
    :meth:`Rollout.from_config <quant_rollout.Rollout.from_config>` needs it or a
    ``state_path=`` argument.
``veto_window`` (optional, default 30 minutes)
    Seconds as a number, or text with ``s``/``m``/``h``/``d`` units: ``"90s"``,
    ``"30m"``, ``"1.5h"``, ``"1h30m"``, ``"2d"``. ``0`` advances without a window.
``[kill_switch]`` (required)
    The keyword arguments of :class:`~quant_rollout.KillSwitch`. Required so a
    rollout never runs with a kill switch its owner did not choose; an empty
    ``[kill_switch]`` table takes the defaults.
``[[kill_switch.criteria]]`` (optional, any number)
    One table per kill criterion: ``kind`` names it (``protect``, ``win_rate_cusum``,
    ``ev_per_dollar_cusum``, ``max_drawdown``, ``max_consecutive_losses``,
    ``max_daily_loss``; see :mod:`quant_rollout.kill`) and the other keys are the
    keyword arguments of its class::

        [[kill_switch.criteria]]
        kind = "win_rate_cusum"
        unacceptable = 0.45
        false_kill_prob = 0.025
        horizon = 2000

    In JSON, ``"criteria": [{"kind": "win_rate_cusum", ...}]`` inside
    ``"kill_switch"``. Custom criteria are Python objects: build the
    :class:`~quant_rollout.KillSwitch` in code for those.
``[[stages]]`` (required, at least stage 0)
    The keyword arguments of :class:`~quant_rollout.Stage`: ``num`` and ``params``
    required, ``name`` optional, ``gate`` an optional table of
    :class:`~quant_rollout.Gate` keyword arguments. The gate of a stage is judged
    on the evidence of the stage before it; stage 0, where the rollout starts,
    cannot have one.
``[stages.experiment]`` (optional, on a stage after stage 0)
    Runs the stage as an experiment (:class:`~quant_rollout.arms.Experiment`
    keyword arguments: ``control``, ``metric``, ``confidence``, ``margin``, ...),
    with one ``[[stages.experiment.arms]]`` table per arm (``name``, ``params``,
    ``weight``; weights all given and summing to 1, or none for an even split).
    The stage's own ``params`` may be left ``{}``: it runs control's, which must be
    the params of the stage before. The next stage runs the winning arm's params
    over its own and has no gate::

        [[stages]]
        num = 1
        name = "arms"
        params = {}
        gate = { min_n = 20 }
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
        weight = 0.5

    A state file whose running experiment was started with other arms (added,
    removed or with other params) is refused when the rollout loads it.

The keys a table accepts are the fields of the class it builds, so a field added to
``Gate`` or ``KillSwitch`` is accepted here with no change to this module. A field
that accepts ``None`` in Python (``Gate.min_ev_per_dollar``, "no floor") is ``null``
in JSON and the text ``"none"`` in TOML, which has no null.

Validation happens at load and the whole file is checked: every problem is a
:class:`~quant_rollout.errors.ConfigFileError` naming the file, the key path
(``stages[1].gate.min_win_rate``) and the bad value, with the line number when the
TOML or JSON parser reports one; the first is raised and carries the others in
``errors``. An unknown key is an error, with a suggestion when it looks like a
typo.

TOML is read with :mod:`tomllib` on Python 3.11+ and with ``tomli`` before that
(``pip install 'quant-rollout[toml]'``), imported only when a TOML file is read.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.resources
import json
import os
import re
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .._durations import format_duration, parse_duration
from ..arms import Arm, Experiment
from ..calendar import Rule, Schedule, Window, load_zone, parse_blackouts, parse_windows
from ..engine import RolloutConfig, Stage
from ..engine.model import MAX_VETO_WINDOW_SECONDS
from ..errors import CalendarError, ConfigError, ConfigFileError, excerpt
from ..kill import BUILTIN_CRITERIA, KillSwitch

__all__ = [
    "EXAMPLE_CONFIG",
    "LoadedConfig",
    "as_loaded_config",
    "as_rollout_config",
    "format_duration",
    "load_config",
    "parse_duration",
]


@dataclass(frozen=True)
class LoadedConfig:
    """A rollout configuration read from a file and validated.

    Attributes:
        stages: the stages, sorted by number (stage 0 first).
        kill_switch: the kill switch.
        veto_window_seconds: seconds a human has to veto an automatic advance.
        state_path: the state file, absolute (``~`` expanded, a relative path taken
            from the configuration file's folder); None when the file has none.
        source: the configuration file it was read from.
        blackouts: the rollout's blackouts (no advance or veto expiry lands in them).
        operator_hours: the weekly windows the veto window counts in (empty: real time).
        operator_zone: the zone times are shown in, or None (see
            :attr:`RolloutConfig.operator_zone <quant_rollout.engine.RolloutConfig>`).
    """

    stages: Tuple[Stage, ...]
    kill_switch: KillSwitch
    veto_window_seconds: float
    state_path: Optional[Path]
    source: Optional[Path] = None
    blackouts: Tuple[Rule, ...] = ()
    operator_hours: Tuple[Window, ...] = ()
    operator_zone: Optional[str] = None

    @property
    def rollout_config(self) -> RolloutConfig:
        """The same definition as the state machine's :class:`RolloutConfig`."""
        return RolloutConfig(
            self.stages,
            self.kill_switch,
            self.veto_window_seconds,
            blackouts=self.blackouts,
            operator_hours=self.operator_hours,
            operator_zone=self.operator_zone,
        )

    def stage(self, num: int) -> Stage:
        """The stage numbered ``num``; KeyError if there is none."""
        return self.rollout_config.stage(num)


# ----------------------------------------------------------------------------- any config

_CONFIG_FIELDS = ("stages", "kill_switch", "veto_window_seconds")


def as_loaded_config(config: object, *, needed_by: str = "this") -> LoadedConfig:
    """Whatever names a rollout configuration, as a :class:`LoadedConfig`.

    The one place the tools accept "a config": ``replay``, the CLI and the plan all
    come through here. Accepts the path of a configuration file (read with
    :func:`load_config`), a ``LoadedConfig`` (returned as it is), a
    :class:`~quant_rollout.engine.RolloutConfig`, a
    :class:`~quant_rollout.Rollout` (its configuration and state file), or any object
    with ``stages``, ``kill_switch`` and ``veto_window_seconds``.

    Args:
        needed_by: who asks, for the error message (``"replay"``).

    Raises:
        ConfigFileError: the file cannot be used.
        ConfigError: ``config`` is none of these, or describes an invalid rollout.
    """
    if isinstance(config, LoadedConfig):
        return config
    if isinstance(config, (str, os.PathLike)):
        return load_config(config)
    # A Rollout, duck-typed: the shell sits below the tools but imports this module.
    inner = getattr(config, "config", None)
    if isinstance(inner, RolloutConfig):
        state_path = getattr(config, "state_path", None)
        return _loaded(inner, state_path if isinstance(state_path, Path) else None)
    if isinstance(config, RolloutConfig):
        return _loaded(config, None)
    missing = [name for name in _CONFIG_FIELDS if not hasattr(config, name)]
    if missing:
        raise ConfigError(
            f"{needed_by} needs a configuration with stages, kill_switch and "
            "veto_window_seconds (a configuration file, a RolloutConfig, a loaded config "
            f"file or a Rollout); {type(config).__name__} has no "
            f"{', '.join(map(repr, missing))}"
        )
    like: Any = config
    return _loaded(RolloutConfig(tuple(like.stages), like.kill_switch, like.veto_window_seconds))


def as_rollout_config(config: object, *, needed_by: str = "this") -> RolloutConfig:
    """:func:`as_loaded_config`, as the state machine's :class:`RolloutConfig`."""
    return as_loaded_config(config, needed_by=needed_by).rollout_config


def _loaded(config: RolloutConfig, state_path: Optional[Path] = None) -> LoadedConfig:
    return LoadedConfig(
        tuple(config.stages),
        config.kill_switch,
        config.veto_window_seconds,
        state_path,
        blackouts=parse_blackouts(config.blackouts),
        operator_hours=parse_windows(config.operator_hours),
        operator_zone=config.operator_zone,
    )


# ----------------------------------------------------------------------------- parsing

_TOP_LEVEL = (
    "state_path",
    "veto_window",
    "operator_hours",
    "operator_zone",
    "blackouts",
    "kill_switch",
    "stages",
)
_PARSER_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_NONE_TEXT = "none"


class _Problems:
    """Every problem found in one file, in the order found."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.found: List[ConfigFileError] = []

    def add(
        self, key: Optional[str], message: str, *, line: Optional[int] = None, col: int = 0
    ) -> None:
        where = self.file
        if line is not None:
            where += f", line {line}" + (f", column {col}" if col else "")
        text = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        self.found.append(ConfigFileError(text, file=self.file, key=key, line=line))

    def raise_if_any(self) -> None:
        if not self.found:
            return
        first = self.found[0]
        message = str(first)
        if len(self.found) > 1:
            more = len(self.found) - 1
            message += f" (and {more} more problem{'s' if more > 1 else ''} in the file)"
        raise ConfigFileError(
            message, file=first.file, key=first.key, line=first.line, errors=tuple(self.found)
        )


_TOO_DEEP = "nested too deeply (a configuration is a few levels deep)"


def _tomllib() -> ModuleType:
    if sys.version_info >= (3, 11):
        import tomllib  # novermin: guarded by the version check above

        return tomllib
    return importlib.import_module("tomli")  # the `toml` extra; ImportError when missing


def _parse_text(file: str, text: str, problems: _Problems) -> Optional[object]:
    fmt = _format_of(file, text)
    if fmt == "json":
        try:
            doc: object = json.loads(
                text, object_pairs_hook=_json_object, parse_constant=_json_constant
            )
            return doc
        except json.JSONDecodeError as exc:
            problems.add(None, f"not valid JSON: {exc.msg}", line=exc.lineno, col=exc.colno)
        except _JsonValueError as exc:
            problems.add(None, f"not valid JSON: {exc}")
        except RecursionError:
            problems.add(None, f"not valid JSON: {_TOO_DEEP}")
        return None
    try:
        toml = _tomllib()
    except ImportError:
        problems.add(
            None,
            "reading TOML on Python < 3.11 needs tomli: pip install 'quant-rollout[toml]' "
            "(or write the configuration as JSON)",
        )
        return None
    try:
        parsed: object = toml.loads(text)
        return parsed
    except RecursionError:
        problems.add(None, f"not valid TOML: {_TOO_DEEP}")
        return None
    except toml.TOMLDecodeError as exc:
        msg = str(exc)
        m = _PARSER_POSITION.search(msg)
        if m:
            msg = msg[: m.start()]
            problems.add(None, f"not valid TOML: {msg}", line=int(m.group(1)), col=int(m.group(2)))
        else:
            problems.add(None, f"not valid TOML: {msg}")
        return None


def _format_of(file: str, text: str) -> str:
    suffix = Path(file).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix == ".toml":
        return "toml"
    return "json" if text.lstrip().startswith("{") else "toml"


class _JsonValueError(ValueError):
    pass


def _json_object(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in pairs:
        if key in out:  # JSON allows it and keeps the last; TOML forbids it, and so do we
            raise _JsonValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _json_constant(name: str) -> Any:
    raise _JsonValueError(f"{name} is not a number a rollout can use")


# ----------------------------------------------------------------------------- building


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _field_hints(cls: type) -> Dict[str, Any]:
    return typing.get_type_hints(cls)


def _admits_none(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def _nested_class(hint: Any) -> Optional[type]:
    """The dataclass a field holds (``Optional[Gate]`` -> Gate), if any."""
    for arg in (hint, *typing.get_args(hint)):
        if isinstance(arg, type) and dataclasses.is_dataclass(arg):
            return arg
    return None


def _wants_mapping(hint: Any) -> bool:
    origin = typing.get_origin(hint) or hint
    return isinstance(origin, type) and issubclass(origin, Mapping)


def _unknown_key(problems: _Problems, path: str, key: object, value: object, known: Any) -> None:
    names = list(known)
    hint = ""
    if isinstance(key, str):
        close = difflib.get_close_matches(key, names, n=1)
        if close:
            hint = f"did you mean {close[0]!r}? "
    problems.add(
        _join(path, str(key)),
        f"unknown key (value {_unknown_value(value)}); {hint}known keys: {', '.join(names)}",
    )


def _unknown_value(value: object) -> str:
    """A key this file should not have may be a secret (an API key in the wrong file):
    show a number as it is, and text or a table only by its size."""
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, str):
        return f"text of {len(value)} characters, not shown"
    if isinstance(value, Mapping):
        return f"a table of {len(value)} keys, not shown"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} items, not shown"
    return f"a {type(value).__name__}, not shown"


def _check_table(problems: _Problems, path: str, value: object) -> bool:
    if isinstance(value, Mapping):
        return True
    problems.add(path, f"must be a table (key = value pairs), got {value!r}")
    return False


def _build(cls: type, table: Mapping[str, Any], path: str, problems: _Problems) -> Optional[Any]:
    """``cls(**table)`` for a frozen dataclass, each key checked against its fields.

    Nested dataclass fields (a stage's ``gate``) are built from their own tables.
    A ConfigError from the constructor is reported at the key it names.
    """
    before = len(problems.found)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = _field_hints(cls)
    kwargs: Dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            _unknown_key(problems, path, key, value, fields)
            continue
        hint = hints.get(key)
        if value == _NONE_TEXT and _admits_none(hint):
            kwargs[key] = None
            continue
        nested = _nested_class(hint)
        if nested is not None:
            if value is None:
                kwargs[key] = None
            elif _check_table(problems, _join(path, key), value):
                kwargs[key] = _build(nested, value, _join(path, key), problems)
            continue
        if _wants_mapping(hint) and not _check_table(problems, _join(path, key), value):
            continue
        kwargs[key] = value
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and name not in table:
            problems.add(_join(path, name), f"missing (a {cls.__name__} needs {name})")
    if len(problems.found) > before:
        return None
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        where, message = _locate(cls.__name__, str(exc), kwargs)
        problems.add(_join(path, where) if where else path, message)
        return None


def _locate(owner: str, message: str, kwargs: Mapping[str, Any]) -> Tuple[Optional[str], str]:
    """The key a constructor's ConfigError is about, from its ``Owner.field ...`` prefix
    (or ``Owner.field[i]: ...`` for an item of a list, such as a gate's windows)."""
    for key in kwargs:
        prefix = f"{owner}.{key} "
        if message.startswith(prefix):
            return key, message[len(prefix) :]
        item = re.match(rf"{re.escape(owner)}\.{re.escape(key)}(\[\d+\])?: ", message)
        if item:
            return key + (item.group(1) or ""), message[item.end() :]
    return None, message


def _state_path(value: object, file: str, problems: _Problems) -> Optional[Path]:
    if not isinstance(value, str) or not value.strip():
        problems.add("state_path", f"must be a file path as text, got {value!r}")
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path(os.path.abspath(file)).parent / path
    return path


def _veto_window(value: object, problems: _Problems) -> Optional[float]:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        problems.add("veto_window", str(exc))
        return None
    if seconds > MAX_VETO_WINDOW_SECONDS:
        problems.add(
            "veto_window",
            f"at most {format_duration(MAX_VETO_WINDOW_SECONDS)} (a longer window is a "
            f"pause: use `quant-rollout pause`), got {excerpt(value)}",
        )
        return None
    return seconds


def _calendar(
    doc: Mapping[str, Any], problems: _Problems
) -> Optional[Tuple[Tuple[Rule, ...], Tuple[Window, ...], Optional[str]]]:
    """The rollout's ``blackouts``, ``operator_hours`` and ``operator_zone``."""
    before = len(problems.found)
    blackouts: Tuple[Rule, ...] = ()
    hours: Tuple[Window, ...] = ()
    zone = doc.get("operator_zone")
    try:
        blackouts = parse_blackouts(doc.get("blackouts", []), key="blackouts")
    except CalendarError as exc:
        problems.add(exc.key or "blackouts", _after_key(str(exc), exc.key))
    try:
        hours = parse_windows(doc.get("operator_hours", []), key="operator_hours")
        if hours:
            Schedule(hours).check_can_open(key="operator_hours")
    except CalendarError as exc:
        problems.add(exc.key or "operator_hours", _after_key(str(exc), exc.key))
    if zone is not None:
        try:
            load_zone(zone, key="operator_zone")
        except CalendarError as exc:
            problems.add("operator_zone", _after_key(str(exc), exc.key))
    if len(problems.found) > before:
        return None
    return blackouts, hours, zone


def _after_key(message: str, key: str) -> str:
    """A calendar message without its leading ``key: `` (the file's report adds it)."""
    return message[len(key) + 2 :] if key and message.startswith(f"{key}: ") else message


def _stages(value: object, problems: _Problems) -> Optional[List[Stage]]:
    if not isinstance(value, list) or not value:
        problems.add(
            "stages",
            f"must be a list of stage tables ([[stages]] in TOML) with stage 0 first, "
            f"got {value!r}",
        )
        return None
    stages: List[Stage] = []
    for i, item in enumerate(value):
        path = f"stages[{i}]"
        if not _check_table(problems, path, item):
            continue
        if "experiment" in item:
            stage = _experiment_stage(item, path, problems)
        else:
            stage = _build(Stage, item, path, problems)
        if stage is not None:
            stages.append(stage)
    if len(stages) < len(value):
        return None
    return stages


def _experiment_stage(item: Mapping[str, Any], path: str, problems: _Problems) -> Optional[Stage]:
    """A stage with an ``[stages.experiment]`` table and its ``[[stages.experiment.arms]]``."""
    before = len(problems.found)
    plain = _build(Stage, {k: v for k, v in item.items() if k != "experiment"}, path, problems)
    where = _join(path, "experiment")
    table = item["experiment"]
    if not _check_table(problems, where, table):
        return None
    arms_value = table.get("arms")
    arms: List[Arm] = []
    if not isinstance(arms_value, list) or not arms_value:
        problems.add(
            _join(where, "arms"),
            "must be a list of arm tables ([[stages.experiment.arms]] in TOML: name, params,"
            f" weight), got {excerpt(arms_value)}",
        )
    else:
        for j, arm_table in enumerate(arms_value):
            arm_path = f"{where}.arms[{j}]"
            if _check_table(problems, arm_path, arm_table):
                arm = _build(Arm, arm_table, arm_path, problems)
                if arm is not None:
                    arms.append(arm)
    if len(problems.found) > before or plain is None:
        return None
    fields = [f.name for f in dataclasses.fields(Experiment) if f.init]
    kwargs: Dict[str, Any] = {"arms": tuple(arms)}
    for key, value in table.items():
        if key not in fields:
            _unknown_key(problems, where, key, value, fields)
        elif key != "arms":
            kwargs[key] = None if value == _NONE_TEXT else value
    if "control" not in table:
        problems.add(
            _join(where, "control"),
            "missing: name the arm that runs the params the bot ran before",
        )
    if len(problems.found) > before:
        return None
    try:
        experiment = Experiment(**kwargs)
        return Stage(plain.num, plain.params, plain.gate, plain.name, experiment=experiment)
    except ConfigError as exc:
        key, message = _locate("Experiment", str(exc), kwargs)
        problems.add(_join(where, key) if key else where, message)
        return None


def _kill_criteria(value: object, problems: _Problems) -> Optional[List[Any]]:
    """The ``[[kill_switch.criteria]]`` tables, each built by its ``kind``."""
    path = "kill_switch.criteria"
    if not isinstance(value, list):
        problems.add(
            path,
            f"must be a list of criterion tables ([[kill_switch.criteria]] in TOML), got {value!r}",
        )
        return None
    kinds = list(BUILTIN_CRITERIA)
    criteria: List[Any] = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if not _check_table(problems, where, item):
            continue
        kind = item.get("kind")
        cls = BUILTIN_CRITERIA.get(kind) if isinstance(kind, str) else None
        if cls is None:
            if kind is None:
                message = f"missing: say which criterion, one of {', '.join(kinds)}"
            else:
                close = difflib.get_close_matches(str(kind), kinds, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                message = f"unknown kind {kind!r}; {hint}known kinds: {', '.join(kinds)}"
            problems.add(f"{where}.kind", message)
            continue
        rest = {k: v for k, v in item.items() if k != "kind"}
        built = _build(cls, rest, where, problems)
        if built is not None:
            criteria.append(built)
    if len(criteria) < len(value):
        return None
    return criteria


def _kill_switch(table: Mapping[str, Any], problems: _Problems) -> Optional[KillSwitch]:
    rest = dict(table)
    criteria: Optional[List[Any]] = []
    if "criteria" in rest:
        criteria = _kill_criteria(rest.pop("criteria"), problems)
    kill: Optional[KillSwitch] = _build(KillSwitch, rest, "kill_switch", problems)
    if kill is None or criteria is None:
        return None
    return dataclasses.replace(kill, criteria=tuple(criteria))


def _from_document(doc: object, file: str, problems: _Problems) -> Optional[LoadedConfig]:
    if not isinstance(doc, Mapping):
        problems.add(None, f"expected a table of settings at the top, got {type(doc).__name__}")
        return None
    for key, value in doc.items():
        if key not in _TOP_LEVEL:
            _unknown_key(problems, "", key, value, _TOP_LEVEL)
    state_path = None
    if "state_path" in doc:
        state_path = _state_path(doc["state_path"], file, problems)
    default_window = next(
        f.default for f in dataclasses.fields(RolloutConfig) if f.name == "veto_window_seconds"
    )
    veto = _veto_window(doc.get("veto_window", default_window), problems)
    kill: Optional[KillSwitch] = None
    if "kill_switch" not in doc:
        problems.add(
            "kill_switch",
            "missing: add a [kill_switch] table (an empty one takes the defaults: "
            f"{KillSwitch()!r})",
        )
    elif _check_table(problems, "kill_switch", doc["kill_switch"]):
        kill = _kill_switch(doc["kill_switch"], problems)
    stages = None
    if "stages" not in doc:
        problems.add("stages", "missing: add at least stage 0 as a [[stages]] table")
    else:
        stages = _stages(doc["stages"], problems)
    calendar = _calendar(doc, problems)
    if problems.found or stages is None or kill is None or veto is None or calendar is None:
        return None
    blackouts, hours, zone = calendar
    try:
        config = RolloutConfig(
            tuple(stages),
            kill,
            veto,
            blackouts=blackouts,
            operator_hours=hours,
            operator_zone=zone,
        )
    except CalendarError as exc:
        problems.add("blackouts", str(exc))
        return None
    except ConfigError as exc:
        problems.add("stages", str(exc))
        return None
    for i, stage in enumerate(stages):
        if stage.num == 0 and stage.gate is not None:
            problems.add(
                f"stages[{i}].gate",
                "stage 0 is where the rollout starts, so its gate would never be judged; "
                "remove it (a stage's gate is judged on the stage before it)",
            )
            return None
    return LoadedConfig(
        stages=config.stages,
        kill_switch=config.kill_switch,
        veto_window_seconds=config.veto_window_seconds,
        state_path=state_path,
        source=Path(file),
        blackouts=blackouts,
        operator_hours=hours,
        operator_zone=zone,
    )


def load_config(path: Union[str, os.PathLike[str]]) -> LoadedConfig:
    """Read and validate a rollout configuration file (TOML, or JSON for ``.json``).

    A file with another extension is read as JSON when it starts with ``{`` and as
    TOML otherwise.

    Raises:
        ConfigFileError: the file is missing or unreadable, does not parse, or holds
            an unknown key or a bad value. The message names the file, the key path
            and the value (and the line, for parse errors); ``errors`` holds every
            problem found.
    """
    file = os.fspath(path)
    problems = _Problems(file)
    try:
        text = Path(file).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        problems.add(None, "no such file; check the path (quant-rollout init writes an example)")
    except IsADirectoryError:
        problems.add(None, "is a folder; give the configuration file inside it")
    except OSError as exc:
        problems.add(None, f"cannot read the file ({exc.strerror or exc})")
    except UnicodeDecodeError as exc:
        problems.add(None, f"not UTF-8 text ({exc})")
    problems.raise_if_any()
    doc = _parse_text(file, text, problems)
    problems.raise_if_any()
    config = _from_document(doc, file, problems)
    problems.raise_if_any()
    assert config is not None
    return config


# ----------------------------------------------------------------------------- example

# Package data, so that it is a TOML file an editor and a linter can read as one.
EXAMPLE_CONFIG = (
    importlib.resources.files(__package__).joinpath("example_rollout.toml").read_text("utf-8")
)
"""The commented example configuration that ``quant-rollout init`` writes
(the same text as ``examples/rollout.toml``), from ``example_rollout.toml`` beside this
module."""
