"""What `make demo` prints at the end: where the artifacts are and the tables reached so far."""

from __future__ import annotations

from typing import Any

from maac import paths
from maac.data.manifest import read_manifest


def dataset_table(config: dict[str, Any]) -> str:
    """A Markdown table of the dataset's manifests: clips, captions and words per split."""
    name = config["dataset"]["name"]
    rows = ["| split | role | clips | captions | words/caption | distinct words |",
            "|---|---|---|---|---|---|"]
    for role, split in config["dataset"]["splits"].items():
        path = paths.manifest_csv(name, split)
        if not path.is_file():
            rows.append(f"| {split} | {role} | (not built yet: {path}) | | | |")
            continue
        clips = read_manifest(path).values()
        captions = [c for clip in clips for c in clip.captions]
        words = [w.lower().strip(".,") for c in captions for w in c.split()]
        mean = len(words) / max(len(captions), 1)
        rows.append(f"| {split} | {role} | {len(clips)} | {len(captions)} | {mean:.1f} | "
                    f"{len(set(words))} |")
    return "\n".join(rows)


def summarize(config: dict[str, Any]) -> str:
    name, run = config["dataset"]["name"], config["run"]
    lines = [
        f"Run {run!r} on dataset {name!r}",
        f"  raw data:   {paths.raw_dir(name)}/",
        f"  manifests:  {paths.manifest_csv(name, '{split}')}",
        f"  features:   {paths.features_h5(name, '{split}')}",
        f"  text:       {paths.text_dir(name)}/",
        f"  results:    {paths.run_dir(run)}/ (checkpoints, captions, metrics, tables, figures)",
        "  MLflow:     $MLFLOW_TRACKING_URI, default sqlite:///results/mlflow.db "
        "(mlflow ui --backend-store-uri sqlite:///results/mlflow.db)",
        "",
        "Dataset",
        dataset_table(config),
    ]
    bundles = sorted(paths.run_dir(run).glob("*/seed*/model.bundle"))
    if bundles:
        lines += ["", "Model bundles (maac caption AUDIO --model BUNDLE):",
                  *[f"  {b}" for b in bundles]]
    for number, title in ((1, "Table 1: MAAC after CE and after RL (x100)"),
                          (2, "Table 2: ablation, CE stage (x100)")):
        table = paths.table(run, f"table{number}", "md")
        if table.is_file():
            lines += ["", f"{title}  [{table}]", table.read_text(encoding="utf-8").rstrip()]
    return "\n".join(lines)
