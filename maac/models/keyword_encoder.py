"""The pre-trained keyword encoder (paper Eq. 1-2): ResNet38 trunk + multi-level keyword heads.

Eq. 1: features after ``resnet.layer2``, ``resnet.layer3`` and ``conv_block_after1`` are each
pooled (mean over frequency, then max + mean over the clip's valid frames, as PANNs pools) and
passed through their own Linear -> head_dim and ReLU.
Eq. 2: the three are concatenated; Linear -> N keywords; sigmoid; trained with binary
cross-entropy on the multi-hot keyword vector (:func:`keyword_loss`).

The encoder also returns the acoustic sequence X: ``conv_block_after1`` averaged over frequency,
(B, L, 2048 * width) with L = T // 32, and its padding mask. The decoder projects X to X^
(Linear -> acoustic_dim); that projection belongs to the decoder because the keyword loss never
reaches it, so it must train with the captioner while this encoder is frozen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from maac.models.resnet38 import LEVELS, Augment, ResNet38Trunk


@dataclass
class EncoderOutput:
    """What the keyword encoder gives the decoder, batched over clips."""

    logits: Tensor  # (B, N) keyword logits (Eq. 2 before the sigmoid)
    probs: Tensor  # (B, N) keyword probabilities
    sequence: Tensor  # (B, L, 2048 * width) acoustic sequence X, zero on padded frames
    mask: Tensor  # (B, L) bool, True on valid frames

    def index_select(self, index: Tensor) -> EncoderOutput:
        """The outputs of clips ``index`` (e.g. each clip repeated once per beam)."""
        return EncoderOutput(*(t.index_select(0, index) for t in
                               (self.logits, self.probs, self.sequence, self.mask)))

    def detach(self) -> EncoderOutput:
        return EncoderOutput(self.logits.detach(), self.probs.detach(), self.sequence.detach(),
                             self.mask)


def pool_level(x: Tensor, lengths: Tensor) -> Tensor:
    """(B, C, T, F) -> (B, C): mean over frequency, then max + mean over valid frames (Eq. 1)."""
    x = x.mean(dim=3)
    valid = torch.arange(x.shape[2], device=x.device)[None, :] < lengths[:, None]  # (B, T)
    valid = valid[:, None, :]
    peak = x.masked_fill(~valid, float("-inf")).amax(dim=2)
    mean = (x * valid).sum(dim=2) / lengths[:, None].to(x.dtype)
    return peak + mean


class KeywordEncoder(nn.Module):
    """ResNet38 trunk with the multi-level keyword classifier (Eq. 1-2).

    ``forward(features (B, T, n_mels), lengths (B,))`` -> :class:`EncoderOutput`.
    """

    def __init__(
        self, num_keywords: int, width: float = 1.0, head_dim: int = 2048, n_mels: int = 64
    ) -> None:
        super().__init__()
        self.num_keywords = num_keywords
        self.trunk = ResNet38Trunk(width, n_mels)
        chans = self.trunk.level_channels
        self.heads = nn.ModuleDict({name: nn.Linear(chans[name], head_dim) for name in LEVELS})
        self.classifier = nn.Linear(len(LEVELS) * head_dim, num_keywords)
        self.sequence_dim = chans["conv_block_after1"]
        for layer in [*self.heads.values(), self.classifier]:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(
        self, features: Tensor, lengths: Tensor | None = None, augment: Augment | None = None
    ) -> EncoderOutput:
        levels = self.trunk(features, lengths, augment)
        pooled = [F.relu(self.heads[name](pool_level(*levels[name]))) for name in LEVELS]  # Eq. 1
        logits = self.classifier(torch.cat(pooled, dim=1))  # Eq. 2
        x, last = levels["conv_block_after1"]
        mask = torch.arange(x.shape[2], device=x.device)[None, :] < last[:, None]
        sequence = x.mean(dim=3).transpose(1, 2) * mask[:, :, None]  # X: (B, L, C)
        return EncoderOutput(logits, torch.sigmoid(logits), sequence, mask)


def keyword_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Binary cross-entropy of Eq. 2's keyword probabilities against multi-hot ``targets``."""
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))
