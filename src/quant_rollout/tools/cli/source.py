"""Which rollout a command acts on, who is acting, and the trade files it reads.

The rollout comes from --config, --rollout, $QUANT_ROLLOUT_CONFIG or ./rollout.toml.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import socket
import sys
from pathlib import Path
from typing import Any, Tuple

from ...clock import read_clock
from ...errors import RolloutError
from ...rollout import Rollout
from .common import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    NOW_ENV,
    PROG,
    _clock,
    _CommandError,
    _describe,
)

__all__: list[str] = []


@dataclasses.dataclass(frozen=True)
class _Source:
    kind: str  # "config" or "rollout"
    value: str

    @property
    def label(self) -> str:
        return self.value if self.kind == "config" else f"--rollout {self.value}"


def _source(args: argparse.Namespace) -> _Source:
    config = getattr(args, "config", None)
    factory = getattr(args, "rollout", None)
    if config and factory:
        raise _CommandError("give --config or --rollout, not both")
    if factory:
        return _Source("rollout", factory)
    if config:
        return _Source("config", config)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return _Source("config", env)
    if Path(DEFAULT_CONFIG).is_file():
        return _Source("config", DEFAULT_CONFIG)
    raise _CommandError(
        f"which rollout? pass --config FILE (or set {CONFIG_ENV}) or --rollout "
        f"module:factory; `{PROG} init` writes an example {DEFAULT_CONFIG}"
    )


def _import_factory(spec: str) -> Rollout:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise _CommandError(
            f"--rollout takes module.path:factory (e.g. mybot.rollout:build), got {spec!r}"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)  # like `python -m`: the bot's own package is importable
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise _CommandError(
            f"--rollout {spec}: cannot import {module_name!r} ({exc}); run from the folder "
            "that holds it or add that folder to PYTHONPATH"
        ) from exc
    except Exception as exc:
        raise _CommandError(
            f"--rollout {spec}: importing {module_name!r} raised {_describe(exc)}"
        ) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise _CommandError(f"--rollout {spec}: {module_name!r} has no {attr!r}") from None
    if isinstance(obj, Rollout):
        return obj
    if not callable(obj):
        raise _CommandError(
            f"--rollout {spec}: {attr!r} is neither a Rollout nor a function returning one"
        )
    try:
        rollout = obj()
    except RolloutError:
        raise
    except Exception as exc:
        raise _CommandError(f"--rollout {spec}: the factory raised {_describe(exc)}") from exc
    if not isinstance(rollout, Rollout):
        raise _CommandError(
            f"--rollout {spec}: the factory returned {type(rollout).__name__}, not a Rollout"
        )
    return rollout


def _rollout(args: argparse.Namespace) -> Tuple[Rollout, _Source]:
    source = _source(args)
    if source.kind == "config":
        return Rollout.from_config(source.value, clock=_clock()), source
    rollout = _import_factory(source.value)
    if os.environ.get(NOW_ENV):
        rollout.clock = _clock()
    return rollout, source


def _now_us(rollout: Rollout) -> int:
    return read_clock(rollout.clock)


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return str(args.actor)
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or os.environ.get("USERNAME")
    if not user:
        try:
            import getpass

            user = getpass.getuser()
        except Exception:  # no name for this uid (a bare container)
            user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _read_trades(path: str, args: argparse.Namespace) -> Any:
    try:
        from ..importers import _read_trades as read_trades
    except ImportError as exc:  # pragma: no cover - the importers ship with the package
        raise _CommandError(f"reading trade files is not available here ({exc})") from exc
    # The importer's command-line spelling: its advice names --skip-bad, --strategy...
    return read_trades(
        path,
        format=args.format,
        pnl=args.pnl,
        size=args.size,
        time=args.time,
        skip_bad=args.skip_bad,
        strategy=args.strategy,
        arm=args.arm,
    )
