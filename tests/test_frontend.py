"""The PANNs front end and the HDF5 feature store."""

from __future__ import annotations

from pathlib import Path

import h5py
import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from maac.audio.feature_store import FeatureStore, FeatureStoreError, write_features
from maac.audio.frontend import AudioReadError, LogMel, mel_filterbank
from maac.cli.main import main
from maac.config import load_config
from maac.data.manifest import Clip, build_manifest, write_manifest
from maac.data.synth import synthesize
from tests.conftest import CLOTHO_REF, REPO

AUDIO = load_config(REPO / "config" / "config.yaml")["audio"]


def librosa_logmel(wave: np.ndarray) -> np.ndarray:
    """PANNs' features computed by librosa, the library PANNs' own front end mirrors."""
    power = librosa.feature.melspectrogram(
        y=wave, sr=32000, n_fft=1024, hop_length=320, win_length=1024, window="hann",
        center=True, pad_mode="reflect", power=2.0, n_mels=64, fmin=50, fmax=14000,
    )
    return librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=None).T


def test_filterbank_is_pannss_melw() -> None:
    melw = librosa.filters.mel(sr=32000, n_fft=1024, n_mels=64, fmin=50, fmax=14000).T
    ours = mel_filterbank(AUDIO)
    assert ours.shape == (513, 64)
    np.testing.assert_allclose(ours, melw, atol=1e-7, rtol=0)


def _check_against_librosa(path: Path) -> None:
    """1e-3 dB wherever a band is within 60 dB of its frame's peak; float32 rounding (PANNs'
    own front end is float32 too) leaves at most 0.02 dB in bands far below it."""
    from maac.bench.frontend import logmel_difference

    frontend = LogMel(AUDIO)
    wave = frontend.waveform(path)
    ours = frontend.spectrogram(wave).numpy()
    ref = librosa_logmel(wave.numpy())
    assert ours.shape == ref.shape == (1 + len(wave) // 320, 64)
    near_peak, anywhere = logmel_difference(ours, ref)
    assert near_peak < 1e-3 and anywhere < 0.02  # dB


def test_logmel_equals_librosa_on_synthetic_clip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(44100 * 3) / 44100
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))
    sf.write(tmp_path / "a.wav", wave, 44100, subtype="PCM_16")
    _check_against_librosa(tmp_path / "a.wav")


@pytest.mark.skipif(not CLOTHO_REF.is_dir(), reason="../shared/data/clotho_v2.1 not present")
def test_logmel_equals_librosa_on_real_clotho_clips() -> None:
    clips = sorted((CLOTHO_REF / "audio_samples").glob("*.wav"))
    assert len(clips) == 10
    for clip in clips:
        _check_against_librosa(clip)


@pytest.mark.parametrize("sr", [16000, 22050, 32000, 44100, 48000])
def test_any_rate_and_stereo(tmp_path: Path, sr: int) -> None:
    rng = np.random.default_rng(1)
    stereo = 0.1 * rng.standard_normal((int(sr * 1.5), 2))
    sf.write(tmp_path / "s.wav", stereo, sr, subtype="PCM_16")
    feats = LogMel(AUDIO)(tmp_path / "s.wav")
    expected = 1 + int(np.ceil(len(stereo) * 32000 / sr)) // 320
    assert feats.shape == (expected, 64) and feats.dtype == np.float32
    mono = stereo.mean(axis=1)
    sf.write(tmp_path / "m.wav", mono, sr, subtype="FLOAT")
    assert np.abs(LogMel(AUDIO)(tmp_path / "m.wav") - feats).max() < 0.05


def test_silent_and_tiny_clips_are_finite(tmp_path: Path) -> None:
    sf.write(tmp_path / "silent.wav", np.zeros(44100), 44100, subtype="PCM_16")
    feats = LogMel(AUDIO)(tmp_path / "silent.wav")
    assert np.isfinite(feats).all() and feats.max() == pytest.approx(-100.0)
    sf.write(tmp_path / "tiny.wav", np.full(5, 0.1), 44100, subtype="PCM_16")
    tiny = LogMel(AUDIO)(tmp_path / "tiny.wav")
    assert tiny.shape == (1, 64) and np.isfinite(tiny).all()
    assert LogMel(AUDIO).spectrogram(torch.zeros(0)).shape == (1, 64)


def test_corrupt_and_empty_wavs_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad clip.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage" * 10)
    with pytest.raises(AudioReadError, match="bad clip.wav: cannot read audio"):
        LogMel(AUDIO)(bad)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 44100, subtype="PCM_16")
    with pytest.raises(AudioReadError, match="empty.wav: the file holds no samples"):
        LogMel(AUDIO)(empty)
    with pytest.raises(AudioReadError, match="missing.wav"):
        LogMel(AUDIO)(tmp_path / "missing.wav")


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Clip], Path]:
    root = tmp_path_factory.mktemp("feat")
    synthesize(root / "raw", {"development": 0, "validation": 6, "evaluation": 4}, 2.0, seed=3,
               progress=False)
    clips = build_manifest("validation", root / "raw/clotho_captions_validation.csv",
                           root / "raw/validation")
    manifest = root / "validation.csv"
    write_manifest(clips, manifest)
    return clips, manifest


def test_store_round_trip_and_lazy_read(tmp_path: Path, tiny_split) -> None:
    clips, _ = tiny_split
    out = tmp_path / "validation.h5"
    frames = write_features(clips, out, AUDIO, "abc", workers=1, batch=2, progress=False)
    store = FeatureStore(out)
    assert len(store) == len(clips) and store.lengths.sum() == frames
    assert store._h5 is None  # nothing opened until a clip is read
    frontend = LogMel(AUDIO)
    for clip in clips:
        np.testing.assert_array_equal(store[clip.key], frontend(clip.audio_path))
    assert store[0].dtype == np.float32 and store._h5 is not None
    assert store.attrs["manifest_sha256"] == "abc"
    assert all(store.attrs[k] == v for k, v in AUDIO.items())
    store.check(AUDIO)
    with pytest.raises(FeatureStoreError, match="other front-end settings \\(hop_length\\)"):
        store.check({**AUDIO, "hop_length": 160})
    with h5py.File(out) as h5:
        assert h5["logmel"].chunks is not None  # chunked: a clip is read without the split
        assert np.isfinite(h5["logmel"][:]).all()


def test_parallel_equals_serial(tmp_path: Path, tiny_split) -> None:
    clips, _ = tiny_split
    write_features(clips, tmp_path / "a.h5", AUDIO, "x", workers=1, progress=False)
    write_features(clips, tmp_path / "b.h5", AUDIO, "x", workers=2, batch=1, progress=False)
    a, b = FeatureStore(tmp_path / "a.h5"), FeatureStore(tmp_path / "b.h5")
    assert a.keys == b.keys
    for i in range(len(a)):
        np.testing.assert_array_equal(a[i], b[i])


def test_bad_clip_stops_the_split_and_keeps_earlier_output(tmp_path: Path, tiny_split) -> None:
    clips, _ = tiny_split
    out = tmp_path / "split.h5"
    write_features(clips, out, AUDIO, "first", progress=False)
    before = out.read_bytes()
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    bad = [*clips[:2], Clip("validation", "broken.wav", broken, ("c",) * 5)]
    with pytest.raises(AudioReadError, match="broken.wav"):
        write_features(bad, out, AUDIO, "second", workers=2, batch=1, progress=False)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.wav", "split.h5"]


def test_cli_features(tmp_path: Path, tiny_split, capsys) -> None:
    clips, manifest = tiny_split
    out = tmp_path / "f.h5"
    assert main(["features", "--manifest", str(manifest), "--out", str(out)]) == 0
    assert f"{len(clips)} clips" in capsys.readouterr().out
    assert FeatureStore(out).attrs["hop_length"] == 320


def test_features_settings_route_equals_the_flags(tmp_path: Path, tiny_split) -> None:
    """The rule's --settings (the config's audio section as JSON) writes the bytes the
    equivalent flags write; a key that is not a front-end setting is refused by name."""
    import json

    _, manifest = tiny_split
    audio = {"sample_rate": 32000, "n_fft": 1024, "win_length": 1024, "hop_length": 320,
             "n_mels": 64, "f_min": 50, "f_max": 14000, "amin": 1.0e-10}
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in audio.items()]
    assert main(["features", "--manifest", str(manifest), "--out", str(tmp_path / "a.h5"),
                 *flags]) == 0
    assert main(["features", "--manifest", str(manifest), "--out", str(tmp_path / "b.h5"),
                 "--settings", json.dumps({"audio": audio})]) == 0
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()
    assert main(["features", "--manifest", str(manifest), "--out", str(tmp_path / "c.h5"),
                 "--settings", json.dumps({"audio": {**audio, "n_ftt": 512}})]) == 1
    assert not (tmp_path / "c.h5").exists()


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100, 48000])
def test_resampler_equals_torchaudio(sr: int) -> None:
    import torchaudio

    from maac.audio.resample import Resampler

    wave = torch.from_numpy(np.random.default_rng(sr).standard_normal(sr * 2 + 17)).float()
    ours = Resampler(sr, 32000)(wave)
    reference = torchaudio.transforms.Resample(sr, 32000)(wave)
    assert ours.shape == reference.shape
    assert float((ours - reference).abs().max()) < 1e-5


@pytest.mark.parametrize(("channels", "subtype"), [(1, "PCM_16"), (2, "PCM_16"), (2, "FLOAT"),
                                                   (1, "PCM_24")])
def test_read_wav_equals_soundfiles_float_read(tmp_path: Path, channels: int, subtype: str) -> None:
    from maac.audio.frontend import read_wav

    wave = 0.5 * np.random.default_rng(channels).standard_normal((4000, channels)).clip(-1, 1)
    sf.write(tmp_path / "x.wav", wave, 22050, subtype=subtype)
    ours, sr = read_wav(tmp_path / "x.wav")
    expected, _ = sf.read(tmp_path / "x.wav", dtype="float32", always_2d=True)
    assert sr == 22050 and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, expected.mean(axis=1))


def test_block_sparse_mel_equals_the_dense_product() -> None:
    from maac.audio.frontend import mel_blocks

    mel = torch.from_numpy(mel_filterbank(AUDIO))
    (lo, hi), blocks = mel_blocks(mel, 16)
    assert (lo, hi) == (2, 448) and len(blocks) == 4
    assert not mel[:lo].any() and not mel[hi:].any()  # only unweighed bins are skipped
    power = torch.rand(50, 513, dtype=torch.float64)
    ours = torch.cat([power[:, lo:hi][:, a:b] @ w.double() for a, b, w in blocks], dim=1)
    torch.testing.assert_close(ours, power @ mel.double(), rtol=1e-12, atol=0)


def test_feature_threads_use_one_core_each() -> None:
    from maac.audio.feature_store import ParallelLogMel

    with ParallelLogMel(AUDIO, workers=2) as extractor:
        assert extractor.map(["a"] * 0) == []
        threads = list(extractor._pool.map(lambda _: torch.get_num_threads(), range(4)))
    assert threads == [1, 1, 1, 1]
