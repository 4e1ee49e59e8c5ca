"""PANNs' audio front end: 32 kHz mono -> power STFT -> slaney mel (64, 50-14000 Hz) -> dB.

The pretrained ResNet38 (its ``bn0`` and trunk) was trained on exactly these features, so the
filter bank must equal PANNs' ``logmel_extractor.melW`` (librosa's slaney mel, transposed), and
the STFT is PANNs': hann window of n_fft samples, centred frames with reflect padding, power 2.
(The authors' code fed 44.1 kHz, hop-512, magnitude-dB features into these weights: a bug.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import torchaudio

from maac.audio.resample import Resampler
from maac.errors import MaacError


class AudioReadError(MaacError):
    """A WAV that cannot be decoded or holds no samples."""


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


def read_wav(path: Path | str) -> tuple[np.ndarray, int]:
    """Samples of an audio file as float32 mono (channels averaged) and its sample rate."""
    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioReadError(
            f"{path}: cannot read audio ({err}); replace or remove the file"
        ) from err
    if audio.shape[0] == 0:
        raise AudioReadError(f"{path}: the file holds no samples; replace or remove it")
    return audio.mean(axis=1), int(sr)


class LogMel:
    """Log-mel features of PANNs' front end, from a file or a waveform at any sample rate."""

    def __init__(self, audio_cfg: dict[str, Any]):
        self.cfg = audio_cfg
        self.sample_rate = int(audio_cfg["sample_rate"])
        window = torch.hann_window(audio_cfg["win_length"], periodic=True)
        left = (audio_cfg["n_fft"] - audio_cfg["win_length"]) // 2  # centred in the FFT frame
        self.window = torch.nn.functional.pad(
            window, (left, audio_cfg["n_fft"] - audio_cfg["win_length"] - left)
        )
        self.mel = torch.from_numpy(mel_filterbank(audio_cfg))  # (freqs, mels)
        self._resamplers: dict[int, Resampler] = {}

    def resample(self, wave: torch.Tensor, sr: int) -> torch.Tensor:
        """Resample to the front end's rate with torchaudio's windowed-sinc kernel (cached)."""
        if sr == self.sample_rate:
            return wave
        if sr not in self._resamplers:
            self._resamplers[sr] = Resampler(sr, self.sample_rate)
        return self._resamplers[sr](wave)

    def spectrogram(self, wave: torch.Tensor) -> torch.Tensor:
        """(time, n_mels) log-mel of a 1-D waveform already at ``sample_rate``.

        Frames are centred (reflect padding of n_fft/2), as ``torch.stft(center=True)`` does;
        framing with ``unfold`` + ``rfft`` gives the same values about twice as fast.
        A waveform shorter than n_fft/2 + 1 samples is first extended with zeros (silence); the
        frame count is always 1 + samples // hop.
        """
        n_fft, hop = self.cfg["n_fft"], self.cfg["hop_length"]
        pad, n_frames = n_fft // 2, 1 + wave.shape[-1] // hop
        if wave.shape[-1] <= pad:
            wave = torch.nn.functional.pad(wave, (0, pad + 1 - wave.shape[-1]))
        padded = torch.nn.functional.pad(wave[None, None], (pad, pad), mode="reflect")[0, 0]
        frames = padded.unfold(0, n_fft, hop)[:n_frames] * self.window
        re, im = torch.view_as_real(torch.fft.rfft(frames)).unbind(-1)  # (time, freqs) each
        power = re * re + im * im
        mel = power @ self.mel
        return 10.0 * torch.log10(torch.clamp(mel, min=float(self.cfg["amin"])))

    def waveform(self, path: Path | str) -> torch.Tensor:
        """The file's samples, mono, at ``sample_rate``."""
        audio, sr = read_wav(path)
        return self.resample(torch.from_numpy(audio), sr)

    def __call__(self, path: Path | str) -> np.ndarray:
        """(time, n_mels) float32 log-mel of an audio file."""
        with torch.inference_mode():
            return self.spectrogram(self.waveform(path)).numpy()
