"""Persistence for the shell: atomic files and the lock, the hash-chained history,
and the stores (a JSON file on disk, or memory for replays).

Only the shell (:mod:`quant_rollout.rollout`) and the operator's tools use this
package; the engine never does.
"""
