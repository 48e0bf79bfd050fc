"""``python -m quant_rollout``: the ``quant-rollout`` command (see :mod:`quant_rollout.cli`)."""

from __future__ import annotations

import sys

from .cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
