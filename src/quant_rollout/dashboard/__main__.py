"""``python -m quant_rollout.dashboard``: what ``quant-rollout dashboard`` runs."""

from __future__ import annotations

import sys

from .launch import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
