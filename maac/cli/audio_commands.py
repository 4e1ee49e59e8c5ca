"""Subcommands of the audio layer: ``maac features``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from maac.audio.feature_store import file_sha256, write_features
from maac.data.manifest import read_manifest

# PANNs' front end (config key -> default); every key is a flag: n_fft -> --n-fft.
FRONTEND_DEFAULTS: dict[str, Any] = {
    "sample_rate": 32000, "n_fft": 1024, "win_length": 1024, "hop_length": 320, "n_mels": 64,
    "f_min": 50, "f_max": 14000, "amin": 1e-10,
}


def _features(args: argparse.Namespace) -> None:
    audio_cfg = {key: getattr(args, key) for key in FRONTEND_DEFAULTS}
    clips = list(read_manifest(args.manifest).values())
    frames = write_features(clips, args.out, audio_cfg, file_sha256(args.manifest),
                            workers=args.workers, batch=args.batch)
    print(f"{args.out}: {len(clips)} clips, {frames} frames")


def register(sub: Any, default_config: Path) -> None:
    p = sub.add_parser("features", help="log-mel features of a manifest's clips -> HDF5")
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--workers", type=int, default=1, help="worker processes (one per core)")
    p.add_argument("--batch", type=int, default=16, help="clips per worker per write")
    for key, default in FRONTEND_DEFAULTS.items():
        p.add_argument(f"--{key.replace('_', '-')}", dest=key, type=type(default),
                       default=default)
    p.set_defaults(handler=_features)
