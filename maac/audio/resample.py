"""torchaudio's windowed-sinc resampling, computed block-sparsely for speed.

``torchaudio.transforms.Resample`` builds, for a rate ratio reduced to ``orig/new`` (441/320 for
44.1 -> 32 kHz), a kernel of ``new`` phases x (``orig`` + 2 * width) taps and applies it as a
dense strided convolution, although each phase has only about 2 * width non-zero taps. Here the
same kernel is applied by blocks of 32 consecutive phases to just the span of taps they use:
the same sums (to float rounding), 7.7 times fewer multiplications at 44.1 -> 32 kHz (why 32:
docs/performance.md, "Log-mel front end"). For ratios with
few phases (48 -> 32 kHz is 3/2) the dense kernel is already small, and torchaudio's own path
is used.
"""

from __future__ import annotations

import math

import torch
import torchaudio

PHASES_PER_BLOCK = 32  # fewer, larger matmuls than 8 (docs/performance.md, log-mel front end)


class Resampler:
    """Resample 1-D float32 waveforms from ``orig_sr`` to ``new_sr`` as torchaudio does."""

    def __init__(self, orig_sr: int, new_sr: int, phases_per_block: int = PHASES_PER_BLOCK):
        reference = torchaudio.transforms.Resample(orig_sr, new_sr)
        gcd = math.gcd(orig_sr, new_sr)
        self.orig, self.new = orig_sr // gcd, new_sr // gcd
        self.width = reference.width
        kernel = reference.kernel[:, 0]  # (new phases, taps)
        self.taps = kernel.shape[1]
        nonzero = kernel != 0
        taps = torch.arange(self.taps)
        self.blocks: list[tuple[int, int, torch.Tensor]] = []
        for p0 in range(0, self.new, phases_per_block):
            rows = kernel[p0 : p0 + phases_per_block]
            used = nonzero[p0 : p0 + phases_per_block].any(dim=0)
            lo = int(taps[used].min()) if used.any() else 0
            hi = int(taps[used].max()) + 1 if used.any() else 1
            self.blocks.append((lo, hi, rows[:, lo:hi].T.contiguous()))
        sparse_cost = sum((hi - lo) * w.shape[1] for lo, hi, w in self.blocks)
        self.reference = reference if 3 * sparse_cost > kernel.numel() else None

    def __call__(self, wave: torch.Tensor) -> torch.Tensor:
        if self.reference is not None:
            return self.reference(wave)
        length = wave.shape[-1]
        padded = torch.nn.functional.pad(wave, (self.width, self.width + self.orig))
        frames = padded.unfold(0, self.taps, self.orig)  # (outputs / new, taps), a view
        out = torch.cat([frames[:, lo:hi] @ weights for lo, hi, weights in self.blocks], dim=1)
        return out.reshape(-1)[: math.ceil(self.new * length / self.orig)]
