"""Trades as the rollout sees them, and the parsing of their timestamps.

A trade's timestamp is turned into one exact instant: integer microseconds since
the Unix epoch, UTC. Instants compare as numbers, so ``+02:00`` and ``Z`` stamps
order correctly (quant-rollout 0.1 compared the strings).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Union

from .errors import InvalidTradeError, excerpt

__all__ = [
    "MAX_AMOUNT",
    "MIN_NONZERO_SIZE",
    "TimestampLike",
    "TradeOutcome",
    "as_trade",
    "format_instant",
    "has_utc_offset",
    "parse_instant",
    "to_datetime",
]

TimestampLike = Union[str, datetime, int, float]
"""What a timestamp may be given as: ISO-8601 text, a ``datetime`` or Unix seconds."""

MAX_AMOUNT = 1e50
"""The largest ``|pnl|`` or ``size`` accepted, in any unit of account.

No account holds 1e50 of anything (1e50 wei is 1e32 ether), and sums and ratios
of larger values would overflow a float, jamming every tick."""

MIN_NONZERO_SIZE = 1e-50
"""The smallest non-zero ``size`` accepted: a smaller one makes pnl per dollar overflow."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US_PER_S = 1_000_000
_MIN_US = -62_135_596_800 * _US_PER_S  # 0001-01-01T00:00:00Z
_MAX_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z

# ISO 8601 as bots write it: date, 'T' or a space, time with optional fraction of any
# length, then 'Z', '+hh:mm', '+hhmm', '+hh', '+hh:mm:ss[.ffffff]' (as isoformat()
# writes sub-minute offsets) or nothing (naive = UTC). Python 3.9's
# datetime.fromisoformat accepts neither 'Z' nor fractions other than 3 or 6 digits.
_ISO = re.compile(
    r"""^\s*
    (?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})
    (?:[Tt ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?
       \s*(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2}(?::?\d{2}(?:\.\d{1,6})?)?)?)?)?
    \s*$""",
    re.VERBOSE,
)


@functools.lru_cache(maxsize=1024)  # state times are re-read on every tick
def _parse_iso(text: str) -> int:
    m = _ISO.match(text)
    if m is None:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    frac = m.group("f") or ""
    micro = int((frac + "000000")[:6]) if frac else 0
    dt = datetime(
        int(m.group("y")),
        int(m.group("mo")),
        int(m.group("d")),
        int(m.group("h") or 0),
        int(m.group("mi") or 0),
        int(m.group("s") or 0),
        micro,
        tzinfo=timezone.utc,
    )
    offset_us = 0
    tz = m.group("tz")
    if tz and tz not in ("Z", "z"):
        sign = -1 if tz[0] == "-" else 1
        # datetime.isoformat() writes seconds (and microseconds) of an offset when it
        # has them, e.g. '+00:19:32' for Amsterdam's local mean time before 1937.
        digits, _, off_frac = tz[1:].replace(":", "").partition(".")
        hours, minutes, seconds = int(digits[:2]), int(digits[2:4] or 0), int(digits[4:6] or 0)
        if hours > 23 or minutes > 59 or seconds > 59:
            raise ValueError(f"bad UTC offset {tz!r} in {text!r}")
        offset_s = hours * 3600 + minutes * 60 + seconds
        offset_us = sign * (offset_s * _US_PER_S + int((off_frac + "000000")[:6]))
    return _datetime_to_us(dt) - offset_us


def has_utc_offset(text: str) -> bool:
    """True when ISO-8601 ``text`` states its UTC offset (``Z``, ``+02:00``, ...)."""
    m = _ISO.match(text)
    return m is not None and m.group("tz") is not None


def _datetime_to_us(dt: datetime) -> int:
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US_PER_S + delta.microseconds


def parse_instant(value: object) -> int:
    """Return ``value`` as integer microseconds since the epoch (UTC).

    Accepts ISO-8601 text with any UTC offset or ``Z`` (no offset means UTC), an aware
    or naive ``datetime`` (naive means UTC), or Unix seconds as ``int``/``float``.
    Raises :class:`ValueError` naming the value when it is none of those.
    """
    if isinstance(value, bool):
        raise ValueError(f"a timestamp cannot be a bool: {value!r}")
    if isinstance(value, datetime):
        return _datetime_to_us(value)
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"timestamp is not finite: {value!r}")
        if isinstance(value, int):
            return value * _US_PER_S
        return round(value * _US_PER_S)
    if isinstance(value, str):
        return _parse_iso(value)
    raise ValueError(f"timestamp must be ISO-8601 text, a datetime or Unix seconds, got {value!r}")


def to_datetime(instant_us: int) -> datetime:
    """Return the aware UTC ``datetime`` of an instant in microseconds."""
    return _EPOCH + timedelta(microseconds=instant_us)


def format_instant(instant_us: int) -> str:
    """Return an instant as ISO-8601 text in UTC, e.g. ``2026-05-01T12:00:00+00:00``.

    Microseconds are written only when non-zero, so whole seconds read cleanly.
    """
    dt = to_datetime(instant_us)
    spec = "microseconds" if dt.microsecond else "seconds"
    return dt.isoformat(timespec=spec)


@dataclass(frozen=True)
class TradeOutcome:
    """One closed trade: the only shape the rollout needs.

    Attributes:
        pnl: realized profit or loss, in account currency (dollars, USDC, BTC, ...).
            A trade is a win when ``pnl > 0``; exactly 0 is not a win. At most
            :data:`MAX_AMOUNT` (1e50) in magnitude.
        size: capital put at risk by the trade, same currency as ``pnl``, ``>= 0``:
            0, or between :data:`MIN_NONZERO_SIZE` (1e-50) and :data:`MAX_AMOUNT`.
        timestamp: when the trade was *opened*, so it is credited to the parameters it
            was opened under. ISO-8601 text with any offset or ``Z`` (naive = UTC), a
            ``datetime`` (naive = UTC) or Unix seconds. Kept as given.
        metadata: anything else (market, token id, ...); ignored by the rollout.

    Raises:
        InvalidTradeError: ``pnl`` or ``size`` not a finite number or out of the range
            above, ``size < 0``, or a timestamp that cannot be read. The message names
            the field and (a short excerpt of) the value.
    """

    pnl: float
    size: float
    timestamp: TimestampLike
    metadata: Mapping[str, Any] = field(default_factory=dict)
    instant_us: int = field(init=False, repr=False, compare=False)
    """The timestamp as integer microseconds since the epoch, UTC (derived)."""

    def __post_init__(self) -> None:
        for name in ("pnl", "size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidTradeError(f"{name} must be a number, got {excerpt(value)}")
            try:
                magnitude = abs(float(value))
            except OverflowError:  # an int beyond a float's range
                magnitude = math.inf
            if math.isnan(magnitude) or (magnitude == math.inf and isinstance(value, float)):
                raise InvalidTradeError(f"{name} must be finite, got {value!r}")
            if magnitude > MAX_AMOUNT:
                raise InvalidTradeError(
                    f"{name} {excerpt(value, 24)} is too large: amounts up to {MAX_AMOUNT:g} "
                    "in magnitude are accepted (is a unit or a decimal point off?)"
                )
        if self.size < 0:
            raise InvalidTradeError(f"size must be >= 0, got {self.size!r}")
        if 0 < self.size < MIN_NONZERO_SIZE:
            raise InvalidTradeError(
                f"size {self.size!r} is too small: a non-zero size must be at least "
                f"{MIN_NONZERO_SIZE:g} (use 0 for a trade that risked nothing)"
            )
        try:
            instant = parse_instant(self.timestamp)
        except (ValueError, OverflowError) as exc:
            raise InvalidTradeError(f"timestamp cannot be read: {exc}") from None
        if not _MIN_US <= instant <= _MAX_US:
            hint = " (milliseconds given as seconds?)" if instant > _MAX_US else ""
            raise InvalidTradeError(
                f"timestamp {self.timestamp!r} is outside the years 1-9999{hint}"
            )
        object.__setattr__(self, "instant_us", instant)

    @property
    def time(self) -> datetime:
        """The timestamp as an aware UTC ``datetime``."""
        return to_datetime(self.instant_us)

    @property
    def is_win(self) -> bool:
        """True when the trade made money (``pnl > 0``)."""
        return self.pnl > 0


def as_trade(item: object, index: int) -> TradeOutcome:
    """Return ``item`` as a :class:`TradeOutcome`; ``index`` is its place in the caller's list.

    Besides ``TradeOutcome`` itself, a mapping or any object with ``pnl``, ``size`` and
    ``timestamp`` is accepted, so a bot can pass its own trade records. Its ``arm`` (an
    experiment's arm), when present and not None, is kept as ``metadata["arm"]``.

    Raises:
        InvalidTradeError: naming ``trades[index]``, the field and the value.
    """
    if isinstance(item, TradeOutcome):
        return item
    fields: dict[str, Any] = {}
    for key in ("pnl", "size", "timestamp"):
        # Name the missing field ourselves: AttributeError.args[0] is a whole sentence.
        try:
            fields[key] = item[key] if isinstance(item, Mapping) else getattr(item, key)
        except (KeyError, AttributeError):
            raise InvalidTradeError(
                f"trades[{index}] has no {key!r}: a trade needs pnl, size and timestamp "
                f"(got {excerpt(item)})"
            ) from None
    # An experiment's arm travels with the trade (metadata["arm"], as importers put it).
    arm = item.get("arm") if isinstance(item, Mapping) else getattr(item, "arm", None)
    if arm is not None:
        fields["metadata"] = {"arm": arm}
    try:
        return TradeOutcome(**fields)
    except InvalidTradeError as exc:
        raise InvalidTradeError(f"trades[{index}]: {exc}") from None
