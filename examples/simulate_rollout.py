"""Walk a rollout through all five actions, one line per tick.

Run:  python examples/simulate_rollout.py

A ManualClock stands in for time, so the demo runs in milliseconds and prints the
same thing every time (apart from the temporary folder's name).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from quant_rollout import (
    Gate,
    KillSwitch,
    ManualClock,
    Rollout,
    RolloutDecision,
    Stage,
    TradeOutcome,
)

STAGES = [
    Stage(num=0, params={"max_entry_price": 0.30}, name="baseline"),
    Stage(
        num=1,
        params={"max_entry_price": 0.50},
        gate=Gate(min_n=10, min_win_rate=0.60, min_ev_per_dollar=0.04),
        name="canary",
    ),
    Stage(
        num=2,
        params={"max_entry_price": 0.50, "position_size": 10.0},
        gate=Gate(min_n=20, min_win_rate=0.65, min_ev_per_dollar=0.05),
        name="full_size",
    ),
]
KILL = KillSwitch(wr_lookback=10, wr_threshold=0.50, ev_lookback=15, ev_threshold=-0.10)


def show(label: str, d: RolloutDecision) -> None:
    m = d.metrics
    print(
        f"  [{label:>16}] {d.action.value:<12} {d.from_stage}->{d.to_stage}"
        f" n={m.n:3d} WR={m.win_rate * 100:5.1f}% ev/$={m.ev_per_dollar * 100:+5.1f}c"
        f"{' *' if d.changed else '  '} {d.reason}"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="qr-demo-") as folder:  # removed on exit
        run(Path(folder) / "rollout_state.json")


def run(state_path: Path) -> None:
    clock = ManualClock("2026-05-01T09:00:00Z")
    rollout = Rollout(STAGES, KILL, state_path, veto_window_seconds=300, clock=clock)
    trades: list[TradeOutcome] = []

    def trade(pnl: float, count: int) -> None:
        for _ in range(count):  # one trade a minute, opened "now"
            trades.append(TradeOutcome(pnl=pnl, size=5.0, timestamp=clock()))
            clock.advance(minutes=1)

    print("Lines marked * changed the rollout (alert once on those).\n")
    print("1. Stage 0. The canary gate needs 10 trades, 60% WR, 4c/$.")
    show("no trades", rollout.tick(trades))
    trade(2.0, 5)
    show("5 wins", rollout.tick(trades))
    trade(2.0, 5)
    show("10 wins", rollout.tick(trades))

    print("\n2. The veto window (5 minutes) runs out unvetoed.")
    clock.advance(seconds=100)
    show("+1m40s", rollout.tick(trades))
    clock.advance(seconds=300)
    show("+6m40s", rollout.tick(trades))

    print("\n3. Stage 1 loses 10 in a row: the kill switch reverts to stage 0.")
    trade(-3.0, 10)
    show("10 losses", rollout.tick(trades))
    trade(2.0, 20)
    show("20 wins, latched", rollout.tick(trades))

    print("\n4. The operator clears the kill, then vetoes the next advance.")
    rollout.clear_kill_switch(note="bad fills, fixed")
    trade(2.0, 10)
    show("10 wins", rollout.tick(trades))
    rollout.veto_pending_advance(note="not during the Fed announcement")
    show("after veto", rollout.tick(trades))

    print("\n5. With the veto window off, a met gate advances at once.")
    no_window = Rollout(STAGES, KILL, state_path, veto_window_seconds=0, clock=clock)
    trade(2.0, 10)
    show("10 wins", no_window.tick(trades))

    status = no_window.status()
    print(f"\nNow at stage {status.stage.label}, running {status.stage.params}.")
    events = no_window.history()
    print(f"History ({len(events)} events, chain ok: {no_window.verify_history().ok}):")
    for event in events:
        print(f"  {event.seq:2d} {event.at[11:19]} {event.event:<13} {event.reason}")
    print(f"\nState file: {state_path} (a temporary folder, removed on exit)")


if __name__ == "__main__":
    main()
