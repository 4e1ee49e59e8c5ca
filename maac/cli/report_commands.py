"""Report artifacts: ``maac tables`` (the paper's Tables 1-2), ``maac figure`` (Fig. 2)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from maac import paths
from maac.config import sections

TABLE_SECTIONS = ["run", "seeds", "variants", "dataset"]


def collect(config: dict[str, Any], stage: str, variant: str) -> list[dict[str, Any]]:
    """One metrics dict per seed for a stage and variant on the test split (missing: none)."""
    from maac.evaluation.tables import read_metrics

    split = config["dataset"]["splits"]["test"]
    results = []
    for seed in config["seeds"]:
        path = paths.metrics_json(config["run"], variant, seed, stage, split)
        if not path.is_file():
            continue
        result = read_metrics(path)
        summary = paths.model_dir(config["run"], variant, seed) / stage / "metrics.json"
        if summary.is_file():  # the training stage's summary names its MLflow run
            result["mlflow_run_id"] = read_metrics(summary).get("run_id")
        results.append(result)
    return results


def make_tables(config: dict[str, Any]) -> tuple[str, str]:
    from maac.evaluation import tables

    run = config["run"]
    main_variant = "maac" if "maac" in config["variants"] else config["variants"][-1]
    rows1 = tables.table1({stage: collect(config, stage, main_variant) for stage in ("ce", "rl")},
                          main_variant)
    rows2 = tables.table2({v: collect(config, "ce", v) for v in config["variants"]})
    md1 = tables.write_table(rows1, tables.headers_table1(), paths.table(run, "table1", "md"),
                             paths.table(run, "table1", "csv"))
    md2 = tables.write_table(rows2, tables.headers_table2(), paths.table(run, "table2", "md"),
                             paths.table(run, "table2", "csv"))
    return md1, md2


def _tables(args: argparse.Namespace) -> None:
    md1, md2 = make_tables(sections(args.settings, args.config, TABLE_SECTIONS))
    print("Table 1 (x100)\n" + md1 + "\nTable 2, CE stage (x100)\n" + md2)


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


def _curves(args: argparse.Namespace) -> None:
    from maac.evaluation.curves import draw_curves

    draw_curves(args.summaries, args.out)
    print(f"training curves of {len(args.summaries)} stages -> {args.out}")


def register(sub: Any, default_config: Path) -> None:
    p = sub.add_parser("tables", help="Table 1 and Table 2 of the paper from a run's metrics")
    p.add_argument("--config", type=Path, default=default_config)
    p.add_argument("--settings", help="the sections run, seeds, variants, dataset as JSON")
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
    p = which.add_parser("curves", help="per-epoch training curves of training stages")
    p.add_argument("summaries", nargs="+", type=Path, help="stages' metrics.json files")
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(handler=_curves)
