"""The paper's reported results (Clotho v2 evaluation split, single model, x100).

Source: the MAAC paper's Table 1 (columns B1, B4, ROUGE-L, METEOR, CIDEr-D, SPICE, SPIDEr, in
the order of its header) and Table 2 (CE-stage ablation: B4 / CIDEr-D / SPIDEr).
"""

from __future__ import annotations

TABLE1 = {
    "ce": {"bleu_1": 57.7, "bleu_4": 17.4, "rouge_l": 37.7, "meteor": 17.4, "cider_d": 41.9,
           "spice": 11.9, "spider": 26.9},
    "rl": {"bleu_1": 64.8, "bleu_4": 18.1, "rouge_l": 40.8, "meteor": 19.0, "cider_d": 49.1,
           "spice": 13.1, "spider": 31.1},
}

TABLE2: dict[str, dict[str, float] | None] = {
    "base": {"bleu_4": 16.5, "cider_d": 40.6, "spider": 26.4},
    "prev_words": {"bleu_4": 17.1, "cider_d": 41.1, "spider": 26.4},
    "keywords": None,  # the paper: did not converge
    "both_unshared": {"bleu_4": 16.8, "cider_d": 41.1, "spider": 26.7},
    "maac": {"bleu_4": 17.4, "cider_d": 41.9, "spider": 26.9},
}

VARIANT_NAMES = {
    "base": "Base (acoustic attention only)",
    "prev_words": "+ previously predicted words",
    "keywords": "+ keywords",
    "both_unshared": "+ both, without a shared semantic module",
    "maac": "MAAC (both, shared semantic module)",
}
