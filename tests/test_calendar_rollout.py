"""Windows, blackouts and operator hours in a real rollout: a gate passes only inside
its windows, nothing lands in a blackout, the veto window counts operator hours, and
the kill switch never waits."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import pytest

from quant_rollout import Gate, KillSwitch, ManualClock, Rollout, RolloutAction, Stage
from quant_rollout.errors import CalendarError, ConfigError, ConfigFileError
from quant_rollout.storage.store import MemoryStore
from quant_rollout.trades import TradeOutcome, parse_instant

NY_HOURS = "mon-fri 09:00-17:00 America/New_York"
KILL = KillSwitch(wr_lookback=5, wr_threshold=0.4, ev_lookback=20, ev_threshold=None)


def stages(**gate: Any) -> List[Stage]:
    return [
        Stage(0, {"size": 1}, name="baseline"),
        Stage(1, {"size": 2}, Gate(min_n=5, min_win_rate=0.6, **gate), "canary"),
    ]


class Bot:
    """A rollout in memory with a hand-driven clock and a growing trade list."""

    def __init__(self, start: str, window: float = 1800, **kwargs: Any) -> None:
        gate = kwargs.pop("gate", {})
        kill = kwargs.pop("kill", KILL)
        self.clock = ManualClock(start)
        self.trades: List[TradeOutcome] = []
        self.store = MemoryStore()
        self.rollout = Rollout(
            stages(**gate),
            kill,
            veto_window_seconds=window,
            clock=self.clock,
            store=self.store,
            **kwargs,
        )

    def trade(self, pnl: float, when: Optional[str] = None) -> None:
        stamp = when or self.clock().isoformat()
        self.trades.append(TradeOutcome(pnl, 10.0, stamp))

    def wins(self, n: int) -> None:
        for _ in range(n):
            self.trade(1.0)

    def tick_at(self, when: str) -> Any:
        self.clock.set(when)
        return self.rollout.tick(self.trades)

    def events(self) -> List[str]:
        return [r.event for r in self.rollout.history()]


def test_a_gate_met_at_night_waits_for_its_window_and_says_so() -> None:
    bot = Bot("2026-11-28T03:00:00-05:00", gate={"windows": [NY_HOURS]})  # Saturday
    bot.wins(5)
    decision = bot.tick_at("2026-11-28T03:00:00-05:00")
    assert decision.action is RolloutAction.NOOP
    assert decision.reason == (
        "gate met; waiting for the window that opens Mon 09:00 EST, in 2d06h"
    )
    assert bot.events() == ["start"]  # waiting is not an event
    status = bot.rollout.status(bot.trades)
    assert status.advance_window == decision.reason.split("; ", 1)[1]
    assert status.advance_window_opens_at == "2026-11-30T14:00:00+00:00"
    assert status.gate_result is not None  # still judged
    assert status.gate_result.passes
    # Sunday 23:59: still shut. Monday 09:00: the window opens, and so does the veto window.
    assert bot.tick_at("2026-11-29T23:59:00-05:00").action is RolloutAction.NOOP
    opened = bot.tick_at("2026-11-30T09:00:00-05:00")
    assert opened.action is RolloutAction.VETO_OPEN
    assert opened.changed
    assert "inside its window: open until Mon 17:00 EST (8h00m)" in opened.reason
    assert bot.events() == ["start", "veto_open"]
    assert "inside its window" in bot.rollout.history()[-1].reason


def test_without_a_veto_window_the_advance_itself_waits() -> None:
    bot = Bot("2026-12-01T18:00:00-05:00", window=0, gate={"windows": [NY_HOURS]})
    bot.wins(5)
    assert bot.tick_at("2026-12-01T18:00:00-05:00").action is RolloutAction.NOOP
    advanced = bot.tick_at("2026-12-02T09:00:30-05:00")
    assert advanced.action is RolloutAction.ADVANCE
    assert advanced.to_stage == 1


def test_the_veto_window_counts_operator_hours_across_a_weekend() -> None:
    bot = Bot("2026-12-04T16:45:00-05:00", operator_hours=[NY_HOURS])  # Friday 16:45
    bot.wins(5)
    opened = bot.tick_at("2026-12-04T16:45:00-05:00")
    assert opened.action is RolloutAction.VETO_OPEN
    # 15 minutes on Friday, 15 on Monday: the deadline is a real instant.
    monday = parse_instant("2026-12-07T09:15:00-05:00")
    assert opened.veto_deadline_unix == monday / 1e6
    assert opened.reason.endswith(
        "veto window opened: 30m of operator hours, runs out Mon 09:15 EST"
    )
    waiting = bot.tick_at("2026-12-05T12:00:00-05:00")
    assert waiting.action is RolloutAction.VETO_OPEN
    assert "(Mon 09:15 EST, counting operator hours)" in waiting.reason
    status = bot.rollout.status()
    assert status.veto_deadline_local == "Mon 2026-12-07 09:15 EST"
    assert bot.tick_at("2026-12-07T09:14:59-05:00").action is RolloutAction.VETO_OPEN
    assert bot.tick_at("2026-12-07T09:15:00-05:00").action is RolloutAction.VETO_EXPIRED


def test_a_gate_passing_at_night_gets_its_veto_window_in_the_morning() -> None:
    bot = Bot("2026-12-01T02:00:00-05:00", operator_hours=[NY_HOURS], operator_zone="Europe/London")
    bot.wins(5)
    opened = bot.tick_at("2026-12-01T02:00:00-05:00")
    assert opened.veto_deadline_unix == parse_instant("2026-12-01T09:30:00-05:00") / 1e6
    assert opened.reason.endswith("runs out Tue 14:30 GMT")  # shown in the operator's zone


def test_an_expiry_inside_a_blackout_waits_for_its_end_and_can_still_be_vetoed() -> None:
    bot = Bot("2026-12-23T23:45:00-05:00", blackouts=["2026-12-24 America/New_York"])
    bot.wins(5)
    assert bot.tick_at("2026-12-23T23:45:00-05:00").action is RolloutAction.VETO_OPEN
    held = bot.tick_at("2026-12-24T00:20:00-05:00")
    assert held.action is RolloutAction.VETO_OPEN
    assert not held.changed
    assert held.reason == (
        "veto window over; the advance to stage 1 (canary) waits: blackout "
        "'2026-12-24 America/New_York'; waiting for the window that opens Fri 00:00 EST, "
        "in 23h40m (a veto still stops it)"
    )
    assert bot.tick_at("2026-12-24T23:59:59-05:00").action is RolloutAction.VETO_OPEN
    landed = bot.tick_at("2026-12-25T00:00:00-05:00")
    assert landed.action is RolloutAction.VETO_EXPIRED
    assert bot.events() == ["start", "veto_open", "veto_expired"]


def test_a_held_expiry_can_be_vetoed() -> None:
    bot = Bot("2026-12-23T23:45:00-05:00", blackouts=["2026-12-24 America/New_York"])
    bot.wins(5)
    bot.tick_at("2026-12-23T23:45:00-05:00")
    bot.tick_at("2026-12-24T08:00:00-05:00")
    assert bot.rollout.veto_pending_advance(note="not over the holiday").advance_pending_to is None
    assert bot.tick_at("2026-12-25T00:00:00-05:00").action is RolloutAction.NOOP
    assert bot.rollout.status().stage.num == 0


def test_a_gate_that_fails_during_a_blackout_is_dropped_at_once() -> None:
    bot = Bot(
        "2026-12-23T23:45:00-05:00",
        blackouts=["2026-12-24 America/New_York"],
        kill=KillSwitch(wr_threshold=None, ev_threshold=None),
    )
    bot.wins(5)
    bot.tick_at("2026-12-23T23:45:00-05:00")
    bot.clock.set("2026-12-24T01:00:00-05:00")
    for _ in range(5):
        bot.trade(-0.1)  # the win rate falls to 50%, under the gate's 60%
    dropped = bot.rollout.tick(bot.trades)
    assert dropped.action is RolloutAction.NOOP
    assert "no longer met" in dropped.reason
    assert bot.events()[-1] == "advance_dropped"


def test_the_kill_switch_never_waits_for_a_window_or_a_blackout() -> None:
    bot = Bot(
        "2026-12-24T03:00:00-05:00",
        gate={"windows": [NY_HOURS], "blackouts": ["cron 0 0 * * * for 6h America/New_York"]},
        blackouts=["2026-12-24 America/New_York"],
        operator_hours=[NY_HOURS],
    )
    bot.rollout.promote(1)  # running the new parameters at night, in a blackout
    bot.clock.set("2026-12-24T03:05:00-05:00")
    for _ in range(5):
        bot.trade(-1.0)
    killed = bot.rollout.tick(bot.trades)
    assert killed.action is RolloutAction.KILL_TRIPPED
    assert killed.to_stage == 0
    assert bot.events()[-1] == "kill"


def test_trades_stamped_in_other_zones_are_judged_on_the_clock() -> None:
    bot = Bot("2026-11-30T08:00:00-05:00", window=0, gate={"windows": [NY_HOURS]})
    for i in range(5):  # Tokyo stamps, 22:00+09:00 = 08:00 New York
        bot.trade(1.0, f"2026-11-30T22:0{i}:00+09:00")
    assert bot.tick_at("2026-11-30T08:30:00-05:00").action is RolloutAction.NOOP
    assert bot.tick_at("2026-11-30T09:00:00-05:00").action is RolloutAction.ADVANCE


def test_bad_calendar_settings_fail_when_the_rollout_is_built() -> None:
    with pytest.raises(CalendarError, match=r"Gate\.windows\[0\]: '25:00' is not a time"):
        Gate(windows=["mon-fri 25:00-26:00 UTC"])
    with pytest.raises(CalendarError, match=r"Gate\.blackouts: can never be open"):
        Gate(windows=["sat,sun UTC"], blackouts=["sat-sun UTC"])
    with pytest.raises(ConfigError, match=r"blackouts \(with stage 1 \(canary\)'s gate\)"):
        Bot("2026-12-01T00:00Z", gate={"windows": ["mon UTC"]}, blackouts=["mon UTC"])
    with pytest.raises(CalendarError, match=r"operator_hours\[0\]: no time zone"):
        Bot("2026-12-01T00:00Z", operator_hours=["mon-fri 09:00-17:00"])
    with pytest.raises(CalendarError, match="operator_zone: unknown time zone 'Mars'"):
        Bot("2026-12-01T00:00Z", operator_zone="Mars")


CONFIG = """
state_path = "state.json"
veto_window = "30m"
operator_hours = ["mon-fri 09:00-17:00 America/New_York"]
blackouts = ["2026-12-24..2026-12-25 America/New_York"]

[kill_switch]

[[stages]]
num = 0
params = {{ size = 1 }}

[[stages]]
num = 1
params = {{ size = 2 }}
gate = {{ min_n = 5, windows = {windows}, blackouts = {blackouts} }}
"""


def write(
    tmp_path: Path,
    windows: str = '["mon-fri 09:00-17:00 America/New_York"]',
    blackouts: str = "[]",
    extra: str = "",
) -> Path:
    path = tmp_path / "rollout.toml"
    path.write_text(extra + CONFIG.format(windows=windows, blackouts=blackouts))
    return path


def test_a_config_file_with_windows_blackouts_and_operator_hours(tmp_path: Path) -> None:
    clock = ManualClock("2026-12-04T16:45:00-05:00")
    rollout = Rollout.from_config(
        write(tmp_path, blackouts='["fri 16:55-17:00 America/New_York"]'), clock=clock
    )
    trades = [TradeOutcome(1.0, 1.0, "2026-12-04T16:00:00Z") for _ in range(5)]
    opened = rollout.tick(trades)
    assert opened.action is RolloutAction.VETO_OPEN
    assert opened.veto_deadline_unix == parse_instant("2026-12-07T09:15:00-05:00") / 1e6
    assert rollout.config.blackouts[0].text == "2026-12-24..2026-12-25 America/New_York"


@pytest.mark.parametrize(
    ("windows", "blackouts", "extra", "key", "message"),
    [
        (
            '["mon-fri 09:00-17:00 America/New_Yrok"]',
            "[]",
            "",
            "stages[1].gate.windows[0]",
            "did you mean 'America/New_York'",
        ),
        (
            '["mon-fri 25:00-17:00 UTC"]',
            "[]",
            "",
            "stages[1].gate.windows[0]",
            "'25:00' is not a time of day",
        ),
        (
            '"mon-fri 09:00-17:00 UTC"',
            "[]",
            "",
            "stages[1].gate.windows",
            "must be a list of texts",
        ),
        ('["sat UTC"]', '["sat UTC"]', "", "stages[1].gate.blackouts", "can never be open"),
        (
            '["mon UTC"]',
            '["2026-12-26..2026-12-24 UTC"]',
            "",
            "stages[1].gate.blackouts[0]",
            "ends (2026-12-24) before it starts",
        ),
        (
            '["mon UTC"]',
            "[]",
            'operator_zone = "Nowhere"\n',
            "operator_zone",
            "unknown time zone 'Nowhere'",
        ),
    ],
)
def test_config_file_errors_name_the_file_key_and_value(
    tmp_path: Path, windows: str, blackouts: str, extra: str, key: str, message: str
) -> None:
    path = write(tmp_path, windows, blackouts, extra)
    with pytest.raises(ConfigFileError) as err:
        Rollout.from_config(path)
    assert err.value.key == key
    assert str(err.value).startswith(f"{path}: {key}: ")
    assert message in str(err.value)


def test_config_file_rollout_level_errors(tmp_path: Path) -> None:
    path = tmp_path / "rollout.toml"
    path.write_text(
        'operator_hours = ["mon-fri 09:00-17:00"]\nblackouts = ["2026-13-01 UTC"]\n'
        "[kill_switch]\n[[stages]]\nnum = 0\nparams = {}\n"
    )
    with pytest.raises(ConfigFileError) as err:
        Rollout.from_config(path, state_path=tmp_path / "s.json")
    keys = [e.key for e in err.value.errors]
    assert keys == ["blackouts[0]", "operator_hours[0]"]
    assert "'2026-13-01' is not a date" in str(err.value.errors[0])
    assert "no time zone" in str(err.value.errors[1])
