"""Reading windows, blackouts and durations: every form, and errors that name the key
and the text."""

from __future__ import annotations

from datetime import timezone
from zoneinfo import ZoneInfo

import pytest

from quant_rollout.calendar import (
    CronRule,
    Period,
    Window,
    parse_blackout,
    parse_duration,
    parse_window,
)
from quant_rollout.errors import CalendarError, ConfigError
from quant_rollout.trades import parse_instant

NY = ZoneInfo("America/New_York")
MIN = 60_000_000


@pytest.mark.parametrize(
    ("text", "days", "ranges"),
    [
        ("mon-fri 09:00-17:00 America/New_York", {0, 1, 2, 3, 4}, ((540, 1020),)),
        ("weekdays 09-17 America/New_York", {0, 1, 2, 3, 4}, ((540, 1020),)),
        ("Mon - Fri 09:00 – 17:00 America/New_York", {0, 1, 2, 3, 4}, ((540, 1020),)),
        ("sat,sun America/New_York", {5, 6}, ((0, 1440),)),
        ("weekend America/New_York", {5, 6}, ((0, 1440),)),
        ("09:00-17:00 America/New_York", set(range(7)), ((540, 1020),)),
        ("daily 22:00-02:00 America/New_York", set(range(7)), ((1320, 120),)),
        ("fri-mon 9:30-16 America/New_York", {4, 5, 6, 0}, ((570, 960),)),
        ("monday,wednesday 00:00-24:00 America/New_York", {0, 2}, ((0, 1440),)),
        (
            "mon-thu 09:00-12:00,13:00-17:00 America/New_York",
            {0, 1, 2, 3},
            ((540, 720), (780, 1020)),
        ),
    ],
)
def test_window_forms(text: str, days: set[int], ranges: tuple[tuple[int, int], ...]) -> None:
    window = parse_window(text)
    assert window == Window(frozenset(days), ranges, NY, text)


def test_window_describes_itself_canonically() -> None:
    assert parse_window("fri-mon 9:30-16 UTC").describe() == "Mon,Fri-Sun 09:30-16:00 UTC"
    assert parse_window("weekdays America/New_York").describe() == (
        "Mon-Fri 00:00-24:00 America/New_York"
    )
    assert parse_window("22:00-02:00 Asia/Tokyo").describe() == "daily 22:00-02:00 Asia/Tokyo"


def test_utc_needs_no_database_and_a_default_zone_fills_in() -> None:
    assert parse_window("mon UTC").zone is timezone.utc
    assert parse_window("mon utc").zone is timezone.utc
    assert parse_window("mon 09:00-10:00", zone="Europe/Paris").zone == ZoneInfo("Europe/Paris")
    assert parse_window("mon 09:00-10:00 UTC", zone="Europe/Paris").zone is timezone.utc


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mon-fri 25:00-17:00 UTC", r"windows\[2\]: '25:00' is not a time of day"),
        ("mon-fri 09:61-17:00 UTC", r"'09:61' is not a time of day \(minutes go up to 59\)"),
        ("mon-fri 24:30-17:00 UTC", r"'24:30' is not a time of day"),
        ("24:00-06:00 UTC", "24:00 is the end of a day"),
        ("09:00-09:00 UTC", "starts and ends at the same time"),
        ("mon 00:00-00:00 UTC", "write 00:00-24:00 for a whole day"),
        ("mon-fri 09:00-17:00", "no time zone"),
        ("mon-fri 09:00-17:00 America/New_Yrok", "did you mean 'America/New_York'"),
        ("mon-fri 09:00-17:00 Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("mon-fri 09:00-17:00 ../../etc/passwd", "unknown time zone"),
        ("mon-fri 09:00-17:00 zone.tab", "unknown time zone"),
        ("funday 09:00-17:00 UTC", "cannot read 'funday'"),
        ("mon-fri UTC 09:00-17:00", "cannot read 'UTC'"),
        ("09:00-17:00 mon-fri UTC", "cannot read 'mon-fri'"),
        ("UTC", "cannot read 'UTC'"),
        ("", "empty text"),
        ("   ", "empty text"),
    ],
)
def test_window_errors_name_the_key_and_the_text(text: str, message: str) -> None:
    with pytest.raises(CalendarError, match=message) as err:
        parse_window(text, key="windows[2]")
    assert err.value.key == "windows[2]"
    assert str(err.value).startswith("windows[2]")
    assert isinstance(err.value, ConfigError)
    assert isinstance(err.value, ValueError)


def test_a_window_that_is_not_text_is_refused() -> None:
    with pytest.raises(CalendarError, match=r"windows\[0\] must be text"):
        parse_window(9, key="windows[0]")


def test_long_text_is_shortened_in_messages() -> None:
    with pytest.raises(CalendarError) as err:
        parse_window("mon " + "x" * 500, key="w")
    assert len(str(err.value)) < 400


# --- blackouts ----------------------------------------------------------------------


def test_a_date_is_the_whole_local_day() -> None:
    day = parse_blackout("2026-12-25 America/New_York")
    assert isinstance(day, Period)
    assert day.intervals(0, 2**62) == [
        (parse_instant("2026-12-25T05:00Z"), parse_instant("2026-12-26T05:00Z"))
    ]


def test_date_ranges_include_both_ends() -> None:
    for text in (
        "2026-12-24..2026-12-26 UTC",
        "2026-12-24 .. 2026-12-26 UTC",
        "2026-12-24 to 2026-12-26 UTC",
    ):
        rule = parse_blackout(text)
        assert rule.intervals(0, 2**62) == [
            (parse_instant("2026-12-24T00:00Z"), parse_instant("2026-12-27T00:00Z"))
        ]


def test_a_date_containing_a_daylight_saving_change_is_23_or_25_hours() -> None:
    spring = parse_blackout("2026-03-08 America/New_York").intervals(0, 2**62)
    autumn = parse_blackout("2026-11-01 America/New_York").intervals(0, 2**62)
    assert spring[0][1] - spring[0][0] == 23 * 60 * MIN
    assert autumn[0][1] - autumn[0][0] == 25 * 60 * MIN


def test_date_time_ranges_in_a_zone_or_with_offsets() -> None:
    local = parse_blackout("2026-03-18T13:45..2026-03-18T15:00 America/New_York")
    assert local.intervals(0, 2**62) == [
        (parse_instant("2026-03-18T17:45Z"), parse_instant("2026-03-18T19:00Z"))
    ]
    aware = parse_blackout("2026-03-18T13:45-04:00..2026-03-18T19:00Z")
    assert aware.intervals(0, 2**62) == local.intervals(0, 2**62)


def test_one_off_instants_with_margins() -> None:
    fomc = parse_instant("2026-06-17T18:00Z")
    for text in (
        "2026-06-17T18:00Z margin 30m",
        "2026-06-17T18:00Z ±30m",
        "2026-06-17T18:00Z +-30m",
        "2026-06-17T14:00 America/New_York margin 30m",
        "2026-06-17 14:00 America/New_York before 30m after 30m",
        "2026-06-17T14:00 after 30m America/New_York before 30m",
        "2026-06-17T20:00+02:00 margin 30m",
    ):
        assert parse_blackout(text).intervals(0, 2**62) == [(fomc - 30 * MIN, fomc + 30 * MIN)], (
            text
        )
    only_after = parse_blackout("2026-06-17T18:00Z after 1h30m")
    assert only_after.intervals(0, 2**62) == [(fomc, fomc + 90 * MIN)]


def test_a_local_instant_in_the_skipped_hour_is_when_the_clocks_jump() -> None:
    rule = parse_blackout("2026-03-08T02:30 America/New_York after 10m")
    jump = parse_instant("2026-03-08T07:00Z")
    assert rule.intervals(0, 2**62) == [(jump, jump + 10 * MIN)]
    repeated = parse_blackout("2026-11-01T01:30 America/New_York after 10m")
    first = parse_instant("2026-11-01T05:30Z")  # 01:30 EDT, the first of the two
    assert repeated.intervals(0, 2**62) == [(first, first + 10 * MIN)]


def test_weekly_blackouts_use_the_window_form() -> None:
    rule = parse_blackout("fri 15:45-16:15 Europe/London")
    assert isinstance(rule, Window)
    assert rule.days == frozenset({4})


def test_cron_blackouts() -> None:
    rule = parse_blackout("cron 30 8 * * 1-5 for 45m America/New_York")
    assert isinstance(rule, CronRule)
    assert rule.days_of_week == frozenset({0, 1, 2, 3, 4})
    monday = parse_instant("2026-11-30T00:00Z")
    assert rule.intervals(monday, monday + 86_400_000_000) == [
        (parse_instant("2026-11-30T13:30Z"), parse_instant("2026-11-30T14:15Z"))
    ]
    steps = parse_blackout("cron */20 9-10 * jan-mar sun,7 for 5m UTC")
    assert isinstance(steps, CronRule)
    assert steps.minutes == frozenset({0, 20, 40})
    assert steps.hours == frozenset({9, 10})
    assert steps.months == frozenset({1, 2, 3})
    assert steps.days_of_week == frozenset({6})
    offset_step = parse_blackout("cron 5/30 * * * * for 1m UTC")
    assert isinstance(offset_step, CronRule)
    assert offset_step.minutes == frozenset({5, 35})


def test_cron_day_of_month_or_day_of_week_as_in_vixie_cron() -> None:
    # Both restricted: the 1st of the month OR any Monday.
    rule = parse_blackout("cron 0 12 1 * mon for 1h UTC")
    starts = [
        a
        for a, _ in rule.intervals(
            parse_instant("2026-11-28T00:00Z"), parse_instant("2026-12-09T00:00Z")
        )
    ]
    assert starts == [
        parse_instant("2026-11-30T12:00Z"),  # Monday
        parse_instant("2026-12-01T12:00Z"),  # the 1st
        parse_instant("2026-12-07T12:00Z"),  # Monday
    ]


def test_a_cron_occurrence_that_overruns_midnight_is_covered_the_next_day() -> None:
    rule = parse_blackout("cron 0 23 * * fri for 3h UTC")
    assert rule.intervals(
        parse_instant("2026-11-28T00:00Z"), parse_instant("2026-11-29T00:00Z")
    ) == [(parse_instant("2026-11-28T00:00Z"), parse_instant("2026-11-28T02:00Z"))]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2027-02-29 UTC", r"'2027-02-29' is not a date"),
        ("2026-13-01 UTC", r"'2026-13-01' is not a date"),
        ("2026-12-26..2026-12-24 UTC", r"ends \(2026-12-24\) before it starts"),
        ("2026-12-24T10:00..2026-12-24T09:00 UTC", "ends before or when it starts"),
        ("2026-12-24T10:00..2026-12-24T10:00 UTC", "ends before or when it starts"),
        ("2026-12-24..2026-12-26T10:00 UTC", "two dates or two date-times"),
        ("2026-12-24T10:00Z..2026-12-26T10:00 UTC", "a UTC offset, or neither"),
        ("2026-12-24T10:00Z..2026-12-26T10:00Z UTC", "drop 'UTC'"),
        ("2026-12-25", "no time zone"),
        ("2026-12-25 UTC margin 1h", "takes no margin"),
        ("2026-12-24..2026-12-26 UTC after 1h", "a range takes no margin"),
        ("2026-06-17T14:00 margin 30m", "no time zone"),
        ("2026-06-17T14:00Z", "covers no time: add a margin"),
        ("2026-06-17T14:00Z margin 0m", "covers no time"),
        ("2026-06-17T14:00Z America/New_York margin 5m", "carries its own UTC offset"),
        ("2026-06-17T14:00Z margin", "needs a duration"),
        ("2026-06-17T14:00Z margin 5x", "expected a duration"),
        ("2026-06-17T14:00Z margin 5m margin 6m", "given twice"),
        ("2026-06-17T14:00 UTC Europe/Paris margin 5m", "cannot read 'Europe/Paris'"),
        ("2026-06-17T25:00 UTC margin 5m", "is not a date and time"),
        ("2026-06-17T14:00+25:00 margin 5m", "is not a UTC offset"),
        ("2026-6-17 UTC", "is not a date"),
        ("cron 61 * * * * for 1m UTC", "cron minute '61' is outside 0-59"),
        ("cron * 24 * * * for 1m UTC", "cron hour '24' is outside 0-23"),
        ("cron * * 0 * * for 1m UTC", "cron day of month '0' is outside 1-31"),
        ("cron * * * 13 * for 1m UTC", "cron month '13' is outside 1-12"),
        ("cron * * * * 8 for 1m UTC", "cron day of week '8' is outside 0-7"),
        ("cron * * * * fun for 1m UTC", "cron day of week 'fun' is not a number"),
        ("cron */0 * * * * for 1m UTC", "step '0' must be a whole number >= 1"),
        ("cron 30-10 * * * * for 1m UTC", "range '30-10' runs backwards"),
        ("cron 0 0 30 feb * for 1h UTC", "names no day that exists"),
        ("cron 0 0 * * * for 0m UTC", "must last longer than 0"),
        ("cron 0 0 * * * UTC", "expected 'cron <minute>"),
        ("cron 0 0 * * * for 1h", "no time zone"),
        ("cron 0 0 * * * for 1h UTC extra", "cannot read 'extra'"),
    ],
)
def test_blackout_errors_name_the_key_and_the_text(text: str, message: str) -> None:
    with pytest.raises(CalendarError, match=message) as err:
        parse_blackout(text, key="blackouts[3]")
    assert err.value.key == "blackouts[3]"
    assert str(err.value).startswith("blackouts[3]")


def test_cron_on_30_february_is_fine_when_day_of_week_also_matches() -> None:
    # Restricted in both fields, a day matches either: every Monday in February.
    rule = parse_blackout("cron 0 0 30 2 mon for 1h UTC")
    assert isinstance(rule, CronRule)


# --- durations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("1h30m", 5400),
        ("1H 30M", 5400),
        ("1.5h", 5400),
        ("2d", 172_800),
        ("1d2h3m4s", 93_784),
        ("30", 30),
        (45, 45),
        (1.5, 1.5),
        (0, 0),
    ],
)
def test_durations_read_as_everywhere_else(text: object, seconds: float) -> None:
    assert parse_duration(text) == round(seconds * 1_000_000)


@pytest.mark.parametrize(
    "bad", ["", "30 minutes", "-5m", "m", "5m30", -1, float("nan"), float("inf"), True, None]
)
def test_bad_durations_name_the_key(bad: object) -> None:
    with pytest.raises(CalendarError, match=r"^veto_window: ") as err:
        parse_duration(bad, key="veto_window")
    assert err.value.key == "veto_window"
