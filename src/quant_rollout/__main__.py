"""``python -m quant_rollout``: the ``quant-rollout`` command (:mod:`quant_rollout.tools.cli`)."""

from __future__ import annotations

import sys

from .tools.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
