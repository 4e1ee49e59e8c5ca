"""Subcommands of the data layer: synth, download, extract, local-check, manifest, audit,
config check, summary."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from maac.config import load_config
from maac.data import clotho
from maac.data.download import check_md5, download
from maac.data.extract import extract_7z
from maac.data.manifest import SPLITS, build_manifest, read_manifest, write_manifest
from maac.errors import MaacError


def _parse_clips(text: str) -> dict[str, int]:
    """``development=N,validation=N,evaluation=N`` -> {split: N}."""
    clips: dict[str, int] = {}
    for item in text.split(","):
        split, _, count = item.partition("=")
        if split.strip() not in SPLITS or not count.strip().isdigit():
            raise argparse.ArgumentTypeError(
                f"{item!r}: expected SPLIT=N with SPLIT one of {', '.join(SPLITS)}"
            )
        clips[split.strip()] = int(count)
    return clips


def _synth(args: argparse.Namespace) -> None:
    from maac.data.synth import synthesize  # signal code (scipy) is imported only when used

    if not args.seconds > 0:  # also refuses nan
        raise MaacError(f"--seconds {args.seconds}: give a clip length above 0 seconds")
    counts = synthesize(args.out_dir, args.clips, args.seconds, args.seed)
    print(f"wrote {sum(counts.values())} clips ({counts}) to {args.out_dir}")


def _download_clotho(args: argparse.Namespace) -> None:
    zenodo = load_config(args.config)["dataset"].get("zenodo")
    if zenodo is None:
        raise MaacError(f"{args.config}: dataset.zenodo is not set; use config/config.yaml")
    clotho.fetch(args.out_dir, zenodo["url"], zenodo["files"], only=args.only)
    print(f"Clotho is ready in {args.out_dir}")


def _download_panns(args: argparse.Namespace) -> None:
    pretrained = load_config(args.config)["pretrained"]
    download(pretrained["url"], args.out_path, pretrained["md5"])
    print(f"PANNs checkpoint ready: {args.out_path}")


def _download_url(args: argparse.Namespace) -> None:
    if args.retries < 0:
        raise MaacError(f"--retries {args.retries}: give 0 or more")
    download(args.url, args.out_path, check_md5(args.md5, "--md5"), retries=args.retries)


def _extract(args: argparse.Namespace) -> None:
    count = extract_7z(args.archive, args.out_dir, strip=args.strip)
    print(f"extracted {count} files to {args.out_dir}")


def _manifest(args: argparse.Namespace) -> None:
    clips = build_manifest(args.split, args.captions, args.audio_dir)
    write_manifest(clips, args.out)
    print(f"{args.split}: {len(clips)} clips -> {args.out}")


def _pairs(items: list[str] | None, flag: str) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` (a repeated flag) -> {KEY: VALUE}."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise MaacError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _local_check(args: argparse.Namespace) -> None:
    from maac.data.local import check_local, find_local, write_check

    md5s = {name: check_md5(md5, f"--md5 {name}")
            for name, md5 in _pairs(args.md5, "--md5").items()}
    dataset = find_local(args.path, args.layout, args.splits.split(","))
    report = check_local(dataset, args.official, md5s)
    write_check(report, args.out)
    checked = sum(v for entry in report["splits"].values() for k, v in entry.items()
                  if k.endswith("_md5_checked"))
    md5 = (f"{checked} CSV md5 sum(s) match Clotho v2.1's" if args.official
           else "md5 sums not checked (dataset.local.md5: skip)")
    counts = ", ".join(f"{split} {entry['clips']} clips"
                       for split, entry in report["splits"].items())
    print(f"{dataset.root}: {dataset.layout} layout, {counts}; {md5} -> {args.out}")


def _audit(args: argparse.Namespace) -> None:
    from maac.data.audit import audit_splits, summary_line, write_audit

    clips = [clip for path in args.manifests for clip in read_manifest(path).values()]
    metadata = _pairs(args.metadata, "--metadata")
    unknown = sorted(set(metadata) - set(SPLITS))
    if unknown:
        raise MaacError(f"--metadata {unknown[0]}=...: not a split; use {', '.join(SPLITS)}")
    audit = audit_splits(clips, metadata, threads=args.threads)
    write_audit(audit, args.out, args.table)
    print(summary_line(audit))


def _config_check(args: argparse.Namespace) -> None:
    for path in args.files:
        load_config(path)
        print(f"{path}: valid")


def _summary(args: argparse.Namespace) -> None:
    from maac.cli.summary import summarize

    print(summarize(load_config(args.config)))


def register(sub: Any, default_config: Path) -> None:
    """Add this layer's subcommands to the ``maac`` parser."""
    p = sub.add_parser("synth", help="write a deterministic synthetic dataset in Clotho's layout")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--clips", type=_parse_clips, default={"development": 60, "validation": 20,
                                               "evaluation": 20},
        help="clips per split, e.g. development=60,validation=20,evaluation=20",
    )
    p.add_argument("--seconds", type=float, default=10.0,
                   help="mean clip length in seconds (each clip varies by +-25%%)")
    p.set_defaults(handler=_synth)

    dl = sub.add_parser("download", help="download Clotho or the PANNs checkpoint (md5-checked)")
    what = dl.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = what.add_parser("clotho", help="Clotho v2.1 from Zenodo: CSVs and extracted audio")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--config", type=Path, default=default_config)
    p.add_argument("--only", action="append", metavar="FILE",
                   help="fetch only this file of dataset.zenodo.files (repeatable)")
    p.set_defaults(handler=_download_clotho)
    p = what.add_parser("panns", help="the PANNs ResNet38 checkpoint")
    p.add_argument("out_path", type=Path)
    p.add_argument("--config", type=Path, default=default_config)
    p.set_defaults(handler=_download_panns)
    p = what.add_parser("url", help="any URL, checked against an md5 sum")
    p.add_argument("url")
    p.add_argument("out_path", type=Path)
    p.add_argument("--md5", required=True)
    p.add_argument("--retries", type=int, default=5, metavar="N",
                   help="retries after a dropped connection (default 5, backing off 1, 2, 4 s...)")
    p.set_defaults(handler=_download_url)

    p = sub.add_parser("extract", help="safely extract a 7z archive into a folder")
    p.add_argument("archive", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--strip", help="top-level folder of the archive to strip")
    p.set_defaults(handler=_extract)

    p = sub.add_parser("manifest", help="match a split's caption CSV to its audio files")
    p.add_argument("--split", required=True, choices=SPLITS)
    p.add_argument("--captions", required=True, type=Path, help="clotho_captions_{split}.csv")
    p.add_argument("--audio-dir", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(handler=_manifest)

    p = sub.add_parser("local-check", help="check a local Clotho-format folder (layout, CSVs, "
                       "md5 sums) without writing into it")
    p.add_argument("path", type=Path, help="dataset.local.path")
    p.add_argument("--layout", default="auto", help="auto, clotho or aac-datasets")
    p.add_argument("--splits", default=",".join(SPLITS), help="comma-separated splits to check")
    p.add_argument("--official", action="store_true",
                   help="the folder is Clotho v2.1 (dataset.local.md5: zenodo): its CSVs must "
                   "match the --md5 sums")
    p.add_argument("--md5", action="append", metavar="NAME=MD5",
                   help="the official md5 of a CSV (repeatable; dataset.zenodo.files)")
    p.add_argument("--out", required=True, type=Path, help="JSON of what was found")
    p.set_defaults(handler=_local_check)

    p = sub.add_parser("audit", help="find recordings in more than one split (audio content, "
                       "Freesound sound id); reports, never fails on them")
    p.add_argument("--manifests", required=True, nargs="+", type=Path)
    p.add_argument("--metadata", action="append", metavar="SPLIT=CSV",
                   help="a split's Clotho metadata CSV (repeatable; sound ids come from it)")
    p.add_argument("--out", required=True, type=Path, help="audit.json")
    p.add_argument("--table", required=True, type=Path, help="audit.csv (one row per check)")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(handler=_audit)

    p = sub.add_parser("config", help="validate config files against the schema")
    p.add_argument("action", choices=["check"])
    p.add_argument("files", nargs="+", type=Path)
    p.set_defaults(handler=_config_check)

    p = sub.add_parser("summary", help="print where the results are and the tables so far")
    p.add_argument("--config", type=Path, default=default_config)
    p.set_defaults(handler=_summary)
