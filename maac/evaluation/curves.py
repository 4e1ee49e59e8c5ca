"""Per-epoch training curves of every stage (from each stage's ``metrics.json`` history)."""

from __future__ import annotations

import json
from pathlib import Path

from maac.atomic import atomic_file


def draw_curves(summaries: list[Path], out: Path | str) -> None:
    """One panel per stage: training loss and the validation metric over epochs, with the
    metric's bootstrap interval as a band where the stage records one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(summaries), 1, figsize=(7, 2.6 * len(summaries)), squeeze=False)
    for path, (ax,) in zip(summaries, axes, strict=True):
        summary = json.loads(Path(path).read_text(encoding="utf-8"))
        history = summary["history"]
        epochs = [h["epoch"] for h in history]
        metric = summary["metric"]
        ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="training loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss")
        right = ax.twinx()
        right.plot(epochs, [h.get(metric) for h in history], "s-", color="tab:orange",
                   label=f"validation {metric}")
        band = [(h["epoch"], h[f"{metric}_low"], h[f"{metric}_high"]) for h in history
                if f"{metric}_low" in h]
        if band:  # the validation score's 95% bootstrap interval over the validation clips
            right.fill_between([b[0] for b in band], [b[1] for b in band],
                               [b[2] for b in band], color="tab:orange", alpha=0.2,
                               label="95% interval over validation clips")
        right.set_ylabel(f"validation {metric}")
        interval = summary.get("best_interval")
        shown = f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else ""
        parts = Path(path).parent.parts  # .../encoder/frozen or .../{variant}/seed{s}/{stage}
        stage = "/".join(parts[-3:] if parts[-2].startswith("seed") else parts[-2:])
        ax.set_title(f"{stage}: best {metric} "
                     f"{summary['best']:.3f}{shown} at epoch {summary['best_epoch']}",
                     fontsize=9)
    fig.tight_layout()
    with atomic_file(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
