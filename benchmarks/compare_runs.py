"""Compare the artifacts of two runs of the pipeline, file by file, byte by byte.

Used to prove that a change meant to keep behaviour keeps it (the same config and seed on one
machine, before and after), and that two fresh clones give the same bytes::

    python benchmarks/compare_runs.py CLONE_A CLONE_B [--tree data --tree results]

Every file under the chosen trees of both clones is compared by sha256. Files that record when
or how long something ran (MLflow stores, logs, Snakemake's metadata, the HTML report) are
listed as "not compared". A JSON, CSV, Markdown or HTML file whose bytes differ only in a stage's
timings (``samples_per_s``, ``train_seconds``) or in MLflow run ids is listed apart and is not a
difference. For a PyTorch checkpoint whose bytes differ, the tensors are compared too, so the
line says whether the weights or only the wrapping differ. Exit status 1 when any compared file
differs or exists on one side only.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import re
import sys
from pathlib import Path

# Files whose bytes carry wall-clock times, run ids or host paths by design: MLflow's stores,
# logs, Snakemake's metadata and timestamps, the HTML report, benchmarks.
NOT_COMPARED = ("mlruns/*", "*/mlruns/*", "mlartifacts/*", "*/mlartifacts/*", "*mlflow.db",
                "*.log", "logs/*", "*/logs/*", ".snakemake/*", "*.snakemake_timestamp",
                "*report*.html", "*report*.zip", "*/bench/*", "bench/*")
# Inside files that are compared: keys of a stage's metrics.json that time the run or name its
# MLflow run (maac.training.loop.TIMINGS and run_id), and MLflow run ids in the tables.
VOLATILE_KEYS = ("samples_per_s", "train_seconds", "run_id")
RUN_ID = re.compile(rb"\b[0-9a-f]{32}\b")


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _files(root: Path, trees: list[str]) -> dict[str, Path]:
    found = {}
    for tree in trees:
        for path in sorted((root / tree).rglob("*")):
            if path.is_file() and not path.is_symlink():
                found[path.relative_to(root).as_posix()] = path
    return found


def _tensors_equal(a: Path, b: Path) -> bool | None:
    """True/False when both files load as PyTorch checkpoints, None otherwise."""
    try:
        import torch

        sa = torch.load(a, map_location="cpu", weights_only=True)
        sb = torch.load(b, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - anything that is not a loadable checkpoint
        return None
    return _same(sa, sb)


def _same(x: object, y: object) -> bool:
    import torch

    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
        return x.dtype == y.dtype and x.shape == y.shape and bool(torch.equal(x, y))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(_same(p, q) for p, q in zip(x, y, strict=True))
    return x == y


def _without_volatile(x: object) -> object:
    if isinstance(x, dict):
        return {k: _without_volatile(v) for k, v in x.items() if k not in VOLATILE_KEYS}
    if isinstance(x, list):
        return [_without_volatile(v) for v in x]
    return x


def _same_but_volatile(a: Path, b: Path) -> bool:
    """Whether two files differ only in timings and MLflow run ids."""
    ba, bb = a.read_bytes(), b.read_bytes()
    if a.suffix == ".json":
        try:
            return _without_volatile(json.loads(ba)) == _without_volatile(json.loads(bb))
        except ValueError:
            return False
    return RUN_ID.sub(b"RUN", ba) == RUN_ID.sub(b"RUN", bb)


def compare(a: Path, b: Path, trees: list[str]) -> tuple[list[str], int, list[str]]:
    """Lines describing every difference, the number of files compared equal, and the files
    that differ only in timings and MLflow run ids."""
    fa, fb = _files(a, trees), _files(b, trees)
    lines, equal, volatile = [], 0, []
    for key in sorted(fa.keys() | fb.keys()):
        if any(fnmatch.fnmatch(key, pattern) for pattern in NOT_COMPARED):
            continue
        if key not in fb or key not in fa:
            lines.append(f"only in {a if key in fa else b}: {key}")
            continue
        if _sha256(fa[key]) == _sha256(fb[key]):
            equal += 1
            continue
        if key.endswith((".json", ".csv", ".md", ".html")) and _same_but_volatile(fa[key],
                                                                                  fb[key]):
            volatile.append(key)
            continue
        weights = _tensors_equal(fa[key], fb[key]) if key.endswith((".pt", ".pth")) else None
        detail = {True: " (same tensors, other bytes)", False: " (tensors differ)"}.get(
            weights, "")
        lines.append(f"differs: {key}{detail}")
    return lines, equal, volatile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--tree", action="append", dest="trees",
                        help="folder under both clones to compare (default: data, results)")
    args = parser.parse_args(argv)
    lines, equal, volatile = compare(args.a, args.b, args.trees or ["data", "results"])
    for key in volatile:
        print(f"differs only in timings / MLflow run ids: {key}")
    for line in lines:
        print(line)
    print(f"{equal} files byte-identical, {len(volatile)} differ only in timings / run ids, "
          f"{len(lines)} differences (not compared: {', '.join(NOT_COMPARED)})")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
