"""Checks shared by the configuration objects; each raises ConfigError naming the field."""

from __future__ import annotations

import math

from .errors import ConfigError

__all__: list[str] = []


def check_number(owner: str, name: str, value: object, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{owner}.{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{owner}.{name} must be finite, got {value!r}")


def check_fraction(owner: str, name: str, value: object) -> None:
    check_number(owner, name, value)
    assert isinstance(value, (int, float))
    if not 0.0 <= value <= 1.0:
        raise ConfigError(
            f"{owner}.{name} must be a fraction between 0 and 1 (0.6 means 60%), got {value!r}"
        )


def check_int(owner: str, name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{owner}.{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{owner}.{name} must be >= {minimum}, got {value!r}")


def check_non_negative(owner: str, name: str, value: object) -> None:
    check_number(owner, name, value)
    assert isinstance(value, (int, float))
    if value < 0:
        raise ConfigError(f"{owner}.{name} must be >= 0, got {value!r}")
