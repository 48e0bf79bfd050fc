"""The script Streamlit runs (``streamlit run app.py``): the whole app is :func:`.views.main`.

Started by ``quant-rollout dashboard``, which passes the settings through the
environment; not meant to be imported.
"""

from __future__ import annotations

from quant_rollout.dashboard.views import main

__all__: list[str] = []

main()
