"""``quant-rollout dashboard``: check the command line, then start Streamlit on the app.

Run as ``python -m quant_rollout.dashboard`` (which ``quant-rollout dashboard``
does, so that nothing below the dashboard ever imports it). Everything that can be
wrong with the command line is reported here, before a server starts: a missing
path, a weak or unreadable token, a non-loopback address without a token, the
``dashboard`` extra not installed. A configuration file that exists but does not
load is not refused: the page shows that rollout's error beside the others.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import stat
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .settings import (
    SETTINGS_ENV,
    TOKEN_ENV,
    DashboardSettings,
    RolloutEntry,
    TokenError,
    configured_token,
    default_name,
    is_loopback,
)

__all__ = ["main"]

PROG = "quant-rollout dashboard"
CONFIG_ENV = "QUANT_ROLLOUT_CONFIG"
DEFAULT_CONFIG = "rollout.toml"
EXIT_ERROR = 2


class _UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "A live page of your rollouts: the fleet at a glance, each rollout's equity "
            "curve with its stages, its gate and kill switch, its history; veto, pause, "
            "resume, clear the kill switch or promote from a browser or a phone. "
            f"Read-only unless an action token is configured (${TOKEN_ENV} or "
            "--token-file); never on the command line."
        ),
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="CONFIG_OR_FOLDER",
        help="configuration files, or folders whose *.toml and *.json files are configurations "
        f"(default: --config, ${CONFIG_ENV}, else ./{DEFAULT_CONFIG})",
    )
    p.add_argument("--config", metavar="FILE", action="append", default=[], help="a configuration")
    p.add_argument(
        "--trades",
        metavar="[NAME=]FILE",
        action="append",
        default=[],
        help="a trade history for the rollout NAME (its file name without extension), for the "
        "equity curve and the gate's bounds; NAME may be left out with one rollout",
    )
    p.add_argument("--host", default="127.0.0.1", help="the address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8501, help="the port (default 8501)")
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"a file holding the action token (else ${TOKEN_ENV}; neither: read-only)",
    )
    p.add_argument("--name", help="recorded as the actor dashboard:NAME (default: $USER@hostname)")
    p.add_argument(
        "--refresh",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="re-read the state every SECONDS (default 5; 0: only on interaction)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="check the command line, print what would be served, and exit",
    )
    return p


def _configs(args: argparse.Namespace) -> List[Path]:
    given: List[str] = list(args.paths) + list(args.config)
    if not given:
        env = os.environ.get(CONFIG_ENV)
        if env:
            given = [env]
        elif Path(DEFAULT_CONFIG).is_file():
            given = [DEFAULT_CONFIG]
        else:
            raise _UsageError(
                f"which rollouts? give configuration files or folders (or set {CONFIG_ENV}); "
                f"`quant-rollout init` writes an example {DEFAULT_CONFIG}"
            )
    found: List[Path] = []
    for text in given:
        path = Path(text).expanduser()
        if path.is_dir():
            inside = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix in (".toml", ".json")
            )
            if not inside:
                raise _UsageError(f"{text}: no *.toml or *.json configuration in this folder")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise _UsageError(f"{text}: no such file or folder")
    unique: List[Path] = []
    for path in found:
        if path.resolve() not in {p.resolve() for p in unique}:
            unique.append(path)
    return unique


def _keys(configs: Sequence[Path]) -> List[str]:
    keys: List[str] = []
    for path in configs:
        key, n = path.stem, 2
        while key in keys:
            key, n = f"{path.stem}-{n}", n + 1
        keys.append(key)
    return keys


def _trades(specs: Sequence[str], keys: Sequence[str]) -> Dict[str, Path]:
    out: Dict[str, Path] = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep:
            if len(keys) != 1:
                raise _UsageError(
                    f"--trades {spec}: with several rollouts say whose, as NAME=FILE "
                    f"(names: {', '.join(keys)})"
                )
            name, file = keys[0], spec
        if name not in keys:
            raise _UsageError(
                f"--trades {spec}: no rollout named {name!r} (names: {', '.join(keys)})"
            )
        if name in out:
            raise _UsageError(f"--trades {spec}: {name!r} already has a trade history")
        out[name] = Path(file).expanduser().absolute()
    return out


def settings_from_args(args: argparse.Namespace) -> DashboardSettings:
    """The settings for the command line, or _UsageError saying what is wrong."""
    configs = _configs(args)
    keys = _keys(configs)
    trades = _trades(args.trades, keys)
    if not 1 <= args.port <= 65535:
        raise _UsageError(f"--port must be 1-65535, got {args.port!r}")
    if args.refresh < 0:
        raise _UsageError(f"--refresh must be >= 0 seconds, got {args.refresh!r}")
    token_file = None if args.token_file is None else Path(args.token_file).expanduser().absolute()
    return DashboardSettings(
        tuple(
            RolloutEntry(key, path.absolute(), trades.get(key)) for key, path in zip(keys, configs)
        ),
        args.name or default_name(),
        args.refresh,
        token_file,
        args.host,
    )


def _check_token(settings: DashboardSettings) -> Optional[str]:
    """The token (or None: read-only). Refuses a non-loopback address without one."""
    try:
        token = configured_token(settings.token_file)
    except TokenError as exc:
        raise _UsageError(str(exc)) from None
    if token is None and not is_loopback(settings.address):
        raise _UsageError(
            f"--host {settings.address}: refusing to serve beyond this machine without an "
            f"action token (set {TOKEN_ENV} or --token-file); or keep 127.0.0.1 and reach "
            "it through an SSH tunnel or a VPN"
        )
    if settings.token_file is not None:
        mode = settings.token_file.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            sys.stderr.write(
                f"{PROG}: warning: {settings.token_file} can be read by other users; chmod 600 it\n"
            )
    return token


def _streamlit_argv(settings: DashboardSettings, port: int) -> List[str]:
    app = Path(__file__).with_name("app.py")
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        settings.address,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--theme.base",
        "light",
    ]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Check the command line and start the server (replacing this process on POSIX)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    try:
        settings = settings_from_args(args)
        token = _check_token(settings)
    except _UsageError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return EXIT_ERROR
    mode = "actions need the token" if token is not None else "read-only (no action token)"
    url = f"http://{settings.address}:{args.port}"
    lines = [
        f"{e.key}: {e.config}" + (f" (trades {e.trades})" if e.trades else "")
        for e in settings.rollouts
    ]
    if args.check:
        sys.stdout.write("\n".join([f"would serve {url}, {mode}", *lines]) + "\n")
        return 0
    if importlib.util.find_spec("streamlit") is None:
        sys.stderr.write(
            f"{PROG}: error: Streamlit is not installed; pip install 'quant-rollout[dashboard]'\n"
        )
        return EXIT_ERROR
    sys.stderr.write(f"{PROG}: serving {url}, {mode}\n")
    sys.stderr.flush()
    env = dict(os.environ)
    env[SETTINGS_ENV] = settings.to_json()
    command = _streamlit_argv(settings, args.port)
    if os.name == "posix":
        # Become the server: a service manager or a test stopping this PID stops it.
        os.execve(sys.executable, command, env)
    import subprocess

    return subprocess.call(command, env=env)
