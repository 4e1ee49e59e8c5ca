"""dvc.yaml and the Snakemake DAG name the same artifacts; DVC reads the stages for real."""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml

from tests.conftest import REPO

CONFIGS = {"demo": "config/demo.yaml", "clotho": "config/config.yaml"}


def snakemake_outputs(configfile: str, env: dict[str, str]) -> set[str]:
    result = subprocess.run(
        ["snakemake", "--summary", "--configfile", configfile], cwd=REPO, env=env,
        capture_output=True, text=True, check=True,
    )
    lines = [line.split("\t")[0] for line in result.stdout.splitlines()]
    return {line for line in lines[1:] if line}


def dvc_outs(dataset: str) -> set[str]:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    return {str(out) for name, stage in stages.items() if name.startswith(f"{dataset}_")
            for out in stage.get("outs", [])}


def _covered(path: str, outs: set[str]) -> bool:
    return any(PurePosixPath(path) == PurePosixPath(o) or PurePosixPath(o) in
               PurePosixPath(path).parents for o in outs)


@pytest.mark.parametrize("dataset", sorted(CONFIGS))
def test_dvc_outs_cover_exactly_the_dag(dataset: str, cli_env: dict[str, str]) -> None:
    produced = snakemake_outputs(CONFIGS[dataset], cli_env)
    outs = dvc_outs(dataset)
    assert produced, "the DAG lists no outputs"
    assert not [p for p in produced if not _covered(p, outs)], "outputs DVC does not version"
    assert not [o for o in outs if not any(_covered(p, {o}) for p in produced)], \
        "DVC outs the DAG does not make"


def test_dvc_reads_the_pipeline(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """`dvc dag` parses dvc.yaml and chains the stages through their outs and deps."""
    result = subprocess.run(["dvc", "dag", "--dot"], cwd=REPO, env=cli_env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    for stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]:
        assert stage in result.stdout
    edges = result.stdout.replace('"', "")
    assert "demo_data -> demo_features" in edges and "clotho_data -> clotho_features" in edges
