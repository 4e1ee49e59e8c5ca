"""The training rules in the real DAG: a tiny demo end to end, tracked in MLflow, up to date."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.test_training import tiny_config

pytestmark = pytest.mark.integration
SNAKEFILE = Path(os.environ.get("MAAC_SNAKEFILE", REPO / "Snakefile"))


def test_tiny_demo_trains_every_stage_and_tracks_each_in_mlflow(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    from mlflow.tracking import MlflowClient

    config = tiny_config(epochs=2)
    config["dataset"]["synth"].update(
        clips={"development": 8, "validation": 4, "evaluation": 4}, seconds=2.0)
    config["text"]["keywords"]["count"] = 10
    configfile = tmp_path / "tiny.yaml"
    configfile.write_text(yaml.safe_dump(config))
    work = tmp_path / "work"
    work.mkdir()
    env = {**cli_env, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'results' / 'mlflow.db'}"}
    env.pop("MAAC_PIPELINE_ID", None)
    cmd = ["snakemake", "-s", str(SNAKEFILE), "--directory", str(work), "--cores", "2",
           "--configfile", str(configfile)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    run = work / "results" / "tiny"
    stages = {"encoder/frozen": "encoder_frozen", "encoder/finetune": "encoder_finetune",
              "base/seed1/ce": "captioner_ce", "maac/seed1/ce": "captioner_ce",
              "maac/seed1/rl": "captioner_rl"}
    for folder, stage in stages.items():
        assert {p.name for p in (run / folder).iterdir()} == {"best.pt", "last.pt",
                                                              "metrics.json"}
        assert json.loads((run / folder / "metrics.json").read_text())["stage"] == stage

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("maac-tiny")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("maac.role") == "pipeline"]
    children = [r for r in runs if r.data.tags.get("maac.role") == "stage"]
    assert len(parents) == 1, "one pipeline run for one snakemake invocation"
    assert sorted(r.info.run_name for r in children) == [
        "captioner_ce base seed1", "captioner_ce maac seed1", "captioner_rl maac seed1",
        "encoder_finetune", "encoder_frozen"]
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert len(client.get_metric_history(child.info.run_id, "train_loss")) == 2

    # Evaluation: captions, aac-metrics scores, bundles, the paper's tables and figures.
    table1 = (run / "table1.md").read_text()
    assert "| ours: MAAC (both, shared semantic module), cross-entropy |" in table1
    assert "| paper: MAAC, CIDEr-D optimised (RL) | 64.8 |" in table1
    run_ids = {child.info.run_id for child in children}
    assert any(run_id in table1 for run_id in run_ids), "our rows name their MLflow runs"
    assert "| Base (acoustic attention only) |" in (run / "table2.md").read_text()
    metrics = json.loads((run / "maac/seed1/metrics_rl_evaluation.json").read_text())
    assert metrics["cider_d"] >= 0 and 0 < metrics["bleu_1"] <= 1
    for name in ("attention.png", "training_curves.png"):
        assert (run / "figures" / name).read_bytes()[:4] == b"\x89PNG"
    for variant in ("base", "maac"):
        assert (run / variant / "seed1" / "model.bundle").is_file()

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert "Nothing to be done" in again.stdout + again.stderr

    report = work / "report.zip"
    built = subprocess.run([*cmd, "--report", str(report)], env=env, capture_output=True,
                           text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    import zipfile

    names = zipfile.ZipFile(report).namelist()
    for item in ("table1.csv", "table2.csv", "attention.png", "training_curves.png"):
        assert any(n.endswith(item) for n in names), item
