"""``maac dvc-yaml``: write dvc.yaml from the configs, or check the committed one is current."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from maac import paths
from maac.errors import MaacError


def _dvc_yaml(args: argparse.Namespace) -> None:
    from maac.atomic import atomic_file
    from maac.dvc_stages import document, render

    generated = document()
    text = render(generated)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else None
        if current != text:
            raise MaacError(f"{args.out} is not what `maac dvc-yaml` makes from the configs; "
                            "run `maac dvc-yaml` and commit it")
        print(f"{args.out} is current")
        return
    with atomic_file(args.out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(f"{len(generated['stages'])} stages, {len(generated['plots'])} plots -> {args.out}")


def register(sub: Any, default_config: Path) -> None:
    p = sub.add_parser("dvc-yaml", help="write dvc.yaml from config/demo.yaml and "
                                        "config/config.yaml (the source checkout's)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; fail when the file differs from the generated one")
    p.add_argument("--out", type=Path, default=paths.REPO / paths.DVC_YAML,
                   help="default: dvc.yaml of the source checkout")
    p.set_defaults(handler=_dvc_yaml)
