"""Subcommands of the text layer: ``maac text vocab | keywords | build``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from maac.config import sections
from maac.data.manifest import read_captions


def _stopwords(text: str) -> list[str]:
    """``a,b,c`` -> ["a", "b", "c"] (an empty string gives no stopwords)."""
    return [w.strip() for w in text.split(",") if w.strip()]


def _positive(text: str) -> int:
    """An integer of at least 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number of at least 1")
    return value


def _keyword_params(args: argparse.Namespace) -> tuple[int, int, list[str]]:
    """Command-line values, each falling back to ``text.keywords`` of ``--settings`` (as the
    rule passes it) or of the config file."""
    needed = None in (args.count, args.min_length, args.stopwords)
    settings = getattr(args, "settings", None)
    cfg = sections(settings, args.config, ["text"])["text"]["keywords"] if needed else {}
    count = args.count if args.count is not None else int(cfg["count"])
    min_length = args.min_length if args.min_length is not None else int(cfg["min_length"])
    stopwords = (args.stopwords if args.stopwords is not None
                 else _stopwords(",".join(cfg["stopwords"])))
    return count, min_length, stopwords


def _captions(path: Path) -> list[str]:
    return [c for _, captions in read_captions(path) for c in captions]


def _vocab(args: argparse.Namespace) -> None:
    from maac.text.vocabulary import Vocabulary

    vocab = Vocabulary.build(_captions(args.captions_csv), args.min_count, str(args.captions_csv))
    print(f"{len(vocab)} tokens ({len(vocab.word_to_id)} words + 4 special tokens) "
          f"from {args.captions_csv}")


def _keywords(args: argparse.Namespace) -> None:
    from maac.text.build import describe_table
    from maac.text.keywords import KeywordExtractor, extract_keywords
    from maac.text.vocabulary import Vocabulary

    count, min_length, stopwords = _keyword_params(args)
    captions = _captions(args.captions_csv)
    vocab = Vocabulary.build(captions, source=str(args.captions_csv))
    extractor = KeywordExtractor(min_length, stopwords, vocab.counts)
    table = extract_keywords(captions, count, extractor, str(args.captions_csv))
    table.check_vocabulary(vocab)
    if args.markdown:
        print("| rank | keyword | kind | count |\n| ---: | --- | --- | ---: |")
        for rank, k in enumerate(table.keywords[:args.top], start=1):
            print(f"| {rank} | {k.word} | {k.kind} | {k.count} |")
        return
    print(describe_table(table, args.top))
    print(f"{len(table)} keywords from {args.captions_csv}")


def _build(args: argparse.Namespace) -> None:
    from maac.text.build import TextFiles, build_text

    files = TextFiles(args.vocab, args.keywords, args.summary, args.captions, args.labels)
    count, min_length, stopwords = _keyword_params(args)
    summary = build_text(args.train, args.manifests, files, count, min_length, stopwords,
                         args.min_count)
    means = ", ".join(f"{s} {v['mean_positives']:.2f}" for s, v in summary["splits"].items())
    print(f"vocabulary {summary['vocab_size']} tokens, {summary['keyword_count']} keywords "
          f"(mean positives per clip: {means}) -> {args.summary.parent}")


def _add_keyword_options(p: argparse.ArgumentParser, required: bool) -> None:
    default = "" if required else " (default: the config's text.keywords)"
    p.add_argument("--count", type=_positive, required=required, help=f"keywords to keep{default}")
    p.add_argument("--min-length", type=_positive, required=required,
                   help=f"drop words shorter than this{default}")
    p.add_argument("--stopwords", type=_stopwords, required=required, metavar="A,B,C",
                   help=f"comma-separated words to drop (\"be\" always is){default}")


def register(sub: Any, default_config: Path) -> None:
    """Add this layer's subcommands to the ``maac`` parser."""
    text = sub.add_parser("text", help="vocabulary, keyword table and keyword labels")
    what = text.add_subparsers(dest="what", required=True, metavar="WHAT")

    p = what.add_parser("vocab", help="print the vocabulary size of a Clotho caption CSV")
    p.add_argument("captions_csv", type=Path)
    p.add_argument("--min-count", type=_positive, default=1, help="drop words seen fewer times")
    p.set_defaults(handler=_vocab)

    p = what.add_parser("keywords", help="print the keyword table of a Clotho caption CSV")
    p.add_argument("captions_csv", type=Path)
    _add_keyword_options(p, required=False)
    p.add_argument("--top", type=_positive, default=None, help="print only the first TOP keywords")
    p.add_argument("--markdown", action="store_true",
                   help="print a Markdown table (rank, keyword, kind, count) and nothing else")
    p.add_argument("--config", type=Path, default=default_config)
    p.set_defaults(handler=_keywords)

    p = what.add_parser("build", help="write vocab, keywords, encoded captions and labels")
    p.add_argument("--train", required=True, type=Path, help="manifest of the training split")
    p.add_argument("--manifests", required=True, type=Path, nargs="+",
                   help="manifests of every split to encode (the training one among them)")
    p.add_argument("--vocab", required=True, type=Path, help="the vocabulary written (JSON)")
    p.add_argument("--keywords", required=True, type=Path, help="the keyword table written (CSV)")
    p.add_argument("--captions", required=True, type=Path, nargs="+",
                   help="the encoded captions written (JSON lines), one per manifest")
    p.add_argument("--labels", required=True, type=Path, nargs="+",
                   help="the keyword labels written (.npz), one per manifest")
    p.add_argument("--summary", required=True, type=Path, help="the summary written (JSON)")
    _add_keyword_options(p, required=False)
    p.add_argument("--settings", metavar="JSON",
                   help="the config's text section as JSON, as the rule passes it")
    p.add_argument("--config", type=Path, default=default_config)
    p.add_argument("--min-count", type=_positive, default=1, help="vocabulary: drop rarer words")
    p.set_defaults(handler=_build)
