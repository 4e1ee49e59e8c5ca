"""``maac bench``: benchmarks that print ratios against a baseline measured in the same run."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from maac.config import load_config

DEFAULT_CLIPS = Path("../shared/data/clotho_v2.1/audio_samples")


def _frontend(args: argparse.Namespace) -> None:
    from maac.bench import frontend
    from maac.bench.timing import machine

    cfg = load_config(args.config)["audio"]
    clips = sorted(args.clips.glob("*.wav")) if args.clips.is_dir() else []
    source = str(args.clips)
    with tempfile.TemporaryDirectory() as tmp:
        if not clips:
            clips = frontend.synthetic_clips(Path(tmp))
            source = "synthetic 15-30 s clips (real clips not found)"
        result = frontend.run(clips, cfg, repeats=args.repeats, workers=args.workers)
    result.update(source=source, machine=machine())
    print(json.dumps(result, indent=2))
    print(f"log-mel extraction: ours {result['ours_clips_per_s']:.1f} clips/s, librosa "
          f"{result['baseline_clips_per_s']:.1f} clips/s: {result['ratio']:.2f}x "
          f"(target >= {result['target']:.0f}x)")


def register(sub: Any, default_config: Path) -> None:
    bench = sub.add_parser("bench", help="benchmarks: ours vs a baseline, ratio in one run")
    which = bench.add_subparsers(dest="which", required=True, metavar="BENCH")
    p = which.add_parser("frontend", help="log-mel extraction vs librosa")
    p.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help="folder of WAV clips")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workers", type=int, default=None, help="default: all cores")
    p.add_argument("--config", type=Path, default=default_config)
    p.set_defaults(handler=_frontend)
