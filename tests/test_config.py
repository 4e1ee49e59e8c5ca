"""The config schema: both configs validate; bad keys, types and ranges fail with the key path."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from maac.cli.main import main
from maac.config import ConfigError, load_config, validate_config
from tests.conftest import CLOTHO_REF, REPO


@pytest.mark.parametrize("name", ["config.yaml", "demo.yaml"])
def test_shipped_configs_are_valid(name: str) -> None:
    config = load_config(REPO / "config" / name)
    assert config["run"] in {"clotho", "demo"}


def _set(config: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node[key]
    node[last] = value


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("dataset.synth.secnds", 3, "unknown key 'dataset.synth.secnds'"),
        ("captioner.ce.label_smoothng", 0.1, "unknown key 'captioner.ce.label_smoothng'"),
        ("trainig", {}, "unknown key 'trainig'"),
        ("training.batch_size", "32", "key 'training.batch_size': '32' is not of type 'integer'"),
        ("training.batch_size", 0, "key 'training.batch_size': 0 is less than the minimum"),
        ("captioner.word_dropout", 1.5, "key 'captioner.word_dropout': 1.5 is greater"),
        ("encoder.frozen.lr", -1.0, "key 'encoder.frozen.lr'"),
        ("dataset.splits.train", "dev", "key 'dataset.splits.train': 'dev' is not one of"),
        ("variants", ["maac", "mac"], "key 'variants.1': 'mac' is not one of"),
        ("run", "a/b", "key 'run'"),
    ],
)
def test_bad_value_names_the_key(demo_config: dict, key: str, value, message: str) -> None:
    config = copy.deepcopy(demo_config)
    _set(config, key, value)
    with pytest.raises(ConfigError, match=re.escape(f"config/demo.yaml: {message}")):
        validate_config(config, "config/demo.yaml")


def test_source_requires_its_section(demo_config: dict, paper_config: dict) -> None:
    del demo_config["dataset"]["synth"]
    with pytest.raises(ConfigError, match="'synth' is a required property"):
        validate_config(demo_config)
    paper_config["dataset"]["zenodo"]["files"]["clotho_audio_development.7z"] = "not-an-md5"
    with pytest.raises(ConfigError, match=r"dataset\.zenodo\.files\.clotho_audio_development\.7z"):
        validate_config(paper_config)


def test_local_source_keys_and_relations(demo_config: dict, paper_config: dict) -> None:
    """source: local needs dataset.local.path; its md5 check (the default) needs the zenodo
    sums, which config.yaml has and demo.yaml has not."""
    paper_config["dataset"]["source"] = "local"
    with pytest.raises(ConfigError, match="'local' is a required property"):
        validate_config(copy.deepcopy(paper_config))
    paper_config["dataset"]["local"] = {"path": "/data/clotho"}
    validate_config(copy.deepcopy(paper_config))  # layout auto, md5 zenodo by default
    for key, value, message in (("layout", "flat", "'flat' is not one of"),
                                ("md5", False, "False is not of type 'string'"),
                                ("path", "", "should be non-empty"),
                                ("folder", "x", "unknown key 'dataset.local.folder'")):
        bad = copy.deepcopy(paper_config)
        bad["dataset"]["local"][key] = value
        with pytest.raises(ConfigError, match=message):
            validate_config(bad)
    demo_config["dataset"].update(source="local", local={"path": "/data/mine"})
    with pytest.raises(ConfigError, match=r"dataset\.local\.md5': zenodo .*md5: skip"):
        validate_config(copy.deepcopy(demo_config))
    demo_config["dataset"]["local"]["md5"] = "skip"
    validate_config(demo_config)


def test_paper_values(paper_config: dict) -> None:
    """config.yaml holds the paper's hyperparameters (docs/fidelity.md)."""
    c = paper_config
    assert (c["encoder"]["frozen"], c["encoder"]["finetune"]) == (
        {"epochs": 80, "lr": 1e-3}, {"epochs": 25, "lr": 5e-4})
    assert (c["captioner"]["ce"]["epochs"], c["captioner"]["ce"]["lr"]) == (30, 3e-4)
    assert (c["captioner"]["rl"]["epochs"], c["captioner"]["rl"]["lr"]) == (55, 5e-5)
    assert c["training"]["batch_size"] == 32 and c["training"]["lr_decay"] == 0.98
    assert c["text"]["keywords"]["count"] == 300 and c["captioner"]["top_keywords"] == 5
    assert c["captioner"]["word_dropout"] == 0.5 and c["captioner"]["classifier_dropout"] == 0.25
    assert c["captioner"]["hidden_dim"] == c["captioner"]["embed_dim"] == 512
    assert c["decoding"] == {"beam_size": 4, "max_length": 30, "length_penalty": 1.15}
    assert c["audio"] == {"sample_rate": 32000, "n_fft": 1024, "win_length": 1024,
                          "hop_length": 320, "n_mels": 64, "f_min": 50, "f_max": 14000,
                          "amin": 1e-10}
    assert c["encoder"]["width"] == 1.0 and c["pretrained"]["md5"] == (
        "bf12f36aaabac4e0855e22d3c3239c1b")


def test_every_hyperparameter_has_a_source_comment() -> None:
    """Each value line of the hyperparameter sections of config.yaml says where it comes from."""
    sections = {"audio", "text", "encoder", "captioner", "training", "decoding"}
    section, uncommented = None, []
    for n, line in enumerate((REPO / "config" / "config.yaml").read_text().splitlines(), 1):
        if re.match(r"^[a-z_]+:", line):
            section = line.split(":")[0]
        value = line.split("#")[0].strip()
        if section in sections and value and not value.endswith(":") and "#" not in line:
            uncommented.append(f"{n}: {line}")
    assert not uncommented, uncommented


@pytest.mark.skipif(not CLOTHO_REF.is_dir(), reason="../shared/data/clotho_v2.1 not present")
def test_checksums_match_the_reference_readme(paper_config: dict) -> None:
    readme = (CLOTHO_REF / "README.md").read_text()
    for name, md5 in paper_config["dataset"]["zenodo"]["files"].items():
        stem = name.removeprefix("clotho_captions_").removesuffix(".csv")
        assert re.search(rf"{re.escape(name)}\s+{md5}", readme) or (
            name.startswith("clotho_captions_") and f"{stem} {md5}" in readme
        ), name
    assert paper_config["pretrained"]["md5"] in readme


def test_cli_config_check(tmp_path: Path, demo_config: dict, capsys) -> None:
    assert main(["config", "check", str(REPO / "config" / "demo.yaml")]) == 0
    demo_config["decoding"]["beam"] = 4
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(demo_config))
    assert main(["config", "check", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err == f"maac: error: {bad}: unknown key 'decoding.beam'; allowed here: beam_size, " \
                  "length_penalty, max_length"


def test_unreadable_config(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("run: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml, line 2: not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize(("sample_rate", "n_fft", "n_mels", "f_min", "f_max"), [
    (32000, 1024, 64, 50, 14000), (32000, 1024, 256, 50, 14000), (32000, 512, 128, 0, 16000),
    (32000, 64, 64, 50, 14000), (16000, 400, 80, 0, 8000), (44100, 2048, 128, 20, 22050),
])
def test_empty_mel_bands_match_the_front_ends_filter_bank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float
) -> None:
    """The config check's count of empty bands is the front end's (torchaudio's slaney bank)."""
    import warnings

    import torchaudio

    from maac.config import empty_mel_bands

    audio = {"sample_rate": sample_rate, "n_fft": n_fft, "n_mels": n_mels, "f_min": f_min,
             "f_max": f_max}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchaudio warns of the empty bands
        bank = torchaudio.functional.melscale_fbanks(  # the front end's bank, unchecked
            n_freqs=n_fft // 2 + 1, f_min=f_min, f_max=f_max, n_mels=n_mels,
            sample_rate=sample_rate, norm="slaney", mel_scale="slaney").numpy()
    assert empty_mel_bands(audio) == [i for i in range(n_mels) if not (bank[:, i] > 0).any()]


def test_workflow_config_merges_files_then_overrides(tmp_path: Path) -> None:
    """As Snakemake merges: later files key by key, then --config KEY=VALUE; replaced in place."""
    from maac.config import workflow_config

    second = tmp_path / "second.yaml"
    second.write_text("run: second\ncaptioner:\n  ce:\n    lr: 3e-3\n", encoding="utf-8")
    config: dict = {"stale": "snakemake's YAML 1.1 reading"}
    same = workflow_config(config, [REPO / "config" / "demo.yaml", second], {"seeds": [7]})
    assert same is config and "stale" not in config
    assert config["run"] == "second" and config["seeds"] == [7]
    assert config["captioner"]["ce"]["lr"] == 0.003
    assert config["captioner"]["ce"]["epochs"] == 30  # kept from demo.yaml
    with pytest.raises(ConfigError, match="key 'seeds.0'"):
        workflow_config({}, [REPO / "config" / "demo.yaml"], {"seeds": ["x"]})
