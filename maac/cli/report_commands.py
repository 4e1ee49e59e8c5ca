"""Report artifacts: ``maac tables`` (the paper's Tables 1-2), ``maac figure`` (Fig. 2)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from maac import paths
from maac.config import sections

TABLE_SECTIONS = ["run", "seeds", "variants", "dataset", "statistics"]


def _track_tables(run: str, summary: dict[str, Any], intervals: Path) -> str:
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
    tracker.finish(intervals, "FINISHED")
    return str(tracker.run_id)


def _tables(args: argparse.Namespace) -> None:
    from maac.evaluation.assemble import TableOutputs, evaluation_files, make_tables

    config = sections(args.settings, args.config, TABLE_SECTIONS)
    evaluations = evaluation_files(args.models, args.metrics, args.scores, args.summaries)
    tables = {name: {key: getattr(args, f"{name}_{key}") for key, _, _ in paths.TABLE_FILES}
              for name in paths.TABLES}
    outputs = TableOutputs(tables, args.intervals, args.dvc_scores)
    md1, md2, summary = make_tables(config, evaluations, outputs)
    print("Table 1 (x100)\n" + md1 + "\nTable 2, CE stage (x100)\n" + md2)
    if not args.no_tracking:
        print(f"MLflow run {_track_tables(config['run'], summary, args.intervals)} (tables)")


def _attention(args: argparse.Namespace) -> None:
    from maac.audio.feature_store import FeatureStore
    from maac.evaluation.attention_figure import draw, trace
    from maac.inference.bundle import read_bundle

    if args.max_length is None:
        from maac.config import load_config

        args.max_length = load_config(args.config)["decoding"]["max_length"]
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
    p.add_argument("--models", required=True, nargs="+", metavar="VARIANT:SEED:PHASE",
                   help="the test-split evaluations, one per file of --metrics and --scores")
    p.add_argument("--metrics", required=True, nargs="+", type=Path,
                   help="each model's metrics JSON (`maac evaluate --out`)")
    p.add_argument("--scores", required=True, nargs="+", type=Path,
                   help="each model's per-clip scores CSV (`maac evaluate --scores`)")
    p.add_argument("--summaries", nargs="+", type=Path,
                   help="each model's training-stage metrics.json (its MLflow run id)")
    for name in paths.TABLES:
        for key, _, _ext in paths.TABLE_FILES:
            p.add_argument(f"--{name}-{key.replace('_', '-')}", dest=f"{name}_{key}",
                           required=True, type=Path, help=f"{name}: the {key} file written")
    p.add_argument("--intervals", required=True, type=Path,
                   help="the intervals and comparisons written (JSON)")
    p.add_argument("--dvc-scores", required=True, nargs="+", type=Path,
                   help="the flat score JSONs written for `dvc metrics show`: mean, lower, "
                        "upper per model of the tables (each variant's CE, then the full RL)")
    p.add_argument("--no-tracking", action="store_true", help="no MLflow run")
    p.set_defaults(handler=_tables)

    fig = sub.add_parser("figure", help="figures of the report")
    which = fig.add_subparsers(dest="which", required=True, metavar="FIGURE")
    p = which.add_parser("attention", help="Fig. 2: keyword / previous-word attention per step")
    p.add_argument("--model", required=True, type=Path, help="a model bundle")
    p.add_argument("--features", required=True, type=Path, help="a split's features (HDF5)")
    p.add_argument("--count", type=int, default=3, help="number of clips")
    p.add_argument("--max-length", type=int,
                   help="most tokens per caption (default: the config's decoding.max_length)")
    p.add_argument("--config", type=Path, default=default_config)
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
