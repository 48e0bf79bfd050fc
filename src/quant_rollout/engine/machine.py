"""The engine's names under their 0.2 development path, ``quant_rollout.engine.machine``.

The machine now lives in modules by concern: :mod:`.model` (stages, configuration,
decisions), :mod:`.transitions` (the table, phases, events and verbs), :mod:`.tick`
(``decide``), :mod:`.verbs` (``operate``) and :mod:`.judging` (the next gate on
the evidence). This module only re-exports them, so code written against the
single-module layout keeps importing; new code imports from :mod:`quant_rollout.engine`.
"""

from __future__ import annotations

from ..evidence import gate_tracker_key
from . import *  # noqa: F403  (every public name of quant_rollout.engine)
from . import __all__ as _engine_names

__all__ = [*_engine_names, "gate_tracker_key"]
