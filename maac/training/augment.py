"""Augmentation: Mixup, SpecAugment and SpecAugment++ for the keyword encoder; SpecAugment for
the captioner (paper: "SpecAugment and SpecAugment++ in training"; Mixup in the encoder only).

All three act in the space after ``bn0`` or deeper, as PANNs applies SpecAugment and Mixup:

- SpecAugment (Park et al. 2019, PANNs' stripe sizes): per clip, ``time_masks`` stripes of
  U[0, time_width) frames and ``freq_masks`` stripes of U[0, freq_width) mel bins set to zero
  after ``bn0`` (torchaudio's ``mask_along_axis_iid``).
- SpecAugment++ (Wang, Zou and Wang 2021, by the MAAC paper's first author): the same time and
  frequency stripes on a hidden activation of the trunk, shared by all its channels. Per batch,
  one point is drawn uniformly from ``specaugment_pp.points`` (outputs of ``conv_block1``,
  ``resnet.layer1..4``); stripe widths shrink with that point's pooling (x1/2 per 2x2 pool). The
  stripes are filled per ``scheme``: ``zero`` (zero-value masking), ``mean`` (the mini-batch
  mean at those positions) or ``exchange`` (the values of another clip of the batch: the
  paper's mini-batch cutting exchange).
- Mixup (Zhang et al. 2018, alpha from PANNs): x = lam x_i + (1 - lam) x_perm(i) after
  ``bn0`` with lam ~ Beta(alpha, alpha) per clip; the keyword targets are mixed with the SAME
  lam (the authors' code drew two different lambdas: docs/fidelity.md, row 14).

Two ways to apply them. While the trunk trains (phase finetune) :class:`EncoderAugment` is the
trunk's ``augment(point, x)`` hook. While the trunk is frozen in eval mode (phase frozen) the
hook never runs, and :meth:`EncoderAugment.apply_to_input` does the same on the log-mel input:
``bn0`` in eval mode is a per-bin affine map, so mixing inputs equals mixing after ``bn0``, and
filling stripes and padding with the value ``bn0`` maps to 0 equals zeroing after it. Hidden
activations are out of reach there, so SpecAugment++ acts in phase finetune only.

The captioner's stages keep the encoder frozen in eval mode, so :class:`InputSpecAugment`
applies the same input-side SpecAugment (the encoder's stripe sizes) to their training batches,
as the authors' code did in its CE and RL training (``--spec_augmentation``).
"""

from __future__ import annotations

from typing import Any

import torch
import torchaudio.functional as AF
from torch import Tensor

from maac.models.resnet38 import ResNet38Trunk
from maac.training.settings import SpecAugmentSettings, typed

# How much each hook point has pooled time and frequency (2x2 pools from the input).
POOLING = {"bn0": 1, "conv_block1": 2, "layer1": 2, "layer2": 4, "layer3": 8, "layer4": 16}
SCHEMES = ("zero", "mean", "exchange")


def stripe_mask(shape: tuple[int, int, int, int], counts: tuple[int, int],
                widths: tuple[int, int], device: torch.device) -> Tensor:
    """(B, 1, T, F) float mask, 0 on ``counts`` time / frequency stripes of U[0, width) each."""
    batch, _, frames, bins = shape
    mask = torch.ones(batch, 1, frames, bins, device=device)
    for axis, count, width in ((2, counts[0], widths[0]), (3, counts[1], widths[1])):
        for _ in range(count):
            mask = AF.mask_along_axis_iid(mask, width, 0.0, axis)
    return mask


def stripe_sizes(spec_cfg: dict[str, Any]) -> tuple[tuple[int, int], tuple[int, int]]:
    """(time_masks, freq_masks) and (time_width, freq_width) of a ``specaugment`` section."""
    s = typed(SpecAugmentSettings, spec_cfg)
    return (s.time_masks, s.freq_masks), (s.time_width, s.freq_width)


def mask_input(features: Tensor, lengths: Tensor, trunk: ResNet38Trunk,
               counts: tuple[int, int], widths: tuple[int, int]) -> Tensor:
    """SpecAugment on log-mel input (B, T, F) for a trunk in eval mode: stripes and padding set
    to the input that ``bn0`` maps to 0, which equals zeroing them after ``bn0``."""
    bn = trunk.bn0
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # bn0(x) = scale x + shift
    scale = torch.where(scale.abs() < 1e-8, torch.full_like(scale, 1e-8), scale)
    shift = bn.bias - bn.running_mean * scale
    zero = (-shift / scale).detach().to(features.dtype)  # the input bn0 maps to 0, (F,)
    frames = torch.arange(features.shape[1], device=features.device)
    padded = frames[None, :] >= lengths[:, None]  # (B, T)
    x = torch.where(padded[:, :, None], zero, features)
    keep = stripe_mask((x.shape[0], 1, x.shape[1], x.shape[2]), counts, widths,
                       x.device)[:, 0].to(x.dtype)
    return x * keep + zero * (1 - keep)


class InputSpecAugment:
    """SpecAugment of the captioner's training input, for its frozen encoder (eval mode).

    ``InputSpecAugment(encoder_cfg["specaugment"])(features, lengths, trunk)``: new stripes per
    clip at every call, drawn from torch's global generator (so a seeded, resumed stage draws
    the same ones).
    """

    def __init__(self, spec_cfg: dict[str, Any]) -> None:
        self.counts, self.widths = stripe_sizes(spec_cfg)

    def __call__(self, features: Tensor, lengths: Tensor, trunk: ResNet38Trunk) -> Tensor:
        return mask_input(features, lengths, trunk, self.counts, self.widths)


class EncoderAugment:
    """Mixup + SpecAugment (+ SpecAugment++) for one training batch of the keyword encoder.

    Call :meth:`new_batch` before each batch (it draws Mixup's lambdas and pairs, and the
    SpecAugment++ point), then run the trunk with this object as its hook, or transform the
    input with :meth:`apply_to_input`; mix the targets with :meth:`mix_targets`.
    """

    def __init__(self, encoder_cfg: dict[str, Any], mixup: bool = True) -> None:
        self.counts, self.widths = stripe_sizes(encoder_cfg["specaugment"])
        pp = encoder_cfg["specaugment_pp"]
        self.pp_points: list[str] = list(pp["points"])
        self.pp_scheme: str = pp["scheme"]
        unknown = [p for p in self.pp_points if p not in POOLING or p == "bn0"]
        if unknown or self.pp_scheme not in SCHEMES:
            raise ValueError(f"specaugment_pp: unknown points {unknown} or scheme {self.pp_scheme}")
        self.alpha = float(encoder_cfg["mixup_alpha"]) if mixup else 0.0
        self.lam: Tensor | None = None
        self.perm: Tensor | None = None
        self.pp_point: str | None = None

    def new_batch(self, batch: int, device: torch.device) -> None:
        """Draw this batch's Mixup lambdas (B,) and partners, and its SpecAugment++ point."""
        if self.alpha > 0 and batch > 1:
            beta = torch.distributions.Beta(torch.tensor(self.alpha), torch.tensor(self.alpha))
            self.lam = beta.sample((batch,)).to(device)
            self.perm = torch.randperm(batch).to(device)
        else:
            self.lam = self.perm = None
        self.pp_point = None
        if self.pp_points:
            self.pp_point = self.pp_points[int(torch.randint(len(self.pp_points), ()))]

    def mix(self, x: Tensor) -> Tensor:
        """Mixup of a batch (B, ...) with this batch's lambdas and partners."""
        if self.lam is None or self.perm is None:
            return x
        lam = self.lam.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        return lam * x + (1 - lam) * x[self.perm]

    def mix_targets(self, targets: Tensor) -> Tensor:
        """The keyword targets mixed with the same lambdas as the features (one lambda)."""
        return self.mix(targets.float())

    def _widths(self, point: str) -> tuple[int, int]:
        return tuple(max(1, w // POOLING[point]) if w else 0 for w in self.widths)  # type: ignore

    def __call__(self, point: str, x: Tensor) -> Tensor:
        """The trunk's hook: SpecAugment + Mixup after ``bn0``, SpecAugment++ at one point."""
        if point == "bn0":
            x = x * stripe_mask(tuple(x.shape), self.counts, self.widths, x.device).to(x.dtype)
            return self.mix(x)
        if point != self.pp_point:
            return x
        keep = stripe_mask(tuple(x.shape), self.counts, self._widths(point), x.device).to(x.dtype)
        if self.pp_scheme == "zero":
            fill = torch.zeros_like(x)
        elif self.pp_scheme == "mean":
            fill = x.mean(dim=0, keepdim=True).expand_as(x)
        else:
            fill = x[torch.randperm(x.shape[0], device=x.device)]
        return x * keep + fill * (1 - keep)

    def apply_to_input(self, features: Tensor, lengths: Tensor, trunk: ResNet38Trunk) -> Tensor:
        """SpecAugment + Mixup on log-mel input (B, T, F) for a trunk in eval mode (see above)."""
        return self.mix(mask_input(features, lengths, trunk, self.counts, self.widths))
