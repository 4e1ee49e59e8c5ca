"""What `make demo` prints at the end: where the artifacts are and the tables reached so far."""

from __future__ import annotations

import json
from pathlib import Path
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


def raw_data_line(config: dict[str, Any]) -> str:
    """Where the dataset's audio and captions are: data/raw/{name}/ or the local folder."""
    dataset = config["dataset"]
    if dataset["source"] == "local":
        local = dataset["local"]
        return (f"  raw data:   {local['path']} (local, read in place; layout "
                f"{local.get('layout', 'auto')}, md5 {local.get('md5', 'zenodo')})")
    return f"  raw data:   {paths.raw_dir(dataset['name'])}/"


def audit_line(name: str) -> str:
    """The split audit's verdict, or where it will be."""
    path = paths.audit_json(name)
    if not path.is_file():
        return f"Split audit: (not run yet: {path})"
    from maac.data.audit import summary_line

    return f"{summary_line(json.loads(path.read_text(encoding='utf-8')))}  [{path}]"


def summarize(config: dict[str, Any]) -> str:
    name, run = config["dataset"]["name"], config["run"]
    lines = [
        f"Run {run!r} on dataset {name!r}",
        raw_data_line(config),
        f"  manifests:  {paths.manifest_csv(name, '{split}')}",
        f"  features:   {paths.features_h5(name, '{split}')}",
        f"  text:       {paths.text_dir(name)}/",
        f"  results:    {paths.run_dir(run)}/ (checkpoints, captions, metrics, tables, figures)",
        "  MLflow:     $MLFLOW_TRACKING_URI, default sqlite:///results/mlflow.db "
        "(mlflow ui --backend-store-uri sqlite:///results/mlflow.db)",
        "",
        "Dataset",
        dataset_table(config),
        audit_line(name),
    ]
    bundles = sorted(Path().glob(str(paths.bundle(run, "*", "*"))))
    if bundles:
        lines += ["", "Model bundles (maac caption AUDIO --model BUNDLE):",
                  *[f"  {b}" for b in bundles]]
    for number, title in ((1, "Table 1: MAAC after CE and after RL (x100)"),
                          (2, "Table 2: ablation, CE stage (x100)")):
        table = paths.table(run, f"table{number}", "md")
        if table.is_file():
            lines += ["", f"{title}  [{table}]", table.read_text(encoding="utf-8").rstrip()]
    return "\n".join(lines)
