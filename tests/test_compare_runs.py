"""benchmarks/compare_runs.py: what counts as a difference between two runs' artifacts."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.compare_runs import compare


def _tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def test_timings_and_run_ids_are_listed_apart_and_real_changes_are_differences(tmp_path: Path):
    run_a, run_b = "0" * 32, "f" * 32
    summary = {"best": 0.5, "run_id": run_a, "history": [{"epoch": 1, "train_seconds": 2.0}]}
    moved = {**summary, "run_id": run_b, "history": [{"epoch": 1, "train_seconds": 3.5}]}
    common = {"results/x/captions.csv": "a,b\n", "results/mlflow.db": "one",
              "results/mlartifacts/1/m.json": "{}"}
    a = _tree(tmp_path / "a", {**common, "results/x/metrics.json": json.dumps(summary),
                               "results/table1.md": f"| row | 1.0 | {run_a} |\n"})
    b = _tree(tmp_path / "b", {**common, "results/mlflow.db": "two",
                               "results/x/metrics.json": json.dumps(moved),
                               "results/table1.md": f"| row | 1.0 | {run_b} |\n"})
    lines, equal, volatile = compare(a, b, ["results"])
    assert lines == [] and equal == 1  # captions.csv; the MLflow store is not compared
    assert volatile == ["results/table1.md", "results/x/metrics.json"]

    (b / "results/table1.md").write_text(f"| row | 1.1 | {run_b} |\n")  # a real change
    (b / "results/x/metrics.json").write_text(json.dumps({**moved, "best": 0.6}))
    (b / "results/x/new.csv").write_text("")
    lines, _, volatile = compare(a, b, ["results"])
    assert volatile == []
    assert lines == ["differs: results/table1.md", "differs: results/x/metrics.json",
                     f"only in {b}: results/x/new.csv"]
