"""Trades and timestamp parsing: every stamp becomes one exact UTC instant."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_rollout.errors import InvalidTradeError, RolloutError
from quant_rollout.trades import (
    TradeOutcome,
    as_trade,
    format_instant,
    parse_instant,
    to_datetime,
)

NOON_UTC = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
NOON_US = 1_777_636_800_000_000  # 2026-05-01T12:00:00Z in microseconds since the epoch


def test_reference_instant_is_what_the_tests_assume() -> None:
    assert int(NOON_UTC.timestamp()) * 1_000_000 == NOON_US


# ----------------------------------------------------------------------------- ISO text


@pytest.mark.parametrize(
    "text",
    [
        "2026-05-01T12:00:00Z",
        "2026-05-01T12:00:00z",
        "2026-05-01T12:00:00+00:00",
        "2026-05-01T14:00:00+02:00",
        "2026-05-01T06:30:00-05:30",
        "2026-05-01T17:30:00+0530",
        "2026-05-01T14:00:00+02",
        "2026-05-01T12:00:00",  # naive text means UTC
        "2026-05-01 12:00:00",  # space separator
        "2026-05-01 12:00:00+00:00",
        "2026-05-01T12:00Z",  # no seconds
        "  2026-05-01T12:00:00Z  ",  # surrounding whitespace
        "2026-05-01T12:00:00.000Z",
    ],
)
def test_iso_text_in_any_offset_is_the_same_utc_instant(text: str) -> None:
    assert parse_instant(text) == NOON_US


def test_date_only_text_is_midnight_utc() -> None:
    assert parse_instant("2026-05-01") == NOON_US - 12 * 3600 * 1_000_000


@pytest.mark.parametrize(
    ("fraction", "micros"),
    [
        ("1", 100_000),
        ("12", 120_000),
        ("123", 123_000),
        ("1234", 123_400),
        ("12345", 123_450),
        ("123456", 123_456),
        ("1234567", 123_456),  # beyond microseconds is truncated, not rounded
        ("12345678", 123_456),
        ("123456789", 123_456),
    ],
)
def test_fractional_seconds_of_one_to_nine_digits(fraction: str, micros: int) -> None:
    assert parse_instant(f"2026-05-01T12:00:00.{fraction}Z") == NOON_US + micros
    assert parse_instant(f"2026-05-01T14:00:00.{fraction}+02:00") == NOON_US + micros


def test_comma_is_accepted_as_the_decimal_sign() -> None:
    assert parse_instant("2026-05-01T12:00:00,5Z") == NOON_US + 500_000


def test_offset_with_seconds_as_isoformat_writes_it() -> None:
    # Amsterdam's local mean time before 1937 was +00:19:32; isoformat() writes it so.
    tz = timezone(timedelta(minutes=19, seconds=32))
    stamp = datetime(1900, 1, 1, tzinfo=tz)
    assert stamp.isoformat() == "1900-01-01T00:00:00+00:19:32"
    assert parse_instant(stamp.isoformat()) == parse_instant(stamp)


# ----------------------------------------------------------------------------- other kinds


def test_aware_datetime_in_any_zone_is_its_instant() -> None:
    plus_two = NOON_UTC.astimezone(timezone(timedelta(hours=2)))
    minus_five_thirty = NOON_UTC.astimezone(timezone(-timedelta(hours=5, minutes=30)))
    assert parse_instant(NOON_UTC) == NOON_US
    assert parse_instant(plus_two) == NOON_US
    assert parse_instant(minus_five_thirty) == NOON_US


def test_naive_datetime_means_utc() -> None:
    assert parse_instant(datetime(2026, 5, 1, 12, 0)) == NOON_US


def test_unix_seconds_int_and_float() -> None:
    assert parse_instant(1_777_636_800) == NOON_US
    assert parse_instant(1_777_636_800.25) == NOON_US + 250_000
    assert parse_instant(0) == 0
    assert parse_instant(-1.5) == -1_500_000


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "",
        "2026-13-01T00:00:00Z",  # month 13
        "2026-02-30T00:00:00Z",  # no such day
        "2026-05-01T25:00:00Z",
        "2026-05-01T12:00:00+24:00",
        "2026-05-01T12:00:00+05:60",
        "2026/05/01 12:00:00",
        "1777636800",  # Unix seconds as text are not ISO-8601
        float("nan"),
        float("inf"),
        -float("inf"),
        True,
        None,
        [2026, 5, 1],
    ],
)
def test_unreadable_timestamps_raise_value_error_naming_the_value(value: object) -> None:
    with pytest.raises(ValueError, match=r"timestamp|bool|ISO|offset|day|month|hour|range"):
        parse_instant(value)


def test_bool_is_refused_although_it_is_an_int() -> None:
    with pytest.raises(ValueError, match="bool"):
        parse_instant(True)


# ----------------------------------------------------------------------------- ordering


def test_stamps_of_the_same_moment_in_different_offsets_are_equal_trades_times() -> None:
    z = TradeOutcome(1.0, 1.0, "2026-05-01T12:00:00Z")
    plus_two = TradeOutcome(1.0, 1.0, "2026-05-01T14:00:00+02:00")
    assert z.instant_us == plus_two.instant_us
    assert z.time == plus_two.time == NOON_UTC


def test_instants_order_by_time_where_0_1_string_order_was_wrong() -> None:
    # 13:00 at +02:00 is 11:00 UTC: an hour *before* 12:00Z, though its text sorts after.
    earlier = "2026-05-01T13:00:00+02:00"
    later = "2026-05-01T12:00:00Z"
    assert earlier > later  # what 0.1 compared
    assert parse_instant(earlier) < parse_instant(later)
    trades = [TradeOutcome(1.0, 1.0, later), TradeOutcome(2.0, 1.0, earlier)]
    assert [t.pnl for t in sorted(trades, key=lambda t: t.instant_us)] == [2.0, 1.0]


def test_naive_text_and_z_text_order_together() -> None:
    assert parse_instant("2026-05-01T12:00:01") > parse_instant("2026-05-01T12:00:00Z")


# ----------------------------------------------------------------------------- round trips


def test_format_instant_writes_utc_and_drops_zero_microseconds() -> None:
    assert format_instant(NOON_US) == "2026-05-01T12:00:00+00:00"
    assert format_instant(NOON_US + 5) == "2026-05-01T12:00:00.000005+00:00"
    assert to_datetime(NOON_US) == NOON_UTC
    assert to_datetime(NOON_US).tzinfo == timezone.utc


# Instants whose datetime stays within years 1..9999.
_INSTANTS = st.integers(
    min_value=parse_instant(datetime(1, 1, 1)), max_value=parse_instant(datetime(9999, 12, 31))
)


@given(_INSTANTS)
def test_format_then_parse_is_the_identity(instant: int) -> None:
    assert parse_instant(format_instant(instant)) == instant


@given(_INSTANTS)
def test_to_datetime_then_parse_is_the_identity(instant: int) -> None:
    assert parse_instant(to_datetime(instant)) == instant


@settings(deadline=None)  # the first load of a zoneinfo zone can be slow
@given(st.datetimes(timezones=st.none() | st.timezones()))
def test_parsing_isoformat_gives_the_datetimes_own_instant(dt: datetime) -> None:
    aware = dt if dt.tzinfo is not None and dt.utcoffset() is not None else None
    expected = parse_instant(dt)
    if aware is not None:
        delta = aware - datetime(1970, 1, 1, tzinfo=timezone.utc)
        assert expected == (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    assert parse_instant(dt.isoformat()) == expected
    assert parse_instant(dt.isoformat(sep=" ")) == expected


@settings(deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.timezones()
    )
)
def test_utc_offset_text_compares_like_the_instants(dt: datetime) -> None:
    a = parse_instant(dt.isoformat())
    b = parse_instant(dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"))
    assert a == b


# ----------------------------------------------------------------------------- TradeOutcome


def test_trade_accepts_ints_and_keeps_the_timestamp_as_given() -> None:
    t = TradeOutcome(pnl=2, size=5, timestamp="2026-05-01T14:00:00+02:00", metadata={"m": "x"})
    assert t.timestamp == "2026-05-01T14:00:00+02:00"
    assert t.instant_us == NOON_US
    assert t.metadata == {"m": "x"}


def test_win_means_strictly_positive_pnl() -> None:
    assert TradeOutcome(0.01, 1.0, 0).is_win
    assert not TradeOutcome(0.0, 1.0, 0).is_win
    assert not TradeOutcome(-0.01, 1.0, 0).is_win


def test_zero_size_is_allowed() -> None:
    assert TradeOutcome(0.0, 0.0, 0).size == 0.0


@pytest.mark.parametrize(
    ("kwargs", "field", "shown"),
    [
        ({"pnl": float("nan")}, "pnl", "nan"),
        ({"pnl": float("inf")}, "pnl", "inf"),
        ({"pnl": -float("inf")}, "pnl", "-inf"),
        ({"size": float("nan")}, "size", "nan"),
        ({"size": float("inf")}, "size", "inf"),
        ({"size": -1.0}, "size", "-1.0"),
        ({"pnl": True}, "pnl", "True"),
        ({"size": False}, "size", "False"),
        ({"pnl": "1.0"}, "pnl", "'1.0'"),
        ({"size": None}, "size", "None"),
        ({"timestamp": "not a time"}, "timestamp", "'not a time'"),
        ({"timestamp": float("nan")}, "timestamp", "nan"),
        ({"timestamp": True}, "timestamp", "True"),
    ],
)
def test_invalid_trade_names_the_field_and_the_value(
    kwargs: dict[str, object], field: str, shown: str
) -> None:
    args: dict[str, object] = {"pnl": 1.0, "size": 1.0, "timestamp": "2026-05-01T12:00:00Z"}
    args.update(kwargs)
    with pytest.raises(InvalidTradeError) as info:
        TradeOutcome(**args)  # type: ignore[arg-type]
    message = str(info.value)
    assert field in message
    assert shown in message
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, RolloutError)


# ----------------------------------------------------------------------------- as_trade


def test_as_trade_returns_a_trade_outcome_unchanged() -> None:
    t = TradeOutcome(1.0, 2.0, NOON_US / 1e6)
    assert as_trade(t, 0) is t


def test_as_trade_reads_mappings_and_objects() -> None:
    from_dict = as_trade({"pnl": 1.5, "size": 3, "timestamp": "2026-05-01T12:00:00Z", "x": 1}, 0)
    from_obj = as_trade(SimpleNamespace(pnl=1.5, size=3, timestamp=NOON_UTC, market="m"), 1)
    assert from_dict == TradeOutcome(1.5, 3, "2026-05-01T12:00:00Z")
    assert from_obj == TradeOutcome(1.5, 3, NOON_UTC)
    assert from_dict.instant_us == from_obj.instant_us == NOON_US


def test_as_trade_names_the_index_of_a_missing_field() -> None:
    with pytest.raises(InvalidTradeError, match=r"trades\[3\] has no 'size'"):
        as_trade({"pnl": 1.0, "timestamp": 0}, 3)
    with pytest.raises(InvalidTradeError, match=r"trades\[7\] has no 'timestamp'"):
        as_trade(SimpleNamespace(pnl=1.0, size=1.0), 7)


def test_as_trade_names_the_index_field_and_value_of_a_bad_value() -> None:
    with pytest.raises(InvalidTradeError, match=r"trades\[2\]: pnl must be finite, got nan"):
        as_trade({"pnl": math.nan, "size": 1.0, "timestamp": 0}, 2)
    with pytest.raises(InvalidTradeError, match=r"trades\[5\]: size must be >= 0, got -2"):
        as_trade(SimpleNamespace(pnl=1.0, size=-2, timestamp=0), 5)
    with pytest.raises(InvalidTradeError, match=r"trades\[0\]: timestamp.*'soon'"):
        as_trade({"pnl": 1.0, "size": 1.0, "timestamp": "soon"}, 0)


def test_a_millisecond_timestamp_given_as_seconds_is_refused_with_a_hint() -> None:
    with pytest.raises(InvalidTradeError, match=r"outside the years 1-9999 \(milliseconds"):
        TradeOutcome(1.0, 1.0, 1_714_521_600_000)
    # The last representable microsecond is still a time.
    assert TradeOutcome(1.0, 1.0, "9999-12-31T23:59:59.999999Z").time.year == 9999


def test_as_trade_keeps_an_experiment_arm_in_metadata() -> None:
    from_dict = as_trade({"pnl": 1.0, "size": 2, "timestamp": 0, "arm": "cheap"}, 0)
    from_obj = as_trade(SimpleNamespace(pnl=1.0, size=2, timestamp=0, arm="control"), 1)
    without = as_trade(SimpleNamespace(pnl=1.0, size=2, timestamp=0, arm=None), 2)
    assert from_dict.metadata == {"arm": "cheap"}
    assert from_obj.metadata == {"arm": "control"}
    assert without.metadata == {}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("pnl", 10**400, "too large"),  # an int beyond a float's range
        ("pnl", 1e308, "too large"),  # finite alone, but two of them sum to inf
        ("size", 1e300, "too large"),
        ("pnl", -1e51, "too large"),
        ("size", 1e-300, "too small"),  # pnl per dollar would overflow
    ],
)
def test_amounts_whose_sums_or_ratios_would_overflow_are_refused(
    field: str, value: float, expected: str
) -> None:
    fields: dict = {"pnl": 1.0, "size": 1.0, "timestamp": 0, field: value}
    with pytest.raises(InvalidTradeError, match=expected) as info:
        TradeOutcome(**fields)
    message = str(info.value)
    assert message.startswith(field)
    assert len(message) < 200  # a 401-digit value is quoted as an excerpt


def test_the_largest_and_smallest_accepted_amounts_compute_finite_metrics() -> None:
    from quant_rollout.metrics import compute_metrics

    trades = [
        TradeOutcome(1e50, 1e-50, 0),
        TradeOutcome(-1e50, 1e50, 1),
        TradeOutcome(1e50, 1e50, 2),
    ]
    metrics = compute_metrics(trades * 1000)
    assert math.isfinite(metrics.total_pnl)
    assert math.isfinite(metrics.ev_per_dollar)


def test_a_bad_mapping_is_quoted_as_a_short_excerpt() -> None:
    item = {"pnl": 1.0, "size": 1.0, "api_key": "k" * 500}
    with pytest.raises(InvalidTradeError, match=r"trades\[3\] has no 'timestamp'") as info:
        as_trade(item, 3)
    assert len(str(info.value)) < 200
