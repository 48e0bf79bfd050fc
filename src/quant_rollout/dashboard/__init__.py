"""The dashboard: a Streamlit page of every rollout (``pip install 'quant-rollout[dashboard]'``).

Start it with ``quant-rollout dashboard --config rollout.toml``. The top layer:
nothing else in quant-rollout imports it, and this package imports only the
library's public shell (:class:`~quant_rollout.Rollout`, the history, the
configuration loader, ``plan``). :mod:`.settings` and :mod:`.model` need no
Streamlit; :mod:`.charts` needs Altair and :mod:`.views` Streamlit (both from the
extra).
"""

from __future__ import annotations

from .settings import DashboardSettings, RolloutEntry

__all__ = ["DashboardSettings", "RolloutEntry"]
