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


def _decoding_defaults(args: argparse.Namespace) -> None:
    """Fill --beam, --max-length, --length-penalty left out from the config's decoding section
    (the paper's values live in config/config.yaml only)."""
    given = {"beam_size": "beam", "max_length": "max_length", "length_penalty": "length_penalty"}
    if all(getattr(args, flag) is not None for flag in given.values()):
        return
    from maac.config import sections

    decoding = sections(args.settings, args.config, ["decoding"])["decoding"]
    for key, flag in given.items():
        if getattr(args, flag) is None:
            setattr(args, flag, decoding[key])


def _decode(args: argparse.Namespace) -> None:
    from maac.audio.feature_store import FeatureStore
    from maac.errors import MaacError
    from maac.evaluation.captions import caption_store, write_decoded_captions
    from maac.models.captioner import load_captioner
    from maac.text.vocabulary import Vocabulary

    writable(args.out, "--out")  # before the (slow) decoding
    _decoding_defaults(args)
    vocab = Vocabulary.load(args.vocab)
    model, meta = load_captioner(args.checkpoint, vocab_size=len(vocab), encoder=args.encoder)
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
    write_decoded_captions(rows, args.out)
    how = f"beam {args.beam}" if args.method == "beam" else "greedy"
    print(f"{len(rows)} captions ({how}, {device}, {time.perf_counter() - start:.1f} s) "
          f"-> {args.out}")


def writable(path: Path, option: str) -> None:
    """Refuse now, before the slow work, an output ``path`` that cannot be written.

    Probes the nearest existing folder on the way to ``path`` with an unnamed temporary file
    (nothing is left behind, no folder is created).
    """
    import tempfile

    from maac.errors import MaacError

    if path.is_dir():
        raise MaacError(f"{option} {path}: is a folder; give a file name")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise MaacError(f"{option} {path}: {folder} is not a folder; choose another location")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise MaacError(f"{option} {path}: cannot write in {folder} ({err.strerror or err}); "
                        "choose another location or fix its permissions") from err


def _bootstrap_settings(args: argparse.Namespace) -> None:
    """Fill --resamples and --bootstrap-seed left out from ``--settings``' statistics section
    (as the rule passes it), else 2000 and 0."""
    from maac.config import parse_settings

    stats = parse_settings(args.settings, ["statistics"])["statistics"] if args.settings else {}
    if args.resamples is None:
        args.resamples = int(stats.get("resamples", 2000))
    if args.bootstrap_seed is None:
        args.bootstrap_seed = int(stats.get("seed", 0))


def _evaluate(args: argparse.Namespace) -> None:
    from maac.evaluation.captions import read_predictions, read_references
    from maac.evaluation.metrics import format_table, score, write_clip_scores, write_metrics

    _bootstrap_settings(args)

    for path, option in ((args.out, "--out"), (args.scores, "--scores")):
        if path is not None:
            writable(path, option)
    predictions = read_predictions(args.predictions)
    references = read_references(args.references)
    scores = score(predictions, references, cache_path=args.cache_path)
    print(format_table(scores.corpus))
    if args.scores is not None:
        write_clip_scores(scores.clips, args.scores)
        print(f"-> {args.scores} ({len(scores.clips)} clips)")
    if args.out is not None:
        write_metrics(scores.corpus, args.out)
        print(f"-> {args.out}")
    if args.run is not None:
        _track_evaluation(args, scores.corpus, scores.clips)


def _track_evaluation(args: argparse.Namespace, corpus: dict[str, Any],
                      clips: list[dict[str, Any]]) -> None:
    """An MLflow run of this evaluation: corpus scores and their 95% intervals over clips."""
    from maac.evaluation.clip_scores import clip_metrics
    from maac.stats import bootstrap
    from maac.tracking.mlflow_tracker import MlflowTracker

    resamples = bootstrap.draw(len(clips), 1, args.resamples, args.bootstrap_seed)
    record: dict[str, float] = {}
    for key, metric in clip_metrics(corpus, clips).items():
        ci = bootstrap.interval([metric], resamples)
        record.update({key: ci.mean, f"{key}_low": ci.low, f"{key}_high": ci.high})
    name = f"evaluate {args.variant} seed{args.seed} {args.phase} {args.split}"
    tags = {"maac.stage": "evaluate", "maac.variant": str(args.variant),
            "maac.seed": str(args.seed), "maac.eval_phase": str(args.phase),
            "maac.split": str(args.split)}
    params = {"predictions": str(args.predictions), "references": str(args.references),
              "bootstrap": {"resamples": args.resamples, "seed": args.bootstrap_seed,
                            "level": bootstrap.LEVEL, "over": "clips"}}
    provenance = corpus.get("provenance") or {}
    if provenance:  # versions, settings and the sha256 of every jar and model file used
        params["provenance"] = provenance
        tags["maac.metrics_fingerprint"] = str(provenance.get("fingerprint"))
    tracker = MlflowTracker(args.run, name, params, tags)
    tracker.start(None)
    tracker.log_epoch(record, 0)
    tracker.finish(args.out, "FINISHED")
    print(f"MLflow run {tracker.run_id} ({name})")


def _metrics_setup(args: argparse.Namespace) -> None:
    from maac.evaluation.java_setup import setup_java_tools

    online = False if args.offline else (True if args.online else None)
    print(setup_java_tools(args.cache_path, online=online).report())


def register(sub: Any, default_config: Path) -> None:
    """Add this layer's subcommands to the ``maac`` parser."""
    p = sub.add_parser("decode", help="caption every clip of a feature file (file_name,caption)")
    p.add_argument("--checkpoint", required=True, type=Path, help="captioner checkpoint")
    p.add_argument("--encoder", type=Path, help="the encoder checkpoint a decoder-only captioner "
                   "was built on (default: the path the checkpoint names)")
    p.add_argument("--features", required=True, type=Path, help="features {split}.h5")
    p.add_argument("--vocab", required=True, type=Path, help="vocab.json it was trained with")
    p.add_argument("--out", required=True, type=Path, help="captions CSV to write")
    p.add_argument("--method", choices=("beam", "greedy"), default="beam")
    p.add_argument("--beam", type=int, help="beam size (default: the config's "
                                            "decoding.beam_size)")
    p.add_argument("--max-length", type=int,
                   help="most tokens per caption, <eos> included (default: the config's "
                        "decoding.max_length)")
    p.add_argument("--length-penalty", type=float,
                   help="beam score = sum log-prob / length**this (default: the config's "
                        "decoding.length_penalty)")
    p.add_argument("--settings", metavar="JSON",
                   help="the config's decoding section as JSON, as the rule passes it")
    p.add_argument("--config", type=Path, default=default_config,
                   help="where the decoding defaults come from (without --settings)")
    p.add_argument("--batch-size", type=int, default=32, help="clips per batch (default 32)")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, ...")
    p.set_defaults(handler=_decode)

    p = sub.add_parser("evaluate", help="BLEU, METEOR, ROUGE-L, CIDEr-D, SPICE, SPIDEr and "
                                        "DCASE 2024's SPIDEr-FL, FENSE, SBERT-sim, FER, Vocab "
                                        "of captions against a Clotho caption CSV (aac-metrics)")
    p.add_argument("predictions", type=Path, help="CSV file_name,caption (maac decode)")
    p.add_argument("references", type=Path, help="Clotho CSV file_name,caption_1..caption_5")
    p.add_argument("--out", type=Path, help="metrics JSON to write")
    p.add_argument("--scores", type=Path, help="per-clip scores CSV to write")
    p.add_argument("--run", help="record an MLflow run in experiment maac-RUN (with --variant, "
                                 "--seed, --phase, --split as tags)")
    p.add_argument("--variant", default="-")
    p.add_argument("--seed", default="-")
    p.add_argument("--phase", default="-")
    p.add_argument("--split", default="-")
    p.add_argument("--settings", metavar="JSON",
                   help="the config's statistics section as JSON, as the rule passes it: the "
                   "resamples and seed of the logged intervals")
    p.add_argument("--resamples", type=int,
                   help="bootstrap resamples of the logged intervals (default: --settings' "
                   "statistics.resamples, else 2000)")
    p.add_argument("--bootstrap-seed", type=int,
                   help="(default: --settings' statistics.seed, else 0)")
    p.add_argument("--cache-path", type=Path, default=None,
                   help="aac-metrics' cache root (default $AAC_METRICS_CACHE_PATH or ~/.cache)")
    p.set_defaults(handler=_evaluate)

    p = sub.add_parser("metrics-setup", help="make aac-metrics' Java tools and the DCASE-2024 "
                                             "models ready (idempotent); say which metrics "
                                             "can run")
    p.add_argument("--cache-path", type=Path, default=None,
                   help="aac-metrics' cache root (default $AAC_METRICS_CACHE_PATH or ~/.cache)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--offline", action="store_true",
                      help="never try aac-metrics' download (default: try it when online)")
    mode.add_argument("--online", action="store_true",
                      help="run aac-metrics' download without testing the connection first")
    p.set_defaults(handler=_metrics_setup)
