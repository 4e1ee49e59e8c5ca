"""NLTK data: find the tokeniser, tagger and WordNet, download them when possible, else explain.

Search order: NLTK's own path (which honours ``NLTK_DATA``), then the project folder
``data/nltk_data``. A missing resource is downloaded into that folder (works online); offline,
a ``MaacError`` names the resource and how to provide it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import nltk

from maac import paths
from maac.errors import MaacError

NLTK_DIR = paths.NLTK_DIR
"""Project folder for downloaded NLTK data (relative to the repository root)."""

RESOURCES: dict[str, str] = {
    "punkt_tab": "tokenizers/punkt_tab/english/",
    "averaged_perceptron_tagger_eng": "taggers/averaged_perceptron_tagger_eng/",
    "wordnet": "corpora/wordnet",
}
"""Download name -> path that ``nltk.data.find`` looks up."""


class NltkDataError(MaacError):
    """An NLTK resource that is neither installed nor downloadable."""


def _add_search_dirs(download_dir: Path) -> None:
    env = [d for d in os.environ.get("NLTK_DATA", "").split(os.pathsep) if d]
    for folder in [*env, str(download_dir)]:
        if folder not in nltk.data.path:
            nltk.data.path.append(folder)


def _found(resource: str) -> bool:
    try:
        nltk.data.find(resource)
    except LookupError:
        return False
    return True


def ensure_nltk(download_dir: Path | str = NLTK_DIR) -> None:
    """Make sure every resource in ``RESOURCES`` can be loaded, downloading what is missing."""
    download_dir = Path(download_dir)
    _add_search_dirs(download_dir)
    for name, resource in RESOURCES.items():
        if _found(resource):
            continue
        reason = _download(name, download_dir)
        if not _found(resource):
            raise NltkDataError(
                f"NLTK resource {name!r} ({resource}) not found and its download failed"
                f"{f' ({reason})' if reason else ''}; set NLTK_DATA to a folder holding it "
                f"(e.g. ../shared/nltk_data) or run once online to download it into {download_dir}"
            )


def _download(name: str, download_dir: Path) -> str:
    """Try ``nltk.download``; return its error message in one short line ('' if none)."""
    errors = io.StringIO()
    try:
        download_dir.mkdir(parents=True, exist_ok=True)
        nltk.download(name, download_dir=str(download_dir), quiet=True, print_error_to=errors)
    except Exception as err:  # any failure ends in the caller's one-line error
        errors.write(f"{type(err).__name__}: {err}")
    reason = " ".join(errors.getvalue().replace("[nltk_data]", " ").split())
    return reason if len(reason) <= 200 else reason[:197] + "..."
