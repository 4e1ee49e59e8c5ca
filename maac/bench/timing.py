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


SETTLE_S = 0.3


def alternate(
    baseline: Callable[[], object], ours: Callable[[], object], repeats: int,
    settle_s: float = SETTLE_S,
) -> tuple[float, float]:
    """Median seconds of each, run alternately ``repeats`` times (after one warm-up each).

    Each timed run starts after ``settle_s`` idle seconds: BLAS and OpenMP worker threads
    busy-wait for up to ~0.1 s after a call (OpenBLAS's default), and would otherwise take a
    core from whichever side runs next.
    """
    baseline()
    ours()
    times: dict[str, list[float]] = {"baseline": [], "ours": []}
    for _ in range(repeats):
        for name, fn in (("baseline", baseline), ("ours", ours)):
            time.sleep(settle_s)
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["baseline"]), statistics.median(times["ours"])


def speed_result(name: str, baseline: str, ours: str, unit: str, items: int,
                 seconds: tuple[float, float], target: float, check: str, **extra: Any
                 ) -> dict[str, Any]:
    """One speed benchmark's result: rates of ``items`` per (baseline, ours) seconds, ratio."""
    base_s, ours_s = seconds
    return {"name": name, "baseline": baseline, "ours": ours, "unit": unit,
            "baseline_rate": items / base_s, "ours_rate": items / ours_s,
            "ratio": base_s / ours_s, "target": target, "check": check, **extra}
