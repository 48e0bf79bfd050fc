"""The pure engine: the rollout's model, its transition table, and the pure
``decide`` (a tick) and ``operate`` (an operator verb) over the state.

Nothing here touches a disk, a clock or the environment, and nothing here imports
:mod:`quant_rollout.storage`, :mod:`quant_rollout.tools` or an optional extra.
"""
