"""Model bundles and `maac caption`: any rate, stereo, long files; refusal of mismatched parts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from maac import Captioner
from maac.audio.feature_store import file_sha256
from maac.cli.main import main
from maac.errors import MaacError
from maac.inference.bundle import BundleError, read_bundle, write_bundle
from maac.models.captioner import CaptionModel as Model
from maac.models.captioner import save_captioner
from maac.text.keywords import Keyword, KeywordTable
from maac.text.vocabulary import Vocabulary
from tests.conftest import REPO, load_yaml

CONFIG = load_yaml(REPO / "config" / "demo.yaml")
ENCODER = {"width": 0.125, "head_dim": 16, "acoustic_dim": 16}
CAPTIONER = {"embed_dim": 16, "hidden_dim": 16, "attention_dim": 16, "top_keywords": 3,
             "word_dropout": 0.5, "classifier_dropout": 0.25}
TEXT_FILES = {"vocab": "vocab.json", "keywords": "keywords.csv"}  # as training records them
WORDS = ["a", "bell", "rings", "while", "rain", "falls", "then", "birds", "chirp", "and",
         "wind", "blows"]


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bundle")
    vocab = Vocabulary.build([" ".join(WORDS)] * 2)
    vocab.save(root / "vocab.json")
    keywords = ["bell", "rain", "birds", "wind", "rings"]
    KeywordTable(tuple(Keyword(w, "noun", 10 - i) for i, w in enumerate(keywords))).save(
        root / "keywords.csv")
    torch.manual_seed(0)
    model = Model(ENCODER, CAPTIONER, len(vocab), [vocab.word_to_id[w] for w in keywords])
    save_captioner(model, root / "best.pt", {f"{k}_sha256": file_sha256(root / f)
                                             for k, f in TEXT_FILES.items()})
    write_bundle(root / "best.pt", root / "vocab.json", root / "keywords.csv", CONFIG["audio"],
                 CONFIG["decoding"], root / "model.bundle")
    rng = np.random.default_rng(0)
    sf.write(root / "mono44.wav", 0.1 * rng.standard_normal(44100 * 3), 44100)
    sf.write(root / "stereo48.flac", 0.1 * rng.standard_normal((48000 * 2, 2)), 48000)
    sf.write(root / "long16.wav", 0.1 * rng.standard_normal(16000 * 65), 16000)
    return {"root": root, "bundle": root / "model.bundle"}


def test_caption_files_and_arrays(parts: dict[str, Path]) -> None:
    captioner = Captioner.load(parts["bundle"])
    for name in ("mono44.wav", "stereo48.flac", "long16.wav"):
        result = captioner.caption(parts["root"] / name)
        assert isinstance(result.caption, str)
        assert all(w in [*WORDS, "<unk>"] for w in result.caption.split())  # vocabulary words
        assert len(result.keywords) == 3 and all(0 <= p <= 1 for _, p in result.keywords)
    wave, sr = sf.read(parts["root"] / "mono44.wav", dtype="float32")
    assert captioner.caption(wave, sr) == captioner.caption(parts["root"] / "mono44.wav")
    with pytest.raises(ValueError, match="sample rate"):
        captioner.caption(wave)


def test_long_audio_is_encoded_in_chunks(parts: dict[str, Path]) -> None:
    captioner = Captioner.load(parts["bundle"])
    features = captioner.features(parts["root"] / "long16.wav")
    assert len(features) > 2 * captioner.chunk_frames  # three chunks
    out = captioner.encode(features)
    assert out.sequence.shape[0] == 1 and out.mask.all()
    assert out.sequence.shape[1] == sum(len(c) // 32 for c in torch.split(
        features, captioner.chunk_frames))


def test_cli_captions_every_readable_file(parts: dict[str, Path], capsys) -> None:
    root = parts["root"]
    code = main(["caption", str(root / "mono44.wav"), str(root / "missing.wav"),
                 str(root / "stereo48.flac"), "--model", str(parts["bundle"]), "--json"])
    assert code == 1
    out = json.loads(capsys.readouterr().out)
    assert [r["file"].split("/")[-1] for r in out] == ["mono44.wav", "missing.wav",
                                                       "stereo48.flac"]
    assert "caption" in out[0] and "caption" in out[2] and "missing.wav" in out[1]["error"]
    assert main(["caption", str(root / "mono44.wav"), "--model", str(parts["bundle"])]) == 0
    assert "keywords:" in capsys.readouterr().out


def test_tampered_or_mismatched_bundles_are_refused(parts: dict[str, Path],
                                                    tmp_path: Path) -> None:
    blob = torch.load(parts["bundle"], weights_only=True)
    blob["keywords"] = list(reversed(blob["keywords"]))
    torch.save(blob, tmp_path / "tampered.bundle")
    with pytest.raises(BundleError, match="checksum mismatch in keywords"):
        read_bundle(tmp_path / "tampered.bundle")
    other = Vocabulary.build(["one two three four"])
    other.save(tmp_path / "vocab.json")
    with pytest.raises(MaacError, match="vocabulary"):
        write_bundle(parts["root"] / "best.pt", tmp_path / "vocab.json",
                     parts["root"] / "keywords.csv", CONFIG["audio"], CONFIG["decoding"],
                     tmp_path / "x.bundle")
    assert not (tmp_path / "x.bundle").exists()
    with pytest.raises(BundleError, match="not found"):
        read_bundle(tmp_path / "none.bundle")


def test_attention_figure(parts: dict[str, Path], tmp_path: Path) -> None:
    from maac.audio.feature_store import write_features
    from maac.data.manifest import Clip

    clips = [Clip("evaluation", n, parts["root"] / n, ("c",) * 5)
             for n in ("mono44.wav", "stereo48.flac")]
    write_features(clips, tmp_path / "f.h5", CONFIG["audio"], "x", progress=False)
    out = tmp_path / "fig2.png"
    assert main(["figure", "attention", "--model", str(parts["bundle"]), "--features",
                 str(tmp_path / "f.h5"), "--count", "2", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    from maac.evaluation.attention_figure import trace

    t = trace(read_bundle(parts["bundle"]), np.zeros((300, 64), np.float32) - 50, 30)
    assert len(t["keywords"]) == 3
    if t["words"]:
        assert t["keyword_attention"].shape == (len(t["words"]), 3)
        np.testing.assert_allclose(t["keyword_attention"].sum(axis=1), 1, rtol=1e-5)
