"""Run one stage from its settings and input files: what ``maac train`` and the rules call.

Inputs default to the dataset's artifact paths (``maac.paths``) and outputs to
``results/{run}/encoder/{phase}/`` or ``results/{run}/{variant}/seed{seed}/{ce,rl}/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from maac import paths
from maac.config import section_hash
from maac.errors import MaacError
from maac.paths import captioner_dir, encoder_dir
from maac.text.build import captions_jsonl, labels_npz
from maac.text.keywords import KeywordTable
from maac.text.vocabulary import Vocabulary
from maac.training.data import load_split
from maac.training.loop import LoopConfig, NoTracker, Tracker, train
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


@dataclass
class Inputs:
    """The files a stage reads (None: the dataset's default path)."""

    features_dir: Path | None = None
    text_dir: Path | None = None
    init: Path | None = None  # finetune: frozen best; ce: encoder best; rl: ce checkpoint
    pretrained: Path | None = None
    encoder: Path | None = None  # rl: the encoder checkpoint the CE captioner names
    extra: dict[str, Path] = field(default_factory=dict)

    def features(self, settings: dict[str, Any], split: str) -> Path:
        if self.features_dir is not None:
            return self.features_dir / f"{split}.h5"
        return paths.features_h5(settings["dataset"]["name"], split)

    def text(self, settings: dict[str, Any]) -> Path:
        return self.text_dir or paths.text_dir(settings["dataset"]["name"])


def _hashes(files: dict[str, Path]) -> dict[str, str]:
    return {f"{key}_sha256": file_sha256(path) for key, path in files.items()}


def _tracker(runtime: Runtime, settings: dict[str, Any], run_name: str,
             tags: dict[str, str]) -> Tracker:
    if not runtime.tracking:
        return NoTracker()
    from maac.tracking.mlflow_tracker import MlflowTracker

    return MlflowTracker(settings["run"], run_name, settings, tags)



def _stage_files(settings: dict[str, Any], inputs: Inputs, text_dir: Path, kind: str,
                 text_file: Any) -> dict[str, Path]:
    """The inputs every stage reads: train/validation features, their ``kind`` text files
    (``text_file(text_dir, split)``: labels or captions), the keyword table and vocabulary."""
    splits = settings["dataset"]["splits"]
    return {
        "features_train": inputs.features(settings, splits["train"]),
        "features_validation": inputs.features(settings, splits["validation"]),
        f"{kind}_train": text_file(text_dir, splits["train"]),
        f"{kind}_validation": text_file(text_dir, splits["validation"]),
        "keywords": text_dir / "keywords.csv",
        "vocab": text_dir / "vocab.json",
    }

def run_encoder(settings: dict[str, Any], phase: str, inputs: Inputs, runtime: Runtime,
                out_dir: Path | None = None) -> dict[str, Any]:
    """Stage 1, phase ``frozen`` or ``finetune``."""
    from maac.training.encoder_stage import EncoderRecipe

    device = runtime.setup()
    stage = f"encoder_{phase}"
    text_dir = inputs.text(settings)
    splits = settings["dataset"]["splits"]
    files = _stage_files(settings, inputs, text_dir, "labels", labels_npz)
    init = inputs.init
    if phase == "finetune" and init is None:
        init = encoder_dir(settings["run"], "frozen") / "best.pt"
    pretrained = inputs.pretrained
    if phase == "frozen" and "pretrained" in settings and pretrained is None:
        pretrained = paths.pretrained_checkpoint(settings["pretrained"]["file"])
    for key, path in (("init", init), ("pretrained", pretrained)):
        if path is not None:
            files[key] = path
    missing = [str(p) for p in files.values() if not Path(p).is_file()]
    if missing:
        raise MaacError(f"{stage}: input not found: {', '.join(missing)}")
    hashes = _hashes(files)
    seed = int(settings["seed"])
    identity = {"stage": stage, "config_hash": section_hash(settings), "seed": str(seed),
                **hashes}
    seed_everything(seed)
    train_split = load_split(files["features_train"], splits["train"],
                             labels=files["labels_train"], audio_cfg=settings["audio"])
    val_split = load_split(files["features_validation"], splits["validation"],
                           labels=files["labels_validation"], audio_cfg=settings["audio"])
    text_hashes = {k: hashes[k] for k in ("vocab_sha256", "keywords_sha256")}
    recipe = EncoderRecipe(settings, phase, train_split, val_split, device, seed, text_hashes,
                           init=init if phase == "finetune" else None,
                           pretrained=pretrained if phase == "frozen" else None)
    enc = settings["encoder"][phase]
    cfg = LoopConfig(stage, int(enc["epochs"]), float(enc["lr"]),
                     float(settings["training"]["lr_decay"]),
                     float(settings["training"]["grad_clip"]), "val_map",
                     out_dir or encoder_dir(settings["run"], phase), device, identity,
                     runtime.progress,
                     {"phase": phase, "pretrained": pretrained is not None and phase == "frozen"})
    tags = {"maac.stage": stage, "maac.config_hash": identity["config_hash"],
            **{f"maac.{k}": v for k, v in hashes.items()}}
    return train(recipe, cfg, _tracker(runtime, settings, stage, tags))


def run_captioner(settings: dict[str, Any], stage: str, variant: str, seed: int, inputs: Inputs,
                  runtime: Runtime, out_dir: Path | None = None, no_audio: bool = False,
                  ) -> dict[str, Any]:
    """Stage 2 (``ce``) or 3 (``rl``) of one variant and seed."""
    from maac.training.captioner_stage import (
        CERecipe,
        SCSTRecipe,
        captioner_for_ce,
        captioner_for_rl,
    )

    if stage not in ("ce", "rl"):
        raise ValueError(f"stage must be ce or rl, not {stage!r}")
    device = runtime.setup()
    name = f"captioner_{stage}"
    text_dir = inputs.text(settings)
    splits = settings["dataset"]["splits"]
    run = settings["run"]
    sub = settings["captioner"][stage]
    init = inputs.init
    if init is None:
        init = (encoder_dir(run, "finetune") / "best.pt" if stage == "ce" else
                captioner_dir(run, variant, seed, "ce") / f"{sub['start_from']}.pt")
    files = {**_stage_files(settings, inputs, text_dir, "captions", captions_jsonl),
             "init": init}
    missing = [str(p) for p in files.values() if not Path(p).is_file()]
    if missing:
        raise MaacError(f"{name}: input not found: {', '.join(missing)}")
    hashes = _hashes(files)
    identity = {"stage": name, "config_hash": section_hash(settings), "variant": variant,
                "seed": str(seed), "no_audio": str(no_audio), **hashes}
    seed_everything(seed)
    vocab = Vocabulary.load(files["vocab"])
    keywords = KeywordTable.load(files["keywords"]).words
    text_hashes = {k: hashes[k] for k in ("vocab_sha256", "keywords_sha256")}
    if stage == "ce":
        model = captioner_for_ce(settings, variant, init, vocab, keywords, text_hashes,
                                 str(files["keywords"]), hashes["init_sha256"])
    else:
        model = captioner_for_rl(init, variant, vocab, keywords, text_hashes, inputs.encoder)
    train_split = load_split(files["features_train"], splits["train"],
                             captions=files["captions_train"], audio_cfg=settings["audio"])
    val_split = load_split(files["features_validation"], splits["validation"],
                           captions=files["captions_validation"], audio_cfg=settings["audio"])
    cache = bool(sub.get("cache_encoder", True))
    recipe_type = CERecipe if stage == "ce" else SCSTRecipe
    recipe = recipe_type(settings, train_split, val_split, vocab, model, device, seed, cache,
                         no_audio)
    from maac.training.captioner_stage import spice_score

    spice = spice_score({"x": ["a"]}, {"x": [["a"]]}) is not None
    cfg = LoopConfig(
        name, int(sub["epochs"]), float(sub["lr"]), float(settings["training"]["lr_decay"]),
        float(settings["training"]["grad_clip"]), "val_cider_d",
        out_dir or captioner_dir(run, variant, seed, stage), device, identity, runtime.progress,
        {"variant": variant, "seed": seed, "no_audio": no_audio,
         "spider": "computed (val_spider)" if spice else
                   "not computed: SPICE (Java + Stanford CoreNLP) is not installed"},
    )
    tags = {"maac.stage": name, "maac.variant": variant, "maac.seed": str(seed),
            "maac.config_hash": identity["config_hash"],
            **{f"maac.{k}": v for k, v in hashes.items()}}
    run_name = f"{name} {variant} seed{seed}" + (" no-audio" if no_audio else "")
    return train(recipe, cfg, _tracker(runtime, settings, run_name, tags))
