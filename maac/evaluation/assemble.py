"""Tables 1-2 of a run from the files its evaluations wrote: every input and output is a file
the caller names (the Snakefile's rule ``tables``; ``maac tables``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maac import paths
from maac.errors import MaacError
from maac.variants import main_variant, table_models

TITLES = {"table1": "Table 1: MAAC after cross-entropy and after CIDEr-D optimisation (x100)",
          "table2": "Table 2: ablation of the decoder, cross-entropy stage (x100)"}


@dataclass(frozen=True)
class EvaluationFiles:
    """What the evaluation of one (variant, seed, phase) on the test split wrote, and the
    training stage's metrics.json (its MLflow run id) when there is one."""

    variant: str
    seed: int
    phase: str
    metrics: Path
    scores: Path
    summary: Path | None = None


def evaluation_files(models: Sequence[str], metrics: Sequence[Path],
                     scores: Sequence[Path], summaries: Sequence[Path] | None
                     ) -> list[EvaluationFiles]:
    """Zip ``VARIANT:SEED:PHASE`` labels with their files (one of each per label, in order)."""
    lists = {"--metrics": metrics, "--scores": scores, **(
        {"--summaries": summaries} if summaries is not None else {})}
    for flag, files in lists.items():
        if len(files) != len(models):
            raise MaacError(f"{flag}: {len(files)} files for {len(models)} --models; pass one "
                            "per model, in the same order")
    out = []
    for i, label in enumerate(models):
        parts = label.split(":")
        if len(parts) != 3 or not parts[1].isdigit():
            raise MaacError(f"--models: {label!r} is not VARIANT:SEED:PHASE (e.g. maac:1:ce)")
        out.append(EvaluationFiles(parts[0], int(parts[1]), parts[2], Path(metrics[i]),
                                   Path(scores[i]), Path(summaries[i]) if summaries else None))
    return out


def _collect(evaluations: Sequence[EvaluationFiles], phase: str, variant: str) -> list[Any]:
    """One evaluation per seed of a phase and variant, in the order given."""
    from maac.evaluation.clip_scores import read_clip_scores
    from maac.evaluation.tables import Evaluation, read_metrics

    results = []
    for e in evaluations:
        if (e.variant, e.phase) != (variant, phase):
            continue
        run_id = read_metrics(e.summary).get("run_id") if e.summary is not None else None
        results.append(Evaluation(e.seed, read_metrics(e.metrics), read_clip_scores(e.scores),
                                  run_id))
    return results


def is_clotho_v21(dataset: dict[str, Any]) -> bool:
    """Downloaded from Zenodo, or a local copy whose CSVs passed the md5 check of Clotho v2.1's
    own files (``local_check``): the runs the paper's numbers can be set beside."""
    if dataset["source"] == "zenodo":
        return True
    return dataset["source"] == "local" and dataset["local"].get("md5", "zenodo") == "zenodo"


@dataclass(frozen=True)
class TableOutputs:
    """Every file ``make_tables`` writes: per table the keys of ``paths.table_files``, the
    intervals JSON, and the DVC score files in the order of ``dvc_scores_order``."""

    tables: dict[str, dict[str, Path]]
    intervals: Path
    dvc_scores: Sequence[Path]


def dvc_scores_order(config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(variant, phase, kind) of each DVC score file, in the order the files are passed."""
    return [(variant, phase, kind) for variant, phase in table_models(config)
            for kind in paths.SCORE_KINDS]


def make_tables(config: dict[str, Any], evaluations: Sequence[EvaluationFiles],
                outputs: TableOutputs) -> tuple[str, str, dict[str, Any]]:
    """Write Tables 1-2, their comparisons, the intervals and the DVC scores; return both
    Markdown tables and the summary of every interval and comparison."""
    from maac.evaluation import table_html, tables

    settings = tables.Settings(**config["statistics"])  # the schema's keys, all required
    comparable = is_clotho_v21(config["dataset"])  # the paper's numbers are on Clotho v2.1
    main = main_variant(config)
    results1 = {phase: _collect(evaluations, phase, main) for phase in ("ce", "rl")}
    results2 = {v: _collect(evaluations, "ce", v) for v in config["variants"]}
    sampler = tables.resampler([*results1.values(), *results2.values()], settings)
    seeds = len(config["seeds"])
    out: dict[str, Any] = {}
    texts = []
    for name, rows, columns, pairs in (
        ("table1", tables.table1(results1, sampler, comparable, main),
         tables.TABLE1_COLUMNS, tables.table1_pairs(results1, main)),
        ("table2", tables.table2(results2, sampler, comparable), tables.TABLE2_COLUMNS,
         tables.table2_pairs(results2)),
    ):
        files = outputs.tables[name]
        comparisons = tables.compare_all(pairs, [k for k, _ in columns], sampler)
        tested = sum(c.difference is not None for c in comparisons)
        lines = tables.notes(sampler, seeds, comparable, config["dataset"]["name"], tested)
        md = tables.to_markdown(rows, columns, lines, comparisons)
        tables.write_text(md, files["md"])
        table_html.write_page(md, TITLES[name], files["html"])
        tables.write_text(tables.to_csv(rows, columns), files["csv"])
        tables.write_text(tables.comparisons_markdown(comparisons, dict(columns)),
                          files["comparisons_md"])
        tables.write_text(tables.comparisons_csv(comparisons), files["comparisons_csv"])
        out[name] = tables.summary(rows, comparisons)
        texts.append(md)
    out["settings"] = {"resamples": settings.resamples, "seed": settings.seed,
                       "level": settings.level, "alpha": settings.alpha, "correction": "holm",
                       "clips": len(sampler.clips), "seeds": seeds}
    tables.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n", outputs.intervals)
    write_dvc_scores(config, out, outputs.dvc_scores)
    return texts[0], texts[1], out


def write_dvc_scores(config: dict[str, Any], summary: dict[str, Any],
                     files: Sequence[Path]) -> None:
    """Per model of the tables, its scores (x100) as flat JSON, one file for the means and one
    per interval bound (the rows of `dvc metrics show`); ``files`` in ``dvc_scores_order``."""
    from maac.atomic import atomic_file
    from maac.evaluation.tables import PHASE_NAMES, VARIANT_NAMES, slug

    order = dvc_scores_order(config)
    if len(files) != len(order):
        raise MaacError(f"--dvc-scores: {len(files)} files for {len(order)} (model, statistic) "
                        "pairs; pass mean, lower, upper for each model of the tables")
    fields = dict(zip(paths.SCORE_KINDS, ("mean", "low", "high"), strict=True))
    for (variant, phase, kind), path in zip(order, files, strict=True):
        key = slug(f"{VARIANT_NAMES[variant]}, {PHASE_NAMES[phase]}")
        cells: dict[str, dict[str, float]] = {}
        for table in paths.TABLES:
            row = summary[table]["cells"].get(key, {})
            # cells with an interval; a count (Vocab: {"value"}) has no bounds and is left out
            cells.update({k: v for k, v in row.items() if isinstance(v, dict) and "mean" in v})
        values = {metric: round(cell[fields[kind]], 2) for metric, cell in sorted(cells.items())}
        with atomic_file(Path(path)) as tmp:
            tmp.write_text(json.dumps(values, indent=1) + "\n", encoding="utf-8")
