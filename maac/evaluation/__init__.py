"""Evaluation: captions of a feature store, aac-metrics scores and their Java tools, tables, plots.

Submodules are imported where used: ``metrics`` imports aac-metrics (slow) only inside
:func:`maac.evaluation.metrics.evaluate`.
"""
