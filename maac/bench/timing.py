"""Alternating, repeated timing of a baseline and ours; medians and the machine's description."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "device": "cuda" if torch.cuda.is_available() else "cpu"}


def alternate(
    baseline: Callable[[], object], ours: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Median seconds of each, run alternately ``repeats`` times (after one warm-up each)."""
    baseline()
    ours()
    times: dict[str, list[float]] = {"baseline": [], "ours": []}
    for _ in range(repeats):
        for name, fn in (("baseline", baseline), ("ours", ours)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["baseline"]), statistics.median(times["ours"])
