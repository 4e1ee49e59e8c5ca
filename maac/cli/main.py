"""The ``maac`` command: one entry point with a subcommand per pipeline step.

Snakemake rules call these subcommands; users can too. Expected failures (bad input, bad
config, failed download) print one line ``maac: error: ...`` and exit with status 1; so do a
full disk ("disk full writing FILE"), a refused or read-only write, and a file that is not
UTF-8. Anything else is a bug: one line ``maac: internal error: TYPE: MESSAGE (...)``, status 3.
No Python traceback is printed unless asked for: ``maac --debug COMMAND ...`` or the
environment variable ``MAAC_DEBUG=1`` (which reaches the commands that Snakemake rules run)
re-raise every exception with its full traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from maac import paths
from maac.cli import (
    audio_commands,
    bench_commands,
    data_commands,
    dvc_commands,
    eval_commands,
    inference_commands,
    model_commands,
    report_commands,
    text_commands,
    train_commands,
)
from maac.errors import DEBUG_ENV, fault_line

DEFAULT_CONFIG = paths.CONFIG


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="maac",
        description="MAAC audio captioning on Clotho: the pipeline's steps as commands.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--debug", action="store_true",
                        help=f"show the full Python traceback of an error (or set {DEBUG_ENV}=1)")
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
    dvc_commands.register(sub, DEFAULT_CONFIG)
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
    except KeyboardInterrupt:
        print("maac: interrupted; finished artifacts are intact", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output is gone (``maac ... | head``)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as err:
        if args.debug or debug_from_env():
            raise
        status, line = fault_line(err)
        print(line, file=sys.stderr)
        return status


def debug_from_env() -> bool:
    """Whether ``MAAC_DEBUG`` asks for tracebacks (set, and not empty, 0, false or no)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


if __name__ == "__main__":
    sys.exit(main())
