"""Subcommands of decoding and evaluation: decode, evaluate, metrics-setup."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _decode(args: argparse.Namespace) -> None:
    from maac.audio.feature_store import FeatureStore
    from maac.errors import MaacError
    from maac.evaluation.captions import caption_store, write_captions
    from maac.models.captioner import load_captioner
    from maac.text.vocabulary import Vocabulary

    vocab = Vocabulary.load(args.vocab)
    model, meta = load_captioner(args.checkpoint, vocab_size=len(vocab))
    store = FeatureStore(args.features)
    n_mels = store.attrs.get("n_mels")
    if n_mels is not None and int(n_mels) != int(meta["n_mels"]):
        raise MaacError(f"{args.features}: {n_mels} mel bands, but {args.checkpoint} was trained "
                        f"on {meta['n_mels']}; use features made with the model's front end")
    device = _device(args.device)
    model.to(device).eval()
    start = time.perf_counter()
    rows = caption_store(model, store, vocab, method=args.method, beam_size=args.beam,
                         max_length=args.max_length, length_penalty=args.length_penalty,
                         batch_size=args.batch_size, device=device)
    store.close()
    write_captions(rows, args.out)
    how = f"beam {args.beam}" if args.method == "beam" else "greedy"
    print(f"{len(rows)} captions ({how}, {device}, {time.perf_counter() - start:.1f} s) "
          f"-> {args.out}")


def _evaluate(args: argparse.Namespace) -> None:
    from maac.evaluation.captions import read_predictions, read_references
    from maac.evaluation.metrics import evaluate, format_table, write_metrics

    predictions = read_predictions(args.predictions)
    references = read_references(args.references)
    result = evaluate(predictions, references, cache_path=args.cache_path)
    print(format_table(result))
    if args.out is not None:
        write_metrics(result, args.out)
        print(f"-> {args.out}")


def _metrics_setup(args: argparse.Namespace) -> None:
    from maac.evaluation.java_setup import setup_java_tools

    online = False if args.offline else (True if args.online else None)
    print(setup_java_tools(args.cache_path, online=online).report())


def register(sub: Any, default_config: Path) -> None:
    """Add this layer's subcommands to the ``maac`` parser."""
    p = sub.add_parser("decode", help="caption every clip of a feature file (file_name,caption)")
    p.add_argument("--checkpoint", required=True, type=Path, help="captioner checkpoint")
    p.add_argument("--features", required=True, type=Path, help="features {split}.h5")
    p.add_argument("--vocab", required=True, type=Path, help="vocab.json it was trained with")
    p.add_argument("--out", required=True, type=Path, help="captions CSV to write")
    p.add_argument("--method", choices=("beam", "greedy"), default="beam")
    p.add_argument("--beam", type=int, default=4, help="beam size (default 4)")
    p.add_argument("--max-length", type=int, default=30,
                   help="most tokens per caption, <eos> included (default 30)")
    p.add_argument("--length-penalty", type=float, default=1.15,
                   help="beam score = sum log-prob / length**this (default 1.15)")
    p.add_argument("--batch-size", type=int, default=32, help="clips per batch (default 32)")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, ...")
    p.set_defaults(handler=_decode)

    p = sub.add_parser("evaluate", help="BLEU, METEOR, ROUGE-L, CIDEr-D, SPICE, SPIDEr of "
                                        "captions against a Clotho caption CSV (aac-metrics)")
    p.add_argument("predictions", type=Path, help="CSV file_name,caption (maac decode)")
    p.add_argument("references", type=Path, help="Clotho CSV file_name,caption_1..caption_5")
    p.add_argument("--out", type=Path, help="metrics JSON to write")
    p.add_argument("--cache-path", type=Path, default=None,
                   help="aac-metrics' cache root (default $AAC_METRICS_CACHE_PATH or ~/.cache)")
    p.set_defaults(handler=_evaluate)

    p = sub.add_parser("metrics-setup", help="make aac-metrics' Java tools ready (idempotent); "
                                             "say whether SPICE can run")
    p.add_argument("--cache-path", type=Path, default=None,
                   help="aac-metrics' cache root (default $AAC_METRICS_CACHE_PATH or ~/.cache)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--offline", action="store_true",
                      help="never try aac-metrics' download (default: try it when online)")
    mode.add_argument("--online", action="store_true",
                      help="run aac-metrics' download without testing the connection first")
    p.set_defaults(handler=_metrics_setup)
