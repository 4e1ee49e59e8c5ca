"""The benchmarks' results as ``bench.json`` and a Markdown table, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from maac.atomic import atomic_file
from maac.paths import bench_report


def meets_target(result: dict[str, Any]) -> bool:
    if "meets_target" in result:
        return bool(result["meets_target"])
    return float(result["ratio"]) >= float(result["target"])


def _measured(r: dict[str, Any]) -> tuple[str, str, str, str]:
    """(baseline, ours, ratio or value, target) cells of one result."""
    if "ratio" in r:
        unit = r["unit"]
        return (f"{r['baseline_rate']:.3g} {unit}", f"{r['ours_rate']:.3g} {unit}",
                f"{r['ratio']:.2f}x", f">= {r['target']:g}x")
    if "memory_growth" in r:
        return (f"{r['seconds_1x']:.2f} s, {r['peak_rss_mb_1x']:.0f} MB",
                f"{r['seconds_4x']:.2f} s, {r['peak_rss_mb_4x']:.0f} MB",
                f"time {r['value']:.2f}x, memory {r['memory_growth']:.2f}x",
                f"time <= {r['target']:g}x, memory <= {r['memory_growth_limit']:g}x")
    return "-", f"{r['value']:.0f} {r['unit']}", f"{r['value']:.0f} {r['unit']}", \
        f"<= {r['target']:g} {r['unit']}"


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, {m['device']}; "
        f"{'quick sizes (equality checks only)' if report['quick'] else 'full sizes'}; "
        "speed: median of alternating timed runs (repeats in bench.json); scaling and memory: "
        "one run each.",
        "",
        "| benchmark | baseline | ours | ratio | target | met | check |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        base, ours, ratio, target = _measured(r)
        met = "yes" if meets_target(r) else "no"
        lines.append(f"| {r['name']} | {base} | {ours} | {ratio} | {target} | {met} | "
                     f"{r['check']} |")
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = bench_report(folder, "json"), bench_report(folder, "md")
    with atomic_file(files[0], suffix=".json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    with atomic_file(files[1], suffix=".md") as tmp:
        tmp.write_text(markdown(report), encoding="utf-8")
    return files
