"""The paper's tables from our metric files: Table 1 (CE and RL) and Table 2 (CE ablation).

Our rows are the mean +- standard deviation over the config's seeds (x100, as the paper), each
naming the MLflow runs it comes from; the paper's rows stand beside them. A metric that could
not be computed (SPICE without its Java jars) is written as "n/a (reason)", never as 0.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from maac.atomic import atomic_file
from maac.errors import MaacError
from maac.evaluation.paper import TABLE1, TABLE2, VARIANT_NAMES

TABLE1_COLUMNS = [("bleu_1", "B1"), ("bleu_4", "B4"), ("rouge_l", "ROUGE-L"),
                  ("meteor", "METEOR"), ("cider_d", "CIDEr-D"), ("spice", "SPICE"),
                  ("spider", "SPIDEr")]
TABLE2_COLUMNS = [("bleu_4", "B4"), ("cider_d", "CIDEr-D"), ("spider", "SPIDEr")]
STAGE_NAMES = {"ce": "cross-entropy", "rl": "CIDEr-D optimised (RL)"}


def read_metrics(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise MaacError(f"{path}: metrics file not found; run the evaluate step first")
    return json.loads(path.read_text(encoding="utf-8"))


def _cell(results: Sequence[dict[str, Any]], key: str) -> tuple[str, float | None, float | None]:
    """(text, mean, std) of a metric x100 over seeds; 'n/a (reason)' when it is unavailable."""
    values = [r.get(key) for r in results]
    if any(v is None for v in values):
        reason = next((r.get("unavailable", {}).get(key) for r in results
                       if r.get("unavailable", {}).get(key)), "not computed")
        return f"n/a ({reason})", None, None
    scaled = [100.0 * float(v) for v in values]
    mean = statistics.fmean(scaled)
    std = statistics.stdev(scaled) if len(scaled) > 1 else 0.0
    text = f"{mean:.1f} ± {std:.1f}" if len(scaled) > 1 else f"{mean:.1f}"
    return text, mean, std


def _runs(results: Sequence[dict[str, Any]]) -> str:
    return " ".join(str(r.get("mlflow_run_id") or "-") for r in results)


def table1(results: dict[str, list[dict[str, Any]]], variant: str = "maac") -> list[dict]:
    """Rows of Table 1: ours per stage (results[stage] = one metrics dict per seed), then the
    paper's."""
    rows = []
    for stage, per_seed in results.items():
        if not per_seed:
            continue
        row = {"model": f"ours: {VARIANT_NAMES[variant]}, {STAGE_NAMES[stage]}",
               "seeds": len(per_seed), "mlflow_runs": _runs(per_seed)}
        for key, _ in TABLE1_COLUMNS:
            row[key] = _cell(per_seed, key)
        rows.append(row)
    for stage, numbers in TABLE1.items():
        row = {"model": f"paper: MAAC, {STAGE_NAMES[stage]}", "seeds": 1, "mlflow_runs": ""}
        for key, _ in TABLE1_COLUMNS:
            row[key] = (f"{numbers[key]:.1f}", numbers[key], None)
        rows.append(row)
    return rows


def table2(results: dict[str, list[dict[str, Any]]]) -> list[dict]:
    """Rows of Table 2 (CE stage): for each variant run, ours beside the paper's."""
    rows = []
    for variant, paper in TABLE2.items():
        per_seed = results.get(variant, [])
        row: dict[str, Any] = {"model": VARIANT_NAMES[variant], "seeds": len(per_seed),
                               "mlflow_runs": _runs(per_seed)}
        for key, _ in TABLE2_COLUMNS:
            row[f"ours_{key}"] = _cell(per_seed, key) if per_seed else ("not run", None, None)
            row[f"paper_{key}"] = ((f"{paper[key]:.1f}", paper[key], None) if paper else
                                   ("did not converge", None, None))
        rows.append(row)
    return rows


def _columns(rows: list[dict]) -> list[str]:
    return [k for k in rows[0] if k not in ("model", "seeds", "mlflow_runs")]


def to_markdown(rows: list[dict], headers: dict[str, str]) -> str:
    cols = _columns(rows)
    lines = ["| model | " + " | ".join(headers[c] for c in cols) + " | seeds | MLflow runs |",
             "|---|" + "---:|" * len(cols) + "---:|---|"]
    for row in rows:
        cells = " | ".join(row[c][0] for c in cols)
        lines.append(f"| {row['model']} | {cells} | {row['seeds']} | {row['mlflow_runs']} |")
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict]) -> str:
    """One column per metric mean and one per standard deviation (x100; empty when n/a)."""
    cols = _columns(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", *[h for c in cols for h in (c, f"{c}_std")], "seeds",
                     "mlflow_runs"])
    for row in rows:
        values = []
        for c in cols:
            text, mean, std = row[c]
            values += [f"{mean:.2f}" if mean is not None else text,
                       f"{std:.2f}" if std is not None else ""]
        writer.writerow([row["model"], *values, row["seeds"], row["mlflow_runs"]])
    return out.getvalue()


def headers_table1() -> dict[str, str]:
    return dict(TABLE1_COLUMNS)


def headers_table2() -> dict[str, str]:
    return {f"{side}_{key}": f"{label} ({side})" for key, label in TABLE2_COLUMNS
            for side in ("ours", "paper")}


def write_table(rows: list[dict], headers: dict[str, str], md: Path, csv_path: Path) -> str:
    text = to_markdown(rows, headers)
    with atomic_file(md) as tmp:
        tmp.write_text(text, encoding="utf-8")
    with atomic_file(csv_path) as tmp:
        tmp.write_text(to_csv(rows), encoding="utf-8")
    return text
