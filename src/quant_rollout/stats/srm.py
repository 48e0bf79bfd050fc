"""Sample-ratio mismatch: is the router sending each arm its share of opportunities?

When an experiment means to route 50/50 and the counts come out 52/48 over many
thousands of opportunities, something in the routing (a bug, a filter that runs after
routing, one arm crashing more often) is broken, and every comparison of the arms is
untrustworthy. Experimentation platforms stop judging and alert on such a sample-ratio
mismatch (SRM).

The test is the anytime-valid multinomial test of M. Lindon & A. Malek, "Anytime-valid
inference for multinomial count data", Advances in Neural Information Processing Systems
35 (NeurIPS 2022): the Bayes factor of a Dirichlet-multinomial mixture against the
multinomial with the configured weights,

    e_n = [B(alpha + n) / B(alpha)] / prod_i theta_i^{n_i},
    B(a) = prod_i Gamma(a_i) / Gamma(sum_i a_i),

where ``n`` are the routed counts, ``theta`` the weights and ``alpha = concentration *
theta`` the prior (centred on the weights). Under the null each routing is an
independent draw from ``theta``, ``e_n`` is a nonnegative martingale with ``e_0 = 1``, so
the chance that it ever reaches ``1/(1 - confidence)`` is at most ``1 - confidence``
(Ville's inequality) however the counts are batched. It depends on the counts only, so
an update costs O(arms) whatever the history.

When the weights change mid-experiment, the evidence gathered so far is kept and a new
mixture starts on the counts routed under the new weights: the product of e-processes
run on consecutive stretches is again one (each stretch's martingale starts at 1 when
the previous one stops). An arm whose weight is 0 must receive nothing; one opportunity
routed there is proof of a mismatch (infinite evidence).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from .._validate import number, open_fraction, whole
from ..errors import ConfigError, CorruptStateError
from .two_sample import _excerpt

__all__ = [
    "DEFAULT_SRM_CONCENTRATION",
    "DEFAULT_SRM_CONFIDENCE",
    "SampleRatioTest",
    "srm_e_value",
    "srm_log_e_value",
]

DEFAULT_SRM_CONCENTRATION = 1000.0
"""Default ``sum(alpha)`` of the Dirichlet prior: worth 1,000 pseudo-opportunities."""

DEFAULT_SRM_CONFIDENCE = 0.999
"""Default confidence of the SRM alarm: a false alarm halts an experiment, so rarely."""

_LOG_E_CAP = 1e300
"""The largest log e-value a snapshot writes (JSON has no infinity)."""

# Weights must sum to 1 within this (floats written in a config file).
_WEIGHT_TOLERANCE = 1e-9


def _weights(weights: Sequence[float]) -> Tuple[float, ...]:
    if isinstance(weights, (str, bytes)):
        raise ConfigError(f"weights must be a sequence of numbers, got {weights!r}")
    values = tuple(number(f"weights[{i}]", w) for i, w in enumerate(weights))
    if len(values) < 2:
        raise ConfigError(f"weights needs at least 2 arms, got {len(values)}")
    for i, w in enumerate(values):
        if w < 0.0:
            raise ConfigError(f"weights[{i}] must be >= 0, got {w!r}")
    total = math.fsum(values)
    if abs(total - 1.0) > _WEIGHT_TOLERANCE:
        raise ConfigError(f"weights must sum to 1, got {total!r} from {values!r}")
    if sum(1 for w in values if w > 0.0) < 2:
        raise ConfigError(f"at least 2 weights must be > 0, got {values!r}")
    return values


def _counts(counts: Sequence[int], arms: int) -> Tuple[int, ...]:
    if isinstance(counts, (str, bytes)):
        raise ConfigError(f"counts must be a sequence of whole numbers, got {counts!r}")
    values = tuple(whole(f"counts[{i}]", c) for i, c in enumerate(counts))
    if len(values) != arms:
        raise ConfigError(f"counts must have one entry per weight ({arms}), got {len(values)}")
    return values


def _log_e(counts: Sequence[int], weights: Sequence[float], concentration: float) -> float:
    total = sum(counts)
    if total == 0:
        return 0.0
    log_e = math.lgamma(concentration) - math.lgamma(concentration + total)
    for n, theta in zip(counts, weights):
        if theta == 0.0:
            if n > 0:
                return math.inf
            continue
        if n == 0:
            continue
        a = concentration * theta
        log_e += math.lgamma(a + n) - math.lgamma(a) - n * math.log(theta)
    return log_e


def srm_log_e_value(
    counts: Sequence[int],
    weights: Sequence[float],
    concentration: float = DEFAULT_SRM_CONCENTRATION,
) -> float:
    """ln of :func:`srm_e_value`; +inf when an arm of weight 0 received anything."""
    weights_ = _weights(weights)
    counts_ = _counts(counts, len(weights_))
    conc = number("concentration", concentration)
    if conc <= 0.0:
        raise ConfigError(f"concentration must be > 0, got {concentration!r}")
    positive = math.fsum(w for w in weights_ if w > 0.0)
    return _log_e(counts_, weights_, conc * positive)


def srm_e_value(
    counts: Sequence[int],
    weights: Sequence[float],
    concentration: float = DEFAULT_SRM_CONCENTRATION,
) -> float:
    """The evidence that routing does not follow ``weights``: an anytime-valid e-value.

    The Dirichlet-multinomial Bayes factor of Lindon & Malek (2022) described in the
    module notes, in closed form. Under "each opportunity goes to arm i with probability
    ``weights[i]``, independently" the chance it ever reaches ``1/(1 - confidence)`` is at
    most ``1 - confidence``, however often it is computed.

    Args:
        counts: opportunities routed to each arm so far, whole numbers >= 0.
        weights: each arm's share, >= 0, summing to 1, at least two > 0.
        concentration: ``sum(alpha)`` of the Dirichlet prior centred on the weights;
            larger values look for smaller mismatches, more slowly.

    Returns:
        The e-value, >= 0; 1 with no counts; inf when an arm of weight 0 got one.

    Raises:
        ConfigError: weights not summing to 1, counts not one whole number >= 0 per
            weight, concentration not > 0.
    """
    log_e = srm_log_e_value(counts, weights, concentration)
    return math.exp(log_e) if log_e < 709.0 else math.inf


class SampleRatioTest:
    """The SRM alarm followed over an experiment's life, latched.

    :meth:`update` takes the cumulative routed counts under the current weights;
    :meth:`change_weights` starts a new stretch (see the module notes). :attr:`alarmed`
    turns True the first time the evidence reaches ``1/(1 - confidence)`` and stays True.

    Args:
        weights: each arm's share, summing to 1.
        confidence: of the alarm; 0.999 means a correct router trips it with probability
            at most 0.1% over the whole experiment.
        concentration: as :func:`srm_e_value`.

    Raises:
        ConfigError: as :func:`srm_e_value`, or confidence not in (0, 1).
    """

    def __init__(
        self,
        weights: Sequence[float],
        confidence: float = DEFAULT_SRM_CONFIDENCE,
        concentration: float = DEFAULT_SRM_CONCENTRATION,
    ) -> None:
        self.weights = _weights(weights)
        self.confidence = open_fraction("confidence", confidence)
        self.concentration = number("concentration", concentration)
        if self.concentration <= 0.0:
            raise ConfigError(f"concentration must be > 0, got {concentration!r}")
        self._threshold = -math.log1p(-self.confidence)
        self.counts: Tuple[int, ...] = (0,) * len(self.weights)
        self._closed_log_e = 0.0  # evidence from stretches under earlier weights
        self.log_e_value = 0.0
        self.alarmed = False
        self.history: List[Tuple[Tuple[float, ...], Tuple[int, ...]]] = []

    def update(self, counts: Sequence[int]) -> None:
        """Take the counts routed to each arm since the current weights began.

        Raises:
            ConfigError: counts malformed, or any count lower than before (counts only
                grow). Nothing changes.
        """
        counts_ = _counts(counts, len(self.weights))
        for i, (new, old) in enumerate(zip(counts_, self.counts)):
            if new < old:
                raise ConfigError(
                    f"counts[{i}] went down from {old!r} to {new!r}; pass cumulative counts"
                    " since the weights last changed"
                )
        self.counts = counts_
        positive = math.fsum(w for w in self.weights if w > 0.0)
        self.log_e_value = self._closed_log_e + _log_e(
            counts_, self.weights, self.concentration * positive
        )
        if self.log_e_value >= self._threshold:
            self.alarmed = True

    def change_weights(self, weights: Sequence[float]) -> None:
        """Keep the evidence so far and start counting under new weights from zero.

        Raises:
            ConfigError: weights invalid or for a different number of arms.
        """
        weights_ = _weights(weights)
        if len(weights_) != len(self.weights):
            raise ConfigError(
                f"weights must keep one entry per arm ({len(self.weights)}), got {len(weights_)}"
            )
        self.history.append((self.weights, self.counts))
        self._closed_log_e = self.log_e_value
        self.weights = weights_
        self.counts = (0,) * len(weights_)

    def snapshot(self) -> Dict[str, Any]:
        """What the test has seen, as JSON-ready values: the current weights and counts,
        the evidence of earlier stretches and the alarm. Confidence and concentration
        come from the configuration."""
        return {
            "weights": list(self.weights),
            "counts": list(self.counts),
            # JSON has no infinity: infinite evidence (an arm of weight 0 was routed
            # something) is kept as a finite number just as decisive (e^1e300).
            "earlier_log_e": min(self._closed_log_e, _LOG_E_CAP),
            "alarmed": self.alarmed,
            "stretches": [[list(w), list(c)] for w, c in self.history],
        }

    def restore(self, data: Mapping[str, Any], where: str = "srm") -> None:
        """Continue from a :meth:`snapshot` of a test with the same number of arms.

        Raises:
            CorruptStateError: malformed, or for another number of arms; names ``where``
                and the field. Nothing changes.
        """
        if not isinstance(data, Mapping):
            raise CorruptStateError(f"{where} must be an object, got {_excerpt(data)}")
        try:
            weights = _weights(data.get("weights"))  # type: ignore[arg-type]
            if len(weights) != len(self.weights):
                raise ConfigError(f"one weight per arm ({len(self.weights)})")
            counts = _counts(data.get("counts"), len(weights))  # type: ignore[arg-type]
            earlier = number("earlier_log_e", data.get("earlier_log_e"))
            stretches = data.get("stretches")
            if not isinstance(stretches, list):
                raise ConfigError(f"stretches must be a list, got {_excerpt(stretches)}")
            history = []
            for item in stretches:
                if not isinstance(item, list) or len(item) != 2:
                    raise ConfigError(
                        f"each stretch must be [weights, counts], got {_excerpt(item)}"
                    )
                w = _weights(item[0])
                history.append((w, _counts(item[1], len(w))))
        except (ConfigError, TypeError) as exc:
            raise CorruptStateError(f"{where}: {exc}") from None
        alarmed = data.get("alarmed")
        if not isinstance(alarmed, bool):
            raise CorruptStateError(
                f"{where}.alarmed must be true or false, got {_excerpt(alarmed)}"
            )
        self.weights = weights
        self.counts = counts
        self._closed_log_e = earlier
        self.history = history
        positive = math.fsum(w for w in weights if w > 0.0)
        self.log_e_value = earlier + _log_e(counts, weights, self.concentration * positive)
        self.alarmed = alarmed or self.log_e_value >= self._threshold

    @property
    def e_value(self) -> float:
        """The evidence of a mismatch so far, >= 0 (not latched)."""
        return math.exp(self.log_e_value) if self.log_e_value < 709.0 else math.inf

    @property
    def observed_shares(self) -> Tuple[float, ...]:
        """Each arm's share of the counts under the current weights (0s before any)."""
        total = sum(self.counts)
        return tuple(c / total if total else 0.0 for c in self.counts)
