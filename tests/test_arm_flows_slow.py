"""An experiment stage's false-winner rate on a real trade flow, through ``Rollout.tick``
(slow: run with -m slow).

Two equal arms (each trade wins or loses its stake with probability 1/2); the candidate
takes profits after 5 minutes and holds its losers 60, control holds every trade 30
(``tests/_arm_flows.py``), and the bot says which trades are still open
(``open_trades``), as the README asks. Every winner is false; the test asserts the
rate is at most 1 - confidence plus two Monte Carlo standard errors. The path count is
sized for CI; the README's figures come from ``scripts/measure_arm_flows.py``.

Before the comparisons judged the complete prefix (they took every closed trade in
opening order, rebuilt on each late trade), the same flow measured, with
``scripts/measure_arm_flows.py``: 61.0% ± 3.5% false winners over 200 paths at
confidence 0.9, against 3.0% ± 0.9% over 400 paths now.
"""

from __future__ import annotations

import pytest

from _arm_flows import ArmFlow, false_winner_rate, monte_carlo_error

pytestmark = pytest.mark.slow

PATHS = 100


def test_equal_arms_with_quick_wins_in_the_candidate_rarely_crown_it() -> None:
    flow = ArmFlow()
    alpha = 1.0 - flow.confidence
    rate = false_winner_rate(flow, PATHS, seed=10)
    assert rate <= alpha + 2 * monte_carlo_error(alpha, PATHS), rate
