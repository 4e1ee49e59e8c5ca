"""The ``maac`` command: one entry point with a subcommand per pipeline step.

Snakemake rules call these subcommands; users can too. Expected failures (bad input, bad
config, failed download) print one line ``maac: error: ...`` and exit with status 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from maac.cli import (
    audio_commands,
    bench_commands,
    data_commands,
    eval_commands,
    inference_commands,
    model_commands,
    report_commands,
    text_commands,
    train_commands,
)
from maac.errors import MaacError

DEFAULT_CONFIG = Path("config/config.yaml")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="maac",
        description="MAAC audio captioning on Clotho: the pipeline's steps as commands.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data_commands.register(sub, DEFAULT_CONFIG)
    audio_commands.register(sub, DEFAULT_CONFIG)
    text_commands.register(sub, DEFAULT_CONFIG)
    model_commands.register(sub, DEFAULT_CONFIG)
    inference_commands.register(sub, DEFAULT_CONFIG)
    report_commands.register(sub, DEFAULT_CONFIG)
    eval_commands.register(sub, DEFAULT_CONFIG)
    train_commands.register(sub, DEFAULT_CONFIG)
    bench_commands.register(sub, DEFAULT_CONFIG)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    handler: Callable[[argparse.Namespace], int | None] = args.handler
    try:
        return handler(args) or 0
    except MaacError as err:
        print(f"maac: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("maac: interrupted; finished artifacts are intact", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
