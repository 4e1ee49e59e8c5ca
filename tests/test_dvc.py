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
    return {next(iter(out)) if isinstance(out, dict) else str(out)
            for name, stage in stages.items() if name.startswith(f"{dataset}_")
            for out in [*stage.get("outs", []), *stage.get("metrics", [])]}


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


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(cmd)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.integration
def test_dvc_repro_push_pull_round_trip(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """`dvc repro` runs Snakemake for real; after it `dvc status` is clean, and a push to a
    local remote followed by a pull into a fresh clone restores the artifacts."""
    env = {**cli_env, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    first, second, remote = tmp_path / "first", tmp_path / "second", tmp_path / "remote"
    _run(["git", "clone", "-q", str(REPO), str(first)], tmp_path, env)
    # A small demo: the same stages on fewer, shorter clips.
    config = yaml.safe_load((first / "config/demo.yaml").read_text())
    config["dataset"]["synth"].update(clips={"development": 8, "validation": 4,
                                             "evaluation": 4}, seconds=1.5)
    (first / "config/demo.yaml").write_text(yaml.safe_dump(config))
    _run(["dvc", "repro", "demo_text", "demo_features"], first, env)
    status = _run(["dvc", "status", "--with-deps", "demo_text", "demo_features"], first, env)
    assert "Data and pipelines are up to date" in status, status
    _run(["dvc", "remote", "add", "-d", "local", str(remote)], first, env)
    _run(["dvc", "push", "--with-deps", "demo_text", "demo_features"], first, env)
    _run(["git", "add", "-A"], first, env)
    _run(["git", "commit", "-qm", "demo artifacts"], first, env)
    _run(["git", "clone", "-q", str(first), str(second)], tmp_path, env)
    _run(["dvc", "pull", "--with-deps", "demo_text", "demo_features"], second, env)
    for rel in ("data/text/demo/vocab.json", "data/text/demo/keywords.csv",
                "data/manifest/demo/development.csv", "data/features/demo/validation.h5"):
        assert (second / rel).read_bytes() == (first / rel).read_bytes(), rel
    status = _run(["dvc", "status", "--with-deps", "demo_text", "demo_features"], second,
                  env)
    assert "Data and pipelines are up to date" in status, status
