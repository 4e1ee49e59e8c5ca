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
import errno
import fcntl
import glob
import hashlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from maac.atomic import atomic_file, write_error
from maac.data.manifest import Clip
from maac.errors import MaacError

FORMAT_VERSION = 1
CHUNK_ROWS = 1024  # frames per HDF5 chunk of ``logmel``
SPACE_MARGIN = 1 << 20  # bytes kept free beyond a write: HDF5's metadata and the file's close
_UNCLOSABLE: list[h5py.File] = []  # files whose write met a full disk (see DiskFullError)
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

    def map(self, paths: Sequence[str]) -> list[np.ndarray]:
        """Every file's (time, n_mels) float32 log-mel, in order; the first error is raised."""
        assert self._pool is not None, "use ParallelLogMel in a with block"
        return list(self._pool.map(self.frontend, paths))


def _release_freed_memory() -> None:
    """Return freed heap memory to the OS (glibc's ``malloc_trim``; a no-op elsewhere).

    glibc raises its mmap threshold after a large block is freed, so later batch-sized blocks
    come from the heap and its free fragments are kept: without this the resident set creeps up
    with the clip count (docs/performance.md, "Streaming feature files").
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _batches(items: Sequence[Clip], size: int) -> Iterator[Sequence[Clip]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def remove_stale_temps(out: Path) -> list[Path]:
    """Remove the temporary files that killed earlier runs writing ``out`` left behind.

    Only names of :func:`maac.atomic.atomic_file`'s pattern for ``out`` (``.NAME.XXXXXXXX.h5.tmp``)
    are candidates, and only those that no process holds open: HDF5 keeps an exclusive
    ``flock`` on a file open for writing, so a run still writing its file is left alone.
    """
    removed = []
    for path in out.parent.glob(f".{glob.escape(out.name)}.{'?' * 8}.h5.tmp"):
        try:
            with path.open("rb") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while a writer holds it
                path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


class DiskFullError(FeatureStoreError):
    """The disk filled while HDF5 was writing: the HDF5 library can no longer close its objects
    (HDF5 2.0 then crashes the interpreter when they are collected), so the command exits at
    once after printing this error."""


def _discard(h5: h5py.File) -> None:
    """Close a half-written (temporary) HDF5 file after a failure."""
    with contextlib.suppress(OSError, ValueError):
        h5.close()


def disk_full(out: Path, detail: str = "") -> str:
    return (f"disk full writing {out}{detail}; free space on its disk (or choose another --out) "
            "and rerun")


def _check_space(out: Path, tmp: Path, final_bytes: int) -> None:
    """Refuse to grow ``tmp`` (``out``'s temporary file) to ``final_bytes`` unless the disk has
    room for the rest with some to spare.

    HDF5 must never meet a full disk itself: after a failed write none of its objects can be
    closed any more, and the process crashes when they are collected (measured with HDF5 2.0 on
    a tmpfs). HDF5 also holds written chunks in its cache, so what the file will need is the
    bytes written so far, not what the disk shows as used.
    """
    stat = os.statvfs(out.parent)
    free = stat.f_bavail * stat.f_frsize
    needed = max(0, final_bytes - tmp.stat().st_blocks * 512) + SPACE_MARGIN
    if free < needed:
        raise FeatureStoreError(disk_full(
            out, f" (it needs {needed / 2**20:.1f} MB more, {free / 2**20:.1f} MB are free)"))


def _disk_full(err: BaseException) -> bool:
    """A full disk or quota, as the OS or HDF5 (a RuntimeError from a flush) reports it."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(err, RuntimeError | OSError) and any(
        f"errno = {code}," in str(err) for code in (errno.ENOSPC, errno.EDQUOT))


def _fill(h5: h5py.File, extractor: ParallelLogMel, clips: Sequence[Clip], audio_cfg: dict,
          manifest_sha256: str, batch: int, out: Path, progress: bool) -> int:
    """Compute and write every clip's features and the index into an open HDF5 file."""
    from tqdm import tqdm

    n_mels = int(audio_cfg["n_mels"])
    tmp = Path(h5.filename)
    total = 0
    logmel = h5.create_dataset(
        "logmel", shape=(0, n_mels), maxshape=(None, n_mels), dtype="float32",
        chunks=(CHUNK_ROWS, n_mels),
    )
    offsets = [0]
    # closed on an error too, so that the error starts on a line of its own
    with tqdm(total=len(clips), desc=f"log-mel {out.name}", unit="clip",
              disable=not progress) as bar:
        for chunk in _batches(clips, batch * extractor.workers):
            feats = extractor.map([str(c.audio_path) for c in chunk])
            block = np.concatenate(feats).astype(np.float32, copy=False)
            chunks = -(-(total + len(block)) // CHUNK_ROWS)  # the last one partly filled
            _check_space(out, tmp, chunks * CHUNK_ROWS * n_mels * 4)
            logmel.resize(total + len(block), axis=0)
            logmel[total:] = block
            for f in feats:
                offsets.append(offsets[-1] + len(f))
            total += len(block)
            bar.update(len(chunk))
            del feats, block
            _release_freed_memory()
    names = [c.split for c in clips], [c.file_name for c in clips]
    index = 8 * len(offsets) + sum(len(n.encode()) + 16 for n in [*names[0], *names[1]])
    _check_space(out, tmp, -(-total // CHUNK_ROWS) * CHUNK_ROWS * n_mels * 4 + index)
    h5.create_dataset("offsets", data=np.asarray(offsets, dtype=np.int64))
    h5.create_dataset("split", data=names[0], dtype=_STR)
    h5.create_dataset("file_name", data=names[1], dtype=_STR)
    for key, value in audio_cfg.items():
        h5.attrs[key] = value
    h5.attrs["manifest_sha256"] = manifest_sha256
    h5.attrs["format_version"] = FORMAT_VERSION
    h5.flush()  # a full disk fails here, while every object is still referenced (_disk_full)
    return total


def write_features(
    clips: Sequence[Clip], out: Path | str, audio_cfg: dict[str, Any], manifest_sha256: str,
    workers: int = 1, batch: int = 16, progress: bool = True,
) -> int:
    """Compute every clip's log-mel and write the split's HDF5 file; return the frame count.

    The file is written under a temporary name (renamed when complete); temporary files of
    killed earlier runs for ``out`` are removed first. A full disk is one :class:`MaacError`
    (:class:`DiskFullError` when HDF5 itself met it: then exit without collecting its objects).
    """
    if workers < 1 or batch < 1:
        raise ValueError(f"workers ({workers}) and batch ({batch}) must be at least 1")
    out = Path(out)
    remove_stale_temps(out)
    try:
        with ParallelLogMel(audio_cfg, min(workers, max(1, len(clips)))) as extractor, \
                atomic_file(out, suffix=".h5") as tmp:
            h5 = h5py.File(tmp, "w")
            try:
                total = _fill(h5, extractor, clips, audio_cfg, manifest_sha256, batch, out,
                              progress)
                h5.close()
            except BaseException as err:
                if _disk_full(err):  # before atomic_file turns it into a plain MaacError
                    _UNCLOSABLE.append(h5)  # HDF5 would crash closing or collecting it
                    raise DiskFullError(disk_full(out)) from err
                _discard(h5)
                raise
    except MaacError:
        raise
    except (OSError, RuntimeError) as err:
        if _disk_full(err):  # its traceback keeps HDF5's objects alive: never collected
            raise DiskFullError(disk_full(out)) from err
        if isinstance(err, RuntimeError):
            raise
        raise write_error(err, out) from err
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
