"""A local stand-in for Zenodo: Clotho v2.1's nine files and PANNs' checkpoint, in their formats.

:func:`build` writes into a folder (the one the ``http_server`` fixture serves):

- ``clotho_audio_{split}.7z`` (each entry ``{split}/{name}.wav``, 44.1 kHz 16-bit mono, as
  Clotho's), ``clotho_captions_{split}.csv`` (``file_name,caption_1..caption_5``) and
  ``clotho_metadata_{split}.csv`` (Clotho's metadata columns), for the three splits;
- ``ResNet38_mAP=0.434.pth``: ``torch.save({"model": weights})`` with every key and shape of
  PANNs' official checkpoint (``tests/fixtures/panns_resnet38_keys.json``), random weights from a
  fixed seed (its md5 is taken from the bytes), and our front end's mel filter bank as
  ``logmel_extractor.melW`` (the loader checks it).

The clips are the 10 real Clotho clips of ``shared/data/clotho_v2.1/audio_samples`` with their
official captions. Their ``clotho_split`` column puts 1 in development, 0 in validation and 9 in
evaluation; a split without clips would stop the pipeline, so the clips are spread instead
(:data:`SPREAD`: sorted by name, the first 4 to development, the next 3 to validation, the last
3 to evaluation). Each is cut to ``seconds`` from its middle: at encoder width 1 a 30 s clip
costs ~3 s forward and backward on our CPU. Without ``shared/`` the clips come from ``maac
synth`` (with its synthetic captions).
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import py7zr
import soundfile as sf
import torch

from maac.audio.frontend import mel_filterbank
from maac.data.synth import METADATA_HEADER, synthesize
from tests.conftest import CLOTHO_REF, REPO

SPLITS = ("development", "validation", "evaluation")
SPREAD = {"development": 4, "validation": 3, "evaluation": 3}  # of the 10 real clips, by name
CAPTION_HEADER = ["file_name", *(f"caption_{i}" for i in range(1, 6))]
KEYS_FIXTURE = REPO / "tests" / "fixtures" / "panns_resnet38_keys.json"
PANNS_FILE = "ResNet38_mAP=0.434.pth"


@dataclass
class StandIn:
    """What the stand-in serves: file name -> md5, and the clips of each split."""

    md5: dict[str, str] = field(default_factory=dict)
    clips: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # split -> name -> caps
    real: bool = True  # real Clotho clips (False: maac synth)
    checkpoint: Path | None = None

    @property
    def clotho_md5(self) -> dict[str, str]:
        return {k: v for k, v in self.md5.items() if k != PANNS_FILE}


def md5(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def real_clips() -> dict[str, dict[str, list[str]]]:
    """The 10 real clips' captions, spread over the three splits (:data:`SPREAD`)."""
    with (CLOTHO_REF / "audio_samples" / "captions.csv").open(encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["file_name"])
    out: dict[str, dict[str, list[str]]] = {}
    start = 0
    for split, n in SPREAD.items():
        out[split] = {r["file_name"]: [r[f"caption_{i}"] for i in range(1, 6)]
                      for r in rows[start:start + n]}
        start += n
    assert start == len(rows), f"expected {start} real clips, found {len(rows)}"
    return out


def _cut(source: Path, dest: Path, seconds: float) -> None:
    audio, rate = sf.read(source, dtype="int16", always_2d=True)
    n = min(len(audio), int(round(seconds * rate)))
    begin = (len(audio) - n) // 2
    sf.write(dest, audio[begin:begin + n, 0], rate, subtype="PCM_16")


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _clotho_files(work: Path, seconds: float) -> tuple[dict, bool]:
    """The audio folders and CSVs in ``work``; returns the clips and whether they are real."""
    if CLOTHO_REF.is_dir():
        clips = real_clips()
        for split, captions in clips.items():
            (work / split).mkdir(parents=True)
            for name in captions:
                _cut(CLOTHO_REF / "audio_samples" / name, work / split / name, seconds)
            _write_csv(work / f"clotho_captions_{split}.csv", CAPTION_HEADER,
                       [[name, *caps] for name, caps in captions.items()])
            _write_csv(work / f"clotho_metadata_{split}.csv", METADATA_HEADER,
                       [[name, "", "", "", "", "", "unknown"] for name in captions])
        return clips, True
    synthesize(work, SPREAD, seconds=seconds, seed=3, progress=False)
    clips = {}
    for split in SPLITS:
        with (work / f"clotho_captions_{split}.csv").open(encoding="utf-8") as f:
            clips[split] = {r["file_name"]: [r[c] for c in CAPTION_HEADER[1:]]
                            for r in csv.DictReader(f)}
    return clips, False


def panns_checkpoint(path: Path, audio_cfg: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """PANNs' checkpoint format with random weights: every official key and shape.

    Convolution and linear weights ~ N(0, 1/fan_in); BatchNorm scales U(0.5, 1), shifts and
    running means N(0, 0.05^2), running variances U(0.8, 1.2); so no value equals what our own
    initialisation would give, and a trunk equal to these tensors was loaded from this file.
    """
    g = torch.Generator().manual_seed(seed)
    keys = json.loads(KEYS_FIXTURE.read_text())["keys"]
    weights: dict[str, torch.Tensor] = {}
    for name, shape in keys:
        if name.endswith("num_batches_tracked"):
            value = torch.randint(1, 10**6, (), generator=g)
        elif name.endswith("running_var"):
            value = 0.8 + 0.4 * torch.rand(shape, generator=g)
        elif name.endswith(("running_mean", ".bias")):
            value = 0.05 * torch.randn(shape, generator=g)
        elif len(shape) == 1:  # BatchNorm scale
            value = 0.5 + 0.5 * torch.rand(shape, generator=g)
        else:
            fan_in = int(np.prod(shape[1:]))
            value = torch.randn(shape, generator=g) / fan_in**0.5
        weights[name] = value
    weights["logmel_extractor.melW"] = torch.as_tensor(mel_filterbank(audio_cfg),
                                                       dtype=torch.float32)
    torch.save({"model": weights}, path)
    return weights


def build(root: Path, scratch: Path, audio_cfg: dict, seconds: float) -> StandIn:
    """Write the stand-in's files into ``root`` (``scratch``: a folder for the clips)."""
    clips, real = _clotho_files(scratch, seconds)
    for split in SPLITS:
        with py7zr.SevenZipFile(root / f"clotho_audio_{split}.7z", "w") as z:
            for wav in sorted((scratch / split).iterdir()):
                z.write(wav, f"{split}/{wav.name}")
        for kind in ("captions", "metadata"):
            shutil.copy(scratch / f"clotho_{kind}_{split}.csv", root)
    stand_in = StandIn(clips=clips, real=real, checkpoint=root / PANNS_FILE)
    panns_checkpoint(stand_in.checkpoint, audio_cfg)
    stand_in.md5 = {p.name: md5(p) for p in sorted(root.iterdir())}
    return stand_in
