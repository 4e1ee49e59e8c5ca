"""dvc.yaml and the Snakemake DAG name the same artifacts; DVC reads the stages for real; the
committed dvc.yaml is what `maac dvc-yaml` generates; `dvc metrics show` is a short table."""

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


def test_committed_dvc_yaml_is_the_generated_one(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """`maac dvc-yaml --check` passes on the committed file and fails, in one line, on a stale
    one (a stage removed by hand)."""
    check = subprocess.run(["maac", "dvc-yaml", "--check"], cwd=REPO, env=cli_env,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    stale = tmp_path / "dvc.yaml"
    stale.write_text((REPO / "dvc.yaml").read_text().replace("  demo_text:", "  demo_txt:"))
    check = subprocess.run(["maac", "dvc-yaml", "--check", "--out", str(stale)], cwd=REPO,
                           env=cli_env, capture_output=True, text=True)
    assert check.returncode == 1
    assert check.stderr.strip().splitlines() == [
        f"maac: error: {stale} is not what `maac dvc-yaml` makes from the configs; "
        "run `maac dvc-yaml` and commit it"]


def test_metrics_are_the_test_scores_and_histories_are_plots() -> None:
    """Only results/scores/ is a metric (no training stage's metrics.json); every training
    stage's history is in the plots."""
    document = yaml.safe_load((REPO / "dvc.yaml").read_text())
    assert document["metrics"] == ["results/scores"]
    for stage in document["stages"].values():
        assert "metrics" not in stage
    plotted = {f for plot in document["plots"] for spec in plot.values() for f in spec["y"]}
    assert "results/demo/maac/seed1/rl/metrics.json" in plotted
    assert "results/clotho/encoder/frozen/metrics.json" in plotted


def _git_env(cli_env: dict[str, str]) -> dict[str, str]:
    return {**cli_env, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def test_dvc_metrics_show_is_one_row_per_model_and_bound(
    tmp_path: Path, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a fresh clone nothing has run: no metric and no warning. After the demo's scores are
    written (by `maac tables`' own writer) the table has a row per model and statistic and a
    column per metric, still with no warning for the Clotho stages never run; `dvc metrics
    diff` against the commit before them reads them as new."""
    from maac.config import load_config
    from maac.dvc_stages import scores_files
    from maac.evaluation.assemble import write_dvc_scores

    env = _git_env(cli_env)
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(REPO), str(clone)], tmp_path, env)
    empty = subprocess.run(["dvc", "metrics", "show"], cwd=clone, env=env, capture_output=True,
                           text=True)
    assert empty.returncode == 0 and empty.stdout.strip() == "" and empty.stderr == "", \
        empty.stdout + empty.stderr
    config = load_config(REPO / "config/demo.yaml")
    cell = {"mean": 21.234, "low": 18.5, "high": 24.0}
    summary = {"table1": {"cells": {
        "maac_both_shared_semantic_module_cross_entropy": {"label": "x", "seeds": 3,
                                                           "bleu_4": cell, "cider_d": cell},
        "maac_both_shared_semantic_module_cider_d_optimised_rl": {"cider_d": cell}}},
        "table2": {"cells": {"base_acoustic_attention_only_cross_entropy": {"cider_d": cell}}}}
    monkeypatch.chdir(clone)  # the writer's paths are relative to the repository root
    write_dvc_scores(config, summary, scores_files(config))
    shown = subprocess.run(["dvc", "metrics", "show"], cwd=clone, env=env, capture_output=True,
                           text=True)
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    lines = shown.stdout.strip().splitlines()
    assert lines[0].split() == ["Path", "bleu_4", "cider_d"]
    rows = [line.split() for line in lines[1:]]
    assert [r[0] for r in rows] == [f"results/scores/demo/{m}{k}.json"
                                    for m in ("base_ce", "maac_ce", "maac_rl")
                                    for k in ("", ".lower", ".upper")]
    assert rows[3][1:] == ["21.23", "21.23"] and rows[4][1:] == ["18.5", "18.5"]
    assert rows[0][1:] == ["-", "21.23"]
    diff = _run(["dvc", "metrics", "diff"], clone, env)
    assert "results/scores/demo/maac_rl.json" in diff and "cider_d" in diff


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(cmd)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.integration
def test_dvc_repro_push_pull_round_trip(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """`dvc repro` runs Snakemake for real; after it `dvc status` is clean, and a push to a
    local remote followed by a pull into a fresh clone restores the artifacts."""
    env = _git_env(cli_env)
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
