"""The synthetic dataset: Clotho layout, deterministic bytes, real quirks, useful captions."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from maac.atomic import MARKER
from maac.cli.main import main
from maac.data.manifest import build_manifest
from maac.data.sounds import SOUND_TYPES
from maac.data.synth import CAPTION_HEADER, METADATA_HEADER, SHARED_NAME, SPLITS, synthesize

CLIPS = {"development": 24, "validation": 6, "evaluation": 6}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "demo"
    synthesize(out, CLIPS, seconds=3.0, seed=7, progress=False)
    return out


def _sha256_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_layout(dataset: Path) -> None:
    assert sorted(p.name for p in dataset.iterdir()) == sorted(
        [*SPLITS, MARKER]
        + [f"clotho_{kind}_{s}.csv" for kind in ("captions", "metadata") for s in SPLITS]
    )
    for split in SPLITS:
        header = (dataset / f"clotho_captions_{split}.csv").read_text().splitlines()[0]
        assert header == ",".join(CAPTION_HEADER)
        meta = (dataset / f"clotho_metadata_{split}.csv").read_text().splitlines()[0]
        assert meta == ",".join(METADATA_HEADER)
        wavs = list((dataset / split).glob("*.wav"))
        assert len(wavs) == CLIPS[split] == len(_rows(dataset / f"clotho_captions_{split}.csv"))


def test_wavs_are_clotho_format_and_play(dataset: Path) -> None:
    for wav in (dataset / "validation").glob("*.wav"):
        info = sf.info(wav)
        assert (info.samplerate, info.channels, info.subtype, info.format) == (
            44100, 1, "PCM_16", "WAV")
        audio, _ = sf.read(wav)
        assert 3.0 * 0.75 <= len(audio) / 44100 <= 3.0 * 1.25
        assert np.sqrt(np.mean(audio**2)) > 0.01  # audible, not silence


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, dataset: Path) -> None:
    again = tmp_path / "again"
    synthesize(again, CLIPS, seconds=3.0, seed=7, progress=False)
    assert _sha256_tree(again) == _sha256_tree(dataset)
    other = tmp_path / "other"
    synthesize(other, {"development": 4, "validation": 0, "evaluation": 0}, 3.0, seed=8,
               progress=False)
    first = dict(sorted(_sha256_tree(other).items()))
    assert not set(first.values()) & set(_sha256_tree(dataset).values())


def test_file_name_quirks(dataset: Path) -> None:
    names = {s: [r["file_name"] for r in _rows(dataset / f"clotho_captions_{s}.csv")]
             for s in SPLITS}
    flat = [n for s in SPLITS for n in names[s]]
    assert any(" " in n for n in flat) and any("," in n for n in flat)
    assert any("(" in n and ")" in n for n in flat)
    assert any(not n.isascii() for n in flat)
    amp = [n for n in flat if "&amp;" in n]
    assert amp, "an HTML entity in a CSV name"
    for split in SPLITS:  # on disk the entity is a plain '&'
        for name in names[split]:
            if "&amp;" in name:
                assert not (dataset / split / name).exists()
                assert (dataset / split / name.replace("&amp;", "&")).is_file()
    assert SHARED_NAME in names["development"] and SHARED_NAME in names["evaluation"]
    dev = (dataset / "development" / SHARED_NAME).read_bytes()
    assert dev != (dataset / "evaluation" / SHARED_NAME).read_bytes()


def test_manifest_reads_the_synthetic_layout(dataset: Path) -> None:
    for split in SPLITS:
        clips = build_manifest(split, dataset / f"clotho_captions_{split}.csv", dataset / split)
        assert len(clips) == CLIPS[split]
        assert all(c.audio_path.is_file() for c in clips)


def _mentions(caption: str, sound) -> bool:
    text = caption.lower()
    phrases = [*sound.nouns, *sound.gerunds]
    return any(p.lower() in text for p in phrases)


def test_captions_name_the_events_and_their_order(dataset: Path) -> None:
    types = {s.name: s for s in SOUND_TYPES}
    seen_types: set[str] = set()
    for split in SPLITS:
        meta = {r["file_name"]: r["keywords"].split(";")
                for r in _rows(dataset / f"clotho_metadata_{split}.csv")}
        for row in _rows(dataset / f"clotho_captions_{split}.csv"):
            events = meta[row["file_name"]]
            assert 1 <= len(events) <= 3
            seen_types.update(events)
            captions = [row[f"caption_{i}"] for i in range(1, 6)]
            assert len({c.rstrip(".").lower() for c in captions}) == 5, captions
            for caption in captions:
                assert 8 <= len(caption.split()) <= 20, caption
                for event in events:
                    assert _mentions(caption, types[event]), (event, caption)
                if len(events) > 1:
                    assert any(w in caption.lower() for w in (
                        "while", "then", "followed by", "after", "as ", "and", "along with",
                        "together with")), caption
    assert len(SOUND_TYPES) >= 10
    assert len(seen_types) >= 8


def test_sound_types_are_acoustically_distinct() -> None:
    """Each event type has its own spectral signature (a listening model can tell them apart)."""
    rng_seed, sr, n = 3, 44100, 44100 * 2
    centroids = {}
    for sound in SOUND_TYPES:
        x = sound.make(n, sr, np.random.default_rng(rng_seed))
        assert x.shape == (n,) and np.isfinite(x).all() and np.abs(x).max() > 0
        spectrum = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(n, 1 / sr)
        centroids[sound.name] = float((spectrum * freqs).sum() / spectrum.sum())
    values = sorted(centroids.values())
    assert len(set(np.round(values, -1))) == len(SOUND_TYPES), centroids


def test_cli(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    args = ["synth", str(out), "--seed", "1", "--clips",
            "development=4,validation=4,evaluation=4", "--seconds", "1.5"]
    assert main(args) == 0
    assert len(list((out / "validation").glob("*.wav"))) == 4
    with pytest.raises(SystemExit):
        main(["synth", str(tmp_path / "x"), "--clips", "train=4"])
    assert "expected SPLIT=N" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
