"""Table 1 and Table 2 from metric files: means +- std over seeds, paper rows, n/a reasons."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from maac import paths
from maac.cli.main import main
from tests.conftest import REPO, load_yaml

NA = "SPICE needs Stanford CoreNLP 3.6.0: run maac metrics-setup online"


def _metrics(cider: float, run_id: str) -> dict:
    return {"bleu_1": 0.5, "bleu_2": 0.3, "bleu_3": 0.2, "bleu_4": 0.1, "meteor": 0.15,
            "rouge_l": 0.35, "cider_d": cider, "spice": None, "spider": None,
            "unavailable": {"spice": NA, "spider": NA}, "mlflow_run_id": run_id}


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch) -> dict:
    monkeypatch.chdir(tmp_path)
    config = load_yaml(REPO / "config" / "demo.yaml")
    config["seeds"] = [1, 2]
    for seed, cider in ((1, 0.40), (2, 0.44)):
        for stage, bonus in (("ce", 0.0), ("rl", 0.05)):
            path = paths.metrics_json("demo", "maac", seed, stage, "evaluation")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(_metrics(cider + bonus, f"run-{stage}-{seed}")))
    base = paths.metrics_json("demo", "base", 1, "ce", "evaluation")
    base.parent.mkdir(parents=True, exist_ok=True)
    base.write_text(json.dumps(_metrics(0.30, "run-base")))
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(config))
    return config


def test_tables(run_dir: dict, capsys) -> None:
    assert main(["tables", "--config", "demo.yaml"]) == 0
    printed = capsys.readouterr().out
    t1 = Path("results/demo/table1.md").read_text()
    assert "| ours: MAAC (both, shared semantic module), cross-entropy | 50.0 ± 0.0 |" in t1
    assert "42.0 ± 2.8" in t1 and "47.0 ± 2.8" in t1  # CIDEr-D of CE and RL, x100 over 2 seeds
    assert f"n/a ({NA})" in t1 and "run-ce-1 run-ce-2" in t1
    assert "| paper: MAAC, CIDEr-D optimised (RL) | 64.8 | 18.1 | 40.8 | 19.0 | 49.1 |" in t1
    t2 = Path("results/demo/table2.md").read_text()
    assert "| Base (acoustic attention only) | 10.0 | 16.5 | 30.0 | 40.6 |" in t2
    assert "did not converge" in t2 and "not run" in t2
    assert t1 in printed and t2 in printed
    csv1 = Path("results/demo/table1.csv").read_text().splitlines()
    assert csv1[0].startswith("model,bleu_1,bleu_1_std,bleu_4")
    assert ",42.00,2.83," in csv1[1]
    assert not [p for p in os.listdir("results/demo") if p.endswith(".tmp")]
