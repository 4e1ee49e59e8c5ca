"""Log-mel features of a split in one HDF5 file, written streaming and read lazily.

Layout of ``data/features/{dataset}/{split}.h5``:
- ``logmel``: float32 (total frames, n_mels), every clip's frames one after another;
- ``offsets``: int64 (clips + 1), clip i is ``logmel[offsets[i]:offsets[i+1]]``;
- ``split``, ``file_name``: UTF-8 strings (clips,), the manifest's key of each clip;
- attributes: every front-end parameter, the manifest's sha256 and the format version.
Clips are computed in parallel over worker processes in batches, so memory is bounded by one
batch, not by the split; the file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from maac.atomic import atomic_file
from maac.data.manifest import Clip
from maac.errors import MaacError

FORMAT_VERSION = 1
_STR = h5py.string_dtype("utf-8")


class FeatureStoreError(MaacError):
    """A feature file that is missing, incomplete or made with other front-end settings."""


def file_sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


_worker_frontend = None


def _init_worker(audio_cfg: dict[str, Any]) -> None:
    import torch

    from maac.audio.frontend import LogMel

    global _worker_frontend
    torch.set_num_threads(1)  # one process per core; no oversubscription
    _worker_frontend = LogMel(audio_cfg)


def _features(path: str) -> np.ndarray:
    assert _worker_frontend is not None
    logmel = _worker_frontend(path)
    if not np.isfinite(logmel).all():  # cannot happen with amin > 0; guard the invariant
        raise FeatureStoreError(f"{path}: non-finite log-mel values")
    return logmel


def _batches(items: Sequence[Clip], size: int) -> Iterator[Sequence[Clip]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_features(
    clips: Sequence[Clip], out: Path | str, audio_cfg: dict[str, Any], manifest_sha256: str,
    workers: int = 1, batch: int = 16, progress: bool = True,
) -> int:
    """Compute every clip's log-mel and write the split's HDF5 file; return the frame count."""
    from tqdm import tqdm

    out = Path(out)
    n_mels = int(audio_cfg["n_mels"])
    workers = max(1, min(workers, len(clips) // batch))  # starting processes costs seconds
    pool = (
        mp.get_context("spawn").Pool(workers, _init_worker, (audio_cfg,)) if workers > 1 else None
    )
    if pool is None:
        _init_worker(audio_cfg)
    total = 0
    try:
        with atomic_file(out, suffix=".h5") as tmp, h5py.File(tmp, "w") as h5:
            logmel = h5.create_dataset(
                "logmel", shape=(0, n_mels), maxshape=(None, n_mels), dtype="float32",
                chunks=(1024, n_mels),
            )
            offsets = [0]
            bar = tqdm(total=len(clips), desc=f"log-mel {out.name}", unit="clip",
                       disable=not progress)
            for chunk in _batches(clips, batch * max(workers, 1)):
                paths = [str(c.audio_path) for c in chunk]
                feats = pool.map(_features, paths) if pool else [_features(p) for p in paths]
                block = np.concatenate(feats).astype(np.float32, copy=False)
                logmel.resize(total + len(block), axis=0)
                logmel[total:] = block
                for f in feats:
                    offsets.append(offsets[-1] + len(f))
                total += len(block)
                bar.update(len(chunk))
            bar.close()
            h5.create_dataset("offsets", data=np.asarray(offsets, dtype=np.int64))
            h5.create_dataset("split", data=[c.split for c in clips], dtype=_STR)
            h5.create_dataset("file_name", data=[c.file_name for c in clips], dtype=_STR)
            for key, value in audio_cfg.items():
                h5.attrs[key] = value
            h5.attrs["manifest_sha256"] = manifest_sha256
            h5.attrs["format_version"] = FORMAT_VERSION
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return total


class FeatureStore:
    """Read one split's features lazily: one clip's (T, n_mels) array at a time.

    The HDF5 file is opened on first access (so a store can be handed to DataLoader workers
    before it is used) and only the requested clip's frames are read from disk.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if not self.path.is_file():
            raise FeatureStoreError(f"{self.path}: feature file not found; run `maac features`")
        with h5py.File(self.path, "r") as h5:
            missing = [k for k in ("logmel", "offsets", "split", "file_name") if k not in h5]
            if missing:
                raise FeatureStoreError(f"{self.path}: missing {missing}; recompute the features")
            self.offsets = h5["offsets"][:]
            self.keys = list(zip(h5["split"].asstr()[:], h5["file_name"].asstr()[:], strict=True))
            self.attrs = dict(h5.attrs)
        self.index = {key: i for i, key in enumerate(self.keys)}
        self.lengths = np.diff(self.offsets)
        self._h5: h5py.File | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def _file(self) -> h5py.File:
        if self._h5 is None:
            self._h5 = h5py.File(self.path, "r")
        return self._h5

    def __getitem__(self, item: int | tuple[str, str]) -> np.ndarray:
        """Clip ``item`` (position or (split, file_name)) as a float32 (T, n_mels) array."""
        i = self.index[item] if isinstance(item, tuple) else int(item)
        return self._file()["logmel"][self.offsets[i] : self.offsets[i + 1]]

    def check(self, audio_cfg: dict[str, Any]) -> None:
        """Refuse features computed with other front-end settings than ``audio_cfg``."""
        differ = [k for k, v in audio_cfg.items() if self.attrs.get(k) != v]
        if differ:
            raise FeatureStoreError(
                f"{self.path}: computed with other front-end settings ({', '.join(differ)}); "
                "recompute the features"
            )

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
