"""How a metrics JSON was computed: versions and the sha256 of every jar and model file used.

Two scores are comparable only when their provenance agrees. The record is deterministic on one
machine (no timestamps, no absolute paths: files are named relative to aac-metrics' cache
root), so the metrics JSON stays byte-identical across reruns and across clones of the project.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("aac-metrics", "torch", "transformers", "sentence-transformers")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=256)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """A file's sha256, remembered for one (path, size, mtime) in this process."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256(os.fspath(path), stat.st_size, stat.st_mtime_ns)


def provenance(cache: Path, java_version: str, files: list[Path],
               models: list[Path], settings: dict[str, Any]) -> dict[str, Any]:
    """The record: package versions, Java's version, the metric settings, and per file used
    (relative to ``cache``) its sha256; ``jars`` are the Java tools, ``models`` the models."""

    def digests(paths: list[Path]) -> dict[str, str]:
        return {p.relative_to(cache).as_posix(): file_sha256(p) for p in sorted(paths)}

    return {
        "aac_metrics": _version("aac-metrics"),
        "java": java_version,
        "packages": {name: _version(name) for name in PACKAGES[1:]},
        "settings": settings,
        "jars": digests(files),
        "models": digests(models),
    }


def fingerprint(record: dict[str, Any]) -> str:
    """A short digest of a provenance record: equal fingerprints, comparable scores."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
