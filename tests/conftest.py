"""Shared test setup: ``helpers.py`` (the start instants and trade builders every
test module uses) importable whichever import mode pytest runs with."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
