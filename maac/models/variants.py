"""The decoder variants of the paper's Table 2 (ablation), by config name (no torch import)."""

VARIANTS = ("base", "prev_words", "keywords", "both_unshared", "maac")
"""base: acoustic attention only; prev_words / keywords: + one semantic source; both_unshared:
both sources, two semantic attention modules; maac: both sources, one shared module."""
