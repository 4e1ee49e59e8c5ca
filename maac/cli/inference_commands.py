"""``maac caption`` (caption audio files with a bundle) and ``maac bundle`` (make one)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from maac.config import sections
from maac.errors import MaacError


def _caption(args: argparse.Namespace) -> int:
    from maac.inference.api import Captioner

    captioner = Captioner.load(args.model)
    results: list[dict[str, Any]] = []
    failed = 0
    for path in args.audio:
        try:
            result = captioner.caption(path)
        except MaacError as err:
            failed += 1
            print(f"maac: error: {err}", file=sys.stderr)
            results.append({"file": str(path), "error": str(err)})
            continue
        results.append({"file": str(path), "caption": result.caption,
                        "keywords": [{"word": w, "probability": round(p, 4)}
                                     for w, p in result.keywords]})
        if not args.json:
            words = ", ".join(f"{w} ({p:.2f})" for w, p in result.keywords)
            print(f"{path}\n  caption:  {result.caption}\n  keywords: {words}")
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    return 1 if failed else 0


def _bundle(args: argparse.Namespace) -> None:
    from maac.inference.bundle import write_bundle

    config = sections(args.settings, args.config, ["audio", "decoding"])
    write_bundle(args.checkpoint, args.vocab, args.keywords, config["audio"],
                 config["decoding"], args.out, args.encoder)
    print(f"model bundle -> {args.out}")


def register(sub: Any, default_config: Path) -> None:
    p = sub.add_parser("caption", help="caption audio files with a trained model bundle")
    p.add_argument("audio", nargs="+", type=Path, help="WAV/FLAC files, any rate or length")
    p.add_argument("--model", required=True, type=Path, help="a model bundle (model.bundle)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=_caption)

    p = sub.add_parser("bundle", help="pack a trained captioner with its vocabulary and config")
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--encoder", type=Path, help="the encoder checkpoint a decoder-only captioner "
                   "was built on (default: the path the checkpoint names)")
    p.add_argument("--vocab", required=True, type=Path)
    p.add_argument("--keywords", required=True, type=Path)
    p.add_argument("--config", type=Path, default=default_config)
    p.add_argument("--settings", help="the sections audio and decoding as JSON (rules use it)")
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(handler=_bundle)
