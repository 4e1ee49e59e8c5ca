"""Which models a run trains and reports: the full model, each variant's last phase.

One home for these choices: the Snakefile (``workflow/rules/common.smk``), ``maac tables`` and
``maac dvc-yaml`` all ask here.
"""

from __future__ import annotations

from typing import Any


def main_variant(config: dict[str, Any]) -> str:
    """The full model (Table 1): ``maac``, or the last variant configured."""
    return "maac" if "maac" in config["variants"] else config["variants"][-1]


def final_phase(config: dict[str, Any], variant: str) -> str:
    """The paper optimises CIDEr-D (RL) for its full model only; the ablation stops at CE."""
    return "rl" if variant == main_variant(config) else "ce"


def captioner_stages(config: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(variant, seed, phase) of every captioner training stage: CE of all, RL of the full
    model, seeds outermost."""
    return [(variant, seed, phase) for seed in config["seeds"] for variant in config["variants"]
            for phase in (("ce", "rl") if final_phase(config, variant) == "rl" else ("ce",))]


def evaluated_phases(config: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(variant, seed, phase) of every test-split evaluation the tables read, variants
    outermost (the order of the tables rule's inputs)."""
    return [(variant, seed, phase) for variant in config["variants"] for seed in config["seeds"]
            for phase in (("ce", "rl") if final_phase(config, variant) == "rl" else ("ce",))]


def table_models(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(variant, phase) of every model the tables report: each variant's CE, the full RL."""
    return [(variant, "ce") for variant in config["variants"]] + [(main_variant(config), "rl")]
