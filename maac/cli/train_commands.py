"""Subcommands of the training layer: ``maac train encoder | captioner | prior``.

A stage's settings come from ``--config FILE`` (the sections it depends on are taken from it)
or from ``--settings JSON`` (exactly those sections, as the Snakemake rules pass them, read by
:func:`maac.config.parse_settings`); both give the same config hash. Every file a stage reads
and writes is named on the command line, as its rule's input and output.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from maac import paths
from maac.config import load_config, parse_settings
from maac.errors import MaacError
from maac.models.variants import VARIANTS


def _settings(args: argparse.Namespace, stage: str) -> dict[str, Any]:
    from maac.training.settings import stage_sections, stage_settings

    if args.settings:
        return parse_settings(args.settings, stage_sections(stage))
    return stage_settings(load_config(args.config), stage)


def _runtime(args: argparse.Namespace) -> Any:
    from maac.training.run import Runtime

    return Runtime(args.device, args.threads, not args.no_progress, not args.no_tracking)


def _files(args: argparse.Namespace, text: str) -> Any:
    from maac.training.loop import StageOutputs
    from maac.training.run import StageFiles

    return StageFiles(args.features_train, args.features_validation,
                      getattr(args, f"{text}_train"), getattr(args, f"{text}_validation"),
                      args.keywords, args.vocab,
                      StageOutputs(args.best, args.last, args.metrics, args.state),
                      args.init, getattr(args, "pretrained", None),
                      getattr(args, "encoder", None))


def _encoder(args: argparse.Namespace) -> None:
    from maac.training.run import run_encoder

    settings = _settings(args, f"encoder_{args.phase}")
    run_encoder(settings, args.phase, _files(args, "labels"), _runtime(args))


def _captioner(args: argparse.Namespace) -> None:
    from maac.training.run import run_captioner

    settings = _settings(args, f"captioner_{args.phase}")
    seed = args.seed
    if seed is None:
        if args.settings:
            raise MaacError("--seed is required with --settings")
        seed = load_config(args.config)["seeds"][0]
    run_captioner(settings, args.phase, args.variant, seed, _files(args, "captions"),
                  _runtime(args), no_audio=args.no_audio)


def _prior(args: argparse.Namespace) -> None:
    from maac.text.vocabulary import Vocabulary
    from maac.training.baselines import caption_prior
    from maac.training.batches import read_encoded_captions

    config = load_config(args.config)
    dataset, splits = config["dataset"]["name"], config["dataset"]["splits"]
    vocab = Vocabulary.load(args.vocab or paths.vocab_json(dataset))
    words = vocab.id_to_word

    def refs(path: Path | None, split: str) -> dict[str, list[list[str]]]:
        caps = read_encoded_captions(path or paths.captions_jsonl(dataset, splits[split]))
        return {k: [[words[i] for i in c[1:-1]] for c in v] for k, v in caps.items()}

    result = caption_prior(refs(args.captions_train, "train"),
                           refs(args.captions_validation, "validation"))
    print(json.dumps(result, indent=2))


def _common(p: argparse.ArgumentParser, default_config: Path, text: str) -> None:
    p.add_argument("--config", type=Path, default=default_config)
    p.add_argument("--settings", help="the stage's config sections as JSON (the rules pass it)")
    files = p.add_argument_group("files (the rule's input and output)")
    for name, what in (("features-train", "training split's features (.h5)"),
                       ("features-validation", "validation split's features (.h5)"),
                       (f"{text}-train", f"training split's {text}"),
                       (f"{text}-validation", f"validation split's {text}"),
                       ("keywords", "keyword table (keywords.csv)"),
                       ("vocab", "vocabulary (vocab.json)"),
                       ("best", "output: best validation checkpoint"),
                       ("last", "output: final training state"),
                       ("metrics", "output: the stage's metrics.json"),
                       ("state", "the training state while running; a rerun resumes from it")):
        files.add_argument(f"--{name}", type=Path, required=True, help=what)
    p.add_argument("--threads", type=int, help="CPU threads for torch (Snakemake: {threads})")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto: cuda when present")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-tracking", action="store_true", help="no MLflow run")


def register(sub: Any, default_config: Path) -> None:
    """Add this layer's subcommands to the ``maac`` parser."""
    train = sub.add_parser("train", help="train a stage: keyword encoder, captioner CE or RL")
    what = train.add_subparsers(dest="what", required=True, metavar="WHAT")

    p = what.add_parser("encoder", help="stage 1: keyword encoder (phase frozen, then finetune)")
    p.add_argument("--phase", required=True, choices=["frozen", "finetune"])
    p.add_argument("--init", type=Path, help="finetune: the frozen phase's best checkpoint")
    p.add_argument("--pretrained", type=Path, help="frozen at width 1: the PANNs checkpoint")
    _common(p, default_config, "labels")
    p.set_defaults(handler=_encoder)

    p = what.add_parser("captioner", help="stage 2 (ce) or 3 (rl) of one variant and seed")
    p.add_argument("--phase", required=True, choices=["ce", "rl"])
    p.add_argument("--variant", required=True, choices=VARIANTS)
    p.add_argument("--seed", type=int, help="default: the config's first seed")
    p.add_argument("--init", type=Path, required=True,
                   help="ce: the encoder checkpoint; rl: the CE checkpoint")
    p.add_argument("--encoder", type=Path, help="rl: the encoder checkpoint the CE captioner "
                   "was built on (default: the path it names)")
    p.add_argument("--no-audio", action="store_true",
                   help="blank encoder outputs: the no-audio baseline")
    _common(p, default_config, "captions")
    p.set_defaults(handler=_captioner)

    p = what.add_parser("prior", help="CIDEr-D of the best single training caption (no audio)")
    p.add_argument("--config", type=Path, default=default_config)
    p.add_argument("--vocab", type=Path, help="vocab.json (default: the config's dataset's)")
    for split in ("train", "validation"):
        p.add_argument(f"--captions-{split}", type=Path,
                       help=f"the {split} split's encoded captions (default: the config's)")
    p.set_defaults(handler=_prior)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m maac.cli.train_commands WHAT ...``: the train subcommands on their own."""
    parser = argparse.ArgumentParser(prog="maac train")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register(sub, paths.CONFIG)
    args = parser.parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    try:
        args.handler(args)
    except MaacError as err:
        print(f"maac: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
