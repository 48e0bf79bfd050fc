"""The one clock: injectable, driven by hand in tests, refusing garbage."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_rollout.clock import ManualClock, read_clock
from quant_rollout.errors import ConfigError

NOON = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
NOON_US = 1_777_636_800_000_000


def test_manual_clock_starts_where_told_in_any_form() -> None:
    for start in (
        "2026-05-01T12:00:00Z",
        "2026-05-01T14:00:00+02:00",
        NOON,
        datetime(2026, 5, 1, 12, 0),  # naive = UTC
        1_777_636_800,
        1_777_636_800.0,
    ):
        clock = ManualClock(start)
        assert clock() == NOON
        assert clock().tzinfo is not None
        assert clock.unix == 1_777_636_800.0


def test_manual_clock_defaults_to_the_epoch() -> None:
    assert ManualClock()() == datetime(1970, 1, 1, tzinfo=timezone.utc)


def test_manual_clock_does_not_move_by_itself() -> None:
    clock = ManualClock(NOON)
    assert clock() == clock() == NOON


def test_advance_moves_forward_by_seconds_minutes_and_days() -> None:
    clock = ManualClock(NOON)
    clock.advance(30)
    assert clock() == NOON + timedelta(seconds=30)
    clock.advance(minutes=30)
    assert clock() == NOON + timedelta(minutes=30, seconds=30)
    clock.advance(days=14)
    assert clock() == NOON + timedelta(days=14, minutes=30, seconds=30)
    clock.advance(0.000_001)
    assert clock() == NOON + timedelta(days=14, minutes=30, seconds=30, microseconds=1)
    clock.advance(1, minutes=1, days=1)
    assert clock() == NOON + timedelta(days=15, minutes=31, seconds=31, microseconds=1)


def test_advance_refuses_to_go_backwards() -> None:
    clock = ManualClock(NOON)
    with pytest.raises(ValueError, match="only advances forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="only advances forward"):
        clock.advance(minutes=-0.5)
    assert clock() == NOON


def test_set_jumps_anywhere_even_backwards() -> None:
    clock = ManualClock(NOON)
    clock.set("2026-06-01T00:00:00Z")
    assert clock() == datetime(2026, 6, 1, tzinfo=timezone.utc)
    clock.set(NOON - timedelta(days=1))
    assert clock() == NOON - timedelta(days=1)
    clock.set(0)
    assert clock.unix == 0.0


def test_set_refuses_a_non_time() -> None:
    clock = ManualClock(NOON)
    with pytest.raises(ValueError, match="next week"):
        clock.set("next week")
    assert clock() == NOON


def test_repr_shows_the_time() -> None:
    assert repr(ManualClock(NOON)) == "ManualClock('2026-05-01T12:00:00+00:00')"


@given(st.lists(st.integers(0, 10**7), max_size=20))
def test_advances_add_up_exactly(steps: List[int]) -> None:
    clock = ManualClock(NOON)
    for s in steps:
        clock.advance(s)
    assert clock() == NOON + timedelta(seconds=sum(steps))


# ----------------------------------------------------------------------------- read_clock


@pytest.mark.parametrize(
    "value",
    [
        NOON,
        NOON.astimezone(timezone(timedelta(hours=-5, minutes=-30))),
        1_777_636_800,
        1_777_636_800.0,
        "2026-05-01T12:00:00Z",
        "2026-05-01T17:30:00+05:30",
    ],
)
def test_read_clock_turns_any_kind_of_now_into_microseconds(value: object) -> None:
    assert read_clock(lambda: value) == NOON_US  # type: ignore[arg-type,return-value]


def test_read_clock_of_a_manual_clock() -> None:
    clock = ManualClock(NOON)
    clock.advance(0.5)
    assert read_clock(clock) == NOON_US + 500_000


def test_read_clock_calls_the_clock_once() -> None:
    calls = []

    def clock() -> float:
        calls.append(1)
        return 1_777_636_800.0

    read_clock(clock)
    assert calls == [1]


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        "soon",
        float("nan"),
        float("inf"),
        True,
        object(),
        [1, 2],
        1_777_636_800_000.0,  # milliseconds returned as if seconds: year ~58000
        -1e12,  # before year 1
    ],
)
def test_a_clock_returning_garbage_is_a_config_error_naming_the_value(garbage: object) -> None:
    with pytest.raises(ConfigError, match="the clock returned") as info:
        read_clock(lambda: garbage)  # type: ignore[arg-type,return-value]
    assert repr(garbage) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "naive",
    [
        datetime(2026, 5, 1, 21, 0),  # what datetime.now() returns in Tokyo at noon UTC
        "2026-05-01T21:00:00",
        "2026-05-01 21:00",
    ],
)
def test_a_naive_now_is_refused_rather_than_guessed_to_be_utc(naive: object) -> None:
    # A bot passing clock=datetime.now on a machine in Tokyo would otherwise shift
    # every evidence window by nine hours.
    with pytest.raises(ConfigError, match="no UTC offset") as info:
        read_clock(lambda: naive)  # type: ignore[arg-type,return-value]
    assert "datetime.now(timezone.utc)" in str(info.value)


def test_an_aware_now_in_any_zone_and_unix_seconds_are_accepted() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert read_clock(lambda: datetime(2026, 5, 1, 21, 0, tzinfo=tokyo)) == NOON_US
    assert read_clock(lambda: "2026-05-01T21:00:00+09:00") == NOON_US
    assert read_clock(lambda: 1_777_636_800) == NOON_US
