"""Checks of user-supplied numbers, shared by every module that takes them.

Each check raises (by default) :class:`~quant_rollout.errors.ConfigError` with a message
naming the argument or field (``label``) and quoting the value; the returning forms
(:func:`number`, :func:`whole`, ...) hand back the value converted, the ``check_*`` forms
name a field as ``Owner.field``.
"""

from __future__ import annotations

import math
from typing import Optional, Type

from .errors import ConfigError, excerpt

__all__: list[str] = []


def number(label: str, value: object, *, error: Type[ValueError] = ConfigError) -> float:
    """A finite int or float (bool refused), as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{label} must be a number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise error(f"{label} must be finite, got {value!r}")
    return result


def positive(label: str, value: object) -> float:
    """A finite number > 0."""
    result = number(label, value)
    if result <= 0.0:
        raise ConfigError(f"{label} must be > 0, got {value!r}")
    return result


def non_negative(label: str, value: object) -> float:
    """A finite number >= 0."""
    result = number(label, value)
    if result < 0.0:
        raise ConfigError(f"{label} must be >= 0, got {value!r}")
    return result


def whole(label: str, value: object, minimum: int = 0) -> int:
    """An int (bool refused) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{label} must be a whole number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{label} must be >= {minimum}, got {value!r}")
    return value


def fraction(label: str, value: object) -> float:
    """A number in [0, 1]: a fraction, not a percentage."""
    result = number(label, value)
    if not 0.0 <= result <= 1.0:
        raise ConfigError(
            f"{label} must be a fraction between 0 and 1 (0.6 means 60%), got {value!r}"
        )
    return result


def open_fraction(label: str, value: object) -> float:
    """A number strictly between 0 and 1, such as a confidence level."""
    result = number(label, value)
    if not 0.0 < result < 1.0:
        raise ConfigError(
            f"{label} must be strictly between 0 and 1 (0.95 means 95%), got {value!r}"
        )
    return result


def check_number(owner: str, name: str, value: object, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    number(f"{owner}.{name}", value)


def check_fraction(owner: str, name: str, value: object) -> None:
    fraction(f"{owner}.{name}", value)


def check_int(
    owner: str,
    name: str,
    value: object,
    *,
    minimum: int,
    maximum: Optional[int] = None,
    why: str = "",
) -> None:
    """A whole number in [minimum, maximum]; ``why`` says what a larger one would do."""
    whole(f"{owner}.{name}", value, minimum)
    at_most(f"{owner}.{name}", value, maximum, why)


def check_non_negative(
    owner: str, name: str, value: object, *, maximum: Optional[float] = None, why: str = ""
) -> None:
    """A finite number >= 0 (and at most ``maximum``)."""
    non_negative(f"{owner}.{name}", value)
    at_most(f"{owner}.{name}", value, maximum, why)


def at_most(label: str, value: object, maximum: Optional[float], why: str = "") -> None:
    """Refuse a number above ``maximum`` (None: no bound), saying ``why`` and quoting
    only an excerpt of the value."""
    if maximum is None or not isinstance(value, (int, float)) or value <= maximum:
        return
    limit = f"{maximum:,}" if isinstance(maximum, int) else f"{maximum:g}"
    raise ConfigError(
        f"{label} must be at most {limit}, got {excerpt(value)}" + (f": {why}" if why else "")
    )
