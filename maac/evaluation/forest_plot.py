"""Forest plot of the tables: every model's score with its bootstrap interval, the paper's
value as a marker where it is comparable (Clotho), and the verdicts of the comparisons."""

from __future__ import annotations

import json
from pathlib import Path

from maac.atomic import atomic_file
from maac.errors import MaacError
from maac.evaluation.paper import VARIANT_NAMES
from maac.evaluation.tables import PHASE_NAMES, SHORT_NAMES

NAMES = {"cider_d": "CIDEr-D", "bleu_4": "BLEU-4", "spider": "SPIDEr"}


def model_order(label: str) -> tuple[tuple[int, str], str]:
    """A row label ("Base (acoustic attention only), cross-entropy") as its place in the
    paper's order (variants as in Table 2, CE before RL) and a short name ("Base, CE")."""
    for index, (variant, name) in enumerate(VARIANT_NAMES.items()):
        if label.startswith(f"{name}, "):
            phase = label[len(name) + 2:]
            key = next((k for k, full in PHASE_NAMES.items() if full == phase), phase)
            return (index, key), f"{SHORT_NAMES.get(variant, variant)}, {key.upper()}"
    return (len(VARIANT_NAMES), label), label


def draw_forest(intervals: Path | str, out: Path | str, metric: str = "cider_d") -> int:
    """One line per model (Table 1's phases, Table 2's variants, each once); returns how many."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = json.loads(Path(intervals).read_text(encoding="utf-8"))
    models: dict[str, dict] = {}
    for table in ("table1", "table2"):
        for key, row in summary.get(table, {}).get("cells", {}).items():
            if metric in row and key not in models:
                models[key] = row
    if not models:
        raise MaacError(f"{intervals}: no model has a {metric} interval")
    # the paper's order from the top (intervals.json sorts its keys by name)
    rows = sorted(models.values(), key=lambda r: model_order(r["label"])[0], reverse=True)
    height = 1.6 + 0.45 * len(rows)
    fig, ax = plt.subplots(figsize=(9, height))
    for y, row in enumerate(rows):
        cell = row[metric]
        ax.errorbar(cell["mean"], y, xerr=[[cell["mean"] - cell["low"]],
                                           [cell["high"] - cell["mean"]]],
                    fmt="o", color="tab:blue", capsize=4)
        if "paper" in cell:
            ax.plot(cell["paper"], y, "D", color="tab:red", markersize=6,
                    label="paper" if y == 0 else None)
    ax.set_yticks(range(len(rows)), [f"{model_order(r['label'])[1]} ({r['seeds']} seed"
                                     f"{'s' if r['seeds'] != 1 else ''})" for r in rows],
                  fontsize=8)
    settings = summary.get("settings", {})
    ax.set_xlabel(f"{NAMES.get(metric, metric)} x100: mean over seeds, "
                  f"{100 * settings.get('level', 0.95):.0f}% bootstrap interval\n"
                  f"over {settings.get('clips', '?')} test clips and the seeds", fontsize=9)
    if any("paper" in r[metric] for r in rows):
        ax.legend(loc="best", fontsize=8)
    else:
        ax.set_title("the paper's values are on Clotho v2.1: not comparable, not shown",
                     fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    with atomic_file(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return len(rows)
