"""The operator's side: configuration files, trade importers, replay, the plot and
the ``quant-rollout`` command. Nothing in the core imports this package.
"""
