"""The shared bisections against brute force."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from quant_rollout._search import bisect_real, first_doubling, least_true


@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=0, max_value=10_000))
def test_least_true_finds_the_first_index_that_holds(answer: int, low: int) -> None:
    low = min(low, answer - 1)
    calls = []

    def holds(n: int) -> bool:
        calls.append(n)
        return n >= answer

    assert least_true(holds, low, 10_001) == answer
    assert all(low < n <= 10_001 for n in calls)  # never asks outside (low, high]


@given(st.integers(min_value=1, max_value=1 << 40))
def test_doubling_then_bisection_finds_the_least_n(answer: int) -> None:
    def holds(n: int) -> bool:
        return n >= answer

    high = first_doubling(holds, 1 << 41)
    assert high is not None
    assert high // 2 < answer <= high  # a power of two brackets it
    assert least_true(holds, high // 2, high) == answer
    # Gives up once the powers of two tried reach the limit without holding.
    for limit in (1, answer // 2, answer):
        tried = [1 << k for k in range(64) if (1 << k) < answer]
        gives_up = any(p >= limit for p in tried)
        assert (first_doubling(holds, limit) is None) == gives_up


@given(st.floats(min_value=1e-300, max_value=1.0, allow_nan=False))
def test_bisect_real_brackets_the_turning_point_to_a_few_ulps(point: float) -> None:
    low, high = bisect_real(lambda x: x < point, 0.0, 1.0)
    assert low < point <= high or low == point
    assert high - low <= 4e-16 * high + 5e-324
    wide_low, wide_high = bisect_real(lambda x: x < point, 0.0, 1.0, tolerance=1e-3)
    assert wide_low <= point <= wide_high
    assert wide_high - wide_low <= 1e-3
