"""Each stage's own config sections (no torch import: the Snakemake rules use this module).

A rule's ``params`` are exactly :func:`stage_settings` of its stage, so a config change reruns
the stages it touches and no other: ``captioner.rl`` reruns only the RL stage, ``encoder.frozen``
the frozen phase (and, through their files, everything after it). The ``maac train`` command
rebuilds the same dict from a config file, so both routes give the same config hash.
"""

from __future__ import annotations

import json
from typing import Any

from maac.models.hparams import DECODER_KEYS, ENCODER_KEYS

STAGES = ("encoder_frozen", "encoder_finetune", "captioner_ce", "captioner_rl")
ENCODER_ARCH = ENCODER_KEYS  # the fields of maac.models.hparams' dataclasses
CAPTIONER_ARCH = DECODER_KEYS


def stage_settings(config: dict[str, Any], stage: str) -> dict[str, Any]:
    """The config sections ``stage`` depends on."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    enc = config["encoder"]
    splits = config["dataset"]["splits"]
    out: dict[str, Any] = {
        "run": config["run"],
        "dataset": {"name": config["dataset"]["name"],
                    "splits": {"train": splits["train"], "validation": splits["validation"]}},
        "audio": config["audio"],
        "training": config["training"],
    }
    arch = {k: enc[k] for k in ENCODER_ARCH}
    if stage.startswith("encoder_"):
        phase = stage.removeprefix("encoder_")
        out["encoder"] = {**arch, phase: enc[phase], "mixup_alpha": enc["mixup_alpha"],
                          "specaugment": enc["specaugment"],
                          "specaugment_pp": enc["specaugment_pp"]}
        out["seed"] = config["seeds"][0]  # the encoder is trained once per run
        if phase == "frozen" and float(enc["width"]) == 1.0:
            out["pretrained"] = {"file": config["pretrained"]["file"]}
        return out
    cap = config["captioner"]
    sub = "ce" if stage == "captioner_ce" else "rl"
    out["encoder"] = arch
    if cap[sub]["specaugment"]:  # the encoder's stripe sizes, on the captioner's input
        out["encoder"] = {**arch, "specaugment": enc["specaugment"]}
    out["captioner"] = {**{k: cap[k] for k in CAPTIONER_ARCH}, sub: cap[sub]}
    out["decoding"] = {"max_length": config["decoding"]["max_length"]}
    return out


def stage_sections(stage: str) -> tuple[str, ...]:
    """The top-level sections :func:`stage_settings` gives ``stage`` (``pretrained`` aside:
    only the full-width encoder has one)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    common = ("run", "dataset", "audio", "training", "encoder")
    return (*common, "seed") if stage.startswith("encoder_") else (*common, "captioner",
                                                                   "decoding")


def settings_json(config: dict[str, Any], stage: str) -> str:
    """:func:`stage_settings` as compact JSON (a rule's params, passed to ``maac train``)."""
    return json.dumps(stage_settings(config, stage), sort_keys=True, separators=(",", ":"))
