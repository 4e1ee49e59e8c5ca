"""Clotho v2.1 from Zenodo: checksummed downloads, then each audio archive into {split}/."""

from __future__ import annotations

import re
from pathlib import Path

from maac.data.download import download
from maac.data.extract import extract_7z
from maac.errors import MaacError

_ARCHIVE = re.compile(r"^clotho_audio_(?P<split>[a-z]+)\.7z$")


def archive_split(name: str) -> str | None:
    """The split an audio archive holds (``clotho_audio_development.7z`` -> development)."""
    match = _ARCHIVE.match(name)
    return match.group("split") if match else None


def fetch(
    out_dir: Path | str, url_template: str, files: dict[str, str], only: list[str] | None = None
) -> None:
    """Download ``files`` (name -> md5) into ``out_dir``; extract audio archives to {split}/."""
    out_dir = Path(out_dir)
    unknown = sorted(set(only or []) - set(files))
    if unknown:
        raise MaacError(f"--only {unknown}: not in dataset.zenodo.files ({', '.join(files)})")
    for name, md5 in files.items():
        if only and name not in only:
            continue
        path = download(url_template.format(name=name), out_dir / name, md5)
        split = archive_split(name)
        if split and not (out_dir / split).is_dir():
            extract_7z(path, out_dir / split, strip=split)
