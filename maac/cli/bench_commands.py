"""``maac bench``: benchmarks that print ratios against a baseline measured in the same run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from maac import paths
from maac.errors import MaacError


def _bench(args: argparse.Namespace) -> int:
    from maac.bench import report, suite

    if args.which == "gpu":
        from maac.bench import gpu

        result = gpu.run(args.config, quick=args.quick, out=args.out)
        print(json.dumps(result, indent=2))
        return 0
    unknown = sorted(set(args.only or []) - set(suite.BENCHMARKS))
    if unknown:
        raise MaacError(f"--only: unknown benchmark {unknown[0]!r}; choose from "
                        f"{', '.join(suite.BENCHMARKS)}")
    result = suite.run(args.quick, args.only, args.config)
    json_path, md_path = report.write(result, args.out)
    print(report.markdown(result))
    print(f"wrote {json_path} and {md_path}")
    missed = [r["name"] for r in result["results"] if not report.meets_target(r)]
    if missed and not args.quick:
        print(f"targets not met: {'; '.join(missed)}")
        return 1
    return 0


def register(sub: Any, default_config: Path) -> None:
    p = sub.add_parser(
        "bench", help="benchmarks: ours vs a baseline measured in the same run",
        description="Run every CPU benchmark (or those named by --only), check that both sides "
                    "agree, and write results/bench/bench.json and bench.md. `maac bench gpu` "
                    "runs the GPU measurements instead (docs/performance.md).")
    p.add_argument("which", nargs="?", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--quick", action="store_true",
                   help="small sizes: check equality only, not the speed targets (CI)")
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help="frontend, beam_demo, beam_full, ce_cache, rewards, scaling, memory")
    p.add_argument("--out", type=Path, default=paths.BENCH)
    p.add_argument("--config", type=Path, default=default_config,
                   help="the paper's config (front end, full-size model)")
    p.set_defaults(handler=_bench)
