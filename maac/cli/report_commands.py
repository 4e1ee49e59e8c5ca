"""Report artifacts: ``maac tables`` (the paper's Tables 1-2), ``maac figure`` (Fig. 2)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from maac import paths
from maac.config import sections

TABLE_SECTIONS = ["run", "seeds", "variants", "dataset", "statistics"]
TITLES = {"table1": "Table 1: MAAC after cross-entropy and after CIDEr-D optimisation (x100)",
          "table2": "Table 2: ablation of the decoder, cross-entropy stage (x100)"}


def collect(config: dict[str, Any], stage: str, variant: str) -> list[Any]:
    """One evaluation per seed for a stage and variant on the test split (missing: none)."""
    from maac.evaluation.clip_scores import read_clip_scores
    from maac.evaluation.tables import Evaluation, read_metrics

    split = config["dataset"]["splits"]["test"]
    results = []
    for seed in config["seeds"]:
        path = paths.metrics_json(config["run"], variant, seed, stage, split)
        if not path.is_file():
            continue
        scores = read_clip_scores(paths.scores_csv(config["run"], variant, seed, stage, split))
        summary = paths.model_dir(config["run"], variant, seed) / stage / "metrics.json"
        run_id = read_metrics(summary).get("run_id") if summary.is_file() else None
        results.append(Evaluation(int(seed), read_metrics(path), scores, run_id))
    return results


def is_clotho_v21(dataset: dict[str, Any]) -> bool:
    """Downloaded from Zenodo, or a local copy whose CSVs passed the md5 check of Clotho v2.1's
    own files (``local_check``): the runs the paper's numbers can be set beside."""
    if dataset["source"] == "zenodo":
        return True
    return dataset["source"] == "local" and dataset["local"].get("md5", "zenodo") == "zenodo"


def make_tables(config: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """Write Tables 1-2, their comparisons and intervals.json; return both Markdown tables and
    the summary of every interval and comparison."""
    from maac.evaluation import table_html, tables

    run = config["run"]
    settings = tables.Settings(**config["statistics"])  # the schema's keys, all required
    comparable = is_clotho_v21(config["dataset"])  # the paper's numbers are on Clotho v2.1
    main_variant = "maac" if "maac" in config["variants"] else config["variants"][-1]
    results1 = {stage: collect(config, stage, main_variant) for stage in ("ce", "rl")}
    results2 = {v: collect(config, "ce", v) for v in config["variants"]}
    sampler = tables.resampler([*results1.values(), *results2.values()], settings)
    seeds = len(config["seeds"])
    out: dict[str, Any] = {}
    texts = []
    for name, rows, columns, pairs in (
        ("table1", tables.table1(results1, sampler, comparable, main_variant),
         tables.TABLE1_COLUMNS, tables.table1_pairs(results1, main_variant)),
        ("table2", tables.table2(results2, sampler, comparable), tables.TABLE2_COLUMNS,
         tables.table2_pairs(results2)),
    ):
        comparisons = tables.compare_all(pairs, [k for k, _ in columns], sampler)
        tested = sum(c.difference is not None for c in comparisons)
        lines = tables.notes(sampler, seeds, comparable, config["dataset"]["name"], tested)
        md = tables.to_markdown(rows, columns, lines, comparisons)
        tables.write_text(md, paths.table(run, name, "md"))
        table_html.write_page(md, TITLES[name], paths.table(run, name, "html"))
        tables.write_text(tables.to_csv(rows, columns), paths.table(run, name, "csv"))
        tables.write_text(tables.comparisons_markdown(comparisons, dict(columns)),
                          paths.table(run, f"{name}_comparisons", "md"))
        tables.write_text(tables.comparisons_csv(comparisons),
                          paths.table(run, f"{name}_comparisons", "csv"))
        out[name] = tables.summary(rows, comparisons)
        texts.append(md)
    out["settings"] = {"resamples": settings.resamples, "seed": settings.seed,
                       "level": settings.level, "alpha": settings.alpha, "correction": "holm",
                       "clips": len(sampler.clips), "seeds": seeds}
    tables.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n",
                      paths.table(run, "intervals", "json"))
    write_dvc_scores(config, out)
    return texts[0], texts[1], out


def write_dvc_scores(config: dict[str, Any], summary: dict[str, Any]) -> None:
    """results/scores/{run}/: per model of the tables, its scores (x100) as flat JSON, one file
    for the means and one per interval bound (the rows of `dvc metrics show`)."""
    from maac.atomic import atomic_file
    from maac.dvc_stages import table_models
    from maac.evaluation.tables import STAGE_NAMES, VARIANT_NAMES, slug

    for variant, stage in table_models(config):
        key = slug(f"{VARIANT_NAMES[variant]}, {STAGE_NAMES[stage]}")
        cells: dict[str, dict[str, float]] = {}
        for table in ("table1", "table2"):
            row = summary[table]["cells"].get(key, {})
            cells.update({k: v for k, v in row.items() if isinstance(v, dict)})
        for kind, field in zip(paths.SCORE_KINDS, ("mean", "low", "high"), strict=True):
            values = {metric: round(cell[field], 2) for metric, cell in sorted(cells.items())}
            with atomic_file(paths.dvc_scores(config["run"], f"{variant}_{stage}", kind)) as tmp:
                tmp.write_text(json.dumps(values, indent=1) + "\n", encoding="utf-8")


def _track_tables(run: str, summary: dict[str, Any]) -> str:
    """An MLflow run of the tables step: every interval bound and comparison p-value."""
    from maac.tracking.mlflow_tracker import MlflowTracker, flatten

    record = {}
    for key, value in flatten({t: summary[t] for t in ("table1", "table2")}).items():
        try:
            record[key] = float(value)
        except ValueError:  # the rows' labels
            continue
    tracker = MlflowTracker(run, "tables", {"statistics": summary["settings"]},
                            {"maac.stage": "tables"})
    tracker.start(None)
    tracker.log_epoch(record, 0)
    tracker.finish(paths.table(run, "intervals", "json"), "FINISHED")
    return str(tracker.run_id)


def _tables(args: argparse.Namespace) -> None:
    config = sections(args.settings, args.config, TABLE_SECTIONS)
    md1, md2, summary = make_tables(config)
    print("Table 1 (x100)\n" + md1 + "\nTable 2, CE stage (x100)\n" + md2)
    if not args.no_tracking:
        print(f"MLflow run {_track_tables(config['run'], summary)} (tables)")


def _attention(args: argparse.Namespace) -> None:
    from maac.audio.feature_store import FeatureStore
    from maac.evaluation.attention_figure import draw, trace
    from maac.inference.bundle import read_bundle

    bundle = read_bundle(args.model)
    store = FeatureStore(args.features)
    picks = range(min(args.count, len(store)))
    traces = [(store.keys[i][1], trace(bundle, store[i], args.max_length)) for i in picks]
    draw(traces, args.out)
    print(f"attention figure of {len(traces)} clips -> {args.out}")


def _intervals(args: argparse.Namespace) -> None:
    from maac.evaluation.forest_plot import draw_forest

    count = draw_forest(args.intervals, args.out, args.metric)
    print(f"intervals of {count} models -> {args.out}")


def _curves(args: argparse.Namespace) -> None:
    from maac.evaluation.curves import draw_curves

    draw_curves(args.summaries, args.out)
    print(f"training curves of {len(args.summaries)} stages -> {args.out}")


def register(sub: Any, default_config: Path) -> None:
    p = sub.add_parser("tables", help="Table 1 and Table 2 of the paper from a run's metrics")
    p.add_argument("--config", type=Path, default=default_config)
    p.add_argument("--settings", help="the sections run, seeds, variants, dataset, statistics "
                                      "as JSON")
    p.add_argument("--no-tracking", action="store_true", help="no MLflow run")
    p.set_defaults(handler=_tables)

    fig = sub.add_parser("figure", help="figures of the report")
    which = fig.add_subparsers(dest="which", required=True, metavar="FIGURE")
    p = which.add_parser("attention", help="Fig. 2: keyword / previous-word attention per step")
    p.add_argument("--model", required=True, type=Path, help="a model bundle")
    p.add_argument("--features", required=True, type=Path, help="a split's features (HDF5)")
    p.add_argument("--count", type=int, default=3, help="number of clips")
    p.add_argument("--max-length", type=int, default=30)
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(handler=_attention)
    p = which.add_parser("intervals", help="forest plot: each model's score with its interval")
    p.add_argument("intervals", type=Path, help="intervals.json of `maac tables`")
    p.add_argument("--metric", default="cider_d", help="metric key (default cider_d)")
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(handler=_intervals)
    p = which.add_parser("curves", help="per-epoch training curves of training stages")
    p.add_argument("summaries", nargs="+", type=Path, help="stages' metrics.json files")
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(handler=_curves)
