"""Stage 1: keyword-encoder pre-training (paper Eq. 1-2), two phases.

- ``frozen``: the ResNet38 trunk is frozen in eval mode (PANNs weights at width 1, random
  weights at other widths, e.g. the demo); only the keyword heads and classifier train.
  Paper: lr 1e-3, 80 epochs.
- ``finetune``: the whole encoder trains, starting from the frozen phase's best checkpoint.
  Paper: lr 5e-4, 25 epochs.
Loss: binary cross-entropy on the multi-hot keywords, with Mixup (one lambda for features and
labels), SpecAugment and SpecAugment++ (:mod:`maac.training.augment`). Validation: mean average
precision over the keywords that occur in the validation split (``val_map``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from maac.config import section_hash
from maac.errors import MaacError
from maac.models.captioner import build_keyword_encoder
from maac.models.checkpoint import read_checkpoint
from maac.models.keyword_encoder import KeywordEncoder, keyword_loss
from maac.training.augment import EncoderAugment
from maac.training.batches import Split, chunks, epoch_order
from maac.training.loop import Recipe
from maac.training.settings import ENCODER_ARCH, LoopSettings

ENCODER_FORMAT = "maac-encoder/1"


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean over keywords with a positive clip of the average precision of ``scores``."""
    aps = []
    for k in range(targets.shape[1]):
        positives = targets[:, k] > 0
        if not positives.any():
            continue
        order = np.argsort(-scores[:, k], kind="stable")
        hits = positives[order]
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        aps.append(float(precision[hits].mean()))
    return float(np.mean(aps)) if aps else 0.0


def encoder_meta(encoder_cfg: dict[str, Any], encoder: KeywordEncoder, n_mels: int,
                 text_hashes: dict[str, str]) -> dict[str, Any]:
    arch = {k: encoder_cfg[k] for k in ENCODER_ARCH}
    return {"format": ENCODER_FORMAT, "encoder": arch, "num_keywords": encoder.num_keywords,
            "n_mels": n_mels, "config_hash": section_hash(arch), **text_hashes}


def load_encoder_checkpoint(
    path: Path | str, encoder_cfg: dict[str, Any], num_keywords: int, keywords_sha256: str
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """An encoder checkpoint's weights, refused unless it fits this config and keyword table."""
    state_dict, meta = read_checkpoint(path)
    if meta.get("format") != ENCODER_FORMAT:
        raise MaacError(f"{path}: not a keyword-encoder checkpoint (format {meta.get('format')!r})")
    for key in ("width", "head_dim"):
        if meta["encoder"].get(key) != encoder_cfg[key]:
            raise MaacError(
                f"{path}: trained with encoder.{key} {meta['encoder'].get(key)}, the config says "
                f"{encoder_cfg[key]}; retrain the encoder or restore the config"
            )
    if meta["num_keywords"] != num_keywords or meta.get("keywords_sha256") != keywords_sha256:
        raise MaacError(
            f"{path}: trained with another keyword table ({meta['num_keywords']} keywords, sha256 "
            f"{str(meta.get('keywords_sha256'))[:12]}); this one has {num_keywords} (sha256 "
            f"{keywords_sha256[:12]}); retrain the encoder with this keyword table"
        )
    return state_dict, meta


class EncoderRecipe(Recipe):
    """Keyword-encoder training, phase ``frozen`` or ``finetune``."""

    def __init__(
        self,
        settings: dict[str, Any],
        phase: str,
        train: Split,
        val: Split,
        device: torch.device,
        seed: int,
        text_hashes: dict[str, str],
        init: Path | None = None,
        pretrained: Path | None = None,
    ) -> None:
        if phase not in ("frozen", "finetune"):
            raise ValueError(f"phase must be frozen or finetune, not {phase!r}")
        if train.labels is None or val.labels is None:
            raise ValueError("the encoder stage needs keyword labels")
        self.cfg = settings["encoder"]
        self.phase, self.train_split, self.val, self.device = phase, train, val, device
        self.seed = seed
        self.batch_size = LoopSettings.of(settings, self.cfg[phase]).batch_size
        n_mels = settings["audio"]["n_mels"]
        num_keywords = train.labels.shape[1]
        self.model = build_keyword_encoder(self.cfg, num_keywords, n_mels)
        if init is not None:
            state_dict, _ = load_encoder_checkpoint(init, self.cfg, num_keywords,
                                                    text_hashes["keywords_sha256"])
            self.model.load_state_dict(state_dict, strict=True)
        elif pretrained is not None:
            from maac.audio.frontend import mel_filterbank
            from maac.models.resnet38 import load_panns_checkpoint

            load_panns_checkpoint(self.model.trunk, pretrained, mel_filterbank(settings["audio"]))
        elif phase == "finetune":
            raise MaacError("phase finetune starts from the frozen phase's best checkpoint: "
                            "pass --init results/{run}/encoder/frozen/best.pt")
        self.model.to(device)
        if phase == "frozen":
            for p in self.model.trunk.parameters():
                p.requires_grad_(False)
        self.meta = encoder_meta(self.cfg, self.model, n_mels, text_hashes)
        self.augment = EncoderAugment(self.cfg)
        self.train_labels = torch.from_numpy(train.labels.astype(np.float32))

    def trainable(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def train_mode(self) -> None:
        self.model.train()
        if self.phase == "frozen":
            self.model.trunk.eval()  # frozen: BatchNorm statistics and dropout as in inference

    def batches(self, epoch: int) -> list[list[int]]:
        return chunks(epoch_order(len(self.train_split), self.seed, epoch), self.batch_size)

    def step(self, batch: list[int], epoch: int) -> tuple[Tensor, int]:
        features, lengths = self.train_split.features(batch, self.device)
        targets = self.train_labels[batch].to(self.device)
        self.augment.new_batch(len(batch), self.device)
        if self.phase == "frozen":
            x = self.augment.apply_to_input(features, lengths, self.model.trunk)
            out = self.model(x, lengths)
        else:
            out = self.model(features, lengths, self.augment)
        return keyword_loss(out.logits.float(), self.augment.mix_targets(targets)), len(batch)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        self.model.eval()
        order = np.argsort(self.val.lengths, kind="stable").tolist()
        logits = np.zeros(self.val.labels.shape, dtype=np.float32)  # type: ignore[union-attr]
        for idx in chunks(order, self.batch_size):
            features, lengths = self.val.features(idx, self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16,
                                enabled=self.device.type == "cuda"):
                out = self.model(features, lengths)
            logits[idx] = out.logits.float().cpu().numpy()
        targets = self.val.labels.astype(np.float32)  # type: ignore[union-attr]
        loss = float(keyword_loss(torch.from_numpy(logits), torch.from_numpy(targets)))
        return {"val_loss": loss, "val_map": mean_average_precision(logits, targets)}

    def checkpoint(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        return self.model.state_dict(), self.meta
