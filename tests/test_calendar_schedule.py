"""Schedules: open or shut, the next opening, and operator-hours deadlines, exact
across daylight saving, midnight, weekends and leap days."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import List, Optional, Tuple
from zoneinfo import ZoneInfo

import pytest

from quant_rollout.calendar import (
    Schedule,
    format_local,
    format_wait,
)
from quant_rollout.errors import CalendarError, ConfigError
from quant_rollout.trades import format_instant, parse_instant

NY = ZoneInfo("America/New_York")
MIN = 60_000_000
HOUR = 60 * MIN
DAY = 24 * HOUR


def at(text: str) -> int:
    return parse_instant(text)


def iso(instant: Optional[int]) -> Optional[str]:
    return None if instant is None else format_instant(instant)


def spans(schedule: Schedule, start: str, end: str) -> List[Tuple[str, str]]:
    return [(iso(a) or "", iso(b) or "") for a, b in schedule.open_intervals(at(start), at(end))]


BUSINESS = Schedule.parse(["mon-fri 09:00-17:00 America/New_York"])


# --- daylight saving ----------------------------------------------------------------
# New York, 2026: clocks go 02:00 EST -> 03:00 EDT on Sun 8 March (07:00Z) and
# 02:00 EDT -> 01:00 EST on Sun 1 November (06:00Z).


def test_business_hours_keep_their_local_times_across_both_changes() -> None:
    # Friday before, Monday after spring-forward: 14:00-22:00Z, then 13:00-21:00Z.
    assert spans(BUSINESS, "2026-03-06T00:00Z", "2026-03-10T00:00Z") == [
        ("2026-03-06T14:00:00+00:00", "2026-03-06T22:00:00+00:00"),
        ("2026-03-09T13:00:00+00:00", "2026-03-09T21:00:00+00:00"),
    ]
    assert spans(BUSINESS, "2026-10-30T00:00Z", "2026-11-03T00:00Z") == [
        ("2026-10-30T13:00:00+00:00", "2026-10-30T21:00:00+00:00"),
        ("2026-11-02T14:00:00+00:00", "2026-11-02T22:00:00+00:00"),
    ]


def test_the_skipped_hour_is_in_no_window_and_a_window_starting_in_it_opens_at_the_jump() -> None:
    night = Schedule.parse(["daily 01:00-04:00 America/New_York"])
    # 01:00-02:00 EST then 03:00-04:00 EDT: two real hours, back to back.
    assert spans(night, "2026-03-08T00:00Z", "2026-03-08T12:00Z") == [
        ("2026-03-08T06:00:00+00:00", "2026-03-08T08:00:00+00:00")
    ]
    starts_in_gap = Schedule.parse(["daily 02:30-04:00 America/New_York"])
    assert iso(starts_in_gap.next_open(at("2026-03-08T05:00Z"))) == "2026-03-08T07:00:00+00:00"
    inside_gap = Schedule.parse(["daily 02:00-03:00 America/New_York"])
    # That local hour does not exist on the 8th: the next one is on the 9th (EDT).
    assert iso(inside_gap.next_open(at("2026-03-08T05:00Z"))) == "2026-03-09T06:00:00+00:00"
    assert not inside_gap.is_open(at("2026-03-08T07:00Z"))


def test_the_repeated_hour_is_inside_both_times() -> None:
    repeated = Schedule.parse(["daily 01:00-02:00 America/New_York"])
    # 01:00 EDT (05:00Z) to 02:00 EST (07:00Z): the wall clock reads 01:xx for two hours.
    assert spans(repeated, "2026-11-01T00:00Z", "2026-11-01T12:00Z") == [
        ("2026-11-01T05:00:00+00:00", "2026-11-01T07:00:00+00:00")
    ]
    half = Schedule.parse(["daily 01:30-02:00 America/New_York"])
    assert spans(half, "2026-11-01T00:00Z", "2026-11-01T12:00Z") == [
        ("2026-11-01T05:30:00+00:00", "2026-11-01T06:00:00+00:00"),
        ("2026-11-01T06:30:00+00:00", "2026-11-01T07:00:00+00:00"),
    ]


def test_southern_hemisphere_and_half_hour_shifts() -> None:
    # Lord Howe Island moves by 30 minutes: +11:00 -> +10:30 on Sun 5 April 2026 02:00.
    lord_howe = Schedule.parse(["daily 01:00-03:00 Australia/Lord_Howe"])
    assert spans(lord_howe, "2026-04-04T12:00Z", "2026-04-04T18:00Z") == [
        ("2026-04-04T14:00:00+00:00", "2026-04-04T16:30:00+00:00")
    ]
    # Sydney springs forward 02:00 -> 03:00 on Sun 4 October 2026 (+10 -> +11).
    sydney = Schedule.parse(["sun 00:00-06:00 Australia/Sydney"])
    assert spans(sydney, "2026-10-03T00:00Z", "2026-10-04T12:00Z") == [
        ("2026-10-03T14:00:00+00:00", "2026-10-03T19:00:00+00:00")
    ]


# --- midnight, weekends, leap days ----------------------------------------------------


def test_a_window_crossing_midnight_belongs_to_the_day_it_starts() -> None:
    late = Schedule.parse(["fri 22:00-02:00 UTC"])
    assert late.is_open(at("2026-11-27T22:00Z"))  # Friday 22:00
    assert late.is_open(at("2026-11-28T01:59:59Z"))  # Saturday 01:59:59
    assert not late.is_open(at("2026-11-28T02:00Z"))
    assert not late.is_open(at("2026-11-27T01:00Z"))  # Friday 01:00: Thursday's night
    sunday_night = Schedule.parse(["sun 23:00-24:00,00:00-01:00 UTC"])
    assert sunday_night.is_open(at("2026-11-29T23:30Z"))
    assert sunday_night.is_open(at("2026-11-29T00:30Z"))  # Sunday 00:30, not Monday
    assert not sunday_night.is_open(at("2026-11-30T00:30Z"))


def test_crossing_midnight_into_the_repeated_hour() -> None:
    # Sat 31 Oct 2026 22:00 EDT to Sun 01:30 — both 01:00-01:30 stretches are inside.
    late = Schedule.parse(["sat 22:00-01:30 America/New_York"])
    assert spans(late, "2026-10-31T12:00Z", "2026-11-01T12:00Z") == [
        ("2026-11-01T02:00:00+00:00", "2026-11-01T05:30:00+00:00"),
        ("2026-11-01T06:00:00+00:00", "2026-11-01T06:30:00+00:00"),
    ]


def test_weekend_windows_and_whole_days() -> None:
    weekend = Schedule.parse(["sat,sun Europe/London"])
    assert spans(weekend, "2026-11-26T00:00Z", "2026-12-01T00:00Z") == [
        ("2026-11-28T00:00:00+00:00", "2026-11-30T00:00:00+00:00")
    ]
    wraps = Schedule.parse(["fri-mon 12:00-13:00 UTC"])
    days = [
        datetime.fromtimestamp(a / 1e6, timezone.utc).strftime("%a")
        for a, _ in wraps.open_intervals(at("2026-11-23T00:00Z"), at("2026-11-30T00:00Z"))
    ]
    assert days == ["Mon", "Fri", "Sat", "Sun"]


def test_leap_days() -> None:
    blackout = Schedule.parse(["daily 09:00-17:00 UTC"], ["2028-02-29 UTC"])
    assert blackout.is_open(at("2028-02-28T12:00Z"))
    assert not blackout.is_open(at("2028-02-29T12:00Z"))
    assert iso(blackout.next_open(at("2028-02-29T08:00Z"))) == "2028-03-01T09:00:00+00:00"
    # A cron rule on 29 February fires only in leap years.
    cron = Schedule.parse([], ["cron 0 9 29 2 * for 1h UTC"])
    assert iso(cron.next_close(at("2026-11-29T00:00Z"))) == "2028-02-29T09:00:00+00:00"
    # A schedule open only on leap days is still open, four years from now at most.
    leap_only = Schedule.parse(
        [], ["cron * * 1-28 * * for 1m UTC", "cron * * 29-31 1,3-12 * for 1m UTC"]
    )
    assert iso(leap_only.check_opens(at("2028-03-01T00:00Z"))) == "2032-02-29T00:00:00+00:00"
    with pytest.raises(CalendarError, match="2027-02-29"):
        Schedule.parse([], ["2027-02-29 UTC"])


# --- blackouts ----------------------------------------------------------------------


def test_a_blackout_at_the_edge_of_a_window() -> None:
    edge = Schedule.parse(
        ["mon-fri 09:00-17:00 America/New_York"],
        ["2026-12-01T16:30..2026-12-01T17:30 America/New_York", "2026-12-02T09:00-05:00 after 15m"],
    )
    # Tuesday: shut from 16:30; Wednesday: the 09:00 opening waits 15 minutes.
    assert iso(edge.next_close(at("2026-12-01T15:00Z"))) == "2026-12-01T21:30:00+00:00"
    assert iso(edge.next_open(at("2026-12-01T21:30Z"))) == "2026-12-02T14:15:00+00:00"
    # A blackout ending exactly when the window opens does not delay it.
    before = Schedule.parse(
        ["mon-fri 09:00-17:00 America/New_York"],
        ["2026-12-03T00:00..2026-12-03T09:00 America/New_York"],
    )
    assert iso(before.next_open(at("2026-12-03T05:00Z"))) == "2026-12-03T14:00:00+00:00"


def test_blackout_days_and_ranges_skip_whole_local_days() -> None:
    holidays = Schedule.parse(
        ["mon-fri 09:00-17:00 America/New_York"],
        ["2026-12-24..2026-12-25 America/New_York", "2027-01-01 America/New_York"],
    )
    assert iso(holidays.next_open(at("2026-12-23T22:00Z"))) == "2026-12-28T14:00:00+00:00"
    assert iso(holidays.next_open(at("2026-12-31T22:00Z"))) == "2027-01-04T14:00:00+00:00"


def test_recurring_and_cron_blackouts_in_other_zones() -> None:
    schedule = Schedule.parse(
        ["mon-fri 09:00-17:00 America/New_York"],
        ["cron 30 13 * * 1-5 for 30m Europe/London", "fri 15:45-17:00 America/New_York"],
    )
    # London 13:30-14:00 is New York 08:30-09:00 in December: no effect; Friday closes early.
    assert spans(schedule, "2026-12-04T00:00Z", "2026-12-05T00:00Z") == [
        ("2026-12-04T14:00:00+00:00", "2026-12-04T20:45:00+00:00")
    ]
    # Between the two changes (US on 8 March, UK on 29 March 2026) London is 4 hours
    # ahead: 13:30 London is 09:30 New York, inside the window.
    assert spans(schedule, "2026-03-16T00:00Z", "2026-03-17T00:00Z") == [
        ("2026-03-16T13:00:00+00:00", "2026-03-16T13:30:00+00:00"),
        ("2026-03-16T14:00:00+00:00", "2026-03-16T21:00:00+00:00"),
    ]


def test_blackouts_alone_mean_open_otherwise() -> None:
    schedule = Schedule.parse([], ["2026-12-25 UTC"])
    assert schedule.is_open(at("2026-12-24T23:59:59Z"))
    assert not schedule.is_open(at("2026-12-25T00:00Z"))
    assert iso(schedule.next_open(at("2026-12-25T03:00Z"))) == "2026-12-26T00:00:00+00:00"
    assert Schedule().always_open
    assert Schedule().is_open(0)
    assert Schedule().next_close(0) is None


def test_a_schedule_that_can_never_open_is_an_error_that_says_why() -> None:
    never = Schedule.parse(
        ["mon-fri 09:00-17:00 America/New_York"], ["mon-fri 08:00-18:00 America/New_York"]
    )
    assert never.next_open(at("2026-11-29T00:00Z")) is None
    with pytest.raises(CalendarError, match=r"stages\[1\]\.gate: can never be open") as err:
        never.check_opens(at("2026-11-29T00:00Z"), key="stages[1].gate")
    assert isinstance(err.value, ConfigError)
    assert isinstance(err.value, ValueError)
    # A long one-off blackout only delays the first opening.
    long = Schedule.parse(["mon-fri 09:00-17:00 UTC"], ["2026-01-01..2031-12-31 UTC"])
    assert iso(long.check_opens(at("2026-11-29T00:00Z"))) == "2032-01-01T09:00:00+00:00"


# --- operator hours -----------------------------------------------------------------


def test_a_veto_window_opened_at_night_runs_out_after_operator_hours_begin() -> None:
    # Gate passes Tuesday 02:00 New York: the 30-minute window runs out at 09:30.
    assert (
        iso(BUSINESS.deadline(at("2026-12-01T02:00-05:00"), 30 * MIN))
        == "2026-12-01T14:30:00+00:00"
    )


def test_a_veto_window_across_a_weekend() -> None:
    # Friday 16:45: 15 minutes count on Friday, the other 15 on Monday.
    friday = at("2026-12-04T16:45-05:00")
    deadline = BUSINESS.deadline(friday, 30 * MIN)
    assert iso(deadline) == "2026-12-07T14:15:00+00:00"
    assert deadline is not None
    assert format_local(deadline, NY) == "Mon 2026-12-07 09:15 EST"
    assert format_local(deadline, NY, now=friday) == "Mon 09:15 EST"
    assert BUSINESS.open_time(friday, deadline) == 30 * MIN
    # Opened on Saturday 02:00: it is all Monday's.
    assert (
        iso(BUSINESS.deadline(at("2026-12-05T02:00-05:00"), 30 * MIN))
        == "2026-12-07T14:30:00+00:00"
    )
    # A weekend that contains the change to summer time: Monday 09:30 EDT.
    assert (
        iso(BUSINESS.deadline(at("2026-03-07T02:00-05:00"), 30 * MIN))
        == "2026-03-09T13:30:00+00:00"
    )
    # Two operator days (16 hours) from Friday noon: Friday 5h, Monday 8h, Tuesday 3h.
    assert (
        iso(BUSINESS.deadline(at("2026-12-04T12:00-05:00"), 16 * HOUR))
        == "2026-12-08T17:00:00+00:00"
    )


def test_deadline_edges() -> None:
    start = at("2026-12-01T10:00-05:00")
    assert BUSINESS.deadline(start, 0) == start
    assert iso(BUSINESS.deadline(start, 7 * HOUR)) == "2026-12-01T22:00:00+00:00"  # exactly 17:00
    never = Schedule.parse(["mon 09:00-10:00 UTC"], ["mon UTC"])
    assert never.deadline(start, MIN) is None
    with pytest.raises(CalendarError, match="duration_us"):
        BUSINESS.deadline(start, -1)


def test_next_close_and_open_time() -> None:
    assert iso(BUSINESS.next_close(at("2026-12-01T10:00-05:00"))) == "2026-12-01T22:00:00+00:00"
    assert iso(BUSINESS.next_close(at("2026-12-01T20:00-05:00"))) == "2026-12-02T01:00:00+00:00"
    assert BUSINESS.open_time(at("2026-11-30T00:00Z"), at("2026-12-07T00:00Z")) == 40 * HOUR
    always_weekdays = Schedule.parse(["mon-fri UTC"])
    # Open Monday 00:00 through Friday 24:00: the close is found across chunks.
    assert iso(always_weekdays.next_close(at("2026-11-30T00:00Z"))) == "2026-12-05T00:00:00+00:00"


# --- instants and formatting --------------------------------------------------------


def test_instants_may_be_datetimes_or_text_with_an_offset_but_not_naive() -> None:
    aware = datetime(2026, 12, 1, 10, tzinfo=NY)
    assert BUSINESS.is_open(aware)
    assert BUSINESS.is_open("2026-12-01T15:00:00Z")
    with pytest.raises(CalendarError, match="naive"):
        BUSINESS.is_open(datetime(2026, 12, 1, 10))
    with pytest.raises(CalendarError, match="UTC offset"):
        BUSINESS.is_open("2026-12-01T10:00:00")
    with pytest.raises(CalendarError, match="UTC offset"):
        BUSINESS.is_open("2026-12-01")


def test_format_wait_shows_two_units_cut_not_rounded() -> None:
    assert format_wait(45 * 1_000_000) == "45s"
    assert format_wait(2 * HOUR + 13 * MIN + 59 * 1_000_000) == "2h13m"
    assert format_wait(3 * DAY + 4 * HOUR + 5 * MIN) == "3d04h"
    assert format_wait(2 * HOUR) == "2h00m"
    assert format_wait(DAY) == "1d00h"
    assert format_wait(13 * MIN + 999_999) == "13m00s"
    assert format_wait(-5) == "0s"


def test_format_local_names_the_zone_in_force() -> None:
    assert format_local(at("2026-07-01T13:00Z"), NY) == "Wed 2026-07-01 09:00 EDT"
    assert format_local(at("2026-12-01T14:00Z"), NY) == "Tue 2026-12-01 09:00 EST"
    assert format_local(at("2026-12-01T14:00Z"), timezone.utc) == "Tue 2026-12-01 14:00 UTC"


def test_parse_refuses_one_text_where_a_list_is_expected() -> None:
    with pytest.raises(CalendarError, match=r"gate\.windows must be a list"):
        Schedule.parse("mon-fri 09:00-17:00 UTC", key="gate.")  # type: ignore[arg-type]


def test_a_default_zone_serves_rules_that_name_none() -> None:
    schedule = Schedule.parse(["mon-fri 09:00-17:00"], ["2026-12-25"], zone="America/New_York")
    assert schedule.windows[0].zone == NY
    assert not schedule.is_open(at("2026-12-25T15:00Z"))
    with pytest.raises(CalendarError, match=r"windows\[0\]: no time zone"):
        Schedule.parse(["mon-fri 09:00-17:00"])


# --- status, for reasons and displays --------------------------------------------------


def test_status_while_open_says_until_when() -> None:
    status = BUSINESS.status(at("2026-12-04T13:55-05:00"))
    assert status.is_open
    assert iso(status.closes_at) == "2026-12-04T22:00:00+00:00"
    assert status.describe(NY) == "open until Fri 17:00 EST (3h05m)"


def test_status_outside_the_windows_names_the_next_opening() -> None:
    status = BUSINESS.status(at("2026-11-30T06:47-05:00"))
    assert not status.is_open
    assert status.blackout is None
    assert status.describe(NY) == "waiting for the window that opens Mon 09:00 EST, in 2h13m"


def test_status_in_a_blackout_names_it() -> None:
    gate = Schedule.parse(["mon-fri 09:00-17:00 America/New_York"])
    rollout_blackouts = Schedule.parse([], ["2026-12-24..2026-12-25 America/New_York"]).blackouts
    combined = gate.with_blackouts(rollout_blackouts)
    assert gate.with_blackouts(()) is gate
    status = combined.status(at("2026-12-24T10:00-05:00"))
    assert status.blackout is rollout_blackouts[0]
    assert status.describe(NY) == (
        "blackout '2026-12-24..2026-12-25 America/New_York'; "
        "waiting for the window that opens Mon 09:00 EST, in 3d23h"
    )
    assert combined.covering_blackout(at("2026-12-23T10:00-05:00")) is None


def test_status_of_a_schedule_that_never_opens_or_never_closes() -> None:
    never = Schedule.parse(["mon UTC"], ["mon UTC"])
    assert never.status(at("2026-11-30T10:00Z")).describe(timezone.utc) == (
        "blackout 'mon UTC'; no window opens within 4 years"
    )
    assert Schedule().status(0).describe(timezone.utc) == "open"


# --- the wait a window adds, for plan -------------------------------------------------


def test_waits_over_a_week_of_business_hours() -> None:
    monday = at("2026-11-30T00:00-05:00")
    summary = BUSINESS.waits(monday, monday + 7 * DAY)
    assert summary.open_fraction == pytest.approx(40 / 168)
    # Shut: Mon 00-09 (9h), four nights of 16h, Fri 17:00 to Mon 09:00 (64h) of which
    # the span holds 55h. Mean of the wait over the week, in hours:
    expected_hours = (9**2 / 2 + 4 * 16**2 / 2 + (64**2 - 9**2) / 2) / 168
    assert summary.mean_wait_us is not None
    assert summary.mean_wait_us / HOUR == pytest.approx(expected_hours)
    assert summary.max_wait_us == 64 * HOUR


def test_waits_agree_with_asking_next_open_every_few_minutes() -> None:
    schedule = Schedule.parse(
        ["mon-fri 09:00-12:00,13:00-17:00 America/New_York", "sat 10:00-11:00 Europe/London"],
        ["2026-03-10 America/New_York", "cron 0 9 * * 3 for 90m America/New_York"],
    )
    start = at("2026-03-06T00:00Z")  # across the change to summer time
    end = start + 9 * DAY
    step = 5 * MIN
    samples = [start + k * step + step // 2 for k in range((end - start) // step)]
    waits = []
    for t in samples:
        opens = schedule.next_open(t)
        assert opens is not None
        waits.append(opens - t)
    summary = schedule.waits(start, end)
    assert summary.mean_wait_us is not None
    assert summary.mean_wait_us == pytest.approx(sum(waits) / len(waits), abs=step)
    assert summary.max_wait_us is not None
    assert max(waits) <= summary.max_wait_us <= max(waits) + step


def test_waits_that_never_end_and_a_bad_span() -> None:
    never = Schedule.parse(["mon UTC"], ["mon UTC"])
    summary = never.waits(0, DAY)
    assert summary.open_fraction == 0
    assert summary.mean_wait_us is None
    assert summary.max_wait_us is None
    assert Schedule().waits(0, DAY).mean_wait_us == 0
    with pytest.raises(CalendarError, match="end must be after start"):
        BUSINESS.waits(DAY, DAY)


def test_check_can_open_needs_no_clock() -> None:
    BUSINESS.check_can_open()
    Schedule.parse([], ["2030-01-01..2030-01-02 UTC"]).check_can_open()
    never = Schedule.parse(["sat,sun UTC"], ["cron * * * * 0,6 for 1m UTC"])
    with pytest.raises(CalendarError, match=r"stages\[2\]\.gate: can never be open"):
        never.check_can_open(key="stages[2].gate")


def test_lists_of_rules_accept_text_or_rule_objects() -> None:
    window = BUSINESS.windows[0]
    mixed = Schedule.parse([window, "sat 10:00-11:00 UTC"], [window])
    assert mixed.windows[0] is window
    assert mixed.blackouts == (window,)
    with pytest.raises(CalendarError, match=r"gate\.blackouts\[1\]: no time zone"):
        Schedule.parse([], ["2026-12-25 UTC", "2026-12-26"], key="gate.")
    with pytest.raises(CalendarError, match=r"windows\[0\]: .*'2026-12-25 UTC'"):
        Schedule.parse(["2026-12-25 UTC"])  # a date is not a weekly window
