"""Feature extraction of 4x more clips: time should grow about 4x, memory not at all.

``write_features`` streams: memory is bounded by one batch of clips, not by the split. Each
size runs in a fresh process (so its peak RSS, ``ru_maxrss``, is its own), on ``n`` and ``4n``
clips; the larger set lists the same WAV files four times under other names, so the clips
cost the same on both sides. The two HDF5 files must hold equal features for equal clips.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

import numpy as np

from maac.bench.frontend import synthetic_clips
from maac.errors import MaacError

TIME_LIMIT = 4.4
MEMORY_GROWTH_LIMIT = 1.10


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM) in MB.

    Not ``ru_maxrss``: Linux carries that across ``exec`` from the parent's memory, so a
    freshly spawned process would report its parent's peak.
    """
    with open("/proc/self/status", encoding="ascii") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _extract(paths: list[str], out: str, audio_cfg: dict[str, Any], workers: int,
             result: Any) -> None:
    import time

    from maac.audio.feature_store import write_features
    from maac.data.manifest import Clip

    clips = [Clip("development", Path(p).name, Path(p), ("",) * 5) for p in paths]
    start = time.perf_counter()
    write_features(clips, out, audio_cfg, "bench", workers=workers, progress=False)
    result.put((time.perf_counter() - start, peak_rss_mb()))


def _measure(paths: list[Path], out: Path, audio_cfg: dict[str, Any], workers: int
             ) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_extract, args=([str(p) for p in paths], str(out), audio_cfg,
                                              workers, queue))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise MaacError(f"feature scaling: extracting {len(paths)} clips failed "
                        f"(exit code {proc.exitcode})")
    return queue.get()


def run(audio_cfg: dict[str, Any], clips: int, seconds: tuple[float, float], workdir: Path,
        workers: int | None = None) -> dict[str, Any]:
    from maac.audio.feature_store import FeatureStore

    workers = workers or os.cpu_count() or 1
    base = synthetic_clips(workdir / "audio", clips, seed=1, seconds=seconds)
    many = []
    for copy in range(4):
        for path in base:
            alias = workdir / "audio4x" / f"{copy}_{path.name}"
            alias.parent.mkdir(exist_ok=True)
            if not alias.exists():
                alias.symlink_to(path)
            many.append(alias)
    t1, rss1 = _measure(base, workdir / "1x.h5", audio_cfg, workers)
    t4, rss4 = _measure(many, workdir / "4x.h5", audio_cfg, workers)
    one, four = FeatureStore(workdir / "1x.h5"), FeatureStore(workdir / "4x.h5")
    for i in range(len(many)):
        if not np.array_equal(four[i], one[i % clips]):
            raise MaacError(f"feature scaling: clip {i} of the 4x run differs from the 1x run")
    growth, memory = t4 / t1, rss4 / rss1
    return {
        "name": f"feature extraction, {clips} vs {4 * clips} clips",
        "baseline": f"{clips} clips", "ours": f"{4 * clips} clips",
        "unit": "x time", "value": growth, "target": TIME_LIMIT, "target_kind": "at most",
        "meets_target": growth <= TIME_LIMIT and memory <= MEMORY_GROWTH_LIMIT,
        "seconds_1x": t1, "seconds_4x": t4, "peak_rss_mb_1x": rss1, "peak_rss_mb_4x": rss4,
        "memory_growth": memory, "memory_growth_limit": MEMORY_GROWTH_LIMIT,
        "check": "equal features for equal clips", "workers": workers,
    }
