"""The arm model (validation) and routing (determinism, weights, stability)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from typing import Any, Dict, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from quant_rollout.arms import ROUTING_BUCKETS, Arm, Experiment, Metric, Router, route_bucket
from quant_rollout.errors import ConfigError, RolloutError, RouteKeyError


def _two(weights: Any = (None, None), **kwargs: Any) -> Experiment:
    return Experiment(
        (
            Arm("control", {"max_price": 0.6}, weights[0]),
            Arm("cheap", {"max_price": 0.5}, weights[1]),
        ),
        "control",
        **kwargs,
    )


def _three(w: Any = (0.5, 0.25, 0.25)) -> Experiment:
    return Experiment(
        (Arm("control", {"v": 0}, w[0]), Arm("a", {"v": 1}, w[1]), Arm("b", {"v": 2}, w[2])),
        "control",
    )


# ---------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------


def test_weights_default_to_an_even_split() -> None:
    experiment = _two()
    assert experiment.weights == (0.5, 0.5)
    assert experiment.arm("cheap").weight == 0.5
    assert experiment.control_arm.name == "control"
    assert [a.name for a in experiment.candidates] == ["cheap"]
    assert experiment.metric is Metric.WIN_RATE
    assert (experiment.margin, experiment.confidence) == (0.0, 0.95)


def test_metric_may_be_given_as_text() -> None:
    experiment = _two(metric="pnl_per_opportunity", loss_per_opportunity=5, gain_per_opportunity=9)
    assert experiment.metric is Metric.PNL_PER_OPPORTUNITY


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: _two((0.5, 0.6)), r"arm weights must sum to 1, got 1.1"),
        (lambda: _two((0.5, None)), r"give every arm a weight or none .* \['cheap'\]"),
        (lambda: _two((1.0, 0.0)), "at least one candidate arm must have a weight > 0"),
        (lambda: _two((0.0, 1.0)), "control arm 'control' must have a weight > 0"),
        (lambda: _three((0.2, 0.6, 0.2)), r"arm 'a': weight 0.6 is above 0.5"),
        (
            lambda: Experiment((Arm("x", {"v": 1}), Arm("x", {"v": 2})), "x"),
            r"arm names must be unique; repeated: \['x'\]",
        ),
        (
            lambda: Experiment((Arm("x", {"v": 1}), Arm("y", {"v": 2})), "z"),
            r"Experiment.control must name one of the arms \['x', 'y'\], got 'z'",
        ),
        (lambda: Experiment((Arm("x", {"v": 1}),), "x"), "at least two arms"),
        (lambda: Arm("x", None), "arm 'x' has no params"),  # type: ignore[arg-type]
        (lambda: Arm("x", {}), "arm 'x' has empty params"),
        (lambda: Arm("x", [1]), r"arm 'x': params must be a dict, got \[1\]"),  # type: ignore[arg-type]
        (lambda: Arm("has space", {"v": 1}), "Arm.name must be 1-64 letters"),
        (lambda: Arm("", {"v": 1}), "Arm.name must be 1-64 letters"),
        (lambda: Arm("x", {"v": 1}, 1.5), "weight must be a fraction between 0 and 1"),
        (lambda: Arm("x", {"v": 1}, True), "weight must be a number, got True"),  # type: ignore[arg-type]
        (lambda: _two(metric="sharpe"), r"Experiment.metric must be one of \['win_rate'"),
        (lambda: _two(margin=1.0), "margin is in win-rate points"),
        (lambda: _two(confidence=95), "confidence must be strictly between 0 and 1"),
        (lambda: _two(srm_confidence=1.0), "srm_confidence must be strictly between 0 and 1"),
        (lambda: _two(metric="ev_per_dollar"), "gain_per_dollar is needed"),
        (
            lambda: _two(metric="ev_per_dollar", gain_per_dollar=1.0, margin=3.0),
            r"margin must lie strictly between -2.0 and 2.0",
        ),
        (lambda: _two(metric="pnl_per_opportunity"), "loss_per_opportunity and gain_per"),
        (lambda: _two(gain_per_dollar=-1), "gain_per_dollar must be a finite number > 0"),
        (lambda: _two(salt=5), "Experiment.salt must be text"),
        (lambda: Experiment("ab", "a"), "Experiment.arms must be a list of Arm"),  # type: ignore[arg-type]
        (
            lambda: Experiment((Arm("x", {"v": 1}), "y"), "x"),
            r"Experiment.arms\[1\] must be an Arm",
        ),  # type: ignore[arg-type]
    ],
)
def test_bad_definitions_are_refused_naming_the_thing(build: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(ConfigError) as caught:
        Arm("x" * 200, {"v": 1})
    assert len(str(caught.value)) < 200


def test_with_weights_checks_names_and_sums() -> None:
    experiment = _two()
    ramped = experiment.with_weights({"control": 0.9, "cheap": 0.1})
    assert ramped.weights == (0.9, 0.1)
    assert experiment.weights == (0.5, 0.5)
    with pytest.raises(ConfigError, match=r"unknown arms \['bogus'\]"):
        experiment.with_weights({"control": 0.5, "bogus": 0.5})
    with pytest.raises(ConfigError, match=r"missing: \['cheap'\]"):
        experiment.with_weights({"control": 1.0})
    with pytest.raises(ConfigError, match="must sum to 1"):
        experiment.with_weights({"control": 0.5, "cheap": 0.4})
    with pytest.raises(ConfigError, match="no arm named 'bogus'"):
        experiment.arm("bogus")


# ---------------------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------------------


def test_bucket_is_blake2b_of_the_length_prefixed_salt_and_key() -> None:
    # Recomputed from the documented formula with hashlib directly.
    salt = "exp-7"
    digest = hashlib.blake2b(
        len(salt).to_bytes(8, "big") + salt.encode() + b"signal-42", digest_size=8
    ).digest()
    assert route_bucket(salt, "signal-42") == int.from_bytes(digest, "big") % 10_000
    assert Router(_two(salt=salt)).bucket("signal-42") == route_bucket(salt, "signal-42")


def test_keys_route_alike_as_text_bytes_or_numbers() -> None:
    router = Router(_two())
    assert router.bucket(42) == router.bucket("42") == router.bucket(b"42")
    assert router.bucket(-7) == router.bucket("-7")
    assert router.bucket("é") == router.bucket("é".encode())
    assert router.bucket("\ud800") == router.bucket("\ud800".encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("key", [1.0, None, (1, 2), True, bytearray(b"x"), ["a"]])
def test_keys_of_other_types_are_refused_naming_the_type(key: object) -> None:
    router = Router(_two())
    with pytest.raises(RouteKeyError, match=f"got {type(key).__name__} "):
        router.route(key)
    assert issubclass(RouteKeyError, RolloutError)
    assert issubclass(RouteKeyError, TypeError)


def test_the_salt_separates_experiments() -> None:
    one = Router(_two(salt="one"))
    two = Router(_two(salt="two"))
    same = sum(one.route(i).name == two.route(i).name for i in range(2000))
    assert 850 < same < 1150  # independent 50/50 splits agree about half the time
    assert _two().routing_salt == "arms:control,cheap"


def test_route_returns_the_arm_with_its_params() -> None:
    router = Router(_two())
    arm = router.route("abc")
    assert arm.name in ("control", "cheap")
    assert arm.params == {"max_price": 0.6 if arm.name == "control" else 0.5}
    assert arm.weight == 0.5


@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.9, 0.1), (0.1, 0.9), (0.3337, 0.6663)])
def test_buckets_honour_the_weights_exactly(weights: Any) -> None:
    router = Router(_two(weights))
    owners = Counter(router.arm_of_bucket(b).name for b in range(ROUTING_BUCKETS))
    assert owners["cheap"] == round(weights[1] * ROUTING_BUCKETS) == router.buckets_of("cheap")
    assert owners["control"] == router.buckets_of("control")


def test_routed_shares_follow_the_weights_chi_square() -> None:
    router = Router(_three((0.5, 0.3, 0.2)))
    counts = Counter(router.route(f"signal-{i}").name for i in range(30_000))
    observed = [counts["control"], counts["a"], counts["b"]]
    expected = [15_000, 9_000, 6_000]
    assert scipy_stats.chisquare(observed, expected).pvalue > 1e-4


def _assignment(router: Router, keys: int = 20_000) -> List[str]:
    return [router.route(i).name for i in range(keys)]


def test_ramping_a_candidate_only_moves_keys_from_control_to_it() -> None:
    before = _assignment(Router(_two((0.9, 0.1))))
    after = _assignment(Router(_two((0.5, 0.5))))
    moved = [(b, a) for b, a in zip(before, after) if b != a]
    assert set(moved) == {("control", "cheap")}
    assert 0.37 < len(moved) / len(before) < 0.43  # the 40% that must move


def test_dropping_or_ramping_one_candidate_never_moves_another() -> None:
    experiment = _three((0.5, 0.25, 0.25))
    base = Router(experiment)
    dropped = Router(experiment, {"control": 0.75, "a": 0.0, "b": 0.25})
    ramped = Router(experiment, {"control": 0.2, "a": 0.5, "b": 0.3})
    for key in range(20_000):
        old = base.route(key).name
        for new in (dropped.route(key).name, ramped.route(key).name):
            if old == "b":
                assert new == "b"
    moved = {(b, d) for b, d in zip(_assignment(base), _assignment(dropped)) if b != d}
    assert moved == {("a", "control")}


@settings(max_examples=40, deadline=None)
@given(
    old=st.integers(1, 9_999),
    new=st.integers(1, 9_999),
    keys=st.lists(st.text(max_size=12), min_size=1, max_size=50),
)
def test_a_weight_change_moves_only_between_control_and_that_candidate(
    old: int, new: int, keys: List[str]
) -> None:
    experiment = _two((1 - old / 10_000, old / 10_000))
    before = Router(experiment)
    after = Router(experiment, {"control": 1 - new / 10_000, "cheap": new / 10_000})
    for key in keys:
        b, a = before.route(key).name, after.route(key).name
        if new >= old:
            assert b == "control" or a == "cheap"
        else:
            assert b == "cheap" or a == "control"


_CHILD = """
import json, sys
from quant_rollout.arms import Arm, Experiment, Router
experiment = Experiment(
    (Arm("control", {"v": 0}, 0.7), Arm("a", {"v": 1}, 0.15), Arm("b", {"v": 2}, 0.15)),
    "control", salt="shared")
router = Router(experiment)
keys = json.loads(sys.stdin.read())
print(json.dumps([router.route(k).name for k in keys]))
"""


def test_two_processes_agree_on_every_key() -> None:
    experiment = Experiment(
        (Arm("control", {"v": 0}, 0.7), Arm("a", {"v": 1}, 0.15), Arm("b", {"v": 2}, 0.15)),
        "control",
        salt="shared",
    )
    router = Router(experiment)
    keys: List[Any] = [f"sig-{i}" for i in range(500)] + list(range(500)) + ["ü", "", "x" * 999]
    here = [router.route(k).name for k in keys]
    # A fresh interpreter with a different string-hash seed: hash() would differ, ours not.
    env: Dict[str, str] = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    env["PYTHONHASHSEED"] = "12345"
    result = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(keys),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(result.stdout) == here


def test_routing_is_pinned_against_a_recorded_table() -> None:
    # Recorded once with CPython 3.11; the same on every version and platform (no hash()).
    # A change here would re-split every running experiment.
    router = Router(_two(salt="pinned"))
    assert [router.bucket(k) for k in ("a", "b", "0", "1")] == [5170, 2126, 4590, 4635]
    assert [router.bucket(k) for k in (0, 1, b"a")] == [4590, 4635, 5170]
