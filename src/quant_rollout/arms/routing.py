"""Routing: which arm handles one opportunity, by hash bucketing.

``Router.route(key)`` is a pure function of the experiment's salt, its weights and the
key: no disk, no lock, no clock, a few microseconds. The same key lands on the same arm
in every process and on every Python version, because the hash is BLAKE2b (RFC 7693,
from :mod:`hashlib`), never the salted built-in ``hash()``.

**Buckets.** ``bucket = BLAKE2b-64(salt, key) mod 10,000``; arms own buckets in
proportion to their weights, so weights are honoured to the nearest 0.01%. This is how
feature-flag tools split traffic (a per-experiment salt keeps two experiments'
splits independent).

**Stable layout.** The buckets are cut into one equal slot per candidate (k
candidates: slots of 10,000 // k buckets); candidate i owns the first ``weight_i *
10,000`` buckets of slot i and control owns everything else. Moving weight between a
candidate and control therefore moves exactly the keys that must move, and only between
those two arms: ramping a candidate from 10% to 50% keeps every key it already had, and
dropping a candidate hands its keys to control without disturbing any other candidate.
The price is that each candidate's weight is at most 1/k.

**Keys.** Text is hashed as its UTF-8 bytes, whole numbers as their decimal digits
(``route(42) == route("42")``), bytes as they are. Anything else (floats, None, tuples,
``True``) raises :class:`~quant_rollout.errors.RouteKeyError`: a key whose text form is
not canonical would split differently in different programs.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping, Optional, Tuple

from ..errors import ConfigError, RouteKeyError
from .model import ROUTING_BUCKETS, Arm, Experiment

__all__ = [
    "Router",
    "route_bucket",
]


def _key_bytes(key: object) -> bytes:
    if isinstance(key, str):
        return key.encode("utf-8", "surrogatepass")
    if isinstance(key, bytes):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key).encode("ascii")
    shown = repr(key)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    raise RouteKeyError(
        f"a routing key must be str, bytes or int, got {type(key).__name__} {shown}; pass a"
        " stable identifier of the opportunity (a signal or market id)"
    )


def _salted(salt: str) -> Any:
    """A BLAKE2b state with the salt already absorbed, length-prefixed so that
    (salt "ab", key "c") and (salt "a", key "bc") hash differently."""
    data = salt.encode("utf-8", "surrogatepass")
    hasher = hashlib.blake2b(digest_size=8)
    hasher.update(len(data).to_bytes(8, "big"))
    hasher.update(data)
    return hasher


def route_bucket(salt: str, key: object) -> int:
    """The routing bucket of ``key`` under ``salt``: an integer in [0, 10,000).

    ``int.from_bytes(BLAKE2b-64(len(salt) || salt || key), "big") % 10000``, with the
    salt as UTF-8 and its length as 8 big-endian bytes; the key as described in the
    module notes. The modulo bias is below 1e-15.

    Raises:
        RouteKeyError: key not str, bytes or int.
        ConfigError: salt not text.
    """
    if not isinstance(salt, str):
        raise ConfigError(f"salt must be text, got {salt!r}")
    hasher = _salted(salt)
    hasher.update(_key_bytes(key))
    return int.from_bytes(hasher.digest(), "big") % ROUTING_BUCKETS


class Router:
    """Routes opportunities between an experiment's arms (see the module notes).

    Build it once per weight setting (it precomputes the layout); :meth:`route` is then
    a hash and two integer comparisons.

    Args:
        experiment: the arms, their weights and the salt.
        weights: the current weights by arm name when they differ from the
            experiment's own (after an operator changed them or dropped an arm); None
            uses the experiment's.

    Raises:
        ConfigError: weights that fail the experiment's checks.
    """

    def __init__(
        self, experiment: Experiment, weights: Optional[Mapping[str, float]] = None
    ) -> None:
        if not isinstance(experiment, Experiment):
            raise ConfigError(f"experiment must be an Experiment, got {experiment!r}")
        if weights is not None:
            experiment = experiment.with_weights(weights)
        self.experiment = experiment
        self.salt = experiment.routing_salt
        self._hasher = _salted(self.salt)
        by_name = dict(zip(experiment.arm_names, experiment.weights))
        candidates = experiment.candidates
        self._control = experiment.control_arm
        self._slot = ROUTING_BUCKETS // len(candidates)
        # (arm, buckets it owns at the start of its slot), one per candidate in order.
        self._slots: Tuple[Tuple[Arm, int], ...] = tuple(
            (experiment.arm(a.name), round(by_name[a.name] * ROUTING_BUCKETS)) for a in candidates
        )

    def bucket(self, key: object) -> int:
        """The routing bucket of ``key``, in [0, 10,000).

        Raises:
            RouteKeyError: key not str, bytes or int.
        """
        hasher = self._hasher.copy()
        hasher.update(_key_bytes(key))
        return int.from_bytes(hasher.digest(), "big") % ROUTING_BUCKETS

    def arm_of_bucket(self, bucket: int) -> Arm:
        """The arm that owns ``bucket`` (0 <= bucket < 10,000)."""
        slot, offset = divmod(bucket, self._slot)
        if slot < len(self._slots):
            arm, owned = self._slots[slot]
            if offset < owned:
                return arm
        return self._control

    def route(self, key: object) -> Arm:
        """The arm (name, params, weight) that handles the opportunity ``key``.

        Deterministic: the same key, salt and weights give the same arm in any process.

        Raises:
            RouteKeyError: key not str, bytes or int.
        """
        return self.arm_of_bucket(self.bucket(key))

    def buckets_of(self, name: str) -> int:
        """How many of the 10,000 buckets the arm ``name`` owns.

        Raises:
            ConfigError: no arm has that name.
        """
        self.experiment.arm(name)
        if name == self._control.name:
            return ROUTING_BUCKETS - sum(owned for _, owned in self._slots)
        return next(owned for arm, owned in self._slots if arm.name == name)
