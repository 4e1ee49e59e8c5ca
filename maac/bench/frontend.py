"""Log-mel extraction: ours (a thread per core, PANNs front end) vs a plain librosa loop.

Both compute PANNs' features of the same clips: 32 kHz, 1024-point STFT, hop 320, 64 slaney
mel bands 50-14000 Hz, dB. The baseline is what one would write with librosa: ``librosa.load``
(resampling to 32 kHz with soxr), ``melspectrogram``, ``power_to_db``, one clip after another.
Ours: :class:`ParallelLogMel`, one thread per core (torchaudio's resampling). Checks: the
threads' features equal the serial front end's exactly, and our log-mel equals librosa's
computed on our resampled waveform (:func:`logmel_difference`); the two resamplers differ
slightly in the stop band, so the baseline's own output is not compared.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from maac.audio.feature_store import ParallelLogMel
from maac.audio.frontend import LogMel
from maac.bench.timing import alternate, speed_result
from maac.errors import MaacError


def librosa_logmel(wave: np.ndarray, cfg: dict[str, Any]) -> np.ndarray:
    import librosa

    power = librosa.feature.melspectrogram(
        y=wave, sr=cfg["sample_rate"], n_fft=cfg["n_fft"], hop_length=cfg["hop_length"],
        win_length=cfg["win_length"], window="hann", center=True, pad_mode="reflect", power=2.0,
        n_mels=cfg["n_mels"], fmin=cfg["f_min"], fmax=cfg["f_max"],
    )
    return librosa.power_to_db(power, ref=1.0, amin=cfg["amin"], top_db=None).T


def logmel_difference(ours: np.ndarray, reference: np.ndarray, range_db: float = 60.0
                      ) -> tuple[float, float]:
    """(max |diff| in dB over cells within ``range_db`` of their frame's loudest band, anywhere).

    Our STFT runs in float32, as PANNs' own front end (a float32 convolution) does; librosa's
    reaches float64-like precision. Float32 rounding of the window and FFT leaks about -130 dB
    below a frame's peak, so bands far below their frame's loudest differ by up to ~0.01 dB;
    everything within 60 dB of it agrees to 1e-3 dB.
    """
    diff = np.abs(ours - reference)
    near_peak = reference > reference.max(axis=1, keepdims=True) - range_db
    return float(diff[near_peak].max()), float(diff.max())


def synthetic_clips(folder: Path, count: int = 10, seed: int = 0,
                    seconds: tuple[float, float] = (15.0, 30.0)) -> list[Path]:
    """Clips of 15-30 s (Clotho's range) at 44.1 kHz: a tone in noise, 16-bit PCM."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        n = int(44100 * rng.uniform(*seconds))
        t = np.arange(n) / 44100
        wave = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) + 0.05 * rng.standard_normal(n)
        path = folder / f"clip{i}.wav"
        sf.write(path, wave, 44100, subtype="PCM_16")
        paths.append(path)
    return paths


def run(clips: list[Path], cfg: dict[str, Any], repeats: int = 3,
        workers: int | None = None) -> dict[str, Any]:
    import librosa

    workers = workers or os.cpu_count() or 1
    frontend = LogMel(cfg)
    audible, anywhere = 0.0, 0.0
    serial = []
    for path in clips:
        wave = frontend.waveform(path)
        serial.append(frontend.spectrogram(wave).numpy())
        a, b = logmel_difference(serial[-1], librosa_logmel(wave.numpy(), cfg))
        audible, anywhere = max(audible, a), max(anywhere, b)
    if audible > 1e-3 or anywhere > 0.02:
        raise MaacError(f"log-mel differs from librosa's by {audible:.2e} dB within 60 dB of "
                        f"each frame's peak (limit 1e-3), {anywhere:.2e} dB anywhere (limit 0.02)")

    def baseline() -> None:
        for path in clips:
            wave, _ = librosa.load(path, sr=cfg["sample_rate"])
            librosa_logmel(wave, cfg)

    paths = [str(p) for p in clips]
    with ParallelLogMel(cfg, workers) as extractor:
        threaded = extractor.map(paths)
        if not all(np.array_equal(a, b) for a, b in zip(threaded, serial, strict=True)):
            raise MaacError("log-mel extraction: the worker threads' features differ from "
                            "the same front end run serially")
        times = alternate(baseline, lambda: extractor.map(paths), repeats)
    return speed_result(
        f"log-mel extraction, {len(clips)} clips, {workers} threads",
        "librosa load + melspectrogram + power_to_db, clip by clip",
        "maac.audio.feature_store.ParallelLogMel (one thread per core)", "clips/s", len(clips),
        times, 3.0, f"threaded = serial features; log-mel = librosa's (on our resampled waves) "
        f"within {audible:.1e} dB within 60 dB of each frame's peak (limit 1e-3), "
        f"{anywhere:.1e} dB anywhere", workers=workers, repeats=repeats)
