"""The split audit: recordings that occur in more than one split.

Clotho's users have found one Freesound recording in two splits. This checks every split of a
dataset against the others in two ways: by the content of the audio (sha256 of the decoded
samples with their rate and channel count, so two files that differ only in their headers are
the same), and, where the metadata CSVs give it, by the Freesound ``sound_id``. It reports and
never fails on what it finds: the official splits are what the paper used, and the reader is
told (``audit.json``, one log line, one report row per check).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from maac.atomic import atomic_file
from maac.data.manifest import Clip, ManifestError

BLOCK = 1 << 18  # frames decoded at a time
CONTENT_HASH = "sha256 of the decoded samples, sample rate and channel count"
METADATA_ENCODINGS = ("utf-8-sig", "cp1252")  # Clotho v2.1's metadata is not UTF-8
TABLE_COLUMNS = ["check", "splits", "groups", "clips", "first"]
# how each sample format is decoded for the hash (lossless; 16-bit read as such, the fastest)
_SAMPLE_TYPES = {"PCM_S8": ("int16", "<i2"), "PCM_U8": ("int16", "<i2"),
                 "PCM_16": ("int16", "<i2"), "FLOAT": ("float64", "<f8"),
                 "DOUBLE": ("float64", "<f8")}


def audio_digest(path: Path) -> str:
    """sha256 of a sound file's samples (as stored: integers stay integers), rate, channels."""
    with sf.SoundFile(path) as f:
        dtype, stored = _SAMPLE_TYPES.get(f.subtype, ("int32", "<i4"))
        h = hashlib.sha256(f"{f.samplerate}:{f.channels}:{dtype}:".encode())
        while len(block := f.read(BLOCK, dtype=dtype, always_2d=True)):
            h.update(np.ascontiguousarray(block, dtype=stored).tobytes())
    return h.hexdigest()


def _digests(clips: Sequence[Clip], threads: int) -> tuple[dict[str, list[Clip]], list[str]]:
    """Clips grouped by audio digest, and the files that could not be decoded."""
    def one(clip: Clip) -> str | None:
        try:
            return audio_digest(clip.audio_path)
        except (sf.LibsndfileError, RuntimeError, OSError):
            return None

    with ThreadPoolExecutor(max(1, threads)) as pool:
        digests = list(pool.map(one, clips))
    groups: dict[str, list[Clip]] = defaultdict(list)
    unreadable = []
    for clip, digest in zip(clips, digests, strict=True):
        if digest is None:
            unreadable.append(clip.audio_path.as_posix())
        else:
            groups[digest].append(clip)
    return groups, unreadable


def read_sound_ids(path: Path | str, split: str) -> dict[str, str]:
    """{file_name: Freesound sound_id} of a Clotho metadata CSV (rows without one skipped)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: metadata CSV of split {split!r} not found")
    data = path.read_bytes()
    text = data.decode("latin-1")  # decodes any bytes: the last resort
    for encoding in METADATA_ENCODINGS:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fields = reader.fieldnames or []
    if "file_name" not in fields or "sound_id" not in fields:
        return {}
    try:
        return {(row["file_name"] or "").strip(): (row["sound_id"] or "").strip()
                for row in reader if (row.get("sound_id") or "").strip()}
    except csv.Error as err:
        raise ManifestError(f"{path}, line {reader.line_num}: not a valid CSV ({err}); fix or "
                            "remove the metadata file") from err


def _cross_split(groups: Mapping[str, list[tuple[str, str]]]) -> list[dict[str, Any]]:
    """The groups whose (split, file_name) members span two splits or more, sorted."""
    out = []
    for key, members in groups.items():
        if len({split for split, _ in members}) > 1:
            out.append({"key": key, "clips": [{"split": s, "file_name": n}
                                              for s, n in sorted(members)]})
    return sorted(out, key=lambda g: (g["clips"][0]["split"], g["clips"][0]["file_name"]))


def _within_split(groups: Mapping[str, list[tuple[str, str]]]) -> int:
    """How many recordings occur twice or more inside one split and in no other."""
    return sum(1 for members in groups.values()
               if len(members) > 1 and len({split for split, _ in members}) == 1)


def audit_splits(
    clips: Iterable[Clip], metadata: Mapping[str, Path | str], threads: int = 1,
) -> dict[str, Any]:
    """The audit of a dataset's clips (every split's manifest together) and the metadata CSVs
    of the splits that have one ({split: path})."""
    clips = sorted(clips, key=lambda c: c.key)
    splits = sorted({c.split for c in clips})
    by_digest, unreadable = _digests(clips, threads)
    keys = {d: [c.key for c in members] for d, members in by_digest.items()}
    audio = _cross_split(keys)
    by_id: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for split in sorted(metadata):
        for name, sound_id in read_sound_ids(metadata[split], split).items():
            by_id[sound_id].append((split, name))
    ids = _cross_split(by_id)
    for groups, field in ((audio, "sha256"), (ids, "sound_id")):
        for group in groups:
            group[field] = group.pop("key")
    return {
        "splits": splits,
        "clips": {s: sum(1 for c in clips if c.split == s) for s in splits},
        "audio": {"method": CONTENT_HASH, "unreadable": unreadable,
                  "cross_split_groups": audio, "within_split_groups": _within_split(keys)},
        "sound_id": {"metadata": {s: Path(p).as_posix() for s, p in sorted(metadata.items())},
                     "checked": bool(metadata) and set(metadata) >= set(splits),
                     "cross_split_groups": ids, "within_split_groups": _within_split(by_id)},
    }


def _first(group: Mapping[str, Any]) -> str:
    return " = ".join(f"{c['split']}/{c['file_name']}" for c in group["clips"])


def summary_line(audit: Mapping[str, Any]) -> str:
    """One line for the log: what was found, or that no split shares a recording."""
    audio = audit["audio"]["cross_split_groups"]
    ids = audit["sound_id"]["cross_split_groups"]
    parts = [f"{len(audio)} audio content(s) in more than one split"
             + (f" (e.g. {_first(audio[0])})" if audio else "")]
    if audit["sound_id"]["metadata"]:
        parts.append(f"{len(ids)} Freesound sound id(s) in more than one split"
                     + (f" (e.g. {ids[0]['sound_id']}: {_first(ids[0])})" if ids else ""))
    else:
        parts.append("no metadata CSVs, sound ids not checked")
    if audit["audio"]["unreadable"]:
        parts.append(f"{len(audit['audio']['unreadable'])} file(s) could not be decoded")
    verdict = "WARNING" if audio or ids else "ok"
    return (f"split audit {verdict}: {'; '.join(parts)} "
            f"[{', '.join(audit['splits'])}]; the official splits are kept")


def table_rows(audit: Mapping[str, Any]) -> list[list[str]]:
    """The report's rows: one per check (audio content, sound id)."""
    rows = []
    splits = "/".join(audit["splits"])
    for check, section in (("audio content", "audio"), ("Freesound sound id", "sound_id")):
        groups = audit[section]["cross_split_groups"]
        if section == "sound_id" and not audit[section]["metadata"]:
            rows.append([check, splits, "not checked (no metadata CSVs)", "", ""])
            continue
        rows.append([check, splits, str(len(groups)),
                     str(sum(len(g["clips"]) for g in groups)), _first(groups[0]) if groups else ""])
    return rows


def write_audit(audit: Mapping[str, Any], out_json: Path | str, out_csv: Path | str) -> None:
    with atomic_file(out_json) as tmp:
        tmp.write_text(json.dumps(audit, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                       encoding="utf-8")
    with atomic_file(out_csv) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(TABLE_COLUMNS)
        writer.writerows(table_rows(audit))
