"""The README's bot loop, with a fake bot so it runs anywhere.

Run:  python examples/basic_usage.py

A real bot calls ``rollout.tick(trades)`` about once a minute with its recent closed
trades and applies the decision. Here a FakeBot produces trades whose win rate
depends on the params it runs, and a ManualClock plays a day in a fraction of a
second.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping

from quant_rollout import (
    Gate,
    KillSwitch,
    ManualClock,
    Rollout,
    RolloutAction,
    Stage,
    TradeOutcome,
)


class FakeBot:
    """Trades once every few minutes; wins 70% of the time at any max_entry_price."""

    def __init__(self, clock: ManualClock, seed: int = 7) -> None:
        self.clock = clock
        self.rng = random.Random(seed)
        self.params: Dict[str, Any] = {}
        self.closed: List[TradeOutcome] = []
        self.alerts: List[str] = []

    def apply_config(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    def send_alert(self, text: str) -> None:
        self.alerts.append(f"{self.clock().strftime('%m-%d %H:%M')} {text}")

    def trade_for_a_minute(self) -> None:
        if self.rng.random() < 0.3:
            size = self.params.get("position_size", 5.0)
            pnl = size * (0.4 if self.rng.random() < 0.7 else -0.5)
            self.closed.append(TradeOutcome(pnl=pnl, size=size, timestamp=self.clock()))

    def recent_closed_trades(self) -> List[TradeOutcome]:
        return self.closed


def build_rollout(state_path: Path, clock: ManualClock) -> Rollout:
    """The README's rollout, with two values shortened so that three simulated days
    show every step: ``min_days_after_prev`` 0.5 (README: 14) and the kill switch's
    ``wr_threshold`` 0.45 (README: 0.55; this fake bot wins 70%, and a 30-trade window
    of a 70% bot dips under 55% often enough to kill it in a short demo)."""
    stages = [
        Stage(num=0, params={"max_entry_price": 0.30}, name="baseline"),
        Stage(
            num=1,
            params={"max_entry_price": 0.50},
            gate=Gate(min_n=50, min_win_rate=0.60, min_ev_per_dollar=0.03),
            name="canary",
        ),
        Stage(
            num=2,
            params={"max_entry_price": 0.50, "position_size": 10.0},
            gate=Gate(min_n=150, min_days_after_prev=0.5, min_ev_per_dollar=0.025),
            name="full_size",
        ),
    ]
    kill_switch = KillSwitch(wr_lookback=30, wr_threshold=0.45, ev_lookback=100, ev_threshold=-0.01)
    return Rollout(
        stages=stages,
        kill_switch=kill_switch,
        state_path=state_path,
        veto_window_seconds=1800,  # 30 minutes to say no
        clock=clock,
    )


def main() -> None:
    clock = ManualClock("2026-05-01T00:00:00Z")
    bot = FakeBot(clock)
    with tempfile.TemporaryDirectory(prefix="qr-basic-") as folder:
        rollout = build_rollout(Path(folder) / "rollout_state.json", clock)
        bot.apply_config(rollout.params())
        for _minute in range(3 * 24 * 60):  # three days, one tick a minute
            bot.trade_for_a_minute()
            decision = rollout.tick(bot.recent_closed_trades())
            if decision.apply:  # a gate's advance, an operator's move, or a kill
                bot.apply_config(decision.params)
            if decision.action is RolloutAction.KILL_TRIPPED:
                bot.send_alert(f"KILL: {decision.reason}")
            elif decision.apply:
                bot.send_alert(f"now at stage {decision.to_stage}: {decision.params}")
            elif decision.action is RolloutAction.VETO_OPEN and decision.changed:
                bot.send_alert(f"advance to stage {decision.to_stage} pending; veto within 30 min")
            clock.advance(minutes=1)

    print(f"{len(bot.closed)} trades in three days; alerts sent:")
    for alert in bot.alerts:
        print(f"  {alert}")
    print(f"bot runs {bot.params}")


if __name__ == "__main__":
    main()
