"""PANNs' ResNet38 trunk, from ``bn0`` to ``conv_block_after1``, on precomputed log-mel input.

The module names equal PANNs' (Kong et al. 2020) so that the official checkpoint
``ResNet38_mAP=0.434.pth`` loads strictly into this trunk. Structure, at ``width`` 1:

    bn0 (BatchNorm2d over the 64 mel bins)
    conv_block1        ConvBlock 1 -> 64, avg-pool 2x2, dropout 0.2
    resnet.layer1..4   BasicBlocks [3, 4, 6, 3], 64/128/256/512 channels, strides 1/2/2/2
    avg-pool 2x2, dropout 0.2
    conv_block_after1  ConvBlock 512 -> 2048, no pooling, dropout 0.2

``width`` multiplies every channel count (our addition: width 0.125 runs on a CPU).

Padding. A batch holds clips of different lengths, padded at the end. Every convolution
reads its neighbours, so padded frames would leak into a clip's last valid frames. We make
padded frames exactly equivalent to the convolutions' own zero padding: after ``bn0`` and
after every activation and pooling, frames at or beyond a clip's length (at that resolution)
are set to zero, and in training mode BatchNorm takes its batch statistics over valid frames
only. A clip padded in a batch therefore gives the same outputs as the clip alone (eval mode,
up to float rounding), and the pad value in the input does not matter. Lengths shrink with
every 2x2 pooling by floor division, as the pooling does; 32 input frames give one output
frame. A batch without padding takes the plain (unmasked) path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from maac.errors import MaacError

# Hook for augmentation inside the trunk (Mixup/SpecAugment after bn0, SpecAugment++ on hidden
# activations): called as augment(point, x) at each point in AUGMENT_POINTS in training only.
Augment = Callable[[str, Tensor], Tensor]
AUGMENT_POINTS = ("bn0", "conv_block1", "layer1", "layer2", "layer3", "layer4")

# The levels the keyword encoder taps (Eq. 1) and their channel counts at width 1.
LEVELS = {"layer2": 128, "layer3": 256, "conv_block_after1": 2048}
MIN_FRAMES = 32  # total time pooling of the trunk: fewer input frames give no output frame

# Keys of the official checkpoint that the trunk does not use: the on-line front end (ours is
# offline; melW is checked against it) and the AudioSet classifier head.
UNUSED_CHECKPOINT_KEYS = frozenset({
    "spectrogram_extractor.stft.conv_real.weight",
    "spectrogram_extractor.stft.conv_imag.weight",
    "logmel_extractor.melW",
    "fc1.weight",
    "fc1.bias",
    "fc_audioset.weight",
    "fc_audioset.bias",
})


def channels(c: int, width: float) -> int:
    """PANNs' channel count ``c`` scaled by the width multiplier (at least 1)."""
    return max(1, int(round(c * width)))


def time_mask(lengths: Tensor | None, frames: int, like: Tensor) -> Tensor | None:
    """(B, 1, frames, 1) float mask, 1 on valid frames; None when the batch has no padding."""
    if lengths is None:
        return None
    steps = torch.arange(frames, device=like.device)
    return (steps[None, :] < lengths[:, None]).to(like.dtype)[:, None, :, None]


def _masked(x: Tensor, mask: Tensor | None) -> Tensor:
    return x if mask is None else x * mask


class MaskedBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics ignore padded frames (same parameters and buffers).

    ``mask`` is (B, 1, T, 1) with 1 on valid frames; without it, or in eval mode, this is
    exactly ``nn.BatchNorm2d``.
    """

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        if mask is None or not self.training or not self.track_running_stats:
            return super().forward(x)
        count = mask.sum() * x.shape[3]
        mean = (x * mask).sum(dim=(0, 2, 3)) / count
        centred = x - mean[None, :, None, None]
        var = (centred.square() * mask).sum(dim=(0, 2, 3)) / count
        with torch.no_grad():
            self.num_batches_tracked += 1
            factor = self.momentum
            if factor is None:  # cumulative moving average, as nn.BatchNorm2d does
                factor = 1.0 / float(self.num_batches_tracked)
            unbiased = var * count / (count - 1).clamp(min=1)
            self.running_mean.lerp_(mean.detach(), factor)
            self.running_var.lerp_(unbiased.detach(), factor)
        scale = torch.rsqrt(var + self.eps)
        if self.affine:
            return centred * (scale * self.weight)[None, :, None, None] + self.bias[
                None, :, None, None
            ]
        return centred * scale[None, :, None, None]


def _conv3x3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=1, padding=1, bias=False)


class ConvBlock(nn.Module):
    """PANNs' ConvBlock: (3x3 conv, BN, ReLU) twice, then average pooling."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(c_in, c_out)
        self.conv2 = _conv3x3(c_out, c_out)
        self.bn1 = MaskedBatchNorm2d(c_out)
        self.bn2 = MaskedBatchNorm2d(c_out)

    def forward(self, x: Tensor, lengths: Tensor | None, pool: int) -> tuple[Tensor, Tensor | None]:
        m = time_mask(lengths, x.shape[2], x)
        x = _masked(F.relu(self.bn1(self.conv1(x), m)), m)
        x = _masked(F.relu(self.bn2(self.conv2(x), m)), m)
        if pool > 1:
            x = F.avg_pool2d(x, kernel_size=pool)
            lengths = None if lengths is None else lengths // pool
            x = _masked(x, time_mask(lengths, x.shape[2], x))
        return x, lengths


class BasicBlock(nn.Module):
    """PANNs' ResNet BasicBlock: a stride-2 block average-pools 2x2 before conv1."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv1 = _conv3x3(c_in, c_out)
        self.bn1 = MaskedBatchNorm2d(c_out)
        self.conv2 = _conv3x3(c_out, c_out)
        self.bn2 = MaskedBatchNorm2d(c_out)
        self.downsample: nn.Sequential | None = None
        if stride == 2:  # named downsample.{1,2} in the checkpoint; index 0 has no weights
            self.downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=2),
                nn.Conv2d(c_in, c_out, kernel_size=1, bias=False),
                MaskedBatchNorm2d(c_out),
            )
        elif c_in != c_out:
            raise ValueError("a stride-1 block keeps its channel count")

    def forward(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor | None]:
        out = x  # padded frames of x are already zero
        if self.stride == 2:
            out = F.avg_pool2d(x, kernel_size=2)
            lengths = None if lengths is None else lengths // 2
        m = time_mask(lengths, out.shape[2], out)
        if self.stride == 2:
            out = _masked(out, m)  # a pooled pair straddling the clip's end
        out = _masked(F.relu(self.bn1(self.conv1(out), m)), m)
        out = F.dropout(out, p=0.1, training=self.training)
        out = self.bn2(self.conv2(out), m)
        identity = x
        if self.downsample is not None:
            pool, conv, bn = self.downsample
            identity = bn(conv(pool(x)), m)
        return _masked(F.relu(out + identity), m), lengths


class ResNetLayers(nn.Module):
    """PANNs' ``resnet``: four layers of BasicBlocks, [3, 4, 6, 3] blocks."""

    def __init__(self, width: float) -> None:
        super().__init__()
        c_in = channels(64, width)
        for i, (c, n, stride) in enumerate(
            [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=1
        ):
            c_out = channels(c, width)
            blocks = [BasicBlock(c_in, c_out, stride)]
            blocks += [BasicBlock(c_out, c_out, 1) for _ in range(n - 1)]
            setattr(self, f"layer{i}", nn.ModuleList(blocks))
            c_in = c_out


class ResNet38Trunk(nn.Module):
    """PANNs ResNet38 from ``bn0`` to ``conv_block_after1`` (the encoder of paper Eq. 1).

    ``forward(x, lengths)`` takes log-mel features (B, T, n_mels) and valid lengths (B,) and
    returns, for each level of :data:`LEVELS`, its feature map (B, C, T', F') and valid lengths.
    """

    def __init__(self, width: float = 1.0, n_mels: int = 64) -> None:
        super().__init__()
        self.width = width
        self.bn0 = MaskedBatchNorm2d(n_mels)
        self.conv_block1 = ConvBlock(1, channels(64, width))
        self.resnet = ResNetLayers(width)
        self.conv_block_after1 = ConvBlock(channels(512, width), channels(2048, width))
        self.level_channels = {name: channels(c, width) for name, c in LEVELS.items()}
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PANNs' initialisation: Xavier-uniform convolutions, BN 1/0, residual bn2 zeroed."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            if isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, augment: Augment | None = None
    ) -> dict[str, tuple[Tensor, Tensor]]:
        batch, frames, _ = x.shape
        if lengths is None:
            lengths = torch.full((batch,), frames, dtype=torch.long, device=x.device)
        if int(lengths.min()) < MIN_FRAMES or int(lengths.max()) > frames:
            raise MaacError(
                f"feature lengths must lie in [{MIN_FRAMES}, {frames}] frames (the trunk pools "
                f"time by 32); got {lengths.tolist()}"
            )
        lengths = lengths.to(device=x.device, dtype=torch.long)
        padded: Tensor | None = lengths if bool((lengths < frames).any()) else None
        augment = augment if self.training else None

        m = time_mask(padded, frames, x)
        x = self.bn0(x[:, None].transpose(1, 3), m).transpose(1, 3)  # BN over the mel axis
        x = _masked(x, m)
        x = self._augment(augment, "bn0", x, padded)
        x, padded = self.conv_block1(x, padded, pool=2)
        x = F.dropout(x, p=0.2, training=self.training)
        x = self._augment(augment, "conv_block1", x, padded)
        out: dict[str, tuple[Tensor, Tensor]] = {}
        for name in ("layer1", "layer2", "layer3", "layer4"):
            for block in getattr(self.resnet, name):
                x, padded = block(x, padded)
            x = self._augment(augment, name, x, padded)
            if name in LEVELS:
                out[name] = (x, self._lengths(padded, x))
        x = F.avg_pool2d(x, kernel_size=2)
        padded = None if padded is None else padded // 2
        x = _masked(x, time_mask(padded, x.shape[2], x))
        x = F.dropout(x, p=0.2, training=self.training)
        x, padded = self.conv_block_after1(x, padded, pool=1)
        x = F.dropout(x, p=0.2, training=self.training)
        out["conv_block_after1"] = (x, self._lengths(padded, x))
        return out

    @staticmethod
    def _augment(augment: Augment | None, point: str, x: Tensor, lengths: Tensor | None) -> Tensor:
        if augment is None:
            return x
        return _masked(augment(point, x), time_mask(lengths, x.shape[2], x))

    @staticmethod
    def _lengths(lengths: Tensor | None, x: Tensor) -> Tensor:
        if lengths is None:
            return torch.full((x.shape[0],), x.shape[2], dtype=torch.long, device=x.device)
        return lengths


def load_panns_checkpoint(
    trunk: ResNet38Trunk, path: Path | str, mel_filterbank: np.ndarray | Tensor
) -> list[str]:
    """Load PANNs' ``ResNet38_mAP=0.434.pth`` into ``trunk``; return the unused keys it held.

    Every trunk key must be present with the same shape; the only keys allowed to go unused are
    :data:`UNUSED_CHECKPOINT_KEYS`; anything else is a MaacError naming the key. The checkpoint's
    ``logmel_extractor.melW`` must equal ``mel_filterbank`` (our front end, (513, 64)), or the
    weights would see features unlike those they were trained on.
    """
    path = Path(path)
    if trunk.width != 1.0:
        raise MaacError(f"{path}: PANNs weights fit only encoder.width 1.0, not {trunk.width}")
    if not path.is_file():
        raise MaacError(f"{path}: PANNs checkpoint not found (run `maac download panns`)")
    try:
        checkpoint: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors have many types
        raise MaacError(f"{path}: not a readable PyTorch checkpoint ({err})") from err
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise MaacError(f"{path}: expected PANNs' checkpoint with its weights under 'model'")
    weights: dict[str, Tensor] = checkpoint["model"]

    mel = weights.get("logmel_extractor.melW")
    if mel is None:
        raise MaacError(f"{path}: missing key 'logmel_extractor.melW' (the mel filter bank)")
    ours = torch.as_tensor(mel_filterbank, dtype=torch.float32)
    if tuple(mel.shape) != tuple(ours.shape) or not torch.allclose(
        mel.float(), ours, rtol=1e-4, atol=1e-6
    ):
        raise MaacError(
            f"{path}: logmel_extractor.melW {tuple(mel.shape)} differs from our front end's mel "
            f"filter bank {tuple(ours.shape)}; the audio config must be PANNs' (32 kHz, n_fft "
            "1024, 64 mels, 50-14000 Hz)"
        )

    expected = trunk.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected) - UNUSED_CHECKPOINT_KEYS)
    if missing:
        raise MaacError(f"{path}: missing trunk key(s) {', '.join(missing)}")
    if unexpected:
        raise MaacError(f"{path}: unexpected key(s) {', '.join(unexpected)}")
    for key, value in expected.items():
        if tuple(weights[key].shape) != tuple(value.shape):
            raise MaacError(
                f"{path}: key {key} has shape {tuple(weights[key].shape)}, the trunk expects "
                f"{tuple(value.shape)}"
            )
    trunk.load_state_dict({key: weights[key] for key in expected}, strict=True)
    return sorted(set(weights) - set(expected))
