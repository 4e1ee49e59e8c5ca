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
        f"  results:    {paths.run_dir(run)}/",
        "",
        "Dataset",
        dataset_table(config),
    ]
    return "\n".join(lines)
