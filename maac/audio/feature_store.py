"""Log-mel features of a split in one HDF5 file, written streaming and read lazily.

Layout of ``data/features/{dataset}/{split}.h5``:
- ``logmel``: float32 (total frames, n_mels), every clip's frames one after another;
- ``offsets``: int64 (clips + 1), clip i is ``logmel[offsets[i]:offsets[i+1]]``;
- ``split``, ``file_name``: UTF-8 strings (clips,), the manifest's key of each clip;
- attributes: every front-end parameter, the manifest's sha256 and the format version.
Clips are computed in parallel on worker threads in batches, so memory is bounded by one
batch, not by the split; the file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
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


class ParallelLogMel:
    """Log-mel features of many files on ``workers`` threads, each on one core.

    Threads, not processes: the work is in torch kernels and libsndfile, which release the GIL,
    and the features then need no pickling between processes (which cost a third of the time).
    Each worker runs torch's kernels on its own thread only.
    """

    def __init__(self, audio_cfg: dict[str, Any], workers: int = 1):
        from maac.audio.frontend import LogMel

        self.frontend = LogMel(audio_cfg)
        self.workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None
        self._torch_threads = 1

    def __enter__(self) -> ParallelLogMel:
        import torch

        # One core per worker thread. OpenMP's and MKL's thread counts are per thread: set in
        # each worker, or every FFT and matmul there would again spread over all cores. torch
        # also keeps the last count as its default, which __exit__ restores.
        self._torch_threads = torch.get_num_threads()
        self._pool = ThreadPoolExecutor(self.workers, initializer=torch.set_num_threads,
                                        initargs=(1,))
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        assert self._pool is not None
        self._pool.shutdown(cancel_futures=True)
        torch.set_num_threads(self._torch_threads)

    def one(self, path: str) -> np.ndarray:
        logmel = self.frontend(path)
        if not np.isfinite(logmel).all():  # cannot happen with amin > 0; guard the invariant
            raise FeatureStoreError(f"{path}: non-finite log-mel values")
        return logmel

    def map(self, paths: Sequence[str]) -> list[np.ndarray]:
        """Every file's (time, n_mels) float32 log-mel, in order; the first error is raised."""
        assert self._pool is not None, "use ParallelLogMel in a with block"
        return list(self._pool.map(self.one, paths))


def _release_freed_memory() -> None:
    """Return freed heap memory to the OS (glibc's ``malloc_trim``; a no-op elsewhere).

    glibc raises its mmap threshold after a large block is freed, so later batch-sized blocks
    come from the heap and its free fragments are kept: without this the resident set crept up
    by ~50 MB per doubling of the clip count (measured by ``maac bench --only scaling``).
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


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
    workers = max(1, min(workers, len(clips)))
    total = 0
    with ParallelLogMel(audio_cfg, workers) as extractor, \
            atomic_file(out, suffix=".h5") as tmp, h5py.File(tmp, "w") as h5:
        logmel = h5.create_dataset(
            "logmel", shape=(0, n_mels), maxshape=(None, n_mels), dtype="float32",
            chunks=(1024, n_mels),
        )
        offsets = [0]
        bar = tqdm(total=len(clips), desc=f"log-mel {out.name}", unit="clip",
                   disable=not progress)
        for chunk in _batches(clips, batch * workers):
            feats = extractor.map([str(c.audio_path) for c in chunk])
            block = np.concatenate(feats).astype(np.float32, copy=False)
            logmel.resize(total + len(block), axis=0)
            logmel[total:] = block
            for f in feats:
                offsets.append(offsets[-1] + len(f))
            total += len(block)
            bar.update(len(chunk))
            del feats, block
            _release_freed_memory()
        bar.close()
        h5.create_dataset("offsets", data=np.asarray(offsets, dtype=np.int64))
        h5.create_dataset("split", data=[c.split for c in clips], dtype=_STR)
        h5.create_dataset("file_name", data=[c.file_name for c in clips], dtype=_STR)
        for key, value in audio_cfg.items():
            h5.attrs[key] = value
        h5.attrs["manifest_sha256"] = manifest_sha256
        h5.attrs["format_version"] = FORMAT_VERSION
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
