"""Deterministic synthetic dataset in Clotho v2.1's exact layout (the demo's data).

``OUT_DIR/{development,validation,evaluation}/*.wav`` (44.1 kHz, mono, 16-bit PCM),
``OUT_DIR/clotho_captions_{split}.csv`` (``file_name,caption_1..caption_5``) and
``OUT_DIR/clotho_metadata_{split}.csv``. Every clip mixes 1-3 synthesised events placed one after
another or overlapping, and 5 captions name them and their order. The same seed gives
byte-identical files. File names carry real Clotho's quirks: spaces, commas, parentheses,
non-ASCII letters, an HTML entity in the CSV (``&amp;``, the file on disk has ``&``) and one name
used in two splits for different clips.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from maac import paths
from maac.atomic import command_output_dir, write_error
from maac.data.captions import Segment, describe
from maac.data.manifest import SPLITS
from maac.data.sounds import SOUND_TYPES, SoundType

SAMPLE_RATE = 44_100
CAPTION_HEADER = ["file_name"] + [f"caption_{i}" for i in range(1, 6)]
METADATA_HEADER = [
    "file_name", "keywords", "sound_id", "sound_link", "start_end_samples", "manufacturer",
    "license",
]
COMMAND = "maac synth"
SHARED_NAME = "shared name (two splits).wav"
"""Used in development and evaluation for two different clips, as real Clotho does."""

# Structures a clip can have: a list of segments, each the number of simultaneous events.
_STRUCTURES = ((1,), (2,), (1, 1), (2, 1), (1, 2), (1, 1, 1))


@dataclass(frozen=True)
class SynthClip:
    """One generated clip: its names (on disk and in the CSV), audio and captions."""

    disk_name: str
    csv_name: str
    audio: np.ndarray  # int16, mono
    captions: list[str]
    events: list[str]


def _clip_rng(seed: int, split: str, index: int) -> np.random.Generator:
    # Derive a per-clip stream so clips do not depend on each other or on the clip counts.
    return np.random.default_rng([seed, SPLITS.index(split), index])


def _segments(rng: np.random.Generator) -> list[Segment]:
    structure = _STRUCTURES[int(rng.integers(len(_STRUCTURES)))]
    chosen = rng.choice(len(SOUND_TYPES), size=sum(structure), replace=False)
    types = [SOUND_TYPES[int(i)] for i in chosen]
    segments: list[Segment] = []
    for size in structure:
        segments.append(tuple(types[:size]))
        types = types[size:]
    return segments


def _render(segments: list[Segment], n: int, rng: np.random.Generator) -> np.ndarray:
    """Mix the events: segments follow each other, events of one segment overlap."""
    mix = np.zeros(n)
    bounds = np.linspace(0, n, len(segments) + 1).astype(int)
    gap = int(0.03 * n) if len(segments) > 1 else 0
    fade = int(0.02 * SAMPLE_RATE)
    for seg, start, stop in zip(segments, bounds[:-1], bounds[1:], strict=True):
        start, stop = start + gap, stop - gap
        for k, sound in enumerate(seg):
            lo, hi = start, stop
            if k == 1:  # the second event of a pair sits inside the first one
                span = stop - start
                lo = start + int(span * rng.uniform(0.1, 0.3))
                hi = stop - int(span * rng.uniform(0.1, 0.3))
            mix[lo:hi] += _event(sound, hi - lo, fade, rng)
    mix += rng.standard_normal(n) * 10 ** (-55 / 20)  # faint room noise
    peak = np.abs(mix).max()
    if peak > 0.9:
        mix *= 0.9 / peak
    return np.round(mix * 32767).astype(np.int16)


def _event(sound: SoundType, n: int, fade: int, rng: np.random.Generator) -> np.ndarray:
    x = sound.make(n, SAMPLE_RATE, rng).astype(np.float64)
    rms = float(np.sqrt(np.mean(x**2))) or 1.0
    x *= 0.12 * rng.uniform(0.7, 1.3) / rms
    ramp = np.linspace(0.0, 1.0, min(fade, n // 2))
    x[: len(ramp)] *= ramp
    x[n - len(ramp) :] *= ramp[::-1]
    return x


def _names(split: str, index: int, segments: list[Segment]) -> tuple[str, str]:
    """(name on disk, name in the CSV) with Clotho's quirks on the first clips of each split."""
    label = " ".join(s.name for seg in segments for s in seg)
    quirks = {
        0: f"{label}, outdoors (take {index}).wav",
        1: f"Café ambiance — {label} n°{index}.wav",
        2: f"{label} & more {index}.wav",
    }
    if index == 3 and split in ("development", "evaluation"):
        return SHARED_NAME, SHARED_NAME
    disk = quirks.get(index, f"{label} {split[:3]} {index:04d}.wav")
    return disk, disk.replace("&", "&amp;")


def make_clip(seed: int, split: str, index: int, seconds: float) -> SynthClip:
    """Generate one clip deterministically from (seed, split, index)."""
    rng = _clip_rng(seed, split, index)
    segments = _segments(rng)
    n = int(SAMPLE_RATE * seconds * rng.uniform(0.75, 1.25))
    audio = _render(segments, n, rng)
    captions = describe(segments, rng)
    disk, csv_name = _names(split, index, segments)
    return SynthClip(disk, csv_name, audio, captions, [s.name for seg in segments for s in seg])


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _write_wav(path: Path, audio: np.ndarray) -> None:
    # Encoded in memory, then written by Python: a full disk is an OSError naming the file
    # (libsndfile writing to the file itself reports only "System error"). Same bytes.
    buffer = io.BytesIO()
    sf.write(buffer, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    path.write_bytes(buffer.getvalue())


def synthesize(
    out_dir: Path, clips: dict[str, int], seconds: float, seed: int = 0, progress: bool = True
) -> dict[str, int]:
    """Write the dataset to ``out_dir`` (atomically: a temporary folder renamed at the end).

    ``out_dir`` must be missing, empty or an earlier output of ``maac synth``; a folder holding
    other files is refused (:class:`MaacError`) and left as it was.
    """
    unknown = set(clips) - set(SPLITS)
    if unknown:
        raise ValueError(f"--clips: unknown split(s) {sorted(unknown)}; use {', '.join(SPLITS)}")
    try:
        _synthesize(Path(out_dir), clips, seconds, seed, progress)
    except OSError as err:
        raise write_error(err, out_dir) from None
    return {split: clips.get(split, 0) for split in SPLITS}


def _synthesize(
    out_dir: Path, clips: dict[str, int], seconds: float, seed: int, progress: bool
) -> None:
    from tqdm import tqdm

    with command_output_dir(out_dir, COMMAND) as tmp:
        for split in SPLITS:
            folder = paths.local_audio_dir(tmp, "clotho", split)
            folder.mkdir()
            caption_rows, meta_rows = [], []
            for index in tqdm(range(clips.get(split, 0)), desc=split, disable=not progress):
                clip = make_clip(seed, split, index, seconds)
                _write_wav(folder / clip.disk_name, clip.audio)
                caption_rows.append([clip.csv_name, *clip.captions])
                sound_id = int(hashlib.sha256(f"{split}/{index}".encode()).hexdigest()[:8], 16)
                meta_rows.append([
                    clip.csv_name, ";".join(clip.events), str(sound_id), "",
                    f"[0, {len(clip.audio)}]", "maac synth", "CC0 (synthetic)",
                ])
            # Clotho's own layout: the CSVs beside the split folders
            _write_csv(paths.local_captions_csv(tmp, "clotho", split), CAPTION_HEADER,
                       caption_rows)
            _write_csv(paths.local_metadata_csv(tmp, "clotho", split), METADATA_HEADER,
                       meta_rows)
