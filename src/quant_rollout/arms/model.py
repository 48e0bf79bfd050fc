"""The arm model: the parameter sets an experiment runs side by side, and how it judges them.

An experiment runs a *control* arm (the parameters the bot ran before) and one or more
*candidate* arms at the same time, each receiving a share of the opportunities (its
weight). Everything is validated when it is built, so a bad definition fails when the
bot starts, with a :class:`~quant_rollout.errors.ConfigError` naming the arm and field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Mapping, Optional, Tuple

from ..errors import ConfigError

__all__ = [
    "ROUTING_BUCKETS",
    "Arm",
    "Experiment",
    "Metric",
]

ROUTING_BUCKETS = 10_000
"""Routing resolution: weights are honoured to the nearest 1/10,000 (0.01%)."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Weights written in a config file must sum to 1 within this.
_WEIGHT_TOLERANCE = 1e-9


class Metric(str, Enum):
    """The comparison that decides an experiment (the others are still shown).

    * ``WIN_RATE``: fraction of trades with pnl > 0.
    * ``EV_PER_DOLLAR``: mean pnl / size per trade.
    * ``PNL_PER_OPPORTUNITY``: pnl per routed opportunity, counting the opportunities
      an arm let pass as 0; credits an arm for trading more often, not only better.
    """

    WIN_RATE = "win_rate"
    EV_PER_DOLLAR = "ev_per_dollar"
    PNL_PER_OPPORTUNITY = "pnl_per_opportunity"


@dataclass(frozen=True)
class Arm:
    """One parameter set in an experiment.

    Attributes:
        name: how trades, the CLI and the history name the arm: 1-64 letters, digits,
            ``_``, ``.`` or ``-``, starting with a letter or digit.
        params: what the bot runs on this arm (returned by routing, never read); a
            non-empty dict.
        weight: the arm's share of opportunities, 0–1 (0.5 means half), or None to
            split evenly with the other arms of the experiment (all or none None).

    Raises:
        ConfigError: a name that is not as above, params missing or empty, a weight
            outside [0, 1].
    """

    name: str
    params: Mapping[str, Any]
    weight: Optional[float] = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigError(
                f"Arm.name must be 1-64 letters, digits, '_', '.' or '-' (starting with a"
                f" letter or digit), got {_short(self.name)}"
            )
        if self.params is None:
            raise ConfigError(
                f"arm {self.name!r} has no params: give the parameters the bot runs on it"
            )
        if not isinstance(self.params, Mapping):
            raise ConfigError(
                f"arm {self.name!r}: params must be a dict, got {_short(self.params)}"
            )
        if not self.params:
            raise ConfigError(
                f"arm {self.name!r} has empty params: give the parameters the bot runs on it"
            )
        if self.weight is not None:
            if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)):
                raise ConfigError(
                    f"arm {self.name!r}: weight must be a number, got {_short(self.weight)}"
                )
            if not (math.isfinite(self.weight) and 0.0 <= self.weight <= 1.0):
                raise ConfigError(
                    f"arm {self.name!r}: weight must be a fraction between 0 and 1"
                    f" (0.5 means half the opportunities), got {self.weight!r}"
                )


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bound(owner: str, name: str, value: object) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{owner}.{name} must be a number, got {_short(value)}")
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{owner}.{name} must be a finite number > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Experiment:
    """Arms run side by side, and the rule that picks a winner.

    Attributes:
        arms: every arm, control included, in a fixed order (routing depends on it);
            at least two, with unique names. Weights: all given (summing to 1) or all
            None (an even split, e.g. 50/50).
        control: the name of the arm running the parameters the bot ran before.
        margin: how much better a candidate must be than control to win, in the
            deciding metric's unit (win-rate points 0–1, dollars per dollar, or account
            currency per opportunity); 0 means better at all.
        metric: the comparison that decides (:class:`Metric`).
        confidence: 0.95 means the chance of promoting a candidate that is not better
            than control by ``margin`` is at most 5%, however often it is checked.
        salt: mixes into the routing hash so that two experiments split the same keys
            independently; "" derives one from the arm names.
        loss_per_dollar: the most a trade can lose per dollar of size (1.0 unlevered),
            for the EV-per-dollar comparison.
        gain_per_dollar: the most a trade can win per dollar; the EV-per-dollar
            comparison needs it (None: shown without a confidence interval, and
            ``metric`` cannot be ``EV_PER_DOLLAR``).
        loss_per_opportunity: the most one opportunity can lose, account currency,
            for the PnL-per-opportunity comparison.
        gain_per_opportunity: the most one opportunity can win, account currency; with
            ``loss_per_opportunity`` needed for the PnL-per-opportunity comparison.
        srm_confidence: of the sample-ratio-mismatch alarm; 0.999 means a correct
            router trips it in at most one experiment in a thousand.

    Raises:
        ConfigError: fewer than two arms, duplicate names, a control that is not one of
            the arms, weights mixing numbers and None or not summing to 1, control with
            weight 0 or every candidate at 0, a candidate above its routing slot (with k
            candidates at most 1/k each), a margin or confidence out of range, or a
            deciding metric without its bounds.
    """

    arms: Tuple[Arm, ...]
    control: str
    margin: float = 0.0
    metric: Metric = Metric.WIN_RATE
    confidence: float = 0.95
    salt: str = ""
    loss_per_dollar: float = 1.0
    gain_per_dollar: Optional[float] = None
    loss_per_opportunity: Optional[float] = None
    gain_per_opportunity: Optional[float] = None
    srm_confidence: float = 0.999
    _weights: Tuple[float, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.arms, (str, bytes, Mapping)) or not isinstance(self.arms, (tuple, list)):
            raise ConfigError(f"Experiment.arms must be a list of Arm, got {_short(self.arms)}")
        arms = tuple(self.arms)
        for i, arm in enumerate(arms):
            if not isinstance(arm, Arm):
                raise ConfigError(f"Experiment.arms[{i}] must be an Arm, got {_short(arm)}")
        if len(arms) < 2:
            raise ConfigError(
                f"an experiment needs at least two arms (control and a candidate), got {len(arms)}"
            )
        names = [a.name for a in arms]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"arm names must be unique; repeated: {dupes!r}")
        if not isinstance(self.control, str) or self.control not in names:
            raise ConfigError(
                f"Experiment.control must name one of the arms {names!r}, got"
                f" {_short(self.control)}"
            )
        object.__setattr__(self, "arms", arms)
        object.__setattr__(self, "_weights", _resolve_weights(arms))
        if not isinstance(self.metric, Metric):
            try:
                object.__setattr__(self, "metric", Metric(self.metric))
            except ValueError:
                raise ConfigError(
                    f"Experiment.metric must be one of {[m.value for m in Metric]!r}, got"
                    f" {_short(self.metric)}"
                ) from None
        self._check_numbers()
        self._check_routing(self._weights)

    def _check_numbers(self) -> None:
        for name in ("confidence", "srm_confidence"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0.0 < value < 1.0
            ):
                raise ConfigError(
                    f"Experiment.{name} must be strictly between 0 and 1 (0.95 means 95%),"
                    f" got {_short(value)}"
                )
        m = self.margin
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m):
            raise ConfigError(f"Experiment.margin must be a finite number, got {_short(m)}")
        if self.metric is Metric.WIN_RATE and not -1.0 < m < 1.0:
            raise ConfigError(
                f"Experiment.margin is in win-rate points for metric 'win_rate' and must lie"
                f" strictly between -1 and 1 (0.02 means 2 points), got {m!r}"
            )
        if not isinstance(self.salt, str):
            raise ConfigError(f"Experiment.salt must be text, got {_short(self.salt)}")
        _bound("Experiment", "loss_per_dollar", self.loss_per_dollar)
        if self.loss_per_dollar is None:
            raise ConfigError("Experiment.loss_per_dollar must be a number > 0, got None")
        _bound("Experiment", "gain_per_dollar", self.gain_per_dollar)
        _bound("Experiment", "loss_per_opportunity", self.loss_per_opportunity)
        _bound("Experiment", "gain_per_opportunity", self.gain_per_opportunity)
        if self.metric is Metric.EV_PER_DOLLAR:
            if self.gain_per_dollar is None:
                raise ConfigError(
                    "Experiment.gain_per_dollar is needed when metric is 'ev_per_dollar': a"
                    " comparison of two arms needs the gains bounded (for a binary contract"
                    " bought at price q, (1 - q) / q)"
                )
            span = self.loss_per_dollar + self.gain_per_dollar
            if not -span < m < span:
                raise ConfigError(
                    f"Experiment.margin must lie strictly between {-span!r} and {span!r}"
                    f" (the possible differences per dollar), got {m!r}"
                )
        if self.metric is Metric.PNL_PER_OPPORTUNITY:
            if self.loss_per_opportunity is None or self.gain_per_opportunity is None:
                raise ConfigError(
                    "Experiment.loss_per_opportunity and gain_per_opportunity are needed when"
                    " metric is 'pnl_per_opportunity' (the most one opportunity can lose and"
                    " win, account currency)"
                )
            span = self.loss_per_opportunity + self.gain_per_opportunity
            if not -span < m < span:
                raise ConfigError(
                    f"Experiment.margin must lie strictly between {-span!r} and {span!r}"
                    f" (the possible differences per opportunity), got {m!r}"
                )

    def _check_routing(self, weights: Tuple[float, ...]) -> None:
        control_index = self.arm_names.index(self.control)
        if weights[control_index] <= 0.0:
            raise ConfigError(
                f"control arm {self.control!r} must have a weight > 0: the candidates are"
                " judged against it"
            )
        candidates = [w for i, w in enumerate(weights) if i != control_index]
        if not any(w > 0.0 for w in candidates):
            raise ConfigError("at least one candidate arm must have a weight > 0")
        slot = (ROUTING_BUCKETS // len(candidates)) / ROUTING_BUCKETS
        for arm, w in zip(self.candidates, candidates):
            if round(w * ROUTING_BUCKETS) > round(slot * ROUTING_BUCKETS):
                raise ConfigError(
                    f"arm {arm.name!r}: weight {w!r} is above {slot:g}, the most a candidate"
                    f" can take with {len(candidates)} candidates (each has its own slot so"
                    " that changing one arm's weight never moves another candidate's keys)"
                )

    @property
    def arm_names(self) -> Tuple[str, ...]:
        """Every arm's name, in order."""
        return tuple(a.name for a in self.arms)

    @property
    def weights(self) -> Tuple[float, ...]:
        """Every arm's weight, in order, with an even split filled in."""
        return self._weights

    @property
    def control_arm(self) -> Arm:
        """The control arm."""
        return self.arm(self.control)

    @property
    def candidates(self) -> Tuple[Arm, ...]:
        """The candidate arms, in order."""
        return tuple(a for a in self.arms if a.name != self.control)

    @property
    def routing_salt(self) -> str:
        """The salt routing hashes with: :attr:`salt`, or one derived from the arm names."""
        return self.salt or "arms:" + ",".join(self.arm_names)

    def arm(self, name: str) -> Arm:
        """The arm called ``name``, with its resolved weight.

        Raises:
            ConfigError: no arm has that name.
        """
        for arm, weight in zip(self.arms, self._weights):
            if arm.name == name:
                return arm if arm.weight == weight else replace(arm, weight=weight)
        raise ConfigError(f"no arm named {_short(name)}; the arms are {list(self.arm_names)!r}")

    def with_weights(self, weights: Mapping[str, float]) -> Experiment:
        """The same experiment with new weights (arm name -> weight, every arm named).

        Raises:
            ConfigError: an unknown or missing arm, or weights failing the checks above.
        """
        if not isinstance(weights, Mapping):
            raise ConfigError(f"weights must map arm names to weights, got {_short(weights)}")
        unknown = sorted(set(weights) - set(self.arm_names), key=str)
        if unknown:
            raise ConfigError(
                f"weights name unknown arms {unknown!r}; the arms are {list(self.arm_names)!r}"
            )
        missing = [n for n in self.arm_names if n not in weights]
        if missing:
            raise ConfigError(f"weights must give every arm a weight; missing: {missing!r}")
        arms = tuple(replace(a, weight=weights[a.name]) for a in self.arms)
        return replace(self, arms=arms)


def _resolve_weights(arms: Tuple[Arm, ...]) -> Tuple[float, ...]:
    given = [a.weight for a in arms]
    if all(w is None for w in given):
        return tuple(1.0 / len(arms) for _ in arms)
    if any(w is None for w in given):
        unset = [a.name for a in arms if a.weight is None]
        raise ConfigError(
            f"give every arm a weight or none (an even split); no weight for {unset!r}"
        )
    weights = tuple(float(w) for w in given if w is not None)
    total = math.fsum(weights)
    if abs(total - 1.0) > _WEIGHT_TOLERANCE:
        shown = {a.name: a.weight for a in arms}
        raise ConfigError(f"arm weights must sum to 1, got {total!r} from {_short(shown, 80)}")
    return weights
