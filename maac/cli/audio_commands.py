"""Subcommands of the audio layer: ``maac features``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from maac.audio.feature_store import DiskFullError, file_sha256, write_features
from maac.config import parse_settings, validate_config
from maac.data.manifest import read_manifest
from maac.errors import MaacError

# PANNs' front end (config key -> default); every key is a flag: n_fft -> --n-fft.
FRONTEND_DEFAULTS: dict[str, Any] = {
    "sample_rate": 32000, "n_fft": 1024, "win_length": 1024, "hop_length": 320, "n_mels": 64,
    "f_min": 50, "f_max": 14000, "amin": 1e-10,
}


def _flag(key: str) -> str:
    return f"--{key.replace('_', '-')}"


def _check_options(args: argparse.Namespace, audio_cfg: dict[str, Any]) -> None:
    """Refuse option values that the config schema (front end) or the step cannot use."""
    for key in ("workers", "batch"):
        if getattr(args, key) < 1:
            raise MaacError(f"{_flag(key)} {getattr(args, key)}: must be at least 1")
    try:
        validate_config({"audio": audio_cfg}, "features", only=["audio"])
    except MaacError as err:
        key = str(err).split("'audio.", 1)[-1].split("'", 1)[0]
        value = audio_cfg.get(key)
        detail = str(err).split(": ", 2)[-1]
        raise MaacError(f"{_flag(key)} {value}: {detail}; see config/config.yaml's "
                        "audio section") from err


def _frontend(args: argparse.Namespace) -> dict[str, Any]:
    """The front end: the config's audio section from ``--settings`` (as the rule passes it),
    else the flags; each value of its flag's type."""
    if args.settings:
        audio = parse_settings(args.settings, ["audio"])["audio"]
        unknown = sorted(set(audio) - set(FRONTEND_DEFAULTS))
        if unknown:
            raise MaacError(f"--settings: audio.{unknown[0]} is not a front-end setting")
        return {key: type(default)(audio.get(key, default))
                for key, default in FRONTEND_DEFAULTS.items()}
    return {key: getattr(args, key) for key in FRONTEND_DEFAULTS}


def _features(args: argparse.Namespace) -> None:
    audio_cfg = _frontend(args)
    _check_options(args, audio_cfg)
    clips = list(read_manifest(args.manifest).values())
    try:
        frames = write_features(clips, args.out, audio_cfg, file_sha256(args.manifest),
                                workers=args.workers, batch=args.batch)
    except DiskFullError as err:  # HDF5 met the full disk: its objects would crash on exit
        print(f"maac: error: {err}", file=sys.stderr, flush=True)
        os._exit(1)
    print(f"{args.out}: {len(clips)} clips, {frames} frames")


def register(sub: Any, default_config: Path) -> None:
    p = sub.add_parser("features", help="log-mel features of a manifest's clips -> HDF5")
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--workers", type=int, default=1, help="worker processes (one per core)")
    p.add_argument("--batch", type=int, default=16, help="clips per worker per write")
    p.add_argument("--settings", metavar="JSON",
                   help="the config's audio section as JSON, as the rule passes it (instead of "
                   "the front-end flags below)")
    for key, default in FRONTEND_DEFAULTS.items():
        p.add_argument(f"--{key.replace('_', '-')}", dest=key, type=type(default),
                       default=default)
    p.set_defaults(handler=_features)
