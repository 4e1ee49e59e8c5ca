"""Captions of a feature store (batched decoding) and the ``file_name,caption`` CSV files.

``maac decode`` writes, and ``maac evaluate`` reads, one row per clip in feature-store order::

    file_name,caption
    clip_a.wav,a dog barks in the distance

Both read files, and the Clotho reference CSVs, must be UTF-8: any other is refused in one
line that names it.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from maac.atomic import atomic_file
from maac.data.manifest import csv_records
from maac.errors import MaacError, not_utf8

COLUMNS = ["file_name", "caption"]
METHODS = ("beam", "greedy")


def caption_store(
    model: Any,
    store: Any,
    vocab: Any,
    *,
    method: str = "beam",
    beam_size: int = 4,
    max_length: int = 30,
    length_penalty: float = 1.15,
    batch_size: int = 32,
    device: Any = "cpu",
) -> list[tuple[str, str]]:
    """(file_name, caption) of every clip of a :class:`~maac.audio.feature_store.FeatureStore`,
    in store order. Clips are batched by length (padding does not change a clip's caption);
    ``model`` should be on ``device`` and in eval mode."""
    import numpy as np
    import torch

    from maac.decoding import beam_search, greedy, to_text

    if method not in METHODS:
        raise MaacError(f"unknown decoding method {method!r}; one of {', '.join(METHODS)}")
    if batch_size < 1:
        raise MaacError(f"batch size must be at least 1, got {batch_size}")
    order = np.argsort(-np.asarray(store.lengths), kind="stable")
    captions: list[str] = [""] * len(store)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size].tolist()
            clips = [torch.from_numpy(np.asarray(store[i], dtype=np.float32)) for i in index]
            lengths = torch.tensor([len(c) for c in clips])
            features = torch.zeros(len(clips), int(lengths.max()), clips[0].shape[1])
            for row, clip in enumerate(clips):
                features[row, : len(clip)] = clip
            encoder_out = model.encode(features.to(device), lengths.to(device))
            if method == "beam":
                decoded = beam_search(model, encoder_out, beam_size, max_length, length_penalty)
            else:
                decoded = greedy(model, encoder_out, max_length)
            for i, text in zip(index, to_text(decoded, vocab), strict=True):
                captions[i] = text
    return [(file_name, text) for (_, file_name), text in zip(store.keys, captions, strict=True)]


def write_decoded_captions(rows: list[tuple[str, str]], path: Path | str) -> None:
    """``file_name,caption`` CSV (atomically)."""
    with atomic_file(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)


def read_predictions(path: Path | str) -> dict[str, str]:
    """file_name -> caption of a ``file_name,caption`` CSV (empty captions kept, for the
    metrics' check to list)."""
    records = csv_records(path, COLUMNS, "predictions CSV (run `maac decode` first)",
                          "expected the header file_name,caption", MaacError)
    try:
        return {name: row["caption"] or "" for _, name, row in records}
    except UnicodeDecodeError as err:
        raise not_utf8(path, err) from err


def read_references(path: Path | str) -> dict[str, list[str]]:
    """file_name -> its 5 captions, from a Clotho caption CSV (as written: not normalised)."""
    from maac.data.manifest import read_captions

    try:
        return {name: list(captions) for name, captions in read_captions(path)}
    except UnicodeDecodeError as err:
        raise not_utf8(path, err) from err
