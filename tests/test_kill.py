"""Kill switch: trips on a losing streak of the latest trades, by trade time."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import T0_NOON as T0
from quant_rollout.errors import ConfigError
from quant_rollout.kill import KillSwitch
from quant_rollout.trades import TradeOutcome


def _win(i: int, size: float = 1.0) -> TradeOutcome:
    return TradeOutcome(0.5, size, T0 + 60 * i)


def _loss(i: int, size: float = 1.0) -> TradeOutcome:
    return TradeOutcome(-0.5, size, T0 + 60 * i)


def _wr_switch(lookback: int, threshold: float) -> KillSwitch:
    """A switch that only judges win rate: its EV window never fills in these tests."""
    return KillSwitch(
        wr_lookback=lookback, wr_threshold=threshold, ev_lookback=1000, ev_threshold=-1.0
    )


# ----------------------------------------------------------------------------- win rate


def test_win_rate_trip_waits_for_a_full_window() -> None:
    ks = _wr_switch(30, 0.55)
    losses = [_loss(i) for i in range(29)]
    assert ks.evaluate(losses) == (False, None)
    assert ks.evaluate([*losses, _loss(29)]) == (True, "win_rate(30)=0.000 < 0.550")


def test_win_rate_reason_reads_like_0_1() -> None:
    ks = _wr_switch(30, 0.55)
    trades = [_win(i) if i < 13 else _loss(i) for i in range(30)]  # 13/30 = 0.433
    assert ks.evaluate(trades) == (True, "win_rate(30)=0.433 < 0.550")


def test_win_rate_at_the_threshold_does_not_trip() -> None:
    ks = _wr_switch(10, 0.5)
    trades = [_win(i) if i % 2 else _loss(i) for i in range(10)]
    assert ks.evaluate(trades) == (False, None)


def test_only_the_latest_window_counts() -> None:
    ks = _wr_switch(10, 0.6)
    old_losses = [_loss(i) for i in range(50)]
    recent_wins = [_win(50 + i) for i in range(10)]
    assert ks.evaluate(old_losses + recent_wins) == (False, None)
    assert ks.evaluate(recent_wins + [_loss(60 + i) for i in range(6)])[0]


# ----------------------------------------------------------------------------- EV


def test_ev_trip_waits_for_a_full_window_and_reads_like_0_1() -> None:
    ks = KillSwitch(wr_lookback=10, wr_threshold=0.0, ev_lookback=20, ev_threshold=-0.01)
    # wins of +0.1 and losses of -0.2 on $10 each: EV/$ = (5*0.1 - 15*0.2)/200 = -0.0125
    trades = [TradeOutcome(0.1 if i % 4 == 0 else -0.2, 10.0, T0 + 60 * i) for i in range(20)]
    assert ks.evaluate(trades[:19]) == (False, None)
    assert ks.evaluate(trades) == (True, "ev_per_dollar(20)=-0.0125 < -0.0100")


def test_win_rate_is_checked_before_ev() -> None:
    ks = KillSwitch(wr_lookback=5, wr_threshold=0.5, ev_lookback=5, ev_threshold=0.0)
    reason = ks.evaluate([_loss(i) for i in range(5)])[1]
    assert reason == "win_rate(5)=0.000 < 0.500"


def test_ev_trips_even_when_win_rate_is_fine() -> None:
    ks = KillSwitch(wr_lookback=4, wr_threshold=0.5, ev_lookback=4, ev_threshold=0.0)
    trades = [TradeOutcome(0.1, 1.0, T0 + i) for i in range(3)] + [TradeOutcome(-1, 1.0, T0 + 3)]
    assert ks.evaluate(trades) == (True, "ev_per_dollar(4)=-0.1750 < 0.0000")


def test_no_trades_never_trips() -> None:
    assert KillSwitch().evaluate([]) == (False, None)


# ----------------------------------------------------------------------------- time order


def test_lookback_takes_the_latest_trades_by_time_not_list_position() -> None:
    ks = _wr_switch(10, 0.6)
    recent_wins = [_win(100 + i) for i in range(10)]
    older_losses = [_loss(i) for i in range(10)]
    # The list ends with the losses, but they happened before the wins.
    assert ks.evaluate(recent_wins + older_losses) == (False, None)
    # And the reverse: losses that are latest in time trip, wherever they sit in the list.
    recent_losses = [_loss(100 + i) for i in range(10)]
    older_wins = [_win(i) for i in range(10)]
    assert ks.evaluate(recent_losses + older_wins) == (True, "win_rate(10)=0.000 < 0.600")


def test_time_order_holds_across_utc_offsets() -> None:
    ks = _wr_switch(1, 0.5)
    # 13:00+02:00 is 11:00Z, so the 12:00Z loss is the latest trade although its text sorts first.
    loss_at_noon = TradeOutcome(-1.0, 1.0, "2026-05-01T12:00:00Z")
    win_at_eleven = TradeOutcome(1.0, 1.0, "2026-05-01T13:00:00+02:00")
    assert ks.evaluate([loss_at_noon, win_at_eleven])[0] is True
    assert ks.evaluate([win_at_eleven, loss_at_noon])[0] is True


def test_trades_at_the_same_instant_keep_list_order() -> None:
    ks = _wr_switch(1, 0.5)
    win, loss = TradeOutcome(1.0, 1.0, T0), TradeOutcome(-1.0, 1.0, T0)
    assert ks.evaluate([win, loss])[0] is True
    assert ks.evaluate([loss, win])[0] is False


_TRADE_LISTS = st.lists(
    st.builds(
        TradeOutcome,
        pnl=st.sampled_from([-1.0, -0.25, 0.0, 0.3, 1.0]),
        size=st.sampled_from([0.0, 1.0, 2.5, 10.0]),
        timestamp=st.integers(T0, T0 + 10**6),  # distinct times are likely, not required
    ),
    max_size=40,
)
_SWITCHES = st.builds(
    KillSwitch,
    wr_lookback=st.integers(1, 15),
    wr_threshold=st.floats(0, 1),
    ev_lookback=st.integers(1, 15),
    ev_threshold=st.floats(-0.5, 0.5),
)


@given(_TRADE_LISTS, _SWITCHES, st.randoms(use_true_random=False))
def test_shuffling_trades_with_distinct_times_gives_the_same_verdict(
    trades: list[TradeOutcome], ks: KillSwitch, rnd: random.Random
) -> None:
    distinct = list({t.instant_us: t for t in trades}.values())
    shuffled = list(distinct)
    rnd.shuffle(shuffled)
    assert ks.evaluate(shuffled) == ks.evaluate(distinct)


@given(_TRADE_LISTS, _SWITCHES)
def test_judge_recent_on_time_ordered_trades_equals_evaluate(
    trades: list[TradeOutcome], ks: KillSwitch
) -> None:
    ordered = sorted(trades, key=lambda t: t.instant_us)
    assert ks.judge_recent(ordered, len(ordered)) == ks.evaluate(trades)
    assert ks.judge_recent(ordered[-ks.lookback :], len(ordered)) == ks.evaluate(trades)


@given(_TRADE_LISTS, _SWITCHES)
def test_evaluate_matches_a_direct_reading_of_the_rule(
    trades: list[TradeOutcome], ks: KillSwitch
) -> None:
    ordered = sorted(trades, key=lambda t: t.instant_us)
    wr_window, ev_window = ordered[-ks.wr_lookback :], ordered[-ks.ev_lookback :]
    wr_trips = len(ordered) >= ks.wr_lookback and (
        sum(t.pnl > 0 for t in wr_window) / len(wr_window) < ks.wr_threshold
    )
    ev_size = math.fsum(t.size for t in ev_window)
    ev = math.fsum(t.pnl for t in ev_window) / ev_size if ev_size > 0 else 0.0
    ev_trips = len(ordered) >= ks.ev_lookback and ev < ks.ev_threshold
    assert ks.evaluate(trades)[0] == (wr_trips or ev_trips)


# ----------------------------------------------------------------------------- configuration


def test_lookback_is_the_longer_window() -> None:
    assert KillSwitch(wr_lookback=30, ev_lookback=100).lookback == 100
    assert KillSwitch(wr_lookback=50, ev_lookback=10).lookback == 50


def test_defaults_are_0_1s() -> None:
    assert KillSwitch() == KillSwitch(
        wr_lookback=30, wr_threshold=0.60, ev_lookback=100, ev_threshold=0.025
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"wr_lookback": 0}, "wr_lookback"),
        ({"wr_lookback": 1.5}, "wr_lookback"),
        ({"wr_lookback": True}, "wr_lookback"),
        ({"wr_threshold": 55}, "wr_threshold"),
        ({"wr_threshold": math.nan}, "wr_threshold"),
        ({"ev_lookback": 0}, "ev_lookback"),
        ({"ev_lookback": "100"}, "ev_lookback"),
        ({"ev_threshold": math.nan}, "ev_threshold"),
        ({"ev_threshold": -math.inf}, "ev_threshold"),
        ({"ev_threshold": "0.1"}, "ev_threshold"),
    ],
)
def test_bad_kill_switch_settings_raise_config_error_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError, match=f"KillSwitch.{field} "):
        KillSwitch(**kwargs)  # type: ignore[arg-type]


def test_negative_ev_threshold_is_allowed() -> None:
    assert KillSwitch(ev_threshold=-0.01).ev_threshold == -0.01
