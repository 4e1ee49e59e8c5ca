"""Each stage's own config sections (no torch import: the Snakemake rules use this module).

A rule's ``params`` are exactly :func:`stage_settings` of its stage, so a config change reruns
the stages it touches and no other: ``captioner.rl`` reruns only the RL stage, ``encoder.frozen``
the frozen phase (and, through their files, everything after it). The ``maac train`` command
rebuilds the same dict from a config file, so both routes give the same config hash.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, fields
from typing import Any, TypeVar

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


# The loop's and the phases' numbers as typed, frozen dataclasses, built once from a stage's
# validated settings (each field a key of its config section; the schema bounds the values).
_TYPES = {"int": int, "float": float, "bool": bool, "str": str}
T = TypeVar("T")


def typed(cls: type[T], section: dict[str, Any]) -> T:
    """``cls`` from a config section: each field read by name and cast once to its type (YAML
    writes 2 for 2.0); other keys ignored, a missing key takes the field's default."""
    values = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in section:
            values[f.name] = _TYPES[str(f.type)](section[f.name])
        elif f.default is MISSING:
            raise KeyError(f"{cls.__name__}: the config section has no {f.name!r}")
    return cls(**values)


@dataclass(frozen=True)
class LoopSettings:
    """The training loop of one stage: its phase's ``epochs`` and ``lr``, and config section
    ``training`` (docs/fidelity.md row 19)."""

    epochs: int
    lr: float
    batch_size: int
    optimizer: str  # adam, the only one the schema allows
    lr_decay: float  # per epoch
    grad_clip: float  # max gradient norm

    @classmethod
    def of(cls, settings: dict[str, Any], phase: dict[str, Any]) -> LoopSettings:
        """From a stage's settings and its phase's section (``encoder.frozen``, ``captioner.ce``
        and so on)."""
        return typed(cls, {**settings["training"], "epochs": phase["epochs"], "lr": phase["lr"]})


@dataclass(frozen=True)
class SpecAugmentSettings:
    """Stripes per clip and their largest widths (config section ``encoder.specaugment``)."""

    time_masks: int
    time_width: int
    freq_masks: int
    freq_width: int


@dataclass(frozen=True)
class CEPhase:
    """The captioner's cross-entropy phase (config section ``captioner.ce``)."""

    label_smoothing: float
    teacher_forcing_start: float  # scheduled sampling: P(reference word), first epoch
    teacher_forcing_end: float  # ... and last epoch, linear between
    specaugment: bool  # SpecAugment of the training input
    cache_encoder: bool  # frozen-encoder outputs computed once (when no SpecAugment)


@dataclass(frozen=True)
class RLPhase:
    """The captioner's self-critical phase (config section ``captioner.rl``)."""

    samples_per_clip: int
    sample_dropout: bool  # decoder dropout on while sampling
    start_from: str  # best or last CE checkpoint
    specaugment: bool
    cache_encoder: bool
