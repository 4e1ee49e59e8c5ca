"""The training rules in the real DAG: a tiny demo end to end, tracked in MLflow, up to date."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import TinyRun

pytestmark = pytest.mark.integration


def test_tiny_demo_trains_every_stage_and_tracks_each_in_mlflow(tiny_run: TinyRun) -> None:
    from mlflow.tracking import MlflowClient

    work, cmd, env = tiny_run.work, tiny_run.cmd, tiny_run.env
    run = work / "results" / "tiny"
    stages = {"encoder/frozen": "encoder_frozen", "encoder/finetune": "encoder_finetune"}
    for seed in (1, 2):
        stages.update({f"base/seed{seed}/ce": "captioner_ce", f"maac/seed{seed}/ce":
                       "captioner_ce", f"maac/seed{seed}/rl": "captioner_rl"})
    for folder, stage in stages.items():
        assert {p.name for p in (run / folder).iterdir()} == {"best.pt", "last.pt",
                                                              "metrics.json"}
        summary = json.loads((run / folder / "metrics.json").read_text())
        assert summary["stage"] == stage
        if stage.startswith("captioner"):  # the best epoch's validation interval
            low, high = summary["best_interval"]
            assert low <= summary["best"] <= high

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("maac-tiny")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("maac.role") == "pipeline"]
    children = [r for r in runs if r.data.tags.get("maac.role") == "stage"]
    assert len(parents) == 1, "one pipeline run for one snakemake invocation"
    training = sorted(r.info.run_name for r in children if r.data.tags.get("maac.stage")
                      not in ("evaluate", "tables"))
    assert training == ["captioner_ce base seed1", "captioner_ce base seed2",
                        "captioner_ce maac seed1", "captioner_ce maac seed2",
                        "captioner_rl maac seed1", "captioner_rl maac seed2",
                        "encoder_finetune", "encoder_frozen"]
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        if child.info.run_name in training:
            assert len(client.get_metric_history(child.info.run_id, "train_loss")) == 2
    evaluations = [r for r in children if r.data.tags.get("maac.stage") == "evaluate"]
    assert len(evaluations) == 6  # (base ce, maac ce, maac rl) x 2 seeds
    for r in evaluations:  # each evaluation logs its scores' intervals over clips
        assert r.data.metrics["cider_d_low"] <= r.data.metrics["cider_d"] <= \
            r.data.metrics["cider_d_high"]
    (tables_run,) = [r for r in children if r.data.tags.get("maac.stage") == "tables"]
    logged = tables_run.data.metrics
    assert "table1.comparisons.maac_rl_vs_ce.cider_d.p_holm" in logged
    assert "table2.comparisons.maac_vs_base.cider_d.p" in logged

    # Evaluation: captions, per-clip scores, intervals, comparisons, bundles, figures.
    table1 = (run / "table1.md").read_text()
    row = next(line for line in table1.splitlines()
               if line.startswith("| MAAC (both, shared semantic module), cross-entropy |"))
    assert row.count("[") >= 5 and "| 2 | 4 |" in row  # intervals; 2 seeds, 4 clips
    assert "not comparable" in table1 and "64.8" not in table1  # synthetic: no paper rows
    assert "| MAAC: RL vs CE | CIDEr-D |" in table1
    run_ids = {child.info.run_id for child in children}
    assert any(run_id in table1 for run_id in run_ids), "our rows name their MLflow runs"
    table2 = (run / "table2.md").read_text()
    assert "| Base (acoustic attention only), cross-entropy |" in table2
    assert "| MAAC vs Base | CIDEr-D |" in (run / "table2_comparisons.md").read_text()
    metrics = json.loads((run / "maac/seed1/metrics_rl_evaluation.json").read_text())
    assert metrics["cider_d"] >= 0 and 0 < metrics["bleu_1"] <= 1
    scores = (run / "maac/seed1/scores_rl_evaluation.csv").read_text().splitlines()
    assert scores[0].startswith("file_name,bleu_1") and len(scores) == 5
    intervals = json.loads((run / "intervals.json").read_text())
    assert intervals["settings"]["seeds"] == 2
    for name in ("attention.png", "training_curves.png", "intervals.png"):
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
    for item in ("table1.csv", "table2.csv", "table1_comparisons.csv", "table2_comparisons.csv",
                 "attention.png", "training_curves.png", "intervals.png"):
        assert any(n.endswith(item) for n in names), item
