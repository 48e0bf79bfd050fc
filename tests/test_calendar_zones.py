"""Time zones: loading by name, a clear error without a zone database, and the exact
map between instants and local time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_rollout.calendar import load_zone, zone_name
from quant_rollout.calendar.zones import (
    naive_to_wall,
    offset_segments,
    wall_of,
    wall_to_instant,
    wall_to_naive,
)
from quant_rollout.errors import CalendarError
from quant_rollout.trades import parse_instant, to_datetime

ROOT = Path(__file__).resolve().parents[1]
NY = ZoneInfo("America/New_York")
HOUR = 3_600_000_000


def test_zones_load_by_iana_name_and_utc_by_any_case() -> None:
    assert load_zone("America/New_York") == NY
    assert load_zone(" Europe/London ") == ZoneInfo("Europe/London")
    assert load_zone("utc") is timezone.utc
    assert load_zone("Z") is timezone.utc
    assert load_zone(NY) is NY
    assert zone_name(load_zone("UTC")) == "UTC"
    assert zone_name(NY) == "America/New_York"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "America/New_Yrok",
            "unknown time zone 'America/New_Yrok'.*did you mean 'America/New_York'",
        ),
        ("Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("America", "unknown time zone 'America'"),
        ("", "unknown time zone ''"),
        ("/etc/passwd", "unknown time zone"),
        ("EST+5", "unknown time zone"),
    ],
)
def test_unknown_zones_are_named_with_the_key(name: str, message: str) -> None:
    with pytest.raises(CalendarError, match=message) as err:
        load_zone(name, key="operator_zone")
    assert str(err.value).startswith("operator_zone: ")
    assert err.value.value == name


def test_a_zone_must_be_text() -> None:
    with pytest.raises(CalendarError, match="zone must be a time zone name"):
        load_zone(5)  # type: ignore[arg-type]


def test_without_a_zone_database_the_error_says_to_install_tzdata(tmp_path: Path) -> None:
    # An empty search path and no tzdata package: what a bare container or Windows
    # without the extra looks like. UTC still works.
    script = textwrap.dedent(
        """
        import sys
        sys.modules["tzdata"] = None  # as if the package were not installed
        from quant_rollout.calendar import Schedule, load_zone
        from quant_rollout.errors import CalendarError
        print(Schedule.parse(["mon-fri 09:00-17:00 UTC"]).is_open(10 * 3_600_000_000))
        try:
            load_zone("America/New_York", key="windows[0]")
        except CalendarError as exc:
            print(exc)
        """
    )
    env = {"PYTHONTZPATH": "", "PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "True"  # Thursday 1 January 1970, 10:00 UTC
    assert "windows[0]: cannot look up time zone 'America/New_York'" in lines[1]
    assert "no time zone database" in lines[1]
    assert "pip install 'quant-rollout[calendar]'" in lines[1]


def test_offset_segments_split_exactly_at_the_changes() -> None:
    start = parse_instant("2026-03-08T00:00Z")
    end = parse_instant("2026-11-02T00:00Z")
    segments = offset_segments(NY, start, end)
    assert segments == [
        (start, parse_instant("2026-03-08T07:00Z"), -5 * HOUR),
        (parse_instant("2026-03-08T07:00Z"), parse_instant("2026-11-01T06:00Z"), -4 * HOUR),
        (parse_instant("2026-11-01T06:00Z"), end, -5 * HOUR),
    ]
    assert offset_segments(NY, end, end) == []
    assert offset_segments(timezone.utc, start, end) == [(start, end, 0)]


def test_a_change_one_microsecond_inside_the_span_is_found() -> None:
    change = parse_instant("2026-03-08T07:00Z")
    assert offset_segments(NY, change - 1, change + 1) == [
        (change - 1, change, -5 * HOUR),
        (change, change + 1, -4 * HOUR),
    ]


def test_wall_to_instant_for_ordinary_skipped_and_repeated_times() -> None:
    def wall(text: str) -> int:
        return naive_to_wall(datetime.fromisoformat(text))

    assert wall_to_instant(NY, wall("2026-07-01T09:00")) == parse_instant("2026-07-01T13:00Z")
    # 02:30 on 8 March does not exist: the clocks jump from 02:00 EST to 03:00 EDT.
    assert wall_to_instant(NY, wall("2026-03-08T02:30")) == parse_instant("2026-03-08T07:00Z")
    # 01:30 on 1 November happens twice: the first (EDT) is meant.
    assert wall_to_instant(NY, wall("2026-11-01T01:30")) == parse_instant("2026-11-01T05:30Z")
    assert wall_to_naive(wall("2026-11-01T01:30")) == datetime(2026, 11, 1, 1, 30)


@given(
    st.datetimes(
        min_value=datetime(1990, 1, 1),
        max_value=datetime(2040, 1, 1),
        timezones=st.sampled_from([NY, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Europe/Dublin")]),
    )
)
def test_wall_of_reads_the_local_clock_and_wall_to_instant_inverts_it(moment: datetime) -> None:
    instant = parse_instant(moment)
    assert moment.tzinfo is not None
    # Read the local clock from the instant: Hypothesis may draw a local time the
    # clocks skip, which names the instant an hour later on the wall.
    local = to_datetime(instant).astimezone(moment.tzinfo).replace(tzinfo=None)
    assert wall_of(moment.tzinfo, instant) == naive_to_wall(local)
    back = wall_to_instant(moment.tzinfo, naive_to_wall(local))
    # The first instant showing that local time: this one, or an hour-ish earlier when
    # the local time is repeated.
    assert back <= instant
    assert wall_of(moment.tzinfo, back) == naive_to_wall(local)
    assert instant - back <= int(timedelta(hours=1).total_seconds()) * 1_000_000
