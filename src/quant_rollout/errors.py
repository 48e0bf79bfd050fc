"""The one exception hierarchy of quant-rollout.

Every error the library raises on purpose is a :class:`RolloutError`. Errors about
bad input (configuration, trades, state files) also subclass :class:`ValueError`,
so callers that already catch ``ValueError`` keep working. Messages quote the
offending value with ``!r`` and say what to do.
"""

from __future__ import annotations

__all__ = [
    "AlertError",
    "CalendarError",
    "ClockError",
    "ConfigError",
    "ConfigFileError",
    "CorruptStateError",
    "HistoryError",
    "InvalidTradeError",
    "LockTimeoutError",
    "OperatorRefusedError",
    "RolloutError",
    "RouteKeyError",
    "StateError",
    "StateWriteError",
    "TradeFileError",
    "UnknownSchemaError",
    "excerpt",
]

EXCERPT_CHARS = 60
"""At most this many characters of a user's value are quoted in a message."""


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters, for quoting user data in messages.

    An error must name the offending value, but never dump a whole file, a
    401-digit number or a secret that happened to sit next to it.

    >>> excerpt("x" * 100, 12)
    "'xxxxxxxx...(102 chars)"
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: max(limit - 4, 1)]}...({len(text)} chars)"


class RolloutError(Exception):
    """Base class of every error quant-rollout raises on purpose."""


class ConfigError(RolloutError, ValueError):
    """A stage, gate, kill switch or rollout setting is invalid.

    Raised when the object is built, never at tick time, so a bad configuration
    fails when the bot starts rather than at 3 a.m.
    """


class ConfigFileError(ConfigError):
    """A rollout configuration file (TOML or JSON) cannot be used.

    The message names the file, the key path (``stages[1].gate.min_win_rate``) and
    the bad value, and the line when the parser reports one. The same facts are kept
    as attributes for programs.

    Attributes:
        file: the configuration file, as given.
        key: the key path of the problem, or None for the file as a whole.
        line: the 1-based line number, when the parser gave one.
        errors: every problem found in the file, this one first (a file is checked
            whole, so a fix-and-retry loop is not needed for each mistake).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str = "",
        key: str | None = None,
        line: int | None = None,
        errors: tuple[ConfigFileError, ...] = (),
    ) -> None:
        super().__init__(message)
        self.file = file
        self.key = key
        self.line = line
        self.errors: tuple[ConfigFileError, ...] = errors or (self,)


class CalendarError(ConfigError):
    """A window, blackout, time zone or duration (``calendar``) cannot be used.

    The message names the key (``windows[1]``), quotes the text and says what was
    expected, e.g. an unknown time zone, ``25:00``, an inverted date range, a time
    without a zone where one is needed, or a schedule that can never be open.

    Attributes:
        key: where the text came from (``windows[0]``, ``blackouts[2]``, ...).
        value: the offending text, as given.
    """

    def __init__(self, message: str, *, key: str = "", value: object = None) -> None:
        super().__init__(message)
        self.key = key
        self.value = value


class InvalidTradeError(RolloutError, ValueError):
    """A trade cannot be used as evidence (NaN pnl, negative size, bad timestamp, ...)."""


class TradeFileError(RolloutError, ValueError):
    """A trade-history file (CSV, JSON lines, freqtrade) cannot be read.

    The message names the file, the row or line number, the column and the value.
    """


class StateError(RolloutError):
    """The persisted rollout state cannot be used. The file is left untouched."""


class StateWriteError(StateError, OSError):
    """The state, its history or its lock cannot be written (permission denied, disk
    full, a read-only file system).

    The message names the file and what to fix, and says whether the history already
    holds the event: if it does, the next tick that can write rolls the state forward
    and tells the bot. Also an :class:`OSError`, which such failures were before 0.3.

    Attributes:
        path: the file that could not be written.
        recorded: True when the history already holds the event.
    """

    def __init__(self, message: str, *, path: str = "", recorded: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.recorded = recorded

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CorruptStateError(StateError, ValueError):
    """The state file is unreadable, truncated, or holds values of the wrong kind."""


class UnknownSchemaError(CorruptStateError):
    """The state file was written by a newer quant-rollout (unknown ``schema_version``)."""


class HistoryError(StateError, ValueError):
    """The history log is malformed or its hash chain is broken."""


class ClockError(RolloutError, ValueError):
    """The injected clock went backwards past the last recorded transition."""


class LockTimeoutError(StateError):
    """Another process held the state lock for longer than the allowed wait."""


class OperatorRefusedError(RolloutError):
    """An operator verb cannot be carried out in the rollout's current state.

    For example ``promote`` while the kill switch is latched. Nothing was changed.
    """


class AlertError(RolloutError):
    """An alert cannot be sent: the notification setup is wrong or Apprise is missing.

    The message names the setting (an environment variable, a file, the n-th URL) but
    never quotes a URL: notification URLs hold tokens and passwords.
    """


class RouteKeyError(RolloutError, TypeError):
    """A routing key is not text, bytes or a whole number, so it cannot be hashed stably."""
