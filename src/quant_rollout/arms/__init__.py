"""Experiment arms: parameter sets run side by side, and routing between them.

* :mod:`.model`: :class:`Arm`, :class:`Experiment`, :class:`Metric`, validated on
  construction.
* :mod:`.routing`: :class:`Router`, deterministic hash bucketing of opportunities.

Pure: no disk, no clock, no environment. The comparisons of arms live in
:mod:`quant_rollout.stats.two_sample` and the sample-ratio alarm in
:mod:`quant_rollout.stats.srm`.
"""

from __future__ import annotations

from .model import ROUTING_BUCKETS, Arm, Experiment, Metric
from .routing import Router, route_bucket

__all__ = [
    "ROUTING_BUCKETS",
    "Arm",
    "Experiment",
    "Metric",
    "Router",
    "route_bucket",
]
