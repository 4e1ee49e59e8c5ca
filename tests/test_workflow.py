"""The Snakemake DAG, run for real: the demo data layer, up-to-date reruns, dry runs, lint."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

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
    snakemake(["--cores", "2", "--configfile", str(tiny_config)], work, cli_env)
    for split, n in {"development": 6, "validation": 4, "evaluation": 4}.items():
        with (work / "data/manifest/tiny" / f"{split}.csv").open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == n
        assert all((work / r["audio_path"]).is_file() for r in rows)
    assert (work / "logs/tiny/data/synthesize.log").is_file()
    again = snakemake(["--cores", "2", "--configfile", str(tiny_config)], work, cli_env)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_changed_synth_params_rerun_the_dataset(
    tmp_path: Path, tiny_config: Path, cli_env: dict[str, str]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    snakemake(["--cores", "2", "--configfile", str(tiny_config)], work, cli_env)
    config = yaml.safe_load(tiny_config.read_text())
    config["dataset"]["synth"]["seed"] = 5
    tiny_config.write_text(yaml.safe_dump(config))
    dry = snakemake(["-n", "--cores", "2", "--configfile", str(tiny_config)], work, cli_env)
    assert "rule synthesize" in dry.stdout
    assert "Params have changed since last execution" in dry.stdout


def test_clotho_dry_run_lists_downloads_with_real_urls(
    tmp_path: Path, paper_config: dict, cli_env: dict[str, str]
) -> None:
    result = snakemake(["-n", "--cores", "all"], REPO, cli_env)
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
