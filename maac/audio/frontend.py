"""PANNs' audio front end: 32 kHz mono -> power STFT -> slaney mel (64, 50-14000 Hz) -> dB.

The pretrained ResNet38 (its ``bn0`` and trunk) was trained on exactly these features, so the
filter bank must equal PANNs' ``logmel_extractor.melW`` (librosa's slaney mel, transposed), and
the STFT is PANNs': hann window of n_fft samples, centred frames with reflect padding, power 2.
(The authors' code fed 44.1 kHz, hop-512, magnitude-dB features into these weights: a bug.)
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import torchaudio

from maac.audio.resample import Resampler
from maac.config import audio_problem
from maac.errors import MaacError

CHUNK_FRAMES = 256  # 256 x 1024 float32 samples: 1 MiB, one core's L2 cache
MEL_BANDS_PER_BLOCK = 16  # measured fastest of 4-64 for PANNs' 64 bands


class AudioReadError(MaacError):
    """A WAV that cannot be decoded or holds no samples."""


def mel_filterbank(audio_cfg: dict[str, Any]) -> np.ndarray:
    """The (n_fft // 2 + 1, n_mels) slaney mel filter bank: PANNs' ``melW``.

    Settings whose bands would be empty (f_min >= f_max, f_max above Nyquist, too many bands
    for the FFT) are refused: every feature would be silence (-100 dB).
    """
    problem = audio_problem(audio_cfg)
    if problem:
        raise MaacError(f"{problem}; fix the audio settings")
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


def mel_blocks(
    mel: torch.Tensor, bands: int
) -> tuple[tuple[int, int], list[tuple[int, int, torch.Tensor]]]:
    """The filter bank cut into groups of ``bands`` consecutive bands, each with its bin span.

    Returns the span (lo, hi) of FFT bins that any band weighs and, per group, (start, stop,
    weights) with start/stop relative to lo: power[:, start:stop] @ weights gives the group's
    bands. A slaney band spans a few bins at 50 Hz and ~45 at 14 kHz, so groups of 16 do a
    quarter of the dense product's multiplications (all others are by zero).
    """
    weighed = (mel > 0).any(dim=1).nonzero().flatten()
    lo, hi = (int(weighed[0]), int(weighed[-1]) + 1) if len(weighed) else (0, 1)
    used = mel[lo:hi]
    blocks = []
    for first in range(0, mel.shape[1], bands):
        group = used[:, first : first + bands]
        rows = (group > 0).any(dim=1).nonzero().flatten()
        start, stop = (int(rows[0]), int(rows[-1]) + 1) if len(rows) else (0, 1)
        blocks.append((start, stop, group[start:stop].contiguous()))
    return (lo, hi), blocks


MIN_SAMPLE_RATE = 1_000  # lower: nothing above 500 Hz, and 32x+ upsampling (1 Hz: ~11 GB)
MAX_SAMPLE_RATE = 768_000  # the highest rate audio interfaces record at
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # a data chunk written while streaming: its size is not known


def check_sample_rate(sr: int, source: str) -> None:
    """Refuse a rate that no audio is recorded at (a damaged header, or not audio at all).

    Below 1 kHz a file holds nothing above 500 Hz (PANNs' bands span 50-14000 Hz), and
    resampling it to 32 kHz would multiply its samples by 32 or more: a header claiming 1 Hz
    made a 3 s clip allocate ~11 GB. Real rates start at 8 kHz (telephony), 4-6 kHz in old
    formats.
    """
    if not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
        raise AudioReadError(
            f"{source}: sample rate {sr} Hz is not audio (expected {MIN_SAMPLE_RATE}-"
            f"{MAX_SAMPLE_RATE} Hz); the header is damaged: replace or remove the file"
        )


def check_finite(samples: np.ndarray, source: str) -> None:
    """Refuse samples holding NaN or infinity (a damaged float WAV): the one check of both
    ``maac features`` and ``maac caption``, on files and on arrays."""
    if not np.isfinite(samples).all():
        raise AudioReadError(
            f"{source}: holds NaN or infinite samples (a damaged float file); replace or "
            "remove it"
        )


def check_wav_length(path: Path) -> None:
    """Refuse a WAV whose data chunk is shorter than its header declares (a truncated copy).

    libsndfile reads such a file as a shorter clip without an error; this compares the size
    that the RIFF header declares for the ``data`` chunk with the bytes the file holds.
    Other formats (FLAC, ...) are left to the decoder.
    """
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return
        size, pos = path.stat().st_size, 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk, length = struct.unpack("<4sI", f.read(8))
            if chunk == b"data":
                held = size - pos - 8
                if length not in _UNKNOWN_SIZES and length > held:
                    raise AudioReadError(
                        f"{path}: truncated: its header declares {length} bytes of samples but "
                        f"the file holds {held}; replace the file (an interrupted copy?)"
                    )
                return
            pos += 8 + length + (length & 1)


def read_wav(path: Path | str) -> tuple[np.ndarray, int]:
    """Samples of an audio file as float32 mono (channels averaged) and its sample rate.

    16-bit PCM (all of Clotho) is read as int16 and scaled by 2^-15 here: the same values
    soundfile's float32 read gives, five times faster. A missing, truncated or empty file, a
    sample rate that is not audio and NaN or infinite samples raise :class:`AudioReadError`.
    """
    path = Path(path)
    if not path.is_file():
        what = "a folder, not an audio file" if path.is_dir() else "no such file"
        raise AudioReadError(f"{path}: {what}; check the path")
    try:
        check_wav_length(path)
        with sf.SoundFile(str(path)) as wav:
            sr = int(wav.samplerate)
            check_sample_rate(sr, str(path))
            if wav.subtype == "PCM_16":
                audio = wav.read(dtype="int16", always_2d=True).astype(np.float32)
                audio *= np.float32(2.0**-15)
            else:
                audio = wav.read(dtype="float32", always_2d=True)
                check_finite(audio, str(path))
    except (sf.LibsndfileError, RuntimeError, OSError, struct.error) as err:
        reason = getattr(err, "error_string", None) or getattr(err, "strerror", None) or err
        raise AudioReadError(
            f"{path}: cannot read audio ({reason}); replace or remove the file"
        ) from err
    if audio.shape[0] == 0:
        raise AudioReadError(f"{path}: the file holds no samples; replace or remove it")
    return (audio[:, 0] if audio.shape[1] == 1 else audio.mean(axis=1)), sr


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
        self.bins, self.mel_blocks = mel_blocks(self.mel, MEL_BANDS_PER_BLOCK)
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

        Frames are centred (reflect padding of n_fft/2), as ``torch.stft(center=True)`` does,
        and framed with ``unfold`` + ``rfft``. They are transformed ``CHUNK_FRAMES`` at a time
        so that each block's buffers stay in cache; only the FFT bins that some mel band weighs
        are squared, and each group of bands sums only its own bins (see :func:`mel_blocks`).
        A waveform shorter than n_fft/2 + 1 samples is first extended with zeros (silence); the
        frame count is always 1 + samples // hop.
        """
        n_fft, hop = self.cfg["n_fft"], self.cfg["hop_length"]
        pad, n_frames = n_fft // 2, 1 + wave.shape[-1] // hop
        if wave.shape[-1] <= pad:
            wave = torch.nn.functional.pad(wave, (0, pad + 1 - wave.shape[-1]))
        padded = torch.nn.functional.pad(wave[None, None], (pad, pad), mode="reflect")[0, 0]
        frames = padded.unfold(0, n_fft, hop)[:n_frames]  # a view: (time, n_fft)
        lo, hi = self.bins
        mel = torch.empty(n_frames, self.mel.shape[1])
        windowed = torch.empty(min(CHUNK_FRAMES, n_frames), n_fft)
        for start in range(0, n_frames, CHUNK_FRAMES):
            stop = min(start + CHUNK_FRAMES, n_frames)
            block = torch.mul(frames[start:stop], self.window, out=windowed[: stop - start])
            squares = torch.view_as_real(torch.fft.rfft(block)[:, lo:hi]).square()
            power = squares[..., 0] + squares[..., 1]  # |X|^2 of the weighed bins
            torch.cat([power[:, a:b] @ w for a, b, w in self.mel_blocks], dim=1,
                      out=mel[start:stop])
        return mel.clamp_(min=float(self.cfg["amin"])).log10_().mul_(10.0)

    def logmel(self, wave: torch.Tensor, source: str) -> torch.Tensor:
        """:meth:`spectrogram`, refused when not finite (finite samples so large that their
        power overflows float32); ``source`` names the audio in the error."""
        mel = self.spectrogram(wave)
        if not torch.isfinite(mel).all():
            raise AudioReadError(
                f"{source}: the log-mel overflows (samples up to {float(wave.abs().max()):.3g}, "
                "not audio); replace or remove the file"
            )
        return mel

    def waveform(self, path: Path | str) -> torch.Tensor:
        """The file's samples, mono, at ``sample_rate``."""
        audio, sr = read_wav(path)
        return self.resample(torch.from_numpy(audio), sr)

    def __call__(self, path: Path | str) -> np.ndarray:
        """(time, n_mels) float32 log-mel of an audio file."""
        with torch.inference_mode():
            return self.logmel(self.waveform(path), str(path)).numpy()
