"""`maac text build`: every text artifact of a dataset from its split manifests.

Writes the files it is given (:class:`TextFiles`; the workflow's are in :mod:`maac.paths`),
each atomically: the vocabulary and keyword table (training split only), per manifest its
encoded captions (JSON lines, one object per clip: ``{"split", "file_name", "tokens": [[ids] x
5]}`` with ``<bos>``/``<eos>``) and keyword labels (``.npz``: ``file_names`` str, ``labels``
uint8 clips x keywords, manifest order) and, last, the summary.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maac import paths
from maac.atomic import atomic_file
from maac.data.manifest import Clip, read_manifest
from maac.errors import MaacError
from maac.text.keywords import KeywordExtractor, KeywordTable, extract_keywords
from maac.text.vocabulary import UNK_ID, Vocabulary


def captions_jsonl(out_dir: Path | str, split: str) -> Path:
    """Deprecated (the training rules still call it): ``paths.captions_jsonl`` of the folder."""
    return Path(out_dir) / paths.captions_jsonl("", split).name


def labels_npz(out_dir: Path | str, split: str) -> Path:
    """Deprecated (the training rules still call it): ``paths.labels_npz`` of the folder."""
    return Path(out_dir) / paths.labels_npz("", split).name


@dataclass(frozen=True)
class TextFiles:
    """Every file ``build_text`` writes; ``captions`` and ``labels``: one per manifest, in the
    manifests' order."""

    vocab: Path
    keywords: Path
    summary: Path
    captions: Sequence[Path]
    labels: Sequence[Path]


def _split_clips(path: Path | str) -> tuple[str, list[Clip]]:
    """The clips of a one-split manifest, in file order."""
    clips = list(read_manifest(path).values())
    splits = sorted({c.split for c in clips})  # read_manifest: at least one clip
    if len(splits) != 1:
        raise MaacError(f"{path}: expected the clips of one split, found {', '.join(splits)}; "
                        "regenerate it")
    return splits[0], clips


def write_encoded_captions(path: Path, clips: Sequence[Clip], vocab: Vocabulary) -> None:
    with atomic_file(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        for clip in clips:
            tokens = [vocab.encode(c) for c in clip.captions]
            record = {"split": clip.split, "file_name": clip.file_name, "tokens": tokens}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_labels(path: Path, clips: Sequence[Clip], labels: np.ndarray) -> None:
    with atomic_file(path) as tmp, tmp.open("wb") as f:
        np.savez(f, file_names=np.array([c.file_name for c in clips], dtype=str), labels=labels)


def read_labels(path: Path | str) -> tuple[list[str], np.ndarray]:
    """``labels_{split}.npz`` as (file names, uint8 clips x keywords)."""
    path = Path(path)
    if not path.is_file():
        raise MaacError(f"{path}: keyword labels not found; run `maac text build` first")
    try:
        with np.load(path, allow_pickle=False) as data:
            return [str(n) for n in data["file_names"]], data["labels"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise MaacError(f"{path}: not a keyword-labels file ({err}); rebuild it with "
                        "`maac text build`") from err


def _unknown_rate(clips: Iterable[Clip], vocab: Vocabulary) -> float:
    ids = [i for clip in clips for c in clip.captions for i in vocab.encode(c)[1:-1]]
    return sum(i == UNK_ID for i in ids) / len(ids) if ids else 0.0


def build_text(
    train_manifest: Path | str,
    manifests: Sequence[Path | str],
    files: TextFiles,
    count: int,
    min_length: int,
    stopwords: Iterable[str],
    min_count: int = 1,
) -> dict:
    """Build and write every text artifact; return the summary (also written).

    The vocabulary and keywords come from ``train_manifest``; each of ``manifests`` (the
    training one among them to encode it too) is encoded into its file of ``files``."""
    for flag, given in (("--captions", files.captions), ("--labels", files.labels)):
        if len(given) != len(manifests):
            raise MaacError(f"{flag}: {len(given)} files for {len(manifests)} --manifests; pass "
                            "one per manifest, in the same order")
    train_split, train_clips = _split_clips(train_manifest)
    # split -> (clips, captions file, labels file); the training split first when encoded
    by_split: dict[str, tuple[list[Clip], Path, Path]] = {}
    is_train = [Path(p).resolve() == Path(train_manifest).resolve() for p in manifests]
    for i in sorted(range(len(manifests)), key=lambda i: not is_train[i]):
        path = manifests[i]
        split, clips = (train_split, train_clips) if is_train[i] else _split_clips(path)
        if split in by_split:
            raise MaacError(f"{path}: split {split!r} is given by two manifests; pass each once")
        by_split[split] = (clips, Path(files.captions[i]), Path(files.labels[i]))

    train_captions = [c for clip in train_clips for c in clip.captions]
    vocab = Vocabulary.build(train_captions, min_count, str(train_manifest))
    extractor = KeywordExtractor(min_length, stopwords, vocab.counts)
    table = extract_keywords(train_captions, count, extractor, str(train_manifest))
    table.check_vocabulary(vocab)  # before anything is written

    vocab.save(Path(files.vocab))
    table.save(Path(files.keywords))
    splits: dict[str, dict] = {}
    for split, (clips, captions_file, labels_file) in by_split.items():
        labels = table.labels((clip.captions for clip in clips), extractor)
        write_encoded_captions(captions_file, clips, vocab)
        write_labels(labels_file, clips, labels)
        positives = labels.sum(axis=1)
        splits[split] = {
            "clips": len(clips),
            "mean_positives": round(float(positives.mean()), 4) if len(clips) else 0.0,
            "clips_without_keywords": int((positives == 0).sum()),
            "unknown_word_rate": round(_unknown_rate(clips, vocab), 6),
        }
    summary = {
        "train_split": train_split,
        "vocab_size": len(vocab),
        "keyword_count": len(table),
        "keyword_params": {
            "count": count, "min_length": min_length, "stopwords": sorted(extractor.stopwords),
        },
        "splits": splits,
    }
    with atomic_file(Path(files.summary)) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def describe_table(table: KeywordTable, top: int | None = None) -> str:
    """The first ``top`` keywords as aligned text lines (rank, word, kind, count)."""
    rows = table.keywords[:top] if top else table.keywords
    return "\n".join(
        f"{rank:4d}  {k.word:<16} {k.kind:<5} {k.count}" for rank, k in enumerate(rows, start=1)
    )
