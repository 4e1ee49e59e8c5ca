"""Per-epoch training curves of every stage (from each stage's ``metrics.json`` history)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from maac.atomic import atomic_file
from maac.evaluation.tables import SHORT_NAMES

STAGES = {"encoder_frozen": "encoder, frozen PANNs layers", "encoder_finetune":
          "encoder, fine-tuned", "captioner_ce": "cross-entropy (CE)",
          "captioner_rl": "CIDEr-D optimised (RL)"}
METRICS = {"val_map": "keyword mAP", "val_cider_d": "CIDEr-D (greedy)"}


def stage_title(summary: dict[str, Any]) -> str:
    """"MAAC, seed 1: CIDEr-D optimised (RL)"; "Encoder: fine-tuned" (from the summary's
    own stage, variant and seed)."""
    stage = STAGES.get(summary.get("stage", ""), summary.get("stage", "stage"))
    if "variant" not in summary:
        return stage[0].upper() + stage[1:]
    variant = SHORT_NAMES.get(summary["variant"], summary["variant"])
    return f"{variant}, seed {summary.get('seed', '?')}: {stage}"


def draw_curves(summaries: list[Path], out: Path | str) -> None:
    """One panel per stage (two columns): training loss and the validation metric over epochs,
    the metric's 95% bootstrap interval over the validation clips as a band where the stage
    records one; the title names variant, seed and stage, the best epoch and its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    columns = 2 if len(summaries) > 1 else 1
    rows = math.ceil(len(summaries) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.2 * columns, 2.9 * rows), squeeze=False)
    for ax in axes.flat[len(summaries):]:
        ax.set_axis_off()
    legend: list[Any] = []
    for path, ax in zip(summaries, axes.flat, strict=False):
        summary = json.loads(Path(path).read_text(encoding="utf-8"))
        history = summary["history"]
        epochs = [h["epoch"] for h in history]
        metric = summary["metric"]
        name = METRICS.get(metric, metric)
        lines = ax.plot(epochs, [h["train_loss"] for h in history], "o-", color="tab:blue",
                        label="training loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss", color="tab:blue")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        right = ax.twinx()
        lines += right.plot(epochs, [h.get(metric) for h in history], "s-", color="tab:orange",
                            label=f"validation {name}")
        band = [(h["epoch"], h[f"{metric}_low"], h[f"{metric}_high"]) for h in history
                if f"{metric}_low" in h]
        if band:  # the validation score's 95% bootstrap interval over the validation clips
            lines.append(right.fill_between(
                [b[0] for b in band], [b[1] for b in band], [b[2] for b in band],
                color="tab:orange", alpha=0.18, label="95% interval (validation clips)"))
        right.set_ylabel(f"validation {name}", color="tab:orange")
        interval = summary.get("best_interval")
        shown = f", 95% CI [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else ""
        ax.set_title(f"{stage_title(summary)}\nbest {name} {summary['best']:.3f}{shown} "
                     f"at epoch {summary['best_epoch']}", fontsize=9)
        if len(lines) > len(legend):
            legend = lines
    # one legend for all panels, above them (inside a panel it hides the curves)
    labels = ["training loss (left axis)", "validation metric (right axis)",
              "its 95% bootstrap interval over the validation clips"]
    fig.legend(legend, labels[: len(legend)], loc="upper center", ncol=3, fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    with atomic_file(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
