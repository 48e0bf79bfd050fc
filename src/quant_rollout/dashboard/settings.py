"""What the dashboard shows and who may act: its settings, the action token, the bind rule.

The launcher (``quant-rollout dashboard``) checks the command line, then hands the
settings to the Streamlit app through one environment variable holding JSON
(:data:`SETTINGS_ENV`). The action token never travels that way, nor on a command
line or in a URL: it is read, each time the app needs it, from
:data:`TOKEN_ENV` or from the file named by ``--token-file``. No Streamlit here.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import List, Mapping, Optional, Tuple

from ..errors import ConfigError

__all__ = [
    "MIN_TOKEN_LENGTH",
    "SETTINGS_ENV",
    "TOKEN_ENV",
    "DashboardSettings",
    "RolloutEntry",
    "TokenError",
    "configured_token",
    "default_name",
    "is_loopback",
    "token_matches",
]

SETTINGS_ENV = "QUANT_ROLLOUT_DASHBOARD"
"""The environment variable carrying the settings (JSON) from the launcher to the app."""

TOKEN_ENV = "QUANT_ROLLOUT_DASHBOARD_TOKEN"
"""The environment variable holding the action token (or use ``--token-file``)."""

MIN_TOKEN_LENGTH = 16
"""A shorter token is refused: it could be guessed through the page."""


class TokenError(ConfigError):
    """The action token is configured but unusable (unreadable file, too short)."""


@dataclass(frozen=True)
class RolloutEntry:
    """One rollout on the dashboard.

    Attributes:
        key: a short unique name, shown in the fleet and used in the page's address
            (``?rollout=KEY``): the configuration file's name without its extension,
            made unique with a number when two files share it.
        config: the configuration file (TOML or JSON).
        trades: a trade history file to draw the equity curve and the gate's bounds
            from (any format ``quant-rollout status --trades`` reads), or None.
    """

    key: str
    config: Path
    trades: Optional[Path] = None


@dataclass(frozen=True)
class DashboardSettings:
    """Everything the app needs, except the token.

    Attributes:
        rollouts: the rollouts, in the order given.
        name: who acts from this dashboard; verbs are recorded as ``dashboard:NAME``.
        refresh_seconds: how often the page re-reads the state files (0: never).
        token_file: the file holding the action token, or None (then only
            :data:`TOKEN_ENV` can enable actions).
        address: the address the server binds (checked again by the app).
    """

    rollouts: Tuple[RolloutEntry, ...]
    name: str
    refresh_seconds: float = 5.0
    token_file: Optional[Path] = None
    address: str = "127.0.0.1"

    @property
    def actor(self) -> str:
        """The actor recorded in the history for this dashboard's verbs."""
        return f"dashboard:{self.name}"

    def entry(self, key: str) -> Optional[RolloutEntry]:
        """The rollout called ``key``, or None."""
        for entry in self.rollouts:
            if entry.key == key:
                return entry
        return None

    def to_json(self) -> str:
        """The settings as the JSON the app reads from :data:`SETTINGS_ENV`."""
        return json.dumps(
            {
                "rollouts": [
                    {
                        "key": e.key,
                        "config": str(e.config),
                        "trades": None if e.trades is None else str(e.trades),
                    }
                    for e in self.rollouts
                ],
                "name": self.name,
                "refresh_seconds": self.refresh_seconds,
                "token_file": None if self.token_file is None else str(self.token_file),
                "address": self.address,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> DashboardSettings:
        """Parse :meth:`to_json`'s output. Raises ConfigError naming the bad field."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"${SETTINGS_ENV}: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"${SETTINGS_ENV}: expected an object, got {text[:40]!r}")
        rollouts = data.get("rollouts")
        if not isinstance(rollouts, list) or not rollouts:
            raise ConfigError(f"${SETTINGS_ENV}: rollouts must be a non-empty list")
        entries: List[RolloutEntry] = []
        for i, item in enumerate(rollouts):
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("key"), str)
                or not isinstance(item.get("config"), str)
                or not isinstance(item.get("trades"), (str, type(None)))
            ):
                raise ConfigError(
                    f"${SETTINGS_ENV}: rollouts[{i}] must have key, config and trades, "
                    f"got {str(item)[:60]!r}"
                )
            trades = item["trades"]
            entries.append(
                RolloutEntry(
                    item["key"], Path(item["config"]), None if trades is None else Path(trades)
                )
            )
        name = data.get("name")
        refresh = data.get("refresh_seconds", 5.0)
        token_file = data.get("token_file")
        address = data.get("address", "127.0.0.1")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"${SETTINGS_ENV}: name must be text, got {name!r}")
        if isinstance(refresh, bool) or not isinstance(refresh, (int, float)) or refresh < 0:
            raise ConfigError(f"${SETTINGS_ENV}: refresh_seconds must be >= 0, got {refresh!r}")
        if not isinstance(token_file, (str, type(None))):
            raise ConfigError(f"${SETTINGS_ENV}: token_file must be text, got {token_file!r}")
        if not isinstance(address, str):
            raise ConfigError(f"${SETTINGS_ENV}: address must be text, got {address!r}")
        return cls(
            tuple(entries),
            name,
            float(refresh),
            None if token_file is None else Path(token_file),
            address,
        )

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> DashboardSettings:
        """The settings the launcher put in :data:`SETTINGS_ENV`.

        Raises ConfigError when it is missing (the app was started without the
        launcher) or malformed.
        """
        env = os.environ if environ is None else environ
        text = env.get(SETTINGS_ENV)
        if not text:
            raise ConfigError(
                f"${SETTINGS_ENV} is not set: start the dashboard with "
                "`quant-rollout dashboard --config FILE`"
            )
        return cls.from_json(text)


def default_name() -> str:
    """``$USER@hostname``, as the command line records its verbs."""
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or os.environ.get("USERNAME")
    if not user:
        try:
            import getpass

            user = getpass.getuser()
        except Exception:  # no name for this uid (a bare container)
            user = "unknown"
    return f"{user}@{socket.gethostname()}"


def configured_token(
    token_file: Optional[Path], environ: Optional[Mapping[str, str]] = None
) -> Optional[str]:
    """The action token, or None when none is configured (the dashboard is read-only).

    Read from ``token_file`` when given (its first line, surrounding blanks removed),
    else from :data:`TOKEN_ENV`. Read afresh on every call, so replacing the file
    changes the token without a restart.

    Raises:
        TokenError: the file cannot be read, or the token is empty or shorter than
            :data:`MIN_TOKEN_LENGTH` characters (a configured but weak token must not
            silently turn into "no actions" nor into an easy guess).
    """
    env = os.environ if environ is None else environ
    if token_file is not None:
        where = f"--token-file {token_file}"
        try:
            text = token_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenError(f"{where}: cannot read the action token ({exc})") from None
        token = text.strip().splitlines()[0].strip() if text.strip() else ""
    else:
        where = f"${TOKEN_ENV}"
        raw = env.get(TOKEN_ENV)
        if raw is None:
            return None
        token = raw.strip()
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenError(
            f"{where}: the action token must be at least {MIN_TOKEN_LENGTH} characters, "
            f"got {len(token)}; make one with `python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(24))'`"
        )
    return token


def token_matches(given: Optional[str], expected: Optional[str]) -> bool:
    """True when a token is configured and ``given`` is it (constant-time comparison)."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), expected.encode("utf-8"))


def is_loopback(address: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost).

    An empty address or ``0.0.0.0`` binds every interface, so it is not loopback.
    """
    host = address.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
