"""PANNs' audio front end: 32 kHz mono -> power STFT -> slaney mel (64, 50-14000 Hz) -> dB.

The pretrained ResNet38 (its ``bn0`` and trunk) was trained on exactly these features, so the
filter bank must equal PANNs' ``logmel_extractor.melW`` (librosa's slaney mel, transposed).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torchaudio


def mel_filterbank(audio_cfg: dict[str, Any]) -> np.ndarray:
    """The (n_fft // 2 + 1, n_mels) slaney mel filter bank: PANNs' ``melW``."""
    fb = torchaudio.functional.melscale_fbanks(
        n_freqs=audio_cfg["n_fft"] // 2 + 1,
        f_min=float(audio_cfg["f_min"]),
        f_max=float(audio_cfg["f_max"]),
        n_mels=audio_cfg["n_mels"],
        sample_rate=audio_cfg["sample_rate"],
        norm="slaney",
        mel_scale="slaney",
    )
    return fb.to(torch.float32).numpy()
