"""Every CPU benchmark of ``maac bench``, at full or quick sizes.

Full sizes are those of the targets (docs/performance.md); quick sizes run in seconds and check
only that both sides of each benchmark agree (CI runs them). Each entry is (name, function of
(sizes, workdir) -> result); results are written by :mod:`maac.bench.report`.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from maac import paths
from maac.bench.timing import machine
from maac.config import load_config
from maac.paths import CLOTHO_SAMPLE_CLIPS, REPO, features_h5, vocab_json

DEMO_CONFIG = REPO / paths.DEMO_CONFIG  # the source checkout's, wherever this runs
DEMO_VOCAB, DEMO_KEYWORDS = 170, 40  # about the demo's text layer
PAPER_VOCAB, PAPER_KEYWORDS = 4368, 300  # the paper's vocabulary, our keyword table


@dataclass(frozen=True)
class Sizes:
    quick: bool
    repeats: int
    beam_clips: int
    ce_width: float
    ce_clips: int
    ce_seconds: float
    ce_batch: int
    reward_clips: int
    scaling_clips: int
    scaling_seconds: tuple[float, float]


FULL = Sizes(False, 5, 64, 1.0, 4, 20.0, 4, 32, 40, (15.0, 30.0))
QUICK = Sizes(True, 1, 3, 0.125, 4, 2.0, 2, 8, 2, (1.0, 2.0))


def _frontend(s: Sizes, paper: dict[str, Any], work: Path) -> dict[str, Any]:
    from maac.bench import frontend

    clips = sorted(CLOTHO_SAMPLE_CLIPS.glob("*.wav")) if not s.quick else []
    source = str(CLOTHO_SAMPLE_CLIPS)
    if not clips:
        count, seconds = (2, (1.0, 2.0)) if s.quick else (10, (15.0, 30.0))
        clips = frontend.synthetic_clips(work / "frontend", count, seconds=seconds)
        source = f"{count} synthetic clips of {seconds[0]:g}-{seconds[1]:g} s"
    return {**frontend.run(clips, paper["audio"], s.repeats), "clips_source": source}


def _beam_demo(s: Sizes, paper: dict[str, Any], work: Path) -> dict[str, Any]:
    from maac.bench import beam

    demo = load_config(DEMO_CONFIG)
    return beam.run(demo, "demo-size", s.beam_clips, float(demo["dataset"]["synth"]["seconds"]),
                    DEMO_VOCAB, DEMO_KEYWORDS, s.repeats)


def _beam_full(s: Sizes, paper: dict[str, Any], work: Path) -> dict[str, Any]:
    from maac.bench import beam

    return beam.run(paper, "full-size (30 s)", s.beam_clips, 30.0, PAPER_VOCAB, PAPER_KEYWORDS,
                    s.repeats)


def _ce_cache(s: Sizes, paper: dict[str, Any], work: Path) -> dict[str, Any]:
    from maac.bench import ce_cache

    return ce_cache.run(paper, s.ce_width, s.ce_clips, s.ce_seconds, s.ce_batch,
                        PAPER_VOCAB if not s.quick else 200, min(s.repeats, 3), work / "ce")


def _rewards(s: Sizes, paper: dict[str, Any], work: Path) -> dict[str, Any]:
    from maac.bench import rewards

    return rewards.run(s.reward_clips, 5, max(s.repeats, 3))


def _memory(s: Sizes, paper: dict[str, Any], work: Path) -> dict[str, Any]:
    from maac.bench import memory

    demo = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    targets = None
    if s.quick:  # a tiny dataset's data layer: seconds, not minutes
        demo = copy.deepcopy(demo)
        demo["run"] = demo["dataset"]["name"] = "benchquick"
        demo["dataset"]["synth"].update(
            clips={"development": 6, "validation": 4, "evaluation": 4}, seconds=2.0)
        targets = [*(str(features_h5("benchquick", split))
                     for split in ("development", "validation", "evaluation")),
                   str(vocab_json("benchquick"))]
    configfile = work / "memory" / ("benchquick.yaml" if s.quick else "demo.yaml")
    configfile.parent.mkdir(parents=True, exist_ok=True)
    configfile.write_text(yaml.safe_dump(demo), encoding="utf-8")
    return memory.run(configfile, work / "memory" / "workdir", targets)


def _scaling(s: Sizes, paper: dict[str, Any], work: Path) -> dict[str, Any]:
    from maac.bench import scaling

    return scaling.run(paper["audio"], s.scaling_clips, s.scaling_seconds, work / "scaling")


BENCHMARKS: dict[str, Callable[[Sizes, dict[str, Any], Path], dict[str, Any]]] = {
    "frontend": _frontend,
    "beam_demo": _beam_demo,
    "beam_full": _beam_full,
    "ce_cache": _ce_cache,
    "rewards": _rewards,
    "scaling": _scaling,
    "memory": _memory,
}


def run(quick: bool, only: list[str] | None, config: Path,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the chosen benchmarks; a failed equality check raises (MaacError)."""
    sizes = QUICK if quick else FULL
    paper = load_config(config)
    results = []
    with tempfile.TemporaryDirectory(prefix="maac-bench-") as tmp:
        for name, bench in BENCHMARKS.items():
            if only and name not in only:
                continue
            log(f"bench {name} ...")
            result = {"id": name, **bench(sizes, paper, Path(tmp))}
            results.append(result)
            log(f"  {result['name']}: {result['check']}")
    return {"machine": machine(), "quick": quick, "repeats": sizes.repeats, "results": results}
