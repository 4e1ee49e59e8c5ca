"""The manifest: (split, file_name) -> audio path and 5 captions, for real and synthetic data.

Clips are keyed by split and name together, never by name alone: real Clotho reuses a few file
names across splits for different clips. CSV names are matched to files on disk exactly first,
then HTML-unescaped (Clotho's CSVs keep entities such as ``&amp;``); names that match no file
fail with the list of them, and so do two rows that name one file (``a&amp;b.wav`` and
``a&b.wav``). CSVs are read as UTF-8 (a byte-order mark is dropped); a CSV or manifest without
clips, or with a key twice, is an error.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from maac.atomic import atomic_file
from maac.errors import MaacError
from maac.textfile import read_utf8

SPLITS = ("development", "validation", "evaluation")  # Clotho's split names
N_CAPTIONS = 5
CAPTION_COLUMNS = [f"caption_{i}" for i in range(1, N_CAPTIONS + 1)]
MANIFEST_COLUMNS = ["split", "file_name", "audio_path", *CAPTION_COLUMNS]


class ManifestError(MaacError):
    """A caption CSV or audio folder that does not form a valid manifest."""


@dataclass(frozen=True)
class Clip:
    split: str
    file_name: str  # as written in the caption CSV
    audio_path: Path
    captions: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.split, self.file_name)


def _names(items: list[str], max_items: int = 10) -> str:
    shown = ", ".join(repr(x) for x in items[:max_items])
    more = f" and {len(items) - max_items} more" if len(items) > max_items else ""
    return shown + more


def csv_records(
    path: Path | str, columns: list[str], what: str, header_hint: str,
    error: type[MaacError] = ManifestError,
) -> Iterator[tuple[int, str, dict[str, str]]]:
    """(line, file_name, row) of a CSV keyed by ``file_name``: the columns checked, file names
    non-empty and unique; ``error`` names the file (and line) otherwise."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    reader = _dict_reader(path, what, error)
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise error(f"{path}: missing column(s) {missing}; {header_hint}")
    seen: dict[str, int] = {}
    for line, row in _rows(path, reader, error):
        name = (row["file_name"] or "").strip()
        if not name:
            raise error(f"{path}, line {line}: empty file_name")
        if name in seen:
            raise error(f"{path}, line {line}: file_name {name!r} appears twice (first on line "
                        f"{seen[name]}); keep one row per clip")
        seen[name] = line
        yield line, name, row


def _dict_reader(path: Path, what: str, error: type[MaacError]) -> csv.DictReader:
    """A DictReader over the file's UTF-8 text (its header read, or ``error`` naming it)."""
    reader = csv.DictReader(io.StringIO(read_utf8(path, what, error), newline=""))
    try:
        reader.fieldnames  # noqa: B018 (reads the header)
    except csv.Error as err:
        raise error(f"{path}, line 1: not a valid CSV ({err}); fix the header") from err
    return reader


def _rows(path: Path, reader: csv.DictReader,
          error: type[MaacError]) -> Iterator[tuple[int, dict[str, str]]]:
    """(first line, row) of every row; a malformed CSV is ``error`` naming the line."""
    try:
        line = reader.line_num + 1
        for row in reader:
            yield line, row
            line = reader.line_num + 1
    except csv.Error as err:
        raise error(f"{path}, line {reader.line_num}: not a valid CSV ({err}); fix the file") \
            from err


def caption_rows(path: Path | str) -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, file_name, 5 captions) of a Clotho caption CSV, checked for completeness."""
    rows: list[tuple[int, str, tuple[str, ...]]] = []
    for line, name, row in csv_records(
        path, ["file_name", *CAPTION_COLUMNS], "caption CSV",
        "a Clotho caption CSV has the header file_name,caption_1,...,caption_5",
    ):
        captions = tuple((row[c] or "").strip() for c in CAPTION_COLUMNS)
        empty = [c for c, text in zip(CAPTION_COLUMNS, captions, strict=True) if not text]
        if empty:
            raise ManifestError(
                f"{path}, line {line} ({name!r}): empty {', '.join(empty)}; every clip needs "
                f"{N_CAPTIONS} captions"
            )
        rows.append((line, name, captions))
    if not rows:
        raise ManifestError(f"no clips in {path}: it holds only a header; use the split's full "
                            "caption CSV (re-download or regenerate it)")
    return rows


def read_captions(path: Path | str) -> list[tuple[str, tuple[str, ...]]]:
    """Rows of a Clotho caption CSV as (file_name, 5 captions), checked for completeness."""
    return [(name, captions) for _, name, captions in caption_rows(path)]


def build_manifest(split: str, captions_csv: Path | str, audio_dir: Path | str) -> list[Clip]:
    """Match a split's caption rows to its WAV files (exact name first, then HTML-unescaped)."""
    audio_dir = Path(audio_dir)
    if not audio_dir.is_dir():
        raise ManifestError(f"{audio_dir}: audio folder of split {split!r} not found")
    on_disk = {p.name for p in audio_dir.iterdir() if p.is_file()}
    clips: list[Clip] = []
    unmatched: list[str] = []
    rows_of: dict[str, tuple[int, str]] = {}  # file on disk -> (line, name) of its row
    for line, name, captions in caption_rows(captions_csv):
        disk = name if name in on_disk else html.unescape(name)
        if disk not in on_disk:
            unmatched.append(name)
            continue
        if disk in rows_of:
            first_line, first = rows_of[disk]
            raise ManifestError(
                f"{captions_csv}: lines {first_line} ({first!r}) and {line} ({name!r}) both name "
                f"{audio_dir / disk}; keep one row per clip"
            )
        rows_of[disk] = (line, name)
        clips.append(Clip(split, name, audio_dir / disk, captions))
    if unmatched:
        raise ManifestError(
            f"{captions_csv}: {len(unmatched)} caption row(s) have no WAV in {audio_dir}: "
            f"{_names(unmatched)}; re-extract the audio or fix the CSV"
        )
    return clips


def write_manifest(clips: list[Clip], path: Path | str) -> None:
    """Write clips as a manifest CSV (atomically)."""
    with atomic_file(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        for clip in clips:
            row = [clip.split, clip.file_name, clip.audio_path.as_posix(), *clip.captions]
            writer.writerow(row)


def read_manifest(path: Path | str) -> dict[tuple[str, str], Clip]:
    """A manifest CSV as {(split, file_name): Clip}: its keys unique, at least one clip."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found; run the manifest step first")
    reader = _dict_reader(path, "manifest", ManifestError)
    missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ManifestError(f"{path}: missing column(s) {missing}; regenerate the manifest")
    clips: dict[tuple[str, str], Clip] = {}
    lines: dict[tuple[str, str], int] = {}
    for line, row in _rows(path, reader, ManifestError):
        if any(row[c] is None for c in MANIFEST_COLUMNS):
            raise ManifestError(f"{path}, line {line}: fewer columns than the header; "
                                "regenerate the manifest (maac manifest)")
        clip = Clip(row["split"], row["file_name"], Path(row["audio_path"]),
                    tuple(row[c] for c in CAPTION_COLUMNS))
        if clip.key in clips:
            raise ManifestError(
                f"{path}: lines {lines[clip.key]} and {line} both hold the clip {clip.key}; "
                "regenerate the manifest (maac manifest)"
            )
        clips[clip.key], lines[clip.key] = clip, line
    if not clips:
        raise ManifestError(f"no clips in {path}; regenerate the manifest from the split's "
                            "caption CSV (maac manifest)")
    return clips
