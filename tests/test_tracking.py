"""MLflow tracking: one run per stage, nested under one pipeline run, with per-epoch metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maac.tracking.mlflow_tracker import flatten, tracking_uri
from maac.training.settings import stage_settings
from tests.test_training import stage_files, tiny_config, use_tiny_data


@pytest.fixture
def tiny_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_tiny_data(tmp_path, monkeypatch)


def test_default_store_is_sqlite_under_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri() == "sqlite:///results/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    assert tracking_uri() == "http://tracking.example:5000"


def test_flatten_params() -> None:
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x"}) == {"a.b": "1", "a.c": "[1, 2]",
                                                               "d": "x"}


def test_stages_are_nested_runs_with_per_epoch_metrics(
    tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    from maac.training.run import Runtime, run_captioner, run_encoder

    uri = f"sqlite:///{tiny_data / 'results' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MAAC_PIPELINE_ID", "pipeline-under-test")
    runtime = Runtime("cpu", None, progress=False, tracking=True)
    config = tiny_config(epochs=2)
    config["encoder"]["frozen"]["epochs"] = 1
    epochs = {"encoder_frozen": 1, "encoder_finetune": 2, "captioner_ce": 2, "captioner_rl": 2}
    for phase in ("frozen", "finetune"):
        run_encoder(stage_settings(config, f"encoder_{phase}"), phase,
                    stage_files(config, f"encoder_{phase}"), runtime)
    for phase in ("ce", "rl"):
        run_captioner(stage_settings(config, f"captioner_{phase}"), phase, "maac", 1,
                      stage_files(config, f"captioner_{phase}"), runtime)

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("maac-tiny")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("maac.role") == "pipeline"]
    stages = {r.data.tags["maac.stage"]: r for r in runs if r.data.tags.get("maac.role") == "stage"}
    assert len(parents) == 1 and len(runs) == 5 and set(stages) == set(epochs)
    assert parents[0].data.tags["maac.pipeline_id"] == "pipeline-under-test"
    for name, run in stages.items():
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        tags = run.data.tags
        assert tags["mlflow.source.git.commit"] and len(tags["maac.config_hash"]) == 64
        assert len(tags["maac.features_train_sha256"]) == len(tags["maac.vocab_sha256"]) == 64
        metric = "val_map" if name.startswith("encoder") else "val_cider_d"
        history = client.get_metric_history(run.info.run_id, metric)
        assert [m.step for m in history] == list(range(1, epochs[name] + 1))
        assert len(client.get_metric_history(run.info.run_id, "train_loss")) == epochs[name]
        assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["metrics.json"]
        local = Path(client.download_artifacts(run.info.run_id, "metrics.json", str(tiny_data)))
        assert json.loads(local.read_text())["stage"] == name
    assert stages["captioner_ce"].data.params["captioner.ce.epochs"] == "2"
    assert "captioner.rl.lr" not in stages["captioner_ce"].data.params  # its own sections only
    assert stages["captioner_rl"].data.tags["maac.variant"] == "maac"
