"""A Clotho-format dataset already on disk (``dataset.source: local``), read in place.

Two layouts are recognised (:data:`maac.paths.LOCAL_LAYOUTS`): Clotho's own, the unpacked Zenodo
files (``clotho_captions_{split}.csv`` beside ``{split}/*.wav``, metadata CSVs optional), and the
one aac-datasets writes (``clotho_csv_files/`` and ``clotho_audio_files/{split}/``, under
``CLOTHO_v2.1/`` of the root it was given; either folder may be named). ``layout: auto`` takes the
one that matches. Nothing here writes into the folder: the manifests, features and references
point at its files.

``md5: zenodo`` (the default) says the folder is Clotho v2.1 itself: its caption CSVs, and the
metadata CSVs it has, must then match the md5 sums of ``dataset.zenodo.files`` (a CSV the config
lists no sum for is recorded as not checked). A folder that is another dataset in Clotho's
format sets ``md5: skip`` and is not checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maac import paths
from maac.atomic import atomic_file
from maac.data.download import md5sum
from maac.data.manifest import caption_rows
from maac.errors import MaacError

LAYOUTS = ("auto", *paths.LOCAL_LAYOUTS)


class LocalDatasetError(MaacError):
    """A local dataset folder that is missing, in no known layout, or not the files it claims."""


@dataclass(frozen=True)
class LocalDataset:
    """Where a local dataset's files are: ``root`` is the folder its layout starts at."""

    root: Path
    layout: str
    splits: tuple[str, ...]

    def captions_csv(self, split: str) -> Path:
        return paths.local_captions_csv(self.root, self.layout, split)

    def audio_dir(self, split: str) -> Path:
        return paths.local_audio_dir(self.root, self.layout, split)

    def metadata_csv(self, split: str) -> Path | None:
        """The split's metadata CSV, or None when the folder has none (it is optional)."""
        path = paths.local_metadata_csv(self.root, self.layout, split)
        return path if path.is_file() else None

    def csv_files(self) -> list[Path]:
        """Every caption and metadata CSV of the splits (the files the md5 check reads)."""
        files = [self.captions_csv(s) for s in self.splits]
        return files + [m for s in self.splits if (m := self.metadata_csv(s)) is not None]


def _missing(root: Path, layout: str, splits: Sequence[str]) -> list[str]:
    """The files and folders of ``layout`` that ``root`` lacks, relative to it."""
    out = []
    for split in splits:
        csv = paths.local_captions_csv(root, layout, split)
        audio = paths.local_audio_dir(root, layout, split)
        if not csv.is_file():
            out.append(csv.relative_to(root).as_posix())
        if not audio.is_dir():
            out.append(f"{audio.relative_to(root).as_posix()}/")
    return out


def _candidates(path: Path, layout: str) -> list[tuple[Path, str]]:
    """(root, layout) pairs to try: aac-datasets' may start at ``path`` or its CLOTHO_v2.1/."""
    layouts = list(paths.LOCAL_LAYOUTS) if layout == "auto" else [layout]
    out = []
    for name in layouts:
        out.append((path, name))
        if name == "aac-datasets":
            out.append((path / paths.AAC_DATASETS_FOLDER, name))
    return out


def find_local(path: Path | str, layout: str, splits: Sequence[str]) -> LocalDataset:
    """The local dataset at ``path`` (``dataset.local.path``) in ``layout`` (or the one of
    :data:`LAYOUTS` that matches: ``auto``); a one-line error says what is missing otherwise."""
    path = Path(path).expanduser()
    if layout not in LAYOUTS:
        raise LocalDatasetError(f"dataset.local.layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    if not path.is_dir():
        raise LocalDatasetError(f"dataset.local.path {path}: no such folder; point it at a "
                                "Clotho copy (the folder holding the caption CSVs, or "
                                "aac-datasets' root)")
    tried = []
    for root, name in _candidates(path, layout):
        missing = _missing(root, name, splits)
        if not missing:
            return LocalDataset(root, name, tuple(splits))
        more = f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""
        tried.append(f"{name} layout in {root}: no {missing[0]}{more}")
    raise LocalDatasetError(
        f"dataset.local.path {path}: not a Clotho-format folder ({'; '.join(tried)}); point it "
        "at the folder of clotho_captions_{split}.csv and {split}/, or at aac-datasets' root")


def expected_md5(zenodo_files: Mapping[str, str] | None, name: str) -> str | None:
    """The official md5 of a Clotho CSV named ``name`` (None when the config lists none)."""
    return (zenodo_files or {}).get(name)


def check_local(dataset: LocalDataset, official: bool,
                zenodo_files: Mapping[str, str] | None) -> dict[str, Any]:
    """Validate a local dataset (every caption CSV readable and complete, every audio folder
    present, the md5 sums when ``official``: it claims to be Clotho v2.1) and describe it;
    never writes into it."""
    report: dict[str, Any] = {
        "root": dataset.root.as_posix(), "layout": dataset.layout, "official": official,
        "splits": {},
    }
    for split in dataset.splits:
        csv, audio, meta = (dataset.captions_csv(split), dataset.audio_dir(split),
                            dataset.metadata_csv(split))
        entry: dict[str, Any] = {"captions": csv.as_posix(), "audio_dir": audio.as_posix(),
                                 "metadata": meta.as_posix() if meta else None}
        for key, path in (("captions", csv), ("metadata", meta)):  # the sums first: a changed
            if path is None:                                        # official file says so
                continue
            digest = md5sum(path)
            entry[f"{key}_md5"] = digest
            if official:
                entry[f"{key}_md5_checked"] = _check_md5(path, digest, zenodo_files)
        entry["clips"] = len(caption_rows(csv))
        entry["wav_files"] = sum(1 for p in audio.iterdir()
                                 if p.is_file() and p.suffix.lower() == ".wav")
        report["splits"][split] = entry
    return report


def _check_md5(path: Path, digest: str, zenodo_files: Mapping[str, str] | None) -> bool:
    """True when ``path`` has Clotho v2.1's md5; False when the config lists none for it."""
    expected = expected_md5(zenodo_files, path.name)
    if expected is None:
        return False
    if digest != expected:
        raise LocalDatasetError(
            f"{path}: md5 {digest} is not Clotho v2.1's {expected} (dataset.zenodo.files."
            f"{path.name}); restore the official file, or set dataset.local.md5: skip if "
            "this folder is intentionally another dataset")
    return True


def write_check(report: Mapping[str, Any], out: Path | str) -> None:
    with atomic_file(out) as tmp:
        tmp.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
