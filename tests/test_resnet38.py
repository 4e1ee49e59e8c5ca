"""ResNet38 trunk: PANNs' key names and shapes, parameter count, strict checkpoint loading."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from maac.audio.frontend import mel_filterbank
from maac.errors import MaacError
from maac.models.resnet38 import (
    UNUSED_CHECKPOINT_KEYS,
    MaskedBatchNorm2d,
    ResNet38Trunk,
    load_panns_checkpoint,
)
from tests.conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "panns_resnet38_keys.json"
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _official_keys() -> dict[str, tuple[int, ...]]:
    keys = json.loads(FIXTURE.read_text())["keys"]
    return {name: tuple(shape) for name, shape in keys}


@pytest.fixture(scope="module")
def trunk() -> ResNet38Trunk:
    """The full-width trunk (about 0.6 s to build)."""
    return ResNet38Trunk(width=1.0)


def _checkpoint(path: Path, audio_cfg: dict, drop: str = "", add: str = "",
                reshape: str = "", mel: torch.Tensor | None = None) -> Path:
    """A checkpoint with the official keys and shapes; tensor i holds the value i everywhere.

    The tensors are stride-0 views of one number, so the file is small and fast to write.
    """
    weights = {}
    for i, (name, shape) in enumerate(_official_keys().items()):
        dtype = torch.long if name.endswith("num_batches_tracked") else torch.float32
        weights[name] = torch.full((), i, dtype=dtype).expand(shape)
    weights["logmel_extractor.melW"] = (
        torch.as_tensor(mel_filterbank(audio_cfg)) if mel is None else mel
    )
    if drop:
        del weights[drop]
    if add:
        weights[add] = torch.zeros(3)
    if reshape:
        weights[reshape] = torch.zeros(7)
    torch.save({"model": weights}, path)
    return path


def test_fixture_matches_panns_published_parameter_counts() -> None:
    """PANNs ResNet38 with its heads has 73,783,247 trainable parameters (front end frozen)."""
    keys = _official_keys()
    trainable = {k: s for k, s in keys.items()
                 if not k.endswith(BUFFERS) and not k.startswith(("spectrogram", "logmel"))}
    assert sum(math.prod(s) for s in trainable.values()) == 73_783_247
    heads = sum(math.prod(keys[k]) for k in ("fc1.weight", "fc1.bias", "fc_audioset.weight",
                                             "fc_audioset.bias"))
    assert 73_783_247 - heads == 68_507_072


def test_trunk_parameter_count_at_width_1() -> None:
    with torch.device("meta"):
        model = ResNet38Trunk(width=1.0)
    assert sum(p.numel() for p in model.parameters()) == 68_507_072


def test_trunk_keys_are_the_official_ones_minus_the_allow_list() -> None:
    with torch.device("meta"):
        model = ResNet38Trunk(width=1.0)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    official = _official_keys()
    assert set(official) - set(ours) == UNUSED_CHECKPOINT_KEYS
    assert ours == {k: s for k, s in official.items() if k not in UNUSED_CHECKPOINT_KEYS}


def test_official_checkpoint_loads_strictly(
    trunk: ResNet38Trunk, tmp_path: Path, paper_config: dict
) -> None:
    path = _checkpoint(tmp_path / "ResNet38.pth", paper_config["audio"])
    unused = load_panns_checkpoint(trunk, path, mel_filterbank(paper_config["audio"]))
    assert set(unused) == UNUSED_CHECKPOINT_KEYS
    index = {name: i for i, name in enumerate(_official_keys())}
    for name, value in trunk.state_dict().items():
        assert torch.all(value == index[name]), name


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drop": "resnet.layer3.2.bn1.running_var"}, "missing trunk key(s) resnet.layer3.2.bn1"),
        ({"add": "resnet.layer5.0.conv1.weight"}, "unexpected key(s) resnet.layer5.0.conv1"),
        ({"reshape": "conv_block_after1.bn2.bias"}, "conv_block_after1.bn2.bias has shape (7,)"),
        ({"drop": "logmel_extractor.melW"}, "missing key 'logmel_extractor.melW'"),
    ],
)
def test_any_other_difference_is_an_error_naming_the_key(
    trunk: ResNet38Trunk, tmp_path: Path, paper_config: dict, change: dict, message: str
) -> None:
    path = _checkpoint(tmp_path / "bad.pth", paper_config["audio"], **change)
    with pytest.raises(MaacError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_panns_checkpoint(trunk, path, mel_filterbank(paper_config["audio"]))


def test_mel_filterbank_mismatch_is_an_error(
    trunk: ResNet38Trunk, tmp_path: Path, paper_config: dict
) -> None:
    """A checkpoint whose melW differs from our front end (e.g. 0-16 kHz) is refused."""
    other = dict(paper_config["audio"], f_min=0, f_max=16000)
    path = _checkpoint(tmp_path / "mel.pth", paper_config["audio"],
                       mel=torch.as_tensor(mel_filterbank(other)))
    before = trunk.conv_block1.conv1.weight.detach().clone()
    with pytest.raises(MaacError, match="logmel_extractor.melW"):
        load_panns_checkpoint(trunk, path, mel_filterbank(paper_config["audio"]))
    assert torch.equal(trunk.conv_block1.conv1.weight, before)  # nothing loaded


def test_width_other_than_1_and_bad_files_are_errors(
    trunk: ResNet38Trunk, tmp_path: Path, paper_config: dict
) -> None:
    mel = mel_filterbank(paper_config["audio"])
    path = _checkpoint(tmp_path / "ok.pth", paper_config["audio"])
    with pytest.raises(MaacError, match="width 1.0"):
        load_panns_checkpoint(ResNet38Trunk(width=0.125), path, mel)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(MaacError, match="junk.pth"):
        load_panns_checkpoint(trunk, tmp_path / "junk.pth", mel)
    torch.save({"state_dict": {}}, tmp_path / "other.pth")
    with pytest.raises(MaacError, match="under 'model'"):
        load_panns_checkpoint(trunk, tmp_path / "other.pth", mel)
    with pytest.raises(MaacError, match="not found"):
        load_panns_checkpoint(trunk, tmp_path / "missing.pth", mel)


def test_level_shapes_at_width_one_eighth() -> None:
    trunk = ResNet38Trunk(width=0.125).eval()
    out = trunk(torch.randn(2, 100, 64), torch.tensor([100, 70]))
    assert out["layer2"][0].shape == (2, 16, 25, 16)
    assert out["layer3"][0].shape == (2, 32, 12, 8)
    assert out["conv_block_after1"][0].shape == (2, 256, 3, 2)
    assert out["layer2"][1].tolist() == [25, 17]
    assert out["conv_block_after1"][1].tolist() == [3, 2]
    with pytest.raises(MaacError, match="feature lengths"):
        trunk(torch.randn(1, 100, 64), torch.tensor([31]))


def test_masked_batchnorm_takes_statistics_over_valid_frames_only() -> None:
    """Training-mode statistics equal those of the valid frames alone, padding ignored."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 10, 4)
    x[1, :, 6:] = 1e3  # padding of clip 1
    mask = torch.ones(2, 1, 10, 1)
    mask[1, :, 6:] = 0
    ours = MaskedBatchNorm2d(3).train()
    y = ours(x, mask)
    reference = torch.nn.BatchNorm2d(3).train()
    valid = torch.cat([x[0], x[1, :, :6]], dim=1)[None]  # (1, C, 16, F): the valid frames
    y_ref = reference(valid)[0]
    torch.testing.assert_close(torch.cat([y[0], y[1, :, :6]], dim=1), y_ref)
    torch.testing.assert_close(ours.running_mean, reference.running_mean)
    torch.testing.assert_close(ours.running_var, reference.running_var)
    assert int(ours.num_batches_tracked) == 1
    ours.eval()
    torch.testing.assert_close(ours(x, mask), torch.nn.functional.batch_norm(
        x, reference.running_mean, reference.running_var, ours.weight, ours.bias, eps=ours.eps))
