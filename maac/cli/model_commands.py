"""Subcommands of the models layer: ``maac model params`` (parameter counts per component)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from maac.config import load_config
from maac.models.variants import VARIANTS


def _params(args: argparse.Namespace) -> None:
    from maac.models.parameter_table import parameter_table  # torch: imported when used

    config = load_config(args.config)
    print(parameter_table(config, args.vocab_size, args.keywords, args.variant))


def register(sub: Any, default_config: Path) -> None:
    """Add this layer's subcommands to the ``maac`` parser."""
    model = sub.add_parser("model", help="inspect the captioning model")
    what = model.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = what.add_parser("params", help="a Markdown table of parameter counts per component")
    p.add_argument("--config", type=Path, default=default_config)
    p.add_argument("--vocab-size", type=int, default=4368, help="words incl. special tokens")
    p.add_argument("--keywords", type=int, default=300, help="N keywords of the encoder")
    p.add_argument("--variant", choices=VARIANTS, default="maac")
    p.set_defaults(handler=_params)
