"""The Snakemake DAG, run for real: the demo data layer, up-to-date reruns, dry runs, lint."""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
from pathlib import Path

import py7zr
import pytest
import yaml

from maac.audio.feature_store import FeatureStore
from maac.data.synth import SPLITS, synthesize
from tests.conftest import REPO, data_targets
from tests.helpers_http import http_server_fixture  # noqa: F401

pytestmark = pytest.mark.integration


def snakemake(args: list[str], workdir: Path, env: dict[str, str], check: bool = True):
    cmd = ["snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def test_demo_data_layer_runs_and_is_then_up_to_date(
    tmp_path: Path, tiny_config: Path, cli_env: dict[str, str]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    snakemake(["--cores", "2", *data_targets("tiny"), "--configfile", str(tiny_config)], work,
              cli_env)
    for split, n in {"development": 6, "validation": 4, "evaluation": 4}.items():
        with (work / "data/manifest/tiny" / f"{split}.csv").open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == n
        assert all((work / r["audio_path"]).is_file() for r in rows)
    assert (work / "logs/tiny/data/synthesize.log").is_file()
    again = snakemake(["--cores", "2", *data_targets("tiny"), "--configfile", str(tiny_config)],
                      work, cli_env)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_changed_synth_params_rerun_the_dataset(
    tmp_path: Path, tiny_config: Path, cli_env: dict[str, str]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    snakemake(["--cores", "2", *data_targets("tiny"), "--configfile", str(tiny_config)], work,
              cli_env)
    config = yaml.safe_load(tiny_config.read_text())
    config["dataset"]["synth"]["seed"] = 5
    tiny_config.write_text(yaml.safe_dump(config))
    dry = snakemake(["-n", "--cores", "2", *data_targets("tiny"), "--configfile",
                     str(tiny_config)], work, cli_env)
    assert "rule synthesize" in dry.stdout
    assert "Params have changed since last execution" in dry.stdout


def test_clotho_dry_run_lists_downloads_with_real_urls(
    tmp_path: Path, paper_config: dict, cli_env: dict[str, str]
) -> None:
    result = snakemake(["-n", "-p", "--cores", "all"], REPO, cli_env)
    out = result.stdout
    for name, md5 in paper_config["dataset"]["zenodo"]["files"].items():
        assert f"https://zenodo.org/record/4783391/files/{name}?download=1" in out, name
        assert md5 in out
    assert "https://zenodo.org/record/3987831/files/ResNet38_mAP%3D0.434.pth?download=1" in out
    for rule in ("download_clotho", "extract_clotho_audio", "download_panns", "manifest"):
        assert rule in out


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/demo.yaml"])
def test_lint_is_clean(configfile: str, cli_env: dict[str, str]) -> None:
    result = snakemake(["--lint", "--configfile", configfile], REPO, cli_env)
    output = result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in output
    assert "Lints for" not in output


def test_misspelt_key_stops_snakemake_with_its_path(
    tmp_path: Path, tiny_config: Path, cli_env: dict[str, str]
) -> None:
    tiny_config.write_text(tiny_config.read_text().replace("seconds:", "secnds:"))
    result = snakemake(["-n", "--cores", "1", "--configfile", str(tiny_config)], tmp_path,
                       cli_env, check=False)
    assert result.returncode != 0
    assert f"{tiny_config}: unknown key 'dataset.synth.secnds'" in result.stderr + result.stdout


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_clotho_dag_downloads_extracts_and_extracts_features(
    tmp_path: Path, http_server, paper_config: dict, cli_env: dict[str, str]
) -> None:
    """The Clotho config's real rules against a local Zenodo stand-in serving Clotho's files."""
    clips = {"development": 5, "validation": 4, "evaluation": 4}
    source = tmp_path / "source"
    synthesize(source, clips, seconds=1.5, seed=2, progress=False)
    files = {}
    for split in SPLITS:
        archive = http_server.root / f"clotho_audio_{split}.7z"
        with py7zr.SevenZipFile(archive, "w") as z:
            for wav in sorted((source / split).iterdir()):
                z.write(wav, f"{split}/{wav.name}")
        for kind in ("captions", "metadata"):
            shutil.copy(source / f"clotho_{kind}_{split}.csv", http_server.root)
    for path in http_server.root.iterdir():
        files[path.name] = _md5(path)
    checkpoint = http_server.root / "ResNet38_mAP=0.434.pth"
    checkpoint.write_bytes(b"stand-in checkpoint bytes")
    config = paper_config
    config["dataset"]["zenodo"] = {"url": http_server.template, "files": files}
    config["pretrained"].update(url=http_server.url("ResNet38_mAP%3D0.434.pth"),
                                md5=_md5(checkpoint))
    configfile = tmp_path / "clotho-local.yaml"
    configfile.write_text(yaml.safe_dump(config))
    work = tmp_path / "work"
    work.mkdir()

    # The data layer of the paper's config (its training would take days on a CPU).
    targets = [f"data/features/clotho/{s}.h5" for s in SPLITS] + [
        f"data/raw/clotho/{name}" for name in files] + ["data/pretrained/ResNet38_mAP=0.434.pth"]
    snakemake(["--cores", "2", *targets, "--configfile", str(configfile)], work, cli_env)

    assert sorted(r.name for r in http_server.requests) == sorted(
        [*files, "ResNet38_mAP=0.434.pth"])
    for split, n in clips.items():
        assert len(list((work / "data/raw/clotho" / split).glob("*.wav"))) == n
        store = FeatureStore(work / "data/features/clotho" / f"{split}.h5")
        assert len(store) == n and store.attrs["sample_rate"] == 32000
    assert (work / "data/pretrained/ResNet38_mAP=0.434.pth").read_bytes() == checkpoint.read_bytes()
    again = snakemake(["--cores", "2", *targets, "--configfile", str(configfile)], work, cli_env)
    assert "Nothing to be done" in again.stdout + again.stderr
    assert len(http_server.requests) == len(files) + 1
