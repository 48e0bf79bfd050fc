"""Fast checks of the sample-ratio-mismatch test (quant_rollout.stats.srm).

The closed form is compared with scipy's Dirichlet-multinomial and multinomial laws, with
the product of posterior-predictive probabilities in exact rational arithmetic, and
Ville's bound with brute-force enumeration of every routing sequence.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from itertools import product
from typing import Any, Dict, List, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from quant_rollout.errors import ConfigError, CorruptStateError
from quant_rollout.stats.srm import SampleRatioTest, srm_e_value, srm_log_e_value


@settings(max_examples=50, deadline=None)
@given(
    counts=st.lists(st.integers(0, 400), min_size=2, max_size=4),
    concentration=st.floats(0.5, 5000.0),
    raw=st.lists(st.integers(1, 20), min_size=4, max_size=4),
)
def test_closed_form_matches_scipy_dirichlet_multinomial_over_multinomial(
    counts: List[int], concentration: float, raw: List[int]
) -> None:
    weights = [w / sum(raw[: len(counts)]) for w in raw[: len(counts)]]
    weights[-1] = 1.0 - math.fsum(weights[:-1])
    n = sum(counts)
    alpha = [concentration * w for w in weights]
    if n == 0:
        assert srm_log_e_value(counts, weights, concentration) == 0.0
        return
    expected = scipy_stats.dirichlet_multinomial.logpmf(
        counts, alpha, n
    ) - scipy_stats.multinomial.logpmf(counts, n, weights)
    assert srm_log_e_value(counts, weights, concentration) == pytest.approx(
        expected, rel=1e-9, abs=1e-9
    )


def _predictive_product(
    sequence: Sequence[int], weights: Sequence[Fraction], conc: int
) -> Fraction:
    """The Bayes factor as a product of one-step predictive ratios, exactly."""
    alpha = [conc * w for w in weights]
    counts = [0] * len(weights)
    factor = Fraction(1)
    for i, arm in enumerate(sequence):
        predictive = (alpha[arm] + counts[arm]) / (sum(alpha) + i)
        factor *= predictive / weights[arm]
        counts[arm] += 1
    return factor


def test_closed_form_matches_the_sequential_product_in_rational_arithmetic() -> None:
    weights = [Fraction(1, 4), Fraction(3, 4)]
    sequence = [0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0]
    exact = _predictive_product(sequence, weights, 8)
    counts = [sequence.count(0), sequence.count(1)]
    assert srm_e_value(counts, [0.25, 0.75], 8) == pytest.approx(float(exact), rel=1e-12)


def test_ville_bound_holds_exactly_over_every_routing_sequence() -> None:
    # Every sequence of 12 routings at 50/50, enumerated: P(the e-value ever reaches
    # 1/alpha) <= alpha, checked after each routing (the user who looks every time).
    horizon = 12
    ever = Fraction(0)
    for sequence in product((0, 1), repeat=horizon):
        counts = [0, 0]
        for arm in sequence:
            counts[arm] += 1
            if srm_log_e_value(counts, [0.5, 0.5], 2.0) >= math.log(4.0):  # confidence 0.75
                ever += Fraction(1, 2**horizon)
                break
    assert 0 < ever <= Fraction(1, 4)


@pytest.mark.parametrize(("weights", "concentration"), [((0.5, 0.5), 1000.0), ((0.1, 0.9), 20.0)])
def test_ville_bound_holds_over_600_routings_by_dynamic_programming(
    weights: Tuple[float, float], concentration: float
) -> None:
    # The e-value depends on the counts only, so the chance of ever crossing is a walk on
    # the lattice of counts with the crossing states absorbing: exact up to rounding.
    threshold = math.log(20.0)  # confidence 0.95
    alive = {0: 1.0}  # arm-0 count -> probability of being there without a crossing yet
    crossed = 0.0
    for n in range(1, 601):
        step: Dict[int, float] = {}
        for a, mass in alive.items():
            step[a + 1] = step.get(a + 1, 0.0) + mass * weights[0]
            step[a] = step.get(a, 0.0) + mass * weights[1]
        alive = {}
        for a, mass in step.items():
            if srm_log_e_value([a, n - a], weights, concentration) >= threshold:
                crossed += mass
            else:
                alive[a] = mass
    assert 0.0 < crossed <= 0.05


def test_batches_and_weight_changes_multiply_the_evidence() -> None:
    test = SampleRatioTest([0.5, 0.5], confidence=0.999)
    test.update([10, 4])
    test.update([30, 12])
    first = srm_log_e_value([30, 12], [0.5, 0.5])
    assert test.log_e_value == pytest.approx(first)
    test.change_weights([0.2, 0.8])
    assert test.counts == (0, 0)
    test.update([5, 50])
    assert test.log_e_value == pytest.approx(first + srm_log_e_value([5, 50], [0.2, 0.8]))
    assert test.history == [((0.5, 0.5), (30, 12))]
    assert test.observed_shares == pytest.approx((5 / 55, 50 / 55))


def test_a_routing_bug_is_detected_and_the_alarm_latches() -> None:
    test = SampleRatioTest([0.5, 0.5])
    test.update([5_600, 4_400])
    assert test.alarmed
    assert test.e_value > 1000
    test.change_weights([0.5, 0.5])
    test.update([1, 1])
    assert test.alarmed


def test_a_correct_split_raises_no_alarm() -> None:
    test = SampleRatioTest([0.5, 0.5])
    test.update([5_020, 4_980])
    assert not test.alarmed
    assert test.e_value < 1.0


def test_an_arm_of_weight_zero_receiving_anything_is_proof_of_a_mismatch() -> None:
    assert srm_log_e_value([10, 0, 10], [0.5, 0.0, 0.5]) < 1.0
    assert srm_e_value([10, 1, 10], [0.5, 0.0, 0.5]) == math.inf
    test = SampleRatioTest([0.5, 0.0, 0.5])
    test.update([10, 1, 10])
    assert test.alarmed


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([0.5, 0.6], r"weights must sum to 1, got 1.1"),
        ([1.0], "at least 2 arms"),
        ([1.0, 0.0], r"at least 2 weights must be > 0"),
        ([1.5, -0.5], r"weights\[1\] must be >= 0"),
        ("ab", "weights must be a sequence of numbers"),
        ([0.5, math.nan], r"weights\[1\] must be finite"),
    ],
)
def test_bad_weights_are_refused(weights: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SampleRatioTest(weights)  # type: ignore[arg-type]


def test_bad_counts_are_refused_and_change_nothing() -> None:
    test = SampleRatioTest([0.5, 0.5])
    test.update([3, 4])
    with pytest.raises(ConfigError, match=r"counts\[1\] went down from 4 to 2"):
        test.update([5, 2])
    with pytest.raises(ConfigError, match="one entry per weight"):
        test.update([5])
    with pytest.raises(ConfigError, match=r"counts\[0\] must be a whole number"):
        test.update([5.0, 6])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="one entry per arm"):
        test.change_weights([0.2, 0.3, 0.5])
    assert test.counts == (3, 4)
    with pytest.raises(ConfigError, match="concentration must be > 0"):
        srm_e_value([1, 1], [0.5, 0.5], 0.0)


def test_a_restored_srm_test_continues_where_it_stood() -> None:
    test = SampleRatioTest([0.5, 0.5])
    test.update([40, 30])
    test.change_weights([0.25, 0.75])
    test.update([10, 40])
    saved = json.loads(json.dumps(test.snapshot()))
    again = SampleRatioTest([0.5, 0.5])
    again.restore(saved)
    assert again.log_e_value == pytest.approx(test.log_e_value, abs=1e-12)
    assert again.weights == (0.25, 0.75)
    assert again.history == test.history
    again.update([20, 50])
    test.update([20, 50])
    assert again.snapshot() == test.snapshot()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(weights=[0.2, 0.2]), "srm: weights must sum to 1"),
        (lambda d: d.update(weights=[0.2, 0.3, 0.5]), r"srm: one weight per arm \(2\)"),
        (lambda d: d.update(counts=[1]), "srm: counts must have one entry per weight"),
        (lambda d: d.update(earlier_log_e="x"), "srm: earlier_log_e must be a number"),
        (lambda d: d.update(stretches=[[0.5]]), r"srm: each stretch must be \[weights, counts\]"),
        (lambda d: d.update(alarmed="no"), "srm.alarmed must be true or false"),
        (lambda d: d.pop("weights"), "srm: "),
    ],
)
def test_a_corrupt_srm_snapshot_is_refused(change: Any, message: str) -> None:
    test = SampleRatioTest([0.5, 0.5])
    test.update([4, 6])
    data = json.loads(json.dumps(test.snapshot()))
    change(data)
    with pytest.raises(CorruptStateError, match=message):
        test.restore(data)
    assert test.counts == (4, 6)
