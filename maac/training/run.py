"""Run one stage from its settings and files: what ``maac train`` and the rules call.

A stage gets every file it reads and writes by name (:class:`StageFiles`: its rule's input and
output, one by one); nothing here derives a path from a folder or a default location.
:func:`run_encoder` and :func:`run_captioner` are one skeleton (:func:`_run_stage`): check and
hash the inputs, seed, build the stage's recipe, run the loop, tracked in MLflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from maac.config import section_hash
from maac.errors import MaacError
from maac.text.keywords import KeywordTable
from maac.text.vocabulary import Vocabulary
from maac.training.batches import load_split
from maac.training.loop import LoopConfig, NoTracker, Recipe, StageOutputs, Tracker, train
from maac.training.settings import LoopSettings
from maac.training.state import file_sha256, seed_everything


@dataclass
class Runtime:
    """How to run: device, CPU threads, progress bars, tracking."""

    device: str = "auto"  # auto: cuda when present
    threads: int | None = None
    progress: bool = True
    tracking: bool = True

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise MaacError("--device cuda: no CUDA device is available")
        return torch.device(self.device)

    def setup(self) -> torch.device:
        if self.threads:
            torch.set_num_threads(self.threads)
        device = self.torch_device()
        if device.type == "cpu":  # bitwise-repeatable runs and resumption on the CPU
            torch.use_deterministic_algorithms(True, warn_only=True)
        return device


@dataclass(frozen=True)
class StageFiles:
    """The files a stage reads and writes (its rule's ``input`` and ``output``)."""

    features_train: Path
    features_validation: Path
    text_train: Path  # labels_{split}.npz (encoder) or captions_{split}.jsonl (captioner)
    text_validation: Path
    keywords: Path
    vocab: Path
    outputs: StageOutputs
    init: Path | None = None  # finetune: frozen best; ce: encoder best; rl: ce checkpoint
    pretrained: Path | None = None  # frozen at width 1: the PANNs checkpoint
    encoder: Path | None = None  # rl: the encoder checkpoint the CE captioner names

    def inputs(self, text: str) -> dict[str, Path]:
        """The inputs by their identity names (``text``: labels or captions), checked and
        hashed in this order."""
        files = {"features_train": self.features_train,
                 "features_validation": self.features_validation,
                 f"{text}_train": self.text_train, f"{text}_validation": self.text_validation,
                 "keywords": self.keywords, "vocab": self.vocab}
        for key in ("init", "pretrained"):
            path = getattr(self, key)
            if path is not None:
                files[key] = path
        return files


def _hashes(files: dict[str, Path]) -> dict[str, str]:
    return {f"{key}_sha256": file_sha256(path) for key, path in files.items()}


def _tracker(runtime: Runtime, settings: dict[str, Any], run_name: str,
             tags: dict[str, str]) -> Tracker:
    if not runtime.tracking:
        return NoTracker()
    from maac.tracking.mlflow_tracker import MlflowTracker

    return MlflowTracker(settings["run"], run_name, settings, tags)


@dataclass(frozen=True)
class _Stage:
    """What differs between the stages' runs: names, identity, loop numbers, the recipe."""

    name: str  # encoder_frozen, ..., captioner_rl
    text: str  # labels or captions
    seed: int
    identity: dict[str, str]  # after stage and config_hash, before the input hashes
    tags: dict[str, str]  # maac.* tags before the config hash
    run_name: str
    phase: dict[str, Any]  # the phase's config section (its epochs and lr)
    metric: str
    extra: Callable[[], dict[str, Any]]  # written into metrics.json
    recipe: Callable[[torch.device, dict[str, Path], dict[str, str]], Recipe]


def _run_stage(settings: dict[str, Any], files: StageFiles, stage: _Stage,
               runtime: Runtime) -> dict[str, Any]:
    """The stage skeleton: inputs checked and hashed, RNGs seeded, recipe built, loop run."""
    device = runtime.setup()
    inputs = files.inputs(stage.text)
    missing = [str(p) for p in inputs.values() if not Path(p).is_file()]
    if missing:
        raise MaacError(f"{stage.name}: input not found: {', '.join(missing)}")
    hashes = _hashes(inputs)
    identity = {"stage": stage.name, "config_hash": section_hash(settings), **stage.identity,
                **hashes}
    seed_everything(stage.seed)
    recipe = stage.recipe(device, inputs, hashes)
    cfg = LoopConfig(stage.name, LoopSettings.of(settings, stage.phase), stage.metric,
                     files.outputs, device, identity, runtime.progress, stage.extra())
    tags = {"maac.stage": stage.name, **stage.tags, "maac.config_hash": identity["config_hash"],
            **{f"maac.{k}": v for k, v in hashes.items()}}
    return train(recipe, cfg, _tracker(runtime, settings, stage.run_name, tags))


def run_encoder(settings: dict[str, Any], phase: str, files: StageFiles,
                runtime: Runtime) -> dict[str, Any]:
    """Stage 1, phase ``frozen`` (``files.pretrained`` when settings name one) or
    ``finetune`` (from ``files.init``, the frozen phase's checkpoint)."""
    from maac.training.encoder_stage import EncoderRecipe

    name = f"encoder_{phase}"
    if phase == "finetune" and files.init is None:
        raise MaacError(f"{name}: no --init given (the frozen phase's checkpoint)")
    if phase == "frozen" and "pretrained" in settings and files.pretrained is None:
        raise MaacError(f"{name}: settings name pretrained.file "
                        f"{settings['pretrained']['file']!r}; pass it as --pretrained")
    splits = settings["dataset"]["splits"]
    seed = settings["seed"]

    def recipe(device: torch.device, inputs: dict[str, Path], hashes: dict[str, str]) -> Recipe:
        train_split = load_split(inputs["features_train"], splits["train"],
                                 labels=inputs["labels_train"], audio_cfg=settings["audio"])
        val_split = load_split(inputs["features_validation"], splits["validation"],
                               labels=inputs["labels_validation"], audio_cfg=settings["audio"])
        text_hashes = {k: hashes[k] for k in ("vocab_sha256", "keywords_sha256")}
        return EncoderRecipe(settings, phase, train_split, val_split, device, seed, text_hashes,
                             init=files.init if phase == "finetune" else None,
                             pretrained=files.pretrained if phase == "frozen" else None)

    extra = {"phase": phase, "pretrained": files.pretrained is not None and phase == "frozen"}
    stage = _Stage(name, "labels", seed, {"seed": str(seed)}, {}, name,
                   settings["encoder"][phase], "val_map", lambda: extra, recipe)
    return _run_stage(settings, files, stage, runtime)


def run_captioner(settings: dict[str, Any], phase: str, variant: str, seed: int,
                  files: StageFiles, runtime: Runtime, no_audio: bool = False,
                  ) -> dict[str, Any]:
    """Stage 2 (``ce``, from the encoder checkpoint ``files.init``) or 3 (``rl``, from the CE
    checkpoint ``files.init`` and its encoder ``files.encoder``) of one variant and seed."""
    from maac.evaluation.java_setup import spice_installed
    from maac.training.captioner_stage import (
        CERecipe,
        SCSTRecipe,
        captioner_for_ce,
        captioner_for_rl,
    )

    if phase not in ("ce", "rl"):
        raise ValueError(f"phase must be ce or rl, not {phase!r}")
    name = f"captioner_{phase}"
    if files.init is None:
        raise MaacError(f"{name}: no --init given (the "
                        f"{'encoder' if phase == 'ce' else 'CE'} checkpoint)")
    splits = settings["dataset"]["splits"]

    def recipe(device: torch.device, inputs: dict[str, Path], hashes: dict[str, str]) -> Recipe:
        vocab = Vocabulary.load(inputs["vocab"])
        keywords = KeywordTable.load(inputs["keywords"]).words
        text_hashes = {k: hashes[k] for k in ("vocab_sha256", "keywords_sha256")}
        if phase == "ce":
            model = captioner_for_ce(settings, variant, inputs["init"], vocab, keywords,
                                     text_hashes, str(inputs["keywords"]), hashes["init_sha256"])
        else:
            model = captioner_for_rl(inputs["init"], variant, vocab, keywords, text_hashes,
                                     files.encoder)
        train_split = load_split(inputs["features_train"], splits["train"],
                                 captions=inputs["captions_train"], audio_cfg=settings["audio"])
        val_split = load_split(inputs["features_validation"], splits["validation"],
                               captions=inputs["captions_validation"],
                               audio_cfg=settings["audio"])
        recipe_type = CERecipe if phase == "ce" else SCSTRecipe
        return recipe_type(settings, train_split, val_split, vocab, model, device, seed,
                           no_audio=no_audio)

    def extra() -> dict[str, Any]:
        return {"variant": variant, "seed": seed, "no_audio": no_audio,
                "spider": "computed (val_spider)" if spice_installed() else
                          "not computed: SPICE (Java + Stanford CoreNLP) is not installed"}

    run_name = f"{name} {variant} seed{seed}" + (" no-audio" if no_audio else "")
    spec = _Stage(name, "captions", seed,
                  {"variant": variant, "seed": str(seed), "no_audio": str(no_audio)},
                  {"maac.variant": variant, "maac.seed": str(seed)}, run_name,
                  settings["captioner"][phase], "val_cider_d", extra, recipe)
    return _run_stage(settings, files, spec, runtime)
