"""A stand-in bot that ticks a rollout from a config file, for trying the CLI live.

Run:  python examples/live_bot.py --config demo.toml &

It builds the rollout with ``Rollout.from_config`` (as a real bot would), backfills
three hours of trades (one a minute) so the canary gate of ``quant-rollout init``'s
example config is met on the first tick, then ticks once a second on the real clock, adding a trade
every few seconds, and prints every decision that changed the rollout. Meanwhile,
from another shell: ``quant-rollout --config demo.toml status``, ``veto``,
``pause``, ``history``. It stops after ``--seconds`` (default 600) or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import List

from quant_rollout import Rollout, TradeOutcome


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the rollout config file")
    parser.add_argument("--seconds", type=float, default=600, help="stop after this long")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)

    rollout = Rollout.from_config(args.config)
    rng = random.Random(args.seed)

    def trade(opened: datetime) -> TradeOutcome:
        win = rng.random() < 0.8
        return TradeOutcome(pnl=1.5 if win else -2.0, size=5.0, timestamp=opened)

    now = datetime.now(timezone.utc)
    trades = [trade(now - timedelta(minutes=180 - i)) for i in range(180)]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"bot: ticking {rollout.state_path} once a second", flush=True)
    deadline = time.monotonic() + args.seconds
    try:
        while time.monotonic() < deadline:
            # This stand-in's trades close as they open, so nothing is ever open; a
            # real bot passes its open positions' opening times.
            decision = rollout.tick(trades, open_trades=())
            if decision.changed:
                print(f"bot: {decision.action.value}: {decision.reason}", flush=True)
            time.sleep(1.0)
            if rng.random() < 0.3:
                trades.append(trade(datetime.now(timezone.utc)))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
